//! The rendering: the text table, the targets, JSON, and an SVG chart.

use std::fmt::Write as _;

use super::{FixtureResult, Row, Sample, NOISY_LOAD};

const MIB: f64 = 1048576.0;

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// The table, as text.
pub fn table(results: &[FixtureResult], threads: usize, runs: usize) -> String {
    let mut s = String::new();
    for f in results {
        let reference = f.rows.iter().find(|r| r.reference).map(|r| r.median());
        let _ = writeln!(
            s,
            "\n{} — virtual {:.1} GiB, non-zero data {:.0} MiB, {threads} threads, median of {runs} run(s)",
            f.name,
            gib(f.virtual_size),
            f.floor.nonzero as f64 / MIB
        );
        let _ = writeln!(
            s,
            "  {:<46} {:>8} {:>7} {:>10} {:>11} {:>9} {:>12} {:>10} {:>6} {:>8}",
            "tool",
            "time s",
            "CPU s",
            "virt GB/s",
            "output MiB",
            "RSS MiB",
            "ddgz faster",
            "ddgz size",
            "load",
            "others"
        );
        let mut noisy = false;
        for r in &f.rows {
            let m = r.median();
            let (faster, size) = match &reference {
                Some(rf) if m.out_bytes > 0 => (
                    format!("{:.2}×", m.wall / rf.wall),
                    format!("{:.3}×", rf.out_bytes as f64 / m.out_bytes as f64),
                ),
                _ => ("-".into(), "-".into()),
            };
            let mark = if m.noisy() {
                noisy = true;
                "*"
            } else {
                ""
            };
            let n = if r.samples.len() < runs {
                let k = r.samples.len();
                format!(" ({k} run{})", if k == 1 { "" } else { "s" })
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  {:<46} {:>8.2} {:>7.1} {:>10.2} {:>11.1} {:>9.0} {:>12} {:>10} {:>6} {:>8.1}",
                format!("{}{n}", r.label),
                m.wall,
                m.cpu,
                f.virtual_size as f64 / m.wall / 1e9,
                m.out_bytes as f64 / MIB,
                m.rss_kib as f64 / 1024.0,
                faster,
                size,
                format!("{:.2}{mark}", m.load1),
                m.other_cpu
            );
        }
        if noisy {
            let _ = writeln!(
                s,
                "  * a run of this row started with a load average ≥ {NOISY_LOAD}: other work shared the cores, its time is noisy"
            );
        }
        if f.rows.iter().any(|r| r.median().other_cpu > 0.0) {
            let _ = writeln!(
                s,
                "  load: 1-minute load average when a run started (the highest of the runs); others: CPU s the rest of the machine used during a run (/proc/stat, the largest of the runs)"
            );
        }
        if let Some(rf) = &reference {
            let _ = writeln!(
                s,
                "  compute floor: {:.0} MiB non-zero, every chunk encoded on one thread as ddgz does (its deflate encoder, level 6, 1 MiB chunks primed with 32 KiB, ratio {:.4}) in {:.2} CPU s ({:.1} MB per CPU s, load {:.2}) ÷ {threads} threads = {:.2} s; ddgz at {:.2}× the floor (CPU: {:.1} s = {:.2}× deflate alone)",
                f.floor.nonzero as f64 / MIB,
                f.floor.ratio,
                f.floor.cpu,
                f.floor.rate / 1e6,
                f.floor.load1,
                f.floor.seconds,
                rf.wall / f.floor.seconds,
                rf.cpu,
                rf.cpu / f.floor.cpu
            );
            if f.floor.parallel_wall > 0.0 {
                let _ = writeln!(
                    s,
                    "  beside the floor: the self-check (each chunk decoded again, on by default) costs {:.2} CPU s more ({:.0} % of deflate); the same deflate work on {threads} threads at once took {:.2} s wall ({:.2}× the division: the cores slow each other); ddgz at {:.2}× that",
                    f.floor.check_cpu,
                    100.0 * f.floor.check_cpu / f.floor.cpu,
                    f.floor.parallel_wall,
                    f.floor.parallel_wall / f.floor.seconds,
                    rf.wall / f.floor.parallel_wall,
                );
            }
        }
        let _ = write!(s, "{}", output_hashes(f));
    }
    s
}

/// The sha256 of ddgz's outputs: one line if every ddgz row wrote the same bytes in every
/// run (as it must: the output depends on the disk, not on the input format or threads).
fn output_hashes(f: &FixtureResult) -> String {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in &f.rows {
        for h in r.samples.iter().filter_map(|x| x.sha256.as_deref()) {
            if !seen.iter().any(|(l, x)| *l == r.label && *x == h) {
                seen.push((&r.label, h));
            }
        }
    }
    let mut hashes: Vec<&str> = seen.iter().map(|(_, h)| *h).collect();
    hashes.sort_unstable();
    hashes.dedup();
    match hashes.as_slice() {
        [] => String::new(),
        [h] => format!(
            "  ddgz output sha256 {h} (every ddgz row, every run: {} rows)\n",
            seen.len()
        ),
        _ => seen
            .iter()
            .map(|(l, h)| format!("  ddgz output sha256 {h} DIFFERS: {l}\n"))
            .collect(),
    }
}

/// The results as JSON.
pub fn json(
    results: &[FixtureResult],
    threads: usize,
    runs: usize,
    load: &str,
) -> serde_json::Value {
    use serde_json::json;
    json!({
        "threads": threads,
        "runs": runs,
        "load_average": load,
        "fixtures": results.iter().map(|f| json!({
            "name": f.name,
            "virtual_bytes": f.virtual_size,
            "nonzero_bytes": f.floor.nonzero,
            "deflate_rate_bytes_per_s": f.floor.rate,
            "deflate_ratio": f.floor.ratio,
            "floor_cpu_seconds": f.floor.cpu,
            "floor_seconds": f.floor.seconds,
            "floor_load_average": f.floor.load1,
            "self_check_cpu_seconds": f.floor.check_cpu,
            "parallel_deflate_wall_seconds": f.floor.parallel_wall,
            "rows": f.rows.iter().map(|r| {
                let m = r.median();
                json!({
                    "tool": r.label,
                    "reference": r.reference,
                    "median_seconds": m.wall,
                    "seconds": r.samples.iter().map(|s| s.wall).collect::<Vec<_>>(),
                    "load_averages": r.samples.iter().map(|s| s.load1).collect::<Vec<_>>(),
                    "other_cpu_seconds": r.samples.iter().map(|s| s.other_cpu).collect::<Vec<_>>(),
                    "noisy": m.noisy(),
                    "output_sha256": r.samples.iter().filter_map(|s| s.sha256.clone()).collect::<Vec<_>>(),
                    "output_bytes": m.out_bytes,
                    "peak_rss_bytes": m.rss_kib * 1024,
                    "cpu_seconds": m.cpu,
                })
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn median_of(f: &FixtureResult, label: &str) -> Option<Sample> {
    f.rows.iter().find(|r| r.label == label).map(Row::median)
}

/// The issue's targets (figures, not assertions), where the fixtures that measure them ran.
pub fn targets(results: &[FixtureResult]) -> String {
    let mut s = String::new();
    let find = |n: &str| results.iter().find(|f| f.name == n);
    let mut line = |what: String, value: f64, ok: bool| {
        let _ = writeln!(
            s,
            "  {} {what}: {value:.2}",
            if ok { "met   " } else { "MISSED" }
        );
    };
    if let Some(f) = find("esxi8-min-32g") {
        if let Some(rf) = f.rows.iter().find(|r| r.reference).map(Row::median) {
            for r in &f.rows {
                let m = r.median();
                if r.label.starts_with("qemu-img") {
                    line(
                        format!("esxi8-min-32g: ≥ 10× faster than {}", r.label),
                        m.wall / rf.wall,
                        m.wall / rf.wall >= 10.0,
                    );
                }
                if r.label.starts_with("pigz") {
                    line(
                        format!("esxi8-min-32g: ≥ 8× faster than {}", r.label),
                        m.wall / rf.wall,
                        m.wall / rf.wall >= 8.0,
                    );
                    let q = rf.out_bytes as f64 / m.out_bytes as f64;
                    line(
                        "esxi8-min-32g: output ≤ 1.01× pigz -6's".into(),
                        q,
                        q <= 1.01,
                    );
                }
            }
            let d = rf.wall / f.floor.seconds;
            line(
                "esxi8-min-32g: within 1.25× of the compute floor".into(),
                d,
                d <= 1.25,
            );
            let rss = rf.rss_kib as f64 / 1024.0;
            line(
                "esxi8-min-32g: peak RSS ≤ 256 MiB".into(),
                rss,
                rss <= 256.0,
            );
            if let Some(t) = find("esxi8-min-1t").and_then(|t| t.rows.iter().find(|r| r.reference))
            {
                let q = t.median().wall / rf.wall;
                line(
                    "same data in 1 TiB: ≤ 1.25× the 32 GiB time".into(),
                    q,
                    q <= 1.25,
                );
            }
            // Issue 14: thread scaling, judged on quiet runs only.
            if let Some(one) = median_of(f, "ddgz qcow2 --threads 1") {
                let q = one.wall / rf.wall;
                let load = one.load1.max(rf.load1);
                // A noisy run does not count: the target is missed until a quiet run meets it.
                let noisy = one.noisy() || rf.noisy();
                let what = if noisy {
                    format!("esxi8-min-32g: all threads ≥ 1.8× --threads 1 (load {load:.2}: noisy, needs < {NOISY_LOAD})")
                } else {
                    format!("esxi8-min-32g: all threads ≥ 1.8× --threads 1 (load {load:.2})")
                };
                line(what, q, q >= 1.8 && !noisy);
            }
            if let (Some(v), Some(nl)) = (
                median_of(f, "ddgz verify"),
                median_of(f, "ddgz verify --no-layout"),
            ) {
                let q = v.wall / nl.wall;
                line(
                    "esxi8-min-32g: verify ≤ 1.5× verify --no-layout".into(),
                    q,
                    q <= 1.5,
                );
            }
        }
    }
    if let Some(f) = find("generic-2g") {
        let one = median_of(f, "ddgz qcow2 --threads 1");
        let all = f.rows.iter().find(|r| r.reference).map(Row::median);
        if let (Some(one), Some(all)) = (one, all) {
            let q = one.wall / all.wall;
            line(
                "generic-2g: all threads ≥ 1.8× faster than --threads 1".into(),
                q,
                q >= 1.8,
            );
        }
    }
    if s.is_empty() {
        s
    } else {
        format!("\ntargets (issues 5 and 14):\n{s}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar chart of median wall times, one group per fixture (hand-written SVG).
pub fn svg(results: &[FixtureResult], threads: usize) -> String {
    const W: f64 = 980.0;
    const LABEL: f64 = 330.0;
    const BAR: f64 = 520.0;
    const ROW: f64 = 22.0;
    let rows: usize = results.iter().map(|f| f.rows.len() + 2).sum();
    let h = 50.0 + rows as f64 * ROW;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="24" font-size="16" font-weight="bold">Wall time to a ddgz, median ({threads} threads; shorter is better)</text>"#
    );
    let mut y = 50.0;
    for f in results {
        let max = f
            .rows
            .iter()
            .map(|r| r.median().wall)
            .fold(f.floor.seconds, f64::max)
            .max(1e-9);
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}" font-weight="bold">{} ({:.1} GiB virtual, {:.0} MiB data)</text>"#,
            y + 15.0,
            xml(&f.name),
            gib(f.virtual_size),
            f.floor.nonzero as f64 / MIB
        );
        y += ROW;
        for r in &f.rows {
            let m = r.median();
            let w = (m.wall / max * BAR).max(1.0);
            let color = if r.label.starts_with("ddgz") {
                "#2e7d32"
            } else {
                "#78909c"
            };
            let _ = writeln!(
                s,
                r#"<text x="20" y="{}">{}</text><rect x="{LABEL}" y="{}" width="{w:.1}" height="{}" fill="{color}"/><text x="{:.1}" y="{}">{:.2} s, {:.0} MiB</text>"#,
                y + 15.0,
                xml(&r.label),
                y + 3.0,
                ROW - 6.0,
                LABEL + w + 6.0,
                y + 15.0,
                m.wall,
                m.out_bytes as f64 / MIB
            );
            y += ROW;
        }
        if f.floor.seconds > 0.0 {
            let x = LABEL + f.floor.seconds / max * BAR;
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#c62828" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="#c62828" font-size="11">compute floor {:.2} s</text>"##,
                y - ROW * f.rows.len() as f64,
                y,
                x + 3.0,
                y + 12.0,
                f.floor.seconds
            );
        }
        y += ROW;
    }
    s.push_str("</svg>\n");
    s
}
