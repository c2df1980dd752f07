//! What every format reader shares beyond [`Disk`]: the facts it reports about its
//! container (for `inspect`), and the way it opens a backing (parent) file.
//!
//! A format reader never opens a backing file itself: the format registry hands it an
//! [`OpenBacking`], so a qcow2 can sit over a raw file, another qcow2 or any format the
//! registry knows, and every chain is bounded by one [`Chain`] (depth limit, loops).

use std::path::{Path, PathBuf};

use crate::{Disk, Error, InputFile, MemoryDisk, RawDisk, ReaderError, Result};

/// Default limit on the number of backing files behind an image (QEMU has none; 16 is far
/// beyond what installers produce and keeps a hostile chain cheap).
pub const DEFAULT_MAX_CHAIN_DEPTH: usize = 16;

/// What a container says about itself, in a shape every format fills the same way, so
/// that the CLI prints it without knowing the format.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts {
    /// Format name, as `--format` takes it: "raw", "qcow2", ….
    pub format: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Virtual disk size in bytes.
    pub virtual_size: u64,
    /// Version or variant of the format ("v3", "monolithicSparse", "dynamic"), if any.
    pub subformat: Option<String>,
    /// The unit space is allocated in, named as the format names it, and its size:
    /// ("cluster", 65536), ("grain", 65536), ("block", 2097152).
    pub allocation_unit: Option<(&'static str, u64)>,
    /// Further facts as (name, value), in the order to show them, e.g.
    /// ("compression", "zlib"), ("internal snapshots", "2"). Names are lower-case phrases.
    pub details: Vec<(&'static str, String)>,
    /// The backing (parent) file ranges not allocated here are read from, described the
    /// same way.
    pub backing: Option<Box<Facts>>,
}

impl Facts {
    /// The facts of a `format` file with nothing more to say.
    pub fn new(format: &'static str, path: impl Into<PathBuf>, virtual_size: u64) -> Self {
        Self {
            format,
            path: path.into(),
            virtual_size,
            subformat: None,
            allocation_unit: None,
            details: Vec::new(),
            backing: None,
        }
    }

    /// The backing chain below this file, nearest first.
    pub fn chain(&self) -> impl Iterator<Item = &Facts> {
        std::iter::successors(self.backing.as_deref(), |f| f.backing.as_deref())
    }
}

/// A [`Disk`] read from a container file, which can describe itself.
pub trait Container: Disk {
    /// What the container says about itself.
    fn facts(&self) -> Facts;
}

impl<C: Container + ?Sized> Container for Box<C> {
    fn facts(&self) -> Facts {
        (**self).facts()
    }
}

impl<C: Container + ?Sized> Container for &C {
    fn facts(&self) -> Facts {
        (**self).facts()
    }
}

impl<C: Container + ?Sized> Container for std::sync::Arc<C> {
    fn facts(&self) -> Facts {
        (**self).facts()
    }
}

impl Container for RawDisk {
    fn facts(&self) -> Facts {
        Facts::new("raw", self.path(), self.size())
    }
}

impl Container for MemoryDisk {
    fn facts(&self) -> Facts {
        Facts::new("memory", "(memory)", self.size())
    }
}

/// The files of one backing chain, top first: refuses a file already in it (a loop) and
/// a chain longer than its limit, whatever the formats involved.
#[derive(Debug, Clone)]
pub struct Chain {
    files: Vec<(u64, u64)>,
    max_depth: usize,
    allow_outside: bool,
    named: Vec<PathBuf>,
    /// The directory of the top image: the one named files must stay in.
    root: Option<PathBuf>,
}

impl Chain {
    /// An empty chain accepting at most `max_depth` backing files behind the top image.
    pub fn new(max_depth: usize) -> Self {
        Self {
            files: Vec::new(),
            max_depth,
            allow_outside: false,
            named: Vec::new(),
            root: None,
        }
    }

    /// Lets the images of this chain name files outside their own directory (absolute or
    /// `../` names): `--allow-outside-files`. Refused by default
    /// ([`crate::confine`]).
    pub fn allow_outside_files(mut self, allow: bool) -> Self {
        self.allow_outside = allow;
        self
    }

    /// Resolves `name`, stored in the file `image` in the role `what` ("backing file",
    /// "extent file", …), to a path ([`crate::resolve_name`]), refuses it when it leaves
    /// the directory of the chain's top image (`image`'s own before any file is entered)
    /// unless allowed, and records it as a file this chain's images
    /// pulled in ([`Chain::named_files`]).
    pub fn resolve(
        &mut self,
        image: &Path,
        name: &[u8],
        what: &str,
    ) -> std::result::Result<PathBuf, crate::NameError> {
        let p = crate::resolve_name(image, name, what)?;
        self.admit(image, name, &p, what)?;
        Ok(p)
    }

    /// As [`Chain::resolve`] for a path already made of `name` (a format with rules of its
    /// own, such as VHD's parent locators).
    pub fn admit(
        &mut self,
        image: &Path,
        name: &[u8],
        path: &Path,
        what: &str,
    ) -> std::result::Result<(), crate::NameError> {
        if !self.allow_outside {
            let dir = match &self.root {
                Some(r) => r.as_path(),
                None => image.parent().unwrap_or(Path::new("")),
            };
            crate::name::confine(dir, name, path, what)?;
        }
        if !self.named.iter().any(|n| n == path) {
            self.named.push(path.into());
        }
        Ok(())
    }

    /// Every file the images of this chain named and had opened (extents, backing and
    /// data files, parents), in the order they were resolved.
    pub fn named_files(&self) -> &[PathBuf] {
        &self.named
    }

    /// Number of backing files entered so far (the top image is depth 0).
    pub fn depth(&self) -> usize {
        self.files.len().saturating_sub(1)
    }

    /// The limit on backing files behind the top image.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Records `file` as the next file of the chain: the top image first, then each backing
    /// file as it is opened. Refuses a file already in the chain and one past the limit.
    pub fn enter(&mut self, file: &InputFile) -> Result<()> {
        let id = file.id()?;
        let refuse = |reason: String| Error::Chain {
            path: file.path().into(),
            reason,
        };
        if self.files.contains(&id) {
            return Err(refuse(
                "backing chain loops: this file is already in the chain".into(),
            ));
        }
        if self.files.len() > self.max_depth {
            return Err(refuse(format!(
                "backing chain is longer than the limit of {} files",
                self.max_depth
            )));
        }
        if self.files.is_empty() {
            self.root = Some(file.path().parent().unwrap_or(Path::new("")).into());
        }
        self.files.push(id);
        Ok(())
    }
}

/// Opens `path` as the top image of a new chain accepting at most `max_depth` backing
/// files behind it: what a reader's own `open` does before it parses the image.
pub fn open_top(path: &Path, max_depth: usize) -> Result<(InputFile, Chain), ReaderError> {
    let input = InputFile::open(path).map_err(|e| ReaderError::from_disk(e, path, ""))?;
    let mut chain = Chain::new(max_depth);
    chain
        .enter(&input)
        .map_err(|e| ReaderError::from_disk(e, path, ""))?;
    Ok((input, chain))
}

impl Default for Chain {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CHAIN_DEPTH)
    }
}

/// Opens the backing (parent) file an image names. The format registry implements it for
/// every format it knows; a format reader calls it and never opens a backing file itself.
pub trait OpenBacking: Sync {
    /// Whether `format` (as the image records it, e.g. "qcow2", "raw") can be opened.
    fn knows(&self, format: &str) -> bool;

    /// Opens `path` as a `format` file, the next file of `chain`
    /// ([`Chain::enter`] is called on it).
    fn open_backing(
        &self,
        path: &Path,
        format: &str,
        chain: &mut Chain,
    ) -> Result<Box<dyn Container>>;
}

/// Opens raw backing files only: what a reader uses when no registry is at hand.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBackingOnly;

impl OpenBacking for RawBackingOnly {
    fn knows(&self, format: &str) -> bool {
        format == "raw"
    }

    fn open_backing(
        &self,
        path: &Path,
        format: &str,
        chain: &mut Chain,
    ) -> Result<Box<dyn Container>> {
        if !self.knows(format) {
            return Err(Error::Format {
                path: path.into(),
                reason: format!("backing format {format:?} is not supported here"),
            });
        }
        let input = InputFile::open(path)?;
        chain.enter(&input)?;
        Ok(Box::new(RawDisk::new(input)))
    }
}

/// A reader whose images name backing files of its own format (a qcow2 on a qcow2, a
/// VMDK on its parent): what [`open_own`] needs to read one with no format registry at
/// hand. The registry (`ddgz-image`) calls [`OwnBacking::open_input`] with itself as
/// the backing opener instead, so that any format it knows may sit below.
pub trait OwnBacking: Container + Sized + 'static {
    /// The reader's options.
    type Options: Sync;
    /// The format name an image records for a backing file of this format ("qcow2").
    const FORMAT: &'static str;
    /// Whether its images may also sit on raw backing files.
    const RAW_BACKING: bool;

    /// Reads the image of `o.input`, already opened and entered into `o.chain` by the
    /// caller. Its backing file, if it names one, is opened by `o.backing` as the next
    /// file of the chain.
    fn open_input(o: Opening<'_, Self>) -> std::result::Result<Self, ReaderError>;
}

/// What [`OwnBacking::open_input`] is handed.
pub struct Opening<'a, R: OwnBacking> {
    /// The image file, opened and entered into `chain`.
    pub input: InputFile,
    /// The reader's options.
    pub opts: &'a R::Options,
    /// Opens the backing file the image names (the registry, or [`open_own`]'s).
    pub backing: &'a dyn OpenBacking,
    /// The chain so far.
    pub chain: &'a mut Chain,
}

/// Opens `path` as an `R` with its backing chain of at most `max_depth` files, each of
/// `R`'s own format (or raw, where `R` allows it): a reader's own `open`.
pub fn open_own<R: OwnBacking>(
    path: &Path,
    opts: &R::Options,
    max_depth: usize,
) -> std::result::Result<R, ReaderError> {
    let (input, mut chain) = open_top(path, max_depth)?;
    R::open_input(Opening {
        input,
        opts,
        backing: &Own::<R> { opts },
        chain: &mut chain,
    })
}

/// Opens the backing files of [`open_own`].
struct Own<'a, R: OwnBacking> {
    opts: &'a R::Options,
}

impl<R: OwnBacking> OpenBacking for Own<'_, R> {
    fn knows(&self, format: &str) -> bool {
        format == R::FORMAT || (R::RAW_BACKING && RawBackingOnly.knows(format))
    }

    fn open_backing(
        &self,
        path: &Path,
        format: &str,
        chain: &mut Chain,
    ) -> Result<Box<dyn Container>> {
        if format != R::FORMAT {
            if R::RAW_BACKING {
                return RawBackingOnly.open_backing(path, format, chain);
            }
            return Err(Error::Format {
                path: path.into(),
                reason: format!("backing format {format:?} is not supported here"),
            });
        }
        let input = InputFile::open(path)?;
        chain.enter(&input)?;
        let opts = self.opts;
        Ok(Box::new(R::open_input(Opening {
            input,
            opts,
            backing: self,
            chain,
        })?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_refuses_loops_and_depth() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let g = tempfile::NamedTempFile::new().unwrap();
        let h = tempfile::NamedTempFile::new().unwrap();
        let mut c = Chain::new(1);
        let mut enter = |p: &Path| {
            let r = c.enter(&InputFile::open(p).unwrap());
            (r.map_err(|e| e.to_string()), c.depth())
        };
        assert_eq!(enter(f.path()), (Ok(()), 0));
        let (e, _) = enter(f.path());
        assert!(e.as_ref().unwrap_err().contains("loops"), "{e:?}");
        assert_eq!(enter(g.path()), (Ok(()), 1));
        let (e, _) = enter(h.path());
        assert!(
            e.as_ref()
                .unwrap_err()
                .contains("longer than the limit of 1"),
            "{e:?}"
        );
    }

    #[test]
    fn facts_chain_walks_backing_files() {
        let mut top = Facts::new("qcow2", "/a", 10);
        let mut mid = Facts::new("qcow2", "/b", 10);
        mid.backing = Some(Box::new(Facts::new("raw", "/c", 5)));
        top.backing = Some(Box::new(mid));
        let paths: Vec<_> = top.chain().map(|f| f.path.clone()).collect();
        assert_eq!(paths, [PathBuf::from("/b"), PathBuf::from("/c")]);
    }
}
