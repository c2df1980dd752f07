//! `ddgz tar`: the root filesystem of a Linux image as the tarball MAAS deploys
//! (`filetype=tgz`), without nbd, FUSE or root — what packer-maas's `fuse-nbd` and
//! `fuse-tar-root` scripts do with qemu-nbd, nbdfuse, fuse2fs and GNU tar.
//!
//! Open the image → find the root partition (ext2/3/4 holding `/etc/os-release`) →
//! walk it (journal replayed in memory) with the edits of `fuse-tar-root` applied in the
//! stream → gzip in parallel into `OUT` through a temporary file → sha256, size, and the
//! `maas` line.

mod gzip;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ddgz_ext4::{FileType, Fs};
use ddgz_image::Disk;
use ddgz_image::{Image, OpenOptions};
use sha2::{Digest, Sha256};

use crate::cli::human;
use crate::exit::{with_code, Code, ResultExt};

/// Write the root filesystem of a Linux image (ext2/3/4) as a MAAS root tarball (tgz).
///
/// Like packer-maas's fuse-tar-root (`tar -Scpf --acls --selinux --xattrs
/// --one-file-system --exclude-backups`, then `gzip --best`), without nbd, FUSE or root:
/// the root partition is read in place (a journal left unreplayed is replayed in memory;
/// the input never changes). In the stream, as fuse-tar-root does: /etc/machine-id is
/// emptied, cloud-init's state is left out, the content of a bls_boot partition goes
/// under boot/, and --add puts files (curtin hooks) in.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz tar output-qemu/packer-qemu -o rocky9.tar.gz --add curtin
  ddgz tar disk.qcow2 --partition 2 -o root.tar.gz
  ddgz tar disk.qcow2 --add curtin --upload --name custom/rocky9 --title 'Rocky 9 Custom'")]
pub struct Args {
    /// The image (qcow2, raw, VMDK, VHD, VHDX, VDI), detected by content.
    pub input: PathBuf,

    /// Output file [default: INPUT without .qcow2/.raw/.img, plus .tar.gz].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// The root partition's number [default: the ext partition holding /etc/os-release].
    #[arg(short, long, value_name = "N")]
    pub partition: Option<u32>,

    /// Add a host file or directory tree as DEST in the root [default DEST: /NAME, e.g.
    /// --add curtin puts it at /curtin]; a DEST ending in / is a directory to put SRC in.
    /// Files replace the image's; existing directories keep their metadata. Repeatable.
    #[arg(long = "add", value_name = "SRC[:DEST]")]
    pub add: Vec<String>,

    /// Keep /etc/machine-id as it is (fuse-tar-root empties it).
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

    /// Deflate level: 1 fastest, 9 smallest (packer-maas uses gzip --best).
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
    pub resource: crate::cmd::upload::ResourceArgs,
}

/// GPT type of an XBOOTLDR partition (parted's `bls_boot` flag).
const XBOOTLDR_GUID: &str = "BC13C2FF-59E6-4262-A352-B275FD6F7172";
/// MBR type of an XBOOTLDR partition.
const XBOOTLDR_MBR: u8 = 0xEA;

/// A filesystem in a partition of the image.
type PartFs<'a> = Fs<&'a dyn Disk>;

/// The default output: beside the input, without a disk-image extension, `.tar.gz`.
fn default_output(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    let stem = [".qcow2", ".raw", ".img"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext).filter(|s| !s.is_empty()))
        .unwrap_or(&name);
    input.with_file_name(format!("{stem}.tar.gz"))
}

/// Exit code for a reader error: all are about the input.
fn ext_err(e: ddgz_ext4::Error) -> anyhow::Error {
    with_code(Code::Input, e)
}

/// The partitions as (number, byte range, is XBOOTLDR); the whole disk as partition 0
/// when there is no partition table.
fn partitions(disk: &dyn Disk) -> anyhow::Result<Vec<(u32, std::ops::Range<u64>, bool)>> {
    let parts = ddgz_layout::partitions(disk).unwrap_or_default();
    if parts.is_empty() {
        return Ok(vec![(0, 0..disk.size(), false)]);
    }
    let xbootldr = ddgz_layout::Guid::parse(XBOOTLDR_GUID);
    let mut out = Vec::new();
    for p in &parts {
        let Ok(r) = ddgz_layout::range_in_disk(p, disk.size()) else {
            continue;
        };
        let bls = match &p.kind {
            ddgz_layout::PartitionType::Gpt(g) => Some(*g) == xbootldr,
            ddgz_layout::PartitionType::Mbr(t) => *t == XBOOTLDR_MBR,
        };
        out.push((p.number, r, bls));
    }
    Ok(out)
}

/// The root filesystem: `--partition N`, or the one ext partition holding
/// /etc/os-release.
fn find_root<'a>(
    disk: &'a dyn Disk,
    parts: &[(u32, std::ops::Range<u64>, bool)],
    want: Option<u32>,
    input: &Path,
) -> anyhow::Result<(u32, PartFs<'a>)> {
    if let Some(n) = want {
        let Some((_, r, _)) = parts.iter().find(|p| p.0 == n) else {
            return Err(with_code(
                Code::Usage,
                anyhow::anyhow!(
                    "{}: no partition {n} (partitions: {})",
                    input.display(),
                    parts
                        .iter()
                        .map(|p| p.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let fs = Fs::open(disk, r.start, r.end - r.start)
            .map_err(ext_err)
            .with_context(|| format!("{}: partition {n}", input.display()))?;
        return Ok((n, fs));
    }
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for (n, r, _) in parts {
        match Fs::open(disk, r.start, r.end - r.start) {
            Ok(fs) => match fs.lookup(b"/etc/os-release", true) {
                Ok(Some(_)) => found.push((*n, fs)),
                Ok(None) => notes.push(format!("{n}: ext, no /etc/os-release")),
                Err(e) => notes.push(format!("{n}: ext, {:#}", anyhow::Error::from(e))),
            },
            Err(ddgz_ext4::Error::NotExt(_)) => notes.push(format!("{n}: not ext2/3/4")),
            Err(e) => notes.push(format!("{n}: {:#}", anyhow::Error::from(e))),
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(with_code(
            Code::Input,
            anyhow::anyhow!(
                "{}: no ext2/3/4 partition holds /etc/os-release ({}); name the root with \
                 --partition N",
                input.display(),
                notes.join("; ")
            ),
        )),
        _ => {
            Err(with_code(
                Code::Usage,
                anyhow::anyhow!(
                "{}: partitions {} all hold /etc/os-release; choose the root with --partition N",
                input.display(),
                found.iter().map(|f| f.0.to_string()).collect::<Vec<_>>().join(", ")
            ),
            ))
        }
    }
}

/// `KEY=value` pairs of an os-release file, quotes removed.
fn os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            if k.starts_with('#') || k.is_empty() {
                return None;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\")))
        })
        .collect()
}

/// The boot-resource name, title and base image packer-maas's READMEs would use for this
/// OS: `rhel/rhel9`, `centos/centos9`, `suse/sles15`, `custom/ubuntu-24.04`, else
/// `custom/<ID><major>` (`custom/rocky9`); a custom image's base image (which MAAS
/// requires) is `rhel/<major>` for the RHEL family, `ubuntu/<codename>` for Ubuntu.
fn suggest_name(release: &[(String, String)]) -> (String, String, Option<String>) {
    let get = |k: &str| {
        release
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let id: String = get("ID")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let id = if id.is_empty() {
        "linux".to_string()
    } else {
        id
    };
    let version: String = get("VERSION_ID")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let major = version.split('.').next().unwrap_or("").to_string();
    let name = match id.as_str() {
        "rhel" => format!("rhel/rhel{major}"),
        "centos" => format!("centos/centos{major}"),
        "sles" | "sled" | "sles_sap" => format!("suse/sles{major}"),
        "ubuntu" | "debian" if !version.is_empty() => format!("custom/{id}-{version}"),
        _ => format!("custom/{id}{major}"),
    };
    let pretty = get("NAME");
    let title = format!(
        "{} {} Custom",
        if pretty.is_empty() { &id } else { &pretty },
        version
    )
    .replace("  ", " ");
    let like = format!("{id} {}", get("ID_LIKE"));
    let codename = get("VERSION_CODENAME");
    let base = if !ddgz_maas::naming::is_custom(&name) {
        None
    } else if id == "ubuntu" && !codename.is_empty() {
        Some(format!("ubuntu/{codename}"))
    } else if (like.contains("rhel") || like.contains("fedora") || like.contains("centos"))
        && !major.is_empty()
        && id != "fedora"
    {
        Some(format!("rhel/{major}"))
    } else {
        None
    };
    (name, title, base)
}

/// `SRC[:DEST]` → (host path, member name such as `./curtin`).
fn parse_add(spec: &str) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let (src, dest) = match spec.rsplit_once(':') {
        Some((s, d)) if !s.is_empty() => (s, Some(d)),
        _ => (spec, None),
    };
    let src_path = PathBuf::from(src);
    let base = src_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            with_code(
                Code::Usage,
                anyhow::anyhow!("--add {spec}: SRC has no file name"),
            )
        })?;
    let dest = match dest {
        None | Some("") => format!("/{base}"),
        Some(d) if d.ends_with('/') => format!("{d}{base}"),
        Some(d) => d.to_string(),
    };
    let comps: Vec<&str> = dest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.is_empty() || comps.contains(&"..") {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "--add {spec}: DEST {dest:?} must name a path inside the root, without `..`"
            ),
        ));
    }
    Ok((src_path, format!("./{}", comps.join("/")).into_bytes()))
}

/// Member names of the non-directories under host path `src` added as `dest`: the
/// image's members of these names are left out.
fn added_names(src: &Path, dest: &[u8], out: &mut std::collections::HashSet<Vec<u8>>) {
    use std::os::unix::ffi::OsStrExt;
    match std::fs::symlink_metadata(src) {
        Ok(m) if m.is_dir() => {
            if let Ok(rd) = std::fs::read_dir(src) {
                for e in rd.flatten() {
                    let child = [dest, b"/", e.file_name().as_bytes()].concat();
                    added_names(&e.path(), &child, out);
                }
            }
        }
        Ok(_) => {
            out.insert(dest.to_vec());
        }
        Err(_) => {}
    }
}

/// Whether the image has a directory at member name `path` (`./a/b/`).
fn image_has_dir(fs: &PartFs<'_>, path: &[u8]) -> bool {
    let p = path.strip_prefix(b".").unwrap_or(path);
    matches!(fs.lookup(p, false), Ok(Some(i)) if i.file_type() == Some(FileType::Directory))
}

/// A writer that hashes what passes through.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn tar_err(e: ddgz_tar::Error) -> anyhow::Error {
    let code = match &e {
        ddgz_tar::Error::Write(io) if io.kind() == std::io::ErrorKind::Interrupted => {
            return with_code(
                Code::Output,
                anyhow::anyhow!("interrupted; no output was kept"),
            )
        }
        ddgz_tar::Error::Write(_) => Code::Output,
        ddgz_tar::Error::Host { .. } => Code::Usage,
        _ => Code::Input,
    };
    with_code(code, e)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = a.output.clone().unwrap_or_else(|| default_output(&a.input));
    let adds = a
        .add
        .iter()
        .map(|s| parse_add(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (src, _) in &adds {
        std::fs::symlink_metadata(src)
            .with_context(|| format!("--add {}", src.display()))
            .map_err(|e| with_code(Code::Usage, e))?;
    }

    let image = Image::open(&a.input, &OpenOptions::default()).input()?;
    // The output is never a file this run reads: the image, its backing chain, the files
    // to add.
    let mut reads = crate::cmd::image_reads(&image, &a.input);
    for (src, _) in &adds {
        reads.extend(
            ddgz_output::files_under(src)
                .with_context(|| format!("--add {}", src.display()))
                .input()?,
        );
    }
    let output =
        ddgz_output::OutputFile::create(&out, a.force, &reads).map_err(crate::cmd::output_error)?;
    let disk: &dyn Disk = &image;
    let parts = partitions(disk)?;
    let (root_part, fs) = find_root(disk, &parts, a.partition, &a.input)?;
    let bls = if a.no_bls_boot {
        None
    } else {
        match parts.iter().find(|p| p.2 && p.0 != root_part) {
            Some((n, r, _)) => Some((
                *n,
                Fs::open(disk, r.start, r.end - r.start)
                    .map_err(ext_err)
                    .with_context(|| {
                        format!(
                            "{}: bls_boot partition {n} (only ext2/3/4 is read; --no-bls-boot \
                             leaves it out)",
                            a.input.display()
                        )
                    })?,
            )),
            None => None,
        }
    };

    let release = match fs.lookup(b"/etc/os-release", true) {
        Ok(Some(i)) => {
            String::from_utf8_lossy(&fs.read_small(&i, 1 << 20).unwrap_or_default()).into_owned()
        }
        _ => String::new(),
    };
    let (suggested_name, suggested_title, suggested_base) = suggest_name(&os_release(&release));
    let mut resource = a.resource.clone();
    if resource.name.is_none() {
        resource.name = Some(suggested_name);
        if resource.base_image.is_none() {
            resource.base_image = suggested_base;
        }
    }
    resource.title.get_or_insert(suggested_title);
    resource.filetype = Some(ddgz_maas::FileType::Tgz);
    if a.upload {
        crate::cmd::upload::preflight(&resource)?;
    }

    let mut opts = ddgz_tar::Options {
        exclude_backups: !a.keep_backups,
        sparse: !a.no_sparse,
        ..Default::default()
    };
    if !a.keep_machine_id {
        opts.empty.push(b"./etc/machine-id".to_vec());
    }
    if !a.keep_cloud_init {
        for p in [
            "./var/lib/cloud/instance",
            "./var/lib/cloud/instances",
            "./var/log/cloud-init*.log",
        ] {
            opts.exclude.push(p.as_bytes().to_vec());
        }
    }
    for (src, dest) in &adds {
        added_names(src, dest, &mut opts.replaced);
    }
    let names = ddgz_tar::Names::from_fs(&fs);

    let threads = match a.threads.unwrap_or(0) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let cancel = crate::cli::interrupt_flag()?;
    let file = output
        .file()
        .try_clone()
        .with_context(|| format!("{}: reopen", output.temp_path().display()))
        .output()?;
    let mut report = ddgz_tar::Report::default();
    let mut boot_report = ddgz_tar::Report::default();
    let mut added = 0u64;
    let result = std::thread::scope(|s| -> anyhow::Result<(File, gzip::Summary, String)> {
        let sink = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            sha: Sha256::new(),
        };
        let gz = gzip::GzStream::new(s, sink, a.level, threads, !a.no_verify, cancel.clone());
        let mut tar = ddgz_tar::Writer::new(gz);
        ddgz_tar::write_fs(
            &fs,
            ddgz_ext4::ROOT_INO,
            b"./",
            &mut tar,
            &opts,
            &names,
            &mut report,
        )
        .map_err(tar_err)
        .with_context(|| format!("{}: partition {root_part}", a.input.display()))?;
        if let Some((n, bfs)) = &bls {
            let bopts = ddgz_tar::Options {
                empty: Vec::new(),
                exclude: Vec::new(),
                ..opts.clone()
            };
            let bnames = names.clone();
            ddgz_tar::write_fs(
                bfs,
                ddgz_ext4::ROOT_INO,
                b"./boot/",
                &mut tar,
                &bopts,
                &bnames,
                &mut boot_report,
            )
            .map_err(tar_err)
            .with_context(|| format!("{}: bls_boot partition {n}", a.input.display()))?;
        }
        for (src, dest) in &adds {
            // Parents the image lacks, as root-owned directories.
            let mut parent = b".".to_vec();
            let comps: Vec<&[u8]> = dest[2..].split(|&c| c == b'/').collect();
            for c in &comps[..comps.len() - 1] {
                parent.push(b'/');
                parent.extend_from_slice(c);
                let p = [&parent[..], b"/"].concat();
                if !image_has_dir(&fs, &p) {
                    use std::os::unix::fs::MetadataExt;
                    let t = std::fs::metadata(src)
                        .map(|m| ddgz_ext4::Time {
                            sec: m.mtime(),
                            nsec: 0,
                        })
                        .unwrap_or_default();
                    let h = ddgz_tar::host::directory(p, t);
                    tar.begin(&h)
                        .map_err(|e| tar_err(ddgz_tar::Error::Write(e)))?;
                    tar.end().map_err(|e| tar_err(ddgz_tar::Error::Write(e)))?;
                    added += 1;
                }
            }
            added += ddgz_tar::host::add(&mut tar, src, dest, &mut |p| image_has_dir(&fs, p))
                .map_err(tar_err)?;
        }
        let gz = tar
            .finish()
            .map_err(|e| tar_err(ddgz_tar::Error::Write(e)))?;
        let (sink, summary) = gz
            .finish()
            .map_err(|e| tar_err(ddgz_tar::Error::Write(e)))?;
        let sha = crate::cli::hex(&sink.sha.finalize());
        let file = sink
            .inner
            .into_inner()
            .map_err(|e| e.into_error())
            .output()?;
        Ok((file, summary, sha))
    });
    let (file, summary, sha256) = result?;
    drop(file);
    output.commit().map_err(crate::cmd::output_error)?;

    let secs = started.elapsed().as_secs_f64();
    let out_abs = std::path::absolute(&out).unwrap_or_else(|_| out.clone());
    let name = resource.name.as_deref().unwrap_or("");
    let base = match &resource.base_image {
        Some(b) if ddgz_maas::naming::is_custom(name) => format!(" base_image={}", quote(b)),
        _ => String::new(),
    };
    let maas = format!(
        "maas $PROFILE boot-resources create name={} title={} architecture={}{base} filetype='tgz' content@={}",
        quote(name),
        quote(resource.title.as_deref().unwrap_or("")),
        quote(&resource.architecture),
        quote(&out_abs.to_string_lossy())
    );
    if !a.quiet {
        let mut w = std::io::stdout().lock();
        writeln!(
            w,
            "wrote {} from partition {root_part} of {}{}",
            out.display(),
            a.input.display(),
            if fs.replayed_transactions() > 0 {
                format!(
                    " (journal: {} transaction(s) replayed in memory)",
                    fs.replayed_transactions()
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
        if let Some((n, _)) = &bls {
            writeln!(
                w,
                "  boot/          {} members from bls_boot partition {n}",
                boot_report.members
            )?;
        }
        for p in &report.emptied {
            writeln!(w, "  emptied        {}", String::from_utf8_lossy(p))?;
        }
        for p in &report.excluded {
            writeln!(w, "  left out       {}", String::from_utf8_lossy(p))?;
        }
        if !report.backups.is_empty() {
            writeln!(
                w,
                "  backups        {} left out (--exclude-backups)",
                report.backups.len()
            )?;
        }
        for p in report.sockets.iter().chain(&boot_report.sockets) {
            writeln!(w, "  socket ignored {}", String::from_utf8_lossy(p))?;
        }
        if added > 0 {
            writeln!(w, "  added          {added} members (--add)")?;
        }
        writeln!(
            w,
            "  tar            {} ({} bytes), gzip level {}: {} ({:.1} %)",
            human(summary.input_bytes),
            summary.input_bytes,
            a.level,
            human(summary.output_bytes),
            100.0 * summary.output_bytes as f64 / summary.input_bytes.max(1) as f64
        )?;
        writeln!(w, "  time           {secs:.2} s, {threads} threads")?;
        writeln!(w, "  sha256         {sha256}")?;
        writeln!(w, "  size           {}", summary.output_bytes)?;
        writeln!(w, "upload to MAAS with:\n  {maas}")?;
    }
    if a.upload {
        crate::cmd::upload::upload_file(
            &out,
            Some(&sha256),
            Some(summary.output_bytes),
            &resource,
            a.quiet,
            &mut std::io::stdout(),
        )?;
    }
    Ok(())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_os_release() {
        let rel = |s: &str| suggest_name(&os_release(s));
        let r = rel("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n");
        assert_eq!((r.0.as_str(), r.2), ("rhel/rhel9", None));
        let r = rel(
            "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nNAME=\"Rocky Linux\"",
        );
        assert_eq!(
            (r.0.as_str(), r.2.as_deref()),
            ("custom/rocky9", Some("rhel/9"))
        );
        let (n, t, b) =
            rel("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble");
        assert_eq!(
            (n.as_str(), t.as_str()),
            ("custom/ubuntu-24.04", "Ubuntu 24.04 Custom")
        );
        assert_eq!(b.as_deref(), Some("ubuntu/noble"));
        assert_eq!(rel("ID=sles\nVERSION_ID=\"15.6\"").0, "suse/sles15");
        assert_eq!(rel("").0, "custom/linux");
    }

    #[test]
    fn add_specs() {
        assert_eq!(parse_add("curtin").unwrap().1, b"./curtin");
        assert_eq!(parse_add("a/hooks:/opt/x/").unwrap().1, b"./opt/x/hooks");
        assert_eq!(parse_add("f:/etc/y").unwrap().1, b"./etc/y");
        assert!(parse_add("f:/../etc").is_err());
        assert_eq!(parse_add("f:/").unwrap().1, b"./f");
        assert!(parse_add("/:/x").is_err());
    }
}
