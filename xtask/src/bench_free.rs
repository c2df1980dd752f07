//! `cargo xtask bench-free [--runs N] [--mib N] [--no-xz]`: what `convert --zero-free`
//! and the xz output (`ddxz`) save, and what they cost, on a disk like one an installer
//! leaves: a GPT disk whose ext4 holds `mib` MiB of OS-like files (ddgz-synth content:
//! text, binaries, already-compressed modules) and as much again written and deleted
//! (package caches, temporary files), as a qcow2. Rows: `ddgz convert` plain and with
//! `--zero-free`, to `.dd.gz` and to `.dd.xz`; the peers `qemu-img convert -O raw` +
//! `xz -T N -6`, and `xz -T N -6` of the raw file alone. Median of the runs: wall and CPU
//! seconds, peak RSS, output size.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use ddgz_synth::content::{Content, Kind, Rng};

use crate::tar_tree::{sh, time};

/// Writes about `mib` MiB of OS-like files under `root`, seeded by `seed`.
fn files(root: &Path, mib: u64, seed: u64) -> Result<()> {
    let content = Content::new(0x6672 ^ seed);
    let mut rng = Rng::new(seed);
    let (budget, mut written, mut n) = (mib << 20, 0u64, 0u32);
    while written < budget {
        let kind = match rng.below(10) {
            0..=3 => Kind::Text,
            4..=6 => Kind::Binary,
            7 => Kind::Compressed,
            _ => Kind::Mixed,
        };
        let size = 4096 + rng.below(2 << 20);
        let mut buf = vec![0u8; size as usize];
        content.fill(kind, written, &mut buf);
        let d = root.join(format!("d{}", rng.below(20)));
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("f{n}")), &buf)?;
        written += size;
        n += 1;
    }
    Ok(())
}

/// Builds (once) `dir/free-{mib}m.qcow2` and its raw twin: `mib` MiB kept, `mib` MiB
/// deleted, in an ext4 of 2.5 × `mib` + 64 MiB.
fn fixture(dir: &Path, mib: u64) -> Result<(PathBuf, PathBuf)> {
    let qcow2 = dir.join(format!("free-{mib}m.qcow2"));
    let raw = dir.join(format!("free-{mib}m.raw"));
    if qcow2.exists() && raw.exists() {
        return Ok((qcow2, raw));
    }
    std::fs::create_dir_all(dir)?;
    let src = dir.join("free-src");
    let _ = std::fs::remove_dir_all(&src);
    files(&src.join("usr"), mib, 1)?;
    files(&src.join("var/cache/junk"), mib, 2)?;
    eprintln!("bench-free: {mib} MiB kept, {mib} MiB deleted; mkfs.ext4 -d, debugfs rm …");
    let fs_mib = mib * 5 / 2 + 64;
    sh(
        dir,
        &format!(
            "rm -f fs.tmp disk.tmp rm.cmds
             mkfs.ext4 -q -F -d free-src fs.tmp {fs_mib}M
             for d in free-src/var/cache/junk/*; do
               for f in $d/*; do echo \"rm /${{f#free-src/}}\"; done
             done > rm.cmds
             debugfs -w -f rm.cmds fs.tmp >/dev/null 2>&1
             e2fsck -fn fs.tmp >/dev/null
             truncate -s {}M disk.tmp
             sgdisk -o -n 1:2048:+1M -n 2:4096:+{fs_mib}M disk.tmp >/dev/null
             dd if=fs.tmp of=disk.tmp bs=1M seek=2 conv=notrunc,sparse status=none
             qemu-img convert -O qcow2 disk.tmp {q}
             mv disk.tmp {r}; rm -rf fs.tmp rm.cmds free-src",
            fs_mib + 4,
            q = qcow2.display(),
            r = raw.display()
        ),
    )?;
    Ok((qcow2, raw))
}

pub fn main(args: &[String]) -> Result<()> {
    let (mut runs, mut mib, mut xz) = (3, 200, true);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().context("a value is missing");
        match a.as_str() {
            "--runs" => runs = val()?.parse().context("--runs")?,
            "--mib" => mib = val()?.parse().context("--mib")?,
            "--no-xz" => xz = false,
            _ => bail!("usage: cargo xtask bench-free [--runs N] [--mib N] [--no-xz]"),
        }
    }
    let ddgz = crate::build_ddgz(None)?;
    let dir = crate::workspace_root().join("target/fixtures");
    let (qcow2, raw) = fixture(&dir, mib)?;
    let j = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .to_string();
    let mut rows = Vec::new();
    let mut jobs: Vec<(&str, &str, Vec<&str>)> = vec![
        ("ddgz convert .dd.gz", "free.dd.gz", vec![]),
        (
            "ddgz convert --zero-free .dd.gz",
            "free.dd.gz",
            vec!["--zero-free"],
        ),
    ];
    if xz {
        jobs.push(("ddgz convert .dd.xz", "free.dd.xz", vec![]));
        jobs.push((
            "ddgz convert --zero-free .dd.xz",
            "free.dd.xz",
            vec!["--zero-free"],
        ));
    }
    for (label, name, extra) in jobs {
        let out = dir.join(name);
        let r = time(runs, &out, || {
            let mut c = Command::new(&ddgz);
            c.arg("convert").arg(&qcow2).arg("-o").arg(&out);
            c.args(["--force", "--quiet", "-j", &j]).args(&extra);
            c
        })?;
        let _ = std::fs::remove_file(&out);
        rows.push((label.to_string(), r));
    }
    if xz {
        let out = dir.join("free-peer.xz");
        let tmp = dir.join("free-peer.raw");
        let r = time(runs, &out, || {
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!(
                "qemu-img convert -O raw '{q}' '{t}' && xz -T{j} -6 -c '{t}' > '{o}'; \
                 s=$?; rm -f '{t}'; exit $s",
                q = qcow2.display(),
                t = tmp.display(),
                o = out.display()
            ));
            c
        })?;
        rows.push((format!("qemu-img convert -O raw + xz -T{j} -6"), r));
        let r = time(runs, &out, || {
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!(
                "xz -T{j} -6 -c '{r}' > '{o}'",
                r = raw.display(),
                o = out.display()
            ));
            c
        })?;
        rows.push((format!("xz -T{j} -6 of the raw file"), r));
        let _ = std::fs::remove_file(&out);
    }
    println!(
        "| free-{mib}m ({mib} MiB kept, {mib} MiB deleted; {j} threads, median of {runs}) | time s | CPU s | output MiB | RSS MiB |"
    );
    println!("|---|---|---|---|---|");
    for (label, r) in &rows {
        println!(
            "| {label} | {:.2} | {:.1} | {:.1} | {} |",
            r.0,
            r.1,
            r.3 as f64 / (1 << 20) as f64,
            r.2 / 1024
        );
    }
    Ok(())
}
