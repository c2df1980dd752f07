//! Helpers shared by the tests: the ntfs-3g tools as oracles, volumes made by mkntfs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ddgz_disk::MemoryDisk;

pub mod windows;

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `None` when every tool is present, or the reason to skip.
pub fn missing(tools: &[&str]) -> Option<String> {
    let m: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    (!m.is_empty()).then(|| format!("missing {}", m.join(", ")))
}

/// Why an ntfs-3g FUSE mount cannot be used here, or `None` when it can.
pub fn no_mount() -> Option<String> {
    if !have("ntfs-3g") {
        return Some("ntfs-3g is not installed".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if uid.stdout != b"0\n" {
        return Some("not running as root".into());
    }
    None
}

/// Runs a command, panicking with its stderr on failure; returns stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Formats a new volume of `mib` MiB with `cluster`-byte clusters in `dir`.
pub fn mkntfs(dir: &Path, cluster: u32, mib: u64, label: &str) -> PathBuf {
    let img = dir.join(format!("ntfs-{cluster}.img"));
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(mib << 20))
        .expect("create image");
    run(Command::new("mkntfs")
        .args(["-F", "-Q", "-c", &cluster.to_string(), "-L", label])
        .arg(&img));
    img
}

/// The image's bytes as a disk.
pub fn disk(img: &Path) -> MemoryDisk {
    MemoryDisk::new(std::fs::read(img).expect("read image"))
}

/// `ntfsls -R` as a sorted list of paths (without a leading slash), `.`/`..` dropped.
pub fn ntfsls_tree(img: &Path) -> Vec<String> {
    let out = run(Command::new("ntfsls")
        .env("LANG", "C.UTF-8")
        .arg("-R")
        .arg(img));
    let text = String::from_utf8(out).expect("ntfsls prints UTF-8");
    let mut dir = String::new();
    let mut paths = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with('/') && line.ends_with(':') {
            dir = line[1..line.len() - 1].to_string();
            continue;
        }
        if line == "." || line == ".." {
            continue;
        }
        paths.push(if dir.is_empty() {
            line.to_string()
        } else {
            format!("{dir}/{line}")
        });
    }
    paths.sort();
    paths
}

/// `ntfscat` of a file's unnamed stream, or of its stream `ads`.
pub fn ntfscat(img: &Path, path: &str, ads: Option<&str>) -> Vec<u8> {
    let mut c = Command::new("ntfscat");
    c.env("LANG", "C.UTF-8");
    if let Some(n) = ads {
        c.args(["-a", "0x80", "-n", n]);
    }
    run(c.arg(img).arg(format!("/{path}")))
}

/// Unmounts `m`, retrying a few times while the FUSE daemon is still busy (a loaded
/// machine); panics with umount's message if it never succeeds.
pub fn umount(m: &Path) {
    let mut last = String::new();
    for _ in 0..25 {
        let o = Command::new("umount").arg(m).output().expect("run umount");
        if o.status.success() {
            return;
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("umount {}: {last}", m.display());
}
