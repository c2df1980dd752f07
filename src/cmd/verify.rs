//! `ddgz verify`: is a `.dd.gz` whole and sound, does it hold a valid layout, and (with
//! `--against`) does it equal its source byte for byte? The checks are `ddgz_verify`'s
//! (see its doc for how the layout is checked over a stream); this is the glue: arguments,
//! a progress bar, the printed lines and the exit code.

use std::path::{Path, PathBuf};

use std::io::Read;

use ddgz_verify::{ErrorKind, Input};

use crate::cmd::stream::{self, Kind};
use crate::exit::{with_code, Code};

mod progress;

use progress::Progress;

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

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut opts = ddgz_verify::Options::default();
    opts.against = a.against.clone();
    opts.add = crate::cmd::fat::add_specs(&a.add)?;
    opts.replace = a.add.replace;
    opts.add_to_windows = !crate::cmd::convert::names_partition_one(&a.add.add);
    opts.zero_free = a.zero_free;
    opts.no_layout = a.no_layout;
    opts.allow = a.allow.codes.clone();
    opts.allow_outside_files = a.outside.allow_outside_files;
    let progress = Progress::new(&a.file, a.quiet);
    let mut input = StreamInput { path: &a.file };
    let report = ddgz_verify::verify_with(&mut input, &opts, &mut |p| match p {
        ddgz_verify::Progress::Pass(n) => progress.start(n),
        ddgz_verify::Progress::Read(c) => progress.at(c),
        _ => {}
    });
    progress.finish();
    let report = report.map_err(|e| {
        if let Some(passed) = e.passed() {
            // The checks that passed first, then each error on a line of its own; the
            // error says how many.
            for l in passed.lines() {
                println!("{l}");
            }
            for f in e.layout_errors() {
                println!("{}: {f}", passed.name);
            }
        }
        let code = match e.kind() {
            ErrorKind::Usage => Code::Usage,
            ErrorKind::Input => Code::Input,
            ErrorKind::Failed | ErrorKind::Invalid => Code::Failed,
            _ => Code::Output,
        };
        with_code(code, e)
    })?;
    for l in report.lines() {
        println!("{l}");
    }
    Ok(())
}

/// The file to verify, which may be a stream (pipe, FIFO, `/dev/stdin`): read once then,
/// and a FIFO without a writer is refused instead of waited for.
struct StreamInput<'a> {
    path: &'a Path,
}

impl Input for StreamInput<'_> {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn once(&self) -> bool {
        matches!(Kind::of(self.path), Ok(Kind::Stream))
    }

    fn open(&mut self) -> ddgz_verify::Result<Box<dyn Read + '_>> {
        let name = self.name();
        let (file, kind) = stream::open(self.path, stream::WRITER_WAIT).map_err(|e| {
            ddgz_verify::Error::wrap(ErrorKind::Input, format!("cannot open {name}"), e)
        })?;
        if kind == Kind::Directory {
            return Err(ddgz_verify::Error::new(
                ErrorKind::Input,
                format!("{name}: is a directory, not a .dd.gz file"),
            ));
        }
        Ok(Box::new(file))
    }
}
