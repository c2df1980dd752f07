//! `cargo xtask bench-tar [--runs N] [--mib N] [--only ext4|xfs-lvm]`: `ddgz tar` against what packer-maas does
//! without FUSE, `debugfs -R 'rdump / DIR'` + GNU tar + `pigz -9`, on a root filesystem of
//! OS-like files (ddgz-synth content: text, binaries, already-compressed modules) made
//! with `mkfs.ext4 -d` and put into a qcow2 as GPT partition 2. The peer reads the raw
//! filesystem image directly (no qcow2, no nbd): a floor for the FUSE pipeline it stands
//! in for. Then the same tree as XFS in an LVM logical volume (bench_tar_lvm.rs). Median
//! of the runs; wall and CPU seconds, peak RSS, output size.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::tar_tree::{sh, time, time_ddgz_tar, tree, Timing};

/// Builds (once) `dir/rootfs.qcow2` and `dir/rootfs.img`.
fn fixture(dir: &Path, mib: u64) -> Result<(PathBuf, PathBuf)> {
    let qcow2 = dir.join(format!("rootfs-{mib}m.qcow2"));
    let img = dir.join(format!("rootfs-{mib}m.img"));
    if qcow2.exists() && img.exists() {
        return Ok((qcow2, img));
    }
    std::fs::create_dir_all(dir)?;
    let src = dir.join("rootfs-src");
    let _ = std::fs::remove_dir_all(&src);
    let files = tree(&src, mib)?;
    eprintln!("bench-tar: {files} files, {mib} MiB; mkfs.ext4 -d …");
    let fs_mib = mib * 3 / 2 + 64;
    sh(
        dir,
        &format!(
            "rm -f fs.tmp disk.tmp
             mkfs.ext4 -q -F -d rootfs-src fs.tmp {fs_mib}M
             truncate -s {}M disk.tmp
             sgdisk -o -n 1:2048:+1M -n 2:4096:+{fs_mib}M disk.tmp >/dev/null
             dd if=fs.tmp of=disk.tmp bs=1M seek=2 conv=notrunc,sparse status=none
             qemu-img convert -O qcow2 disk.tmp {q}
             mv fs.tmp {i}; rm -rf disk.tmp rootfs-src",
            fs_mib + 4,
            q = qcow2.display(),
            i = img.display()
        ),
    )?;
    Ok((qcow2, img))
}

pub fn main(args: &[String]) -> Result<()> {
    let mut runs = 3;
    let mut mib = 300;
    let (mut ext4, mut lvm) = (true, true);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().context("a value is missing");
        match a.as_str() {
            "--runs" => runs = val()?.parse().context("--runs")?,
            "--mib" => mib = val()?.parse().context("--mib")?,
            "--only" => match val()?.as_str() {
                "ext4" => lvm = false,
                "xfs-lvm" => ext4 = false,
                o => bail!("--only {o}: ext4 or xfs-lvm"),
            },
            _ => bail!("usage: cargo xtask bench-tar [--runs N] [--mib N] [--only ext4|xfs-lvm]"),
        }
    }
    let ddgz = crate::build_ddgz(None)?;
    let dir = crate::workspace_root().join("target/fixtures");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if ext4 {
        let rows = ext4_rows(&ddgz, &dir, mib, runs, threads)?;
        print_rows(&format!("rootfs-{mib}m"), threads, runs, &rows);
    }
    if lvm {
        if let Some(rows) = crate::bench_tar_lvm::rows(&ddgz, &dir, mib, runs, threads)? {
            print_rows(&format!("xfs-lvm-{mib}m"), threads, runs, &rows);
        }
    }
    Ok(())
}

/// The ext4 rows: ddgz against debugfs rdump + GNU tar + pigz.
fn ext4_rows(
    ddgz: &Path,
    dir: &Path,
    mib: u64,
    runs: usize,
    threads: usize,
) -> Result<Vec<(String, Timing)>> {
    let (qcow2, img) = fixture(dir, mib)?;
    let out = dir.join("bench-tar.out");
    let tmp = dir.join("bench-tar.rdump");
    let ours = time_ddgz_tar(ddgz, &qcow2, &out, runs, threads)?;
    let peer = time(runs, &out, || {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "rm -rf '{t}' && mkdir '{t}' && debugfs -R 'rdump / {t}' '{i}' 2>/dev/null && \
             tar -Scpf - --acls --selinux --xattrs --exclude-backups -C '{t}' . | pigz -9 -p {threads} > '{o}'; \
             s=$?; rm -rf '{t}'; exit $s",
            t = tmp.display(),
            i = img.display(),
            o = out.display()
        ));
        c
    })?;
    let _ = std::fs::remove_file(&out);
    Ok(vec![
        ("ddgz tar qcow2 (level 9)".into(), ours),
        ("debugfs rdump + GNU tar + pigz -9 (raw fs)".into(), peer),
    ])
}

/// A table of `rows` (ddgz first, the peer second) and the speed-up.
fn print_rows(name: &str, threads: usize, runs: usize, rows: &[(String, Timing)]) {
    println!(
        "| {name} ({threads} threads, median of {runs}) | time s | CPU s | output MiB | RSS MiB |"
    );
    println!("|---|---|---|---|---|");
    for (label, r) in rows {
        println!(
            "| {label} | {:.2} | {:.1} | {:.1} | {} |",
            r.0,
            r.1,
            r.3 as f64 / (1 << 20) as f64,
            r.2 / 1024
        );
    }
    if let [(_, ours), (_, peer)] = rows {
        println!("ddgz faster: {:.2}×", peer.0 / ours.0);
    }
}
