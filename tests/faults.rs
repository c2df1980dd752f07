//! Faults while converting: the output disk fills up, the output directory is not
//! writable, the input is truncated while being read, SIGINT / SIGTERM arrive mid-write.
//! Each must end with a clear error, a non-zero exit, nothing at the output path and no
//! `.partial` left; the input's bytes and mtime never change (except where the test
//! itself truncates it).
//!
//! The disk-full and permission tests need root (to mount a tmpfs, to drop to `nobody`);
//! without it they print a note and pass.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const MIB: u64 = 1 << 20;

/// Writes a sparse raw disk of `size` bytes with `chunks` runs of 1 MiB of mixed data
/// spread over it (every `size / chunks` bytes).
fn sparse_disk(path: &Path, size: u64, chunks: u64) {
    for i in 0..chunks {
        write_pattern(path, size, i * (size / chunks), MIB as usize, i as u32 + 1);
    }
}

/// (sha256, mtime) of a file: what must not change.
fn fingerprint(p: &Path) -> (String, std::time::SystemTime) {
    (sha256_file(p), mtime(p))
}

/// The names of the files in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Checks an output (path) was not left behind, nor a temporary beside it.
fn assert_no_output(out: &Path) {
    assert!(!out.exists(), "{} was left behind", out.display());
    let left = partials(out.parent().unwrap());
    assert!(left.is_empty(), "{left:?} left behind");
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean failure: exit `code`, one `ddgz: error:` line containing `text`.
fn assert_fails(o: &std::process::Output, code: i32, text: &str) {
    let err = stderr_of(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains("ddgz: error: "), "stderr: {err}");
    assert!(err.contains(text), "no {text:?} in stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

/// A tmpfs mounted for the duration of a test.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.into()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn faults_disk_full() {
    let d = Dir::new();
    let input = d.join("in.raw");
    sparse_disk(&input, 64 * MIB, 8);
    let before = fingerprint(&input);
    let Some(_fs) = Tmpfs::mount(&d.join("small"), "1m") else {
        eprintln!("note: faults_disk_full skipped: cannot mount a tmpfs (not root?)");
        return;
    };
    let out = d.join("small/out.dd.gz");
    let o = d.ddgz(&[
        "convert",
        "in.raw",
        "-o",
        out.to_str().unwrap(),
        "--quiet",
        "--no-validate",
    ]);
    assert_fails(&o, 4, "No space left on device");
    assert_no_output(&out);
    assert_eq!(listing(&d.join("small")), Vec::<String>::new());
    assert_eq!(fingerprint(&input), before, "the input changed");
}

#[test]
fn faults_stdout_full() {
    let d = Dir::new();
    let input = d.join("in.raw");
    sparse_disk(&input, 16 * MIB, 4);
    let before = fingerprint(&input);
    let o = super::util::ddgz()
        .args(["convert", "in.raw", "-o", "-", "--quiet", "--no-validate"])
        .current_dir(d.path())
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_fails(&o, 4, "No space left on device");
    assert_eq!(listing(d.path()), vec!["in.raw".to_string()]);
    assert_eq!(fingerprint(&input), before, "the input changed");
}

/// Runs the binary as `nobody` with `setpriv`; `None` when that is not possible.
fn as_nobody(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    let probe = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "true",
        ])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    Some(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ddgz"))
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap(),
    )
}

#[test]
fn faults_output_dir_not_writable() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let input = d.join("in.raw");
    sparse_disk(&input, 16 * MIB, 4);
    std::fs::create_dir(d.join("ro")).unwrap();
    for (p, mode) in [
        (d.path().to_path_buf(), 0o755),
        (d.join("ro"), 0o755),
        (input.clone(), 0o644),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let before = fingerprint(&input);
    let Some(o) = as_nobody(
        d.path(),
        &[
            "convert",
            "in.raw",
            "-o",
            "ro/out.dd.gz",
            "--quiet",
            "--no-validate",
        ],
    ) else {
        eprintln!("note: faults_output_dir_not_writable skipped: cannot run as nobody");
        return;
    };
    assert_fails(&o, 4, "Permission denied");
    assert_fails(&o, 4, "ro/out.dd.gz: cannot create a temporary file in ro");
    assert_no_output(&d.join("ro/out.dd.gz"));
    assert_eq!(listing(&d.join("ro")), Vec::<String>::new());
    // The default output (next to the input) in a read-only directory, too.
    let o = as_nobody(d.path(), &["convert", "in.raw", "--quiet", "--no-validate"]).unwrap();
    assert_fails(&o, 4, "Permission denied");
    assert_eq!(
        listing(d.path()),
        vec!["in.raw".to_string(), "ro".to_string()]
    );
    assert_eq!(fingerprint(&input), before, "the input changed");
}

/// Starts `ddgz convert INPUT -o OUT` in `dir` and waits until its temporary exists
/// (the compressor is writing). Returns the child, or `None` if it ended first.
fn start_convert(dir: &Path, input: &str, out: &str, extra: &[&str]) -> (Child, bool) {
    let mut child = super::util::ddgz()
        .args(["convert", input, "-o", out, "--quiet", "--no-validate"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if !partials(dir).is_empty() {
            return (child, true);
        }
        if child.try_wait().unwrap().is_some() {
            return (child, false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no temporary for {out} appeared within 60 s");
}

fn signal_mid_write(sig: libc::c_int, name: &str) {
    let d = Dir::new();
    let input = d.join("in.raw");
    // 128 MiB of data in a 1 GiB disk at level 9: seconds of work on a shared CI box.
    sparse_disk(&input, 1 << 30, 128);
    let before = fingerprint(&input);
    let (child, writing) = start_convert(
        d.path(),
        "in.raw",
        "out.dd.gz",
        &["--level", "9", "-j", "1"],
    );
    assert!(writing, "convert ended before the signal could be sent");
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) on our own child's pid.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(r, 0);
    let o = child.wait_with_output().unwrap();
    let err = stderr_of(&o);
    assert!(!o.status.success(), "{name}: convert succeeded");
    assert!(err.contains("ddgz: error: "), "{name}: stderr: {err}");
    assert!(err.contains("interrupted"), "{name}: stderr: {err}");
    assert_ne!(
        o.status.code(),
        None,
        "{name}: killed by the signal instead of cleaning up"
    );
    assert_no_output(&d.join("out.dd.gz"));
    assert_eq!(listing(d.path()), vec!["in.raw".to_string()], "{name}");
    assert_eq!(fingerprint(&input), before, "{name}: the input changed");
}

#[test]
fn faults_sigint_mid_write() {
    signal_mid_write(libc::SIGINT, "SIGINT");
}

#[test]
fn faults_sigterm_mid_write() {
    signal_mid_write(libc::SIGTERM, "SIGTERM");
}

/// Truncates `input` to `keep` bytes as soon as the conversion writes; the conversion
/// must fail (never emit zeros for the lost data) and leave nothing.
fn truncated_while_read(input: &str, make: &dyn Fn(&Dir), keep: u64) {
    let d = Dir::new();
    make(&d);
    let (child, writing) =
        start_convert(d.path(), input, "out.dd.gz", &["--level", "9", "-j", "1"]);
    assert!(writing, "convert ended before the input could be truncated");
    std::fs::OpenOptions::new()
        .write(true)
        .open(d.join(input))
        .unwrap()
        .set_len(keep)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(3), "{input}: stderr: {err}");
    assert!(err.contains("ddgz: error: "), "{input}: stderr: {err}");
    assert!(
        err.contains("truncated")
            || err.contains("ended early")
            || err.contains("past the end of the file"),
        "{input}: stderr: {err}"
    );
    assert_no_output(&d.join("out.dd.gz"));
}

#[test]
fn faults_raw_input_truncated_while_read() {
    truncated_while_read(
        "in.raw",
        &|d| sparse_disk(&d.join("in.raw"), 1 << 30, 128),
        8 * MIB,
    );
}

#[test]
fn faults_qcow2_input_truncated_while_read() {
    truncated_while_read(
        "in.qcow2",
        &|d| {
            sparse_disk(&d.join("in.raw"), 1 << 30, 128);
            d.sh("qemu-img convert -f raw -O qcow2 in.raw in.qcow2 && rm in.raw");
        },
        8 * MIB,
    );
}

/// No command changes its input's bytes or mtime, whether it succeeds or fails.
#[test]
fn faults_inputs_never_change() {
    let d = Dir::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corrupt");
    for f in [
        "valid.qcow2",
        "fat-valid.img",
        "gpt-valid.raw",
        "l2-past-eof.qcow2",
        "fat-file-cycle.img",
    ] {
        std::fs::copy(src.join(f), d.join(f)).unwrap();
    }
    std::fs::write(d.join("KS.CFG"), "vmaccepteula\n").unwrap();
    let files = listing(d.path());
    let before: Vec<_> = files.iter().map(|f| fingerprint(&d.join(f))).collect();
    let runs: &[&[&str]] = &[
        &["inspect", "valid.qcow2"],
        &["validate", "valid.qcow2"],
        &["convert", "valid.qcow2", "-o", "a.dd.gz", "--quiet"],
        &["verify", "a.dd.gz", "--against", "valid.qcow2"],
        &["convert", "gpt-valid.raw", "-o", "b.dd.gz", "--quiet"],
        &[
            "convert",
            "fat-valid.img",
            "-o",
            "c.dd.gz",
            "--quiet",
            "--no-validate",
            "--add",
            "0:KS.CFG:/KS.CFG",
        ],
        &["ls", "fat-valid.img", "0:/"],
        &["cat", "fat-valid.img", "0:/FILE.TXT"],
        &["convert", "l2-past-eof.qcow2", "-o", "d.dd.gz", "--quiet"],
        &["ls", "fat-file-cycle.img", "0:/"],
        &[
            "convert",
            "fat-file-cycle.img",
            "-o",
            "e.dd.gz",
            "--quiet",
            "--no-validate",
            "--add",
            "0:KS.CFG:/KS.CFG",
        ],
    ];
    for args in runs {
        let o = d.ddgz(args);
        assert!(
            !stderr_of(&o).contains("panicked"),
            "{args:?}: {}",
            stderr_of(&o)
        );
        let after: Vec<_> = files.iter().map(|f| fingerprint(&d.join(f))).collect();
        assert_eq!(after, before, "ddgz {args:?} changed an input");
    }
}
