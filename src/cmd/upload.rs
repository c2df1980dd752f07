//! `ddgz upload`: send a ddgz (or ddxz, ddraw, …) file to MAAS as a boot resource, in
//! chunks, each request signed anew — so multi-GB uploads outlive MAAS's 300 s OAuth
//! timestamp window. Also [`upload_file`] for `ddgz convert --upload`.

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;

use crate::cli::human;
use ddgz_maas::{FileType, NewResource, Outcome, UploadError};
use sha2::{Digest, Sha256};

use crate::exit::{with_code, Code, ResultExt};

mod settings;

use settings::checked;
pub use settings::preflight;

/// Smallest `--chunk-size`.
const MIN_CHUNK: u64 = 4 << 10;
/// Largest `--chunk-size`: one chunk is held in memory.
const MAX_CHUNK: u64 = 1 << 30;

/// Upload a ddgz (or ddxz, ddraw, …) file to MAAS as a boot resource, in chunks.
///
/// The file type comes from the content (gzip → ddgz, xz → ddxz, raw → ddraw); a
/// --filetype that contradicts the content (e.g. ddtgz for a plain gzip'd disk) is refused.
/// Each request carries a fresh OAuth timestamp and nonce, so uploads of any length work.
/// MAAS cannot resume an upload: after a failure mid-way, ddgz prints the command that
/// removes the incomplete resource.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("upload_chunk_size", |a| a.long("chunk-size")),
    after_help = "\
Environment:
  MAAS_URL       the MAAS URL, e.g. http://maas.example:5240/MAAS (or --url)
  MAAS_API_KEY   the API key, consumer_key:token_key:token_secret (or --api-key-file)

Network:
  The API key is sent to the MAAS URL's origin only: an upload_uri on another host, port
  or scheme is refused, and redirects are reported, never followed. Timeouts: 30 s to
  connect; --response-timeout (120 s) for each answer and for any pause while bytes move;
  600 s to send one chunk's body and for MAAS's answer to the last chunk (it hashes the
  whole file first).

Examples:
  ddgz upload vmware-esxi.dd.gz --name esxi/8 --title 'VMware ESXi 8.0'
  ddgz upload win.dd.gz --name windows/2022 --api-key-file ~/.maas-key --chunk-size 1M"
)]
pub struct Args {
    /// The file to upload.
    pub file: PathBuf,

    #[command(flatten)]
    pub resource: ResourceArgs,

    /// Print nothing but the result and errors (no progress bar).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Where and as what to upload to MAAS; shared by `upload` and `convert --upload`.
///
/// Everything is optional for clap; [`upload_file`] checks what it needs.
#[derive(Debug, Clone, clap::Args)]
pub struct ResourceArgs {
    /// Boot resource name in MAAS: os/series or a plain name (e.g. esxi/8) [default for
    /// convert and tar: from the image; `upload` needs it].
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Title shown in the MAAS UI [default for convert and tar: from the image; for
    /// upload: derived by MAAS].
    #[arg(long, value_name = "TITLE", value_parser = parse_title)]
    pub title: Option<String>,

    /// The Linux a custom image is built on, OS/SERIES (e.g. ubuntu/jammy): MAAS's API
    /// requires it for custom images (names custom/… or without /) and ignores it otherwise.
    #[arg(long, value_name = "OS/SERIES", value_parser = parse_base_image)]
    pub base_image: Option<String>,

    /// Architecture of the image, arch/subarch.
    #[arg(long, value_name = "ARCH", default_value = "amd64/generic")]
    pub architecture: String,

    /// MAAS file type (ddgz, ddxz, ddraw, ddtgz, …) [default: from the file's content].
    #[arg(long, value_name = "TYPE", value_parser = parse_filetype)]
    pub filetype: Option<FileType>,

    /// Bytes per upload request (suffixes K, M, G are binary), 4K to 1G.
    #[arg(id = "upload_chunk_size", long = "upload-chunk-size", value_name = "SIZE", default_value = "4M", value_parser = parse_chunk_size)]
    pub chunk_size: u64,

    /// MAAS URL, e.g. http://maas.example:5240/MAAS [default: $MAAS_URL].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// File holding the API key, consumer_key:token_key:token_secret [default: $MAAS_API_KEY].
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Seconds to wait for each MAAS answer, and longest pause while bytes move, 1 to 3600.
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub response_timeout: u64,
}

/// `--name`: plain text (a usage error, exit 2, otherwise).
fn parse_name(s: &str) -> Result<String, String> {
    ddgz_maas::naming::check_text("--name", s).map(|()| s.to_string())
}

/// `--title`: plain text.
fn parse_title(s: &str) -> Result<String, String> {
    ddgz_maas::naming::check_text("--title", s).map(|()| s.to_string())
}

/// `--base-image`: checked when parsed, by the same rule an upload applies
/// ([`ddgz_maas::naming::check_base_image`]), so that a printed maas line never carries
/// a base image the upload would refuse.
fn parse_base_image(s: &str) -> Result<String, String> {
    let b = s.trim();
    ddgz_maas::naming::check_base_image(b).map(|()| b.to_string())
}

fn parse_filetype(s: &str) -> Result<FileType, String> {
    s.parse()
}

/// `--chunk-size`: a size within [`MIN_CHUNK`]..=[`MAX_CHUNK`].
fn parse_chunk_size(s: &str) -> Result<u64, String> {
    crate::cli::parse_size_in(
        s,
        MIN_CHUNK..=MAX_CHUNK,
        &format!("the chunk size must be between {MIN_CHUNK} (4K) and {MAX_CHUNK} (1G)"),
    )
}

pub fn run(a: Args) -> anyhow::Result<()> {
    upload_file(
        &a.file,
        None,
        None,
        &a.resource,
        a.quiet,
        &mut std::io::stdout(),
    )
}

/// Uploads `path` to MAAS as described by `r`: checks the arguments, the URL and the key,
/// takes the file type from the content, hashes the file unless `sha256` (and `size`) are
/// given by the caller that just wrote it, then creates the resource and sends the chunks.
///
/// Prints the result on `out` (stdout, or stderr where stdout carries JSON); progress (on a terminal, unless `quiet`) on stderr. Exit
/// codes: 2 for missing or bad arguments, 3 for an unreadable or unfit file, 4 when MAAS
/// did not take the upload.
pub fn upload_file(
    path: &Path,
    sha256: Option<&str>,
    size: Option<u64>,
    r: &ResourceArgs,
    quiet: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let (name, base_image, client) = checked(r)?;

    let file_name = path.display().to_string();
    // Checked before opening: opening a FIFO would wait for a writer.
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot open {file_name}"))
        .input()?;
    if !meta.is_file() {
        return Err(with_code(
            Code::Input,
            anyhow::anyhow!(
                "{file_name}: is not a regular file (a pipe, FIFO, device or directory): upload \
                 needs one, as it announces the size first and reads the file twice (sha256, \
                 then the chunks)"
            ),
        ));
    }
    let mut file = File::open(path)
        .with_context(|| format!("cannot open {file_name}"))
        .input()?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read the size of {file_name}"))
        .input()?
        .len();
    if let Some(s) = size.filter(|&s| s != len) {
        return Err(with_code(
            Code::Input,
            anyhow::anyhow!("{file_name} has {len} bytes, not the {s} expected: it changed"),
        ));
    }
    let content = ddgz_maas::filetype::sniff(&mut file)
        .with_context(|| format!("cannot read {file_name}"))
        .input()?;
    let filetype = ddgz_maas::filetype::resolve(&file_name, content, r.filetype).map_err(|m| {
        let code = if r.filetype.is_some() {
            Code::Usage
        } else {
            Code::Input
        };
        with_code(code, m)
    })?;
    let show = crate::cli::show_progress(quiet);

    let sha256 = match sha256 {
        Some(s) => s.to_ascii_lowercase(),
        None => hash_file(path, len, show)
            .with_context(|| format!("cannot read {file_name}"))
            .input()?,
    };
    let resource = NewResource {
        name: name.to_owned(),
        title: r.title.clone().filter(|t| !t.trim().is_empty()),
        base_image,
        architecture: r.architecture.clone(),
        filetype,
        sha256: sha256.clone(),
        size: len,
    };
    if !quiet {
        eprintln!(
            "uploading {file_name} ({filetype}, {}) to {} as {name} ({}), in chunks of {}",
            human(len),
            client.base_url(),
            resource.architecture,
            human(r.chunk_size),
        );
    }
    let mut file = File::open(path)
        .with_context(|| format!("cannot open {file_name}"))
        .input()?;
    let bar = crate::cli::progress_bar(len, "upload", show);
    // Checked between chunks: a chunk in flight is finished, so MAAS's count of bytes
    // stays known.
    let interrupted = crate::cli::interrupt_flag()?;
    let start = Instant::now();
    let chunk = usize::try_from(r.chunk_size).unwrap_or(usize::MAX);
    let result = client.upload(&resource, &mut file, chunk, &mut |sent| {
        bar.set_position(sent);
        if interrupted.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    bar.finish_and_clear();
    match result {
        Ok(Outcome::AlreadyComplete(c)) => {
            writeln!(
                out,
                "MAAS already has this content (sha256 {sha256}, {len} bytes): boot resource {} \
                 ({name}) uses it; nothing was uploaded",
                c.id
            )?;
            Ok(())
        }
        Ok(Outcome::Uploaded { created, chunks }) => {
            let secs = start.elapsed().as_secs_f64();
            writeln!(
                out,
                "uploaded {file_name} to MAAS as boot resource {} ({name}, {filetype}, {}): \
                 {chunks} chunk(s) in {secs:.1} s, {}/s",
                created.id,
                human(len),
                human((len as f64 / secs.max(1e-3)) as u64),
            )?;
            writeln!(out, "  sha256 {sha256}")?;
            Ok(())
        }
        Err(e) => Err(with_code(Code::Output, anyhow::anyhow!(explain(&e, len)))),
    }
}

/// The error, what to do next and, after a failure mid-way, how to remove the
/// incomplete resource (MAAS cannot resume it).
fn explain(e: &UploadError, len: u64) -> String {
    let mut s = e.to_string();
    if let Some(a) = e.error.advice() {
        s.push_str(&format!("\n  next: {a}"));
    }
    if let Some(id) = e.resource_id {
        s.push_str(&format!(
            "\n  MAAS keeps boot resource {id} incomplete ({} of {} received) and cannot resume \
             it; remove it before trying again:\n    maas $PROFILE boot-resource delete {id}",
            human(e.sent),
            human(len),
        ));
    }
    s
}

/// sha256 of the file, as 64 lowercase hex digits, with a progress bar when `show`.
fn hash_file(path: &Path, len: u64, show: bool) -> std::io::Result<String> {
    let bar = crate::cli::progress_bar(len, "sha256", show);
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(crate::cli::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn sizes() {
        assert_eq!(parse_chunk_size("4M"), Ok(4 << 20));
        assert_eq!(parse_chunk_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_chunk_size("512k"), Ok(512 << 10));
        assert_eq!(parse_chunk_size("1G"), Ok(1 << 30));
        assert_eq!(parse_chunk_size("65536"), Ok(65536));
        assert!(parse_chunk_size("2G").is_err());
        assert!(parse_chunk_size("100").is_err());
        assert!(parse_chunk_size("4X").is_err());
        assert!(parse_chunk_size("").is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Sub,
    }
    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        Upload(Args),
        /// Stands in for `convert`, whose own hidden --chunk-size must not collide.
        Convert {
            #[arg(long)]
            chunk_size: Option<usize>,
            #[command(flatten)]
            resource: ResourceArgs,
            #[arg(short, long)]
            quiet: bool,
        },
    }

    #[test]
    fn upload_takes_chunk_size_and_convert_upload_chunk_size() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let c = Cli::parse_from([
            "ddgz",
            "upload",
            "f.dd.gz",
            "--name",
            "esxi/8",
            "--chunk-size",
            "1M",
        ]);
        let Sub::Upload(a) = c.cmd else { panic!() };
        assert_eq!(a.resource.chunk_size, 1 << 20);
        assert_eq!(a.resource.architecture, "amd64/generic");
        assert_eq!(a.resource.filetype, None);
        let c = Cli::parse_from([
            "ddgz",
            "convert",
            "--chunk-size",
            "5",
            "--upload-chunk-size",
            "8M",
            "--filetype",
            "ddgz",
        ]);
        let Sub::Convert {
            chunk_size,
            resource,
            ..
        } = c.cmd
        else {
            panic!()
        };
        assert_eq!((chunk_size, resource.chunk_size), (Some(5), 8 << 20));
        assert_eq!(resource.filetype, Some(FileType::Ddgz));
    }
}
