//! Partition-table findings: protective MBR, both GPT headers and entry arrays, their
//! agreement, and the partitions' placement (UEFI 2.10, sections 5.2.3 and 5.3).

use ddgz_disk::Disk;

use crate::{gpt, mbr, Error, Finding, Partition, Table, TableSource, SECTOR};

/// What the table-level checks found, with the table they settled on (if any).
pub(crate) struct TableCheck {
    pub table: Option<Table>,
    pub findings: Vec<Finding>,
}

fn describe_disk(sectors: u64, size: u64) -> String {
    format!("{sectors} sectors ({size} bytes)")
}

/// Runs every table-level check.
pub(crate) fn check_table(disk: &dyn Disk) -> Result<TableCheck, Error> {
    let mut f = Vec::new();
    let size = disk.size();
    let sectors = size / SECTOR;
    if size % SECTOR != 0 {
        f.push(Finding::warning(
            "disk-size-unaligned",
            None,
            format!("the disk size {size} is not a multiple of 512 bytes"),
        ));
    }
    let scan = gpt::scan(disk)?;
    let pmbr = mbr::read_mbr(disk)?;
    let signature = scan.primary.as_ref().map_or_else(|u| u.signature, |_| true)
        || scan.backup.as_ref().map_or_else(|u| u.signature, |_| true);

    if !signature {
        // A GPT for 4096-byte sectors has its header at byte 4096.
        if size >= 8192 {
            let mut sig = [0u8; 8];
            disk.read_at(4096, &mut sig)?;
            if sig == gpt::SIGNATURE {
                f.push(Finding::error("gpt-4k-sectors", 
                    None,
                    "GPT for 4096-byte sectors (header at byte 4096): only 512-byte sectors are supported",
                ));
                return Ok(TableCheck {
                    table: None,
                    findings: f,
                });
            }
        }
        return Ok(match pmbr {
            Some(m) if !m.entries.is_empty() && !m.is_protective() => {
                f.push(Finding::info(
                    "mbr-only",
                    None,
                    "MBR partition table only (no GPT)",
                ));
                let table = ddgz_partitions::table_from_mbr(&m);
                check_placement(&table, size, &mut f);
                TableCheck {
                    table: Some(table),
                    findings: f,
                }
            }
            Some(m) if m.is_protective() => {
                f.push(Finding::error("gpt-missing", 
                    None,
                    format!(
                        "protective MBR announces a GPT, but there is no GPT header at LBA 1 or at the last LBA {}",
                        sectors.saturating_sub(1)
                    ),
                ));
                TableCheck {
                    table: None,
                    findings: f,
                }
            }
            _ => {
                f.push(Finding::error("no-partition-table", 
                    None,
                    "no partition table: no GPT header at LBA 1 or at the last LBA, and no MBR partition entries",
                ));
                TableCheck {
                    table: None,
                    findings: f,
                }
            }
        });
    }

    // Protective MBR.
    match &pmbr {
        None => f.push(Finding::warning("pmbr-missing", 
            None,
            "no protective MBR at LBA 0 (boot signature 55 AA missing): some tools will not see the GPT",
        )),
        Some(m) if !m.is_protective() => f.push(Finding::warning("pmbr-not-protective", 
            None,
            "the MBR at LBA 0 has no protective entry (type 0xEE): some tools will not see the GPT",
        )),
        Some(m) => {
            if m.entries.len() > 1 {
                f.push(Finding::warning("pmbr-hybrid", 
                    None,
                    format!(
                        "hybrid MBR: the protective MBR has {} entries besides the 0xEE one",
                        m.entries.len() - 1
                    ),
                ));
            }
            if let Some(e) = m.entries.iter().find(|e| e.kind == mbr::TYPE_GPT_PROTECTIVE) {
                if e.first_lba != 1 {
                    f.push(Finding::warning("pmbr-start", 
                        None,
                        format!(
                            "protective MBR entry starts at LBA {}; it should start at LBA 1",
                            e.first_lba
                        ),
                    ));
                }
            }
        }
    }

    let last = sectors.saturating_sub(1);
    let table = match (&scan.primary, &scan.backup) {
        (Ok(p), backup) => {
            for n in &p.notes {
                f.push(Finding::warning("gpt-header-note", None, n.clone()));
            }
            let alt = p.header.alternate_lba;
            if alt >= sectors {
                f.push(Finding::error("image-truncated", 
                    None,
                    format!(
                        "image truncated: the primary GPT puts the backup header at LBA {alt}, but the image has {}",
                        describe_disk(sectors, size)
                    ),
                ));
            } else {
                if alt != last {
                    f.push(Finding::warning("gpt-backup-misplaced", 
                        None,
                        format!(
                            "the primary GPT puts the backup header at LBA {alt}, not at the last LBA {last}"
                        ),
                    ));
                }
                match backup {
                    Err(u) => f.push(Finding::warning("gpt-backup-damaged", 
                        None,
                        format!(
                            "backup GPT damaged ({u}); the primary is intact (`sgdisk -e` or `partedUtil fixGpt` rewrites the backup)"
                        ),
                    )),
                    Ok(b) => compare(p, b, &mut f),
                }
            }
            ddgz_partitions::table_from_gpt(p, TableSource::GptPrimary)
        }
        (Err(u), Ok(b)) => {
            for n in &b.notes {
                f.push(Finding::warning("gpt-header-note", None, n.clone()));
            }
            f.push(Finding::warning("gpt-primary-damaged", 
                None,
                format!(
                    "primary GPT damaged ({u}); using the intact backup at LBA {} (`sgdisk` or `partedUtil fixGpt` restores the primary from it)",
                    scan.backup_lba
                ),
            ));
            ddgz_partitions::table_from_gpt(b, TableSource::GptBackup)
        }
        (Err(pu), Err(bu)) => {
            let truncated = if pu.signature && !bu.signature {
                " — is the image truncated?"
            } else {
                ""
            };
            f.push(Finding::error(
                "gpt-damaged",
                None,
                format!(
                    "GPT damaged: primary: {pu}; backup (LBA {}): {bu}{truncated}",
                    scan.backup_lba
                ),
            ));
            return Ok(TableCheck {
                table: None,
                findings: f,
            });
        }
    };
    check_placement(&table, size, &mut f);
    Ok(TableCheck {
        table: Some(table),
        findings: f,
    })
}

/// Primary and backup must describe the same disk.
fn compare(p: &gpt::Gpt, b: &gpt::Gpt, f: &mut Vec<Finding>) {
    let (ph, bh) = (&p.header, &b.header);
    let mut diffs = Vec::new();
    if bh.alternate_lba != ph.my_lba {
        diffs.push(format!(
            "the backup points to the primary at LBA {} (not 1)",
            bh.alternate_lba
        ));
    }
    if ph.disk_guid != bh.disk_guid {
        diffs.push(format!("disk GUID {} vs {}", ph.disk_guid, bh.disk_guid));
    }
    if (ph.first_usable_lba, ph.last_usable_lba) != (bh.first_usable_lba, bh.last_usable_lba) {
        diffs.push(format!(
            "usable LBAs {}..={} vs {}..={}",
            ph.first_usable_lba, ph.last_usable_lba, bh.first_usable_lba, bh.last_usable_lba
        ));
    }
    if (ph.num_entries, ph.entry_size, ph.entries_crc)
        != (bh.num_entries, bh.entry_size, bh.entries_crc)
        || p.entries != b.entries
    {
        diffs.push("the partition entries differ".into());
    }
    if !diffs.is_empty() {
        f.push(Finding::warning(
            "gpt-copies-differ",
            None,
            format!(
                "primary and backup GPT disagree: {} (the primary is used)",
                diffs.join("; ")
            ),
        ));
    }
}

/// Partitions must be proper ranges, inside the usable LBAs and the disk, and not overlap.
pub(crate) fn check_placement(t: &Table, size: u64, f: &mut Vec<Finding>) {
    let sectors = size / SECTOR;
    let mut ranges: Vec<&Partition> = Vec::new();
    for p in &t.partitions {
        if p.last_lba < p.first_lba {
            f.push(Finding::error(
                "partition-range-inverted",
                Some(p.number),
                format!(
                    "last LBA {} is before first LBA {}",
                    p.last_lba, p.first_lba
                ),
            ));
            continue;
        }
        if let (Some(lo), Some(hi)) = (t.first_usable_lba, t.last_usable_lba) {
            if p.first_lba < lo || p.last_lba > hi {
                f.push(Finding::error(
                    "partition-outside-usable",
                    Some(p.number),
                    format!(
                        "LBA {}..={} lies outside the GPT's usable range {lo}..={hi}",
                        p.first_lba, p.last_lba
                    ),
                ));
            }
        }
        if p.last_lba >= sectors {
            f.push(Finding::error(
                "partition-past-end",
                Some(p.number),
                format!(
                    "LBA {}..={} extends past the end of the disk ({})",
                    p.first_lba,
                    p.last_lba,
                    describe_disk(sectors, size)
                ),
            ));
        }
        if let crate::PartitionType::Mbr(k) = p.kind {
            if matches!(k, 0x05 | 0x0F | 0x85) {
                continue; // an extended container overlaps its logical partitions
            }
        }
        ranges.push(p);
    }
    ranges.sort_by_key(|p| p.first_lba);
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            if b.first_lba > a.last_lba {
                break;
            }
            f.push(Finding::error(
                "partitions-overlap",
                Some(b.number),
                format!(
                    "partitions {} (LBA {}..={}) and {} (LBA {}..={}) overlap",
                    a.number, a.first_lba, a.last_lba, b.number, b.first_lba, b.last_lba
                ),
            ));
        }
    }
}
