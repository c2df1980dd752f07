//! A small reader of Windows registry hives ("regf"), enough to read a few values of one
//! key: the base block, `nk` key cells, their subkey lists (`lf`, `lh`, `li`, and one
//! level of `ri`), `vk` value cells and their data (inline or in a cell; `db` big data is
//! named as unsupported — the values read here are short strings).
//!
//! Written from the format's public description (the `nt-hive` crate is GPL and not used).
//! The hive comes from the image, so it is hostile: it is never read whole (a real
//! `SOFTWARE` hive is tens of MiB), every cell offset is checked against the hive bins'
//! extent, every cell is capped at [`MAX_CELL`] bytes, and one look-up reads at most
//! [`MAX_CELLS`] cells and [`MAX_BYTES`] bytes, so loops between lists and huge counts
//! end with an error, not a hang. A hive whose two sequence numbers differ (a write Windows did not finish, its
//! `.LOG` files not replayed) is read as it is.

use std::fmt;

/// Bytes of the base block before the first hive bin.
pub const BASE_BLOCK: u64 = 4096;
/// Largest cell read.
pub const MAX_CELL: u32 = 1 << 20;
/// Most cells one look-up reads.
pub const MAX_CELLS: u32 = 100_000;
/// Most bytes of cells one look-up reads (a list pointing many times at one large cell).
pub const MAX_BYTES: u64 = 64 << 20;
/// Longest string value returned, in bytes of UTF-16.
pub const MAX_STRING: u32 = 64 << 10;

/// `nk` flag: the name is stored in Latin-1, not UTF-16LE.
const KEY_COMP_NAME: u16 = 0x0020;
/// `vk` flag: the name is stored in Latin-1.
const VALUE_COMP_NAME: u16 = 0x0001;
/// The data-size bit saying the data sits in the data-offset field itself.
const DATA_INLINE: u32 = 0x8000_0000;
/// "No cell".
const NONE: u32 = 0xFFFF_FFFF;

/// `REG_SZ`.
pub const REG_SZ: u32 = 1;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: u32 = 2;
/// `REG_DWORD`.
pub const REG_DWORD: u32 = 4;

/// Why a hive could not be read: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the hive file.
    pub offset: u64,
    /// What is wrong, naming the value.
    pub reason: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "registry hive, byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for Error {}

fn err<T>(offset: u64, reason: impl Into<String>) -> Result<T, Error> {
    Err(Error {
        offset,
        reason: reason.into(),
    })
}

/// Where the hive's bytes come from (a file in memory, a stream of an NTFS volume).
pub trait Source {
    /// The hive file's length.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; an error says why it could not.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String>;
}

impl Source for &[u8] {
    fn size(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or("offset overflows")?;
        if end > <[u8]>::len(self) as u64 {
            return Err(format!("bytes {offset}..{end} past the end"));
        }
        buf.copy_from_slice(&self[offset as usize..end as usize]);
        Ok(())
    }
}

/// A value's data, as far as this reader interprets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `REG_SZ` or `REG_EXPAND_SZ`, up to the first NUL.
    String(String),
    /// `REG_DWORD`.
    Dword(u32),
    /// Any other type: its number and length.
    Other {
        /// The `REG_*` type.
        kind: u32,
        /// Bytes of data.
        len: u32,
    },
}

/// A key: its cell offset (relative to the first hive bin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(u32);

/// An opened hive.
pub struct Hive<S: Source> {
    src: S,
    root: u32,
    /// Bytes of hive bins (from the base block, clamped to the file).
    bins: u64,
    /// Cells left to read in the current look-up.
    budget: std::cell::Cell<u32>,
    /// Bytes left to read in the current look-up.
    bytes: std::cell::Cell<u64>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<S: Source> Hive<S> {
    /// Reads the base block: signature `regf`, major version 1, the root cell and the
    /// extent of the hive bins.
    pub fn open(src: S) -> Result<Self, Error> {
        let len = src.size();
        if len < BASE_BLOCK + 32 {
            return err(0, format!("{len} bytes, too short for a hive"));
        }
        let mut b = vec![0u8; 512];
        src.read_at(0, &mut b).or_else(|e| err(0, e))?;
        if &b[..4] != b"regf" {
            return err(0, format!("signature {:02x?}, not \"regf\"", &b[..4]));
        }
        let major = u32_at(&b, 0x14);
        if major != 1 {
            return err(0x14, format!("major version {major}, not 1"));
        }
        let bins = u64::from(u32_at(&b, 0x28)).min(len - BASE_BLOCK);
        let root = u32_at(&b, 0x24);
        let h = Self {
            src,
            root,
            bins,
            budget: std::cell::Cell::new(MAX_CELLS),
            bytes: std::cell::Cell::new(MAX_BYTES),
        };
        h.nk(root)?;
        Ok(h)
    }

    fn reset(&self) {
        self.budget.set(MAX_CELLS);
        self.bytes.set(MAX_BYTES);
    }

    /// The root key.
    pub fn root(&self) -> Key {
        Key(self.root)
    }

    /// The data of cell `off` (its size field excluded), at most [`MAX_CELL`] bytes.
    fn cell(&self, off: u32) -> Result<Vec<u8>, Error> {
        let at = BASE_BLOCK + u64::from(off);
        let left = self.budget.get();
        if left == 0 {
            return err(
                at,
                format!("more than {MAX_CELLS} cells read for one look-up"),
            );
        }
        self.budget.set(left - 1);
        if off == NONE || u64::from(off) + 4 > self.bins || off % 8 != 0 {
            return err(
                at,
                format!(
                    "cell offset {off:#x} outside the hive bins ({} bytes) or not 8-aligned",
                    self.bins
                ),
            );
        }
        let mut s = [0u8; 4];
        self.src.read_at(at, &mut s).or_else(|e| err(at, e))?;
        let size = i32::from_le_bytes(s);
        if size >= 0 {
            return err(at, format!("cell {off:#x} is free (size {size})"));
        }
        let size = size.unsigned_abs();
        if !(8..=MAX_CELL).contains(&size) || u64::from(off) + u64::from(size) > self.bins {
            return err(
                at,
                format!("cell {off:#x} of {size} bytes: too small, too large or past the bins"),
            );
        }
        let left = self.bytes.get();
        if u64::from(size) > left {
            return err(
                at,
                format!("more than {MAX_BYTES} bytes of cells read for one look-up"),
            );
        }
        self.bytes.set(left - u64::from(size));
        let mut data = vec![0u8; size as usize - 4];
        self.src
            .read_at(at + 4, &mut data)
            .or_else(|e| err(at, e))?;
        Ok(data)
    }

    /// The `nk` cell at `off`.
    fn nk(&self, off: u32) -> Result<Vec<u8>, Error> {
        let c = self.cell(off)?;
        if c.len() < 76 || &c[..2] != b"nk" {
            return err(
                BASE_BLOCK + u64::from(off),
                format!("cell {off:#x} is not a key (nk)"),
            );
        }
        Ok(c)
    }

    /// A key's or value's name: Latin-1 or UTF-16LE, `len` bytes from `at`.
    fn name(c: &[u8], at: usize, len: usize, latin1: bool, off: u32) -> Result<String, Error> {
        let Some(raw) = c.get(at..at.saturating_add(len)) else {
            return err(
                BASE_BLOCK + u64::from(off),
                format!("cell {off:#x}: a name of {len} bytes past the cell's end"),
            );
        };
        Ok(if latin1 {
            raw.iter().map(|&b| char::from(b)).collect()
        } else {
            let u: Vec<u16> = raw
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&u)
        })
    }

    fn key_name(&self, off: u32) -> Result<String, Error> {
        let c = self.nk(off)?;
        let len = usize::from(u16_at(&c, 0x48));
        Self::name(&c, 0x4c, len, u16_at(&c, 2) & KEY_COMP_NAME != 0, off)
    }

    /// The subkey named `name` (case-insensitive) of `key`, within the current budget.
    fn subkey(&self, key: Key, name: &str) -> Result<Option<Key>, Error> {
        let c = self.nk(key.0)?;
        let count = u32_at(&c, 0x14);
        let list = u32_at(&c, 0x1c);
        if count == 0 || list == NONE {
            return Ok(None);
        }
        let want = upper(name);
        let mut found = None;
        self.each_subkey(list, 0, &mut |k| {
            if found.is_none() && upper(&self.key_name(k)?) == want {
                found = Some(Key(k));
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Calls `f` with each key offset of subkey list `list` (`ri` lists nest one level).
    fn each_subkey(
        &self,
        list: u32,
        depth: u32,
        f: &mut dyn FnMut(u32) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let at = BASE_BLOCK + u64::from(list);
        let c = self.cell(list)?;
        if c.len() < 4 {
            return err(at, "subkey list shorter than its header");
        }
        let n = usize::from(u16_at(&c, 2));
        let (step, nested) = match &c[..2] {
            b"lf" | b"lh" => (8, false),
            b"li" => (4, false),
            b"ri" if depth == 0 => (4, true),
            b"ri" => return err(at, "an ri list inside an ri list"),
            sig => return err(at, format!("subkey list signature {sig:02x?}")),
        };
        if 4 + n * step > c.len() {
            return err(
                at,
                format!("subkey list of {n} entries in a cell of {} bytes", c.len()),
            );
        }
        for i in 0..n {
            let k = u32_at(&c, 4 + i * step);
            if nested {
                self.each_subkey(k, depth + 1, f)?;
            } else {
                f(k)?;
            }
        }
        Ok(())
    }

    /// The key at `path` (components separated by `\`), from the root.
    pub fn key(&self, path: &str) -> Result<Option<Key>, Error> {
        self.reset();
        let mut k = self.root();
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            match self.subkey(k, part)? {
                Some(s) => k = s,
                None => return Ok(None),
            }
        }
        Ok(Some(k))
    }

    /// Value `name` (case-insensitive) of `key`.
    pub fn value(&self, key: Key, name: &str) -> Result<Option<Data>, Error> {
        self.reset();
        let c = self.nk(key.0)?;
        let count = u32_at(&c, 0x24) as usize;
        let list = u32_at(&c, 0x28);
        if count == 0 || list == NONE {
            return Ok(None);
        }
        let lc = self.cell(list)?;
        if count.saturating_mul(4) > lc.len() {
            return err(
                BASE_BLOCK + u64::from(list),
                format!(
                    "value list of {count} entries in a cell of {} bytes",
                    lc.len()
                ),
            );
        }
        let want = upper(name);
        for i in 0..count {
            let vo = u32_at(&lc, i * 4);
            let v = self.cell(vo)?;
            let at = BASE_BLOCK + u64::from(vo);
            if v.len() < 20 || &v[..2] != b"vk" {
                return err(at, format!("cell {vo:#x} is not a value (vk)"));
            }
            let nlen = usize::from(u16_at(&v, 2));
            let vname = Self::name(&v, 20, nlen, u16_at(&v, 16) & VALUE_COMP_NAME != 0, vo)?;
            if upper(&vname) != want {
                continue;
            }
            return self.data(&v, at).map(Some);
        }
        Ok(None)
    }

    fn data(&self, v: &[u8], at: u64) -> Result<Data, Error> {
        let size = u32_at(v, 4);
        let off = u32_at(v, 8);
        let kind = u32_at(v, 12);
        let (len, bytes) = if size & DATA_INLINE != 0 {
            let len = size & !DATA_INLINE;
            if len > 4 {
                return err(at, format!("inline data of {len} bytes (at most 4)"));
            }
            (len, v[8..8 + len as usize].to_vec())
        } else {
            let wanted = match kind {
                REG_SZ | REG_EXPAND_SZ => size.min(MAX_STRING),
                REG_DWORD => 4,
                _ => return Ok(Data::Other { kind, len: size }),
            };
            let d = self.cell(off)?;
            if d.len() >= 2 && &d[..2] == b"db" && size > 16344 {
                return err(at, format!("big data ({size} bytes, db cell) is not read"));
            }
            if (wanted as usize) > d.len() {
                return err(
                    at,
                    format!("value data of {size} bytes in a cell of {} bytes", d.len()),
                );
            }
            (size, d[..wanted as usize].to_vec())
        };
        Ok(match kind {
            REG_SZ | REG_EXPAND_SZ => {
                let u: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .take_while(|&c| c != 0)
                    .collect();
                Data::String(String::from_utf16_lossy(&u))
            }
            REG_DWORD if bytes.len() == 4 => Data::Dword(u32_at(&bytes, 0)),
            _ => Data::Other { kind, len },
        })
    }
}

/// Upper case for name comparison (the registry compares names case-insensitively).
fn upper(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).collect()
}

/// The key holding the edition and build in a `SOFTWARE` hive.
pub const CURRENT_VERSION: &str = r"Microsoft\Windows NT\CurrentVersion";

/// What `Microsoft\Windows NT\CurrentVersion` says about the installed Windows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Edition {
    /// `ProductName`, e.g. "Windows Server 2022 Datacenter".
    pub product_name: Option<String>,
    /// `EditionID`, e.g. "ServerDatacenter".
    pub edition_id: Option<String>,
    /// `CurrentBuildNumber` (or `CurrentBuild`), e.g. "20348".
    pub build: Option<String>,
    /// `DisplayVersion` (or `ReleaseId`), e.g. "21H2".
    pub display_version: Option<String>,
    /// `InstallationType`: "Server", "Server Core", "Client".
    pub installation_type: Option<String>,
}

/// Reads [`Edition`] from a `SOFTWARE` hive; `Ok(None)` when the key is absent.
pub fn edition<S: Source>(src: S) -> Result<Option<Edition>, Error> {
    let h = Hive::open(src)?;
    let Some(k) = h.key(CURRENT_VERSION)? else {
        return Ok(None);
    };
    let string = |names: &[&str]| -> Result<Option<String>, Error> {
        for n in names {
            if let Some(Data::String(s)) = h.value(k, n)? {
                if !s.is_empty() {
                    return Ok(Some(s));
                }
            }
        }
        Ok(None)
    };
    Ok(Some(Edition {
        product_name: string(&["ProductName"])?,
        edition_id: string(&["EditionID"])?,
        build: string(&["CurrentBuildNumber", "CurrentBuild"])?,
        display_version: string(&["DisplayVersion", "ReleaseId"])?,
        installation_type: string(&["InstallationType"])?,
    }))
}

/// Opens and queries `data` as a hive, ignoring the result: for the fuzz target.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    let _ = edition(data);
    if let Ok(h) = Hive::open(data) {
        let _ = h.key(r"A\B\C\D");
        let _ = h.value(h.root(), "x");
    }
}
