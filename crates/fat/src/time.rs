//! Timestamps: files and directories we create get their source's modification time.
//!
//! Times are stored as UTC (what Linux's vfat driver assumes
//! without a `tz=` option); DOS dates cover 1980..=2107, times outside are clamped.

use std::time::{SystemTime, UNIX_EPOCH};

use fatfs::{Date, DateTime, Time};

/// 1980-01-01 00:00:00, the first DOS time.
const DOS_EPOCH: DateTime = DateTime {
    date: Date {
        year: 1980,
        month: 1,
        day: 1,
    },
    time: Time {
        hour: 0,
        min: 0,
        sec: 0,
        millis: 0,
    },
};

/// Converts to a DOS date and time (UTC), clamped to 1980..=2107.
pub(crate) fn to_dos(t: SystemTime) -> DateTime {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => return DOS_EPOCH,
    };
    let millis = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis() as u16)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    if y < 1980 {
        return DOS_EPOCH;
    }
    if y > 2107 {
        return DateTime {
            date: Date {
                year: 2107,
                month: 12,
                day: 31,
            },
            time: Time {
                hour: 23,
                min: 59,
                sec: 58,
                millis: 0,
            },
        };
    }
    DateTime {
        date: Date {
            year: y as u16,
            month: m as u16,
            day: d as u16,
        },
        time: Time {
            hour: (rem / 3600) as u16,
            min: (rem / 60 % 60) as u16,
            sec: (rem % 60) as u16,
            millis,
        },
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A DOS (date, time) pair as `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn format_dos(date: u16, time: u16) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        1980 + (date >> 9),
        date >> 5 & 0xF,
        date & 0x1F,
        time >> 11,
        time >> 5 & 0x3F,
        (time & 0x1F) * 2
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unix_times_become_dos_utc() {
        // 2024-02-29 13:45:17 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_709_214_317);
        let d = to_dos(t);
        assert_eq!((d.date.year, d.date.month, d.date.day), (2024, 2, 29));
        assert_eq!((d.time.hour, d.time.min, d.time.sec), (13, 45, 17));
        assert_eq!(to_dos(UNIX_EPOCH), DOS_EPOCH);
        assert_eq!(
            to_dos(UNIX_EPOCH + Duration::from_secs(5_000_000_000))
                .date
                .year,
            2107
        );
        assert_eq!(format_dos(0x5857, 0x6DA8), "2024-02-23 13:45:16");
    }
}
