//! `ddgz convert`: image in, ddgz out. Glue over [`ddgz_convert::Converter`] (open → add
//! files → validate → compress → atomic output): this module turns the arguments into its
//! options, prints the findings and the report, names the image for MAAS and uploads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ddgz_convert::{Converter, ErrorKind, Output};

use crate::cmd::input::FormatArg;

mod report;
use crate::exit::{with_code, Code};
pub use report::Report;
use report::{maas_command, print_findings, print_report, stem};

/// Convert a disk image (qcow2, raw, VMDK, VHD, VHDX, VDI) into a MAAS ddgz file (raw disk, one gzip member).
///
/// An output named .xz (`-o NAME.dd.xz`), or --compress xz, writes MAAS's ddxz instead: one
/// xz stream of independent 4 MiB blocks, commonly 20-35 % smaller than gzip on Linux and
/// Windows disks, several times slower to write (curtin deploys it with `xzcat | dd`).
///
/// The input is opened read-only and never changes. The output is written to a new
/// temporary file beside OUT (.OUT.XXXXXX.partial) and renamed when complete; on any error
/// or Ctrl-C nothing is left behind. OUT is never a file the conversion reads (the image,
/// its backing chain, files to add), and --force replaces only a regular file.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz convert output-esxi/packer-esxi                 # writes output-esxi/packer-esxi.dd.gz
  ddgz convert disk.qcow2 -o vmware-esxi.dd.gz --level 6 --threads 2
  ddgz convert ubuntu.qcow2 -o ubuntu.dd.xz                   # ddxz, xz preset 6
  ddgz convert disk.qcow2 -o - | ssh host 'cat > image.dd.gz'
  ddgz convert disk.qcow2 --json > report.json
  ddgz convert packer-esxi --add curtin --add scripts.tar.xz:curtin/scripts.tar.xz
  ddgz convert disk.qcow2 --add curtin --add scripts.tar.xz:curtin/ --upload   # as esxi/8.0
  ddgz convert win.qcow2 --upload     # as windows/windows-server-2022-datacenter
  ddgz convert custom.qcow2 --upload --base-image ubuntu/jammy                   # custom/custom

The printed maas line and --upload name an ESXi image esxi/<major>.<minor>, 'VMware ESXi
<major>.<minor>' (from boot.cfg's build= line), a Windows image windows/<product name as a
slug> titled with the product name (from its SOFTWARE registry hive; windows/windows-server
when unknown) unless --name/--title say otherwise; any other image custom/<input name>,
which MAAS requires a --base-image for.

Validation errors stop the conversion (--allow CODE acknowledges one, --no-validate skips
the checks), except the MAAS dd readiness of a Linux image (no curtin/, an fstab naming
another root), which is printed and converted anyway; --upload stops on those too.")]
pub struct Args {
    /// The image (qcow2, raw, VMDK, VHD, VHDX, VDI), detected by content.
    pub input: PathBuf,

    /// A second image name, as `qemu-img convert IN OUT` takes it: refused with a hint
    /// to name the output with -o.
    #[arg(hide = true, value_name = "OUT")]
    pub stray_output: Option<PathBuf>,

    /// Output file, or `-` for stdout [default: INPUT without its image extension (.qcow2,
    /// .vmdk, .vhd, .vhdx, .vdi, .raw, .img), plus .dd.gz].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Read the input as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Deflate level, 0 to 9: 0 stores (no compression), 1 is fastest, 9 smallest; 6 is
    /// gzip's and pigz's default. For xz output, the xz preset (`xz -0` .. `xz -9`; 6 is
    /// xz's default).
    #[arg(short, long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,

    /// Compression: gzip (MAAS ddgz) or xz (ddxz) [default: xz if OUT ends in .xz, else
    /// gzip].
    #[arg(long, value_enum, value_name = "CODEC")]
    pub compress: Option<CompressArg>,

    /// Compression threads, 0 to 128 [default: 0, one per core].
    #[arg(short = 'j', long, value_name = "N", value_parser = crate::cli::parse_threads)]
    pub threads: Option<usize>,

    /// Replace an existing output (a regular file only: never a link, device, FIFO or
    /// directory); also read a qcow2 whose corrupt bit is set.
    #[arg(short, long)]
    pub force: bool,

    /// Skip checking each compressed chunk by decoding it again (saves about 15 % CPU).
    #[arg(long)]
    pub no_verify: bool,

    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,

    /// Skip validating the partition table and layout before converting.
    #[arg(long)]
    pub no_validate: bool,

    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub add: crate::cmd::fat::AddArgs,

    /// Write zeros for every block that the disk's filesystems (FAT, ext2/3/4, NTFS) mark
    /// free, instead of the deleted data they still hold: never inside a file, the journal
    /// or metadata; a dirty, needs-recovery or hibernated filesystem, and partitions ddgz
    /// does not read (VMFS, LVM, XFS, unknown), are copied as they are. The report says
    /// what was zeroed per partition; `verify --against SRC --zero-free` checks it.
    #[arg(long)]
    pub zero_free: bool,

    #[command(flatten)]
    pub allow: crate::cmd::inspect::AllowArgs,

    /// After converting, upload the result to MAAS, named as the printed maas line says
    /// (see `ddgz upload --help`).
    #[arg(long)]
    pub upload: bool,

    #[command(flatten)]
    pub resource: crate::cmd::upload::ResourceArgs,

    /// Guest bytes per compressed chunk, 4096 to 64 MiB.
    #[arg(long = "chunk-size", default_value_t = ddgz_deflate::DEFAULT_CHUNK_SIZE, hide = true,
          value_parser = crate::cli::parse_deflate_chunk_size)]
    pub deflate_chunk_size: usize,
}

/// `--compress`: the output's codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressArg {
    /// One gzip member (MAAS filetype ddgz).
    Gzip,
    /// One xz stream of independent blocks (MAAS filetype ddxz).
    Xz,
    /// None: the raw disk, written with holes where it is zero (not a MAAS filetype: for
    /// a VM or a further build step). Also chosen by an output named .raw or .img.
    None,
}

/// Whether to write the raw disk: `--compress none`, or an output named `.raw` / `.img`.
pub fn raw_output(asked: Option<CompressArg>, out: Option<&Path>) -> bool {
    let raw_name = out.is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("raw") || e.eq_ignore_ascii_case("img"))
    });
    asked == Some(CompressArg::None) || asked.is_none() && raw_name
}

/// The codec: `--compress`, else xz for an output named `.xz`, else gzip.
pub fn codec(asked: Option<CompressArg>, out: Option<&Path>) -> ddgz_convert::Codec {
    let xz_name = out.is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xz") || e.eq_ignore_ascii_case("txz"))
    });
    match asked {
        Some(CompressArg::Xz) => ddgz_convert::Codec::Xz,
        Some(CompressArg::Gzip | CompressArg::None) => ddgz_convert::Codec::Gzip,
        None if xz_name => ddgz_convert::Codec::Xz,
        None => ddgz_convert::Codec::Gzip,
    }
}

/// The chunk size for `codec`: xz's blocks are [`ddgz_deflate::XZ_CHUNK_SIZE`] unless
/// `--chunk-size` asked for another.
pub fn chunk_size(codec: ddgz_convert::Codec, asked: usize) -> usize {
    if codec == ddgz_convert::Codec::Xz && asked == ddgz_deflate::DEFAULT_CHUNK_SIZE {
        ddgz_deflate::XZ_CHUNK_SIZE
    } else {
        asked
    }
}

/// The default output path: beside the input, its name without a disk-image extension,
/// plus `.dd.gz`.
pub fn default_output(input: &Path) -> PathBuf {
    crate::cli::output_beside(input, ".dd.gz", "disk")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(p) = &a.stray_output {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "unexpected argument {}: convert takes one image; name the output with -o \
                 (ddgz convert {} -o {})",
                p.display(),
                a.input.display(),
                p.display()
            ),
        ));
    }
    let to_stdout = a.output.as_deref() == Some(Path::new("-"));
    let codec = codec(a.compress, a.output.as_deref());
    let raw = raw_output(a.compress, a.output.as_deref());
    let out_path = if to_stdout {
        None
    } else {
        Some(a.output.clone().unwrap_or_else(|| {
            let out = default_output(&a.input);
            match codec {
                _ if raw => crate::cli::output_beside(&a.input, ".raw", "disk"),
                ddgz_convert::Codec::Xz => out.with_extension("xz"),
                ddgz_convert::Codec::Gzip => out,
            }
        }))
    };
    if raw && (to_stdout || a.upload) {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "the raw disk is written to a file, with holes, and is not a MAAS filetype: \
                 not to `-o -`, not with --upload"
            ),
        ));
    }
    if to_stdout {
        crate::cli::refuse_terminal_stdout()?;
    }
    if a.upload && to_stdout {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!("--upload needs an output file, not `-o -`"),
        ));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let mut opts = ddgz_convert::Options::default();
    opts.format = a.format.map(Into::into);
    opts.force_corrupt = a.force;
    opts.allow_outside_files = a.outside.allow_outside_files;
    opts.add = crate::cmd::fat::add_specs(&a.add)?;
    opts.replace = a.add.replace;
    opts.add_to_windows = !names_partition_one(&a.add.add);
    opts.zero_free = a.zero_free;
    opts.validate = !a.no_validate;
    opts.allow = a.allow.codes.clone();
    opts.codec = codec;
    opts.raw = raw;
    opts.level = a.level;
    opts.threads = a.threads.unwrap_or(0);
    opts.chunk_size = chunk_size(codec, a.deflate_chunk_size);
    opts.verify = !a.no_verify;
    opts.cancel = Some(cancel.clone());
    let output = match &out_path {
        // Not locked: the output is written on a thread of its own (a lock is not Send).
        None => Output::Writer(Box::new(std::io::stdout())),
        Some(p) => Output::File {
            path: p.clone(),
            force: a.force,
        },
    };
    let conv = match Converter::new(&a.input, output, opts) {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::Invalid => {
            if let Some(f) = e.findings() {
                print_findings(f, &a.input);
            }
            return Err(with_code(
                Code::Failed,
                anyhow::anyhow!(
                    "{e} (`--allow CODE` acknowledges one; --no-validate converts anyway)"
                ),
            ));
        }
        Err(e) => return Err(library_error(e)),
    };
    if !a.no_validate && !a.quiet {
        if let Some(r) = conv.layout() {
            print_findings(&r.findings, &a.input);
        }
    }
    if a.upload {
        report::refuse_advisory(conv.layout().map(|r| &r.findings), &a.input)?;
    }
    let naming = report::naming(conv.layout(), &a.resource, &stem(&a.input));
    if !a.quiet {
        for w in &naming.warnings {
            eprintln!("{}: warning: {w}", a.input.display());
        }
    }
    let mut resource = a.resource.clone();
    resource.name = Some(naming.name.clone());
    resource.title = Some(naming.title.clone());
    if a.upload {
        // URL, key and base image are checked now, not after a long conversion.
        crate::cmd::upload::preflight(&resource)?;
    }

    crate::cli::on_interrupt(&cancel)?;
    // Rate and ETA over the data bytes: zero extents cost nothing.
    let work = conv.work();
    let bar = crate::cli::progress_bar(work, "convert", crate::cli::show_progress(a.quiet));
    let summary = conv
        .run(&mut |p| bar.set_position(p.data_bytes.min(work)))
        .map_err(library_error)?;
    bar.finish_and_clear();

    let out_abs = out_path
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    let filetype = match codec {
        ddgz_convert::Codec::Xz => "ddxz",
        ddgz_convert::Codec::Gzip => "ddgz",
    };
    let maas_command = out_abs
        .as_ref()
        .filter(|_| !raw)
        .map(|p| maas_command(p, &resource, filetype));
    let report = Report {
        schema_version: crate::cmd::inspect::SCHEMA_VERSION,
        summary,
        maas_command,
        maas_name: naming.name.clone(),
        maas_title: naming.title.clone(),
        name_warnings: naming.warnings.clone(),
    };
    print_report(&report, a.json, a.quiet, to_stdout)?;
    if let (true, Some(out)) = (a.upload, &out_path) {
        crate::cmd::upload::upload_file(
            out,
            Some(&report.summary.sha256),
            Some(report.summary.output_bytes),
            &resource,
            a.quiet,
            // With --json, stdout holds exactly one JSON object.
            &mut *if a.json {
                Box::new(std::io::stderr()) as Box<dyn Write>
            } else {
                Box::new(std::io::stdout())
            },
        )?;
    }
    Ok(())
}

/// Whether an `--add` names partition 1 explicitly (`1:SRC`): then partition 1 is meant,
/// even on a Windows image whose unnamed `--add`s go to the Windows partition.
pub fn names_partition_one(adds: &[String]) -> bool {
    adds.iter().any(|s| {
        s.split_once(':').is_some_and(|(p, _)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse() == Ok(1u32)
        })
    })
}

/// The exit code of a library error: the request 2, the input 3, validation 1, the output
/// or an interruption 4.
pub fn library_error(e: ddgz_convert::Error) -> anyhow::Error {
    let code = match e.kind() {
        ErrorKind::Usage => Code::Usage,
        ErrorKind::Input => Code::Input,
        ErrorKind::Invalid => Code::Failed,
        _ => Code::Output,
    };
    with_code(code, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_strips_image_extensions() {
        assert_eq!(
            default_output(Path::new("a/disk.qcow2")),
            PathBuf::from("a/disk.dd.gz")
        );
        assert_eq!(
            default_output(Path::new("out/packer-esxi")),
            PathBuf::from("out/packer-esxi.dd.gz")
        );
        assert_eq!(default_output(Path::new("x.img")), PathBuf::from("x.dd.gz"));
        assert_eq!(
            default_output(Path::new(".qcow2")),
            PathBuf::from(".qcow2.dd.gz")
        );
    }
}
