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

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ddgz_deflate::verify::{self, Against, Capture, Summary};
use ddgz_image::{Disk, Image, OpenOptions};

use crate::cmd::stream::{self, Kind};
use crate::exit::{with_code, Code, ResultExt};

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
/// memory as `convert --add` adds them; and what was added, for the report.
fn open_source(path: &Path, a: &Args) -> anyhow::Result<Box<dyn Disk>> {
    let add = &a.add;
    let opts = OpenOptions {
        allow_outside_files: a.outside.allow_outside_files,
        ..OpenOptions::default()
    };
    let image = Image::open(path, &opts)
        .with_context(|| format!("cannot open the source {}", path.display()))
        .input()?;
    if add.add.is_empty() {
        return Ok(Box::new(image));
    }
    let specs = crate::cmd::fat::add_specs(add)?;
    let patches = ddgz_fat::plan(&image, &specs, add.replace, |n| {
        ddgz_layout::partition_range(&image, n)
    })
    .map_err(|e| with_code(Code::Usage, e))
    .with_context(|| format!("--add on the source {}", path.display()))?;
    Ok(Box::new(ddgz_image::Overlay::new(image, patches).input()?))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let name = a.file.display().to_string();
    if a.against.is_none() && (!a.add.add.is_empty() || a.add.replace) {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!("--add and --replace describe the source: they need --against"),
        ));
    }
    let source = match &a.against {
        Some(p) => Some(open_source(p, &a)?),
        None => None,
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
            if differs && a.add.add.is_empty() {
                with_code(
                    Code::Failed,
                    anyhow::anyhow!(
                        "{} (an image made with `convert --add` equals its source only with \
                         the same --add arguments given to verify)",
                        crate::exit::message(&e)
                    ),
                )
            } else {
                e
            }
        })?
    };
    let (summary, kind) = summary;
    let mut lines = vec![format!(
        "{name}: gzip stream OK: {} member{}, {} bytes compressed, {} bytes decompressed, CRC32 {:08x}",
        summary.members,
        if summary.members == 1 { "" } else { "s" },
        summary.compressed,
        summary.uncompressed,
        summary.crc32
    )];
    if let (Some(src), Some(p)) = (&source, &a.against) {
        let added = if a.add.add.is_empty() {
            String::new()
        } else {
            format!(" with the files of {} --add added", a.add.add.len())
        };
        lines.push(format!(
            "{name}: equal to {}{added} ({} bytes), byte for byte",
            p.display(),
            src.size()
        ));
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

/// A failed layout check: the checks that passed are printed first, then each error on a
/// line of its own; the error returned says how many.
fn failed(passed: &[String], e: LayoutError, name: &str) -> anyhow::Error {
    match e {
        LayoutError::Other(e) => e.context(format!("{name}: layout")),
        LayoutError::Findings { profile, errors } => {
            for l in passed {
                println!("{l}");
            }
            for f in &errors {
                println!("{name}: {f}");
            }
            with_code(
                Code::Failed,
                anyhow::anyhow!(
                    "{name}: layout: validation of the decompressed disk (profile {profile}) \
                     found {} error{} (listed above)",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" },
                ),
            )
        }
    }
}

/// Why the layout check failed.
enum LayoutError {
    /// Validation found errors, one a line.
    Findings {
        profile: &'static str,
        errors: Vec<String>,
    },
    /// It could not run.
    Other(anyhow::Error),
}

/// The first pass's capture, looking ahead (see the module's doc): the validator runs on
/// what was decoded so far, and the ranges it read further on are kept as they go by.
struct Lookahead<'a> {
    capture: &'a mut Capture,
    allow: &'a [String],
    /// Run the validator once the stream has reached this offset.
    next: u64,
    runs: u32,
}

impl verify::Sink for Lookahead<'_> {
    fn write(&mut self, offset: u64, data: &[u8], _compressed: u64) -> verify::Result<()> {
        self.capture.keep(offset, data);
        if self.capture.seen() >= self.next {
            self.look();
        }
        Ok(())
    }
}

impl Lookahead<'_> {
    fn look(&mut self) {
        self.next = u64::MAX;
        let seen = self.capture.seen();
        let Some(size) = guessed_size(self.capture) else {
            return;
        };
        if self.runs >= MAX_LOOKAHEAD_RUNS {
            return;
        }
        self.runs += 1;
        let view = self.capture.view_so_far(size.max(seen));
        // Its findings do not count (it read zeros where it read ahead): its reads do.
        let _ = check_layout(&view, self.allow);
        let ahead: Vec<Range<u64>> = view.misses().into_iter().filter(|m| m.end > seen).collect();
        drop(view);
        if !ahead.is_empty() && self.capture.want_ahead(&ahead) {
            // Again once the first of them has gone by: it may point further on.
            self.next = ahead.iter().map(|m| m.end).min().unwrap_or(u64::MAX);
        }
    }
}

/// The disk size the partition table of the head implies, before the stream's end says:
/// the GPT header's backup LBA, else the end of the furthest MBR partition (the layout
/// crate's parsers, on what was kept so far).
fn guessed_size(capture: &Capture) -> Option<u64> {
    const SECTOR: u64 = 512;
    let view = capture.view_so_far(u64::MAX);
    let mut head = [0u8; 2 * SECTOR as usize];
    view.read_at(0, &mut head).ok()?;
    if !view.misses().is_empty() {
        return None;
    }
    if let Ok(h) = ddgz_layout::gpt::parse_header(&head[SECTOR as usize..], 1, u64::MAX) {
        return h.alternate_lba.checked_add(1)?.checked_mul(SECTOR);
    }
    let mbr = ddgz_layout::mbr::read_mbr(&view).ok()??;
    let end = mbr
        .entries
        .iter()
        .filter_map(|e| e.first_lba.checked_add(e.sectors))
        .max()?;
    (end > 0).then_some(end.checked_mul(SECTOR)?)
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

/// Validates the partition table / layout of `disk` as `ddgz validate` does (auto
/// profile). Returns a one-line summary and the warnings, or an error (exit 1) listing
/// the errors.
fn check_layout(disk: &dyn Disk, allow: &[String]) -> Result<(String, Vec<String>), LayoutError> {
    use ddgz_layout::Severity;
    let mut findings = ddgz_layout::validate(disk, ddgz_layout::Profile::Auto)
        .input()
        .map_err(LayoutError::Other)?;
    findings.allow(allow);
    let of = |s: Severity| {
        let layout = findings.items.iter().filter(|f| f.severity == s);
        let maas = findings
            .maas_readiness
            .items
            .iter()
            .filter(|f| f.severity == s);
        layout
            .map(|f| f.to_string())
            .chain(maas.map(|f| format!("MAAS readiness: {f}")))
            .collect::<Vec<_>>()
    };
    let (errors, warnings) = (of(Severity::Error), of(Severity::Warning));
    let profile = match findings.profile {
        ddgz_layout::Profile::Esxi => "esxi",
        ddgz_layout::Profile::Generic => "generic",
        ddgz_layout::Profile::Auto => "auto",
    };
    if !errors.is_empty() {
        return Err(LayoutError::Findings { profile, errors });
    }
    Ok((
        format!(
            "profile {profile}, no errors, {} warning{}",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        ),
        warnings,
    ))
}

/// A progress bar over the compressed bytes, drawn only on a terminal without `--quiet`.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(path: &Path, quiet: bool) -> Self {
        if !crate::cli::show_progress(quiet) {
            return Self { bar: None };
        }
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self {
            bar: Some(crate::cli::progress_bar(len, "verifying", true)),
        }
    }

    fn start(&self, pass: u32) {
        if let Some(b) = &self.bar {
            b.set_position(0);
            b.set_message(if pass == 1 {
                "verifying".to_string()
            } else {
                format!("pass {pass}: reading partition headers")
            });
        }
    }

    fn at(&self, compressed: u64) {
        if let Some(b) = &self.bar {
            b.set_position(compressed);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
