//! New files and directories: their record (`$STANDARD_INFORMATION`, `$FILE_NAME`, a
//! security descriptor when the parent has no `$Secure` id, `$DATA` or an empty
//! `$INDEX_ROOT`) and their entry in the parent's index; and `--replace` of a file's data.

use std::io::Read;

use super::encode::{self, align8, Sizes, I30};
use super::error::{WriteError, WriteResult};
use super::source::Op;
use super::tree::{DirIndex, IEntry};
use super::{
    append_runs, find_attr, rebuild, DirInfo, Security, Writer, ATTR_ARCHIVE, PIECE,
    SECURITY_DESCRIPTOR,
};
use crate::attr::{self, kind, NtTime, Value};
use crate::record as rec;

impl<'a, 'd> Writer<'a, 'd> {
    /// Creates a directory (`file` None) or a file named `name` in directory `parent`;
    /// returns its record number.
    pub(super) fn create(
        &mut self,
        parent: u64,
        name: &[u16],
        t: NtTime,
        file: Option<(&Op, u64)>,
    ) -> WriteResult<u64> {
        self.dir(parent)?;
        let (parent_ref, security) = {
            let info = self
                .info
                .get_mut(&parent)
                .expect("loaded with the directory");
            info.stamp = info.stamp.max(t);
            (info.reference, info.security.clone())
        };
        let (n, seq) = self.new_record()?;
        let mut attrs = Vec::new();
        let mut inst = 0u16;
        let mut next = || {
            inst += 1;
            inst - 1
        };
        attrs.push(encode::resident(
            kind::STANDARD_INFORMATION,
            &[],
            next(),
            false,
            &encode::standard_information(t, ATTR_ARCHIVE, security.id),
        ));
        let fn_inst = next();
        let sd_inst = security.descriptor.as_ref().map(|_| next());
        let body_inst = next();
        let is_dir = file.is_none();
        let (body, allocated, size) = match file {
            None => {
                let mut v = self.root_fixed.to_vec();
                v.extend_from_slice(&encode::node_header(0x10, 0x10, 0x10, false));
                v.extend(encode::index_entry(0, &[], None, true));
                (
                    encode::resident(kind::INDEX_ROOT, &I30, body_inst, false, &v),
                    0,
                    0,
                )
            }
            Some((op, len)) => {
                // Header, SI (0x60), FN, SD (up to 0x18 + 80), $DATA header, end.
                let fixed = encode::first_attribute(self.rs)
                    + 0x60
                    + align8(0x18 + 0x42 + 2 * name.len())
                    + 0x70
                    + 0x18
                    + 8;
                self.file_data(op, len, body_inst, fixed)?
            }
        };
        let attributes = if is_dir {
            ATTR_ARCHIVE | attr::FILE_ATTR_DIRECTORY
        } else {
            ATTR_ARCHIVE
        };
        let key = encode::file_name(&encode::Name {
            parent: parent_ref,
            time: t,
            allocated,
            size,
            attributes,
            namespace: attr::namespace::POSIX,
            name,
        });
        attrs.push(encode::resident(kind::FILE_NAME, &[], fn_inst, true, &key));
        if let (Some(sd), Some(i)) = (&security.descriptor, sd_inst) {
            attrs.push(encode::resident(SECURITY_DESCRIPTOR, &[], i, false, sd));
        }
        let body_len = body.len();
        attrs.push(body);
        let h = encode::RecordHeader {
            number: n,
            sequence: seq,
            links: 1,
            flags: rec::IN_USE | if is_dir { rec::DIRECTORY } else { 0 },
            next_instance: inst,
        };
        let b = encode::record(self.rs, &h, &attrs).ok_or_else(|| {
            WriteError::Unsupported(format!(
                "the record of {} does not fit in {} bytes",
                String::from_utf16_lossy(name),
                self.rs
            ))
        })?;
        let used = ddgz_disk::bytes::le32(&b, 0x18) as usize;
        self.write_record(n, b)?;
        let reference = n | u64::from(seq) << 48;
        if is_dir {
            // The record's room for the index attributes: all but the others.
            let room = self.rs.saturating_sub(used - body_len);
            self.dirs
                .insert(n, DirIndex::empty(n, self.root_fixed, self.cs(), room));
            self.info.insert(
                n,
                DirInfo {
                    reference,
                    security: Security {
                        id: security.id,
                        descriptor: security.descriptor.clone(),
                    },
                    stamp: 0,
                },
            );
        }
        let up = self.vol.upcase().clone();
        let entry = IEntry {
            file: reference,
            key,
            name: name.to_vec(),
            child: None,
        };
        let ix = self.dirs.remove(&parent).expect("loaded above");
        let mut ix = ix;
        let r = ix.insert(entry, &up, &mut self.clusters);
        self.dirs.insert(parent, ix);
        r?;
        Ok(n)
    }

    /// The `$DATA` attribute of a new file of `len` bytes from `op.src`: resident when a
    /// record holds it, else in new clusters. Returns it with the allocated and data sizes.
    pub(super) fn file_data(
        &mut self,
        op: &Op,
        len: u64,
        inst: u16,
        fixed: usize,
    ) -> WriteResult<(Vec<u8>, u64, u64)> {
        let src_err = |e: std::io::Error| WriteError::Source {
            path: op.src.clone(),
            what: "cannot be read".into(),
            source: Some(e),
        };
        let mut f = std::fs::File::open(&op.src).map_err(src_err)?;
        if (len as usize).saturating_add(fixed) <= self.rs && len < 4096 {
            let mut v = Vec::with_capacity(len as usize);
            f.by_ref()
                .take(len + 1)
                .read_to_end(&mut v)
                .map_err(src_err)?;
            if v.len() as u64 != len {
                return Err(changed(op, len));
            }
            let a = encode::resident(kind::DATA, &[], inst, false, &v);
            return Ok((a, align8(v.len()) as u64, len));
        }
        let cs = self.cs();
        let n = len.div_ceil(cs);
        let shown = op.dest.join("/");
        let pieces = self.clusters.alloc(n, &format!("the data of {shown}"))?;
        let mut runs = Vec::new();
        append_runs(&mut runs, 0, &pieces);
        let mut buf = vec![0u8; PIECE.min((n * cs) as usize).max(1)];
        let mut at = 0u64;
        let total = n * cs;
        while at < total {
            let want = buf.len().min((total - at) as usize);
            let b = &mut buf[..want];
            let real = len.saturating_sub(at).min(want as u64) as usize;
            f.read_exact(&mut b[..real]).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    changed(op, len)
                } else {
                    src_err(e)
                }
            })?;
            b[real..].fill(0);
            self.write_runs(&runs, at, b, &shown)?;
            at += want as u64;
        }
        let a = encode::non_resident(
            kind::DATA,
            &[],
            inst,
            0,
            &runs,
            Sizes {
                allocated: total,
                data: len,
                initialized: len,
            },
        );
        Ok((a, total, len))
    }

    /// Replaces the unnamed `$DATA` of the existing file `e` in directory `parent` with
    /// `op`'s bytes: its clusters freed, the new data resident or in new clusters, its
    /// `$FILE_NAME`s and the parent's index entries given the new sizes and times. Only
    /// the plain case: one name, all attributes in the base record, `$DATA` neither
    /// compressed, encrypted nor sparse.
    pub(super) fn replace_file(
        &mut self,
        parent: u64,
        e: &IEntry,
        op: &Op,
        len: u64,
        t: NtTime,
        shown: &str,
    ) -> WriteResult<()> {
        let n = e.file & 0xFFFF_FFFF_FFFF;
        let unsupported =
            |why: &str| WriteError::Unsupported(format!("--replace of {shown}: {why}"));
        let f = self.vol.file(n)?;
        if f.is_directory() {
            return Err(unsupported("it is a directory"));
        }
        if f.link_count != 1 || f.attributes.iter().any(|(r, _)| *r != n) {
            return Err(unsupported("it has several names or several MFT records"));
        }
        let r = self.vol.record(n)?;
        let attrs = r.attributes(self.vol.boot().total_clusters)?;
        let data = find_attr(&attrs, kind::DATA, &[])
            .ok_or_else(|| unsupported("it has no unnamed $DATA"))?;
        if data.flags & (attr::FLAG_COMPRESSED | attr::FLAG_ENCRYPTED | attr::FLAG_SPARSE) != 0 {
            return Err(unsupported("its data is compressed, encrypted or sparse"));
        }
        if attrs.iter().any(|a| a.type_code == kind::REPARSE_POINT) {
            return Err(unsupported("it is a reparse point"));
        }
        if let Value::NonResident(nr) = &data.value {
            for run in &nr.runs {
                if let Some(l) = run.lcn {
                    self.clusters.bits.clear_run(l, run.len);
                }
            }
        }
        let fixed = r.bytes_in_use as usize - data.length as usize + 0x18;
        let (new_data, allocated, size) = self.file_data(op, len, data.instance, fixed)?;
        self.info
            .get_mut(&parent)
            .expect("a loaded directory")
            .stamp = self.info[&parent].stamp.max(t);
        let patch_name = |v: &mut Vec<u8>| {
            if v.len() >= 0x38 {
                encode::put64(v, 0x10, t);
                encode::put64(v, 0x18, t);
                encode::put64(v, 0x28, allocated);
                encode::put64(v, 0x30, size);
            }
        };
        let mut keys = Vec::new();
        let mut list = Vec::new();
        for a in &attrs {
            let raw = r.bytes[a.offset..a.offset + a.length as usize].to_vec();
            list.push(match (a.type_code, &a.value) {
                (kind::DATA, _) if a.name.is_empty() => new_data.clone(),
                (kind::FILE_NAME, Value::Resident(v)) => {
                    let mut v = v.clone();
                    patch_name(&mut v);
                    keys.push(v.clone());
                    encode::resident(kind::FILE_NAME, &a.name, a.instance, true, &v)
                }
                (kind::STANDARD_INFORMATION, Value::Resident(v)) => {
                    let mut v = v.clone();
                    if v.len() >= 0x20 {
                        encode::put64(&mut v, 0x08, t);
                        encode::put64(&mut v, 0x10, t);
                    }
                    encode::resident(kind::STANDARD_INFORMATION, &a.name, a.instance, false, &v)
                }
                _ => raw,
            });
        }
        let b = rebuild(&r, &list, r.next_instance, self.rs)
            .ok_or_else(|| unsupported("its record is full"))?;
        self.write_record(n, b)?;
        let up = self.vol.upcase().clone();
        let ix = self.dir(parent)?;
        for k in keys {
            let name = attr::FileName::parse(&k)?.name;
            ix.set_key(&name, k, &up)?;
        }
        Ok(())
    }
}

/// A source file whose length changed while it was read.
fn changed(op: &Op, len: u64) -> WriteError {
    WriteError::Source {
        path: op.src.clone(),
        what: format!("changed while it was read (it had {len} bytes)"),
        source: None,
    }
}
