//! `ddgz convert --add` on a Windows disk laid out as packer-maas's (1 ESP FAT32, 2 MSR,
//! 3 recovery NTFS, 4 Windows NTFS), as qcow2: the curtin hooks and `unattend.xml` land on
//! the Windows partition, read back by ntfs-3g's tools after curtin's `zcat | dd`, the
//! volume stays consistent through an ntfs-3g read-write mount, ddgz runs as `nobody`, a
//! volume without room is refused with exit 3 and no output, and packer-maas's VHDX
//! pre-build step (`unattend.xml` into a raw disk) is one command.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{say, Dir};

const MIB: u64 = 1 << 20;
/// Partitions: (start MiB, size MiB). p4 is the Windows partition.
const PARTS: [(u64, u64); 4] = [(1, 64), (65, 16), (81, 32), (113, 96)];
const DISK_MIB: u64 = 210;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why this machine cannot build the fixture (tools, root and FUSE for the ntfs-3g mount
/// that makes `Windows/System32`), or `None`.
fn cannot() -> Option<String> {
    for t in [
        "mkntfs", "ntfs-3g", "ntfsls", "ntfscat", "ntfsfix", "sgdisk", "mkfs.fat", "mmd", "mcopy",
        "qemu-img", "setpriv",
    ] {
        if !have(t) {
            return Some(format!("{t} is not installed"));
        }
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    (uid.stdout != b"0\n").then(|| "not root (the fixture needs an ntfs-3g mount)".into())
}

/// Deterministic bytes.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The Windows partition image (cluster size `cluster`), populated through an ntfs-3g
/// mount: `Windows/System32` and a few files.
fn windows_volume(d: &Dir, cluster: u32) -> PathBuf {
    let img = d.join("win.img");
    d.sh(&format!(
        "truncate -s {}M win.img && mkntfs -F -Q -c {cluster} -L Windows win.img >/dev/null 2>&1 \
         && mkdir -p m && ntfs-3g win.img m && mkdir -p m/Windows/System32/drivers/etc \
         'm/Program Files/Cloudbase Solutions/Cloudbase-Init' m/Windows/Panther",
        PARTS[3].1
    ));
    let m = d.join("m");
    std::fs::write(m.join("Windows/System32/ntoskrnl.exe"), content(1, 300_000)).unwrap();
    std::fs::write(
        m.join("Windows/System32/drivers/etc/hosts"),
        b"127.0.0.1 localhost\r\n",
    )
    .unwrap();
    std::fs::write(
        m.join("Program Files/Cloudbase Solutions/Cloudbase-Init/x.conf"),
        b"[DEFAULT]\r\n",
    )
    .unwrap();
    d.sh("umount m");
    img
}

/// The files the fixture holds before ddgz adds anything.
const FILES: [&str; 3] = [
    "Windows/System32/ntoskrnl.exe",
    "Windows/System32/drivers/etc/hosts",
    "Program Files/Cloudbase Solutions/Cloudbase-Init/x.conf",
];

/// The GPT disk with `win` as partition 4, as qcow2.
fn disk(d: &Dir, win: &Path) -> PathBuf {
    d.sh(&format!(
        "truncate -s {DISK_MIB}M disk.raw && sgdisk -n1:{}M:+{}M -t1:ef00 -n2:{}M:+{}M -t2:0c01 \
         -n3:{}M:+{}M -t3:2700 -n4:{}M:+{}M -t4:0700 disk.raw >/dev/null \
         && truncate -s {}M esp.img && mkfs.fat -F 32 esp.img >/dev/null \
         && mmd -i esp.img ::EFI ::EFI/Microsoft ::EFI/Microsoft/Boot \
         && echo bootmgr | mcopy -i esp.img - ::EFI/Microsoft/Boot/bootmgfw.efi \
         && truncate -s {}M rec.img && mkntfs -F -Q -L Recovery rec.img >/dev/null 2>&1 \
         && dd if=esp.img of=disk.raw bs=1M seek={} conv=notrunc status=none \
         && dd if=rec.img of=disk.raw bs=1M seek={} conv=notrunc status=none \
         && dd if={} of=disk.raw bs=1M seek={} conv=notrunc status=none \
         && qemu-img convert -O qcow2 disk.raw disk.qcow2 && rm disk.raw esp.img rec.img",
        PARTS[0].0,
        PARTS[0].1,
        PARTS[1].0,
        PARTS[1].1,
        PARTS[2].0,
        PARTS[2].1,
        PARTS[3].0,
        PARTS[3].1,
        PARTS[0].1,
        PARTS[2].1,
        PARTS[0].0,
        PARTS[2].0,
        win.display(),
        PARTS[3].0,
    ));
    d.join("disk.qcow2")
}

/// The hooks and the answer file.
fn sources(d: &Dir) {
    std::fs::create_dir_all(d.join("curtin")).unwrap();
    std::fs::write(
        d.join("curtin/curtin-hooks"),
        b"#!/usr/bin/env python3\nimport finalize\n",
    )
    .unwrap();
    std::fs::write(
        d.join("curtin/finalize"),
        b"#!/bin/sh\nexec python3 finalize.py\n",
    )
    .unwrap();
    std::fs::write(d.join("curtin/finalize.py"), content(7, 40_000)).unwrap();
    std::fs::write(d.join("unattend.xml"), content(8, 6_000)).unwrap();
}

/// `zcat OUT | dd` as curtin does, then partition 4 cut out.
fn windows_partition_of(d: &Dir, out: &str) -> PathBuf {
    d.sh(&format!(
        "zcat {out} > out.raw && dd if=out.raw of=after.img bs=1M skip={} count={} status=none \
         && rm out.raw",
        PARTS[3].0, PARTS[3].1
    ));
    d.join("after.img")
}

fn ntfsls(img: &Path) -> Vec<String> {
    let o = Command::new("ntfsls").arg("-R").arg(img).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut dir = String::new();
    let mut out = Vec::new();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        if l.starts_with('/') && l.ends_with(':') {
            dir = l[1..l.len() - 1].to_string();
        } else if !l.is_empty() && l != "." && l != ".." {
            out.push(if dir.is_empty() {
                l.to_string()
            } else {
                format!("{dir}/{l}")
            });
        }
    }
    out.sort();
    out
}

fn ntfscat(img: &Path, p: &str) -> Vec<u8> {
    let o = Command::new("ntfscat").arg(img).arg(p).output().unwrap();
    assert!(
        o.status.success(),
        "ntfscat {p}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn fix_n(img: &Path) {
    let o = Command::new("ntfsfix").arg("-n").arg(img).output().unwrap();
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && t.contains("processed successfully") && !t.contains("FIX"),
        "{t}"
    );
}

#[test]
fn curtin_hooks_into_the_windows_partition() {
    if let Some(why) = cannot() {
        say(&format!("skipped: {why}"));
        return;
    }
    for cluster in [512u32, 4096, 65536] {
        let d = Dir::new();
        let win = windows_volume(&d, cluster);
        let before = ntfsls(&win);
        let qcow = disk(&d, &win);
        sources(&d);
        if cluster == 4096 {
            // Without the hooks the Windows readiness refuses; with them (re-checked over
            // the overlay) the same image passes.
            let out = d.ddgz(&["convert", qcow.to_str().unwrap(), "-o", "bare.dd.gz"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(err.contains("windows-hooks-missing"), "{err}");
        }
        let out = d.ddgz(&[
            "convert",
            qcow.to_str().unwrap(),
            "--add",
            "curtin",
            "--add",
            "unattend.xml:Windows/Panther/unattend.xml",
            "-o",
            "windows.dd.gz",
        ]);
        assert!(
            out.status.success(),
            "{cluster}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = windows_partition_of(&d, "windows.dd.gz");
        let listed = ntfsls(&after);
        for p in &before {
            assert!(listed.contains(p), "{cluster}: {p} lost");
        }
        for p in FILES {
            let p = format!("/{p}");
            assert_eq!(
                ntfscat(&win, &p),
                ntfscat(&after, &p),
                "{cluster}: {p} changed"
            );
        }
        for (p, src) in [
            ("curtin/curtin-hooks", "curtin/curtin-hooks"),
            ("curtin/finalize", "curtin/finalize"),
            ("curtin/finalize.py", "curtin/finalize.py"),
            ("Windows/Panther/unattend.xml", "unattend.xml"),
        ] {
            assert!(listed.contains(&p.to_string()), "{cluster}: {p} not listed");
            assert_eq!(
                ntfscat(&after, &format!("/{p}")),
                std::fs::read(d.join(src)).unwrap(),
                "{p}"
            );
        }
        fix_n(&after);
        // The ESP (partition 1) is untouched: the files went to the Windows partition.
        // An ntfs-3g read-write mount adds and deletes a file; the volume still lists.
        d.sh(
            "mkdir -p m2 && ntfs-3g after.img m2 && echo more > m2/curtin/added.txt \
             && rm m2/curtin/finalize && ls m2/curtin > /dev/null && umount m2",
        );
        let again = ntfsls(&after);
        assert!(again.contains(&"curtin/added.txt".to_string()));
        assert!(!again.contains(&"curtin/finalize".to_string()));
        assert!(again.contains(&"curtin/finalize.py".to_string()));
        fix_n(&after);
    }
}

#[test]
fn as_nobody_and_refused_without_room() {
    if let Some(why) = cannot() {
        say(&format!("skipped: {why}"));
        return;
    }
    let d = Dir::new();
    let win = windows_volume(&d, 4096);
    let qcow = disk(&d, &win);
    sources(&d);
    d.sh("mkdir -m 777 out && chmod -R a+rX . && chmod 755 ..");
    let as_nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_ddgz"))
        .args([
            "convert",
            qcow.to_str().unwrap(),
            "--add",
            "curtin",
            "-o",
            "out/w.dd.gz",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        as_nobody.status.success(),
        "{}",
        String::from_utf8_lossy(&as_nobody.stderr)
    );
    let after = windows_partition_of(&d, "out/w.dd.gz");
    assert_eq!(
        ntfscat(&after, "/curtin/finalize.py"),
        std::fs::read(d.join("curtin/finalize.py")).unwrap()
    );

    // `1:SRC` names partition 1 (the ESP, FAT) even on a Windows image.
    d.ddgz_ok(&[
        "convert",
        qcow.to_str().unwrap(),
        "--add",
        "1:unattend.xml:EFI/unattend.xml",
        // Nothing goes to the Windows partition in this run: its hooks are missing.
        "--allow",
        "windows-hooks-missing",
        "-o",
        "esp.dd.gz",
    ]);
    let esp = d.sh(&format!(
        "zcat esp.dd.gz > esp.raw && mtype -i esp.raw@@{} ::EFI/unattend.xml | sha256sum && rm esp.raw",
        PARTS[0].0 * MIB
    ));
    let want = d.sh("sha256sum < unattend.xml");
    assert_eq!(esp, want);

    // A file larger than the free space: exit 3, the reason, no output.
    std::fs::write(d.join("big.bin"), content(3, 120 * MIB as usize)).unwrap();
    let o = d.ddgz(&[
        "convert",
        qcow.to_str().unwrap(),
        "--add",
        "big.bin",
        "-o",
        "big.dd.gz",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("no room"), "{err}");
    assert!(!d.join("big.dd.gz").exists());
    assert!(crate::util::partials(d.path()).is_empty());
}

/// packer-maas's VHDX pre-build step (`qemu-img convert`, nbd, mount, copy `unattend.xml`)
/// as one command: `convert windows.vhdx --add unattend.xml:Windows/Panther/ -o disk.raw`.
/// The hooks come later (the final convert), so the step says `--allow
/// windows-hooks-missing`; without it the readiness refuses and nothing is written. The raw
/// disk has holes, the answer file is on the Windows partition, every file that was there
/// is unchanged, and every byte outside the Windows partition is `qemu-img`'s.
#[test]
fn vhdx_prebuild_unattend_into_a_raw_disk() {
    if let Some(why) = cannot() {
        say(&format!("skipped: {why}"));
        return;
    }
    let d = Dir::new();
    let win = windows_volume(&d, 4096);
    let qcow = disk(&d, &win);
    sources(&d);
    d.sh(&format!(
        "qemu-img convert -O vhdx {} windows.vhdx && qemu-img convert -O raw windows.vhdx want.raw",
        qcow.display()
    ));
    let step = [
        "convert",
        "windows.vhdx",
        "--add",
        "unattend.xml:Windows/Panther/",
        "-o",
        "disk.raw",
    ];
    let o = d.ddgz(&step);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("windows-hooks-missing") && err.contains("--allow"),
        "{err}"
    );
    assert!(!d.join("disk.raw").exists());
    let mut allowed = step.to_vec();
    allowed.extend(["--allow", "windows-hooks-missing"]);
    let report = d.ddgz_ok(&allowed);
    assert!(report.contains("raw disk with holes"), "{report}");

    let out = d.sh("stat -c '%b %B %s' disk.raw");
    let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let (alloc, size) = (v[0] * v[1], v[2]);
    assert_eq!(size, DISK_MIB * MIB);
    // The data (two NTFS volumes' metadata, 300 KB of files, the FAT) is a few MiB of 210.
    assert!(alloc < 16 * MIB, "{alloc} bytes allocated");

    d.sh(&format!(
        "dd if=disk.raw of=after.img bs=1M skip={} count={} status=none",
        PARTS[3].0, PARTS[3].1
    ));
    let after = d.join("after.img");
    assert_eq!(
        ntfscat(&after, "/Windows/Panther/unattend.xml"),
        std::fs::read(d.join("unattend.xml")).unwrap()
    );
    let listed = ntfsls(&after);
    for p in ntfsls(&win) {
        assert!(listed.contains(&p), "{p} lost");
    }
    for p in FILES {
        let p = format!("/{p}");
        assert_eq!(ntfscat(&win, &p), ntfscat(&after, &p), "{p} changed");
    }
    fix_n(&after);
    // Before the Windows partition (protective MBR, primary GPT, partitions 1-3) and after
    // it (the backup GPT): qemu-img's bytes.
    let end = PARTS[3].0 + PARTS[3].1;
    d.sh(&format!(
        "cmp -n {}M disk.raw want.raw && cmp -i {end}M:{end}M disk.raw want.raw",
        PARTS[3].0
    ));
}

#[test]
fn a_hibernated_windows_is_refused() {
    if let Some(why) = cannot() {
        say(&format!("skipped: {why}"));
        return;
    }
    let d = Dir::new();
    let win = windows_volume(&d, 4096);
    // Fast Startup's mark: hiberfil.sys holding a hibernation image ("hibr").
    d.sh("printf hibr > h && truncate -s 64K h && ntfscp win.img h hiberfil.sys");
    let qcow = disk(&d, &win);
    sources(&d);
    let o = d.ddgz(&[
        "convert",
        qcow.to_str().unwrap(),
        "--add",
        "curtin",
        "-o",
        "w.dd.gz",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("hibernation") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!d.join("w.dd.gz").exists());
}

/// `examples/packer-windows/windows.pkr.hcl` validated by a real packer (stand-ins for the
/// ISO and the answer files); the same template with a key the QEMU builder lacks fails,
/// so the check is real. Skips, saying why, without packer or its QEMU builder.
#[test]
fn packer_validates_the_windows_template() {
    let version = match Command::new("packer").arg("version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            say("SKIPPED packer_validates_the_windows_template: no packer on PATH");
            return;
        }
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/packer-windows");
    let d = Dir::new();
    let template = std::fs::read_to_string(example.join("windows.pkr.hcl")).unwrap();
    std::fs::create_dir(d.join("http")).unwrap();
    for f in ["fake.iso", "http/Autounattend.xml", "http/logon.ps1"] {
        std::fs::write(d.join(f), b"").unwrap();
    }
    let validate = |file: &str, body: &str| {
        std::fs::write(d.join(file), body).unwrap();
        let o = Command::new("packer")
            .args(["validate", "-var", "iso_path=fake.iso", file])
            .current_dir(d.path())
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (ok, t) = validate("windows.pkr.hcl", &template);
    if !ok && t.to_lowercase().contains("unknown") && t.contains("qemu") {
        say(&format!(
            "SKIPPED packer_validates_the_windows_template: {version} has no QEMU builder: {t}"
        ));
        return;
    }
    assert!(ok, "{version}: {t}");
    assert!(template.contains("convert output-windows_builder/packer-windows_builder"));
    assert!(template.contains("--add curtin"));
    let broken = template.replace("disk_size = var.disk_size", "disk_sizes = var.disk_size");
    assert_ne!(broken, template);
    let (ok, t) = validate("broken.pkr.hcl", &broken);
    assert!(!ok && t.contains("disk_sizes"), "{t}");
}
