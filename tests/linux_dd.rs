//! The Linux dd readiness profile on an ubuntu-lvm-shaped image (p1 EFI, p2 /boot ext4,
//! p3 an LVM PV of VG `ubuntu-vg` holding `ubuntu-lv`, ext4, the root), with and without
//! `/curtin`, with an fstab naming another root: the findings, codes and exit codes of
//! inspect / validate (text and JSON), and convert's policy (the readiness is advisory:
//! printed, converted anyway; `--upload` refuses). LVM is written by lvm on a loop device
//! without activation (LINUX.md): needs root; skips with the reason otherwise.

use crate::util::{say, Dir};

fn lab(test: &str) -> Option<Dir> {
    let tools = "mkfs.ext4 sgdisk qemu-img lvm losetup";
    let d = Dir::new();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "[ \"$(id -u)\" = 0 ] && [ -e /dev/loop-control ] && for t in {tools}; do \
             command -v $t >/dev/null || exit 1; done"
        ))
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        say(&format!(
            "{test}: skipped: needs root, loop devices and {tools}"
        ));
        return None;
    }
    Some(d)
}

/// `disk.img` with the LVM metadata written; prints the LV's byte offset.
const LVM: &str = r#"
truncate -s 160M disk.img
sgdisk -n1:1M:+8M -t1:ef00 -n2:9M:+32M -t2:8300 -n3:41M:0 -t3:8e00 disk.img >/dev/null
mkdir -p bootsrc && printf 'kernel\n' > bootsrc/vmlinuz
truncate -s 32M boot.img && mkfs.ext4 -q -F -d bootsrc boot.img
dd if=boot.img of=disk.img bs=1M seek=9 conv=notrunc,sparse status=none
end=$(sgdisk -i 3 disk.img | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
len=$(( (end + 1) * 512 - 41 * 1048576 ))
dev=$(losetup -f --show --offset $((41 * 1048576)) --sizelimit $len disk.img)
trap 'losetup -d $dev' EXIT
cfg="global { activation = 0 } devices { filter = [ \"a|^$dev\$|\", \"r|.*|\" ] global_filter = [ \"a|^$dev\$|\", \"r|.*|\" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 } backup { backup = 0 archive = 0 }"
export LVM_SUPPRESS_FD_WARNINGS=1
lvm pvcreate -q --config "$cfg" $dev >/dev/null
lvm vgcreate -q --config "$cfg" -s 4m ubuntu-vg $dev >/dev/null
lvm lvcreate -q --config "$cfg" -an -Zn -L 64m -n ubuntu-lv ubuntu-vg >/dev/null
pe_start=$(lvm pvs --config "$cfg" --noheadings --nosuffix --units b -o pe_start $dev | tr -d ' ')
first=$(lvm lvs --config "$cfg" --noheadings -o seg_pe_ranges ubuntu-vg/ubuntu-lv | sed 's/.*:\([0-9]*\)-.*/\1/')
echo $(( 41 * 1048576 + pe_start + first * 4194304 ))
"#;

/// A variant of the root: `curtin` (None: no /curtin; Some(mode) of curtin-hooks), the
/// fstab's root spec; written into a copy of `disk.img` and converted to `name.qcow2`.
fn variant(d: &Dir, offset: u64, name: &str, curtin: Option<&str>, fstab_root: &str) {
    let hooks = match curtin {
        None => String::new(),
        Some(mode) => format!(
            "mkdir -p {name}/curtin && printf '#!/bin/sh\\n' > {name}/curtin/curtin-hooks && \
             chmod {mode} {name}/curtin/curtin-hooks"
        ),
    };
    d.sh(&format!(
        "mkdir -p {name}/etc/cloud {name}/usr/bin
         printf 'NAME=\"Ubuntu\"\\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\\nID=ubuntu\\n' > {name}/etc/os-release
         printf '# /etc/fstab\\n{fstab_root} / ext4 defaults 0 1\\n/dev/disk/by-uuid/0000 /boot ext4 defaults 0 2\\n' > {name}/etc/fstab
         printf 'users: [default]\\n' > {name}/etc/cloud/cloud.cfg
         {hooks}
         truncate -s 64M {name}.ext4 && mkfs.ext4 -q -F -L cloudimg-rootfs -d {name} {name}.ext4
         cp --sparse=always disk.img {name}.img
         dd if={name}.ext4 of={name}.img bs=1M seek={} conv=notrunc,sparse status=none
         qemu-img convert -O qcow2 {name}.img {name}.qcow2",
        offset >> 20
    ));
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["maas_readiness"]["items"]
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
fn linux_dd_readiness_on_an_ubuntu_lvm_image() {
    let Some(d) = lab("linux_dd_readiness_on_an_ubuntu_lvm_image") else {
        return;
    };
    std::fs::write(d.join("lvm.sh"), LVM).unwrap();
    let offset: u64 = d.sh("sh -e lvm.sh").trim().parse().unwrap();
    assert_eq!(offset % (1 << 20), 0, "the LV starts at byte {offset}");

    // Ready: /curtin with an executable hook, fstab naming the LV, cloud-init.
    variant(
        &d,
        offset,
        "ready",
        Some("755"),
        "/dev/mapper/ubuntu--vg-ubuntu--lv",
    );
    let t = d.ddgz_ok(&["inspect", "ready.qcow2"]);
    assert!(
        t.contains(
            "Linux root: Ubuntu 22.04.4 LTS on logical volume ubuntu-vg/ubuntu-lv (ext, UUID "
        ),
        "{t}"
    );
    assert!(t.contains(", label cloudimg-rootfs)"), "{t}");
    assert!(t.contains("findings (profile linux)"), "{t}");
    assert!(t.contains("info [linux-ready]"), "{t}");
    let v: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["validate", "ready.qcow2", "--json", "--strict"]))
            .unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["profile"].as_str()),
        (Some(true), Some("linux"))
    );
    assert_eq!(v["maas_readiness"]["advisory"], true);
    assert_eq!(codes(&v), ["info linux-ready"]);
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "ready.qcow2", "--json"])).unwrap();
    assert_eq!(j["linux"]["lv"], "ubuntu-vg/ubuntu-lv");
    assert_eq!(j["linux"]["label"], "cloudimg-rootfs");
    // The UUID inspect reports is the one blkid reads.
    let blkid = d.sh("blkid -o value -s UUID ready.ext4");
    assert_eq!(j["linux"]["uuid"].as_str(), Some(blkid.trim()));

    // No /curtin: validate fails; convert goes on (advisory) and says so; --upload refuses.
    variant(&d, offset, "bare", None, "LABEL=cloudimg-rootfs");
    let o = d.ddgz(&["validate", "bare.qcow2", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(codes(&v), ["error linux-no-curtin"]);
    let o = d.ddgz(&["validate", "bare.qcow2"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("error [linux-no-curtin]: no curtin/ at the top of the root (logical volume ubuntu-vg/ubuntu-lv)"),
        "{t}"
    );
    let o = d.ddgz(&["convert", "bare.qcow2", "-o", "bare.dd.gz"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("MAAS dd readiness (advisory: converted anyway): error [linux-no-curtin]"),
        "{err}"
    );
    d.ddgz_ok(&["verify", "bare.dd.gz"]);
    // From a pipe (read once): the readiness checks must find what they read in one pass.
    let o = crate::util::ddgz()
        .args(["verify", "/dev/stdin"])
        .stdin(std::fs::File::open(d.join("bare.dd.gz")).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("profile linux"), "{out}");
    let o = d.ddgz(&["convert", "bare.qcow2", "-o", "up.dd.gz", "--upload"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not uploaded: MAAS dd readiness found 1 error(s)"),
        "{err}"
    );
    assert!(!d.join("up.dd.gz").exists());
    d.ddgz_ok(&["validate", "bare.qcow2", "--allow", "linux-no-curtin"]);

    // A hook that is not executable, an fstab naming another root's UUID.
    variant(
        &d,
        offset,
        "bad",
        Some("644"),
        "UUID=11111111-2222-4333-8444-555555555555",
    );
    let o = d.ddgz(&["validate", "bad.qcow2", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        codes(&v),
        [
            "error linux-hooks-not-executable",
            "error linux-fstab-root-mismatch"
        ]
    );
    let t = String::from_utf8_lossy(&d.ddgz(&["validate", "bad.qcow2"]).stdout).into_owned();
    assert!(t.contains("has mode 0644"), "{t}");
    assert!(
        t.contains(
            "/etc/fstab mounts / from UUID=11111111-2222-4333-8444-555555555555, but the root"
        ),
        "{t}"
    );
    d.ddgz_ok(&[
        "validate",
        "bad.qcow2",
        "--allow",
        "linux-hooks-not-executable",
        "--allow",
        "linux-fstab-root-mismatch",
    ]);
}
