//! Unix seconds as the `YYYY-MM-DD HH:MM:SS` (UTC) that `ls -l` shows for FAT too.

/// `secs` since 1970-01-01 UTC as `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`); any `i64` of days from a timestamp in seconds stays in range.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(981_173_106), "2001-02-03 04:05:06");
        assert_eq!(super::utc(-1), "1969-12-31 23:59:59");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00");
        // The extremes of a timestamp do not overflow.
        let _ = super::utc(i64::MAX);
        let _ = super::utc(i64::MIN);
    }
}
