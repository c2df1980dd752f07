//! `cargo xtask bench`: `ddgz convert` against the tools users have today, on the fixtures,
//! on one machine, in one run.
//!
//! For each fixture: `ddgz convert` (one thread and all cores, on the qcow2 and the raw
//! file), `pigz -6 -p N` and `gzip -6` on the raw file, and the qcow2 path without nbd
//! (`qemu-img convert -O raw` to a temporary file, then `pigz -6 -p N`). Runs are
//! interleaved (run 1 of every job, then run 2, …) so that a change in machine load hits
//! every job alike, and the median is reported. Wall time comes from a monotonic clock,
//! peak RSS from rusage (the largest of the process and the children it waited for), read
//! by GNU time when present (see [`GNU_TIME`]).
//!
//! The compute floor is what deflate alone costs on the same data: the non-zero 1 MiB
//! chunks of the disk ÷ (threads × the single-thread rate of ddgz's backend, flate2 with
//! zlib-rs at level 6, measured in thread CPU time on a sample of those chunks, so that
//! other load on the machine does not lower it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ddgz_image::{Disk, ExtentKind, RawDisk};
use flate2::{Compress, Compression, FlushCompress};

use crate::fixtures::{self, Built};

const MIB: f64 = 1048576.0;
/// ddgz's chunk size, for counting non-zero chunks the way it does.
const CHUNK: u64 = 1 << 20;
/// Chunks compressed to measure the single-thread deflate rate.
const RATE_SAMPLE_CHUNKS: usize = 160;

/// One command to time.
#[derive(Debug, Clone)]
enum Tool {
    Ddgz {
        input: PathBuf,
        threads: usize,
    },
    Pigz {
        raw: PathBuf,
        threads: usize,
    },
    Gzip {
        raw: PathBuf,
    },
    /// `qemu-img convert -f FMT -O raw` to a scratch file, then pigz.
    QemuImgPigz {
        qcow2: PathBuf,
        fmt: &'static str,
        threads: usize,
    },
}

#[derive(Debug, Clone)]
struct Job {
    label: String,
    tool: Tool,
    /// The reference row of the fixture (ddgz on the qcow2, all cores).
    reference: bool,
    /// Runs for this job (gzip on big disks: once).
    runs: usize,
}

/// One timed run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub wall: f64,
    /// User + system CPU seconds.
    pub cpu: f64,
    pub rss_kib: u64,
    pub out_bytes: u64,
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
        let mut m = s[n / 2];
        if n.is_multiple_of(2) {
            m.wall = (s[n / 2 - 1].wall + s[n / 2].wall) / 2.0;
            m.cpu = (s[n / 2 - 1].cpu + s[n / 2].cpu) / 2.0;
        }
        m.rss_kib = s.iter().map(|x| x.rss_kib).max().unwrap_or(0);
        m
    }
}

/// What the floor computation found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor {
    /// Bytes in non-zero 1 MiB chunks.
    pub nonzero: u64,
    /// Single-thread deflate rate (bytes per CPU second) of flate2 zlib-rs level 6 on
    /// those chunks.
    pub rate: f64,
    /// Deflate output / input on the sample, every chunk from a reset state (ddgz).
    pub ratio: f64,
    /// The same with each chunk primed with the 32 KiB before it (pigz).
    pub ratio_primed: f64,
    /// nonzero / (threads × rate), seconds.
    pub seconds: f64,
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
    pub verbose: bool,
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// Where peak RSS comes from: GNU time's `%M` (its own child's `wait4` rusage) when
/// `/usr/bin/time` exists, else our `wait4`. Ours is a fallback only: a child started by
/// vfork + exec inherits the *parent's* RSS high-water mark (Linux keeps the old mm's
/// `hiwater_rss` across exec), so it reports at least the harness's own peak.
const GNU_TIME: &str = "/usr/bin/time";

/// Runs `cmd`, returning wall seconds, peak RSS (KiB) and CPU seconds (user + system of
/// the process and its descendants, from `wait4`: not skewed like its RSS).
pub(crate) fn measure(cmd: &mut Command) -> Result<(f64, u64, f64)> {
    let rss_file = std::env::temp_dir().join(format!("xtask-rss-{}", std::process::id()));
    let mut cmd = if Path::new(GNU_TIME).exists() {
        let mut t = Command::new(GNU_TIME);
        t.args(["-f", "%M", "-o"]).arg(&rss_file);
        t.arg(cmd.get_program()).args(cmd.get_args());
        t
    } else {
        let mut c = Command::new(cmd.get_program());
        c.args(cmd.get_args());
        c
    };
    let t = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it. The child is ours and not yet reaped.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t.elapsed().as_secs_f64();
    std::mem::forget(child);
    if r != pid {
        bail!("wait4 on {cmd:?}: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{cmd:?} failed (wait status {status:#x})");
    }
    let rss = match std::fs::read_to_string(&rss_file) {
        Ok(s) => {
            let _ = std::fs::remove_file(&rss_file);
            s.lines()
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .next_back()
                .with_context(|| format!("{GNU_TIME} wrote {s:?}"))?
        }
        Err(_) => ru.ru_maxrss as u64,
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((wall, rss, tv(ru.ru_utime) + tv(ru.ru_stime)))
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Runs `tool` once, writing to `out`.
fn run_tool(cfg: &Config, tool: &Tool, out: &Path, tmp: &Path) -> Result<Sample> {
    let _ = std::fs::remove_file(out);
    let (wall, rss_kib, cpu) = match tool {
        Tool::Ddgz { input, threads } => measure(
            Command::new(&cfg.ddgz)
                .arg("convert")
                .arg(input)
                .arg("-o")
                .arg(out)
                .args(["--threads", &threads.to_string(), "--force", "--quiet"]),
        )?,
        Tool::Pigz { raw, threads } => measure(&mut sh(&format!(
            "pigz -6 -p {threads} -c {} > {}",
            q(raw),
            q(out)
        )))?,
        Tool::Gzip { raw } => measure(&mut sh(&format!("gzip -6 -c {} > {}", q(raw), q(out))))?,
        Tool::QemuImgPigz {
            qcow2,
            fmt,
            threads,
        } => {
            let _ = std::fs::remove_file(tmp);
            let r = measure(&mut sh(&format!(
                "qemu-img convert -f {fmt} -O raw {} {} && pigz -6 -p {threads} -c {} > {}",
                q(qcow2),
                q(tmp),
                q(tmp),
                q(out)
            )));
            let _ = std::fs::remove_file(tmp);
            r?
        }
    };
    let out_bytes = std::fs::metadata(out)
        .with_context(|| format!("{} was not written", out.display()))?
        .len();
    if cfg.check {
        if let Tool::Ddgz { .. } = tool {
            let st = Command::new("gzip").arg("-t").arg(out).status()?;
            if !st.success() {
                bail!("gzip -t {} failed", out.display());
            }
        }
    }
    let _ = std::fs::remove_file(out);
    Ok(Sample {
        wall,
        cpu,
        rss_kib,
        out_bytes,
    })
}

/// `{name}-stream.vmdk` beside the ESXi 8 fixture: `qemu-img convert -O vmdk -o
/// subformat=streamOptimized` of its raw file, made once (other fixtures: none).
fn stream_vmdk(b: &Built, cfg: &Config) -> Result<Option<PathBuf>> {
    let Some(raw) = b.raw.as_ref().filter(|_| b.name == "esxi8-min-32g") else {
        return Ok(None);
    };
    let vmdk = cfg.dir.join(format!("{}-stream.vmdk", b.name));
    let fresh = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if fresh(&vmdk).is_none() || fresh(&vmdk) < fresh(raw) {
        let st = sh(&format!(
            "qemu-img convert -f raw -O vmdk -o subformat=streamOptimized {} {}",
            q(raw),
            q(&vmdk)
        ))
        .status()?;
        if !st.success() {
            bail!("qemu-img could not write {}", vmdk.display());
        }
    }
    Ok(Some(vmdk))
}

/// The jobs of one fixture.
fn jobs(b: &Built, cfg: &Config, quick: bool, stream_vmdk: Option<&Path>) -> Vec<Job> {
    let threads = cfg.threads;
    let mut v = Vec::new();
    let job = |label: String, tool, reference| Job {
        label,
        tool,
        reference,
        runs: usize::MAX,
    };
    let Some(raw) = &b.raw else {
        // The 1 TiB twin: only ddgz can afford it.
        v.push(job(
            format!("ddgz qcow2 --threads {threads}"),
            Tool::Ddgz {
                input: b.qcow2.clone(),
                threads,
            },
            true,
        ));
        return v;
    };
    v.push(job(
        format!("ddgz qcow2 --threads {threads}"),
        Tool::Ddgz {
            input: b.qcow2.clone(),
            threads,
        },
        true,
    ));
    v.push(job(
        "ddgz qcow2 --threads 1".into(),
        Tool::Ddgz {
            input: b.qcow2.clone(),
            threads: 1,
        },
        false,
    ));
    if let Some(g) = &b.guest_qcow2 {
        v.push(job(
            format!("ddgz guest-written qcow2 --threads {threads}"),
            Tool::Ddgz {
                input: g.clone(),
                threads,
            },
            false,
        ));
    }
    v.push(job(
        format!("ddgz raw --threads {threads}"),
        Tool::Ddgz {
            input: raw.clone(),
            threads,
        },
        false,
    ));
    v.push(job(
        format!("pigz -6 -p {threads} raw"),
        Tool::Pigz {
            raw: raw.clone(),
            threads,
        },
        false,
    ));
    let mut g = job("gzip -6 raw".into(), Tool::Gzip { raw: raw.clone() }, false);
    // gzip reads every zero of a big disk on one core: minutes per run. Once is enough.
    if b.virtual_size > 4 << 30 {
        g.runs = 1;
    }
    let gzip_ok = cfg.gzip_max_bytes.is_none_or(|m| b.virtual_size <= m);
    if (!quick || b.virtual_size <= 4 << 30) && gzip_ok {
        v.push(g);
    }
    v.push(job(
        format!("qemu-img convert -O raw + pigz -6 -p {threads}"),
        Tool::QemuImgPigz {
            qcow2: b.qcow2.clone(),
            fmt: "qcow2",
            threads,
        },
        false,
    ));
    // The same disk as a streamOptimized VMDK (what vmware-iso and OVA exports write).
    if let Some(vmdk) = stream_vmdk {
        v.push(job(
            format!("ddgz vmdk streamOptimized --threads {threads}"),
            Tool::Ddgz {
                input: vmdk.to_path_buf(),
                threads,
            },
            false,
        ));
        v.push(job(
            format!("qemu-img convert -f vmdk -O raw + pigz -6 -p {threads}"),
            Tool::QemuImgPigz {
                qcow2: vmdk.to_path_buf(),
                fmt: "vmdk",
                threads,
            },
            false,
        ));
    }
    // pigz reads every zero too: on big disks, fewer runs of the peers.
    if b.virtual_size > 4 << 30 {
        for j in &mut v {
            if !matches!(j.tool, Tool::Ddgz { .. }) {
                j.runs = j.runs.min(cfg.big_peer_runs);
            }
        }
    }
    v.retain(|j| j.runs > 0);
    v
}

/// CPU seconds used by this thread: a deflate rate measured with it does not drop when
/// other processes share the cores.
fn thread_cpu() -> f64 {
    // SAFETY: clock_gettime fills the timespec we own.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Non-zero chunks of `disk` and the single-thread deflate rate on them (per CPU second).
pub fn floor(disk: &dyn Disk, threads: usize) -> Result<Floor> {
    let mut chunks = Vec::new();
    let mut buf = vec![0u8; CHUNK as usize];
    for e in disk.extents(0, disk.size())? {
        if e.kind != ExtentKind::Data {
            continue;
        }
        let mut c = e.offset / CHUNK * CHUNK;
        while c < e.end() {
            let n = CHUNK.min(disk.size() - c);
            if chunks.last() != Some(&(c, n)) {
                disk.read_at(c, &mut buf[..n as usize])?;
                if buf[..n as usize].iter().any(|&b| b != 0) {
                    chunks.push((c, n));
                }
            }
            c += CHUNK;
        }
    }
    let nonzero: u64 = chunks.iter().map(|c| c.1).sum();
    if chunks.is_empty() {
        return Ok(Floor::default());
    }
    let step = chunks.len().div_ceil(RATE_SAMPLE_CHUNKS).max(1);
    let sample: Vec<_> = chunks.iter().step_by(step).copied().collect();
    let mut data = Vec::new();
    for &(c, n) in &sample {
        let mut b = vec![0u8; n as usize];
        disk.read_at(c, &mut b)?;
        data.push(b);
    }
    let mut comp = Compress::new(Compression::new(6), false);
    let mut out = Vec::with_capacity(2 * CHUNK as usize);
    let (mut inb, mut outb) = (0u64, 0u64);
    let t = thread_cpu();
    for d in &data {
        comp.reset();
        out.clear();
        comp.compress_vec(d, &mut out, FlushCompress::Sync)?;
        if comp.total_in() as usize != d.len() {
            bail!("deflate did not take the whole chunk");
        }
        inb += d.len() as u64;
        outb += out.len() as u64;
    }
    let secs = thread_cpu() - t;
    let rate = inb as f64 / secs;
    // The same chunks primed with the 32 KiB before them (pigz's scheme), for the size.
    let mut primed = 0u64;
    let mut dict = vec![0u8; 32 << 10];
    for (d, &(c, _)) in data.iter().zip(&sample) {
        comp.reset();
        if c >= dict.len() as u64 {
            disk.read_at(c - dict.len() as u64, &mut dict)?;
            comp.set_dictionary(&dict)?;
        }
        out.clear();
        comp.compress_vec(d, &mut out, FlushCompress::Sync)?;
        primed += out.len() as u64;
    }
    Ok(Floor {
        nonzero,
        rate,
        ratio: outb as f64 / inb as f64,
        ratio_primed: primed as f64 / inb as f64,
        seconds: nonzero as f64 / (threads as f64 * rate),
    })
}

/// Reads a file once so that every job finds it in the page cache.
fn warm(path: &Path) -> Result<()> {
    let d = RawDisk::open(path)?;
    let mut buf = vec![0u8; 8 << 20];
    for e in d.extents(0, d.size())? {
        if e.kind == ExtentKind::Data {
            let mut at = e.offset;
            while at < e.end() {
                let n = (buf.len() as u64).min(e.end() - at) as usize;
                d.read_at(at, &mut buf[..n])?;
                at += n as u64;
            }
        }
    }
    Ok(())
}

/// Runs the whole benchmark.
pub fn run(cfg: &Config, quick: bool) -> Result<Vec<FixtureResult>> {
    std::fs::create_dir_all(&cfg.dir)?;
    let work = cfg.dir.join("bench-work");
    std::fs::create_dir_all(&work)?;
    let mut fixtures = Vec::new();
    for name in &cfg.fixtures {
        let b = fixtures::build(name, &cfg.dir, cfg.verbose)?;
        for p in [b.raw.as_ref(), Some(&b.qcow2), b.guest_qcow2.as_ref()]
            .into_iter()
            .flatten()
        {
            warm(p)?;
        }
        let floor = match &b.raw {
            Some(raw) => floor(&RawDisk::open(raw)?, cfg.threads)?,
            // The 1 TiB twin holds the 32 GiB fixture's data.
            None => {
                let twin = fixtures::build("esxi8-min-32g", &cfg.dir, cfg.verbose)?;
                floor(
                    &RawDisk::open(twin.raw.as_ref().context("twin raw")?)?,
                    cfg.threads,
                )?
            }
        };
        let vmdk = stream_vmdk(&b, cfg)?;
        if let Some(v) = &vmdk {
            warm(v)?;
        }
        let jobs = jobs(&b, cfg, quick, vmdk.as_deref());
        fixtures.push((b, floor, jobs));
    }
    let mut rows: Vec<Vec<Row>> = fixtures
        .iter()
        .map(|(_, _, jobs)| {
            jobs.iter()
                .map(|j| Row {
                    label: j.label.clone(),
                    reference: j.reference,
                    samples: Vec::new(),
                })
                .collect()
        })
        .collect();
    for run in 0..cfg.runs {
        for (fi, (b, _, jobs)) in fixtures.iter().enumerate() {
            for (ji, j) in jobs.iter().enumerate() {
                if run >= j.runs {
                    continue;
                }
                let out = work.join(format!("{}.{ji}.gz", b.name));
                let tmp = work.join(format!("{}.tmp.raw", b.name));
                let s = run_tool(cfg, &j.tool, &out, &tmp)
                    .with_context(|| format!("{}: {}", b.name, j.label))?;
                if cfg.verbose {
                    eprintln!(
                        "xtask: run {}/{} {:<16} {:<46} {:>8.2} s {:>8.0} MiB RSS",
                        run + 1,
                        cfg.runs,
                        b.name,
                        j.label,
                        s.wall,
                        s.rss_kib as f64 / 1024.0
                    );
                }
                rows[fi][ji].samples.push(s);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(fixtures
        .into_iter()
        .zip(rows)
        .map(|((b, floor, _), rows)| FixtureResult {
            name: b.name,
            virtual_size: b.virtual_size,
            floor,
            rows,
        })
        .collect())
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
            "  {:<46} {:>8} {:>7} {:>10} {:>11} {:>9} {:>12} {:>10}",
            "tool",
            "time s",
            "CPU s",
            "virt GB/s",
            "output MiB",
            "RSS MiB",
            "ddgz faster",
            "ddgz size"
        );
        for r in &f.rows {
            let m = r.median();
            let (faster, size) = match reference {
                Some(rf) => (
                    format!("{:.2}×", m.wall / rf.wall),
                    format!("{:.3}×", rf.out_bytes as f64 / m.out_bytes as f64),
                ),
                None => ("-".into(), "-".into()),
            };
            let n = if r.samples.len() < runs {
                let k = r.samples.len();
                format!(" ({k} run{})", if k == 1 { "" } else { "s" })
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  {:<46} {:>8.2} {:>7.1} {:>10.2} {:>11.1} {:>9.0} {:>12} {:>10}",
                format!("{}{n}", r.label),
                m.wall,
                m.cpu,
                f.virtual_size as f64 / m.wall / 1e9,
                m.out_bytes as f64 / MIB,
                m.rss_kib as f64 / 1024.0,
                faster,
                size
            );
        }
        if let Some(rf) = reference {
            let _ = writeln!(
                s,
                "  compute floor: {:.0} MiB non-zero ÷ ({threads} × {:.1} MB per CPU s, flate2/zlib-rs level 6 on 1 MiB chunks, ratio {:.4}; {:.4} primed with 32 KiB) = {:.2} s; ddgz at {:.2}× the floor (CPU: {:.1} s = {:.2}× deflate alone)",
                f.floor.nonzero as f64 / MIB,
                f.floor.rate / 1e6,
                f.floor.ratio,
                f.floor.ratio_primed,
                f.floor.seconds,
                rf.wall / f.floor.seconds,
                rf.cpu,
                rf.cpu / (f.floor.nonzero as f64 / f.floor.rate)
            );
        }
    }
    s
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
            "deflate_ratio_primed": f.floor.ratio_primed,
            "floor_seconds": f.floor.seconds,
            "rows": f.rows.iter().map(|r| {
                let m = r.median();
                json!({
                    "tool": r.label,
                    "reference": r.reference,
                    "median_seconds": m.wall,
                    "seconds": r.samples.iter().map(|s| s.wall).collect::<Vec<_>>(),
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
                    "same data in 1 TiB: ≤ 1.2× the 32 GiB time".into(),
                    q,
                    q <= 1.2,
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
        format!("\ntargets (issue 5):\n{s}")
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

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `cargo xtask bench [--quick] [--runs N] [--big-peer-runs N] [--gzip-max-gib N]
/// [--threads N] [--out DIR] [--json FILE] [--svg FILE] [FIXTURE...]`.
pub fn main(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut runs = None;
    let mut big_peer_runs = None;
    let mut gzip_max_bytes = None;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut dir = crate::target_dir().join("fixtures");
    let mut json_out = None;
    let mut svg_out = None;
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => quick = true,
            "--runs" => runs = Some(val()?.parse().context("--runs")?),
            "--gzip-max-gib" => {
                gzip_max_bytes = Some(val()?.parse::<u64>().context("--gzip-max-gib")? << 30)
            }
            "--big-peer-runs" => big_peer_runs = Some(val()?.parse().context("--big-peer-runs")?),
            "--threads" => threads = val()?.parse().context("--threads")?,
            "--out" => dir = val()?.into(),
            "--json" => json_out = Some(PathBuf::from(val()?)),
            "--svg" => svg_out = Some(PathBuf::from(val()?)),
            n if !n.starts_with('-') => names.push(n.to_string()),
            other => bail!("bench: unknown option {other}"),
        }
    }
    for t in ["pigz", "gzip", "qemu-img", "qemu-io"] {
        if !crate::have(t) {
            bail!("bench needs {t}: run `cargo xtask install-test-tools`");
        }
    }
    if names.is_empty() {
        names = if quick {
            vec!["generic-2g".into()]
        } else {
            vec![
                "generic-2g".into(),
                "esxi67-10g".into(),
                "esxi8-min-32g".into(),
                "esxi8-min-1t".into(),
            ]
        };
    }
    let runs = runs.unwrap_or(if quick { 1 } else { 3 });
    let ddgz = crate::build_ddgz(None)?;
    let load_before = load_average();
    let cfg = Config {
        ddgz,
        fixtures: names,
        dir,
        runs,
        big_peer_runs: big_peer_runs.unwrap_or(runs),
        gzip_max_bytes,
        threads,
        check: false,
        verbose: true,
    };
    let t = Instant::now();
    let results = run(&cfg, quick)?;
    let load = format!("{load_before} before, {} after", load_average());
    println!(
        "cargo xtask bench {} — {} cores, load average {load}, {:.0} s",
        args.join(" "),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        t.elapsed().as_secs_f64()
    );
    print!("{}", table(&results, threads, runs));
    print!("{}", targets(&results));
    if let Some(p) = json_out {
        std::fs::write(
            &p,
            serde_json::to_string_pretty(&json(&results, threads, runs, &load))?,
        )
        .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = svg_out {
        std::fs::write(&p, svg(&results, threads))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    // The Linux root tarball row (`ddgz tar`), on its own fixture: see bench_tar.rs.
    if !quick {
        crate::bench_tar::main(&["--runs".into(), runs.to_string()])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            }],
        };
        let floor = Floor {
            nonzero: 750 << 20,
            rate: 80e6,
            ratio: 0.7,
            ratio_primed: 0.7,
            seconds: 5.0,
        };
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
        assert!(
            t.contains("met    esxi8-min-32g: peak RSS ≤ 256 MiB: 100.00"),
            "{t}"
        );
        assert!(
            t.contains("met    same data in 1 TiB: ≤ 1.2× the 32 GiB time: 1.10"),
            "{t}"
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
            "compute floor",
        ] {
            assert!(t.contains(label), "no {label:?} in\n{t}");
        }
        let f = &results[0];
        // 12 MiB of content, and the chunks of the primary and backup GPT.
        assert_eq!(f.floor.nonzero, 14 << 20, "{t}");
        for r in &f.rows {
            let m = r.median();
            assert!(m.out_bytes > 0 && m.wall > 0.0 && m.rss_kib > 0, "{t}");
        }
        assert!(svg(&results, 2).contains("ddgz qcow2 --threads 2"));
        assert!(json(&results, 2, 1, "0")["fixtures"][0]["rows"][0]["median_seconds"].is_number());
    }
}
