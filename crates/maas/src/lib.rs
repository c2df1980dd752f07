//! MAAS boot-resource upload client: OAuth 1.0 PLAINTEXT, chunked PUTs with fresh nonces.
//!
//! MAAS takes a custom image in two steps (see the project's `domain/MAAS.md`): a
//! multipart `POST` creating the boot resource with the file's sha256 and size, then
//! `PUT`s of consecutive chunks to the file's `upload_uri`. The official CLI signs once
//! and fails on multi-GB images with "Expired timestamp … threshold 300"; [`Client`]
//! signs every request with a fresh timestamp and nonce from an injectable [`Clock`].
//!
//! [`filetype`] decides the `filetype` field from the file's content and refuses
//! mismatches (the common `ddtgz` for a plain gzip'd disk).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ddgz_maas::{ApiKey, Client, FileType, NewResource};
//! let client = Client::new("http://maas.example:5240/MAAS", ApiKey::parse("ck:tk:ts")?)?;
//! let file = std::fs::File::open("vmware-esxi.dd.gz")?;
//! let r = NewResource {
//!     name: "esxi/8".into(),
//!     title: Some("VMware ESXi 8.0".into()),
//!     base_image: None,
//!     architecture: "amd64/generic".into(),
//!     filetype: FileType::Ddgz,
//!     sha256: "…64 hex digits…".into(),
//!     size: file.metadata()?.len(),
//! };
//! client.upload(&r, file, ddgz_maas::DEFAULT_CHUNK_SIZE, &mut |_sent| {
//!     std::ops::ControlFlow::Continue(())
//! })?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate self as ddgz_maas;

pub mod auth;
mod client;
pub mod command;
mod error;
pub mod filetype;
pub mod naming;
pub mod os_release;

#[cfg(feature = "fake-server")]
#[doc(hidden)]
pub mod fake;

pub use auth::{ApiKey, Clock, SystemClock};
pub use client::{
    redact, Client, Created, NewResource, Outcome, Timeouts, API_PATH, DEFAULT_CHUNK_SIZE,
};
pub use command::{shell_quote, CreateCommand};
pub use error::{Error, UploadError, MAX_BODY_SHOWN};
pub use filetype::FileType;
