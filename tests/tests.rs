//! End-to-end tests of the `ddgz` binary against real tools. One test binary, one module
//! per command.

#[macro_use]
mod util;
mod convert;
mod corrupt;
mod inspect;
mod fat;
mod upload;
mod faults;
mod proptests;
