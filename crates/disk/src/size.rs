//! Byte sizes as people write and read them: the one grammar and the one format of the
//! whole tool (options, messages, reports), powers of 1024 throughout.

/// Binary unit names, by power of 1024.
const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `1536` → "1.5 KiB", `1 << 30` → "1 GiB", `1000` → "1000 B": whole numbers without a
/// decimal, others with one.
pub fn human(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Parses a size: a whole number, optionally followed by a unit `K`, `M`, `G` or `T`
/// (powers of 1024, any case, with or without `B`/`iB`: `64M`, `64MiB`, `64mb`), or `B`.
/// The error says what was wrong and shows the grammar.
pub fn parse(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 64M, 512K or 1048576"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("{s:?}: unknown unit (use K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar() {
        for (s, n) in [
            ("64M", 64 << 20),
            ("64MiB", 64 << 20),
            ("64mb", 64 << 20),
            ("1g", 1 << 30),
            ("512K", 512 << 10),
            ("2T", 2 << 40),
            ("36700160", 36700160),
            (" 7 B ", 7),
        ] {
            assert_eq!(parse(s), Ok(n), "{s}");
        }
        for bad in ["12X", "M", "", "-1", "1.5G", "99999999999T"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_format() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1 KiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(1 << 30), "1 GiB");
        assert_eq!(human(u64::MAX), "16 EiB");
    }
}
