//! `cargo xtask bench`: `ddgz convert` against the tools users have today, on the fixtures,
//! on one machine, in one run.
//!
//! For each fixture: `ddgz convert` (one thread and all cores, on the qcow2 and the raw
//! file), `pigz -6 -p N` and `gzip -6` on the raw file, and the qcow2 path without nbd
//! (`qemu-img convert -O raw` to a temporary file, then `pigz -6 -p N`). Runs are
//! interleaved (run 1 of every job, then run 2, …) so that a change in machine load hits
//! every job alike, and the median is reported. Wall time comes from a monotonic clock,
//! peak RSS from rusage (the largest of the process and the children it waited for), read
//! by GNU time when present (see [`GNU_TIME`](mod@measure)).
//!
//! The compute floor is what deflate alone costs on the same data: every non-zero 1 MiB
//! chunk of the disk encoded by ddgz's own chunk encoder (`ddgz_deflate::DeflateEncoder`
//! at level 6, primed with the 32 KiB before each chunk) on one thread, timed in thread
//! CPU time so that other load on the machine hardly changes it, ÷ threads.
//!
//! Before each run the harness waits (`--settle`, at most 120 s) for the 1-minute load
//! average to fall below [`NOISY_LOAD`]: the previous run raised it. Each run records the
//! load average when it started (`/proc/loadavg`) and the CPU time the rest of the
//! machine used while it ran (`/proc/stat`); a row
//! with a run that started at [`NOISY_LOAD`] or more is marked noisy, and a target that
//! needs a quiet machine (thread scaling) is not met on it. Every ddgz output is hashed
//! (sha256, not timed): the table says whether all ddgz rows wrote the same bytes. The
//! `verify` rows check one ddgz output with and without the layout check.
//!
//! One module per job: `args` (the command line, on clap), `measure` (the jobs, the
//! timed runs, the floor), `render` (text table, JSON, SVG, the targets).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

mod args;
mod measure;
mod render;

pub(crate) use measure::measure;
pub use measure::run;
pub use render::{json, svg, table, targets};

/// Load average (1 minute) at or above which a run is marked noisy: other work shared the
/// cores, so its wall time says little (issue 14 judges thread scaling below it).
pub const NOISY_LOAD: f64 = 0.5;

/// One timed run.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub wall: f64,
    /// User + system CPU seconds.
    pub cpu: f64,
    pub rss_kib: u64,
    pub out_bytes: u64,
    /// The 1-minute load average when the run started (`/proc/loadavg`).
    pub load1: f64,
    /// CPU seconds the rest of the machine used while the run lasted (all CPUs' busy time
    /// in `/proc/stat` less the run's own): other work that shared the cores, unlike the
    /// load average, which still remembers the previous run.
    pub other_cpu: f64,
    /// sha256 of ddgz's output (hex), to show that it did not change.
    pub sha256: Option<String>,
}

impl Sample {
    /// Whether other work shared the machine when it started (an unknown load counts).
    pub fn noisy(&self) -> bool {
        self.load1.is_nan() || self.load1 >= NOISY_LOAD
    }
}

/// The result of one job.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub reference: bool,
    pub samples: Vec<Sample>,
}

impl Row {
    /// Median wall time (the mean of the middle two for an even count), with the output
    /// size and the highest peak RSS of the runs.
    pub fn median(&self) -> Sample {
        let mut s = self.samples.clone();
        s.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        let n = s.len();
        let mut m = s[n / 2].clone();
        if n.is_multiple_of(2) {
            m.wall = (s[n / 2 - 1].wall + s[n / 2].wall) / 2.0;
            m.cpu = (s[n / 2 - 1].cpu + s[n / 2].cpu) / 2.0;
        }
        m.rss_kib = s.iter().map(|x| x.rss_kib).max().unwrap_or(0);
        // The median is as noisy as the noisiest run it was taken from.
        m.load1 = s.iter().map(|x| x.load1).fold(f64::NAN, f64::max);
        m.other_cpu = s.iter().map(|x| x.other_cpu).fold(0.0, f64::max);
        m
    }
}

/// What the floor computation found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor {
    /// Bytes in non-zero 1 MiB chunks.
    pub nonzero: u64,
    /// Single-thread rate (bytes per CPU second) of ddgz's deflate chunk encoder at
    /// level 6 on those chunks.
    pub rate: f64,
    /// Its output / input (each chunk primed with the 32 KiB before it).
    pub ratio: f64,
    /// Thread CPU seconds of encoding every one of those chunks on one thread.
    pub cpu: f64,
    /// cpu / threads, seconds.
    pub seconds: f64,
    /// The highest 1-minute load average seen while it was measured.
    pub load1: f64,
    /// Thread CPU seconds of the self-check (each encoded chunk decoded again, as
    /// `convert` does unless `--no-verify`) on one thread: work every default run does
    /// beyond deflate.
    pub check_cpu: f64,
    /// Wall seconds of the same deflate work done by `threads` threads at once (chunks
    /// claimed one at a time): what the cores achieve together, which `seconds` (a
    /// division) assumes is perfect. 0 when not measured.
    pub parallel_wall: f64,
}

/// One fixture's results.
#[derive(Debug, Clone)]
pub struct FixtureResult {
    pub name: String,
    pub virtual_size: u64,
    pub floor: Floor,
    pub rows: Vec<Row>,
}

/// How to run the harness.
#[derive(Debug, Clone)]
pub struct Config {
    pub ddgz: PathBuf,
    pub fixtures: Vec<String>,
    pub dir: PathBuf,
    pub runs: usize,
    /// Runs of the peers (pigz, gzip, qemu-img + pigz) on disks over 4 GiB.
    pub big_peer_runs: usize,
    /// Skip `gzip -6` on disks larger than this (one core over every zero: minutes).
    pub gzip_max_bytes: Option<u64>,
    pub threads: usize,
    /// `gzip -t` every ddgz output (the test does; the benchmark does not).
    pub check: bool,
    /// Seconds to wait at most, before each run, for the load average to fall below
    /// [`NOISY_LOAD`].
    pub settle: u64,
    pub verbose: bool,
}

/// `cargo xtask bench …`: see [`args::Args`].
pub fn main(argv: &[String]) -> Result<()> {
    // clap prints --help and usage errors itself and exits (0, or 2).
    let a = args::Args::parse_from(
        std::iter::once("xtask bench".to_string()).chain(argv.iter().cloned()),
    );
    for t in ["pigz", "gzip", "qemu-img", "qemu-io"] {
        if !crate::have(t) {
            bail!("bench needs {t}: run `cargo xtask install-test-tools`");
        }
    }
    let quick = a.quick;
    let names = if a.fixtures.is_empty() {
        if quick {
            vec!["generic-2g".into()]
        } else {
            vec![
                "generic-2g".into(),
                "esxi67-10g".into(),
                "esxi8-min-32g".into(),
                "esxi8-min-1t".into(),
            ]
        }
    } else {
        a.fixtures.clone()
    };
    let runs = a.runs.unwrap_or(if quick { 1 } else { 3 });
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let ddgz = crate::build_ddgz(None)?;
    let load_before = measure::load_average();
    let cfg = Config {
        ddgz,
        fixtures: names,
        dir: a
            .out
            .clone()
            .unwrap_or_else(|| crate::target_dir().join("fixtures")),
        runs,
        big_peer_runs: a.big_peer_runs.unwrap_or(runs),
        gzip_max_bytes: a.gzip_max_gib.map(|g| g << 30),
        threads,
        check: false,
        settle: a.settle,
        verbose: true,
    };
    let t = Instant::now();
    let results = run(&cfg, quick)?;
    let load = format!("{load_before} before, {} after", measure::load_average());
    println!(
        "cargo xtask bench {} — {} cores, load average {load}, {:.0} s",
        argv.join(" "),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        t.elapsed().as_secs_f64()
    );
    print!("{}", table(&results, threads, runs));
    print!("{}", targets(&results));
    if let Some(p) = &a.json {
        std::fs::write(
            p,
            serde_json::to_string_pretty(&json(&results, threads, runs, &load))?,
        )
        .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.svg {
        std::fs::write(p, svg(&results, threads))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    // The Linux root tarball row (`ddgz tar`), on its own fixture: see bench_tar.rs.
    if !quick {
        crate::bench_tar::main(&["--runs".into(), runs.to_string()])?;
        // --zero-free and .dd.xz on a disk with deleted data: see bench_free.rs.
        crate::bench_free::main(&["--runs".into(), runs.to_string()])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The ddgz binary of this build: `cargo test --workspace` builds it beside us
    /// (target/<profile>/ddgz); otherwise build it.
    fn ddgz() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap();
        let p = profile_dir.join("ddgz");
        if p.exists() {
            return p;
        }
        // Not beside us (`cargo test -p xtask`): build it, in a target dir of its own, as
        // the running `cargo test` holds the lock of ours.
        crate::build_ddgz(Some(&profile_dir.join("xtask-ddgz"))).expect("building ddgz")
    }

    #[test]
    fn targets_are_judged() {
        let row = |label: &str, reference, wall, out_bytes, rss_kib| Row {
            label: label.into(),
            reference,
            samples: vec![Sample {
                wall,
                cpu: wall,
                rss_kib,
                out_bytes,
                load1: 0.2,
                other_cpu: 0.0,
                sha256: None,
            }],
        };
        let floor = Floor {
            nonzero: 750 << 20,
            rate: 80e6,
            ratio: 0.7,
            cpu: 10.0,
            seconds: 5.0,
            load1: 0.1,
            check_cpu: 1.0,
            parallel_wall: 5.5,
        };
        let mut noisy_one = row("ddgz qcow2 --threads 1", false, 11.0, 1000, 1000);
        noisy_one.samples[0].load1 = 3.0;
        let results = vec![
            FixtureResult {
                name: "generic-2g".into(),
                virtual_size: 2 << 30,
                floor,
                rows: vec![
                    row("ddgz qcow2 --threads 2", true, 2.0, 100, 1000),
                    row("ddgz qcow2 --threads 1", false, 3.0, 100, 1000),
                ],
            },
            FixtureResult {
                name: "esxi8-min-32g".into(),
                virtual_size: 32 << 30,
                floor,
                rows: vec![
                    row("ddgz qcow2 --threads 2", true, 6.0, 1000, 100 << 10),
                    noisy_one,
                    row("ddgz verify --no-layout", false, 5.0, 0, 1000),
                    row("ddgz verify", false, 8.0, 0, 1000),
                    row("pigz -6 -p 2 raw", false, 60.0, 995, 1000),
                    row(
                        "qemu-img convert -O raw + pigz -6 -p 2",
                        false,
                        66.0,
                        995,
                        1000,
                    ),
                ],
            },
            FixtureResult {
                name: "esxi8-min-1t".into(),
                virtual_size: 1 << 40,
                floor,
                rows: vec![row("ddgz qcow2 --threads 2", true, 6.6, 1000, 1000)],
            },
        ];
        let t = targets(&results);
        assert!(
            t.contains("met    esxi8-min-32g: ≥ 10× faster than qemu-img"),
            "{t}"
        );
        assert!(
            t.contains("met    esxi8-min-32g: ≥ 8× faster than pigz"),
            "{t}"
        );
        assert!(t.contains("met    esxi8-min-32g: output ≤ 1.01×"), "{t}");
        assert!(
            t.contains("met    esxi8-min-32g: within 1.25× of the compute floor: 1.20"),
            "{t}"
        );
        let tab = table(&results, 2, 1);
        assert!(
            tab.contains("self-check (each chunk decoded again, on by default) costs 1.00 CPU s more (10 % of deflate); the same deflate work on 2 threads at once took 5.50 s wall (1.10× the division: the cores slow each other); ddgz at 1.09× that"),
            "{tab}"
        );
        assert!(
            t.contains("met    esxi8-min-32g: peak RSS ≤ 256 MiB: 100.00"),
            "{t}"
        );
        assert!(
            t.contains("met    same data in 1 TiB: ≤ 1.25× the 32 GiB time: 1.10"),
            "{t}"
        );
        // 11 / 6 = 1.83 meets the ratio, but on a noisy run: missed.
        assert!(
            t.contains("MISSED esxi8-min-32g: all threads ≥ 1.8× --threads 1 (load 3.00: noisy, needs < 0.5): 1.83"),
            "{t}"
        );
        assert!(
            t.contains("MISSED esxi8-min-32g: verify ≤ 1.5× verify --no-layout: 1.60"),
            "{t}"
        );
        let table = table(&results, 2, 1);
        assert!(table.contains("3.00*"), "{table}");
        assert!(
            table.contains("* a run of this row started with a load average"),
            "{table}"
        );
        assert!(
            t.contains("MISSED generic-2g: all threads ≥ 1.8× faster than --threads 1: 1.50"),
            "{t}"
        );
    }

    #[test]
    fn harness_runs_on_a_tiny_fixture() {
        for t in ["pigz", "gzip", "qemu-img"] {
            assert!(
                crate::have(t),
                "{t} is missing: cargo xtask install-test-tools"
            );
        }
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let cfg = Config {
            ddgz: ddgz(),
            fixtures: vec!["tiny-64m".into()],
            dir: dir.clone(),
            runs: 1,
            big_peer_runs: 1,
            gzip_max_bytes: None,
            threads: 2,
            check: true,
            settle: 0,
            verbose: false,
        };
        let results = run(&cfg, true);
        let _ = std::fs::remove_dir_all(&dir);
        let results = results.unwrap();
        let t = table(&results, 2, 1);
        for label in [
            "ddgz qcow2 --threads 2",
            "ddgz qcow2 --threads 1",
            "ddgz raw --threads 2",
            "pigz -6 -p 2 raw",
            "gzip -6 raw",
            "qemu-img convert -O raw + pigz -6 -p 2",
            "ddgz verify --no-layout",
            "ddgz verify",
            "compute floor",
            "beside the floor: the self-check",
            "ddgz output sha256",
        ] {
            assert!(t.contains(label), "no {label:?} in\n{t}");
        }
        let f = &results[0];
        // 12 MiB of content, and the chunks of the primary and backup GPT.
        assert_eq!(f.floor.nonzero, 14 << 20, "{t}");
        for r in &f.rows {
            let m = r.median();
            let verify = r.label.starts_with("ddgz verify");
            assert!(verify || m.out_bytes > 0, "{t}");
            assert!(m.wall > 0.0 && m.rss_kib > 0 && m.load1 >= 0.0, "{t}");
        }
        // Every ddgz row wrote the same bytes.
        assert!(t.contains("(every ddgz row, every run: 3 rows)"), "{t}");
        assert!(svg(&results, 2).contains("ddgz qcow2 --threads 2"));
        assert!(json(&results, 2, 1, "0")["fixtures"][0]["rows"][0]["median_seconds"].is_number());
    }
}
