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
