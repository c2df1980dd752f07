//! The Windows profile on a disk laid out as packer-maas's Windows one (1 ESP FAT32 with
//! `EFI/Microsoft/Boot/bootmgfw.efi`, 2 MSR, 3 recovery NTFS, 4 Windows NTFS), made
//! without Windows: sgdisk, mkfs.fat + mtools, mkntfs, and an ntfs-3g mount (root) to
//! make the Windows tree with a `SOFTWARE` hive written by `ddgz_windows::synth` (read
//! back by hivexget in crates/windows's tests). inspect, validate and convert: the
//! findings, their codes and exit codes, text and JSON, and the MAAS name.

use crate::util::{say, Dir};

/// Root, /dev/fuse and the tools, or the reason to skip.
fn lab(test: &str) -> Option<Dir> {
    let tools = "sgdisk mkfs.fat mmd mcopy mkntfs ntfs-3g qemu-img";
    let d = Dir::new();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "[ \"$(id -u)\" = 0 ] && [ -e /dev/fuse ] && for t in {tools}; do \
             command -v $t >/dev/null || exit 1; done"
        ))
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        say(&format!(
            "{test}: skipped: needs root, /dev/fuse (an ntfs-3g mount) and {tools}"
        ));
        return None;
    }
    Some(d)
}

/// What goes on the Windows partition besides `Windows/System32/config/SOFTWARE`.
#[derive(Clone, Copy)]
struct Tree {
    curtin: bool,
    cloudbase: bool,
    hibernated: bool,
    /// The recovery partition holds `Windows/System32` too.
    twice: bool,
}

/// Builds `name.qcow2`.
fn windows_disk(d: &Dir, name: &str, t: Tree) {
    std::fs::write(d.join("SOFTWARE"), ddgz_windows::synth::software_2022()).unwrap();
    let mut fill = String::from(
        "mkdir -p m/Windows/System32/config && cp SOFTWARE m/Windows/System32/config/\n",
    );
    if t.cloudbase {
        fill.push_str(
            "mkdir -p 'm/Program Files/Cloudbase Solutions/Cloudbase-Init/conf'
             echo '[DEFAULT]' > 'm/Program Files/Cloudbase Solutions/Cloudbase-Init/conf/cloudbase-init.conf'\n",
        );
    }
    if t.curtin {
        fill.push_str(
            "mkdir -p m/curtin && printf '#!/usr/bin/env python3\\n' > m/curtin/curtin-hooks
             printf '#!/bin/sh\\n' > m/curtin/finalize && echo 'print()' > m/curtin/finalize.py\n",
        );
    }
    if t.hibernated {
        fill.push_str("printf 'hibr' > m/hiberfil.sys\n");
    }
    std::fs::write(d.join("fill.sh"), fill).unwrap();
    d.sh(&format!(
        "rm -f disk.raw esp.img rec.img win.img
         truncate -s 128M disk.raw
         sgdisk -n1:1M:+36M -t1:ef00 -n2:37M:+16M -t2:0c01 -n3:53M:+16M -t3:2700 \
                -n4:69M:0 -t4:0700 disk.raw >/dev/null
         mkfs.fat -F 32 -C esp.img 36864 >/dev/null
         mmd -i esp.img ::EFI ::EFI/Microsoft ::EFI/Microsoft/Boot
         printf 'MZ' > bootmgfw.efi && mcopy -i esp.img bootmgfw.efi ::EFI/Microsoft/Boot/
         truncate -s 16M rec.img && mkntfs -F -Q -L Recovery rec.img >/dev/null
         truncate -s 58M win.img && mkntfs -F -Q -L Windows win.img >/dev/null
         mkdir -p m && ntfs-3g win.img m
         r=0; sh -e fill.sh || r=$?; umount m; [ $r = 0 ]
         if [ {twice} = true ]; then
           ntfs-3g rec.img m; r=0; mkdir -p m/Windows/System32 || r=$?; umount m; [ $r = 0 ]
         fi
         dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
         dd if=rec.img of=disk.raw bs=1M seek=53 conv=notrunc status=none
         dd if=win.img of=disk.raw bs=1M seek=69 conv=notrunc status=none
         qemu-img convert -O qcow2 disk.raw {name}.qcow2",
        twice = t.twice
    ));
}

fn codes(j: &serde_json::Value, section: &str) -> Vec<String> {
    let items = match section {
        "items" => &j["items"],
        _ => &j["maas_readiness"]["items"],
    };
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_windows_disk_without_curtin_hooks_is_not_ready() {
    let Some(d) = lab("a_windows_disk_without_curtin_hooks_is_not_ready") else {
        return;
    };
    windows_disk(
        &d,
        "win",
        Tree {
            curtin: false,
            cloudbase: true,
            hibernated: false,
            twice: false,
        },
    );
    let t = d.ddgz_ok(&["inspect", "win.qcow2"]);
    assert!(
        t.contains(
            "Windows:    Windows Server 2022 Datacenter, build 20348 (21H2), partition 4, UEFI"
        ),
        "{t}"
    );
    assert!(t.contains("findings (profile windows)"), "{t}");
    assert!(
        t.contains("error [windows-hooks-missing]: partition 4: no curtin/curtin-hooks"),
        "{t}"
    );
    assert!(t.contains("warning [windows-finalize-missing]"), "{t}");

    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "win.qcow2", "--json"])).unwrap();
    assert_eq!(j["windows"]["partition"], 4);
    assert_eq!(j["windows"]["boot"], "uefi");
    assert_eq!(j["windows"]["esp"], 1);
    assert_eq!(j["windows"]["msr"], 2);
    assert_eq!(j["windows"]["recovery"], serde_json::json!([3]));
    assert_eq!(j["windows"]["edition"]["edition_id"], "ServerDatacenter");
    assert_eq!(j["windows"]["edition"]["build"], "20348");
    assert_eq!(j["findings"]["profile"], "windows");

    // validate: exit 1, the codes in JSON.
    let o = d.ddgz(&["validate", "win.qcow2", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["profile"], "windows");
    assert_eq!(
        codes(&v, "maas"),
        [
            "error windows-hooks-missing",
            "warning windows-finalize-missing"
        ]
    );
    assert!(codes(&v, "items").is_empty(), "{v}");

    // convert refuses, as for ESXi; --allow acknowledges, and the maas line names windows/.
    let o = d.ddgz(&["convert", "win.qcow2", "-o", "win.dd.gz"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("MAAS readiness: error [windows-hooks-missing]"),
        "{err}"
    );
    assert!(!d.join("win.dd.gz").exists());
    let out = d.ddgz_ok(&[
        "convert",
        "win.qcow2",
        "-o",
        "win.dd.gz",
        "--allow",
        "windows-hooks-missing",
    ]);
    assert!(
        out.contains(
            "boot-resources create name=windows/windows-server-2022-datacenter \
             title='Windows Server 2022 Datacenter' architecture=amd64/generic \
             filetype='ddgz' content@="
        ),
        "{out}"
    );
    assert!(!out.contains("base_image"), "{out}");
    // The same findings on the finished .dd.gz; --name overrides.
    let o = d.ddgz(&["validate", "win.dd.gz"]);
    assert_eq!(o.status.code(), Some(1));
    let out = d.ddgz_ok(&[
        "convert",
        "win.qcow2",
        "-o",
        "win2.dd.gz",
        "--allow",
        "windows-hooks-missing",
        "--name",
        "windows/windows-server",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["maas_name"], "windows/windows-server");
    assert_eq!(r["maas_title"], "Windows Server 2022 Datacenter");
}

#[test]
fn a_windows_disk_with_curtin_hooks_is_ready_and_a_hibernated_one_is_not() {
    let Some(d) = lab("a_windows_disk_with_curtin_hooks_is_ready_and_a_hibernated_one_is_not")
    else {
        return;
    };
    let ready = Tree {
        curtin: true,
        cloudbase: true,
        hibernated: false,
        twice: false,
    };
    windows_disk(&d, "ready", ready);
    let t = d.ddgz_ok(&["validate", "ready.qcow2", "--strict"]);
    assert!(t.contains("info [windows-ready]: partition 4:"), "{t}");
    let v: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["validate", "ready.qcow2", "--json"])).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(codes(&v, "maas"), ["info windows-ready"]);
    let out = d.ddgz_ok(&["convert", "ready.qcow2", "-o", "ready.dd.gz"]);
    assert!(
        out.contains("name=windows/windows-server-2022-datacenter "),
        "{out}"
    );
    d.ddgz_ok(&["verify", "ready.dd.gz"]);
    // From a pipe (read once): the Windows checks find what they read in one pass.
    let o = crate::util::ddgz()
        .args(["verify", "/dev/stdin"])
        .stdin(std::fs::File::open(d.join("ready.dd.gz")).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("profile windows"));

    windows_disk(
        &d,
        "hib",
        Tree {
            cloudbase: false,
            hibernated: true,
            ..ready
        },
    );
    let o = d.ddgz(&["validate", "hib.qcow2", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        codes(&v, "maas"),
        [
            "error windows-hibernated",
            "warning windows-no-cloudbase-init"
        ]
    );
    let t = String::from_utf8_lossy(&d.ddgz(&["validate", "hib.qcow2"]).stdout).into_owned();
    assert!(
        t.contains("error [windows-hibernated]: partition 4: hiberfil.sys"),
        "{t}"
    );
    // Two partitions holding Windows/System32: said, nothing more checked.
    windows_disk(
        &d,
        "two",
        Tree {
            twice: true,
            ..ready
        },
    );
    let o = d.ddgz(&["validate", "two.qcow2", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profile"], "windows");
    assert_eq!(codes(&v, "items"), ["error windows-several"]);
    assert!(v["items"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("partitions [3, 4] all hold Windows/System32"));
    // Both acknowledged: exit 0, --strict too.
    d.ddgz_ok(&[
        "validate",
        "hib.qcow2",
        "--strict",
        "--allow",
        "windows-hibernated",
        "--allow",
        "windows-no-cloudbase-init",
    ]);
}

/// An MBR (BIOS) disk: p1 Windows NTFS (no SOFTWARE hive, no bootmgr), p2 a Windows RE
/// partition (type 0x27) after it.
#[test]
fn an_mbr_windows_disk_with_recovery_after_windows() {
    let Some(d) = lab("an_mbr_windows_disk_with_recovery_after_windows") else {
        return;
    };
    d.sh("truncate -s 96M disk.raw
          printf 'label: dos\\nstart=2048, size=122880, type=7\\nstart=124928, type=27\\n' \
            | sfdisk -q disk.raw
          truncate -s 60M win.img && mkntfs -F -Q -L Windows win.img >/dev/null
          truncate -s 16M rec.img && mkntfs -F -Q -L Recovery rec.img >/dev/null
          mkdir -p m && ntfs-3g win.img m
          r=0; mkdir -p m/Windows/System32 m/curtin || r=$?
          printf '#!/bin/sh\\n' > m/curtin/curtin-hooks || r=$?
          cp m/curtin/curtin-hooks m/curtin/finalize || r=$?
          mkdir -p 'm/Program Files (x86)/Cloudbase Solutions/Cloudbase-Init' || r=$?
          umount m; [ $r = 0 ]
          dd if=win.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
          dd if=rec.img of=disk.raw bs=512 seek=124928 conv=notrunc status=none");
    let o = d.ddgz(&["validate", "disk.raw", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profile"], "windows");
    assert_eq!(
        codes(&v, "items"),
        [
            "error windows-no-bootmgr",
            "info mbr-only",
            "info windows-bios",
            "info windows-recovery-after",
            "info windows-edition-unknown"
        ]
    );
    // Cloudbase-Init under Program Files (x86) counts.
    assert_eq!(codes(&v, "maas"), ["info windows-ready"]);
    let t = d.ddgz_ok(&["inspect", "disk.raw"]);
    assert!(
        t.contains(
            "Windows:    partition 1, BIOS; edition unknown: no Windows/System32/config/SOFTWARE"
        ),
        "{t}"
    );
    // bootmgr in the root: the layout is fine; the unknown edition names the image as
    // packer-maas does.
    d.sh(
        "mkdir -p m && ntfs-3g win.img m && r=0; printf x > m/bootmgr || r=$?; umount m; [ $r = 0 ]
          dd if=win.img of=disk.raw bs=1M seek=1 conv=notrunc status=none",
    );
    let out = d.ddgz_ok(&["convert", "disk.raw", "-o", "w.dd.gz"]);
    assert!(
        out.contains("name=windows/windows-server title=Windows "),
        "{out}"
    );
}
