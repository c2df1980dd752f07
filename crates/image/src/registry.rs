//! The table of input formats: one entry per format, each a name, a probe and an open
//! function. Adding a format is one crate implementing [`Container`] plus one entry here
//! (README.md, "Adding an input format").

use std::path::Path;

use ddgz_disk::{
    Chain, Container, Error, InputFile, OpenBacking, Opening, OwnBacking, RawDisk, Result,
};

use crate::OpenOptions;

/// Bytes read from the start of a file for the probes: enough for every header we know
/// (qcow2: 104 bytes; VMDK descriptor: a few KiB), small enough to cost nothing.
pub const PROBE_HEAD: usize = 64 << 10;

/// Bytes read from the end of a file for the probes (a VHD footer is 512 bytes).
pub const PROBE_TAIL: usize = 512;

/// On-disk container format of an image file: one per [`FORMATS`] entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The guest bytes as they are.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
    /// Virtual PC / Hyper-V VHD: fixed, dynamic, differencing (QEMU's `vpc`).
    Vhd,
    /// VirtualBox VDI: dynamic, static.
    Vdi,
    /// VMware virtual disk: sparse, streamOptimized, flat, split; descriptor or monolithic.
    Vmdk,
    /// Hyper-V VHDX: dynamic, fixed.
    Vhdx,
}

impl Format {
    /// Its entry in [`FORMATS`].
    pub fn entry(self) -> &'static FormatEntry {
        FORMATS
            .iter()
            .find(|e| e.format == self)
            .expect("every Format has an entry in FORMATS")
    }

    /// Lower-case name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// The format named `name` (its name or one of its aliases, as an image records its
    /// backing format), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        FORMATS
            .iter()
            .find(|e| e.name == name || e.aliases.contains(&name))
            .map(|e| e.format)
    }
}

/// What the probes see of a file: its first and last bytes, and its size.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ProbeInput<'a> {
    /// The first [`PROBE_HEAD`] bytes (all of a smaller file).
    pub head: &'a [u8],
    /// The last [`PROBE_TAIL`] bytes (all of a smaller file).
    pub tail: &'a [u8],
    /// The file's size.
    pub size: u64,
}

impl<'a> ProbeInput<'a> {
    /// What the probes see of a file of `size` bytes starting with `head` and ending with
    /// `tail`.
    pub fn new(head: &'a [u8], tail: &'a [u8], size: u64) -> Self {
        Self { head, tail, size }
    }
}

/// Opens a file already probed (or named by `--format`) as one format. The file's
/// backing file, if the format has one, is opened through `backing` as the next file of
/// `chain` (which already holds this file).
pub type OpenFn = fn(
    input: InputFile,
    opts: &OpenOptions,
    backing: &dyn OpenBacking,
    chain: &mut Chain,
) -> Result<Box<dyn Container>>;

/// One input format.
#[derive(Debug)]
pub struct FormatEntry {
    /// Which format.
    pub format: Format,
    /// Lower-case name, as `--format` takes it and as [`Container::facts`] reports it.
    pub name: &'static str,
    /// Other names images record for it as a backing format (QEMU's driver names).
    pub aliases: &'static [&'static str],
    /// Whether a file is in this format, from its first and last bytes. Cheap and exact:
    /// a magic number, never a guess.
    pub probe: fn(&ProbeInput) -> bool,
    /// Opens the file.
    pub open: OpenFn,
}

/// Every input format, in probe order: the first whose probe answers yes is used; raw,
/// which accepts anything, comes last.
pub static FORMATS: &[FormatEntry] = &[
    FormatEntry {
        format: Format::Qcow2,
        name: "qcow2",
        aliases: &[],
        probe: probe_qcow2,
        open: open_qcow2,
    },
    FormatEntry {
        format: Format::Vmdk,
        name: "vmdk",
        aliases: &[],
        probe: |p| ddgz_vmdk::probe(p.head),
        open: open_vmdk,
    },
    FormatEntry {
        format: Format::Vhd,
        name: "vhd",
        aliases: &["vpc"],
        probe: |p| ddgz_vhd::probe(p.head, p.tail),
        open: open_vhd,
    },
    FormatEntry {
        format: Format::Vdi,
        name: "vdi",
        aliases: &[],
        probe: |p| ddgz_vdi::probe(p.head),
        open: |input, _, _, _| Ok(Box::new(ddgz_vdi::Vdi::open_input(input)?)),
    },
    FormatEntry {
        format: Format::Vhdx,
        name: "vhdx",
        aliases: &[],
        probe: |p| ddgz_vhdx::probe(p.head),
        open: |input, _, _, _| Ok(Box::new(ddgz_vhdx::Vhdx::open_input(input)?)),
    },
    FormatEntry {
        format: Format::Raw,
        name: "raw",
        aliases: &[],
        probe: |_| true,
        open: |input, _, _, _| Ok(Box::new(RawDisk::new(input))),
    },
];

/// The qcow2 magic, `QFI\xfb` (qcow2 spec, "Header").
fn probe_qcow2(p: &ProbeInput) -> bool {
    p.head.starts_with(b"QFI\xfb")
}

fn open_qcow2(
    input: InputFile,
    opts: &OpenOptions,
    backing: &dyn OpenBacking,
    chain: &mut Chain,
) -> Result<Box<dyn Container>> {
    let q = ddgz_qcow2::OpenOptions {
        force_corrupt: opts.force_corrupt,
        max_chain_depth: chain.max_depth(),
    };
    let opts = &q;
    let o = Opening {
        input,
        opts,
        backing,
        chain,
    };
    Ok(Box::new(ddgz_qcow2::Qcow2::open_input(o)?))
}

/// A VMDK's parent (`parentFileNameHint`) is opened through the registry as a "vmdk".
fn open_vmdk(
    input: InputFile,
    _: &OpenOptions,
    backing: &dyn OpenBacking,
    chain: &mut Chain,
) -> Result<Box<dyn Container>> {
    let o = ddgz_vmdk::OpenOptions {
        max_chain_depth: chain.max_depth(),
    };
    let opts = &o;
    Ok(Box::new(ddgz_vmdk::Vmdk::open_input(Opening {
        input,
        opts,
        backing,
        chain,
    })?))
}

/// A VHD's parents are VHDs found by its locators, opened by the VHD reader itself
/// (entered into the same `chain`).
fn open_vhd(
    input: InputFile,
    _: &OpenOptions,
    _: &dyn OpenBacking,
    chain: &mut Chain,
) -> Result<Box<dyn Container>> {
    let o = ddgz_vhd::OpenOptions {
        max_chain_depth: chain.max_depth(),
    };
    Ok(Box::new(ddgz_vhd::Vhd::open_input(input, &o, chain)?))
}

/// The names `--format` accepts, in probe order.
pub fn format_names() -> impl Iterator<Item = &'static str> {
    FORMATS.iter().map(|e| e.name)
}

/// The format of a file, from what the probes see of it.
pub fn probe(p: &ProbeInput) -> Format {
    FORMATS
        .iter()
        .find(|e| (e.probe)(p))
        .map_or(Format::Raw, |e| e.format)
}

/// What a file is, from one look at its first and last bytes ([`identify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// A random-access disk image of a registered format (raw when no probe matched and
    /// it is nothing below).
    Image(Format),
    /// A packed raw disk, a finished `.dd.gz` or `.dd.xz`: read as a stream by
    /// `ddgz-packed` (`inspect`, `validate`, `ls`, `cat`, `verify`), not as an image.
    Packed(ddgz_packed::Compression),
    /// A known kind of file ddgz does not read (another compressed stream, an ISO 9660
    /// image), named, with what to do instead.
    Foreign(Foreign),
}

/// A known kind of file that is not a disk ddgz reads ([`Identity::Foreign`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Foreign {
    /// What it is ("a zstd-compressed stream").
    pub what: &'static str,
    /// What to do instead.
    pub instead: &'static str,
}

/// The one answer to "what is this file?": a registered format's probe, else a packed
/// disk's magic, else a known foreign kind, else a raw disk.
pub fn identify(p: &ProbeInput) -> Identity {
    match probe(p) {
        Format::Raw => {}
        f => return Identity::Image(f),
    }
    if let Some(c) = ddgz_packed::detect(p.head) {
        return Identity::Packed(c);
    }
    match crate::unsupported::recognise(p.head) {
        Some((what, instead)) => Identity::Foreign(Foreign { what, instead }),
        None => Identity::Image(Format::Raw),
    }
}

/// Reads the probes' view of `input` (its first [`PROBE_HEAD`] and last [`PROBE_TAIL`]
/// bytes) and [`identify`]s it.
pub fn identify_file(input: &InputFile) -> Result<Identity> {
    let size = input.size();
    let mut head = vec![0u8; size.min(PROBE_HEAD as u64) as usize];
    input.read_exact_at(&mut head, 0, "the first bytes (format probe)")?;
    let tail_len = size.min(PROBE_TAIL as u64);
    let mut tail = vec![0u8; tail_len as usize];
    input.read_exact_at(&mut tail, size - tail_len, "the last bytes (format probe)")?;
    Ok(identify(&ProbeInput {
        head: &head,
        tail: &tail,
        size,
    }))
}

/// Opens backing files by the format their image records, through [`FORMATS`]: a format
/// is never guessed from a backing file's content.
#[derive(Debug)]
pub(crate) struct Registry<'a> {
    pub(crate) opts: &'a OpenOptions,
}

impl OpenBacking for Registry<'_> {
    fn knows(&self, format: &str) -> bool {
        Format::from_name(format).is_some()
    }

    fn open_backing(
        &self,
        path: &Path,
        format: &str,
        chain: &mut Chain,
    ) -> Result<Box<dyn Container>> {
        let f = Format::from_name(format).ok_or_else(|| Error::Format {
            path: path.into(),
            reason: format!("backing format {format:?} is not one ddgz reads"),
        })?;
        let input = InputFile::open(path)?;
        chain.enter(&input)?;
        (f.entry().open)(input, self.opts, self, chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_reachable_by_name_and_raw_comes_last() {
        for e in FORMATS {
            assert_eq!(Format::from_name(e.name), Some(e.format), "{}", e.name);
            assert!(std::ptr::eq(e.format.entry(), e), "{}", e.name);
            for a in e.aliases {
                assert_eq!(Format::from_name(a), Some(e.format), "{a}");
            }
        }
        let names: Vec<_> = format_names().collect();
        let mut uniq = names.clone();
        uniq.dedup();
        assert_eq!(names, uniq);
        assert_eq!(names.last(), Some(&"raw"));
        assert_eq!(Format::from_name("vmdk-nope"), None);
    }

    #[test]
    fn probes_pick_by_magic_and_fall_back_to_raw() {
        let p = |head: &[u8]| probe(&ProbeInput::new(head, head, head.len() as u64));
        assert_eq!(p(b"QFI\xfb\0\0\0\x03"), Format::Qcow2);
        assert_eq!(p(b"QFI"), Format::Raw);
        assert_eq!(p(b""), Format::Raw);
        assert_eq!(p(&[0u8; 4096]), Format::Raw);
        assert_eq!(p(b"KDMV\x01\0\0\0"), Format::Vmdk);
        assert_eq!(p(b"# Disk DescriptorFile\nversion=1\n"), Format::Vmdk);
    }

    #[test]
    fn one_probe_says_image_packed_or_foreign() {
        use ddgz_packed::Compression;
        let id = |head: &[u8]| identify(&ProbeInput::new(head, head, head.len() as u64));
        assert_eq!(id(b"QFI\xfb\0\0\0\x03"), Identity::Image(Format::Qcow2));
        assert_eq!(id(&[0u8; 4096]), Identity::Image(Format::Raw));
        assert_eq!(id(b""), Identity::Image(Format::Raw));
        assert_eq!(
            id(b"\x1f\x8b\x08\0\0\0"),
            Identity::Packed(Compression::Gzip)
        );
        assert_eq!(id(b"\xfd7zXZ\0\0"), Identity::Packed(Compression::Xz));
        for (head, what) in [
            (&b"\x28\xb5\x2f\xfd\0"[..], "zstd"),
            (b"\x1f\x8b\x00\0", "gzip"),
        ] {
            match id(head) {
                Identity::Foreign(f) => assert!(f.what.contains(what), "{}", f.what),
                other => panic!("{what}: {other:?}"),
            }
        }
    }
}
