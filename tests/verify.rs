//! `ddgz verify` on what a user verifies (issue 24): an image made with `convert --add`
//! against its source, and the report of a failed layout, one finding per line.

use crate::util::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `verify --against` of a `convert --add` image: without the --add arguments it fails
/// and says why it may (it used to say only "differs at byte …"); with them it passes and
/// says the files were added.
#[test]
fn verify_against_the_source_of_an_image_made_with_add() {
    let d = Dir::new();
    d.sh(
        "truncate -s 64M disk.img; sgdisk -o -n 1:2048:+40M -t 1:ef00 disk.img >/dev/null
         mkfs.fat -F 32 --offset 2048 disk.img 40960 >/dev/null 2>&1
         mkdir -p curtin; echo '#!/bin/sh' > curtin/curtin-hooks",
    );
    let src = sha256_file(&d.join("disk.img"));
    d.ddgz_ok(&[
        "convert",
        "disk.img",
        "-o",
        "out.dd.gz",
        "-q",
        "--add",
        "curtin",
    ]);
    let o = d.ddgz(&["verify", "out.dd.gz", "--against", "disk.img", "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("same --add arguments"),
        "{}",
        stderr(&o)
    );
    let o = d.ddgz(&[
        "verify",
        "out.dd.gz",
        "--against",
        "disk.img",
        "-q",
        "--add",
        "curtin",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("gzip stream OK"), "{out}");
    assert!(
        out.contains("equal to disk.img with the files of 1 --add added"),
        "{out}"
    );
    assert!(out.contains("layout OK"), "{out}");
    // The source is never written.
    assert_eq!(sha256_file(&d.join("disk.img")), src);
    // --add describes the source: without --against it is refused.
    let o = d.ddgz(&["verify", "out.dd.gz", "--add", "curtin"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A layout that fails validation: the check that passed (the stream) and each finding
/// on a line of its own, then one error saying how many.
#[test]
fn verify_prints_one_finding_per_line_and_what_passed() {
    let d = Dir::new();
    d.sh("truncate -s 8M z.raw");
    d.ddgz_ok(&["convert", "z.raw", "-o", "z.dd.gz", "-q", "--no-validate"]);
    let o = d.ddgz(&["verify", "z.dd.gz", "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("gzip stream OK"), "{out}");
    assert!(
        lines[1..].iter().all(|l| l.starts_with("z.dd.gz: error")) && lines.len() > 1,
        "{out}"
    );
    assert!(
        stderr(&o).contains("found 1 error (listed above)"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(';'), "{}", stderr(&o));
}
