//! `ddgz ls` / `cat` / `inspect` of XFS on a partition and of XFS and ext4 in LVM logical
//! volumes (`VG/LV:PATH`), against the loop-mounted view. Needs root and loop devices
//! (the fixtures of `tar_lvm`); skips with the reason otherwise.

use crate::files::{cat, find_tree, ls_r, refused, regular_files};
use crate::tar_lvm::{lab, make_xfs};

/// VG `rl` on partition 3 (a loop device over it; lvm writes only metadata, there is no
/// device-mapper here) with `root` (320 MiB), `home` (32 MiB) and `swap` (8 MiB); prints
/// `NAME OFFSET` of each LV's first byte in disk.img.
const LVM: &str = r#"
start=$((329 * 1048576))
end=$(sgdisk -i 3 disk.img | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
dev=$(losetup -f --show --offset $start --sizelimit $(( (end + 1) * 512 - start )) disk.img)
trap 'losetup -d $dev' EXIT
cfg="global { activation = 0 } devices { filter = [ \"a|^$dev\$|\", \"r|.*|\" ] global_filter = [ \"a|^$dev\$|\", \"r|.*|\" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 } backup { backup = 0 archive = 0 }"
export LVM_SUPPRESS_FD_WARNINGS=1
lvm pvcreate -q --config "$cfg" $dev >/dev/null
lvm vgcreate -q --config "$cfg" -s 4m rl $dev >/dev/null
lvm lvcreate -q --config "$cfg" -an -Zn -L 320m -n root rl >/dev/null
lvm lvcreate -q --config "$cfg" -an -Zn -L 32m -n home rl >/dev/null
lvm lvcreate -q --config "$cfg" -an -Zn -L 8m -n swap rl >/dev/null
pe_start=$(lvm pvs --config "$cfg" --noheadings --nosuffix --units b -o pe_start $dev | tr -d ' ')
for lv in root home swap; do
  first=$(lvm lvs --config "$cfg" --noheadings -o seg_pe_ranges rl/$lv | sed 's/.*:\([0-9]*\)-.*/\1/')
  echo $lv $(( start + pe_start + first * 4194304 ))
done
"#;

#[test]
fn ls_cat_inspect_of_xfs_and_lvm_equal_the_mounted_view() {
    let Some(d) = lab("ls_cat_inspect_of_xfs_and_lvm_equal_the_mounted_view") else {
        return;
    };
    make_xfs(&d);
    // The mounted view, copied out (devices and all: we are root).
    d.sh("mkdir -p view && mount -o loop,ro xfs.img mnt; r=0
          cp -a --sparse=always mnt/. view/ || r=$?; umount mnt; exit $r");
    d.sh(
        "mkdir -p src/etc && echo home > src/etc/motd && seq 1 5000 > src/numbers
          truncate -s 32M home.img && mkfs.ext4 -q -F -d src home.img
          truncate -s 8M swap.img && mkswap -q swap.img
          truncate -s 710M disk.img
          sgdisk -n1:1M:+8M -t1:ef00 -n2:9M:+320M -t2:8300 -n3:329M:0 -t3:8e00 disk.img >/dev/null
          dd if=xfs.img of=disk.img bs=1M seek=9 conv=notrunc,sparse status=none",
    );
    std::fs::write(d.join("lvm.sh"), LVM).unwrap();
    for l in d.sh("sh -e lvm.sh").lines() {
        let (lv, off) = l.split_once(' ').unwrap();
        let off: u64 = off.trim().parse().unwrap();
        assert_eq!(off % (1 << 20), 0, "{lv} at {off}");
        let img = match lv {
            "root" => "xfs.img",
            "home" => "home.img",
            _ => "swap.img",
        };
        d.sh(&format!(
            "dd if={img} of=disk.img bs=1M seek={} conv=notrunc,sparse status=none",
            off >> 20
        ));
    }
    d.sh("qemu-img convert -O qcow2 disk.img disk.qcow2");
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "disk.dd.gz",
        "--quiet",
        "--no-validate",
    ]);

    // The XFS partition and the XFS logical volume: the mounted tree, every file.
    let want = find_tree(&d, "view");
    assert!(want.len() > 300, "{}", want.len());
    for (img, spec) in [
        ("disk.qcow2", "2:/"),
        ("disk.qcow2", "rl/root:/"),
        ("disk.dd.gz", "rl/root:/"),
    ] {
        assert_eq!(ls_r(&d, img, spec), want, "{img} {spec}");
    }
    for f in regular_files(&d, "view") {
        let src = std::fs::read(d.join("view").join(&f)).unwrap();
        for spec in ["2", "rl/root"] {
            assert!(
                cat(&d, "disk.qcow2", &format!("{spec}:/{f}")) == src,
                "{spec}:/{f}"
            );
        }
    }
    assert_eq!(
        cat(&d, "disk.dd.gz", "rl/root:/etc/os-release"),
        std::fs::read(d.join("view/etc/os-release")).unwrap()
    );
    let l = d.ddgz_ok(&["ls", "-l", "disk.qcow2", "rl/root:/usr/bin"]);
    assert!(
        l.contains("- 2001-02-03 04:05:06            6 text\n") && l.contains(" short -> text\n"),
        "{l}"
    );
    // ext4 in a logical volume: the source tree.
    let mut home = ls_r(&d, "disk.qcow2", "rl/home:/");
    home.retain(|p| p != "lost+found/");
    assert_eq!(home, find_tree(&d, "src"));
    assert_eq!(cat(&d, "disk.dd.gz", "rl/home:/etc/motd"), b"home\n");

    refused(
        &d,
        &["ls", "disk.qcow2", "rl/swap:/"],
        3,
        &["logical volume rl/swap: Linux swap: not a filesystem ddgz reads"],
    );
    refused(
        &d,
        &["cat", "disk.qcow2", "rl/nope:/x"],
        2,
        &["no logical volume rl/nope (found: rl/root, rl/home, rl/swap)"],
    );
    refused(
        &d,
        &["ls", "disk.qcow2", "3:/"],
        3,
        &["partition 3: an LVM2 physical volume (name its logical volumes as VG/LV:PATH)"],
    );
    refused(
        &d,
        &["cat", "disk.qcow2", "rl/root:/usr/bin/nope"],
        2,
        &["logical volume rl/root: /usr/bin/nope: no such file or directory"],
    );

    // inspect: the XFS facts (against blkid), the volume group and what each LV holds.
    let uuid = d.sh("blkid -p -o value -s UUID xfs.img");
    let uuid = uuid.trim();
    let xfs = format!("XFS v5, no label, UUID {uuid}, 4 KiB blocks, 320 MiB in all, log clean");
    let text = d.ddgz_ok(&["inspect", "disk.qcow2"]);
    assert!(text.contains(&format!("     {xfs}\n")), "{text}");
    assert!(
        text.contains("LVM:        volume group rl on partition 3, 4 MiB extents, seqno "),
        "{text}"
    );
    for (lv, size, what) in [
        ("rl/root", "320 MiB", xfs.as_str()),
        ("rl/home", "32 MiB", "ext2/3/4, no label, UUID "),
        ("rl/swap", "8 MiB", "Linux swap"),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("  {lv} "))
                && l.contains(&format!(" {size}  linear    {what}"))),
            "{lv}: {text}"
        );
    }
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "--json", "disk.dd.gz"])).unwrap();
    let g = &j["lvm"]["groups"][0];
    assert_eq!(g["name"], "rl");
    assert_eq!(g["pvs"], serde_json::json!([3]));
    assert_eq!(g["extent_size"], 4 << 20);
    let lvs = g["lvs"].as_array().unwrap();
    let names: Vec<&str> = lvs.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["rl/root", "rl/home", "rl/swap"]);
    assert_eq!(lvs[0]["segments"], serde_json::json!(["linear"]));
    assert_eq!(lvs[0]["size"], 320u64 << 20);
    assert_eq!(lvs[0]["filesystem"]["kind"], "xfs");
    assert_eq!(lvs[0]["filesystem"]["uuid"], uuid);
    assert_eq!(lvs[0]["filesystem"]["version"], 5);
    assert_eq!(lvs[0]["filesystem"]["log"], "clean");
    assert_eq!(lvs[1]["filesystem"]["kind"], "ext");
    assert_eq!(lvs[2]["filesystem"]["what"], "Linux swap");
    assert_eq!(j["partitions"][1]["filesystem"]["uuid"], uuid);
    assert_eq!(j["partitions"][2]["filesystem"]["kind"], "other");
}
