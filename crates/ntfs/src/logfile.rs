//! `$LogFile` state: whether the volume was left with journal work pending.
//!
//! The log starts with two restart pages (`"RSTR"`, or `"CHKD"` after chkdsk), each
//! protected by an update-sequence array: 0x10 system page size (u32), 0x14 log page size
//! (u32), 0x18 restart area offset (u16). The restart area: 0x00 current LSN (u64), 0x08
//! log clients (u16), 0x0A free client list, 0x0C in-use client list (u16, 0xFFFF:
//! none), 0x0E flags (u16, 0x0002: volume is clean). As ntfs-3g decides: the log is clean
//! when it is all 0xFF (emptied), or when the newer restart area has no client in use or
//! says the volume is clean.

use ddgz_disk::bytes::{le16, le32, le64};

use crate::fixup;

/// Restart area flag: the volume was cleanly shut down.
const RESTART_VOLUME_IS_CLEAN: u16 = 0x0002;
/// No client in the list.
const NO_CLIENT: u16 = 0xFFFF;

/// What the start of `$LogFile` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// Nothing to replay (all 0xFF, or a clean restart area).
    Clean,
    /// A client is still in use without the clean flag: Windows would replay the log;
    /// ntfs-3g refuses to mount it read-write (or resets it, losing the work).
    NeedsReplay {
        /// The current LSN of the restart area read.
        lsn: u64,
    },
    /// The restart pages cannot be read; said why.
    Unreadable(String),
}

/// Decides from the first two restart pages of `$LogFile` (`head`, at least 8 KiB when
/// the log is that long).
pub fn state(head: &[u8]) -> LogState {
    if head.iter().all(|&b| b == 0xFF) {
        return LogState::Clean;
    }
    let mut best: Option<(u64, bool)> = None;
    let mut why = String::from("no restart page");
    let mut at = 0usize;
    while at + 512 <= head.len() && at <= 64 << 10 {
        match restart(&head[at..]) {
            Ok((lsn, clean, page)) => {
                if best.is_none_or(|b| lsn > b.0) {
                    best = Some((lsn, clean));
                }
                if at == 0 {
                    at = page;
                    continue;
                }
                break;
            }
            Err(m) => {
                why = format!("restart page at byte {at}: {m}");
                if at == 0 {
                    at = 4096;
                    continue;
                }
                break;
            }
        }
    }
    match best {
        Some((_, true)) => LogState::Clean,
        Some((lsn, false)) => LogState::NeedsReplay { lsn },
        None => LogState::Unreadable(why),
    }
}

/// One restart page at the start of `b`: (current LSN, clean, system page size).
fn restart(b: &[u8]) -> Result<(u64, bool, usize), String> {
    if &b[..4] != b"RSTR" && &b[..4] != b"CHKD" {
        return Err(format!("no \"RSTR\" magic (found {:02x?})", &b[..4]));
    }
    let page = le32(b, 0x10) as usize;
    if !page.is_power_of_two() || !(512..=64 << 10).contains(&page) || page > b.len() {
        return Err(format!("system page size {page}"));
    }
    let mut p = b[..page].to_vec();
    fixup::unprotect(&mut p)?;
    let ra = usize::from(le16(&p, 0x18));
    if ra < 0x1E || ra + 0x10 > page {
        return Err(format!("restart area at byte {ra} of a {page}-byte page"));
    }
    let lsn = le64(&p, ra);
    let in_use = le16(&p, ra + 0x0C);
    let flags = le16(&p, ra + 0x0E);
    Ok((
        lsn,
        in_use == NO_CLIENT || flags & RESTART_VOLUME_IS_CLEAN != 0,
        page,
    ))
}
