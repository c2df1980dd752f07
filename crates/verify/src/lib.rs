//! Checks a finished `.dd.gz` / `.dd.xz`: is the stream whole and sound, does the
//! decompressed disk hold a valid layout (and is it MAAS-ready), and — given its source —
//! does it equal that source byte for byte, with what `convert --add` / `--zero-free`
//! changed applied to the source in memory. `ddgz verify` is this crate plus printing.
//!
//! The stream is read sequentially in bounded memory (`ddgz_deflate::verify`). The layout
//! check needs random access to the decompressed disk, which a gzip stream does not give:
//! - with a source, the stream is compared with it first; once they are equal, the source
//!   *is* the decompressed disk, and the layout is validated on it (one pass);
//! - without, the first pass keeps the head and tail of the disk (MBR, both GPTs) in a
//!   [`Capture`] and looks ahead: once the head is decoded, the validator runs on what was
//!   seen so far (the partition table is there), and the ranges further on that it read
//!   (partition headers, FATs, directories, files) are kept as the stream goes by; it runs
//!   again each time such a range has gone by, since what it holds may point further on.
//!   Usually the validator then finds all it needs after one pass. If it needs bytes that
//!   went by before it knew of them, they are kept on a further pass, up to [`MAX_PASSES`]
//!   passes and [`CAPTURE_BUDGET`] bytes. The findings reported are those of a run, after
//!   the stream ended, that read only bytes really decoded from the stream.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ddgz_deflate::verify::{self as stream, Against, Capture};
use ddgz_image::{Disk, Image, OpenOptions};

mod error;
mod input;
mod layout;
mod lookahead;
mod report;

pub use ddgz_convert::ZeroFree;
pub use ddgz_deflate::verify::Summary;
pub use ddgz_fat::AddSpec;
pub use error::{Error, ErrorKind, Result};
pub use input::{FileInput, Input};
pub use layout::Layout;
pub use report::{Compared, Report};

use error::chain;
use lookahead::Lookahead;

/// Passes over the stream at most, when the layout validator needs bytes not yet kept.
pub const MAX_PASSES: u32 = 6;
/// Bytes of the decompressed disk kept for the layout validator, besides head and tail.
pub const CAPTURE_BUDGET: u64 = 64 * 1024 * 1024;
/// Validator runs during the first pass at most (each runs on memory: milliseconds).
const MAX_LOOKAHEAD_RUNS: u32 = 32;

/// What to check. `Options::default()`: the stream and the layout, no source.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// Also check that the stream decompresses to exactly this image (any format ddgz
    /// reads), byte for byte.
    pub against: Option<PathBuf>,
    /// With `against`: the files `convert --add` added, added to the source in memory.
    pub add: Vec<AddSpec>,
    /// With `add`: `convert --replace` was given.
    pub replace: bool,
    /// With `add`: files for partition 1 of a Windows image go to its Windows partition,
    /// as [`ddgz_convert::Options::add_to_windows`].
    pub add_to_windows: bool,
    /// With `against`: the image was made with `convert --zero-free`; the source's free
    /// space (after `add`) is read as zeros.
    pub zero_free: bool,
    /// Check only the stream (and the comparison), not the disk's layout.
    pub no_layout: bool,
    /// Finding codes to accept (errors with these codes become notes).
    pub allow: Vec<String>,
    /// Let the source name files outside its own directory.
    pub allow_outside_files: bool,
    /// Set from elsewhere (a signal handler) to stop with [`ErrorKind::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Where a verification is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Pass `n` over the stream starts (pass 2 and on read partition headers).
    Pass(u32),
    /// Compressed bytes read so far in this pass.
    Read(u64),
}

/// Verifies the file at `path` (a regular file or a block device) as `ddgz verify` does.
pub fn verify(path: &Path, opts: &Options) -> Result<Report> {
    verify_with(&mut FileInput::new(path), opts, &mut |_| {})
}

/// Verifies `input`, saying where it is through `progress`.
pub fn verify_with(
    input: &mut dyn Input,
    opts: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report> {
    let name = input.name();
    if opts.against.is_none() && (!opts.add.is_empty() || opts.replace || opts.zero_free) {
        return Err(Error::new(
            ErrorKind::Usage,
            "--add, --replace and --zero-free describe the source: they need --against",
        ));
    }
    let (source, zeroed) = match &opts.against {
        Some(p) => {
            let (d, z) = open_source(p, opts)?;
            (Some(d), z)
        }
        None => (None, None),
    };
    let mut run = Run {
        input,
        progress,
        cancel: opts.cancel.clone(),
    };

    // Pass 1: the stream, compared with the source, keeping head and tail.
    let mut capture = Capture::new(CAPTURE_BUDGET);
    let once = run.input.once();
    if once {
        // One pass is all a stream gives: keep the first CAPTURE_BUDGET bytes of the disk
        // as well, where the partition headers of most layouts lie.
        capture.want(std::slice::from_ref(&(0..CAPTURE_BUDGET)));
    }
    let summary = {
        let mut against = source.as_deref().map(Against::new);
        let mut sinks: Vec<&mut dyn stream::Sink> = Vec::new();
        let mut lookahead = Lookahead {
            capture: &mut capture,
            allow: &opts.allow,
            next: stream::CAPTURE_HEAD,
            runs: 0,
        };
        if let Some(a) = against.as_mut() {
            sinks.push(a);
        } else if !opts.no_layout {
            sinks.push(&mut lookahead);
        }
        run.pass(&mut sinks, 1).map_err(|e| match e {
            PassError::Differs(e) if opts.add.is_empty() || !opts.zero_free => Error::new(
                ErrorKind::Failed,
                format!(
                    "{} (an image made with `convert --add` or `--zero-free` equals its \
                     source only with the same --add arguments, and --zero-free, given to verify)",
                    chain(&e)
                ),
            ),
            PassError::Differs(e) | PassError::Other(e) => e,
        })?
    };
    let mut report = Report {
        name: name.clone(),
        stream: summary,
        against: match (&source, &opts.against) {
            (Some(src), Some(p)) => Some(Compared {
                path: p.clone(),
                size: src.size(),
                added: opts.add.len(),
                zero_free: zeroed,
            }),
            _ => None,
        },
        layout: None,
    };
    if opts.no_layout {
        return Ok(report);
    }
    let failed = |report: Report, e: layout::Failure| match e {
        layout::Failure::Other(e) => Error::wrap(ErrorKind::Input, format!("{name}: layout"), e),
        layout::Failure::Findings { profile, errors } => Error::invalid(
            format!(
                "{name}: layout: validation of the decompressed disk (profile {profile}) \
                 found {} error{} (listed above)",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
            ),
            report,
            errors,
        ),
    };
    let Some(src) = &source else {
        let mut passes = 1;
        loop {
            let view = capture.view(summary.uncompressed);
            let outcome = layout::check(&view, &opts.allow);
            let misses = view.misses();
            drop(view);
            if misses.is_empty() {
                let mut l = outcome.map_err(|e| failed(report.clone(), e))?;
                l.passes = Some(passes);
                report.layout = Some(l);
                return Ok(report);
            }
            if once {
                // A pipe can be read once: never open it again (a FIFO would wait for a
                // new writer, forever).
                return Err(Error::new(
                    ErrorKind::Failed,
                    format!(
                        "{name}: the gzip stream is sound, but the layout could not be validated: it \
                         needs bytes of the decompressed disk past what one pass keeps, \
                         and a stream (pipe, FIFO) can be read only once (verify a \
                         file, or use --against SOURCE, or --no-layout)"
                    ),
                ));
            }
            if passes >= MAX_PASSES || !capture.want(&misses) {
                return Err(Error::new(
                    ErrorKind::Failed,
                    format!(
                        "{name}: the layout could not be validated: it needs more of the \
                         decompressed disk than {} passes over the stream and {} MiB keep \
                         (verify with --against SOURCE instead, or --no-layout)",
                        MAX_PASSES,
                        CAPTURE_BUDGET >> 20
                    ),
                ));
            }
            passes += 1;
            let again = run
                .pass(&mut [&mut capture], passes)
                .map_err(PassError::into_inner)?;
            if again != summary {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "{name}: the file changed while being verified (pass 1: {summary:?}, pass {passes}: {again:?})"
                    ),
                ));
            }
        }
    };
    // Equal to the source, byte for byte: the source is the decompressed disk.
    let l = layout::check(&**src, &opts.allow).map_err(|e| failed(report.clone(), e))?;
    report.layout = Some(l);
    Ok(report)
}

/// The source to compare with: the image at `path`, with the files of `add` added in
/// memory as `convert --add` adds them and, with `zero_free`, its free space zeroed as
/// `convert --zero-free` zeroes it (and what was zeroed, for the report).
fn open_source(path: &Path, opts: &Options) -> Result<(Box<dyn Disk>, Option<ZeroFree>)> {
    let disk = open_added(path, opts)?;
    if !opts.zero_free {
        return Ok((disk, None));
    }
    let (disk, z) = ddgz_convert::zero_free(disk).map_err(|e| {
        context(
            e.into(),
            format!("--zero-free on the source {}", path.display()),
        )
    })?;
    Ok((disk, Some(z)))
}

/// The image at `path` with the files of `add` added in memory.
fn open_added(path: &Path, opts: &Options) -> Result<Box<dyn Disk>> {
    let mut o = OpenOptions::default();
    o.allow_outside_files = opts.allow_outside_files;
    let image = Image::open(path, &o).map_err(|e| {
        Error::wrap(
            ErrorKind::Input,
            format!("cannot open the source {}", path.display()),
            e,
        )
    })?;
    if opts.add.is_empty() {
        return Ok(Box::new(image));
    }
    // The same plan as convert's: FAT partitions, and NTFS (the Windows partition for an
    // unnamed --add on a Windows image).
    let patches = ddgz_convert::add_plan(&image, &opts.add, opts.replace, opts.add_to_windows)
        .map_err(|e| context(e.into(), format!("--add on the source {}", path.display())))?;
    let overlay = ddgz_image::Overlay::new(image, patches)
        .map_err(|e| Error::wrap(ErrorKind::Input, "", e))?;
    Ok(Box::new(overlay))
}

/// `e` with `message` in front, of the same kind.
fn context(e: Error, message: String) -> Error {
    Error::wrap(e.kind(), message, e)
}

/// The passes of one verification: the input, the progress callback, the cancel flag.
struct Run<'a> {
    input: &'a mut dyn Input,
    progress: &'a mut dyn FnMut(Progress),
    cancel: Option<Arc<AtomicBool>>,
}

/// A failed pass: the stream differs from the source, or anything else.
enum PassError {
    Differs(Error),
    Other(Error),
}

impl PassError {
    fn into_inner(self) -> Error {
        match self {
            PassError::Differs(e) | PassError::Other(e) => e,
        }
    }
}

impl Run<'_> {
    /// Pass `n` over the stream.
    fn pass(
        &mut self,
        sinks: &mut [&mut dyn stream::Sink],
        n: u32,
    ) -> std::result::Result<Summary, PassError> {
        let name = self.input.name();
        let reader = self.input.open().map_err(PassError::Other)?;
        (self.progress)(Progress::Pass(n));
        let reader = Cancellable {
            inner: reader,
            cancel: self.cancel.as_deref(),
        };
        let progress = &mut *self.progress;
        stream::check_stream(reader, sinks, &mut |c| progress(Progress::Read(c))).map_err(|e| {
            if self
                .cancel
                .as_deref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                return PassError::Other(Error::new(ErrorKind::Cancelled, "interrupted"));
            }
            let differs = matches!(e, stream::Error::Differs { .. });
            let kind = if e.is_finding() {
                ErrorKind::Failed
            } else {
                ErrorKind::Input
            };
            let e = Error::wrap(kind, name, e);
            if differs {
                PassError::Differs(e)
            } else {
                PassError::Other(e)
            }
        })
    }
}

/// A reader that fails once the cancel flag is set.
struct Cancellable<'a, R> {
    inner: R,
    cancel: Option<&'a AtomicBool>,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(std::io::Error::other("interrupted"));
        }
        self.inner.read(buf)
    }
}
