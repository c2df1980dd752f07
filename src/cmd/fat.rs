//! `ddgz ls`, `ddgz cat`, `ddgz ks-media`, and the `--add` options of `ddgz convert`:
//! argument definitions and glue to `ddgz-fat`.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ddgz_fat::{AddSpec, Error as FatError, KsOptions};
use ddgz_image::{Disk, OpenOptions};

use crate::cmd::input::Input;

use crate::exit::{with_code, Code, ResultExt};

/// The `--add` / `--replace` options, flattened into `convert`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AddArgs {
    /// Copy a file or directory tree into the FAT filesystem of partition PART (default 1,
    /// where curtin looks for `curtin/`), in memory: the input is never written. DEST
    /// defaults to SRC's name at the root; a DEST ending in `/` is a directory to put SRC
    /// in. Directories are created as needed, long names and mtimes kept. Repeatable.
    /// SRC:DEST is split at the last `:` (FAT names cannot contain one).
    #[arg(long = "add", value_name = "[PART:]SRC[:DEST]")]
    pub add: Vec<String>,

    /// With --add: overwrite files that already exist (otherwise that is an error).
    #[arg(long)]
    pub replace: bool,
}

/// The exit code for a `ddgz-fat` error: the request (2), or the input (3).
fn code_for(e: &FatError) -> Code {
    match e {
        FatError::Spec { .. }
        | FatError::Exists { .. }
        | FatError::Conflict { .. }
        | FatError::BadName { .. }
        | FatError::NotFound { .. }
        | FatError::Partition { .. }
        | FatError::BadOption { .. } => Code::Usage,
        FatError::Output { .. } => Code::Output,
        _ => Code::Input,
    }
}

fn fat_err(e: FatError) -> anyhow::Error {
    let code = code_for(&e);
    with_code(code, e)
}

/// Parses the `--add` arguments (a bad one is a usage error).
pub fn add_specs(a: &AddArgs) -> anyhow::Result<Vec<AddSpec>> {
    a.add
        .iter()
        .map(|s| AddSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fat_err)
}

/// `stat` identities of `files` (following links, as reading them does).
fn ids_of(files: &[PathBuf]) -> anyhow::Result<Vec<ddgz_image::FileId>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .map(|m| ddgz_image::FileId::of(&m))
                .with_context(|| format!("{}: cannot examine it", f.display()))
                .input()
        })
        .collect()
}

/// `[PART:]PATH` → (partition, path). Partition 0 means the whole image is one FAT volume.
fn part_path(s: &str) -> (u32, &str) {
    match s.split_once(':') {
        Some((p, rest)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (p.parse().unwrap_or(u32::MAX), rest)
        }
        _ => (1, s),
    }
}

/// The byte range of volume `part` (0: the whole disk) of `disk`, read from `image`.
fn volume_range(disk: &dyn Disk, image: &Path, part: u32) -> anyhow::Result<Range<u64>> {
    Ok(if part == 0 {
        0..disk.size()
    } else {
        match ddgz_layout::partition_range(&disk, part) {
            Ok(r) => r,
            Err(e @ ddgz_layout::Error::NoSuchPartition { .. }) => {
                return Err(with_code(Code::Usage, e)).with_context(|| image.display().to_string())
            }
            Err(e) => return Err(e).input().with_context(|| image.display().to_string()),
        }
    })
}

/// How errors name the volume: "partition N", or "the image" for PART 0.
fn volume_label(part: u32) -> String {
    match part {
        0 => "the image".into(),
        n => format!("partition {n}"),
    }
}

/// List a directory of a FAT partition inside an image (any format ddgz reads, or a
/// finished .dd.gz/.dd.xz), without mounting.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
PART is a partition number (default 1); 0 reads the whole image as one FAT volume.
Names are matched without case, as FAT does.

Examples:
  ddgz ls disk.qcow2                       # the root of partition 1
  ddgz ls -l disk.qcow2 1:/curtin          # size, mtime (UTC), name
  ddgz ls disk.qcow2 5:/                   # an ESXi bootbank
  ddgz ls part.img 0:/EFI/BOOT             # a bare FAT volume")]
pub struct LsArgs {
    /// The image (any format ddgz reads, detected by content), or a finished .dd.gz / .dd.xz.
    pub image: PathBuf,
    /// [PART:]PATH, e.g. 1:/curtin
    #[arg(default_value = "1:/")]
    pub path: String,
    /// Long listing: type, last write time, size, name.
    #[arg(short, long)]
    pub long: bool,
    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// Print a file of a FAT partition inside an image (any format ddgz reads, or a finished
/// .dd.gz/.dd.xz) to stdout.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
PART is a partition number (default 1); 0 reads the whole image as one FAT volume.

Examples:
  ddgz cat disk.qcow2 1:/curtin/curtin-hooks > hooks
  ddgz cat disk.qcow2 5:/boot.cfg | grep kernelopt")]
pub struct CatArgs {
    /// The image (any format ddgz reads, detected by content), or a finished .dd.gz / .dd.xz.
    pub image: PathBuf,
    /// [PART:]PATH, e.g. 1:/curtin/curtin-hooks
    pub path: String,
    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// Write a kickstart USB medium: an MBR and one FAT32 partition at 1 MiB (sector 2048)
/// holding the given files at its root — the stick ESXi's installer reads with
/// `ks=usb:/KS.CFG`. No root, no parted, no mtools.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The image is written to a temporary file beside OUT and renamed into place.

Examples:
  ddgz ks-media KS.CFG -o usb.img
  ddgz ks-media KS.CFG post-install.sh -o usb.img --size 128M --label ESXIKS --force
  qemu-system-x86_64 ... -drive file=usb.img,format=raw,if=none,id=ks -device usb-storage,drive=ks")]
pub struct KsMediaArgs {
    /// Files to put at the root of the medium (their names and mtimes are kept).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The image to write.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Size of the image (K, M, G suffixes are powers of 1024), 34M to 2T: FAT32 needs
    /// 65525 clusters, an MBR addresses 2^32 sectors.
    #[arg(long, default_value = "64M", value_parser = parse_ks_size)]
    pub size: u64,
    /// Volume label (up to 11 characters, stored upper case).
    #[arg(long, default_value = "KS")]
    pub label: String,
    /// Overwrite OUT if it exists.
    #[arg(short, long)]
    pub force: bool,
}

/// `ks-media --size`: a size within what FAT32 in an MBR partition can hold.
fn parse_ks_size(s: &str) -> Result<u64, String> {
    const MAX: u64 = u32::MAX as u64 * 512;
    crate::cli::parse_size_in(
        s,
        ddgz_fat::KS_MIN_SIZE..=MAX,
        &format!(
            "the size must be between {} (34M) and {MAX} (2T - 512)",
            ddgz_fat::KS_MIN_SIZE
        ),
    )
}

/// How `ls` and `cat` open their image.
fn open_options(outside: crate::cli::OutsideArgs) -> OpenOptions {
    let mut o = OpenOptions::default();
    o.allow_outside_files = outside.allow_outside_files;
    o
}

pub fn run_ls(a: LsArgs) -> anyhow::Result<()> {
    let (part, path) = part_path(&a.path);
    let mut input = crate::cmd::input::open(&a.image, &open_options(a.outside))?;
    let entries = input.run(|disk| {
        let range = volume_range(&disk, &a.image, part)?;
        ddgz_fat::list_in(&disk, range, Some(&volume_label(part)), path)
            .map_err(fat_err)
            .with_context(|| a.image.display().to_string())
    })?;
    let mut out = crate::cli::Terminal(std::io::stdout().lock());
    for e in entries {
        let name = if e.is_dir {
            format!("{}/", e.name)
        } else {
            e.name
        };
        let line = if a.long {
            let kind = if e.is_dir { 'd' } else { '-' };
            format!("{kind} {} {:>12} {name}\n", e.modified, e.size)
        } else {
            format!("{name}\n")
        };
        out.write_all(line.as_bytes()).context("write to stdout")?;
    }
    out.flush().context("write to stdout")
}

pub fn run_cat(a: CatArgs) -> anyhow::Result<()> {
    let (part, path) = part_path(&a.path);
    let mut input = crate::cmd::input::open(&a.image, &open_options(a.outside))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let label = volume_label(part);
    let r = match &mut input {
        // An image: streamed from the disk to stdout.
        Input::Image(disk) => {
            let range = volume_range(disk, &a.image, part)?;
            ddgz_fat::copy_file_in(&*disk, range, Some(&label), path, &mut out).map(|_| ())
        }
        // A packed disk: the file is read (perhaps more than once) into memory, bounded by
        // the capture budget, and written once its read needed nothing more.
        Input::Packed(_) => {
            let bytes = input.run(|disk| {
                let range = volume_range(&disk, &a.image, part)?;
                let mut buf = Vec::new();
                Ok(ddgz_fat::copy_file_in(&disk, range, Some(&label), path, &mut buf).map(|_| buf))
            })?;
            bytes.and_then(|b| {
                out.write_all(&b).map_err(|e| FatError::Output {
                    path: "-".into(),
                    what: "write to stdout".into(),
                    source: Some(e),
                })
            })
        }
    };
    let r = r.and_then(|_| {
        out.flush().map_err(|e| FatError::Output {
            path: "-".into(),
            what: "write to stdout".into(),
            source: Some(e),
        })
    });
    match r {
        Ok(()) => Ok(()),
        // A closed pipe (`ddgz cat … | head`) is not a failure: no code, exit.rs says 0.
        Err(e @ FatError::Output { .. }) => Err(anyhow::Error::new(e)),
        Err(e) => Err(fat_err(e)).with_context(|| a.image.display().to_string()),
    }
}

pub fn run_ks_media(a: KsMediaArgs) -> anyhow::Result<()> {
    let opts = KsOptions::new(a.size, a.label.clone());
    // A missing file is named as such, before the output is looked at.
    let reads = a
        .files
        .iter()
        .filter(|f| f.exists())
        .cloned()
        .collect::<Vec<_>>();
    let out = ddgz_output::OutputFile::create(&a.output, a.force, &ids_of(&reads)?)
        .map_err(crate::cmd::output_error)?;
    ddgz_fat::ks_media(&a.files, out.file(), &a.output, &opts).map_err(fat_err)?;
    out.commit().map_err(crate::cmd::output_error)?;
    eprintln!(
        "wrote {}: {} MiB, one FAT32 partition at sector 2048 (label {}) holding {}",
        a.output.display(),
        a.size >> 20,
        a.label.to_uppercase(),
        a.files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_paths() {
        assert_eq!(part_path("1:/curtin"), (1, "/curtin"));
        assert_eq!(part_path("/curtin"), (1, "/curtin"));
        assert_eq!(part_path("0:/"), (0, "/"));
        assert_eq!(part_path("a:b"), (1, "a:b"));
    }
}
