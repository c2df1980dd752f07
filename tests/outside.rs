//! Files an image names (issue 24): a VMDK extent, a qcow2 backing file or a VHD parent
//! named by an absolute or `../` path that leaves the image's directory is refused (exit
//! 3, the message names `--allow-outside-files`) unless the flag is given; with it the
//! output equals `qemu-img convert -O raw`. Every file an image pulled in is listed by
//! `inspect` (text and JSON) and in `convert --json`.

use crate::util::*;

const FLAG: &str = "--allow-outside-files";

/// A monolithicFlat descriptor `img/a.vmdk` whose one extent is `name`.
fn descriptor(d: &Dir, name: &str) {
    std::fs::create_dir_all(d.join("img")).unwrap();
    let text = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\nRW 2048 FLAT \"{name}\" 0\n"
    );
    std::fs::write(d.join("img/a.vmdk"), text).unwrap();
}

/// Asserts that `ddgz ARGS` is refused with exit 3, naming the flag; returns stderr.
fn refused(d: &Dir, args: &[&str]) -> String {
    let out = d.ddgz(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
    assert!(err.contains(FLAG), "{args:?}: {err}");
    assert!(
        err.contains("outside the image's directory"),
        "{args:?}: {err}"
    );
    err
}

/// Converts `img` with the flag and compares with `qemu-img convert -O raw`; returns the
/// JSON summary.
fn converts_with_flag(d: &Dir, img: &str) -> serde_json::Value {
    let out = d.ddgz_ok(&[
        "convert",
        img,
        "-o",
        "out.dd.gz",
        FLAG,
        "--no-validate",
        "--json",
        "--quiet",
    ]);
    d.sh(&format!(
        "qemu-img convert -O raw {img} ref.raw && gzip -dc out.dd.gz | cmp - ref.raw && \
         rm out.dd.gz ref.raw"
    ));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn vmdk_extent_outside_the_directory_needs_the_flag() {
    let d = Dir::new();
    write_pattern(&d.join("x.raw"), 1 << 20, 0, 300 << 10, 7);
    descriptor(&d, "../x.raw");
    for cmd in ["inspect", "validate"] {
        refused(&d, &[cmd, "img/a.vmdk"]);
    }
    refused(&d, &["ls", "img/a.vmdk"]);
    refused(&d, &["convert", "img/a.vmdk", "-o", "o.dd.gz"]);
    assert!(!d.join("o.dd.gz").exists());
    let j = converts_with_flag(&d, "img/a.vmdk");
    let named = j["named_files"].as_array().unwrap();
    assert_eq!(named.len(), 1, "{j}");
    assert!(named[0].as_str().unwrap().ends_with("img/../x.raw"), "{j}");

    // inspect lists it, in text and JSON.
    let text = d.ddgz_ok(&["inspect", "img/a.vmdk", FLAG]);
    assert!(text.contains("reads:      img/../x.raw"), "{text}");
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "img/a.vmdk", FLAG, "--json"])).unwrap();
    assert_eq!(j["image"]["named_files"][0], "img/../x.raw", "{j}");

    // An absolute name in another directory, and a host file.
    let abs = d.join("x.raw");
    descriptor(&d, abs.to_str().unwrap());
    refused(&d, &["inspect", "img/a.vmdk"]);
    converts_with_flag(&d, "img/a.vmdk");
    if std::path::Path::new("/etc/hostname").is_file() {
        descriptor(&d, "/etc/hostname");
        let err = refused(&d, &["inspect", "img/a.vmdk"]);
        assert!(err.contains("/etc/hostname"), "{err}");
    }
}

#[test]
fn names_inside_the_directory_are_fine_and_links_out_are_not() {
    let d = Dir::new();
    std::fs::create_dir_all(d.join("img/sub")).unwrap();
    write_pattern(&d.join("img/sub/x.raw"), 1 << 20, 0, 300 << 10, 7);
    // Absolute, but inside the image's directory: as qemu-img writes backing names.
    let abs = d.join("img/sub/x.raw");
    descriptor(&d, abs.to_str().unwrap());
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "img/a.vmdk", "--json"])).unwrap();
    assert_eq!(j["image"]["named_files"][0], abs.to_str().unwrap(), "{j}");
    descriptor(&d, "sub/../sub/x.raw");
    d.ddgz_ok(&["inspect", "img/a.vmdk"]);

    // A link inside the directory to a file outside it leaves the directory too.
    write_pattern(&d.join("y.raw"), 1 << 20, 0, 300 << 10, 8);
    std::os::unix::fs::symlink(d.join("y.raw"), d.join("img/link.raw")).unwrap();
    descriptor(&d, "link.raw");
    refused(&d, &["inspect", "img/a.vmdk"]);
    converts_with_flag(&d, "img/a.vmdk");
}

#[test]
fn qcow2_backing_outside_the_directory_needs_the_flag() {
    let d = Dir::new();
    std::fs::create_dir_all(d.join("base")).unwrap();
    std::fs::create_dir_all(d.join("img")).unwrap();
    write_pattern(&d.join("base/b.raw"), 4 << 20, 0, 300 << 10, 5);
    let base = d.join("base/b.raw");
    d.sh(&format!(
        "qemu-img create -q -f qcow2 -b {} -F raw img/top.qcow2 && \
         qemu-io -c 'write -P 9 1M 64k' img/top.qcow2 >/dev/null",
        base.display()
    ));
    refused(&d, &["inspect", "img/top.qcow2"]);
    refused(&d, &["convert", "img/top.qcow2", "-o", "o.dd.gz"]);
    let j = converts_with_flag(&d, "img/top.qcow2");
    assert_eq!(j["named_files"][0], base.to_str().unwrap(), "{j}");

    // The same chain with a relative `../` name.
    d.sh("qemu-img rebase -q -u -b ../base/b.raw -F raw img/top.qcow2");
    refused(&d, &["validate", "img/top.qcow2"]);
    converts_with_flag(&d, "img/top.qcow2");
}

/// `ddgz tar` opens its image as `convert` does: a VMDK whose extent (an ext4 root) lies
/// outside its directory is refused, naming the flag, and nothing is written; with
/// `--allow-outside-files` the tarball holds the root's files (GNU tar lists them).
#[test]
fn tar_of_an_image_naming_a_file_outside_needs_the_flag() {
    let d = Dir::new();
    d.sh(
        "mkdir -p src/etc img && printf 'ID=debian\\nVERSION_ID=12\\n' >src/etc/os-release && \
         mkfs.ext4 -q -F -d src root.raw 8M",
    );
    let text = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
                createType=\"monolithicFlat\"\nRW 16384 FLAT \"../root.raw\" 0\n";
    std::fs::write(d.join("img/a.vmdk"), text).unwrap();
    let args = [
        "tar",
        "img/a.vmdk",
        "--partition",
        "0",
        "-o",
        "r.tar.gz",
        "-q",
    ];
    refused(&d, &args);
    assert!(!d.join("r.tar.gz").exists());
    let mut with = args.to_vec();
    with.push(FLAG);
    d.ddgz_ok(&with);
    let list = d.sh("tar -tzf r.tar.gz");
    assert!(list.lines().any(|l| l == "./etc/os-release"), "{list}");
}
