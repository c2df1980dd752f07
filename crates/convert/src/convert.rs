//! The conversion itself: open → (output checked and created) → add files → validate →
//! compress → commit.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use ddgz_deflate::Codec;
use ddgz_fat::AddSpec;
use ddgz_image::{Disk, FileId, Format, Image, OpenOptions, Overlay};
use sha2::{Digest, Sha256};

use crate::{Error, ErrorKind, OutputFile, Progress, Result, Summary};
use ddgz_output::DirectWriter;

/// How to convert. `Options::default()`: detect the format, validate, level 6, one thread
/// per core, 1 MiB chunks, each chunk checked by decoding it again.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read the input as this format instead of detecting it.
    pub format: Option<Format>,
    /// Read a qcow2 whose corrupt bit is set.
    pub force_corrupt: bool,
    /// Let the image name files outside its own directory (`--allow-outside-files`,
    /// [`ddgz_image::OpenOptions::allow_outside_files`]).
    pub allow_outside_files: bool,
    /// Files and trees to copy into FAT partitions, in memory (the input never changes).
    pub add: Vec<AddSpec>,
    /// With `add`: overwrite files that exist (otherwise that is an error).
    pub replace: bool,
    /// Validate the layout first, and refuse ([`ErrorKind::Invalid`]) on an error.
    pub validate: bool,
    /// Finding codes to accept (errors with these codes are downgraded).
    pub allow: Vec<String>,
    /// The output codec: gzip (MAAS `ddgz`) or xz (`ddxz`).
    pub codec: Codec,
    /// Deflate level, 0 (store) to 9, or the xz preset (0 to 9) for [`Codec::Xz`].
    pub level: u32,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
    /// Guest bytes per chunk.
    pub chunk_size: usize,
    /// Decode each compressed chunk again and compare it with its source.
    pub verify: bool,
    /// Set from elsewhere (a signal handler) to stop: the output is removed.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        let d = ddgz_deflate::Options::default();
        Self {
            format: None,
            force_corrupt: false,
            allow_outside_files: false,
            add: Vec::new(),
            replace: false,
            validate: true,
            allow: Vec::new(),
            codec: d.codec,
            level: d.level,
            threads: 0,
            chunk_size: d.chunk_size,
            verify: d.verify,
            cancel: None,
        }
    }
}

/// Where the ddgz goes.
pub enum Output<'w> {
    /// A file, written atomically ([`OutputFile`]); an existing regular file is replaced
    /// only with `force`.
    File {
        /// The output path.
        path: PathBuf,
        /// Replace an existing regular file.
        force: bool,
    },
    /// Any writer (a pipe, a socket, memory): written as it is made, no rename. `Send`:
    /// the output is written on a thread of its own (`ddgz_deflate::compress`).
    Writer(Box<dyn Write + Send + 'w>),
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::File { path, force } => f
                .debug_struct("File")
                .field("path", path)
                .field("force", force)
                .finish(),
            Output::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// A conversion opened, checked and validated, ready to [`run`](Converter::run): the
/// layout report is there to look at first (e.g. to name the image after its release).
pub struct Converter<'w> {
    input: PathBuf,
    opts: Options,
    started: Instant,
    format: Format,
    allocated: u64,
    named_files: Vec<std::path::PathBuf>,
    work: u64,
    disk: Box<dyn Disk>,
    layout: Option<ddgz_layout::Report>,
    sink: Sink<'w>,
}

enum Sink<'w> {
    File(OutputFile),
    Writer(Box<dyn Write + Send + 'w>),
}

impl std::fmt::Debug for Converter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("input", &self.input)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The extension of `out` when it names a format other than `codec`'s (`NAME.dd.xz` for
/// gzip, `disk.qcow2`, …): writing gzip under that name would mislead MAAS and people
/// alike.
fn foreign_extension(out: &Path, codec: Codec) -> Option<String> {
    const OTHERS: [&str; 22] = [
        "gz", "xz", "bz2", "zst", "zstd", "lz4", "lzma", "lz", "zip", "tar", "tgz", "txz", "tbz",
        "tbz2", "raw", "img", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso",
    ];
    let ext = out.extension()?.to_string_lossy().to_ascii_lowercase();
    let own = match codec {
        Codec::Gzip => "gz",
        Codec::Xz => "xz",
    };
    (ext != own && OTHERS.contains(&ext.as_str())).then(|| format!(".{ext}"))
}

/// What `codec` writes, for messages: the stream and its MAAS filetype.
fn codec_words(codec: Codec) -> (&'static str, &'static str, &'static str) {
    match codec {
        Codec::Gzip => ("a gzip stream", "ddgz", ".dd.gz"),
        Codec::Xz => ("an xz stream", "ddxz", ".dd.xz"),
    }
}

/// Refuses a raw input that is a finished `.dd.gz` / `.dd.xz` (by its magic number):
/// compressing it again would make a ddgz of compressed bytes, not of a disk.
fn refuse_packed(image: &Image, path: &Path) -> Result<()> {
    let mut head = [0u8; 6];
    let n = image.size().min(6) as usize;
    image
        .read_at(0, &mut head[..n])
        .map_err(|e| Error::wrap(ErrorKind::Input, e))?;
    if let Some(c) = ddgz_packed::detect(&head[..n]) {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
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

/// The files the run reads besides the image: the sources of the files to add.
fn add_sources(specs: &[AddSpec]) -> Result<Vec<FileId>> {
    ddgz_fat::source_files(specs)?
        .iter()
        .map(|f| {
            std::fs::metadata(f).map(|m| FileId::of(&m)).map_err(|e| {
                Error::wrap(ErrorKind::Input, e)
                    .context(format!("{}: cannot examine it", f.display()))
            })
        })
        .collect()
}

impl<'w> Converter<'w> {
    /// Opens `input`, checks and creates `output`'s temporary (a file), copies the files to
    /// add into the disk in memory and validates it. Nothing is compressed yet; on any
    /// error nothing is left behind.
    pub fn new(input: &Path, output: Output<'w>, opts: Options) -> Result<Self> {
        let started = Instant::now();
        let open = OpenOptions {
            format: opts.format,
            force_corrupt: opts.force_corrupt,
            allow_outside_files: opts.allow_outside_files,
        };
        let image = Image::open(input, &open).map_err(|e| Error::wrap(ErrorKind::Input, e))?;
        if opts.format.is_none() && image.format() == Format::Raw {
            refuse_packed(&image, input)?;
        }
        let format = image.format();
        let named_files = image.named_files().to_vec();
        let allocated = image
            .allocated_bytes()
            .map_err(|e| Error::wrap(ErrorKind::Input, e))?;
        let sink = match output {
            Output::Writer(w) => Sink::Writer(w),
            Output::File { path, force } => {
                // Never a file this run reads: the image (whatever its reader lists, the
                // file at `input` too), its backing chain and data file, the files to add.
                let mut reads = image.files();
                if let Ok(m) = std::fs::metadata(input) {
                    reads.push(FileId::of(&m));
                }
                reads.extend(add_sources(&opts.add)?);
                let file = OutputFile::create(&path, force, &reads)?;
                if let Some(ext) = foreign_extension(&path, opts.codec) {
                    let (stream, filetype, name) = codec_words(opts.codec);
                    return Err(Error::new(
                        ErrorKind::Usage,
                        format!(
                            "-o {}: ddgz writes {stream} (MAAS filetype {filetype}) here, and \
                             {ext} names another format; name it {name}",
                            path.display()
                        ),
                    ));
                }
                Sink::File(file)
            }
        };
        if opts.add.is_empty() && opts.replace {
            return Err(Error::new(ErrorKind::Usage, "--replace needs --add"));
        }
        let patches = if opts.add.is_empty() {
            Vec::new()
        } else {
            ddgz_fat::plan(&image, &opts.add, opts.replace, |n| {
                ddgz_layout::partition_range(&image, n)
            })
            .map_err(|e| Error::from(e).context("--add"))?
        };
        // The work: data bytes, and what the added files write.
        let work = allocated + patches.iter().map(|p| p.data.len() as u64).sum::<u64>();
        let disk: Box<dyn Disk> = if patches.is_empty() {
            Box::new(image)
        } else {
            Box::new(Overlay::new(image, patches).map_err(|e| Error::wrap(ErrorKind::Input, e))?)
        };
        let layout = ddgz_layout::inspect(&*disk).map_err(|e| {
            Error::wrap(ErrorKind::Input, e).context(format!(
                "{}: validating the partition table",
                input.display()
            ))
        });
        let layout = if opts.validate {
            let mut r = layout?;
            r.findings.allow(&opts.allow);
            // Errors of an advisory readiness (a Linux dd image's) are printed, not a stop.
            let errors = r.findings.blocking_errors();
            if errors > 0 {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    format!(
                        "{}: validation found {errors} error(s); nothing was written",
                        input.display()
                    ),
                )
                .with_findings(r.findings));
            }
            Some(r)
        } else {
            layout.ok()
        };
        Ok(Self {
            input: input.into(),
            opts,
            started,
            format,
            allocated,
            named_files,
            work,
            disk,
            layout,
            sink,
        })
    }

    /// What the layout inspection found (`None` only without validation, when the layout
    /// could not be read).
    pub fn layout(&self) -> Option<&ddgz_layout::Report> {
        self.layout.as_ref()
    }

    /// The bytes of work ahead: the data bytes of the disk (zero extents cost nothing)
    /// plus what the added files write. [`Progress::data_bytes`] counts up to it.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Compresses, writes and (for a file) commits; `progress` is told how far it got.
    pub fn run(self, progress: &mut dyn FnMut(Progress)) -> Result<Summary> {
        let threads = match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let dopts = ddgz_deflate::Options {
            codec: self.opts.codec,
            level: self.opts.level,
            threads,
            chunk_size: self.opts.chunk_size,
            verify: self.opts.verify,
            cancel: self.opts.cancel.clone(),
        };
        let (output, (summary, sha256)) = match self.sink {
            Sink::Writer(w) => {
                let w = BufWriter::with_capacity(1 << 20, w);
                let r = compress(&*self.disk, w, &dopts, progress)
                    .map_err(|e| stream_cut(e, dopts.codec))?;
                (None, r)
            }
            Sink::File(file) => {
                let w = DirectWriter::new(file.file()).map_err(|e| {
                    Error::wrap(ErrorKind::Output, e).context("starting the output writer")
                })?;
                let r = compress(&*self.disk, w, &dopts, progress).map_err(|e| {
                    e.context(format!(
                        "converting {} to {}",
                        self.input.display(),
                        file.path().display()
                    ))
                })?;
                let path = file.path().to_path_buf();
                file.commit()?;
                (Some(path), r)
            }
        };
        let seconds = self.started.elapsed().as_secs_f64();
        let virtual_size = summary.input_bytes;
        Ok(Summary {
            input: self.input,
            format: self.format.name(),
            named_files: self.named_files,
            output,
            virtual_size,
            allocated_bytes: self.allocated,
            output_bytes: summary.output_bytes,
            ratio: if virtual_size == 0 {
                0.0
            } else {
                summary.output_bytes as f64 / virtual_size as f64
            },
            seconds,
            throughput_bytes_per_second: virtual_size as f64 / seconds.max(1e-9),
            sha256,
            crc32: format!("{:08x}", summary.crc32),
            zero_chunks: summary.zero_chunks,
            data_chunks: summary.data_chunks,
            threads,
            level: self.opts.level,
            compression: match self.opts.codec {
                Codec::Gzip => "gzip",
                Codec::Xz => "xz",
            },
            findings: self.layout.map(|r| r.findings),
        })
    }
}

/// A writer's output cannot be taken back: a cancel says what the reader got.
fn stream_cut(e: Error, codec: Codec) -> Error {
    if e.kind() != ErrorKind::Cancelled {
        return e;
    }
    let what = match codec {
        Codec::Gzip => "the gzip stream written so far is cut short (no trailer)",
        Codec::Xz => "the xz stream written so far is cut short (no index)",
    };
    Error::new(
        ErrorKind::Cancelled,
        format!("interrupted; {what}: discard it"),
    )
}

/// A writer that hashes what passes through (the sha256 MAAS asks for).
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

/// Compresses `disk` into `out` (a buffered writer), hashing; returns the summary and the
/// sha256 (hex).
fn compress(
    disk: &dyn Disk,
    out: impl Write + Send,
    opts: &ddgz_deflate::Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<(ddgz_deflate::Summary, String)> {
    let mut w = Hashing {
        inner: out,
        sha: Sha256::new(),
    };
    let s = ddgz_deflate::compress(disk, &mut w, opts, progress)?;
    w.inner
        .flush()
        .map_err(|e| Error::wrap(ErrorKind::Output, e).context("writing the output"))?;
    Ok((s, hex::encode(w.sha.finalize())))
}

/// Converts `input` into the ddgz file `output` (replacing an existing regular file only
/// with `force`): [`Converter::new`] then [`Converter::run`], without progress.
pub fn convert(input: &Path, output: &Path, force: bool, opts: Options) -> Result<Summary> {
    let out = Output::File {
        path: output.into(),
        force,
    };
    Converter::new(input, out, opts)?.run(&mut |_| {})
}
