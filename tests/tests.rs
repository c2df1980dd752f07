//! End-to-end tests of the `ddgz` binary against real tools. One test binary, one module
//! per command.

#[macro_use]
mod util;
mod backing;
mod convert;
mod corrupt;
mod cost;
mod esxi;
mod fat;
mod faults;
mod files;
mod files_lvm;
mod files_ntfs;
mod inspect;
mod library;
mod linux_dd;
mod oracle;
mod output;
mod outside;
mod packed;
mod packer;
mod paste;
mod proptests;
mod raw;
mod safety;
mod tar;
mod tar_exact;
mod tar_lvm;
mod upload;
mod vdi;
mod verify;
mod vhd;
mod vhdx;
mod vmdk;
mod windows;
mod windows_add;
mod xz;
mod zerofree;
