//! The ESXi release of an image, from the `build=` line of a bootbank's `boot.cfg`.
//!
//! `boot.cfg` is a text file at the root of the bootbank (partition 5) and of the
//! altbootbank (partition 6), one `key=value` per line. Its `build=` line is the release
//! followed by the build number, in one of the shapes ESXi has written:
//!
//! | build= | version | build |
//! |---|---|---|
//! | `8.0.3-0.0.24022510` (8.0 GA installs) | 8.0.3 | 24022510 |
//! | `8.0.3-0.35.24280767` (patched) | 8.0.3 | 24280767 |
//! | `8.0.3-24022510` | 8.0.3 | 24022510 |
//! | `6.7.0-8169922` | 6.7.0 | 8169922 |
//!
//! The bootbank is read first; the altbootbank only when the bootbank has no usable
//! `boot.cfg` (a freshly installed image has an empty altbootbank).

use serde::Serialize;

use ddgz_disk::Disk;

use ddgz_content::{Content, PartitionReport};

/// Largest `boot.cfg` read: real ones are under 2 KiB; anything larger is not one.
pub const MAX_BOOT_CFG: u64 = 64 * 1024;

/// The bootbank, then the altbootbank (both layouts number them 5 and 6).
pub const BOOTBANKS: [u32; 2] = [5, 6];

/// An ESXi release and build, as `boot.cfg` states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EsxiVersion {
    /// `major.minor.update`, e.g. `8.0.3`.
    pub version: String,
    /// Major release, e.g. 8.
    pub major: u32,
    /// Minor release, e.g. 0.
    pub minor: u32,
    /// The build number, e.g. `24022510`.
    pub build: String,
    /// The `build=` value as written.
    pub build_line: String,
    /// The partition whose `boot.cfg` says so (5 or 6).
    pub partition: u32,
}

impl EsxiVersion {
    /// `major.minor`, the release part of MAAS's `esxi/<release>` name.
    pub fn release(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

/// Parses a `build=` value: `X.Y.Z-` then dot-separated numbers, the last being the build.
/// Returns `(version, major, minor, build)`; `None` when the shape is not one of ESXi's.
pub fn parse_build(value: &str) -> Option<(String, u32, u32, String)> {
    let value = value.trim();
    let (version, release) = value.split_once('-')?;
    let nums: Vec<&str> = version.split('.').collect();
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if !(2..=4).contains(&nums.len()) || !nums.iter().all(|n| digits(n)) {
        return None;
    }
    let parts: Vec<&str> = release.split('.').collect();
    if parts.is_empty() || !parts.iter().all(|p| digits(p)) {
        return None;
    }
    let build = parts.last()?.to_string();
    Some((
        version.to_string(),
        nums[0].parse().ok()?,
        nums[1].parse().ok()?,
        build,
    ))
}

/// What the bootbanks say about the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Found in one of the bootbanks.
    Found(EsxiVersion),
    /// Not found: why, in words ("no boot.cfg in partition 5 (…) nor in partition 6 (…)").
    Missing(String),
}

/// Why one bootbank gave no version.
fn from_partition(disk: &dyn Disk, p: &PartitionReport) -> Result<EsxiVersion, String> {
    let n = p.partition.number;
    let Content::Fat(fat) = &p.content else {
        return Err(format!("partition {n} holds no FAT filesystem"));
    };
    if !fat.has_root_entry("boot.cfg") {
        return Err(format!("no boot.cfg in partition {n}"));
    }
    let range =
        ddgz_partitions::range_in_disk(&p.partition, disk.size()).map_err(|e| e.to_string())?;
    let text = match ddgz_fat::read_small(disk, range, n, "boot.cfg", MAX_BOOT_CFG) {
        Ok(ddgz_fat::Small::File(b)) => b,
        Ok(ddgz_fat::Small::TooLarge(size)) => {
            return Err(format!(
                "partition {n}: boot.cfg has {size} bytes; at most {MAX_BOOT_CFG} are read"
            ))
        }
        Ok(_) => return Err(format!("no boot.cfg in partition {n}")),
        Err(e) => return Err(format!("partition {n}: boot.cfg: {e}")),
    };
    let text = String::from_utf8_lossy(&text);
    let Some(line) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("build=").map(str::trim))
    else {
        return Err(format!("partition {n}: boot.cfg has no build= line"));
    };
    let Some((version, major, minor, build)) = parse_build(line) else {
        return Err(format!(
            "partition {n}: boot.cfg: build={line:?} is not of the form X.Y.Z-BUILD"
        ));
    };
    Ok(EsxiVersion {
        version,
        major,
        minor,
        build,
        build_line: line.to_string(),
        partition: n,
    })
}

/// The release from the bootbank's `boot.cfg`, else the altbootbank's.
pub fn lookup(disk: &dyn Disk, parts: &[PartitionReport]) -> Lookup {
    let mut why = Vec::new();
    for n in BOOTBANKS {
        match parts.iter().find(|p| p.partition.number == n) {
            None => why.push(format!("no partition {n}")),
            Some(p) => match from_partition(disk, p) {
                Ok(v) => return Lookup::Found(v),
                Err(e) => why.push(e),
            },
        }
    }
    Lookup::Missing(format!("no boot.cfg found: {}", why.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_line_shapes_esxi_writes() {
        let p = parse_build;
        assert_eq!(
            p("8.0.3-0.0.24022510"),
            Some(("8.0.3".into(), 8, 0, "24022510".into()))
        );
        assert_eq!(
            p("8.0.3-24022510"),
            Some(("8.0.3".into(), 8, 0, "24022510".into()))
        );
        assert_eq!(
            p("6.7.0-8169922"),
            Some(("6.7.0".into(), 6, 7, "8169922".into()))
        );
        assert_eq!(
            p(" 7.0.3-0.95.23794027\r"),
            Some(("7.0.3".into(), 7, 0, "23794027".into()))
        );
        for bad in [
            "",
            "8.0.3",
            "8-123",
            "x.0.3-1",
            "8.0.3-",
            "8.0.3-1.a",
            "8.0.3-1..2",
            "99999999999.0-1",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
