//! Helpers shared by the end-to-end tests: a temp dir per test, the built binary, shell
//! commands that must succeed, hashes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `ddgz` binary under test.
pub fn ddgz() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ddgz"))
}

/// A fresh temporary directory, removed on drop.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::Builder::new()
                .prefix("ddgz-test-")
                .tempdir()
                .unwrap(),
        }
    }
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.tmp.path().join(name)
    }
    /// Runs `script` with `sh -ec` in this directory; panics with its output on failure.
    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("sh")
            .arg("-ec")
            .arg(script)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{script}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Runs `ddgz ARGS` in this directory.
    pub fn ddgz(&self, args: &[&str]) -> Output {
        ddgz().args(args).current_dir(self.path()).output().unwrap()
    }
    /// Runs `ddgz ARGS` and panics with its stderr unless it succeeds; returns stdout.
    pub fn ddgz_ok(&self, args: &[&str]) -> String {
        let out = self.ddgz(args);
        assert!(
            out.status.success(),
            "ddgz {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Says why a test skipped, on the test run's own stderr: libtest captures `println!` and
/// `eprintln!` of a passing test, not a direct write to the stream.
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// sha256 of a file, by `sha256sum`.
pub fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Writes deterministic mixed data (text-like, binary-like, zeros) of `len` bytes at
/// `offset` into the file at `path`, creating it (sparse) with `size` bytes if needed.
pub fn write_pattern(path: &Path, size: u64, offset: u64, len: usize, seed: u32) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap();
    if f.metadata().unwrap().len() < size {
        f.set_len(size).unwrap();
    }
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    let words: &[&[u8]] = &[
        b"kernel ",
        b"module ",
        b"vmfs ",
        b"boot.cfg ",
        b"esx ",
        b"0x1f ",
        b"\n",
        b"data ",
    ];
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        match (buf.len() / 4096) % 3 {
            0 => buf.extend_from_slice(words[(x % 8) as usize]),
            1 => buf.push((x >> 8) as u8),
            _ => buf.push(if x % 5 == 0 { (x >> 3) as u8 } else { 0 }),
        }
    }
    buf.truncate(len);
    f.write_all_at(&buf, offset).unwrap();
}

/// `mtime` of a file, with nanoseconds.
pub fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// The temporaries (`.NAME.XXXXXX.partial`) in `dir`: none may be left after a run.
pub fn partials(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    v.sort();
    v
}
