//! A file: its base MFT record plus the extension records its `$ATTRIBUTE_LIST` names,
//! as one list of attributes; and a stream: one attribute's extents merged into one run
//! list, ready to read.

use crate::attr::{self, kind, Attribute, FileName, NonResident, StandardInformation, Value};
use crate::error::{corrupt, Error, Result};
use crate::record::FileRef;
use crate::runs::Run;

/// Runs one stream may have over all its extents (24 bytes each: 12 MiB).
pub const MAX_RUNS: usize = 1 << 19;

/// A file's attributes gathered from its base record and its extension records.
#[derive(Debug, Clone)]
pub struct File {
    /// The base record's reference (number and sequence).
    pub reference: FileRef,
    /// The base record's flags (`IN_USE`, `DIRECTORY`).
    pub flags: u16,
    /// Hard links.
    pub link_count: u16,
    /// Every attribute, each with the number of the record holding it.
    pub attributes: Vec<(u64, Attribute)>,
}

/// Where a stream's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamData {
    /// Held in the record.
    Resident(Vec<u8>),
    /// In clusters: every extent's runs merged, in VCN order, contiguous from VCN 0.
    NonResident {
        /// The runs.
        runs: Vec<Run>,
        /// Bytes allocated.
        allocated_size: u64,
        /// Bytes of value.
        data_size: u64,
        /// Bytes written; the rest reads as zeros.
        initialized_size: u64,
        /// log2 of clusters per compression unit (0: not compressed).
        compression_unit: u8,
    },
}

/// One attribute's value as a readable stream (`$DATA`, an ADS, `$INDEX_ALLOCATION`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The base record of the file holding it.
    pub record: u64,
    /// Attribute type.
    pub type_code: u32,
    /// Attribute name (empty: unnamed).
    pub name: Vec<u16>,
    /// Attribute flags of the first extent (compressed, encrypted, sparse).
    pub flags: u16,
    /// The bytes or their runs.
    pub data: StreamData,
}

impl Stream {
    /// Bytes in the stream.
    pub fn len(&self) -> u64 {
        match &self.data {
            StreamData::Resident(v) => v.len() as u64,
            StreamData::NonResident { data_size, .. } => *data_size,
        }
    }

    /// Whether the stream is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A description for messages: "record 42 $DATA:name".
    pub fn describe(&self) -> String {
        let t = match self.type_code {
            kind::DATA => "$DATA".to_string(),
            kind::INDEX_ALLOCATION => "$INDEX_ALLOCATION".to_string(),
            kind::BITMAP => "$BITMAP".to_string(),
            kind::ATTRIBUTE_LIST => "$ATTRIBUTE_LIST".to_string(),
            t => format!("attribute {t:#x}"),
        };
        if self.name.is_empty() {
            format!("MFT record {} {t}", self.record)
        } else {
            format!(
                "MFT record {} {t}:{}",
                self.record,
                String::from_utf16_lossy(&self.name)
            )
        }
    }
}

impl File {
    /// Whether the base record is flagged a directory.
    pub fn is_directory(&self) -> bool {
        self.flags & crate::record::DIRECTORY != 0
    }

    /// The values of every attribute of type `t` in order (resident ones only).
    fn resident_values(&self, t: u32) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter_map(move |(_, a)| match &a.value {
                Value::Resident(v) if a.type_code == t => Some(v.as_slice()),
                _ => None,
            })
    }

    /// Every `$FILE_NAME` of the file (one per name and namespace).
    pub fn file_names(&self) -> Result<Vec<FileName>> {
        self.resident_values(kind::FILE_NAME)
            .map(|v| FileName::parse(v).map_err(|e| self.ctx(e)))
            .collect()
    }

    /// The name to show: Win32 or POSIX before DOS.
    pub fn best_name(&self) -> Result<Option<FileName>> {
        let mut names = self.file_names()?;
        names.sort_by_key(|n| n.namespace == attr::namespace::DOS);
        Ok(names.into_iter().next())
    }

    /// `$STANDARD_INFORMATION`.
    pub fn standard_information(&self) -> Result<StandardInformation> {
        let v = self
            .resident_values(kind::STANDARD_INFORMATION)
            .next()
            .ok_or_else(|| self.ctx(corrupt("no $STANDARD_INFORMATION")))?;
        StandardInformation::parse(v).map_err(|e| self.ctx(e))
    }

    /// Names of the named `$DATA` streams (alternate data streams).
    pub fn stream_names(&self) -> Vec<Vec<u16>> {
        let mut names: Vec<Vec<u16>> = self
            .attributes
            .iter()
            .filter(|(_, a)| a.type_code == kind::DATA && !a.name.is_empty())
            .map(|(_, a)| a.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The attribute `t` named `name` (exactly) as one stream, its extents merged; `None`
    /// when the file has none. The runs must cover the data (`cluster_size` bytes each).
    pub fn stream(&self, t: u32, name: &[u16], cluster_size: u32) -> Result<Option<Stream>> {
        let mut parts: Vec<&Attribute> = self
            .attributes
            .iter()
            .map(|(_, a)| a)
            .filter(|a| a.type_code == t && a.name == name)
            .collect();
        let Some(first) = parts.first() else {
            return Ok(None);
        };
        let mk = |data| Stream {
            record: self.reference.record,
            type_code: t,
            name: name.to_vec(),
            flags: first.flags,
            data,
        };
        let describe = mk(StreamData::Resident(Vec::new())).describe();
        if let Value::Resident(v) = &first.value {
            if parts.len() > 1 {
                return Err(corrupt(format!(
                    "{describe}: a resident attribute with extents"
                )));
            }
            return Ok(Some(mk(StreamData::Resident(v.clone()))));
        }
        let mut nrs: Vec<&NonResident> = Vec::with_capacity(parts.len());
        for p in parts.drain(..) {
            match &p.value {
                Value::NonResident(nr) => nrs.push(nr),
                Value::Resident(_) => {
                    return Err(corrupt(format!(
                        "{describe}: resident and non-resident extents"
                    )))
                }
            }
        }
        nrs.sort_by_key(|nr| nr.lowest_vcn);
        let head = nrs[0];
        let mut runs: Vec<Run> = Vec::new();
        let mut next = 0u64;
        for nr in &nrs {
            if nr.lowest_vcn != next {
                return Err(corrupt(format!(
                    "{describe}: an extent starts at VCN {} where VCN {next} was expected (extents \
                     missing or overlapping)",
                    nr.lowest_vcn
                )));
            }
            if runs.len() + nr.runs.len() > MAX_RUNS {
                return Err(Error::Limit(format!(
                    "{describe}: more than {MAX_RUNS} runs"
                )));
            }
            runs.extend_from_slice(&nr.runs);
            next = runs.last().map_or(next, |r| r.vcn + r.len);
        }
        crate::runs::check_disjoint(&runs)
            .map_err(|e| crate::error::within(e, || describe.clone()))?;
        let mapped = next.saturating_mul(u64::from(cluster_size));
        if head.data_size > mapped {
            return Err(corrupt(format!(
                "{describe}: data size {} bytes lies beyond its runs ({next} clusters, {mapped} \
                 bytes)",
                head.data_size
            )));
        }
        Ok(Some(mk(StreamData::NonResident {
            runs,
            allocated_size: head.allocated_size,
            data_size: head.data_size,
            initialized_size: head.initialized_size,
            compression_unit: head.compression_unit,
        })))
    }

    fn ctx(&self, e: Error) -> Error {
        crate::error::within(e, || format!("MFT record {}", self.reference.record))
    }
}
