//! `ddgz tar`: the root filesystem of a Linux image as the tarball MAAS deploys
//! (`filetype=tgz`), without nbd, FUSE or root — what packer-maas's `fuse-nbd` and
//! `fuse-tar-root` scripts do with qemu-nbd, nbdfuse, fuse2fs and GNU tar.
//!
//! Glue over [`ddgz_tarball::Archiver`] (open → root → edits → stream → atomic output):
//! the arguments, the MAAS name from the image's os-release (`ddgz_maas::os_release`),
//! the report and the `maas` line.

use std::io::Write;
use std::path::{Path, PathBuf};

use ddgz_tarball::{Archiver, ErrorKind, Output};

use crate::cli::human;
use crate::exit::{with_code, Code};

/// Write the root filesystem of a Linux image (ext2/3/4 or XFS, on a partition or an LVM
/// logical volume) as a MAAS root tarball (tgz).
///
/// Like packer-maas's fuse-tar-root (`tar -Scpf --acls --selinux --xattrs
/// --one-file-system --exclude-backups`, then `gzip --best`), without nbd, FUSE or root:
/// the root is read in place (an ext journal left unreplayed is replayed in memory; an
/// XFS log left dirty is refused, exit 3; the input never changes). In the stream, as fuse-tar-root does: /etc/machine-id is
/// emptied, cloud-init's state is left out, the content of a bls_boot partition goes
/// under boot/, and --add puts files (curtin hooks) in.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz tar output-qemu/packer-qemu -o rocky9.tar.gz --add curtin
  ddgz tar disk.qcow2 --partition 2 -o root.tar.gz
  ddgz tar rocky9-lvm.qcow2 --root rl/root -o rocky9.tar.gz
  ddgz tar disk.qcow2 --add curtin --upload --name custom/rocky9 --title 'Rocky 9 Custom'")]
pub struct Args {
    /// The image (qcow2, raw, VMDK, VHD, VHDX, VDI), detected by content.
    pub input: PathBuf,

    /// Output file [default: INPUT without its image extension (.qcow2, .vmdk, .vhd,
    /// .vhdx, .vdi, .raw, .img), plus .tar.gz].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// The root partition's number [default: the ext2/3/4 or XFS filesystem holding
    /// /etc/os-release, on a partition or in an LVM logical volume].
    #[arg(short, long, value_name = "N")]
    pub partition: Option<u32>,

    /// The root's LVM logical volume, e.g. rl/root (XFS or ext2/3/4 in a linear or
    /// striped LV).
    #[arg(long, value_name = "VG/LV", conflicts_with = "partition")]
    pub root: Option<String>,

    /// Add a host file or directory tree as DEST in the root [default DEST: /NAME, e.g.
    /// --add curtin puts it at /curtin]; a DEST ending in / is a directory to put SRC in.
    /// Files replace the image's; existing directories keep their metadata. Repeatable.
    #[arg(long = "add", value_name = "SRC[:DEST]")]
    pub add: Vec<String>,

    /// Keep /etc/machine-id as it is (fuse-tar-root empties it; ddgz empties the file the
    /// path reaches in the image: a symlink's target, every name of a hard-linked file).
    #[arg(long)]
    pub keep_machine_id: bool,

    /// Keep cloud-init's state: /var/lib/cloud/instance, /var/lib/cloud/instances,
    /// /var/log/cloud-init*.log (fuse-tar-root removes them).
    #[arg(long)]
    pub keep_cloud_init: bool,

    /// Do not add the content of a bls_boot (XBOOTLDR) partition under boot/.
    #[arg(long)]
    pub no_bls_boot: bool,

    /// Keep backup files (`*~`, `.#*`, `#*#`), which GNU tar's --exclude-backups drops.
    #[arg(long)]
    pub keep_backups: bool,

    /// Store files with holes in full instead of as GNU sparse members.
    #[arg(long)]
    pub no_sparse: bool,

    /// Deflate level: 1 fastest, 9 smallest (packer-maas uses gzip --best). For an output
    /// named .tar.xz or .txz (MAAS txz), the xz preset (6 and up are alike: the dictionary
    /// is the 4 MiB block).
    #[arg(short, long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub level: u32,

    /// Compression threads, 0 to 128 [default: 0, one per core].
    #[arg(short = 'j', long, value_name = "N", value_parser = crate::cli::parse_threads)]
    pub threads: Option<usize>,

    /// Overwrite an existing output.
    #[arg(short, long)]
    pub force: bool,

    /// Skip checking each compressed chunk by decoding it again.
    #[arg(long)]
    pub no_verify: bool,

    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,

    /// After writing, upload the tarball to MAAS as filetype tgz [default --name: from
    /// the image's /etc/os-release].
    #[arg(long)]
    pub upload: bool,

    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,

    #[command(flatten)]
    pub resource: crate::cmd::upload::ResourceArgs,
}

/// The default output: beside the input, without a disk-image extension, `.tar.gz`.
fn default_output(input: &Path) -> PathBuf {
    crate::cli::output_beside(input, ".tar.gz", "root")
}

/// The exit code of a library error: the request 2, the input 3, the output or an
/// interruption 4.
fn library_error(e: ddgz_tarball::Error) -> anyhow::Error {
    let code = match e.kind() {
        ErrorKind::Usage => Code::Usage,
        ErrorKind::Input => Code::Input,
        _ => Code::Output,
    };
    with_code(code, e)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let out = a.output.clone().unwrap_or_else(|| default_output(&a.input));
    let add = a
        .add
        .iter()
        .map(|s| ddgz_tarball::Add::parse(s))
        .collect::<ddgz_tarball::Result<Vec<_>>>()
        .map_err(library_error)?;
    let mut opts = ddgz_tarball::Options::default();
    opts.partition = a.partition;
    opts.root_lv = a.root.clone();
    opts.add = add;
    opts.keep_machine_id = a.keep_machine_id;
    opts.keep_cloud_init = a.keep_cloud_init;
    opts.no_bls_boot = a.no_bls_boot;
    opts.keep_backups = a.keep_backups;
    opts.no_sparse = a.no_sparse;
    opts.level = a.level;
    let xz = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xz") || e.eq_ignore_ascii_case("txz"));
    if xz {
        opts.codec = ddgz_deflate::Codec::Xz;
    }
    let filetype = if xz { "txz" } else { "tgz" };
    opts.threads = a.threads.unwrap_or(0);
    opts.verify = !a.no_verify;
    opts.cancel = Some(crate::cli::interrupt_flag()?);
    opts.open.allow_outside_files = a.outside.allow_outside_files;
    let output = Output::File {
        path: out.clone(),
        force: a.force,
    };
    let archiver = Archiver::new(&a.input, output, opts).map_err(library_error)?;

    let release = ddgz_maas::os_release::parse(archiver.os_release());
    let suggested = ddgz_maas::os_release::suggest(&release);
    let mut resource = a.resource.clone();
    if resource.name.is_none() {
        resource.name = Some(suggested.name);
        if resource.base_image.is_none() {
            resource.base_image = suggested.base_image;
        }
    }
    resource.title.get_or_insert(suggested.title);
    resource.filetype = Some(if xz {
        ddgz_maas::FileType::Txz
    } else {
        ddgz_maas::FileType::Tgz
    });
    if a.upload {
        crate::cmd::upload::preflight(&resource)?;
    }

    let summary = archiver.run(&mut |_| {}).map_err(library_error)?;
    if !a.quiet {
        print_report(
            &summary,
            &out,
            &resource,
            filetype,
            &mut std::io::stdout().lock(),
        )?;
    }
    if a.upload {
        crate::cmd::upload::upload_file(
            &out,
            Some(&summary.sha256),
            Some(summary.output_bytes),
            &resource,
            a.quiet,
            &mut std::io::stdout(),
        )?;
    }
    Ok(())
}

/// The report: what was written from where, what was left out, and the `maas` line.
fn print_report(
    s: &ddgz_tarball::Summary,
    out: &Path,
    resource: &crate::cmd::upload::ResourceArgs,
    filetype: &'static str,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let out_abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let name = resource.name.as_deref().unwrap_or("");
    let maas = ddgz_maas::CreateCommand {
        name,
        title: resource.title.as_deref().unwrap_or(""),
        architecture: &resource.architecture,
        base_image: resource
            .base_image
            .as_deref()
            .filter(|_| ddgz_maas::naming::is_custom(name)),
        filetype,
        content: &out_abs,
    }
    .line();
    let report = &s.root;
    writeln!(
        w,
        "wrote {} from {} of {}{}",
        out.display(),
        match &s.root_lv {
            Some(lv) => format!("logical volume {}", ddgz_image::escape(lv.as_bytes())),
            None => format!("partition {}", s.partition),
        },
        s.input.display(),
        if s.replayed_transactions > 0 {
            format!(
                " (journal: {} transaction(s) replayed in memory)",
                s.replayed_transactions
            )
        } else {
            String::new()
        }
    )?;
    writeln!(
        w,
        "  members        {} ({} hard links, {} sparse), {} of file data",
        report.members,
        report.hard_links,
        report.sparse_files,
        human(report.file_bytes)
    )?;
    if let Some((n, boot)) = &s.boot {
        writeln!(
            w,
            "  boot/          {} members from bls_boot partition {n}",
            boot.members
        )?;
    }
    for p in &report.emptied {
        writeln!(w, "  emptied        {}", ddgz_image::escape(p))?;
    }
    let boot_empty = s.boot.iter().flat_map(|(_, b)| &b.empty_symlinks);
    for p in report.empty_symlinks.iter().chain(boot_empty) {
        writeln!(
            w,
            "  empty symlink  {} (left out: no system can create it)",
            ddgz_image::escape(p)
        )?;
    }
    for p in &report.excluded {
        writeln!(w, "  left out       {}", ddgz_image::escape(p))?;
    }
    if !report.backups.is_empty() {
        writeln!(
            w,
            "  backups        {} left out (--exclude-backups)",
            report.backups.len()
        )?;
    }
    let boot_sockets = s.boot.iter().flat_map(|(_, b)| &b.sockets);
    for p in report.sockets.iter().chain(boot_sockets) {
        writeln!(w, "  socket ignored {}", ddgz_image::escape(p))?;
    }
    if s.added > 0 {
        writeln!(w, "  added          {} members (--add)", s.added)?;
    }
    writeln!(
        w,
        "  tar            {} ({} bytes), {} level {}: {} ({:.1} %)",
        human(s.tar_bytes),
        s.tar_bytes,
        if filetype == "txz" { "xz" } else { "gzip" },
        s.level,
        human(s.output_bytes),
        100.0 * s.output_bytes as f64 / s.tar_bytes.max(1) as f64
    )?;
    writeln!(
        w,
        "  time           {:.2} s, {} threads",
        s.seconds, s.threads
    )?;
    writeln!(w, "  sha256         {}", s.sha256)?;
    writeln!(w, "  size           {}", s.output_bytes)?;
    writeln!(w, "upload to MAAS with:\n  {maas}")
}
