//! `convert --add`, `ls`, `cat` and `ks-media` end to end, checked with the tools users
//! trust: fsck.fat, mtools, sfdisk, zcat, dd — and run as an unprivileged user.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::{mtime, partials, sha256_file, Dir};

const MIB: u64 = 1 << 20;

/// The test disk: GPT, four FAT partitions of every kind the issue names.
/// (number, first LBA, sectors, mkfs.fat arguments)
const PARTS: &[(u32, u64, u64, &str)] = &[
    (1, 64, 8128, "-F 16 -s 1"), // ESXi 6.x partition 1: 4 MiB FAT16
    (2, 10240, 204800, "-F 16"), // ESXi 7/8 partition 1: 100 MiB FAT16
    (3, 215040, 86016, "-F 32"), // 42 MiB FAT32
    (4, 301056, 4096, "-F 12"),  // 2 MiB FAT12
    (5, 305152, 4096, ""),       // no filesystem
];
const DISK_SECTORS: u64 = 311296; // 152 MiB

/// Builds `disk.img` (raw) with files already in every FAT partition, and `disk.qcow2`.
fn make_disk(d: &Dir) {
    let mut script = format!(
        "truncate -s {} disk.img\nsgdisk -Z disk.img >/dev/null 2>&1 || true\n",
        DISK_SECTORS * 512
    );
    for (n, first, len, _) in PARTS {
        let t = if *n == 1 { "ef00" } else { "0700" };
        script += &format!(
            "sgdisk -a 1 -n {n}:{first}:{} -t {n}:{t} disk.img >/dev/null\n",
            first + len - 1
        );
    }
    script += "echo 'was there before' > old.txt\n";
    for (n, first, len, args) in PARTS {
        if args.is_empty() {
            continue;
        }
        script += &format!(
            "mkfs.fat {args} -i 1234abcd --offset {first} disk.img {} >/dev/null\n\
             mcopy -i disk.img@@{} old.txt ::/OLD.TXT\n\
             mmd -i disk.img@@{} ::/EFI\n",
            len / 2,
            first * 512,
            first * 512
        );
        let _ = n;
    }
    script += "qemu-img convert -O qcow2 disk.img disk.qcow2\n";
    d.sh(&script);
}

/// Source files: `curtin/` with a nested tree and long names, `scripts.tar.xz`, `payload/`.
fn make_sources(d: &Dir) -> Vec<(String, Vec<u8>)> {
    let mut x: u32 = 12345;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    };
    let files = vec![
        (
            "curtin/curtin-hooks".to_string(),
            b"#!/usr/bin/env python3\nprint('hooks')\n".to_vec(),
        ),
        (
            "curtin/A long name with spaces, commas; and more.txt".to_string(),
            noise(3000),
        ),
        ("curtin/sub/dir/deeper/blob.bin".to_string(), noise(200_000)),
        ("scripts.tar.xz".to_string(), noise(150_000)),
        ("payload/a/b/c.txt".to_string(), b"nested\n".to_vec()),
        ("payload/top.cfg".to_string(), b"top\n".to_vec()),
    ];
    for (p, data) in &files {
        let p = d.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
    }
    fs::set_permissions(
        d.join("curtin/curtin-hooks"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    files
}

fn part(n: u32) -> (u64, u64) {
    let (_, first, len, _) = PARTS.iter().find(|p| p.0 == n).unwrap();
    (first * 512, len * 512)
}

/// `fsck.fat -n` on partition `n` of `img`, extracted with dd: version line and summary
/// line only, exit 0.
fn fsck_clean(d: &Dir, img: &str, n: u32) {
    let (off, len) = part(n);
    d.sh(&format!(
        "dd if={img} of=p{n}.img bs=512 skip={} count={} status=none",
        off / 512,
        len / 512
    ));
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(d.join(format!("p{n}.img")))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().count() == 2 && out.stderr.is_empty(),
        "partition {n}: fsck.fat -n: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mtype(d: &Dir, img: &str, n: u32, path: &str) -> Vec<u8> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{img}@@{}", part(n).0))
        .arg(format!("::/{path}"))
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mtype {img} {n}:{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn convert_add_into_fat12_fat16_fat32_then_the_maas_pipeline() {
    let d = Dir::new();
    make_disk(&d);
    let files = make_sources(&d);
    let input = d.join("disk.qcow2");
    let (sha, mt) = (sha256_file(&input), mtime(&input));
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "out.dd.gz",
        "--quiet",
        "--no-validate",
        "--add",
        "curtin",
        "--add",
        "scripts.tar.xz:curtin/",
        "--add",
        "2:payload/:/opt/payload",
        "--add",
        "2:curtin",
        "--add",
        "3:curtin",
        "--add",
        "3:scripts.tar.xz:/deep/er/scripts.tar.xz",
        "--add",
        "4:payload",
    ]);
    assert_eq!(sha256_file(&input), sha, "the input changed");
    assert_eq!(mtime(&input), mt, "the input's mtime changed");

    // curtin's own pipeline, on a file.
    d.sh("sh -c 'cat \"$1\" | zcat | dd bs=4M of=\"$2\" status=none' -- out.dd.gz target.img");
    assert_eq!(
        fs::metadata(d.join("target.img")).unwrap().len(),
        DISK_SECTORS * 512
    );
    let by_name = |name: &str| files.iter().find(|f| f.0 == name).unwrap().1.clone();
    for n in [1, 2, 3, 4] {
        fsck_clean(&d, "target.img", n);
        assert_eq!(mtype(&d, "target.img", n, "OLD.TXT"), b"was there before\n");
    }
    for n in [1, 2, 3] {
        for f in files.iter().filter(|f| f.0.starts_with("curtin/")) {
            assert_eq!(
                mtype(&d, "target.img", n, &f.0),
                f.1,
                "partition {n}: {}",
                f.0
            );
        }
    }
    assert_eq!(
        mtype(&d, "target.img", 1, "curtin/scripts.tar.xz"),
        by_name("scripts.tar.xz")
    );
    assert_eq!(
        mtype(&d, "target.img", 2, "opt/payload/a/b/c.txt"),
        b"nested\n"
    );
    assert_eq!(mtype(&d, "target.img", 2, "opt/payload/top.cfg"), b"top\n");
    assert_eq!(
        mtype(&d, "target.img", 3, "deep/er/scripts.tar.xz"),
        by_name("scripts.tar.xz")
    );
    assert_eq!(mtype(&d, "target.img", 4, "payload/a/b/c.txt"), b"nested\n");
    let mdir = d.sh(&format!("mdir -i target.img@@{} -/ ::/curtin", part(1).0));
    assert!(
        mdir.contains("curtin-hooks") && mdir.contains("A long name with spaces"),
        "{mdir}"
    );

    // Outside partitions 1-4: byte-identical to the source.
    let src = fs::read(d.join("disk.img")).unwrap();
    let out = fs::read(d.join("target.img")).unwrap();
    let mut pos = 0usize;
    for n in [1, 2, 3, 4] {
        let (off, len) = part(n);
        assert!(
            src[pos..off as usize] == out[pos..off as usize],
            "bytes {pos}..{off} differ"
        );
        pos = (off + len) as usize;
    }
    assert!(src[pos..] == out[pos..], "bytes after partition 4 differ");

    // ls and cat read the same back, from the ddgz's source and from the result.
    let ls = d.ddgz_ok(&["ls", "target.img", "1:/curtin"]);
    assert!(
        ls.lines().any(|l| l == "curtin-hooks") && ls.lines().any(|l| l == "sub/"),
        "{ls}"
    );
    let ls_l = d.ddgz_ok(&["ls", "-l", "target.img", "3:/CURTIN"]);
    assert!(ls_l.contains("        3000 A long name"), "{ls_l}");
    let cat = d.ddgz(&["cat", "target.img", "1:/curtin/curtin-hooks"]);
    assert!(cat.status.success(), "{}", stderr(&cat));
    assert_eq!(cat.stdout, by_name("curtin/curtin-hooks"));
    let cat = d.ddgz(&["cat", "disk.qcow2", "2:/OLD.TXT"]);
    assert_eq!(cat.stdout, b"was there before\n");
}

#[test]
fn convert_add_refusals_write_no_output() {
    let d = Dir::new();
    make_disk(&d);
    make_sources(&d);
    d.sh("truncate -s 5M big.bin && mcopy -i disk.img@@32768 old.txt ::/EFI/boot.cfg");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--add", "big.bin"],
            3,
            "partition 1: not enough free space",
        ),
        (
            &["--add", "5:curtin"],
            3,
            "partition 5: not a FAT filesystem",
        ),
        (
            &["--add", "old.txt:/OLD.TXT"],
            2,
            "partition 1: /OLD.TXT already exists (add --replace",
        ),
        (
            &["--add", "old.txt:/efi/BOOT.CFG"],
            2,
            "/efi/BOOT.CFG already exists",
        ),
        (&["--add", "9:curtin"], 2, "partition 9 does not exist"),
        (
            &["--add", "nothere"],
            3,
            "nothere: no such file or directory",
        ),
        (&["--add", "old.txt:a?b"], 2, "cannot appear in a FAT name"),
        (&["--replace"], 2, "--replace needs --add"),
    ];
    for (args, code, want) in cases {
        let mut all = vec![
            "convert",
            "disk.img",
            "-o",
            "out.dd.gz",
            "--quiet",
            "--no-validate",
        ];
        all.extend_from_slice(args);
        let o = d.ddgz(&all);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(
            !d.join("out.dd.gz").exists() && partials(d.path()).is_empty(),
            "{args:?}"
        );
    }
    // --replace does replace.
    d.ddgz_ok(&[
        "convert",
        "disk.img",
        "-o",
        "out.dd.gz",
        "--quiet",
        "--no-validate",
        "--replace",
        "--add",
        "old.txt:/EFI/boot.cfg",
    ]);
    d.sh("zcat out.dd.gz > t.img");
    assert_eq!(mtype(&d, "t.img", 1, "EFI/boot.cfg"), b"was there before\n");
    fsck_clean(&d, "t.img", 1);
}

#[test]
fn ks_media_is_one_fat32_partition_at_2048() {
    let d = Dir::new();
    d.sh("printf 'vmaccepteula\\ninstall --firstdisk --overwritevmfs\\n' > KS.CFG");
    d.ddgz_ok(&["ks-media", "KS.CFG", "-o", "usb.img"]);
    let j: serde_json::Value = serde_json::from_str(&d.sh("sfdisk --json usb.img")).unwrap();
    let parts = j["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{j}");
    assert_eq!(parts[0]["start"], 2048);
    assert!(parts[0]["type"] == "c" || parts[0]["type"] == "b", "{j}");
    assert_eq!(j["partitiontable"]["label"], "dos");
    let size = fs::metadata(d.join("usb.img")).unwrap().len();
    d.sh(&format!(
        "dd if=usb.img of=p.img bs=1M skip=1 count={} status=none",
        size / MIB - 1
    ));
    let fsck = d.sh("fsck.fat -n p.img");
    assert_eq!(fsck.lines().count(), 2, "{fsck}");
    assert_eq!(
        d.sh("dd if=p.img bs=1 skip=82 count=8 status=none"),
        "FAT32   "
    );
    assert_eq!(
        d.sh("mtype -i usb.img@@1M ::/KS.CFG").as_bytes(),
        fs::read(d.join("KS.CFG")).unwrap()
    );
    // No overwrite without --force; bad sizes are usage errors.
    let o = d.ddgz(&["ks-media", "KS.CFG", "-o", "usb.img"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"));
    d.ddgz_ok(&[
        "ks-media", "KS.CFG", "-o", "usb.img", "--force", "--size", "40M", "--label", "esxiks",
    ]);
    assert_eq!(fs::metadata(d.join("usb.img")).unwrap().len(), 40 * MIB);
    let o = d.ddgz(&["ks-media", "KS.CFG", "-o", "small.img", "--size", "32M"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!d.join("small.img").exists());
    let leftovers: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The same as an unprivileged user: no root, no /dev/nbd, no FUSE, no mount.
#[test]
fn rootless_convert_add_and_ks_media() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "not root: already unprivileged, setpriv cannot switch users; the other tests cover it"
        );
        return;
    }
    let d = Dir::new();
    make_disk(&d);
    make_sources(&d);
    // nobody must reach everything: the directory, the sources, a copy of the binary.
    fs::copy(env!("CARGO_BIN_EXE_ddgz"), d.join("ddgz")).unwrap();
    d.sh("chmod 755 . ddgz && chmod -R a+rX . && mkdir out && chmod 777 out && printf 'vmaccepteula\\n' > KS.CFG && chmod 644 KS.CFG");
    let run = |args: &[&str]| {
        let o = Command::new("setpriv")
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "./ddgz",
            ])
            .args(args)
            .current_dir(d.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "as nobody: ddgz {args:?}: {}",
            stderr(&o)
        );
    };
    run(&[
        "convert",
        "disk.qcow2",
        "-o",
        "out/out.dd.gz",
        "--quiet",
        "--no-validate",
        "--add",
        "curtin",
        "--add",
        "scripts.tar.xz:curtin/",
    ]);
    run(&["ks-media", "KS.CFG", "-o", "out/usb.img"]);
    assert_eq!(
        d.sh("stat -c %U out/out.dd.gz out/usb.img"),
        "nobody\nnobody\n"
    );
    d.sh("zcat out/out.dd.gz > t.img");
    fsck_clean(&d, "t.img", 1);
    assert_eq!(
        mtype(&d, "t.img", 1, "curtin/curtin-hooks"),
        fs::read(d.join("curtin/curtin-hooks")).unwrap()
    );
    assert_eq!(
        mtype(&d, "t.img", 1, "curtin/scripts.tar.xz"),
        fs::read(d.join("scripts.tar.xz")).unwrap()
    );
    assert_eq!(d.sh("mtype -i out/usb.img@@1M ::/KS.CFG"), "vmaccepteula\n");
}

/// The real use: the packer-maas ESXi 8 image (32 GiB, sparse, ddgz-synth) and an ESXi 6.7
/// one (4 MiB partition 1), converted with `--add curtin` and the layout validation on;
/// partition 1 read back from the stream as curtin writes it.
#[test]
fn packer_maas_esxi_images_with_validation() {
    use ddgz_synth::esxi::{self, Options};
    for (name, opts) in [
        ("esxi8", Options::packer_maas()),
        ("esxi67", Options::esxi67(10 << 30)),
    ] {
        let d = Dir::new();
        make_sources(&d);
        // A real xz tarball of maas/ (the readiness checks read it), curtin/curtin-hooks too.
        esxi::maas_scripts(d.path(), &Default::default()).unwrap();
        let img = d.join(format!("{name}.raw"));
        let built = esxi::build(&img, &opts).unwrap();
        let p1 = built.range(1).unwrap();
        // The whole-file sha256 of the input is checked in the test above; here (32 GiB of
        // mostly holes) the bytes up to the end of partition 1, and the mtime.
        let head = |p: &std::path::Path| {
            use std::io::Read;
            let mut v = vec![0u8; p1.end as usize];
            fs::File::open(p).unwrap().read_exact(&mut v).unwrap();
            v
        };
        let (before, mt) = (head(&img), mtime(&img));
        d.ddgz_ok(&[
            "convert",
            &format!("{name}.raw"),
            "-o",
            "out.dd.gz",
            "--quiet",
            "--add",
            "curtin",
            "--add",
            "scripts.tar.xz:curtin/",
        ]);
        assert!(
            head(&img) == before && mtime(&img) == mt,
            "{name}: input changed"
        );
        // curtin's pipeline, stopped after partition 1 (the rest is checked elsewhere).
        d.sh(&format!(
            "zcat out.dd.gz | head -c {} > head.img; dd if=head.img of=p1.img bs=512 skip={} status=none",
            p1.end,
            p1.start / 512
        ));
        let fsck = Command::new("fsck.fat")
            .arg("-n")
            .arg(d.join("p1.img"))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&fsck.stdout);
        assert!(
            fsck.status.success() && out.lines().count() == 2,
            "{name}: {out}"
        );
        let hooks = d.sh(&format!(
            "mtype -i head.img@@{} ::/curtin/curtin-hooks",
            p1.start
        ));
        assert_eq!(
            hooks.as_bytes(),
            fs::read(d.join("curtin/curtin-hooks")).unwrap(),
            "{name}"
        );
        let ls = d.ddgz_ok(&["ls", &format!("{name}.raw"), "1:/"]);
        assert!(
            !ls.contains("curtin"),
            "{name}: the input got curtin/: {ls}"
        );
    }
}
