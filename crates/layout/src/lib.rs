//! Identify and validate what is on a disk: GPT/MBR, ESXi layouts, FAT and VMFS/VMFS-L headers
#![deny(missing_docs)]
