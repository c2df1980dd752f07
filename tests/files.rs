//! `ddgz ls` / `cat` / `inspect` on every filesystem ddgz reads, against the real tools:
//! ext4 made by `mkfs.ext4 -d` (the source tree is the oracle), NTFS made by mkntfs and
//! ntfs-3g (`ntfsls -R`, `ntfscat`, `ntfsinfo`, blkid), XFS and LVM made as root through
//! loop devices (the loop-mounted view). Each in a GPT disk, as qcow2 and as the .dd.gz
//! `ddgz convert` makes of it.

use crate::util::{say, Dir};

/// Whether every tool is on PATH; says why the test skips otherwise.
pub(crate) fn tools(test: &str, tools: &str) -> bool {
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for t in {tools}; do command -v $t >/dev/null || exit 1; done"
        ))
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        say(&format!("{test}: skipped: needs {tools}"));
    }
    ok
}

/// `ddgz ls -R IMG SPEC` as sorted lines (directories end in `/`).
pub(crate) fn ls_r(d: &Dir, img: &str, spec: &str) -> Vec<String> {
    let mut v: Vec<String> = d
        .ddgz_ok(&["ls", "-R", img, spec])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// `ddgz cat IMG SPEC`'s bytes (it must succeed).
pub(crate) fn cat(d: &Dir, img: &str, spec: &str) -> Vec<u8> {
    let o = d.ddgz(&["cat", img, spec]);
    assert!(
        o.status.success(),
        "cat {img} {spec}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// `ddgz ARGS` must fail with `code`, its message containing every one of `says`.
pub(crate) fn refused(d: &Dir, args: &[&str], code: i32, says: &[&str]) {
    let o = d.ddgz(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?}: {err:?} lacks {s:?}");
    }
    assert!(o.stdout.is_empty(), "{args:?} printed {:?}", o.stdout);
}

/// The tree `find` sees under `dir` in `ls -R`'s form, sorted (`lost+found` left out).
pub(crate) fn find_tree(d: &Dir, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = d
        .sh(&format!(
            "cd {dir} && find . -mindepth 1 ! -path './lost+found*' -printf '%P\\t%y\\n'"
        ))
        .lines()
        .map(|l| match l.split_once('\t') {
            Some((p, "d")) => format!("{p}/"),
            Some((p, _)) => p.to_string(),
            None => panic!("{l}"),
        })
        .collect();
    v.sort();
    v
}

/// The regular files of `find_tree`'s kind under `dir`.
pub(crate) fn regular_files(d: &Dir, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = d
        .sh(&format!(
            "cd {dir} && find . -mindepth 1 -type f ! -path './lost+found*' -printf '%P\\n'"
        ))
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The source tree of the ext4 test: nested directories, a directory of 400 names (an
/// htree), a symlink, a sparse file, a FIFO, a name that is not ASCII, and one with a
/// control character (which ls must escape).
const EXT_TREE: &str = r#"
mkdir -p src/etc src/usr/share/doc/pkg src/wide src/empty-dir
printf 'NAME="Test"\nID=test\n' > src/etc/os-release
seq 1 100000 > src/usr/share/doc/pkg/numbers.txt
head -c 300000 /dev/urandom > src/usr/share/doc/pkg/random.bin
for i in $(seq 1 400); do echo $i > src/wide/name-$i; done
ln -s ../etc/os-release src/usr/os-release
truncate -s 20M src/sparse && echo tail >> src/sparse
printf 'x' > "src/Ünïcødé 日本語"
printf 'esc' > "$(printf 'src/bell\007name')"
mkfifo src/fifo
touch -d '2001-02-03 04:05:06' src/etc/os-release
"#;

#[test]
fn ls_cat_inspect_of_ext4_equal_the_source_tree() {
    let t = "ls_cat_inspect_of_ext4_equal_the_source_tree";
    if !tools(
        t,
        "mkfs.ext4 mkfs.vfat mmd mcopy mkswap sgdisk qemu-img blkid",
    ) {
        return;
    }
    let d = Dir::new();
    d.sh(EXT_TREE);
    // GPT: p1 EFI (FAT), p2 ext4 (the tree), p3 swap, p4 left blank.
    d.sh("truncate -s 64M e4.img && mkfs.ext4 -q -F -b 4096 -L ROOTFS -d src e4.img
          truncate -s 8M swap.img && mkswap -q swap.img
          truncate -s 100M disk.img
          sgdisk -n1:1M:+8M -t1:ef00 -n2:9M:+64M -t2:8300 -n3:73M:+8M -t3:8200 -n4:81M:0 disk.img >/dev/null
          mkfs.vfat --offset 2048 disk.img 8192 >/dev/null
          export MTOOLS_SKIP_CHECK=1
          mmd -i disk.img@@1M ::/EFI ::/EFI/BOOT
          printf boot > BOOTX64.EFI && mcopy -i disk.img@@1M BOOTX64.EFI ::/EFI/BOOT/
          dd if=e4.img of=disk.img bs=1M seek=9 conv=notrunc status=none
          dd if=swap.img of=disk.img bs=1M seek=73 conv=notrunc status=none
          qemu-img convert -O qcow2 disk.img disk.qcow2");
    d.ddgz_ok(&["convert", "disk.qcow2", "-o", "disk.dd.gz", "--quiet"]);

    let mut want = find_tree(&d, "src");
    want.retain(|p| !p.starts_with("bell"));
    for img in ["disk.qcow2", "disk.dd.gz"] {
        let mut ours = ls_r(&d, img, "2:/");
        assert!(ours.contains(&"lost+found/".to_string()), "{ours:?}");
        ours.retain(|p| p != "lost+found/");
        // The control character is escaped, never printed.
        assert!(ours.contains(&"bell\\u{7}name".to_string()), "{ours:?}");
        ours.retain(|p| !p.starts_with("bell"));
        assert_eq!(ours, want, "{img}: ls -R differs from the source tree");
    }
    // Every container format reads alike.
    let qcow2 = d.ddgz_ok(&["ls", "-lR", "disk.qcow2", "2:/"]);
    for (fmt, ext) in [
        ("vmdk", "vmdk"),
        ("vpc", "vhd"),
        ("vhdx", "vhdx"),
        ("vdi", "vdi"),
    ] {
        d.sh(&format!("qemu-img convert -O {fmt} disk.img disk.{ext}"));
        let img = format!("disk.{ext}");
        assert_eq!(d.ddgz_ok(&["ls", "-lR", &img, "2:/"]), qcow2, "{img}");
        assert_eq!(
            cat(&d, &img, "2:/etc/os-release"),
            b"NAME=\"Test\"\nID=test\n"
        );
    }
    let files = regular_files(&d, "src");
    assert!(files.len() > 400, "{}", files.len());
    for f in &files {
        if f.starts_with("bell") {
            continue;
        }
        let src = std::fs::read(d.join("src").join(f)).unwrap();
        assert!(cat(&d, "disk.qcow2", &format!("2:/{f}")) == src, "{f}");
    }
    for f in ["sparse", "usr/share/doc/pkg/random.bin", "etc/os-release"] {
        let src = std::fs::read(d.join("src").join(f)).unwrap();
        assert!(cat(&d, "disk.dd.gz", &format!("2:/{f}")) == src, "{f}");
    }
    // Through a symlink; and ls -l's columns.
    assert_eq!(
        cat(&d, "disk.qcow2", "2:/usr/os-release"),
        b"NAME=\"Test\"\nID=test\n"
    );
    let l = d.ddgz_ok(&["ls", "-l", "disk.qcow2", "2:/usr"]);
    assert!(l.contains("os-release -> ../etc/os-release"), "{l}");
    assert!(l.starts_with("d ") || l.contains("\nd "), "{l}");
    let l = d.ddgz_ok(&["ls", "-l", "disk.qcow2", "2:/etc/os-release"]);
    assert_eq!(l, "- 2001-02-03 04:05:06           20 os-release\n");
    let l = d.ddgz_ok(&["ls", "-l", "disk.qcow2", "2:/"]);
    assert!(l.contains("     20971525 sparse\n"), "{l}");
    assert!(l.contains("\np "), "{l}");

    // Errors name the partition and the path; exit codes as for FAT.
    refused(
        &d,
        &["ls", "disk.qcow2", "2:/nope/x"],
        2,
        &["disk.qcow2: partition 2: /nope/x: no such file or directory"],
    );
    refused(
        &d,
        &["cat", "disk.qcow2", "2:/etc"],
        2,
        &["partition 2: /etc is a directory"],
    );
    refused(
        &d,
        &["cat", "disk.qcow2", "2:/fifo"],
        2,
        &["/fifo is a FIFO"],
    );
    refused(
        &d,
        &["ls", "disk.qcow2", "3:/"],
        3,
        &["partition 3: Linux swap: not a filesystem ddgz reads"],
    );
    refused(
        &d,
        &["cat", "disk.dd.gz", "4:/x"],
        3,
        &["partition 4: ", "not a filesystem ddgz reads"],
    );
    refused(
        &d,
        &["ls", "disk.qcow2", "9:/"],
        2,
        &["partition 9 does not exist"],
    );
    refused(
        &d,
        &["ls", "disk.qcow2", "vg/lv:/"],
        2,
        &["no logical volume vg/lv (found: none)"],
    );
    // The FAT partition reads as before, and recursively.
    assert_eq!(d.ddgz_ok(&["ls", "disk.qcow2", "1:/"]), "EFI/\n");
    assert_eq!(
        d.ddgz_ok(&["ls", "-R", "disk.dd.gz", "1:/"]),
        "EFI/\nEFI/BOOT/\nEFI/BOOT/BOOTX64.EFI\n"
    );
    assert_eq!(cat(&d, "disk.qcow2", "1:/efi/boot/bootx64.efi"), b"boot");

    // inspect: the ext facts against blkid and the label given to mkfs.
    let uuid = d.sh("blkid -p -o value -s UUID e4.img");
    let uuid = uuid.trim();
    let text = d.ddgz_ok(&["inspect", "disk.qcow2"]);
    assert!(
        text.contains(&format!(
            "ext2/3/4, label \"ROOTFS\", UUID {uuid}, 4 KiB blocks, 64 MiB in all, state clean, journal clean"
        )),
        "{text}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "--json", "disk.dd.gz"])).unwrap();
    let f = &j["partitions"][1]["filesystem"];
    assert_eq!(f["kind"], "ext", "{f}");
    assert_eq!(f["label"], "ROOTFS");
    assert_eq!(f["uuid"], uuid);
    assert_eq!(f["block_size"], 4096);
    assert_eq!(f["blocks"], 16384);
    assert_eq!(f["state"], "clean");
    assert_eq!(f["needs_recovery"], false);
    assert_eq!(j["partitions"][2]["filesystem"]["what"], "Linux swap");
    assert_eq!(j["partitions"][0]["filesystem"]["kind"], "fat");
    assert_eq!(j["lvm"], serde_json::Value::Null);
}
