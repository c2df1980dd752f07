//! `ddgz convert`: image in, ddgz out.
//!
//! Open the input read-only → apply `--add` edits as an in-memory overlay → validate →
//! compress in parallel to a temporary beside `OUT` while hashing → fsync → rename to
//! `OUT` → report ([`ddgz_convert::OutputFile`]). On any error or signal the temporary is
//! removed; the input is never written.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ddgz_image::{Disk, Format, Image, OpenOptions};
use sha2::{Digest, Sha256};

use crate::cli::human;
use crate::exit::{with_code, Code, ResultExt};

/// Convert a qcow2 or raw disk image into a MAAS ddgz file (raw disk, one gzip member).
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
  ddgz convert disk.qcow2 -o - | ssh host 'cat > image.dd.gz'
  ddgz convert disk.qcow2 --json > report.json
  ddgz convert packer-esxi --add curtin --add scripts.tar.xz:curtin/scripts.tar.xz
  ddgz convert disk.qcow2 --add curtin --add scripts.tar.xz:curtin/ --upload   # as esxi/8.0
  ddgz convert win.qcow2 --upload --name windows/2022 --title 'Windows Server 2022'
  ddgz convert custom.qcow2 --upload --base-image ubuntu/jammy                   # custom/custom

The printed maas line and --upload name an ESXi image esxi/<major>.<minor>, 'VMware ESXi
<major>.<minor>' (from boot.cfg's build= line) unless --name/--title say otherwise; any
other image custom/<input name>, which MAAS requires a --base-image for.")]
pub struct Args {
    /// The image: qcow2 or raw, detected by content.
    pub input: PathBuf,

    /// Output file, or `-` for stdout [default: INPUT without .qcow2/.raw/.img, plus .dd.gz].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Read the input as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Deflate level, 0 to 9: 0 stores (no compression), 1 is fastest, 9 smallest; 6 is
    /// gzip's and pigz's default.
    #[arg(short, long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,

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

/// `--format` values: the names of the format registry's entries (`ddgz_image::FORMATS`),
/// so a new format needs no change here.
#[derive(Debug, Clone, Copy)]
pub struct FormatArg(Format);

impl clap::ValueEnum for FormatArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<FormatArg>> = std::sync::LazyLock::new(|| {
            ddgz_image::FORMATS
                .iter()
                .map(|e| FormatArg(e.format))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let e = self.0.entry();
        Some(clap::builder::PossibleValue::new(e.name).aliases(e.aliases.iter().copied()))
    }
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        f.0
    }
}

/// What a conversion produced, as printed (and as `--json`, whose shape follows
/// `inspect --json`'s schema version).
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub input: PathBuf,
    pub format: &'static str,
    pub output: Option<PathBuf>,
    pub virtual_size: u64,
    pub allocated_bytes: u64,
    pub output_bytes: u64,
    pub ratio: f64,
    pub seconds: f64,
    pub throughput_bytes_per_second: f64,
    pub sha256: String,
    pub crc32: String,
    pub zero_chunks: u64,
    pub data_chunks: u64,
    pub threads: usize,
    pub level: u32,
    pub maas_command: Option<String>,
    /// The boot resource's name in MAAS (`esxi/8.0`, `custom/<stem>`, or `--name`).
    pub maas_name: String,
    /// Its title.
    pub maas_title: String,
    /// What is wrong with `--name` for this image (another ESXi release, not `esxi/`).
    pub name_warnings: Vec<String>,
    /// What validation found (as `validate --json`'s); `None` when `--no-validate` and the
    /// layout could not be read.
    pub findings: Option<ddgz_layout::Findings>,
}

/// Refuses a raw input that is a finished `.dd.gz` / `.dd.xz` (by its magic number):
/// compressing it again would make a ddgz of compressed bytes, not of a disk.
fn refuse_packed(image: &Image, path: &Path) -> anyhow::Result<()> {
    let mut head = [0u8; 6];
    let n = image.size().min(6) as usize;
    image.read_at(0, &mut head[..n]).input()?;
    if let Some(c) = ddgz_packed::detect(&head[..n]) {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "{}: is a {} compressed disk (a finished ddgz?): convert reads disk images; \
                 `inspect`, `validate`, `ls`, `cat` and `verify` read it as it is, and \
                 adding files to it needs it unpacked first (or --format raw to compress \
                 its bytes as they are)",
                path.display(),
                c.name()
            ),
        ));
    }
    Ok(())
}

/// The default output path: beside the input, its name without a disk-image extension,
/// plus `.dd.gz`.
pub fn default_output(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".into());
    let stem = [".qcow2", ".vmdk", ".raw", ".img"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext).filter(|s| !s.is_empty()))
        .unwrap_or(&name);
    input.with_file_name(format!("{stem}.dd.gz"))
}

/// The extension of `out` when it names a format other than gzip (`NAME.dd.xz`,
/// `disk.qcow2`, …): writing gzip under that name would mislead MAAS and people alike.
fn foreign_extension(out: &Path) -> Option<String> {
    const OTHERS: [&str; 21] = [
        "xz", "bz2", "zst", "zstd", "lz4", "lzma", "lz", "zip", "tar", "tgz", "txz", "tbz", "tbz2",
        "raw", "img", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso",
    ];
    let ext = out.extension()?.to_string_lossy().to_ascii_lowercase();
    OTHERS.contains(&ext.as_str()).then(|| format!(".{ext}"))
}

/// A writer that counts and hashes what passes through.
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

pub fn run(a: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let to_stdout = a.output.as_deref() == Some(Path::new("-"));
    let out_path = if to_stdout {
        None
    } else {
        Some(a.output.clone().unwrap_or_else(|| default_output(&a.input)))
    };
    if a.upload && to_stdout {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!("--upload needs an output file, not `-o -`"),
        ));
    }

    let opts = OpenOptions {
        format: a.format.map(Into::into),
        force_corrupt: a.force,
    };
    let image = Image::open(&a.input, &opts).input()?;
    if opts.format.is_none() && image.format() == Format::Raw {
        refuse_packed(&image, &a.input)?;
    }
    let format = image.format().name();
    let allocated = ddgz_image::allocated_bytes(&image).input()?;
    // The output is never a file this run reads: the image, its backing chain, its data
    // file, the files to add.
    let output = match &out_path {
        None => None,
        Some(out) => {
            let mut reads = crate::cmd::image_reads(&image, &a.input);
            reads.extend(crate::cmd::fat::add_sources(&a.add)?);
            let file = ddgz_convert::OutputFile::create(out, a.force, &reads)
                .map_err(crate::cmd::output_error)?;
            // After the checks above (a file this run reads is refused as such); the
            // temporary file goes with `file`.
            if let Some(ext) = foreign_extension(out) {
                return Err(with_code(
                    Code::Usage,
                    anyhow::anyhow!(
                        "-o {}: ddgz writes a gzip stream (MAAS filetype ddgz), and {ext} \
                         names another format; name it .dd.gz",
                        out.display()
                    ),
                ));
            }
            Some(file)
        }
    };
    let patches = crate::cmd::fat::overlay_patches(&image, &a.add)?;
    // The work: data bytes, including what --add writes (a bound for the bar).
    let work = allocated + patches.iter().map(|p| p.data.len() as u64).sum::<u64>();
    let disk: Box<dyn Disk> = if patches.is_empty() {
        Box::new(image)
    } else {
        Box::new(ddgz_image::Overlay::new(image, patches).input()?)
    };
    let report = ddgz_layout::inspect(&*disk)
        .with_context(|| format!("{}: validating the partition table", a.input.display()))
        .input();
    let report = match (a.no_validate, report) {
        (false, r) => {
            let mut r = r?;
            r.findings.allow(&a.allow.codes);
            validate(&r.findings, &a.input, a.quiet)?;
            Some(r)
        }
        (true, r) => r.ok(),
    };
    let esxi = report
        .as_ref()
        .and_then(|r| r.esxi.as_ref())
        .and_then(|l| l.version.as_ref())
        .map(|v| (v.major, v.minor));
    let naming = ddgz_maas::naming::resolve(
        a.resource.name.as_deref(),
        a.resource.title.as_deref(),
        esxi,
        &stem(&a.input),
    );
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

    let cancel = crate::cli::interrupt_flag()?;
    let threads = a.threads.unwrap_or(0);
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let dopts = ddgz_deflate::Options {
        level: a.level,
        threads,
        chunk_size: a.deflate_chunk_size,
        verify: !a.no_verify,
        cancel: Some(cancel.clone()),
    };

    // Rate and ETA over the data bytes: zero extents cost nothing.
    let bar = crate::cli::progress_bar(work, "convert", crate::cli::show_progress(a.quiet));
    let mut progress = |p: ddgz_deflate::Progress| bar.set_position(p.data_bytes.min(work));

    let (summary, sha256) = match output {
        None => {
            let stdout = std::io::stdout().lock();
            let mut w = Hashing {
                inner: BufWriter::with_capacity(1 << 20, stdout),
                sha: Sha256::new(),
            };
            let s = ddgz_deflate::compress(&*disk, &mut w, &dopts, &mut progress)
                .map_err(compress_error)?;
            (s, crate::cli::hex(&w.sha.finalize()))
        }
        Some(output) => {
            let (s, sha) = {
                let mut w = Hashing {
                    inner: BufWriter::with_capacity(1 << 20, output.file()),
                    sha: Sha256::new(),
                };
                let s = ddgz_deflate::compress(&*disk, &mut w, &dopts, &mut progress)
                    .map_err(compress_error)
                    .with_context(|| {
                        format!(
                            "converting {} to {}",
                            a.input.display(),
                            output.path().display()
                        )
                    })?;
                w.inner
                    .flush()
                    .with_context(|| format!("{}: write", output.temp_path().display()))
                    .output()?;
                (s, crate::cli::hex(&w.sha.finalize()))
            };
            output.commit().map_err(crate::cmd::output_error)?;
            (s, sha)
        }
    };
    bar.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64();
    let out_abs = out_path
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    let maas_command = out_abs.as_ref().map(|p| maas_command(p, &resource));
    let findings = report.map(|r| r.findings);
    let report = Report {
        schema_version: crate::cmd::inspect::SCHEMA_VERSION,
        input: a.input.clone(),
        format,
        output: out_path.clone(),
        virtual_size: summary.input_bytes,
        allocated_bytes: allocated,
        output_bytes: summary.output_bytes,
        ratio: if summary.input_bytes == 0 {
            0.0
        } else {
            summary.output_bytes as f64 / summary.input_bytes as f64
        },
        seconds,
        throughput_bytes_per_second: summary.input_bytes as f64 / seconds.max(1e-9),
        sha256,
        crc32: format!("{:08x}", summary.crc32),
        zero_chunks: summary.zero_chunks,
        data_chunks: summary.data_chunks,
        threads,
        level: a.level,
        maas_command,
        maas_name: naming.name.clone(),
        maas_title: naming.title.clone(),
        name_warnings: naming.warnings.clone(),
        findings,
    };
    print_report(&report, a.json, a.quiet, to_stdout)?;
    if let (true, Some(out)) = (a.upload, &out_path) {
        crate::cmd::upload::upload_file(
            out,
            Some(&report.sha256),
            Some(report.output_bytes),
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

/// Prints the errors and warnings of `ddgz validate` (auto profile) on what is about to be
/// converted on stderr, and refuses (exit 1) on an error.
fn validate(findings: &ddgz_layout::Findings, input: &Path, quiet: bool) -> anyhow::Result<()> {
    use ddgz_layout::Severity::{Error, Warning};
    let errors = findings.count(Error);
    let shown = |f: &&ddgz_layout::Finding| matches!(f.severity, Error | Warning);
    if errors > 0 || !quiet {
        for f in findings.items.iter().filter(shown) {
            eprintln!("{}: {f}", input.display());
        }
        for f in findings.maas_readiness.items.iter().filter(shown) {
            eprintln!("{}: MAAS readiness: {f}", input.display());
        }
    }
    if errors > 0 {
        return Err(with_code(
            Code::Failed,
            anyhow::anyhow!(
                "{}: validation found {errors} error(s); nothing was written (--no-validate converts anyway)",
                input.display()
            ),
        ));
    }
    Ok(())
}

/// Maps compressor errors to exit codes: reading → 3, writing or interrupted → 4.
fn compress_error(e: ddgz_deflate::Error) -> anyhow::Error {
    let code = match e {
        ddgz_deflate::Error::Read { .. } => Code::Input,
        ddgz_deflate::Error::Cancelled => {
            return with_code(
                Code::Output,
                anyhow::anyhow!("interrupted; no output was kept"),
            );
        }
        _ => Code::Output,
    };
    with_code(code, e)
}

/// The input's name without a disk-image extension: `custom/<stem>` for non-ESXi images.
fn stem(input: &Path) -> String {
    default_output(input)
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".dd.gz").to_string())
        .unwrap_or_else(|| "image".into())
}

/// The ready-to-paste MAAS CLI line for uploading `out` as `r` (name and title resolved).
/// A custom image without `--base-image` gets `base_image=ubuntu/SERIES` to fill in (MAAS's
/// API requires it for custom images).
fn maas_command(out: &Path, r: &crate::cmd::upload::ResourceArgs) -> String {
    let name = r.name.clone().unwrap_or_default();
    let mut line = format!(
        "maas $PROFILE boot-resources create name={} title={} architecture={} filetype='ddgz'",
        shell_quote(&name),
        shell_quote(r.title.as_deref().unwrap_or_default()),
        shell_quote(&r.architecture),
    );
    if ddgz_maas::naming::is_custom(&name) {
        let base = r
            .base_image
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or("ubuntu/SERIES");
        line.push_str(&format!(" base_image={}", shell_quote(base)));
    }
    line.push_str(&format!(
        " content@={}",
        shell_quote(&out.to_string_lossy())
    ));
    line
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn print_report(r: &Report, json: bool, quiet: bool, to_stdout: bool) -> anyhow::Result<()> {
    // With `-o -` stdout carries the image: the report goes to stderr.
    let mut w: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    if json {
        serde_json::to_writer_pretty(&mut w, r)?;
        writeln!(w)?;
        return Ok(());
    }
    if quiet {
        return Ok(());
    }
    let out = r
        .output
        .as_ref()
        .map_or("(stdout)".to_string(), |p| p.display().to_string());
    writeln!(
        w,
        "converted {} ({}) -> {}",
        r.input.display(),
        r.format,
        out
    )?;
    writeln!(
        w,
        "  virtual size   {} ({} bytes)",
        human(r.virtual_size),
        r.virtual_size
    )?;
    writeln!(
        w,
        "  allocated      {} ({} bytes)",
        human(r.allocated_bytes),
        r.allocated_bytes
    )?;
    writeln!(
        w,
        "  output         {} ({} bytes), {:.2} % of the virtual size",
        human(r.output_bytes),
        r.output_bytes,
        r.ratio * 100.0
    )?;
    writeln!(
        w,
        "  time           {:.2} s, {}/s of virtual disk ({} threads, level {})",
        r.seconds,
        human(r.throughput_bytes_per_second as u64),
        r.threads,
        r.level
    )?;
    writeln!(w, "  sha256         {}", r.sha256)?;
    writeln!(w, "  size           {}", r.output_bytes)?;
    if let Some(cmd) = &r.maas_command {
        writeln!(w, "upload to MAAS with:\n  {cmd}")?;
        if cmd.contains("base_image=ubuntu/SERIES") {
            writeln!(
                w,
                "  (MAAS's API requires the base image of a custom image: put its series for \
                 SERIES, or convert with --base-image OS/SERIES)"
            )?;
        }
    }
    Ok(())
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
