//! `ddgz ls` and `ddgz cat`: directories and files of any filesystem ddgz reads (FAT,
//! ext2/3/4, XFS, NTFS) on a partition or an LVM logical volume, inside any image (or a
//! finished .dd.gz/.dd.xz). Glue to `ddgz-volumes`, which detects and opens the
//! filesystem; this module parses `PART:PATH`, prints, and picks exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ddgz_image::OpenOptions;
use ddgz_volumes::{Entry, Error, ErrorKind, Kind, SharedDisk, Volumes};

use crate::cmd::input::Input;
use crate::exit::{with_code, Code};

/// What `PART`, `VG/LV` and `PATH` mean: shared by `ls` and `cat`.
const SPEC_HELP: &str = "\
PART is a partition number (default 1); 0 reads the whole image as one filesystem.
VG/LV names an LVM logical volume (e.g. rl/root), found on the image's partitions.
The filesystem is detected: FAT, ext2/3/4, XFS or NTFS. Names are matched as the
filesystem does (FAT and NTFS ignore case); symlinks are followed inside it.";

/// List a directory of a partition or LVM logical volume inside an image (any format
/// ddgz reads, or a finished .dd.gz/.dd.xz), without mounting: FAT, ext2/3/4, XFS, NTFS.
#[derive(Debug, clap::Args)]
#[command(after_help = format!("{SPEC_HELP}

Directories end in /. NTFS shows long names (not DOS 8.3 aliases), not its $ metafiles,
and no alternate data streams. -R prints paths below the directory listed.

Examples:
  ddgz ls disk.qcow2                       # the root of partition 1
  ddgz ls -l disk.qcow2 1:/curtin          # type, mtime (UTC), size, name
  ddgz ls disk.qcow2 5:/                   # an ESXi bootbank
  ddgz ls windows.dd.gz 4:/Windows/System32
  ddgz ls -R rocky9.qcow2 rl/root:/etc     # XFS in an LVM logical volume
  ddgz ls part.img 0:/EFI/BOOT             # a bare filesystem image"))]
pub struct LsArgs {
    /// The image (any format ddgz reads, detected by content), or a finished .dd.gz / .dd.xz
    /// (decoded whole however far it expands, with a progress bar on a terminal; memory stays
    /// bounded: zeros are kept as a map, not bytes).
    pub image: PathBuf,
    /// [PART:]PATH or VG/LV:PATH, e.g. 1:/curtin or rl/root:/etc
    #[arg(default_value = "1:/")]
    pub path: String,
    /// Long listing: type, last write time, size, name.
    #[arg(short, long)]
    pub long: bool,
    /// Recursive: every name below the directory, as a path relative to it.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// Print a file of a partition or LVM logical volume inside an image (any format ddgz
/// reads, or a finished .dd.gz/.dd.xz) to stdout: FAT, ext2/3/4, XFS, NTFS.
#[derive(Debug, clap::Args)]
#[command(after_help = format!("{SPEC_HELP}

Holes read as zeros; of an NTFS file with alternate data streams, the unnamed stream.

Examples:
  ddgz cat disk.qcow2 1:/curtin/curtin-hooks > hooks
  ddgz cat disk.qcow2 5:/boot.cfg | grep kernelopt
  ddgz cat windows.qcow2 4:/Windows/Panther/unattend.xml
  ddgz cat rocky9.qcow2 rl/root:/etc/os-release"))]
pub struct CatArgs {
    /// The image (any format ddgz reads, detected by content), or a finished .dd.gz / .dd.xz
    /// (decoded whole however far it expands, with a progress bar on a terminal; memory stays
    /// bounded: zeros are kept as a map, not bytes).
    pub image: PathBuf,
    /// [PART:]PATH or VG/LV:PATH, e.g. 1:/curtin/curtin-hooks or rl/root:/etc/fstab
    pub path: String,
    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// Data of a volume read whole before a walk on a packed disk (so that it takes a pass
/// or two, not one per directory level): well inside the packed reader's budget.
const PREFETCH: u64 = 128 << 20;

/// On a packed disk, the volume at `place` read whole first when it is small (see
/// `Volumes::prefetch`); errors are left to the real read that follows.
fn warm(packed: bool, vols: &Volumes<'_>, place: &ddgz_volumes::Place) {
    if packed {
        let _ = vols.prefetch(place, PREFETCH);
    }
}

/// How `ls` and `cat` open their image.
fn open_options(outside: crate::cli::OutsideArgs) -> OpenOptions {
    let mut o = OpenOptions::default();
    o.allow_outside_files = outside.allow_outside_files;
    o
}

/// The exit code of a `ddgz-volumes` error: the request 2, the image 3, the output 4; a
/// closed pipe (`ddgz cat … | head`) has none, so that exit.rs says 0.
fn volume_error(e: Error) -> anyhow::Error {
    let pipe = |e: &Error| {
        std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    };
    match e.kind() {
        ErrorKind::Output if pipe(&e) => anyhow::Error::new(e),
        ErrorKind::Output => with_code(Code::Output, e),
        ErrorKind::Usage => with_code(Code::Usage, e),
        ErrorKind::Input => with_code(Code::Input, e),
    }
}

/// One line of `ls`: `name` (a directory with `/`), or with `long` the type letter,
/// mtime, size and name (a symlink with `-> target`). Names from the image are escaped.
fn line(path: &[u8], e: &Entry, long: bool) -> String {
    let mut name = ddgz_image::escape(path);
    if e.kind == Kind::Directory {
        name.push('/');
    }
    if !long {
        return format!("{name}\n");
    }
    if let Some(t) = &e.target {
        name = format!("{name} -> {}", ddgz_image::escape(t));
    }
    format!("{} {} {:>12} {name}\n", e.kind.letter(), e.modified, e.size)
}

pub fn run_ls(a: LsArgs) -> anyhow::Result<()> {
    let (place, path) = ddgz_volumes::parse_spec(&a.path);
    let mut input = crate::cmd::input::open(&a.image, &open_options(a.outside))?;
    let packed = matches!(input, Input::Packed(_));
    let lines = input.run(|disk| {
        let vols = Volumes::new(Arc::new(disk));
        warm(packed, &vols, &place);
        let ctx = || a.image.display().to_string();
        let vol = vols.open(&place).map_err(volume_error).with_context(ctx)?;
        let mut lines = Vec::new();
        let r = if a.recursive {
            vol.walk(path, &mut |p, e| {
                lines.push(line(p, e, a.long));
                Ok(())
            })
        } else {
            vol.list(path).map(|v| {
                lines.extend(v.iter().map(|e| line(&e.name, e, a.long)));
            })
        };
        r.map_err(volume_error).with_context(ctx)?;
        Ok(lines)
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in lines {
        out.write_all(l.as_bytes()).context("write to stdout")?;
    }
    out.flush().context("write to stdout")
}

pub fn run_cat(a: CatArgs) -> anyhow::Result<()> {
    let (place, path) = ddgz_volumes::parse_spec(&a.path);
    let mut input = crate::cmd::input::open(&a.image, &open_options(a.outside))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let ctx = || a.image.display().to_string();
    match &mut input {
        // An image: streamed from the disk to stdout.
        Input::Image(disk) => {
            let vols = Volumes::new(Arc::new(&*disk) as SharedDisk<'_>);
            let vol = vols.open(&place).map_err(volume_error).with_context(ctx)?;
            vol.copy(path, &mut out)
                .map_err(volume_error)
                .with_context(ctx)?;
        }
        // A packed disk: the file is read (perhaps more than once) into memory, bounded by
        // the capture budget, and written once its read needed nothing more.
        Input::Packed(_) => {
            let bytes = input.run(|disk| {
                let vols = Volumes::new(Arc::new(disk));
                warm(true, &vols, &place);
                let vol = vols.open(&place).map_err(volume_error).with_context(ctx)?;
                let mut buf = Vec::new();
                vol.copy(path, &mut buf)
                    .map_err(volume_error)
                    .with_context(ctx)?;
                Ok(buf)
            })?;
            out.write_all(&bytes).map_err(|source| {
                volume_error(Error::Output {
                    what: "stdout".into(),
                    source,
                })
            })?;
        }
    }
    out.flush().map_err(|source| {
        volume_error(Error::Output {
            what: "stdout".into(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use ddgz_volumes::{parse_spec, Place};

    #[test]
    fn specs() {
        assert_eq!(parse_spec("1:/curtin"), (Place::Partition(1), "/curtin"));
        assert_eq!(parse_spec("/curtin"), (Place::Partition(1), "/curtin"));
        assert_eq!(parse_spec("0:/"), (Place::Partition(0), "/"));
        assert_eq!(parse_spec("a:b"), (Place::Partition(1), "a:b"));
        assert_eq!(
            parse_spec("rl/root:/etc"),
            (Place::Lv("rl/root".into()), "/etc")
        );
        assert_eq!(parse_spec("/a/b:c"), (Place::Partition(1), "/a/b:c"));
    }
}
