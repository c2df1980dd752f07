//! The log ([MS-VHDX] 2.3): a circular buffer of 4 KiB sectors where metadata writes are
//! journalled before they reach their place in the file. A non-zero log GUID in the
//! current header means the log may hold writes that never reached the file; a reader
//! must replay them first. QEMU replays them only when it may write the file and refuses
//! a read-only open; we replay them in memory ([`crate::view::View`]) and never write.
//!
//! ```text
//! entry header (64 bytes): "loge", checksum (CRC-32C over the whole entry), entry
//!   length u32 (multiple of 4 KiB), tail u32 (log offset of the sequence's first
//!   entry), sequence number u64 (> 0), descriptor count u32, reserved u32, log GUID,
//!   flushed file offset u64, last file offset u64
//! descriptors (32 bytes, from byte 64, 126 in the first sector, 128 in the next ones):
//!   "desc": trailing bytes u32, leading bytes u64, file offset u64, sequence u64
//!   "zero": reserved u32, zero length u64, file offset u64, sequence u64
//! data sectors (4 KiB, after the descriptor sectors, one per "desc" in order):
//!   "data", sequence high u32, bytes 8..4092 of the sector, sequence low u32
//! ```
//!
//! The active sequence is the one whose last entry (the head) has the highest sequence
//! number among those whose tail leads, entry by entry with sequence numbers rising by
//! one, back to the head; its entries are applied from the tail to the head.

use std::collections::HashMap;

use crate::header::{guid_at, le32, le64, Header, HEADER_SECTION};
use crate::view::Patch;
use ddgz_disk::crc32c;
use ddgz_disk::{Problem, ReaderKind as ErrorKind};

const SECTOR: usize = 4096;
/// Largest log read into memory to be replayed: 64 MiB. Our limit; QEMU and Hyper-V
/// make 1 MiB logs. A replay costs what the log really holds: the log region while it is
/// parsed (entries in place, copied only when one wraps), then 56 bytes per write it
/// replays (plus 4 KiB per data write), so half a million writes over 64 TiB take 49 MiB.
pub(crate) const MAX_LOG: u32 = 64 << 20;
/// Largest file offset a log may write: 2^50 (a sanity bound, far past any VHDX).
const MAX_OFFSET: u64 = 1 << 50;

/// A valid entry of the log.
#[derive(Debug, Clone)]
struct Entry {
    pos: usize,
    len: usize,
    tail: usize,
    seq: u64,
    flushed: u64,
    last: u64,
    patches: Vec<Patch>,
}

/// What replaying the log gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replay {
    pub patches: Vec<Patch>,
    /// The file size the log leaves (its last file offset, rounded up to 1 MiB).
    pub size: u64,
    /// Entries replayed, and the sequence numbers of the first and last.
    pub entries: usize,
    pub first_seq: u64,
    pub last_seq: u64,
}

fn log_problem(m: impl Into<String>) -> Problem {
    Problem::new(ErrorKind::Log, m)
}

/// Checks the log fields of the current header (as QEMU does, whether or not a log is
/// present) and says whether a log must be looked at: `Some((offset, length))`.
pub(crate) fn location(h: &Header, file_size: u64) -> Result<Option<(u64, u32)>, Problem> {
    if h.log_offset < HEADER_SECTION || h.log_offset % (1 << 20) != 0 {
        return Err(Problem::invalid(format!(
            "log offset 0x{:x}: must be a multiple of 1 MiB past the header section",
            h.log_offset
        )));
    }
    if h.log_version != 0 {
        return Err(Problem::unsupported(format!(
            "log version {}; only 0 is read",
            h.log_version
        )));
    }
    if h.log_guid == [0; 16] || h.log_length == 0 {
        return Ok(None);
    }
    if h.log_length % (1 << 20) != 0 {
        return Err(Problem::invalid(format!(
            "log length {}: must be a multiple of 1 MiB",
            h.log_length
        )));
    }
    if h.log_offset + u64::from(h.log_length) > file_size {
        return Err(Problem::corrupt(format!(
            "log at 0x{:x} ({} bytes) lies past the end of the file (size 0x{file_size:x})",
            h.log_offset, h.log_length
        )));
    }
    if h.log_length > MAX_LOG {
        return Err(log_problem(format!(
            "the log needs replaying (log GUID set) and is {} bytes; the limit for a replay \
             in memory is {MAX_LOG}",
            h.log_length
        )));
    }
    Ok(Some((h.log_offset, h.log_length)))
}

/// Parses the entry at `pos` of `log` (wrapping around its end), `None` if it is not a
/// valid entry of this log.
fn entry_at(log: &[u8], pos: usize, guid: &[u8; 16]) -> Option<Entry> {
    let n = log.len();
    let first = &log[pos..pos + SECTOR];
    if &first[..4] != b"loge" {
        return None;
    }
    let len = le32(first, 8) as usize;
    let seq = le64(first, 16);
    let count = le32(first, 24) as usize;
    if len == 0 || len % SECTOR != 0 || len > n || seq == 0 || guid_at(first, 32) != *guid {
        return None;
    }
    let desc_sectors = (count + 2).div_ceil(128);
    let sectors = len / SECTOR;
    if desc_sectors > sectors {
        return None;
    }
    // The whole entry, contiguous: borrowed, or copied if it wraps around the end of the
    // log (so an entry costs its size in memory only when it wraps).
    let e: std::borrow::Cow<[u8]> = if pos + len <= n {
        std::borrow::Cow::Borrowed(&log[pos..pos + len])
    } else {
        let mut e = Vec::with_capacity(len);
        for k in 0..sectors {
            let at = (pos + k * SECTOR) % n;
            e.extend_from_slice(&log[at..at + SECTOR]);
        }
        std::borrow::Cow::Owned(e)
    };
    if !crc32c::valid(&e, 4) {
        return None;
    }
    let mut patches = Vec::with_capacity(count);
    let mut data = desc_sectors;
    for i in 0..count {
        let d = &e[64 + i * 32..96 + i * 32];
        let offset = le64(d, 16);
        if le64(d, 24) != seq || offset % SECTOR as u64 != 0 || offset > MAX_OFFSET {
            return None;
        }
        match &d[..4] {
            b"zero" => {
                let zlen = le64(d, 8);
                if zlen % SECTOR as u64 != 0 || zlen > MAX_OFFSET {
                    return None;
                }
                patches.push(Patch::Zero { offset, len: zlen });
            }
            b"desc" => {
                if data >= sectors {
                    return None;
                }
                let s = &e[data * SECTOR..(data + 1) * SECTOR];
                let sseq = (u64::from(le32(s, 4)) << 32) | u64::from(le32(s, 4092));
                if &s[..4] != b"data" || sseq != seq {
                    return None;
                }
                let mut bytes = vec![0u8; SECTOR];
                bytes[..8].copy_from_slice(&d[8..16]);
                bytes[8..4092].copy_from_slice(&s[8..4092]);
                bytes[4092..].copy_from_slice(&d[4..8]);
                patches.push(Patch::Data {
                    offset,
                    bytes: bytes.into(),
                });
                data += 1;
            }
            _ => return None,
        }
    }
    Some(Entry {
        pos,
        len,
        tail: le32(first, 12) as usize,
        seq,
        flushed: le64(first, 48),
        last: le64(first, 56),
        patches,
    })
}

/// Finds the active sequence of `log` (the log region's bytes) and turns it into
/// patches; `None` if the log holds no valid sequence (nothing to replay).
pub(crate) fn replay(
    log: &[u8],
    guid: &[u8; 16],
    file_size: u64,
) -> Result<Option<Replay>, Problem> {
    let mut entries: Vec<Entry> = (0..log.len())
        .step_by(SECTOR)
        .filter_map(|p| entry_at(log, p, guid))
        .collect();
    let by_pos: HashMap<usize, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.pos, i))
        .collect();
    let mut heads: Vec<&Entry> = entries.iter().collect();
    heads.sort_by_key(|e| std::cmp::Reverse(e.seq));
    let chain: Option<Vec<usize>> = heads.iter().find_map(|head| {
        let mut out = Vec::new();
        let mut pos = head.tail;
        let mut seq = None;
        for _ in 0..entries.len() {
            let i = *by_pos.get(&pos)?;
            let e = &entries[i];
            if seq.is_some_and(|s: u64| e.seq != s + 1) {
                return None;
            }
            out.push(i);
            if e.pos == head.pos {
                return (e.seq == head.seq).then_some(out);
            }
            seq = Some(e.seq);
            pos = (e.pos + e.len) % log.len();
        }
        None
    });
    let Some(chain) = chain else {
        return Ok(None);
    };
    let mut patches = Vec::new();
    let mut size = file_size;
    let (first_seq, last_seq) = (entries[chain[0]].seq, entries[chain[chain.len() - 1]].seq);
    for &i in &chain {
        let e = &mut entries[i];
        if e.flushed > file_size {
            return Err(log_problem(format!(
                "log entry {} says the file was 0x{:x} bytes when flushed, but it is 0x{file_size:x}: \
                 the file was truncated after the log was written",
                e.seq, e.flushed
            )));
        }
        // Moved, not copied: half a million writes are 16 MiB of patches.
        let mine = std::mem::take(&mut e.patches);
        if patches.is_empty() {
            patches = mine;
        } else {
            patches.extend(mine);
        }
        if e.last > size {
            size = e.last.min(MAX_OFFSET).next_multiple_of(1 << 20);
        }
    }
    Ok(Some(Replay {
        patches,
        size,
        entries: chain.len(),
        first_seq,
        last_seq,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds one log entry at log position `pos` with `writes` (offset, 4 KiB of data or
    /// None for a zero descriptor of 4 KiB).
    pub(crate) fn entry(
        guid: &[u8; 16],
        seq: u64,
        tail: u32,
        writes: &[(u64, Option<Vec<u8>>)],
        file_size: u64,
    ) -> Vec<u8> {
        let count = writes.len();
        let desc_sectors = (count + 2).div_ceil(128);
        let data: Vec<&Vec<u8>> = writes.iter().filter_map(|w| w.1.as_ref()).collect();
        let len = (desc_sectors + data.len()) * SECTOR;
        let mut e = vec![0u8; len];
        e[..4].copy_from_slice(b"loge");
        e[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        e[12..16].copy_from_slice(&tail.to_le_bytes());
        e[16..24].copy_from_slice(&seq.to_le_bytes());
        e[24..28].copy_from_slice(&(count as u32).to_le_bytes());
        e[32..48].copy_from_slice(guid);
        e[48..56].copy_from_slice(&file_size.to_le_bytes());
        e[56..64].copy_from_slice(&file_size.to_le_bytes());
        let mut k = 0;
        for (i, (off, w)) in writes.iter().enumerate() {
            let d = 64 + i * 32;
            e[d + 16..d + 24].copy_from_slice(&off.to_le_bytes());
            e[d + 24..d + 32].copy_from_slice(&seq.to_le_bytes());
            match w {
                None => {
                    e[d..d + 4].copy_from_slice(b"zero");
                    e[d + 8..d + 16].copy_from_slice(&4096u64.to_le_bytes());
                }
                Some(bytes) => {
                    e[d..d + 4].copy_from_slice(b"desc");
                    e[d + 4..d + 8].copy_from_slice(&bytes[4092..]);
                    e[d + 8..d + 16].copy_from_slice(&bytes[..8]);
                    let s = (desc_sectors + k) * SECTOR;
                    e[s..s + 4].copy_from_slice(b"data");
                    e[s + 4..s + 8].copy_from_slice(&((seq >> 32) as u32).to_le_bytes());
                    e[s + 8..s + 4092].copy_from_slice(&bytes[8..4092]);
                    e[s + 4092..s + 4096].copy_from_slice(&(seq as u32).to_le_bytes());
                    k += 1;
                }
            }
        }
        let c = crc32c::crc32c_zeroed(&e, 4);
        e[4..8].copy_from_slice(&c.to_le_bytes());
        e
    }

    #[test]
    fn finds_the_active_sequence_and_replays_it() {
        let g = [7u8; 16];
        let mut log = vec![0u8; 1 << 20];
        // An old sequence (seq 3) at 0, and the active one: seq 10 at 64 KiB, seq 11
        // wrapping around the end of the log, its tail pointing to seq 10.
        let old = entry(&g, 3, 0, &[(1 << 20, Some(vec![1; 4096]))], 5 << 20);
        log[..old.len()].copy_from_slice(&old);
        let a = entry(&g, 10, 0x10000, &[(2 << 20, Some(vec![2; 4096]))], 5 << 20);
        log[0x10000..0x10000 + a.len()].copy_from_slice(&a);
        let b = entry(
            &g,
            11,
            0x10000,
            &[(2 << 20, Some(vec![3; 4096])), (3 << 20, None)],
            5 << 20,
        );
        // Place b so that it wraps: its first sector is the log's last one.
        let at = (1 << 20) - SECTOR;
        log[at..].copy_from_slice(&b[..SECTOR]);
        log[..b.len() - SECTOR].copy_from_slice(&b[SECTOR..]);
        // a's next entry must be b: make a end where b starts by giving a a length that
        // reaches the end of the log.
        let a_len = at - 0x10000;
        let a = {
            let mut writes: Vec<(u64, Option<Vec<u8>>)> = vec![(2 << 20, Some(vec![2; 4096]))];
            // Pad with data descriptors so that a fills up to `at`.
            while (writes.len() + 2).div_ceil(128) * SECTOR
                + writes.iter().filter(|w| w.1.is_some()).count() * SECTOR
                < a_len
            {
                writes.push((4 << 20, Some(vec![4; 4096])));
            }
            entry(&g, 10, 0x10000, &writes, 5 << 20)
        };
        assert_eq!(a.len(), a_len);
        log[0x10000..0x10000 + a.len()].copy_from_slice(&a);
        // The old entry at 0 was overwritten by b's wrapped part: that is fine.
        let r = replay(&log, &g, 5 << 20).unwrap().unwrap();
        assert_eq!((r.entries, r.first_seq, r.last_seq), (2, 10, 11));
        let last_data = r
            .patches
            .iter()
            .rev()
            .find(|p| matches!(p, Patch::Data { offset, .. } if *offset == 2 << 20))
            .unwrap();
        assert!(matches!(last_data, Patch::Data { bytes, .. } if bytes[0] == 3));
        assert!(r.patches.contains(&Patch::Zero {
            offset: 3 << 20,
            len: 4096
        }));
        // Another GUID: nothing to replay.
        assert_eq!(replay(&log, &[8; 16], 5 << 20).unwrap(), None);
        // A file shorter than the log says it was flushed at.
        let e = replay(&log, &g, 1 << 20).unwrap_err();
        assert!(e.message.contains("truncated"), "{}", e.message);
        // A flipped byte in the head: the head's chain is gone; seq 10 alone has a tail
        // pointing to itself, so it is the active sequence.
        let mut bad = log.clone();
        bad[at + 100] ^= 1;
        let r = replay(&bad, &g, 5 << 20).unwrap().unwrap();
        assert_eq!((r.entries, r.first_seq, r.last_seq), (1, 10, 10));
    }
}
