//! The library entry point as another image builder uses it (`examples/convert.rs`): the
//! same bytes as the CLI.

use crate::util::*;

#[allow(dead_code)]
#[path = "../examples/convert.rs"]
mod example;

/// The example's conversion and `ddgz convert` give the same sha256 (and the summary says
/// so), for a qcow2 with a backing file and a raw disk with a GPT.
#[test]
fn library_example_matches_the_cli() {
    let d = Dir::new();
    let input = d.join("base.raw");
    write_pattern(&input, 16 << 20, 0, 3 << 20, 11);
    write_pattern(&input, 16 << 20, 9 << 20, 1 << 20, 12);
    d.sh("qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x33 4M 256k' top.qcow2 >/dev/null");
    let sha_in = sha256_file(&d.join("top.qcow2"));
    for img in ["top.qcow2", "base.raw"] {
        let lib_out = d.join(format!("{img}.lib.dd.gz"));
        let s = example::convert(&d.join(img), &lib_out, false).unwrap();
        assert_eq!(s.sha256, sha256_file(&lib_out), "{img}");
        let cli = format!("{img}.cli.dd.gz");
        d.ddgz_ok(&["convert", img, "-o", &cli, "--quiet", "--no-validate"]);
        assert_eq!(
            sha256_file(&d.join(&cli)),
            s.sha256,
            "{img}: library and CLI differ"
        );
        assert_eq!(s.output_bytes, std::fs::metadata(&lib_out).unwrap().len());
    }
    // Validation refuses a disk without a partition table, with the findings.
    let e = example::convert(&input, &d.join("x.dd.gz"), true).unwrap_err();
    assert_eq!(e.kind(), ddgz_convert::ErrorKind::Invalid, "{e}");
    assert!(e.findings().is_some_and(|f| !f.items.is_empty()));
    assert!(!d.join("x.dd.gz").exists() && partials(d.path()).is_empty());
    assert_eq!(sha256_file(&d.join("top.qcow2")), sha_in);
}

#[allow(dead_code)]
#[path = "../examples/tar.rs"]
mod tar_example;

/// The tar example's tarball and `ddgz tar`'s are the same bytes (and the sha256 the
/// library returns is theirs), with and without files added, at -j1 and -j2 for the CLI.
#[test]
fn library_tar_example_matches_the_cli() {
    let d = Dir::new();
    d.sh("mkdir -p root/etc root/usr/lib hooks/curtin
         printf 'ID=debian\\nVERSION_ID=12\\n' > root/etc/os-release
         echo 0123456789abcdef > root/etc/machine-id
         seq 1 300000 > root/usr/lib/text; head -c 2000000 /dev/urandom > root/usr/lib/blob
         echo hook > hooks/curtin/curtin-hooks
         mkfs.ext4 -q -d root fs.img 32M; truncate -s 40M disk.raw
         sgdisk -o -n 1:2048:+32M disk.raw >/dev/null
         dd if=fs.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none
         qemu-img convert -O qcow2 disk.raw disk.qcow2");
    for (name, add) in [("plain", vec![]), ("add", vec!["hooks/curtin"])] {
        let lib_out = d.join(format!("{name}.lib.tar.gz"));
        let add_abs: Vec<String> = add
            .iter()
            .map(|a| d.join(a).display().to_string())
            .collect();
        let add_abs: Vec<&str> = add_abs.iter().map(String::as_str).collect();
        let sha = tar_example::archive(&d.join("disk.qcow2"), &lib_out, &add_abs).unwrap();
        assert_eq!(sha, sha256_file(&lib_out), "{name}");
        for j in ["1", "2"] {
            let cli = format!("{name}.cli{j}.tar.gz");
            let mut args = vec!["tar", "disk.qcow2", "-o", &cli, "-q", "-j", j];
            for a in &add {
                args.extend(["--add", a]);
            }
            d.ddgz_ok(&args);
            assert_eq!(
                sha256_file(&d.join(&cli)),
                sha,
                "{name} -j{j}: library and CLI differ"
            );
        }
    }
    d.sh("tar -tzf add.lib.tar.gz | grep -qx ./curtin/curtin-hooks");
    // An error leaves nothing: a partition that is not there.
    let mut opts = ddgz_tarball::Options::default();
    opts.partition = Some(7);
    let e =
        ddgz_tarball::archive(&d.join("disk.qcow2"), &d.join("x.tar.gz"), false, opts).unwrap_err();
    assert_eq!(e.kind(), ddgz_tarball::ErrorKind::Usage, "{e}");
    assert!(!d.join("x.tar.gz").exists() && partials(d.path()).is_empty());
}

#[allow(dead_code)]
#[path = "../examples/verify.rs"]
mod verify_example;

/// The verify example prints what `ddgz verify` prints (alone and against the source);
/// on a layout with errors the library's error holds the lines the CLI prints before it
/// fails, and the same errors.
#[test]
fn library_verify_matches_the_cli() {
    let d = Dir::new();
    d.sh(
        "truncate -s 64M disk.img; sgdisk -o -n 1:2048:+40M -t 1:ef00 disk.img >/dev/null
         mkfs.fat -F 32 --offset 2048 disk.img 40960 >/dev/null 2>&1
         mkdir -p curtin; echo '#!/bin/sh' > curtin/curtin-hooks; truncate -s 8M z.raw",
    );
    d.ddgz_ok(&[
        "convert", "disk.img", "-o", "ok.dd.gz", "-q", "--add", "curtin",
    ]);
    d.ddgz_ok(&["convert", "disk.img", "-o", "plain.dd.gz", "-q"]);
    d.ddgz_ok(&["convert", "z.raw", "-o", "bad.dd.gz", "-q", "--no-validate"]);
    let here = format!("{}/", d.path().display());
    let strip = |lines: Vec<String>| lines.join("\n").replace(&here, "") + "\n";
    let lib = verify_example::verify(&d.join("ok.dd.gz"), None).unwrap();
    let cli = d.ddgz_ok(&["verify", "ok.dd.gz", "-q"]);
    assert!(cli.contains("layout OK"), "{cli}");
    assert_eq!(strip(lib), cli);
    let lib = verify_example::verify(&d.join("plain.dd.gz"), Some(&d.join("disk.img")));
    let cli = d.ddgz_ok(&["verify", "plain.dd.gz", "--against", "disk.img", "-q"]);
    assert!(cli.contains("byte for byte"), "{cli}");
    assert_eq!(strip(lib.unwrap()), cli);
    let lib = verify_example::verify(&d.join("bad.dd.gz"), Some(&d.join("z.raw")));
    let e = lib.unwrap_err();
    assert_eq!(e.kind(), ddgz_verify::ErrorKind::Invalid, "{e}");
    let passed = e.passed().unwrap();
    let mut lines = passed.lines();
    lines.extend(
        e.layout_errors()
            .iter()
            .map(|f| format!("{}: {f}", passed.name)),
    );
    let o = d.ddgz(&["verify", "bad.dd.gz", "--against", "z.raw", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!e.layout_errors().is_empty());
    assert_eq!(strip(lines), String::from_utf8_lossy(&o.stdout));
}
