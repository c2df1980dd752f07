//! The conversion itself: open → (output checked and created) → add files → validate →
//! compress → commit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use ddgz_deflate::Codec;
use ddgz_fat::AddSpec;
use ddgz_image::{Disk, FileId, Format, Image, OpenOptions, Overlay};

use crate::{Error, ErrorKind, OutputFile, Progress, Result, Summary};
use ddgz_output::Sink;

/// How to convert. `Options::default()`: detect the format, validate, level 6, one thread
/// per core, 1 MiB chunks, each chunk checked by decoding it again.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Write zeros for every block the disk's clean filesystems mark free
    /// ([`crate::zero_free`]), computed after `add`.
    pub zero_free: bool,
    /// With `add`: on a Windows image (partition 1 not NTFS, one NTFS partition holding
    /// `Windows/System32`), files for partition 1 go to the Windows partition instead —
    /// what `--add curtin` means there. Off when partition 1 was named explicitly.
    pub add_to_windows: bool,
    /// Validate the layout first, and refuse ([`ErrorKind::Invalid`]) on an error.
    pub validate: bool,
    /// Finding codes to accept (errors with these codes are downgraded).
    pub allow: Vec<String>,
    /// The output codec: gzip (MAAS `ddgz`) or xz (`ddxz`).
    pub codec: Codec,
    /// Write the raw disk instead, with holes where it is zero (a file only; `codec`,
    /// `level`, `threads` and `verify` do not apply).
    pub raw: bool,
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
            zero_free: false,
            add_to_windows: true,
            validate: true,
            allow: Vec::new(),
            codec: d.codec,
            raw: false,
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
    zero_free: Option<crate::ZeroFree>,
    sink: Sink<'w>,
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
/// gzip, `disk.qcow2`, …; `raw`: other than `.raw` / `.img`): writing gzip under that name
/// would mislead MAAS and people alike.
fn foreign_extension(out: &Path, codec: Codec, raw: bool) -> Option<String> {
    const OTHERS: [&str; 22] = [
        "gz", "xz", "bz2", "zst", "zstd", "lz4", "lzma", "lz", "zip", "tar", "tgz", "txz", "tbz",
        "tbz2", "raw", "img", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso",
    ];
    let ext = out.extension()?.to_string_lossy().to_ascii_lowercase();
    let own: &[&str] = match codec {
        _ if raw => &["raw", "img"],
        Codec::Gzip => &["gz"],
        Codec::Xz => &["xz"],
    };
    (!own.contains(&ext.as_str()) && OTHERS.contains(&ext.as_str())).then(|| format!(".{ext}"))
}

/// What `codec` writes, for messages: the stream and its MAAS filetype.
fn codec_words(codec: Codec) -> (&'static str, &'static str, &'static str) {
    match codec {
        Codec::Gzip => ("a gzip stream", "ddgz", ".dd.gz"),
        Codec::Xz => ("an xz stream", "ddxz", ".dd.xz"),
    }
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
        let mut open = OpenOptions::default();
        open.format = opts.format;
        open.force_corrupt = opts.force_corrupt;
        open.allow_outside_files = opts.allow_outside_files;
        let image = Image::open(input, &open).map_err(|e| Error::wrap(ErrorKind::Input, e))?;
        let format = image.format();
        let named_files = image.named_files().to_vec();
        let allocated = image
            .allocated_bytes()
            .map_err(|e| Error::wrap(ErrorKind::Input, e))?;
        let sink = match output {
            Output::Writer(_) if opts.raw => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    "the raw disk is written to a file (with holes), not to a stream",
                ))
            }
            Output::Writer(w) => Sink::Writer(w),
            Output::File { path, force } => {
                // Never a file this run reads: the image (whatever its reader lists, the
                // file at `input` too), its backing chain and data file, the files to add.
                let mut reads = image.files_read();
                reads.extend(add_sources(&opts.add)?);
                let file = OutputFile::create(&path, force, &reads)?;
                if let Some(ext) = foreign_extension(&path, opts.codec, opts.raw) {
                    if opts.raw {
                        return Err(Error::new(
                            ErrorKind::Usage,
                            format!(
                                "-o {}: ddgz writes the raw disk here, and {ext} names another \
                                 format; name it .raw or .img",
                                path.display()
                            ),
                        ));
                    }
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
            crate::add::plan(&image, &opts.add, opts.replace, opts.add_to_windows)
                .map_err(|e| e.context("--add"))?
        };
        // The work: data bytes, and what the added files write.
        let work = allocated + patches.iter().map(|p| p.data.len() as u64).sum::<u64>();
        let disk: Box<dyn Disk> = if patches.is_empty() {
            Box::new(image)
        } else {
            Box::new(Overlay::new(image, patches).map_err(|e| Error::wrap(ErrorKind::Input, e))?)
        };
        let (disk, zero_free) = if opts.zero_free {
            let (disk, z) = crate::zero_free(disk)?;
            (disk, Some(z))
        } else {
            (disk, None)
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
            zero_free,
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
        let threads = ddgz_deflate::threads(self.opts.threads);
        if self.opts.raw {
            return self.run_raw(progress, threads);
        }
        let mut dopts = ddgz_deflate::Options::default();
        dopts.codec = self.opts.codec;
        dopts.level = self.opts.level;
        dopts.threads = threads;
        dopts.chunk_size = self.opts.chunk_size;
        dopts.verify = self.opts.verify;
        dopts.cancel = self.opts.cancel.clone();
        let context = self
            .sink
            .path()
            .map(|out| format!("converting {} to {}", self.input.display(), out.display()));
        let disk = &*self.disk;
        let written = self.sink.write(|w| {
            ddgz_deflate::compress(disk, w, &dopts, progress).map_err(|e| match &context {
                Some(c) => Error::from(e).context(c.as_str()),
                None => stream_cut(e.into(), dopts.codec),
            })
        })?;
        let (summary, sha256, output) = (written.value, written.sha256, written.path);
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
            zero_free: self.zero_free,
        })
    }
}

impl Converter<'_> {
    /// [`Converter::run`] for the raw output: the disk with holes, no compression.
    fn run_raw(self, progress: &mut dyn FnMut(Progress), threads: usize) -> Result<Summary> {
        let Sink::File(file) = self.sink else {
            return Err(Error::new(
                ErrorKind::Usage,
                "the raw disk is written to a file",
            ));
        };
        let w = crate::raw::write(
            &*self.disk,
            file.file(),
            self.opts.cancel.as_deref(),
            progress,
        )
        .map_err(|e| {
            e.context(format!(
                "converting {} to {}",
                self.input.display(),
                file.path().display()
            ))
        })?;
        let path = file.path().to_path_buf();
        file.commit()?;
        let seconds = self.started.elapsed().as_secs_f64();
        Ok(Summary {
            input: self.input,
            format: self.format.name(),
            named_files: self.named_files,
            output: Some(path),
            virtual_size: w.size,
            allocated_bytes: self.allocated,
            output_bytes: w.data,
            ratio: if w.size == 0 {
                0.0
            } else {
                w.data as f64 / w.size as f64
            },
            seconds,
            throughput_bytes_per_second: w.size as f64 / seconds.max(1e-9),
            sha256: String::new(),
            crc32: String::new(),
            zero_chunks: 0,
            data_chunks: 0,
            threads: threads.min(1),
            level: 0,
            compression: "none",
            findings: self.layout.map(|r| r.findings),
            zero_free: self.zero_free,
        })
    }
}

/// A writer's output cannot be taken back: a cancel says what the reader got.
fn stream_cut(e: Error, codec: Codec) -> Error {
    if e.kind() != ErrorKind::Cancelled {
        return e;
    }
    let what = codec.cut_short();
    Error::new(
        ErrorKind::Cancelled,
        format!("interrupted; {what}: discard it"),
    )
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
