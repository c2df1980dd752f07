//! The measuring: the jobs of a fixture, timed runs (wall, CPU, peak RSS), the compute
//! floor.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ddgz_deflate::encoder::DEFLATE_WINDOW;
use ddgz_deflate::{ChunkEncoder, DeflateEncoder};
use ddgz_image::{Disk, ExtentKind, RawDisk};

use super::{Config, FixtureResult, Floor, Row, Sample};
use crate::fixtures::{self, Built};

/// ddgz's chunk size, for counting non-zero chunks the way it does.
const CHUNK: u64 = 1 << 20;
/// Findings of the fixtures that `verify` may pass over: they have no curtin hooks.
const VERIFY_ALLOW: [&str; 2] = ["maas-hooks-missing", "maas-scripts-missing"];

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
        image: PathBuf,
        fmt: &'static str,
        threads: usize,
    },
    /// `ddgz verify` of a ddgz file, with or without the layout check.
    Verify {
        file: PathBuf,
        layout: bool,
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
    // SAFETY: as above.
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

/// The 1-minute load average now (`/proc/loadavg`), NaN if unknown.
pub(super) fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// sha256 of a file, as hex.
fn sha256_file(p: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// CPU seconds all CPUs have been busy since boot (`/proc/stat`: every state but idle
/// and iowait), NaN if unknown.
fn busy_cpu() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return f64::NAN;
    };
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return f64::NAN;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) as f64 / hz
}

/// Waits up to `max_s` seconds for the 1-minute load average to fall below
/// [`NOISY_LOAD`](super::NOISY_LOAD): the previous run raised it.
fn settle(max_s: u64, verbose: bool) {
    let t = Instant::now();
    let mut said = false;
    while load1() >= super::NOISY_LOAD && t.elapsed().as_secs() < max_s {
        if verbose && !said {
            eprintln!(
                "xtask: waiting for the load average ({:.2}) to fall below {}",
                load1(),
                super::NOISY_LOAD
            );
            said = true;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// Runs `tool` once, writing to `out`.
fn run_tool(cfg: &Config, tool: &Tool, out: &Path, tmp: &Path) -> Result<Sample> {
    let _ = std::fs::remove_file(out);
    settle(cfg.settle, cfg.verbose);
    let load1 = load1();
    let busy_before = busy_cpu();
    // CPU the rest of the machine used while the run lasted.
    let others = |own: f64| (busy_cpu() - busy_before - own).max(0.0);
    let (wall, rss_kib, cpu) = match tool {
        Tool::Ddgz { input, threads } => measure(
            Command::new(&cfg.ddgz)
                .arg("convert")
                .arg(input)
                .arg("-o")
                .arg(out)
                // The fixtures have no curtin hooks, which validation (MAAS readiness)
                // refuses: the bench measures the conversion.
                .args([
                    "--threads",
                    &threads.to_string(),
                    "--force",
                    "--quiet",
                    "--no-validate",
                ]),
        )?,
        Tool::Pigz { raw, threads } => measure(&mut sh(&format!(
            "pigz -6 -p {threads} -c {} > {}",
            q(raw),
            q(out)
        )))?,
        Tool::Gzip { raw } => measure(&mut sh(&format!("gzip -6 -c {} > {}", q(raw), q(out))))?,
        Tool::QemuImgPigz {
            image,
            fmt,
            threads,
        } => {
            let _ = std::fs::remove_file(tmp);
            let r = measure(&mut sh(&format!(
                "qemu-img convert -f {fmt} -O raw {} {} && pigz -6 -p {threads} -c {} > {}",
                q(image),
                q(tmp),
                q(tmp),
                q(out)
            )));
            let _ = std::fs::remove_file(tmp);
            r?
        }
        Tool::Verify { file, layout } => {
            let opts = if *layout {
                VERIFY_ALLOW.map(|c| format!("--allow {c}")).join(" ")
            } else {
                "--no-layout".into()
            };
            // Its report is not the harness's.
            let (wall, rss_kib, cpu) = measure(&mut sh(&format!(
                "{} verify {} --quiet {opts} > /dev/null",
                q(&cfg.ddgz),
                q(file)
            )))?;
            return Ok(Sample {
                wall,
                cpu,
                rss_kib,
                load1,
                other_cpu: others(cpu),
                ..Sample::default()
            });
        }
    };
    let other_cpu = others(cpu);
    let out_bytes = std::fs::metadata(out)
        .with_context(|| format!("{} was not written", out.display()))?
        .len();
    // What ddgz wrote, to compare across rows, runs and versions (not timed).
    let sha256 = match tool {
        Tool::Ddgz { .. } => Some(sha256_file(out)?),
        _ => None,
    };
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
        load1,
        other_cpu,
        sha256,
    })
}

/// `{name}.verify.dd.gz` in `work`: ddgz's output for the fixture, made once for the
/// `verify` rows (the 1 TiB twin: none).
fn verify_file(b: &Built, cfg: &Config, work: &Path) -> Result<Option<PathBuf>> {
    if b.raw.is_none() {
        return Ok(None);
    }
    let out = work.join(format!("{}.verify.dd.gz", b.name));
    let st = Command::new(&cfg.ddgz)
        .arg("convert")
        .arg(&b.qcow2)
        .arg("-o")
        .arg(&out)
        .args(["--force", "--quiet", "--no-validate"])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("ddgz convert {} failed", b.qcow2.display());
    }
    Ok(Some(out))
}

/// The ESXi 8 fixture in the other formats builders write, each made once beside it by
/// `qemu-img convert` of its raw file (other fixtures: none): what vmware-iso and OVA
/// exports write (streamOptimized VMDK) and what hyperv-iso writes (dynamic VHDX).
const FOREIGN: [Foreign; 2] = [
    Foreign {
        label: "vmdk streamOptimized",
        fmt: "vmdk",
        opts: "-O vmdk -o subformat=streamOptimized",
        ext: "stream.vmdk",
    },
    Foreign {
        label: "vhdx dynamic",
        fmt: "vhdx",
        opts: "-O vhdx -o subformat=dynamic",
        ext: "dynamic.vhdx",
    },
];

/// A format the fixture is converted to for a row of its own.
#[derive(Debug, Clone, Copy)]
struct Foreign {
    label: &'static str,
    /// qemu-img's `-f` name.
    fmt: &'static str,
    opts: &'static str,
    ext: &'static str,
}

/// `{name}-{ext}` for each of [`FOREIGN`], made when missing or older than the raw file.
fn foreign_images(b: &Built, cfg: &Config) -> Result<Vec<(Foreign, PathBuf)>> {
    let Some(raw) = b.raw.as_ref().filter(|_| b.name == "esxi8-min-32g") else {
        return Ok(Vec::new());
    };
    let fresh = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut v = Vec::new();
    for f in FOREIGN {
        let img = cfg.dir.join(format!("{}-{}", b.name, f.ext));
        if fresh(&img).is_none() || fresh(&img) < fresh(raw) {
            let st = sh(&format!(
                "qemu-img convert -f raw {} {} {}",
                f.opts,
                q(raw),
                q(&img)
            ))
            .status()?;
            if !st.success() {
                bail!("qemu-img could not write {}", img.display());
            }
        }
        v.push((f, img));
    }
    Ok(v)
}

/// The jobs of one fixture.
fn jobs(
    b: &Built,
    cfg: &Config,
    quick: bool,
    foreign: &[(Foreign, PathBuf)],
    verify: Option<&Path>,
) -> Vec<Job> {
    let threads = cfg.threads;
    let mut v = Vec::new();
    let job = |label: String, tool, reference| Job {
        label,
        tool,
        reference,
        runs: usize::MAX,
    };
    v.push(job(
        format!("ddgz qcow2 --threads {threads}"),
        Tool::Ddgz {
            input: b.qcow2.clone(),
            threads,
        },
        true,
    ));
    let Some(raw) = &b.raw else {
        // The 1 TiB twin: only ddgz can afford it.
        return v;
    };
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
            image: b.qcow2.clone(),
            fmt: "qcow2",
            threads,
        },
        false,
    ));
    // The same disk in the other formats builders write.
    for (f, img) in foreign {
        v.push(job(
            format!("ddgz {} --threads {threads}", f.label),
            Tool::Ddgz {
                input: img.clone(),
                threads,
            },
            false,
        ));
        v.push(job(
            format!(
                "qemu-img convert -f {} -O raw + pigz -6 -p {threads}",
                f.fmt
            ),
            Tool::QemuImgPigz {
                image: img.clone(),
                fmt: f.fmt,
                threads,
            },
            false,
        ));
    }
    // Checking ddgz's output: the gzip stream alone, and with the layout check.
    if let Some(f) = verify {
        for (label, layout) in [("ddgz verify --no-layout", false), ("ddgz verify", true)] {
            v.push(job(
                label.into(),
                Tool::Verify {
                    file: f.to_path_buf(),
                    layout,
                },
                false,
            ));
        }
    }
    // pigz reads every zero too: on big disks, fewer runs of the peers.
    if b.virtual_size > 4 << 30 {
        for j in &mut v {
            if !matches!(j.tool, Tool::Ddgz { .. } | Tool::Verify { .. }) {
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
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The compute floor: every non-zero chunk of `disk` encoded as ddgz encodes it (its
/// deflate chunk encoder at level 6, primed with the 32 KiB before the chunk; without the
/// self-check), on this one thread, timed in thread CPU time — the same deflate work as
/// ddgz's, measured so that other load on the machine hardly changes it — divided by
/// `threads`. Also measured: the self-check's CPU on the same chunks, and the wall time of
/// the same deflate work on `threads` threads at once (how far the cores are from
/// dividing the work perfectly).
pub fn floor(disk: &dyn Disk, threads: usize) -> Result<Floor> {
    let load_before = load1();
    let mut enc = DeflateEncoder::new(6, false);
    let mut buf = vec![0u8; DEFLATE_WINDOW + CHUNK as usize];
    let mut check = vec![0u8; CHUNK as usize + 1];
    let (mut outb, mut cpu, mut check_cpu) = (0u64, 0f64, 0f64);
    let mut chunks = Vec::new();
    let mut last = None;
    for e in disk.extents(0, disk.size())? {
        if e.kind != ExtentKind::Data {
            continue;
        }
        let mut c = e.offset / CHUNK * CHUNK;
        while c < e.end() {
            if last != Some(c) {
                last = Some(c);
                let (dict, data) = read_chunk(disk, c, &mut buf)?;
                if data.iter().any(|&b| b != 0) {
                    let t = thread_cpu();
                    let out = enc.encode(c, dict, data)?;
                    cpu += thread_cpu() - t;
                    outb += out.len() as u64;
                    let t = thread_cpu();
                    let d = ddgz_deflate::verify::decode_chunk_into(&out, dict, &mut check)?;
                    check_cpu += thread_cpu() - t;
                    anyhow::ensure!(d.len == data.len() as u64, "chunk at {c} decodes short");
                    chunks.push(c);
                }
            }
            c += CHUNK;
        }
    }
    if chunks.is_empty() {
        return Ok(Floor::default());
    }
    let nonzero: u64 = chunks.iter().map(|&c| CHUNK.min(disk.size() - c)).sum();
    Ok(Floor {
        nonzero,
        rate: nonzero as f64 / cpu,
        ratio: outb as f64 / nonzero as f64,
        cpu,
        seconds: cpu / threads as f64,
        load1: load_before.max(load1()),
        check_cpu,
        parallel_wall: parallel_deflate(disk, &chunks, threads)?,
    })
}

/// Chunk `c` of `disk` read into `buf` with the bytes before it: (dictionary, data).
fn read_chunk<'a>(disk: &dyn Disk, c: u64, buf: &'a mut [u8]) -> Result<(&'a [u8], &'a [u8])> {
    let n = CHUNK.min(disk.size() - c) as usize;
    let before = c.min(DEFLATE_WINDOW as u64) as usize;
    disk.read_at(c - before as u64, &mut buf[..before + n])?;
    Ok(buf[..before + n].split_at(before))
}

/// Wall seconds of deflating `chunks` on `threads` threads at once, each claiming the next
/// chunk as ddgz's workers do (reads included: from the page cache, as in ddgz's runs).
fn parallel_deflate(disk: &dyn Disk, chunks: &[u64], threads: usize) -> Result<f64> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut enc = DeflateEncoder::new(6, false);
                    let mut buf = vec![0u8; DEFLATE_WINDOW + CHUNK as usize];
                    while let Some(&c) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (dict, data) = read_chunk(disk, c, &mut buf)?;
                        enc.encode(c, dict, data)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a floor thread panicked"))?
        })
    })?;
    Ok(t.elapsed().as_secs_f64())
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
    // Floors by the fixture whose raw file they were measured on (the twin shares one).
    let mut floors = std::collections::HashMap::new();
    let mut floor_of = |name: &str, raw: &Path| -> Result<Floor> {
        if let Some(f) = floors.get(name) {
            return Ok(*f);
        }
        if cfg.verbose {
            eprintln!("xtask: compute floor of {name} (one thread, every non-zero chunk)");
        }
        let f = floor(&RawDisk::open(raw)?, cfg.threads)?;
        floors.insert(name.to_string(), f);
        Ok(f)
    };
    for name in &cfg.fixtures {
        let b = fixtures::build(name, &cfg.dir, cfg.verbose)?;
        for p in [b.raw.as_ref(), Some(&b.qcow2), b.guest_qcow2.as_ref()]
            .into_iter()
            .flatten()
        {
            warm(p)?;
        }
        let floor = match &b.raw {
            Some(raw) => floor_of(&b.name, raw)?,
            // The 1 TiB twin holds the 32 GiB fixture's data.
            None => {
                let twin = fixtures::build("esxi8-min-32g", &cfg.dir, cfg.verbose)?;
                floor_of(&twin.name, twin.raw.as_ref().context("twin raw")?)?
            }
        };
        let foreign = foreign_images(&b, cfg)?;
        for (_, img) in &foreign {
            warm(img)?;
        }
        let verify = verify_file(&b, cfg, &work)?;
        let jobs = jobs(&b, cfg, quick, &foreign, verify.as_deref());
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
                        "xtask: run {}/{} {:<16} {:<46} {:>8.2} s {:>8.0} MiB RSS, load {:.2}, others {:.1} CPU s",
                        run + 1,
                        cfg.runs,
                        b.name,
                        j.label,
                        s.wall,
                        s.rss_kib as f64 / 1024.0,
                        s.load1,
                        s.other_cpu
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

pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
