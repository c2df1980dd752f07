//! Output safety (issue 13, item 1): no run ever truncates, replaces or follows its way
//! into a file it reads, a file that happens to sit where a temporary used to go, or a
//! special file named as the output. Every test checks the input's sha256 unchanged.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

const SIZE: u64 = 8 << 20;

/// A raw disk with some data, and its sha256.
fn input(d: &Dir, name: &str) -> String {
    let p = d.join(name);
    write_pattern(&p, SIZE, 0, 1 << 20, 7);
    write_pattern(&p, SIZE, 5 << 20, 512 << 10, 8);
    sha256_file(&p)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `convert IN -o OUT` (no validation, quiet) plus `extra`.
fn convert(d: &Dir, input: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["convert", input, "-o", out, "--quiet", "--no-validate"];
    args.extend_from_slice(extra);
    d.ddgz(&args)
}

/// Asserts `out` decompresses to the raw disk `raw`.
fn assert_holds(d: &Dir, out: &str, raw: &str) {
    let got = d.sh(&format!("gzip -dc {out} | sha256sum"));
    assert_eq!(
        got.split_whitespace().next().unwrap(),
        sha256_file(&d.join(raw)),
        "{out} does not hold {raw}"
    );
}

/// The old temporary name, `OUT.partial`, pre-existing as a symlink or a hard link to the
/// input: it is neither followed nor truncated (the temporary is a new, exclusive file).
#[test]
fn output_old_partial_name_linked_to_the_input() {
    for how in ["ln -s", "ln"] {
        let d = Dir::new();
        let sha = input(&d, "in.raw");
        d.sh(&format!("{how} in.raw out.dd.gz.partial"));
        let o = convert(&d, "in.raw", "out.dd.gz", &[]);
        assert!(o.status.success(), "{how}: {}", stderr(&o));
        assert_eq!(
            sha256_file(&d.join("in.raw")),
            sha,
            "{how}: the input changed"
        );
        assert_eq!(
            sha256_file(&d.join("out.dd.gz.partial")),
            sha,
            "{how}: the link was written through"
        );
        assert_holds(&d, "out.dd.gz", "in.raw");
        assert_eq!(partials(d.path()), ["out.dd.gz.partial"], "{how}");
    }
}

/// The input itself named `OUT.partial`: read, not truncated, not deleted.
#[test]
fn output_input_named_like_the_old_temporary() {
    let d = Dir::new();
    let sha = input(&d, "out.dd.gz.partial");
    let o = convert(&d, "out.dd.gz.partial", "out.dd.gz", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_file(&d.join("out.dd.gz.partial")), sha);
    assert_holds(&d, "out.dd.gz", "out.dd.gz.partial");
}

/// Runs `convert in.raw -o out.dd.gz --json EXTRA` for each of `runs` at once; returns
/// (exit success, reported sha256) per run.
fn concurrent(d: &Dir, runs: &[&[&str]]) -> Vec<(bool, Option<String>)> {
    let children: Vec<_> = runs
        .iter()
        .map(|extra| {
            ddgz()
                .args([
                    "convert",
                    "in.raw",
                    "-o",
                    "out.dd.gz",
                    "--json",
                    "--no-validate",
                ])
                .args(*extra)
                .current_dir(d.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            let sha = serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| v["sha256"].as_str().map(str::to_string));
            (o.status.success(), sha)
        })
        .collect()
}

/// Two conversions to one OUT never share a temporary: each reports the sha256 of what
/// it wrote, and what is left is one of them, whole.
#[test]
fn output_concurrent_conversions_to_one_output() {
    let d = Dir::new();
    let sha = input(&d, "in.raw");
    // Equal options give equal bytes: both reports match what is left.
    let same: &[&str] = &["--force", "-j", "1", "--level", "9"];
    let r = concurrent(&d, &[same, same]);
    let left = sha256_file(&d.join("out.dd.gz"));
    for (ok, got) in &r {
        assert!(ok, "{r:?}");
        assert_eq!(got.as_deref(), Some(left.as_str()), "{r:?}");
    }
    // Different levels: what is left is exactly one run's output.
    let r = concurrent(
        &d,
        &[
            &["--force", "-j", "1", "--level", "1"],
            &["--force", "-j", "1", "--level", "9"],
        ],
    );
    let left = sha256_file(&d.join("out.dd.gz"));
    assert!(r.iter().all(|(ok, _)| *ok), "{r:?}");
    assert!(
        r.iter().any(|(_, s)| s.as_deref() == Some(left.as_str())),
        "what is left ({left}) is no run's output: {r:?}"
    );
    assert_holds(&d, "out.dd.gz", "in.raw");
    // Without --force exactly one run writes OUT; the other refuses.
    std::fs::remove_file(d.join("out.dd.gz")).unwrap();
    let plain: &[&str] = &["-j", "1", "--level", "9"];
    let r = concurrent(&d, &[plain, plain]);
    let won: Vec<_> = r.iter().filter(|(ok, _)| *ok).collect();
    assert_eq!(won.len(), 1, "{r:?}");
    assert_eq!(
        won[0].1.as_deref(),
        Some(sha256_file(&d.join("out.dd.gz")).as_str())
    );
    assert!(partials(d.path()).is_empty());
    assert_eq!(sha256_file(&d.join("in.raw")), sha);
}

/// `--force` never replaces a file of the backing chain (raw or qcow2, by any name).
#[test]
fn output_force_over_a_backing_file_in_use() {
    let d = Dir::new();
    let sha = input(&d, "base.raw");
    d.sh("qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x11 1M 64k' mid.qcow2 >/dev/null");
    d.sh("qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2");
    d.sh("ln base.raw base-link.raw");
    let mid = sha256_file(&d.join("mid.qcow2"));
    for out in ["base.raw", "mid.qcow2", "base-link.raw", "top.qcow2"] {
        let o = convert(&d, "top.qcow2", out, &["--force"]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("is a file this run reads"),
            "{out}: {}",
            stderr(&o)
        );
    }
    assert_eq!(sha256_file(&d.join("base.raw")), sha);
    assert_eq!(sha256_file(&d.join("mid.qcow2")), mid);
    // VMDK: a flat extent file and a parent.
    d.sh("qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat base.raw flat.vmdk");
    d.sh("qemu-img convert -f raw -O vmdk base.raw pbase.vmdk");
    d.sh("qemu-img create -q -f vmdk -b pbase.vmdk -F vmdk child.vmdk");
    let (flat, pbase) = (
        sha256_file(&d.join("flat-flat.vmdk")),
        sha256_file(&d.join("pbase.vmdk")),
    );
    for (input, out) in [
        ("flat.vmdk", "flat-flat.vmdk"),
        ("child.vmdk", "pbase.vmdk"),
    ] {
        let o = convert(&d, input, out, &["--force"]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
    }
    assert_eq!(sha256_file(&d.join("flat-flat.vmdk")), flat);
    assert_eq!(sha256_file(&d.join("pbase.vmdk")), pbase);
    assert!(partials(d.path()).is_empty());
}

/// A bare ext4 file system holding /etc/os-release, for `ddgz tar`.
fn ext4_root(d: &Dir) {
    d.sh("mkdir -p root/etc && printf 'ID=rocky\\nVERSION_ID=9.3\\n' > root/etc/os-release");
    d.sh("truncate -s 64M fs.img && mkfs.ext4 -q -d root fs.img");
}

/// `--add` sources and kickstart files are inputs too.
#[test]
fn output_never_replaces_an_added_or_kickstart_file() {
    let d = Dir::new();
    let sha = input(&d, "in.raw");
    d.sh("printf 'vmaccepteula\\n' > KS.CFG && mkdir tree && echo x > tree/a.txt");
    let ks = sha256_file(&d.join("KS.CFG"));
    let a = sha256_file(&d.join("tree/a.txt"));
    let o = d.ddgz(&["ks-media", "KS.CFG", "-o", "KS.CFG", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a file this run reads"),
        "{}",
        stderr(&o)
    );
    for (add, out) in [("KS.CFG", "KS.CFG"), ("tree:/x/", "tree/a.txt")] {
        let o = convert(&d, "in.raw", out, &["--force", "--add", add]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("is a file this run reads"),
            "{}",
            stderr(&o)
        );
    }
    ext4_root(&d);
    let fs = sha256_file(&d.join("fs.img"));
    for (add, out) in [
        ("KS.CFG:/KS.CFG", "KS.CFG"),
        ("tree:/x", "tree/a.txt"),
        ("KS.CFG:/k", "fs.img"),
    ] {
        let o = d.ddgz(&[
            "tar", "fs.img", "-o", out, "--force", "--quiet", "--add", add,
        ]);
        assert_eq!(o.status.code(), Some(2), "tar {out}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("is a file this run reads"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(sha256_file(&d.join("fs.img")), fs);
    assert_eq!(sha256_file(&d.join("KS.CFG")), ks);
    assert_eq!(sha256_file(&d.join("tree/a.txt")), a);
    assert_eq!(sha256_file(&d.join("in.raw")), sha);
    assert!(partials(d.path()).is_empty() && partials(&d.join("tree")).is_empty());
}

/// `--force` replaces only a regular file: a FIFO, a socket, a directory, a device node
/// and a symbolic link are refused (the link neither followed nor replaced), in every
/// command that writes (`convert`, `ks-media`, `tar`).
#[test]
fn output_force_onto_special_files() {
    let d = Dir::new();
    let sha = input(&d, "in.raw");
    d.sh("printf 'vmaccepteula\\n' > KS.CFG");
    d.sh("mkfifo fifo && mkdir dir && echo keep > other && ln -s other link");
    d.sh("python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")'");
    let mut cases = vec![
        ("fifo", "is a FIFO"),
        ("sock", "is a socket"),
        ("dir", "is a directory"),
        ("link", "is a symbolic link"),
    ];
    // A device node of our own (root only): replacing it would lose nothing real.
    let dev = Command::new("mknod")
        .args(["null", "c", "1", "3"])
        .current_dir(d.path())
        .status()
        .is_ok_and(|s| s.success());
    if dev {
        cases.push(("null", "is a device node"));
    } else {
        eprintln!(
            "note: output_force_onto_special_files: no mknod (not root); device node case skipped"
        );
    }
    ext4_root(&d);
    for (out, why) in cases {
        for o in [
            convert(&d, "in.raw", out, &["--force"]),
            d.ddgz(&["ks-media", "KS.CFG", "-o", out, "--force"]),
            d.ddgz(&["tar", "fs.img", "-o", out, "--force", "--quiet"]),
        ] {
            assert_eq!(o.status.code(), Some(4), "{out}: {}", stderr(&o));
            assert!(stderr(&o).contains(why), "{out}: {}", stderr(&o));
        }
    }
    assert_eq!(
        d.sh("stat -c %F fifo sock dir link"),
        "fifo\nsocket\ndirectory\nsymbolic link\n"
    );
    if dev {
        assert_eq!(d.sh("stat -c %F null"), "character special file\n");
    }
    assert_eq!(std::fs::read_to_string(d.join("other")).unwrap(), "keep\n");
    assert_eq!(sha256_file(&d.join("in.raw")), sha);
    assert!(partials(d.path()).is_empty());
    assert!(Path::new(&d.join("dir"))
        .read_dir()
        .unwrap()
        .next()
        .is_none());
}

/// Interrupting `convert -o -` after bytes went down the pipe: the message says the
/// stream is cut short (it used to say "no output was kept", which a pipe cannot honour),
/// exit 4, and what the reader got is a gzip stream without its end.
#[test]
fn output_interrupted_stream_says_it_is_cut_short() {
    use std::io::Read;
    let d = Dir::new();
    let p = d.join("in.raw");
    // 128 MiB of data at level 9 on one thread: seconds of work.
    for i in 0..128u64 {
        write_pattern(&p, 256 << 20, i * (2 << 20), 1 << 20, i as u32 + 1);
    }
    let mut child = ddgz()
        .args([
            "convert",
            "in.raw",
            "-o",
            "-",
            "--no-validate",
            "-q",
            "-j",
            "1",
        ])
        .args(["--level", "9"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    out.read_exact(&mut first).unwrap();
    let reader = std::thread::spawn(move || {
        let mut rest = Vec::new();
        out.read_to_end(&mut rest).map(|_| rest.len())
    });
    // SAFETY: kill(2) on our own child's pid.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    let o = child.wait_with_output().unwrap();
    let got = 4096 + reader.join().unwrap().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("cut short"), "{err}");
    assert!(!err.contains("no output was kept"), "{err}");
    assert!(got < 128 << 20, "the whole stream went out ({got} bytes)");
}
