//! Property tests: valid small fixtures (`fixtures/corrupt/*valid*`), mutated — bit flips,
//! truncation, random table entries — and every command that reads them either succeeds
//! with correct output or fails cleanly: exit 1 or 3, stderr starting with
//! `ddgz: error:`, no panic, no hang, no output file left.
//!
//! "Correct output": a converted qcow2 decodes to what `qemu-img convert -O raw` gives,
//! when qemu-img accepts the image; a converted raw disk decodes to the file itself; a
//! stream `verify` accepts decodes (with GNU gzip) to the original disk.
//!
//! Case counts are small so the module stays well under a minute; raise them with
//! `PROPTEST_CASES=1000` for a longer hunt.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::util::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/corrupt")
            .join(name),
    )
    .unwrap()
}

/// One change to a file.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at this position with this mask.
    Flip(usize, u8),
    /// Keep only this many bytes.
    Truncate(usize),
    /// Overwrite the big-endian u64 at this 8-aligned position (table entries, header
    /// fields) with this value.
    Word(usize, u64),
}

fn apply(data: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = data.to_vec();
    for m in ms {
        match *m {
            Mutation::Flip(at, mask) if at < b.len() => b[at] ^= mask,
            Mutation::Truncate(n) => b.truncate(n.min(b.len())),
            Mutation::Word(at, v) if at + 8 <= b.len() => {
                b[at..at + 8].copy_from_slice(&v.to_be_bytes())
            }
            _ => {}
        }
    }
    b
}

/// Values worth putting in a table entry: zero, all ones, a COPIED host offset inside or
/// past the file, a compressed descriptor, a zero flag, anything.
fn entry(file_len: usize) -> impl Strategy<Value = u64> {
    let len = file_len as u64;
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        (0..len * 2).prop_map(|o| (1 << 63) | (o & 0x00ff_ffff_ffff_f000)),
        (0..len).prop_map(|o| (1 << 63) | (o & !0x1ff)),
        (0..len, 0u64..16).prop_map(|(o, n)| (1 << 62) | (n << 58) | o),
        Just(1u64),
        any::<u64>(),
    ]
}

/// Mutations of a file of `len` bytes whose tables live in its first `meta` bytes.
fn mutations(len: usize, meta: usize) -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        4 => (0..len, 1u8..=255).prop_map(|(a, m)| Mutation::Flip(a, m)),
        1 => (0..len).prop_map(Mutation::Truncate),
        3 => ((0..meta / 8), entry(len)).prop_map(|(i, v)| Mutation::Word(i * 8, v)),
    ];
    prop::collection::vec(one, 1..4)
}

/// Runs the binary with a time limit (a hang is a failure).
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut child = ddgz()
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "ddgz {args:?} hung (killed after 20 s): {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Succeeded, or failed cleanly; returns whether it succeeded.
fn clean(o: &Output, args: &[&str]) -> Result<bool, TestCaseError> {
    let err = String::from_utf8_lossy(&o.stderr);
    prop_assert!(
        !err.contains("panicked"),
        "ddgz {:?} panicked: {}",
        args,
        err
    );
    match o.status.code() {
        Some(0) => Ok(true),
        Some(1) | Some(3) => {
            prop_assert!(
                err.starts_with("ddgz: error:") || err.contains("\nddgz: error:"),
                "ddgz {:?}: stderr has no `ddgz: error:` line: {}",
                args,
                err
            );
            Ok(false)
        }
        c => Err(TestCaseError::fail(format!(
            "ddgz {args:?}: exit {c:?}, expected 0, 1 or 3: {err}"
        ))),
    }
}

fn sh_ok(dir: &Path, script: &str) -> Option<Vec<u8>> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    o.status.success().then_some(o.stdout)
}

/// Converts `name` and, if that works, checks the output against `want` (raw bytes).
fn convert_checked(
    dir: &Path,
    name: &str,
    want: impl FnOnce() -> Option<Vec<u8>>,
) -> Result<(), TestCaseError> {
    let out = dir.join("out.dd.gz");
    let _ = std::fs::remove_file(&out);
    let args = [
        "convert",
        name,
        "-o",
        "out.dd.gz",
        "--quiet",
        "--no-validate",
    ];
    let o = run(dir, &args);
    if clean(&o, &args)? {
        let got = sh_ok(dir, "gzip -dc out.dd.gz").expect("gzip -dc of our output failed");
        if let Some(want) = want() {
            prop_assert!(
                got == want,
                "ddgz convert {}: output differs from the oracle",
                name
            );
        }
    } else {
        prop_assert!(!out.exists(), "output left behind");
    }
    let left = partials(out.parent().unwrap());
    prop_assert!(left.is_empty(), "{:?} left behind", left);
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    })
}

/// qemu-img's virtual size of `name`, if it opens it.
fn qemu_size(dir: &Path, name: &str) -> Option<u64> {
    let out = sh_ok(dir, &format!("qemu-img info --output=json -f qcow2 {name}"))?;
    let v: serde_json::Value = serde_json::from_slice(&out).ok()?;
    v["virtual-size"].as_u64()
}

#[test]
fn proptest_qcow2_mutations() {
    let base = fixture("valid.qcow2");
    let d = Dir::new();
    // The metadata (header, refcounts, L1, L2) sits in the first clusters.
    runner(64)
        .run(&mutations(base.len(), 6 * 4096), |ms| {
            let img = apply(&base, &ms);
            std::fs::write(d.join("m.qcow2"), &img).unwrap();
            for args in [["inspect", "m.qcow2"], ["validate", "m.qcow2"]] {
                clean(&run(d.path(), &args), &args)?;
            }
            // Convert only what stays small (a flipped size bit can make a 1 TiB disk).
            let mut ours_size = None;
            let info = run(d.path(), &["inspect", "m.qcow2", "--json"]);
            if info.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap_or_default();
                ours_size = v["image"]["virtual_size"]
                    .as_u64()
                    .or(v["disk_size"].as_u64());
            }
            if ours_size.is_none_or(|s| s <= 16 << 20) {
                convert_checked(d.path(), "m.qcow2", || {
                    qemu_size(d.path(), "m.qcow2").filter(|&s| s <= 16 << 20)?;
                    sh_ok(
                        d.path(),
                        "qemu-img convert -f qcow2 -O raw m.qcow2 ref.raw && cat ref.raw",
                    )
                })?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn proptest_gpt_mutations() {
    let base = fixture("gpt-valid.raw");
    let d = Dir::new();
    // MBR, primary header and entries: the first 34 sectors; the backup at the end.
    runner(32)
        .run(&mutations(base.len(), 34 * 512), |ms| {
            let img = apply(&base, &ms);
            std::fs::write(d.join("m.raw"), &img).unwrap();
            for args in [["inspect", "m.raw"], ["validate", "m.raw"]] {
                clean(&run(d.path(), &args), &args)?;
            }
            convert_checked(d.path(), "m.raw", || Some(img.clone()))
        })
        .unwrap();
}

#[test]
fn proptest_fat_mutations() {
    let base = fixture("fat-valid.img");
    let d = Dir::new();
    // Boot sector, FATs, root directory: the first 4 KiB.
    runner(48)
        .run(&mutations(base.len(), 4096), |ms| {
            let img = apply(&base, &ms);
            std::fs::write(d.join("m.img"), &img).unwrap();
            for args in [
                &["ls", "m.img", "0:/"][..],
                &["ls", "-l", "m.img", "0:/DIR"],
                &["cat", "m.img", "0:/FILE.TXT"],
                &["inspect", "m.img"],
            ] {
                let o = run(d.path(), args);
                // A bad path inside a damaged volume is a usage error (2) for ls / cat.
                if o.status.code() != Some(2) {
                    clean(&o, args)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn proptest_gzip_mutations() {
    let base = fixture("valid.dd.gz");
    let raw = fixture("gpt-valid.raw");
    let d = Dir::new();
    std::fs::write(d.join("src.raw"), &raw).unwrap();
    runner(64)
        .run(&mutations(base.len(), base.len()), |ms| {
            let gz = apply(&base, &ms);
            std::fs::write(d.join("m.gz"), &gz).unwrap();
            let args = ["verify", "m.gz", "--no-layout"];
            let o = run(d.path(), &args);
            let ok = clean(&o, &args)?;
            if ok {
                let got = sh_ok(d.path(), "gzip -dc m.gz");
                prop_assert!(
                    got.as_deref() == Some(&raw[..]),
                    "verify accepted a stream gzip does not decode to the source"
                );
            } else {
                prop_assert_eq!(o.status.code(), Some(1));
            }
            let args = ["verify", "m.gz", "--against", "src.raw"];
            let o = run(d.path(), &args);
            prop_assert_eq!(
                clean(&o, &args)?,
                ok,
                "verify with and without --against disagree"
            );
            Ok(())
        })
        .unwrap();
}
