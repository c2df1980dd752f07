//! The run itself: open → root → edits → stream → commit.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use ddgz_fs::{FileType, Tree};
use ddgz_image::{Disk, Image, OpenOptions};
use ddgz_output::{OutputFile, Sink};

use crate::root::{self, Place};
use crate::volume::{with_tree, VolFs};
use crate::{Error, ErrorKind, Result};

/// How to write the tarball. `Options::default()` does what `fuse-tar-root` does, at
/// `gzip --best`, one thread per core, each chunk checked by decoding it again.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The root partition's number (0: a disk without a partition table); `None`: the
    /// one ext or XFS filesystem holding /etc/os-release.
    pub partition: Option<u32>,
    /// The root's LVM logical volume, `VG/LV` (instead of `partition`).
    pub root_lv: Option<String>,
    /// Host files and trees to put in the root.
    pub add: Vec<Add>,
    /// Keep /etc/machine-id as it is (`fuse-tar-root` empties it).
    pub keep_machine_id: bool,
    /// Keep cloud-init's state (`fuse-tar-root` leaves it out).
    pub keep_cloud_init: bool,
    /// Leave out the content of a bls_boot (XBOOTLDR) partition.
    pub no_bls_boot: bool,
    /// Keep backup files, which GNU tar's `--exclude-backups` drops.
    pub keep_backups: bool,
    /// Store files with holes in full instead of as GNU sparse members.
    pub no_sparse: bool,
    /// Deflate level, 1 to 9, or the xz preset for [`ddgz_deflate::Codec::Xz`].
    pub level: u32,
    /// The output's codec: gzip (MAAS `tgz`) or xz (`txz`, blocks of
    /// [`ddgz_deflate::XZ_CHUNK_SIZE`]).
    pub codec: ddgz_deflate::Codec,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
    /// Decode each compressed chunk again and compare it with its source.
    pub verify: bool,
    /// Set from elsewhere (a signal handler) to stop: the output is removed.
    pub cancel: Option<Arc<AtomicBool>>,
    /// How the image is opened (as `convert` and `inspect` open it): its format, whether
    /// it may name files outside its own directory.
    pub open: OpenOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            partition: None,
            root_lv: None,
            add: Vec::new(),
            keep_machine_id: false,
            keep_cloud_init: false,
            no_bls_boot: false,
            keep_backups: false,
            no_sparse: false,
            level: 9,
            codec: ddgz_deflate::Codec::Gzip,
            threads: 0,
            verify: true,
            cancel: None,
            open: OpenOptions::default(),
        }
    }
}

/// A host file or tree to put in the root, as `--add SRC[:DEST]` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// The host path.
    pub src: PathBuf,
    /// The member name, such as `./curtin`.
    pub dest: Vec<u8>,
}

impl Add {
    /// `SRC[:DEST]`: DEST defaults to `/NAME`; a DEST ending in `/` is a directory to put
    /// SRC in; DEST must stay inside the root.
    pub fn parse(spec: &str) -> Result<Self> {
        let (src, dest) = match spec.rsplit_once(':') {
            Some((s, d)) if !s.is_empty() => (s, Some(d)),
            _ => (spec, None),
        };
        let src = PathBuf::from(src);
        let base = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Usage,
                    format!("--add {spec}: SRC has no file name"),
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
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "--add {spec}: DEST {dest:?} must name a path inside the root, without `..`"
                ),
            ));
        }
        Ok(Self {
            src,
            dest: format!("./{}", comps.join("/")).into_bytes(),
        })
    }
}

/// Where the tarball goes.
pub enum Output<'w> {
    /// A file, written atomically; an existing regular file is replaced only with `force`.
    File {
        /// The output path.
        path: PathBuf,
        /// Replace an existing regular file.
        force: bool,
    },
    /// Any writer: written as it is made, no rename.
    Writer(Box<dyn Write + Send + 'w>),
}

/// What a run wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Summary {
    /// The image read.
    pub input: PathBuf,
    /// The file written (`None` for a writer).
    pub output: Option<PathBuf>,
    /// The root partition's number (0 when the root is a logical volume).
    pub partition: u32,
    /// The root's logical volume, `VG/LV`, when it is on LVM.
    pub root_lv: Option<String>,
    /// Journal transactions replayed in memory.
    pub replayed_transactions: u64,
    /// What the walk of the root wrote and left out.
    pub root: ddgz_tar::Report,
    /// The bls_boot partition's number and walk, if one was added under `boot/`.
    pub boot: Option<(u32, ddgz_tar::Report)>,
    /// Members added from the host (with the parent directories made for them).
    pub added: u64,
    /// Bytes of tar.
    pub tar_bytes: u64,
    /// Bytes of gzip written.
    pub output_bytes: u64,
    /// sha256 of the output (hex), as MAAS asks for it.
    pub sha256: String,
    /// Deflate level.
    pub level: u32,
    /// Compression threads used.
    pub threads: usize,
    /// Wall time from opening to the end.
    pub seconds: f64,
}

/// A run opened: the output checked and created, the root found, ready to
/// [`run`](Archiver::run) (the image's os-release is there to look at first, to name it).
pub struct Archiver<'w> {
    input: PathBuf,
    opts: Options,
    started: Instant,
    /// Taken by [`Archiver::run`].
    sink: Option<Sink<'w>>,
    root: Place,
    fs: VolFs,
    bls: Option<(u32, VolFs)>,
    os_release: String,
}

impl std::fmt::Debug for Archiver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("input", &self.input)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl<'w> Archiver<'w> {
    /// Opens `input`, checks and creates `output`'s temporary (a file), finds the root
    /// (and a bls_boot partition). Nothing is written yet; on error nothing is left.
    pub fn new(input: &Path, output: Output<'w>, opts: Options) -> Result<Self> {
        let started = Instant::now();
        for a in &opts.add {
            std::fs::symlink_metadata(&a.src).map_err(|e| {
                Error::wrap(ErrorKind::Usage, e).context(format!("--add {}", a.src.display()))
            })?;
        }
        let image = Image::open(input, &opts.open).map_err(|e| Error::wrap(ErrorKind::Input, e))?;
        let sink = match output {
            Output::Writer(w) => Sink::Writer(w),
            Output::File { path, force } => {
                // Never a file this run reads: the image, its backing chain, the files
                // to add.
                let mut reads = image.files_read();
                for a in &opts.add {
                    reads.extend(ddgz_output::files_under(&a.src).map_err(|e| {
                        Error::wrap(ErrorKind::Input, e)
                            .context(format!("--add {}", a.src.display()))
                    })?);
                }
                Sink::File(OutputFile::create(&path, force, &reads)?)
            }
        };
        let disk: Arc<dyn Disk> = Arc::new(image);
        let parts = root::partitions(&*disk);
        let (root, fs) = root::find_root(
            &disk,
            &parts,
            opts.partition,
            opts.root_lv.as_deref(),
            input,
        )?;
        let bls = match parts
            .iter()
            .find(|p| p.bls_boot && Place::Partition(p.number) != root)
        {
            Some(p) if !opts.no_bls_boot => {
                let fs = root::open(&disk, &p.range).map_err(|e| {
                    Error::wrap(ErrorKind::Input, e.into_error()).context(format!(
                        "{}: bls_boot partition {} (ext2/3/4 and XFS are read; --no-bls-boot \
                         leaves it out)",
                        input.display(),
                        p.number
                    ))
                })?;
                Some((p.number, fs))
            }
            _ => None,
        };
        let os_release = root::os_release(&fs);
        Ok(Self {
            input: input.into(),
            opts,
            started,
            sink: Some(sink),
            root,
            fs,
            bls,
            os_release,
        })
    }

    /// The root partition's number (0: the whole disk, or a logical volume).
    pub fn root_partition(&self) -> u32 {
        match self.root {
            Place::Partition(n) => n,
            Place::Lv(_) => 0,
        }
    }

    /// The root's logical volume, `VG/LV`, when it is on LVM.
    pub fn root_lv(&self) -> Option<&str> {
        match &self.root {
            Place::Lv(name) => Some(name),
            Place::Partition(_) => None,
        }
    }

    /// The text of the root's `/etc/os-release` (empty if it has none), to name the image
    /// (`ddgz_maas::os_release`).
    pub fn os_release(&self) -> &str {
        &self.os_release
    }

    /// Writes the tarball and (for a file) commits it; `progress` is told the bytes of tar
    /// made so far.
    pub fn run(mut self, progress: &mut dyn FnMut(u64)) -> Result<Summary> {
        let threads = ddgz_deflate::threads(self.opts.threads);
        let xz = self.opts.codec == ddgz_deflate::Codec::Xz;
        let mut dopts = ddgz_deflate::Options::default();
        dopts.codec = self.opts.codec;
        dopts.level = self.opts.level;
        dopts.threads = threads;
        dopts.verify = self.opts.verify;
        dopts.cancel = self.opts.cancel.clone();
        if xz {
            dopts.chunk_size = ddgz_deflate::XZ_CHUNK_SIZE;
        }
        let Some(sink) = self.sink.take() else {
            return Err(Error::new(ErrorKind::Usage, "the archiver ran already"));
        };
        let to_writer = sink.path().is_none();
        let written = sink.write(|w| {
            stream(&self, w, &dopts, progress).map_err(|e| match e.kind() {
                // A writer's output cannot be taken back: say what the reader got.
                ErrorKind::Cancelled if to_writer => Error::new(
                    ErrorKind::Cancelled,
                    format!("interrupted; {}: discard it", dopts.codec.cut_short()),
                ),
                _ => e,
            })
        })?;
        let ((walks, summary), sha256, output) = (written.value, written.sha256, written.path);
        let (partition, root_lv) = (self.root_partition(), self.root_lv().map(str::to_string));
        Ok(Summary {
            input: self.input,
            output,
            partition,
            root_lv,
            replayed_transactions: self.fs.replayed_transactions(),
            root: walks.root,
            boot: self.bls.as_ref().map(|(n, _)| (*n, walks.boot)),
            added: walks.added,
            tar_bytes: summary.input_bytes,
            output_bytes: summary.output_bytes,
            sha256,
            level: self.opts.level,
            threads,
            seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// What the walks reported.
#[derive(Default)]
struct Walks {
    root: ddgz_tar::Report,
    boot: ddgz_tar::Report,
    added: u64,
}

/// The tar stream of `a` compressed into `out`.
fn stream(
    a: &Archiver<'_>,
    out: &mut (dyn Write + Send),
    dopts: &ddgz_deflate::Options,
    progress: &mut dyn FnMut(u64),
) -> Result<(Walks, ddgz_deflate::Summary)> {
    ddgz_deflate::compress_stream(out, dopts, progress, |gz| write_tar(a, gz)).map_err(
        |e| match e {
            ddgz_deflate::StreamError::Produce(e) => e,
            ddgz_deflate::StreamError::Compress(ddgz_deflate::Error::Cancelled) => {
                Error::new(ErrorKind::Cancelled, "interrupted; no output was kept")
            }
            ddgz_deflate::StreamError::Compress(e) => Error::wrap(ErrorKind::Output, e),
        },
    )
}

/// The tar stream: the root with its edits, the bls_boot partition under `boot/`, the
/// host files.
fn write_tar(a: &Archiver<'_>, out: &mut dyn Write) -> Result<Walks> {
    let o = &a.opts;
    let mut opts = ddgz_tar::Options::default();
    opts.exclude_backups = !o.keep_backups;
    opts.sparse = !o.no_sparse;
    if !o.keep_machine_id {
        opts.empty.push(b"./etc/machine-id".to_vec());
    }
    if !o.keep_cloud_init {
        for p in [
            "./var/lib/cloud/instance",
            "./var/lib/cloud/instances",
            "./var/log/cloud-init*.log",
        ] {
            opts.exclude.push(p.as_bytes().to_vec());
        }
    }
    for add in &o.add {
        added_names(&add.src, &add.dest, &mut opts.replaced);
    }
    let names = with_tree!(&a.fs, t => ddgz_tar::Names::from_fs(t));
    let mut walks = Walks::default();
    let mut tar = ddgz_tar::Writer::new(out);
    let input = a.input.display();
    with_tree!(&a.fs, t => ddgz_tar::write_fs(
        t,
        t.root(),
        b"./",
        &mut tar,
        &opts,
        &names,
        &mut walks.root,
    ))
    .map_err(|e| Error::from(e).context(format!("{input}: {}", a.root)))?;
    if let Some((n, bfs)) = &a.bls {
        let mut bopts = opts.clone();
        bopts.empty = Vec::new();
        bopts.exclude = Vec::new();
        with_tree!(bfs, t => ddgz_tar::write_fs(
            t,
            t.root(),
            b"./boot/",
            &mut tar,
            &bopts,
            &names,
            &mut walks.boot,
        ))
        .map_err(|e| Error::from(e).context(format!("{input}: bls_boot partition {n}")))?;
    }
    let write_err = |e| Error::from(ddgz_tar::Error::Write(e));
    for add in &o.add {
        // Parents the image lacks, as root-owned directories.
        let mut parent = b".".to_vec();
        let comps: Vec<&[u8]> = add.dest[2..].split(|&c| c == b'/').collect();
        for c in &comps[..comps.len() - 1] {
            parent.push(b'/');
            parent.extend_from_slice(c);
            let p = [&parent[..], b"/"].concat();
            if !image_has_dir(&a.fs, &p) {
                use std::os::unix::fs::MetadataExt;
                let t = std::fs::metadata(&add.src)
                    .map(|m| ddgz_fs::Time {
                        sec: m.mtime(),
                        nsec: 0,
                    })
                    .unwrap_or_default();
                tar.begin(&ddgz_tar::host::directory(p, t))
                    .map_err(write_err)?;
                tar.end().map_err(write_err)?;
                walks.added += 1;
            }
        }
        walks.added += ddgz_tar::host::add(&mut tar, &add.src, &add.dest, &mut |p| {
            image_has_dir(&a.fs, p)
        })?;
    }
    tar.finish().map_err(write_err)?;
    Ok(walks)
}

/// Member names of the non-directories under host path `src` added as `dest`: the
/// image's members of these names are left out.
fn added_names(src: &Path, dest: &[u8], out: &mut HashSet<Vec<u8>>) {
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
fn image_has_dir(fs: &VolFs, path: &[u8]) -> bool {
    let p = path.strip_prefix(b".").unwrap_or(path);
    with_tree!(fs, t => matches!(
        t.lookup(p, false),
        Ok(Some(i)) if t.stat(&i).kind == Some(FileType::Directory)
    ))
}

/// Writes the root tarball of `input` into the file `output` (replacing an existing
/// regular file only with `force`): [`Archiver::new`] then [`Archiver::run`].
pub fn archive(input: &Path, output: &Path, force: bool, opts: Options) -> Result<Summary> {
    let out = Output::File {
        path: output.into(),
        force,
    };
    Archiver::new(input, out, opts)?.run(&mut |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_specs() {
        let dest = |s: &str| Add::parse(s).map(|a| a.dest);
        assert_eq!(dest("curtin").unwrap(), b"./curtin");
        assert_eq!(dest("a/hooks:/opt/x/").unwrap(), b"./opt/x/hooks");
        assert_eq!(dest("f:/etc/y").unwrap(), b"./etc/y");
        assert!(dest("f:/../etc").is_err());
        assert_eq!(dest("f:/").unwrap(), b"./f");
        assert!(dest("/:/x").is_err());
    }
}
