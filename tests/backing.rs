//! Backing files through the format registry: a qcow2 over a sparse raw file converts to
//! what `qemu-img convert` gives, and the raw file's holes are never read (`strace`).

use std::collections::HashMap;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::util::{sha256_file, write_pattern, Dir};

/// The holes of `path` as `[start, end)` ranges, from `lseek(SEEK_DATA/SEEK_HOLE)`.
fn holes(path: &Path) -> Vec<(u64, u64)> {
    let f = std::fs::File::open(path).unwrap();
    let size = f.metadata().unwrap().len();
    let seek = |off: u64, whence| {
        // SAFETY: lseek on an open descriptor; no memory is passed.
        let r = unsafe { libc::lseek(f.as_raw_fd(), off as libc::off_t, whence) };
        (r >= 0).then_some(r as u64)
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < size {
        let data = seek(pos, libc::SEEK_DATA).unwrap_or(size);
        if data > pos {
            out.push((pos, data));
        }
        if data >= size {
            break;
        }
        pos = seek(data, libc::SEEK_HOLE).unwrap_or(size);
    }
    out
}

/// Every `pread64` (offset, length) on a descriptor of a file whose name ends in `name`,
/// from `strace -f -e trace=openat,close,pread64 -e raw=pread64` output. Lines of several
/// threads may be split into `<unfinished ...>` and `<... openat resumed>`.
fn preads_of(trace: &str, name: &str) -> Vec<(u64, u64)> {
    let (bare, under) = (format!("\"{name}\""), format!("/{name}\""));
    let ret = |s: &str| -> Option<u64> { s.rsplit_once("= ")?.1.trim().parse().ok() };
    let hex = |s: &str| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok();
    let mut is_ours: HashMap<u64, bool> = HashMap::new();
    let mut pending: HashMap<&str, bool> = HashMap::new();
    let mut out = Vec::new();
    for line in trace.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("openat(") {
            let ours = r.contains(&bare) || r.contains(&under);
            if r.ends_with("<unfinished ...>") {
                pending.insert(pid, ours);
            } else if let Some(fd) = ret(r) {
                is_ours.insert(fd, ours);
            }
        } else if rest.starts_with("<... openat resumed>") {
            if let (Some(ours), Some(fd)) = (pending.remove(pid), ret(rest)) {
                is_ours.insert(fd, ours);
            }
        } else if let Some(r) = rest.strip_prefix("close(") {
            if let Some(fd) = r.split(')').next().and_then(|s| s.parse().ok()) {
                is_ours.remove(&fd);
            }
        } else if let Some(r) = rest.strip_prefix("pread64(") {
            // Raw arguments, all known at entry: fd, buffer, count, offset.
            let args = r.split([')', '<']).next().unwrap_or("");
            let a: Vec<_> = args.split(',').map(hex).collect();
            if let [Some(fd), _, Some(count), Some(offset)] = a[..] {
                if is_ours.get(&fd) == Some(&true) {
                    out.push((offset, count));
                }
            }
        }
    }
    out
}

/// A qcow2 whose unallocated clusters fall through to a sparse raw backing file: the
/// output equals `qemu-img convert -O raw`, and no `pread64` of the backing file touches
/// one of its holes (they are zero extents, reported by SEEK_DATA/SEEK_HOLE).
#[test]
fn raw_backing_holes_are_never_read() {
    let d = Dir::new();
    let base = d.join("base.raw");
    // 64 MiB, a GPT at both ends, data at 20 MiB and 40 MiB, holes elsewhere.
    d.sh("truncate -s 64M base.raw && sgdisk -o -n 1:2048:+16M -t 1:8300 base.raw >/dev/null");
    write_pattern(&base, 64 << 20, 20 << 20, 1 << 20, 1);
    write_pattern(&base, 64 << 20, 40 << 20, 3 << 19, 2);
    d.sh("qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 \
         && qemu-io -c 'write -P 0x5a 30M 1M' -c 'write -z 40M 64k' top.qcow2 >/dev/null \
         && qemu-img convert -O raw top.qcow2 want.raw");
    let holes = holes(&base);
    let hole_bytes: u64 = holes.iter().map(|h| h.1 - h.0).sum();
    assert!(
        hole_bytes > 48 << 20,
        "the filesystem keeps no holes ({hole_bytes} bytes): {holes:?}"
    );

    d.sh(&format!(
        "strace -f -qq -o trace.txt -e trace=openat,close,pread64 -e raw=pread64 \
         '{}' convert top.qcow2 -o out.dd.gz --quiet",
        env!("CARGO_BIN_EXE_ddgz")
    ));
    d.sh("zcat out.dd.gz > got.raw");
    assert_eq!(
        sha256_file(&d.join("got.raw")),
        sha256_file(&d.join("want.raw"))
    );

    let trace = std::fs::read_to_string(d.join("trace.txt")).unwrap();
    let reads = preads_of(&trace, "base.raw");
    // The data of the backing file is read (so the trace is parsed right)…
    let read_bytes: u64 = reads.iter().map(|r| r.1).sum();
    assert!(read_bytes >= 1 << 20, "{read_bytes} bytes read: {reads:?}");
    // …and none of its holes.
    for &(off, len) in &reads {
        for &(a, b) in &holes {
            assert!(
                off + len <= a || off >= b,
                "pread64 of base.raw at {off}+{len} reads the hole {a}..{b}"
            );
        }
    }
}
