//! What both `bench-tar` rows share: the OS-like tree they archive, and how a command is
//! run and timed. A module of its own so that the ext4 row (bench_tar.rs) and the
//! XFS-on-LVM row (bench_tar_lvm.rs) each import it and not one another.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use ddgz_synth::content::{Content, Kind, Rng};

use crate::bench::measure;

/// Runs `script` with `sh -ec` in `dir`; fails if it does.
pub(crate) fn sh(dir: &Path, script: &str) -> Result<()> {
    let st = Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .status()
        .with_context(|| format!("running {script}"))?;
    if !st.success() {
        bail!("`{script}` failed");
    }
    Ok(())
}

/// Writes the tree: about `mib` MiB in files of 1 KiB to 4 MiB, in a few hundred
/// directories, seeded (the same tree on every machine).
pub(crate) fn tree(root: &Path, mib: u64) -> Result<u64> {
    let content = Content::new(0x7a72);
    let mut rng = Rng::new(15);
    let budget = mib << 20;
    let mut written = 0u64;
    let mut offset = 0u64;
    let mut n = 0u32;
    while written < budget {
        let (dir, kind) = match rng.below(10) {
            0..=3 => ("usr/share/doc", Kind::Text),
            4..=6 => ("usr/lib", Kind::Binary),
            7 => ("usr/lib/modules", Kind::Compressed),
            8 => ("etc", Kind::Text),
            _ => ("usr/bin", Kind::Mixed),
        };
        let sub = format!("{dir}/d{}", rng.below(60));
        let size = match rng.below(100) {
            0..=59 => 1024 + rng.below(16 << 10),
            60..=94 => 16 << 10 | rng.below(256 << 10),
            _ => 256 << 10 | rng.below(4 << 20),
        };
        let mut buf = vec![0u8; size as usize];
        content.fill(kind, offset, &mut buf);
        offset += size;
        let d = root.join(&sub);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("f{n}")), &buf)?;
        written += size;
        n += 1;
    }
    std::fs::create_dir_all(root.join("etc"))?;
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Bench Linux\"\nID=bench\nVERSION_ID=\"1.0\"\n",
    )?;
    Ok(u64::from(n))
}

/// Median of `runs` timings of `cmd`, output size of `out`.
pub(crate) fn time(
    runs: usize,
    out: &Path,
    mut cmd: impl FnMut() -> Command,
) -> Result<(f64, f64, u64, u64)> {
    let mut v = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(out);
        let (wall, rss, cpu) = measure(&mut cmd())?;
        let size = std::fs::metadata(out)
            .with_context(|| format!("{} was not written", out.display()))?
            .len();
        v.push((wall, cpu, rss, size));
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(v[v.len() / 2])
}

/// One timed command: wall s, CPU s, peak RSS KiB, output bytes.
pub(crate) type Timing = (f64, f64, u64, u64);

/// `ddgz tar IMAGE -o OUT -j THREADS`, timed as [`time`] does: the row both benches share.
pub(crate) fn time_ddgz_tar(
    ddgz: &Path,
    image: &Path,
    out: &Path,
    runs: usize,
    threads: usize,
) -> Result<Timing> {
    time(runs, out, || {
        let mut c = Command::new(ddgz);
        c.arg("tar").arg(image).arg("-o").arg(out).args([
            "--force",
            "--quiet",
            "-j",
            &threads.to_string(),
        ]);
        c
    })
}
