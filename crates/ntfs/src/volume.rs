//! The volume: geometry, `$MFT` as a stream, and records gathered into files (reading a
//! stream's bytes is in `read.rs`).

use std::collections::BTreeSet;

use ddgz_disk::Disk;

use crate::attr::{self, kind, Value};
use crate::boot::{BootSector, BOOT_LEN};
use crate::error::{corrupt, read_err, within, Error, Result};
use crate::file::{File, Stream, StreamData};
use crate::record::{FileRef, Record};
use crate::upcase::UpCase;

/// The `$MFT`'s own record.
pub const MFT_RECORD: u64 = 0;
/// `$UpCase`'s record.
pub const UPCASE_RECORD: u64 = 10;
/// Bytes of `$ATTRIBUTE_LIST` read at most (Windows's limit is 256 KiB).
const MAX_LIST: u64 = 256 << 10;
/// Extension records one file may spread over.
const MAX_EXTENSIONS: usize = 4096;
/// Bytes of attributes one file may hold over all its records (memory bound).
const MAX_FILE_BYTES: usize = 16 << 20;

/// An NTFS volume at `[base, base + len)` of a disk, opened read-only.
#[derive(Debug)]
pub struct Volume<D: Disk> {
    disk: D,
    base: u64,
    len: u64,
    boot: BootSector,
    mft: Stream,
    upcase: UpCase,
}

impl<D: Disk> Volume<D> {
    /// Opens the volume: the boot sector, `$MFT` (its extents through its attribute list
    /// included) and `$UpCase`. Nothing is written.
    pub fn open(disk: D, base: u64, len: u64) -> Result<Self> {
        ddgz_disk::check_range(disk.size(), base, len).map_err(read_err(0, len))?;
        if len < BOOT_LEN as u64 {
            return Err(Error::NotNtfs(format!("the partition has {len} bytes")));
        }
        let mut b = vec![0u8; BOOT_LEN];
        disk.read_at(base, &mut b).map_err(|source| Error::Read {
            offset: 0,
            len: BOOT_LEN as u64,
            source,
        })?;
        let boot = BootSector::parse(&b, len)?;
        let mut v = Self {
            disk,
            base,
            len,
            mft: Stream {
                record: 0,
                type_code: kind::DATA,
                name: Vec::new(),
                flags: 0,
                data: StreamData::Resident(Vec::new()),
            },
            boot,
            upcase: UpCase::identity(),
        };
        v.mft = v.bootstrap_mft().map_err(|e| within(e, || "$MFT".into()))?;
        let up = v.file(UPCASE_RECORD)?;
        let s = up
            .stream(kind::DATA, &[], v.boot.cluster_size)?
            .ok_or_else(|| corrupt("$UpCase (MFT record 10) has no $DATA"))?;
        let mut t = vec![0u8; (s.len().min(2 * crate::upcase::UPCASE_LEN as u64)) as usize];
        v.read_at(&s, 0, &mut t)?;
        v.upcase = UpCase::from_bytes(&t);
        Ok(v)
    }

    /// Record 0 read at the boot sector's `$MFT` cluster; its base extent maps the first
    /// records, enough to read the extension records that map the rest.
    fn bootstrap_mft(&mut self) -> Result<Stream> {
        let rs = self.boot.record_size as usize;
        let mut b = vec![0u8; rs];
        let at = self.boot.mft_lcn * u64::from(self.boot.cluster_size);
        self.read_raw(at, &mut b)?;
        let rec = Record::parse(MFT_RECORD, b)?;
        let attrs = rec.attributes(self.boot.total_clusters)?;
        let data = attrs
            .iter()
            .find(|a| a.type_code == kind::DATA && a.name.is_empty())
            .ok_or_else(|| corrupt("MFT record 0 has no $DATA"))?;
        let Value::NonResident(nr) = &data.value else {
            return Err(corrupt("MFT record 0: $DATA is resident"));
        };
        if nr.lowest_vcn != 0 {
            return Err(corrupt(
                "MFT record 0: the first $DATA extent does not start at VCN 0",
            ));
        }
        let mapped = nr
            .runs
            .last()
            .map_or(0, |r| r.vcn + r.len)
            .saturating_mul(u64::from(self.boot.cluster_size));
        let size = nr.data_size.min(mapped);
        self.mft.data = StreamData::NonResident {
            runs: nr.runs.clone(),
            allocated_size: nr.allocated_size,
            data_size: size,
            initialized_size: nr.initialized_size.min(size),
            compression_unit: 0,
        };
        let f = self.file(MFT_RECORD)?;
        f.stream(kind::DATA, &[], self.boot.cluster_size)?
            .ok_or_else(|| corrupt("MFT record 0 has no $DATA"))
    }

    /// The boot sector's geometry.
    pub fn boot(&self) -> &BootSector {
        &self.boot
    }

    /// The volume's `$UpCase` table.
    pub fn upcase(&self) -> &UpCase {
        &self.upcase
    }

    /// `$MFT`'s `$DATA`.
    pub fn mft(&self) -> &Stream {
        &self.mft
    }

    /// Records in `$MFT`.
    pub fn record_count(&self) -> u64 {
        self.mft.len() / u64::from(self.boot.record_size)
    }

    /// Reads `buf.len()` bytes at byte `offset` of the volume.
    pub fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        ddgz_disk::read_within(&self.disk, self.base, self.len, offset, buf)
            .map_err(read_err(offset, len))
    }

    /// MFT record `n`, fixups applied, as stored (in use or not).
    pub fn record(&self, n: u64) -> Result<Record> {
        if n >= self.record_count() {
            return Err(corrupt(format!(
                "MFT record {n} lies past the end of $MFT ({} records)",
                self.record_count()
            )));
        }
        let rs = u64::from(self.boot.record_size);
        let mut b = vec![0u8; rs as usize];
        self.read_at(&self.mft, n * rs, &mut b)?;
        Record::parse(n, b)
    }

    /// The file whose base record is `n`, with the attributes of its extension records.
    pub fn file(&self, n: u64) -> Result<File> {
        let rec = self.record(n)?;
        if !rec.in_use() {
            return Err(corrupt(format!("MFT record {n} is not in use")));
        }
        if let Some(b) = rec.base {
            return Err(corrupt(format!(
                "MFT record {n} is an extension of record {}, not a file",
                b.record
            )));
        }
        let tc = self.boot.total_clusters;
        let mut attributes: Vec<(u64, attr::Attribute)> =
            rec.attributes(tc)?.into_iter().map(|a| (n, a)).collect();
        let mut file = File {
            reference: FileRef {
                record: n,
                sequence: rec.sequence,
            },
            flags: rec.flags,
            link_count: rec.link_count,
            attributes: Vec::new(),
        };
        let list = attributes
            .iter()
            .find(|(_, a)| a.type_code == kind::ATTRIBUTE_LIST)
            .map(|(_, a)| a.clone());
        if let Some(list) = list {
            let ctx = || format!("MFT record {n} $ATTRIBUTE_LIST");
            file.attributes = vec![(n, list)];
            let s = file
                .stream(kind::ATTRIBUTE_LIST, &[], self.boot.cluster_size)?
                .ok_or_else(|| corrupt("unreachable: no list"))?;
            if s.len() > MAX_LIST {
                return Err(Error::Limit(format!(
                    "{}: {} bytes, at most {MAX_LIST}",
                    ctx(),
                    s.len()
                )));
            }
            let mut v = vec![0u8; s.len() as usize];
            self.read_at(&s, 0, &mut v).map_err(|e| within(e, ctx))?;
            let entries = attr::parse_list(&v).map_err(|e| within(e, ctx))?;
            let others: BTreeSet<u64> = entries
                .iter()
                .map(|e| e.record.record)
                .filter(|&r| r != n)
                .collect();
            if others.len() > MAX_EXTENSIONS {
                return Err(Error::Limit(format!(
                    "{}: {} extension records, at most {MAX_EXTENSIONS}",
                    ctx(),
                    others.len()
                )));
            }
            let mut bytes: usize = attributes.iter().map(|(_, a)| a.length as usize).sum();
            for r in others {
                let ext = self.record(r).map_err(|e| within(e, ctx))?;
                if !ext.in_use() || ext.base.map(|b| b.record) != Some(n) {
                    return Err(corrupt(format!(
                        "{}: record {r} is not an extension of record {n} (in use: {}, base: {:?})",
                        ctx(),
                        ext.in_use(),
                        ext.base.map(|b| b.record)
                    )));
                }
                for a in ext.attributes(tc)? {
                    bytes += a.length as usize;
                    if bytes > MAX_FILE_BYTES {
                        return Err(Error::Limit(format!(
                            "{}: more than {MAX_FILE_BYTES} bytes of attributes",
                            ctx()
                        )));
                    }
                    if a.type_code != kind::ATTRIBUTE_LIST {
                        attributes.push((r, a));
                    }
                }
            }
        }
        file.attributes = attributes;
        Ok(file)
    }

    /// The unnamed `$DATA` of `file`, or its stream `name` (case-insensitive); `None`
    /// when it has none.
    pub fn data(&self, file: &File, name: &str) -> Result<Option<Stream>> {
        let want: Vec<u16> = name.encode_utf16().collect();
        let exact = file
            .stream_names()
            .into_iter()
            .find(|n| self.upcase.eq(n, &want))
            .unwrap_or(want);
        file.stream(kind::DATA, &exact, self.boot.cluster_size)
    }
}
