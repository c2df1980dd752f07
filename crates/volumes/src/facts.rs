//! What a volume's filesystem says about itself, for `inspect`: label, identity,
//! geometry and whether it was left clean.

use std::ops::Range;

use serde::Serialize;

use crate::detect::{detect, head, unsupported};
use crate::{Place, SharedDisk};

/// `$LogFile`'s state on NTFS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LogFacts {
    /// Nothing to replay.
    Clean,
    /// Windows would replay it; ntfs-3g refuses to mount it read-write.
    NeedsReplay {
        /// The restart area's current LSN.
        lsn: u64,
    },
    /// The restart pages cannot be read.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// A filesystem's facts. Strings are as stored in the image (escape them for a terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Facts {
    /// FAT12/16/32.
    Fat {
        /// `FAT12`, `FAT16`, `FAT32`.
        fat_type: &'static str,
        /// The label, if set.
        label: Option<String>,
        /// `XXXX-XXXX`.
        volume_id: String,
        /// Bytes per cluster.
        cluster_size: u32,
    },
    /// ext2/3/4.
    Ext {
        /// The label (lossy UTF-8).
        label: String,
        /// The filesystem UUID, as blkid shows it.
        uuid: String,
        /// Bytes per block.
        block_size: u32,
        /// Blocks in all.
        blocks: u64,
        /// `s_state`: `clean`, `not clean` (mounted or not unmounted), `errors`.
        state: &'static str,
        /// The journal holds transactions not yet written home (`needs_recovery`).
        needs_recovery: bool,
        /// Of them, transactions the reader replayed in memory.
        replayed_transactions: u64,
    },
    /// XFS.
    Xfs {
        /// 4 or 5 (v5: metadata CRCs).
        version: u8,
        /// The label (lossy UTF-8).
        label: String,
        /// The filesystem UUID.
        uuid: String,
        /// Bytes per block.
        block_size: u32,
        /// Data blocks.
        blocks: u64,
        /// `clean`, or `dirty` (not unmounted cleanly: ddgz does not replay it).
        log: &'static str,
    },
    /// NTFS.
    Ntfs {
        /// `$VOLUME_NAME`.
        label: String,
        /// `3.1` since Windows XP.
        version: String,
        /// Bytes per cluster.
        cluster_size: u32,
        /// Bytes per sector.
        sector_size: u32,
        /// Clusters in the volume.
        total_clusters: u64,
        /// Clusters free in `$Bitmap`.
        free_clusters: u64,
        /// The volume serial number, 16 hex digits as blkid shows it.
        serial: String,
        /// `$VOLUME_INFORMATION` flags.
        flags: u16,
        /// The dirty flag (chkdsk will run).
        dirty: bool,
        /// `$LogFile`.
        log: LogFacts,
        /// `hiberfil.sys` holds a hibernation image (hibernated, or Fast Startup).
        hibernated: bool,
    },
    /// A filesystem ddgz reads, that could not be opened.
    Unreadable {
        /// `FAT`, `ext2/3/4`, `XFS`, `NTFS`.
        filesystem: String,
        /// Why.
        reason: String,
    },
    /// Not a filesystem ddgz reads: what it is.
    Other {
        /// "Linux swap", "an LVM2 physical volume (…)", "VMFS", "blank (all zero)", ….
        what: String,
    },
}

/// 16 bytes as `8-4-4-4-12` lower-case hex.
fn uuid(b: &[u8]) -> String {
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let h = h.concat();
    if h.len() != 32 {
        return h;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(x) = c {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        c = x.source();
    }
    s
}

fn unreadable(fs: &str, e: &dyn std::error::Error) -> Facts {
    Facts::Unreadable {
        filesystem: fs.into(),
        reason: chain(e),
    }
}

/// The facts of whatever `range` of `disk` holds.
pub(crate) fn probe(disk: &SharedDisk<'_>, range: &Range<u64>, place: &Place) -> Facts {
    let head = match head(disk, range, place) {
        Ok(h) => h,
        Err(e) => {
            return Facts::Other {
                what: format!("unreadable: {}", chain(&e)),
            }
        }
    };
    let len = range.end - range.start;
    match detect(disk, range, &head) {
        Some("NTFS") => {
            match ddgz_ntfs::Volume::open(disk.clone(), range.start, len).and_then(|v| v.facts()) {
                Ok(f) => Facts::Ntfs {
                    label: f.label,
                    version: format!("{}.{}", f.version.0, f.version.1),
                    cluster_size: f.cluster_size,
                    sector_size: f.sector_size,
                    total_clusters: f.total_clusters,
                    free_clusters: f.free_clusters,
                    serial: format!("{:016X}", f.serial),
                    flags: f.flags,
                    dirty: f.dirty,
                    log: match f.log {
                        ddgz_ntfs::LogState::Clean => LogFacts::Clean,
                        ddgz_ntfs::LogState::NeedsReplay { lsn } => LogFacts::NeedsReplay { lsn },
                        ddgz_ntfs::LogState::Unreadable(reason) => LogFacts::Unreadable { reason },
                    },
                    hibernated: f.hibernated,
                },
                Err(e) => unreadable("NTFS", &e),
            }
        }
        Some("ext") => match ddgz_ext4::Fs::open(disk.clone(), range.start, len) {
            Ok(fs) => {
                let sb = fs.superblock();
                let raw = &head[1024..2048.min(head.len())];
                let state = raw
                    .get(0x3A..0x3C)
                    .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]));
                Facts::Ext {
                    label: String::from_utf8_lossy(&sb.label).into_owned(),
                    uuid: raw.get(0x68..0x78).map_or_else(String::new, uuid),
                    block_size: sb.block_size,
                    blocks: sb.blocks_count,
                    state: if state & 2 != 0 {
                        "errors"
                    } else if state & 1 != 0 {
                        "clean"
                    } else {
                        "not clean"
                    },
                    // INCOMPAT_RECOVER.
                    needs_recovery: sb.incompat & 0x4 != 0,
                    replayed_transactions: fs.replayed_transactions(),
                }
            }
            Err(e) => unreadable("ext2/3/4", &e),
        },
        Some("XFS") => {
            let (log, sb) = match ddgz_xfs::Fs::open(disk.clone(), range.start, len) {
                Ok(fs) => ("clean", fs.superblock().clone()),
                Err(ddgz_xfs::Error::DirtyLog(_)) => {
                    match ddgz_xfs::Superblock::parse(&head, len) {
                        Ok(sb) => ("dirty", sb),
                        Err(e) => return unreadable("XFS", &e),
                    }
                }
                Err(e) => return unreadable("XFS", &e),
            };
            Facts::Xfs {
                version: sb.version,
                label: String::from_utf8_lossy(&sb.label).into_owned(),
                uuid: uuid(&sb.uuid),
                block_size: sb.block_size,
                blocks: sb.dblocks,
                log,
            }
        }
        Some("FAT") => match ddgz_fat::probe(&**disk, range.clone()) {
            Ok(ddgz_fat::Probe::Fat(i)) => Facts::Fat {
                fat_type: i.fat_type,
                label: i.label,
                volume_id: i.volume_id,
                cluster_size: i.cluster_size,
            },
            Ok(ddgz_fat::Probe::Invalid(reason)) => Facts::Unreadable {
                filesystem: "FAT".into(),
                reason,
            },
            Ok(ddgz_fat::Probe::NotFat) => Facts::Other {
                what: "unknown data".into(),
            },
            Err(e) => unreadable("FAT", &e),
        },
        other => Facts::Other {
            what: unsupported(disk, range, &head, other),
        },
    }
}

impl Facts {
    /// One line for a terminal (strings from the image escaped).
    pub fn describe(&self) -> String {
        let esc = |s: &str| ddgz_disk::escape(s.as_bytes());
        let label = |s: &str| {
            if s.is_empty() {
                "no label".to_string()
            } else {
                format!("label \"{}\"", esc(s))
            }
        };
        let size = |n: u64| ddgz_disk::size::human(n);
        match self {
            Facts::Fat {
                fat_type,
                label: l,
                volume_id,
                cluster_size,
            } => format!(
                "{fat_type}, {}, volume ID {}, {} clusters",
                label(l.as_deref().unwrap_or("")),
                esc(volume_id),
                size(u64::from(*cluster_size))
            ),
            Facts::Ext {
                label: l,
                uuid,
                block_size,
                blocks,
                state,
                needs_recovery,
                replayed_transactions,
            } => {
                let journal = match (needs_recovery, replayed_transactions) {
                    (false, _) => "journal clean".to_string(),
                    (true, n) => {
                        format!("journal needs recovery ({n} transactions replayed in memory)")
                    }
                };
                format!(
                    "ext2/3/4, {}, UUID {uuid}, {} blocks, {} in all, state {state}, {journal}",
                    label(l),
                    size(u64::from(*block_size)),
                    size(blocks.saturating_mul(u64::from(*block_size)))
                )
            }
            Facts::Xfs {
                version,
                label: l,
                uuid,
                block_size,
                blocks,
                log,
            } => format!(
                "XFS v{version}, {}, UUID {uuid}, {} blocks, {} in all, log {log}",
                label(l),
                size(u64::from(*block_size)),
                size(blocks.saturating_mul(u64::from(*block_size)))
            ),
            Facts::Ntfs {
                label: l,
                version,
                cluster_size,
                serial,
                dirty,
                log,
                hibernated,
                total_clusters,
                free_clusters,
                ..
            } => {
                let log = match log {
                    LogFacts::Clean => "$LogFile clean".to_string(),
                    LogFacts::NeedsReplay { lsn } => format!("$LogFile needs replay (LSN {lsn})"),
                    LogFacts::Unreadable { reason } => {
                        format!("$LogFile unreadable: {}", esc(reason))
                    }
                };
                let cs = u64::from(*cluster_size);
                format!(
                    "NTFS {version}, {}, serial {serial}, {} clusters, {} free of {}, {}, {log}, {}",
                    label(l),
                    size(cs),
                    size(free_clusters.saturating_mul(cs)),
                    size(total_clusters.saturating_mul(cs)),
                    if *dirty { "dirty" } else { "clean" },
                    if *hibernated { "hibernated (hiberfil.sys in use)" } else { "not hibernated" }
                )
            }
            Facts::Unreadable { filesystem, reason } => {
                format!("{filesystem}, unreadable: {}", esc(reason))
            }
            Facts::Other { what } => esc(what),
        }
    }
}
