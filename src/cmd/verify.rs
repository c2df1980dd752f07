//! `ddgz verify`: is a `.dd.gz` whole and sound, does it hold a valid layout, and (with
//! `--against`) does it equal its source byte for byte?
//!
//! The stream is read sequentially in bounded memory (`ddgz_deflate::verify`). The layout
//! check needs random access to the decompressed disk, which a gzip stream does not give:
//! - with `--against`, the stream is compared with the source first; once they are equal,
//!   the source *is* the decompressed disk, and the layout is validated on it (one pass);
//! - without, the first pass keeps the head and tail of the disk (MBR, both GPTs) and
//!   looks ahead: once the head is decoded, the validator runs on what was seen so far
//!   (the partition table is there), and the ranges further on that it read (partition
//!   headers, FATs, directories, files) are kept as the stream goes by; it runs again each
//!   time such a range has gone by, since what it holds may point further on. Usually the
//!   validator then finds all it needs after one pass. If it needs bytes that went by
//!   before it knew of them, they are kept on a further pass, up to [`MAX_PASSES`] passes
//!   and [`CAPTURE_BUDGET`] bytes. The findings reported are those of a run, after the
//!   stream ended, that read only bytes really decoded from the stream.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ddgz_deflate::verify::{self, Against, Capture, Summary};
use ddgz_image::{Disk, Image, OpenOptions};

use crate::cmd::stream::{self, Kind};
use crate::exit::{with_code, Code, ResultExt};

mod layout;
mod lookahead;
mod progress;

use layout::{check_layout, failed};
use lookahead::Lookahead;
use progress::Progress;

/// Passes over the stream at most, when the layout validator needs bytes not yet kept.
const MAX_PASSES: u32 = 6;
/// Bytes of the decompressed disk kept for the layout validator, besides head and tail.
const CAPTURE_BUDGET: u64 = 64 * 1024 * 1024;
/// Validator runs during the first pass at most (each runs on memory: milliseconds).
const MAX_LOOKAHEAD_RUNS: u32 = 32;

/// Check that a ddgz file is a sound gzip stream (and equals its source).
///
/// Checks every gzip member's header, every deflate block, each member's CRC32 and ISIZE,
/// that nothing but further members follows, then the partition table / layout of the
/// decompressed disk. Exit 0 only when all holds; 1 when the stream is corrupt, truncated,
/// differs from the source or its layout is invalid; 3 when a file cannot be read.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz verify vmware-esxi.dd.gz                          # stream, layout, MAAS readiness
  ddgz verify vmware-esxi.dd.gz --against packer-esxi    # and equal to its source
  ddgz verify esxi.dd.gz --against packer-esxi --add curtin  # made with convert --add
  curl -s http://host/image.dd.gz | ddgz verify /dev/stdin   # a stream, read once
  ddgz verify image.dd.gz --no-layout                    # the gzip stream only
  ddgz verify esxi.dd.gz --allow vmfs-clone-uuid         # a known finding as a note")]
pub struct Args {
    /// The .dd.gz file; may be a stream (pipe, FIFO, /dev/stdin), read once.
    pub file: PathBuf,
    /// Also check that it decompresses to exactly this image (any format ddgz reads), byte
    /// for byte.
    #[arg(long, value_name = "IMAGE")]
    pub against: Option<PathBuf>,
    /// With --against: the --add (and --replace) arguments given to `convert`; the files
    /// are added to the source in memory, as convert did, before comparing.
    #[command(flatten)]
    pub add: crate::cmd::fat::AddArgs,
    /// With --against: the image was made with `convert --zero-free`; the free space of
    /// the source's filesystems (after --add) is read as zeros, as convert wrote it.
    #[arg(long)]
    pub zero_free: bool,
    /// Check only the gzip stream (and the comparison), not the disk's partition table.
    #[arg(long)]
    pub no_layout: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,

    #[command(flatten)]
    pub allow: crate::cmd::inspect::AllowArgs,
    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// The source to compare with: the image at `path`, with the files of `add` added in
/// memory as `convert --add` adds them and, with `--zero-free`, its free space zeroed as
/// `convert --zero-free` zeroes it (and what was zeroed, for the report).
fn open_source(
    path: &Path,
    a: &Args,
) -> anyhow::Result<(Box<dyn Disk>, Option<ddgz_convert::ZeroFree>)> {
    let disk = open_added(path, a)?;
    if !a.zero_free {
        return Ok((disk, None));
    }
    let (disk, z) = ddgz_convert::zero_free(disk)
        .map_err(crate::cmd::convert::library_error)
        .with_context(|| format!("--zero-free on the source {}", path.display()))?;
    Ok((disk, Some(z)))
}

/// The image at `path` with the files of `add` added in memory.
fn open_added(path: &Path, a: &Args) -> anyhow::Result<Box<dyn Disk>> {
    let add = &a.add;
    let mut opts = OpenOptions::default();
    opts.allow_outside_files = a.outside.allow_outside_files;
    let image = Image::open(path, &opts)
        .with_context(|| format!("cannot open the source {}", path.display()))
        .input()?;
    if add.add.is_empty() {
        return Ok(Box::new(image));
    }
    let specs = crate::cmd::fat::add_specs(add)?;
    // The same plan as convert's: FAT partitions, and NTFS (the Windows partition for an
    // unnamed --add on a Windows image).
    let to_windows = !crate::cmd::convert::names_partition_one(&add.add);
    let patches = ddgz_convert::add_plan(&image, &specs, add.replace, to_windows)
        .map_err(crate::cmd::convert::library_error)
        .with_context(|| format!("--add on the source {}", path.display()))?;
    Ok(Box::new(ddgz_image::Overlay::new(image, patches).input()?))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let name = a.file.display().to_string();
    if a.against.is_none() && (!a.add.add.is_empty() || a.add.replace || a.zero_free) {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "--add, --replace and --zero-free describe the source: they need --against"
            ),
        ));
    }
    let (source, zeroed) = match &a.against {
        Some(p) => {
            let (d, z) = open_source(p, &a)?;
            (Some(d), z)
        }
        None => (None, None),
    };
    let progress = Progress::new(&a.file, a.quiet);

    // Pass 1: the stream, compared with the source, keeping head and tail.
    let mut capture = Capture::new(CAPTURE_BUDGET);
    if matches!(Kind::of(&a.file), Ok(Kind::Stream)) {
        // One pass is all a stream gives: keep the first CAPTURE_BUDGET bytes of the disk
        // as well, where the partition headers of most layouts lie.
        capture.want(std::slice::from_ref(&(0..CAPTURE_BUDGET)));
    }
    let summary = {
        let mut against = source.as_deref().map(Against::new);
        let mut sinks: Vec<&mut dyn verify::Sink> = Vec::new();
        let mut lookahead = Lookahead {
            capture: &mut capture,
            allow: &a.allow.codes,
            next: ddgz_deflate::verify::CAPTURE_HEAD,
            runs: 0,
        };
        if let Some(a) = against.as_mut() {
            sinks.push(a);
        } else if !a.no_layout {
            sinks.push(&mut lookahead);
        }
        pass(&a.file, &mut sinks, &progress, 1).map_err(|e| {
            let differs = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<verify::Error>(),
                    Some(verify::Error::Differs { .. })
                )
            });
            if differs && (a.add.add.is_empty() || !a.zero_free) {
                with_code(
                    Code::Failed,
                    anyhow::anyhow!(
                        "{} (an image made with `convert --add` or `--zero-free` equals its \
                         source only with the same --add arguments, and --zero-free, given to verify)",
                        crate::exit::message(&e)
                    ),
                )
            } else {
                e
            }
        })?
    };
    let (summary, kind) = summary;
    // An xz file (ddxz) counts no gzip members.
    let stream = if summary.members == 0 {
        "xz stream OK".to_string()
    } else {
        format!(
            "gzip stream OK: {} member{}",
            summary.members,
            if summary.members == 1 { "" } else { "s" }
        )
    };
    let mut lines = vec![format!(
        "{name}: {stream}, {} bytes compressed, {} bytes decompressed, CRC32 {:08x}",
        summary.compressed, summary.uncompressed, summary.crc32
    )];
    if let (Some(src), Some(p)) = (&source, &a.against) {
        let added = if a.add.add.is_empty() {
            String::new()
        } else {
            format!(" with the files of {} --add added", a.add.add.len())
        };
        let zeroed_words = match &zeroed {
            Some(z) => format!(
                "{} with {} of free space read as zeros",
                if added.is_empty() { "" } else { " and" },
                crate::cli::human(z.zeroed_bytes)
            ),
            None => String::new(),
        };
        lines.push(format!(
            "{name}: equal to {}{added}{zeroed_words} ({} bytes), byte for byte",
            p.display(),
            src.size()
        ));
        if let Some(z) = &zeroed {
            lines.extend(z.volumes.iter().map(|v| format!("{name}: zero-free: {v}")));
        }
    }

    if !a.no_layout {
        let layout = match &source {
            // Equal to the source, byte for byte: the source is the decompressed disk.
            Some(src) => {
                check_layout(&**src, &a.allow.codes).map_err(|e| failed(&lines, e, &name))?
            }
            None => {
                let mut passes = 1;
                loop {
                    let view = capture.view(summary.uncompressed);
                    let outcome = check_layout(&view, &a.allow.codes);
                    let misses = view.misses();
                    drop(view);
                    if misses.is_empty() {
                        let (summary, warnings) = outcome.map_err(|e| failed(&lines, e, &name))?;
                        break (
                            format!(
                                "{summary} ({passes} pass{} over the stream)",
                                if passes == 1 { "" } else { "es" }
                            ),
                            warnings,
                        );
                    }
                    if kind == Kind::Stream {
                        // A pipe can be read once: never open it again (a FIFO would wait
                        // for a new writer, forever).
                        return Err(with_code(
                            Code::Failed,
                            anyhow::anyhow!(
                                "{name}: the gzip stream is sound, but the layout could not be validated: it \
                                 needs bytes of the decompressed disk past what one pass keeps, \
                                 and a stream (pipe, FIFO) can be read only once (verify a \
                                 file, or use --against SOURCE, or --no-layout)"
                            ),
                        ));
                    }
                    if passes >= MAX_PASSES || !capture.want(&misses) {
                        return Err(with_code(
                            Code::Failed,
                            anyhow::anyhow!(
                                "{name}: the layout could not be validated: it needs more of the \
                                 decompressed disk than {} passes over the stream and {} MiB keep \
                                 (verify with --against SOURCE instead, or --no-layout)",
                                MAX_PASSES,
                                CAPTURE_BUDGET >> 20
                            ),
                        ));
                    }
                    passes += 1;
                    let (again, _) = pass(&a.file, &mut [&mut capture], &progress, passes)?;
                    if again != summary {
                        return Err(with_code(
                            Code::Input,
                            anyhow::anyhow!(
                                "{name}: the file changed while being verified (pass 1: {summary:?}, pass {passes}: {again:?})"
                            ),
                        ));
                    }
                }
            }
        };
        let (summary, warnings) = layout;
        lines.push(format!("{name}: layout OK: {summary}"));
        lines.extend(warnings.iter().map(|w| format!("{name}: {w}")));
    }
    progress.finish();
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// One pass over the stream in `path`; also says whether it could be read again.
fn pass(
    path: &Path,
    sinks: &mut [&mut dyn verify::Sink],
    progress: &Progress,
    n: u32,
) -> anyhow::Result<(Summary, Kind)> {
    let name = path.display();
    let (file, kind) = stream::open(path, stream::WRITER_WAIT)
        .with_context(|| format!("cannot open {name}"))
        .input()?;
    if kind == Kind::Directory {
        return Err(with_code(
            Code::Input,
            anyhow::anyhow!("{name}: is a directory, not a .dd.gz file"),
        ));
    }
    progress.start(n);
    verify::check_stream(file, sinks, &mut |c| progress.at(c))
        .map(|s| (s, kind))
        .map_err(|e| {
            let code = if e.is_finding() {
                Code::Failed
            } else {
                Code::Input
            };
            with_code(code, anyhow::Error::new(e).context(format!("{name}")))
        })
}
