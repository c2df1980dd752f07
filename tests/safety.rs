//! The edges around the parsers (issue 13): sizes that are not whole sectors, memory that
//! must not grow with the disk, arguments out of range, special files that must not hang,
//! directories that must not cost quadratic time.

use crate::util::*;

/// A qcow2 whose virtual size is not a multiple of 512: qemu reads `size / 512` whole
/// sectors, and so must ddgz (the old code wrote the tail too).
#[test]
fn qcow2_size_not_whole_sectors_matches_qemu() {
    use std::os::unix::fs::FileExt;
    let d = Dir::new();
    d.sh("qemu-img create -q -f qcow2 img.qcow2 1M");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x5a 0 1M' img.qcow2 >/dev/null");
    // Patch the header's size (offset 24, big-endian) to 1 MiB - 100.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("img.qcow2"))
        .unwrap();
    f.write_all_at(&((1u64 << 20) - 100).to_be_bytes(), 24)
        .unwrap();
    drop(f);
    d.sh("qemu-img convert -f qcow2 -O raw img.qcow2 ref.raw");
    let want = sha256_file(&d.join("ref.raw"));
    assert_eq!(
        std::fs::metadata(d.join("ref.raw")).unwrap().len(),
        (1 << 20) - 512,
        "qemu rounds down to whole sectors"
    );
    d.ddgz_ok(&[
        "convert",
        "img.qcow2",
        "-o",
        "out.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let got = d.sh("gzip -dc out.dd.gz | sha256sum");
    assert_eq!(got.split_whitespace().next().unwrap(), want);
}

/// Writes a qcow2 (v2, 64 KiB clusters) of `virtual_size` bytes whose guest clusters
/// alternate allocated and free, in 384 KiB of file: every L1 entry points to one L2 table,
/// whose even entries all point to one data cluster holding `data` (zero padded). The refcounts are
/// what such sharing would need (qemu reads it; `qemu-img check` would complain that the
/// shared clusters lack COPIED, which reading ignores). The extent map has
/// `virtual_size / 64 KiB` runs: 64 Mi runs over 4 TiB.
pub fn striped_qcow2(path: &std::path::Path, virtual_size: u64, data_cluster: &[u8]) {
    const CLUSTER: u64 = 1 << 16;
    let l2_entries = CLUSTER / 8;
    let l1_entries = virtual_size.div_ceil(l2_entries * CLUSTER);
    assert!(l1_entries * 8 <= CLUSTER, "one L1 cluster");
    let (refcount_table, refcount_block, l1, l2, data) = (1, 2, 3, 4, 5);
    let mut b = vec![0u8; (6 * CLUSTER) as usize];
    let put32 = |b: &mut [u8], at: u64, v: u32| {
        b[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes())
    };
    let put64 = |b: &mut [u8], at: u64, v: u64| {
        b[at as usize..at as usize + 8].copy_from_slice(&v.to_be_bytes())
    };
    b[0..4].copy_from_slice(b"QFI\xfb");
    put32(&mut b, 4, 2); // version
    put32(&mut b, 20, 16); // cluster_bits
    put64(&mut b, 24, virtual_size);
    put32(&mut b, 36, l1_entries as u32);
    put64(&mut b, 40, l1 * CLUSTER);
    put64(&mut b, 48, refcount_table * CLUSTER);
    put32(&mut b, 56, 1); // refcount_table_clusters
    put64(&mut b, refcount_table * CLUSTER, refcount_block * CLUSTER);
    for c in 0..6u64 {
        // 16-bit refcounts.
        let n: u16 = match c {
            4 => l1_entries as u16,
            5 => u16::MAX,
            _ => 1,
        };
        let at = (refcount_block * CLUSTER + 2 * c) as usize;
        b[at..at + 2].copy_from_slice(&n.to_be_bytes());
    }
    for i in 0..l1_entries {
        put64(&mut b, l1 * CLUSTER + 8 * i, l2 * CLUSTER);
    }
    for i in (0..l2_entries).step_by(2) {
        put64(&mut b, l2 * CLUSTER + 8 * i, data * CLUSTER);
    }
    b[(data * CLUSTER) as usize..][..data_cluster.len()].copy_from_slice(data_cluster);
    std::fs::write(path, b).unwrap();
}

/// Keeps the generator in use by a quick check against qemu: a 64 MiB striped image reads
/// as qemu reads it.
#[test]
fn striped_qcow2_matches_qemu() {
    let d = Dir::new();
    striped_qcow2(&d.join("s.qcow2"), 64 << 20, &[0x3c; 1 << 16]);
    d.sh("qemu-img convert -f qcow2 -O raw s.qcow2 ref.raw");
    let want = sha256_file(&d.join("ref.raw"));
    d.ddgz_ok(&[
        "convert",
        "s.qcow2",
        "-o",
        "s.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let got = d.sh("gzip -dc s.dd.gz | sha256sum");
    assert_eq!(got.split_whitespace().next().unwrap(), want);
    let inspect = d.ddgz_ok(&["inspect", "s.qcow2", "--json"]);
    assert!(
        inspect.contains("\"allocated_bytes\": 33554432"),
        "{inspect}"
    );
}

/// The first 64 KiB of a GPT disk of `size` bytes with one partition from 1 MiB to the
/// end: what every allocated cluster of [`striped_qcow2`] holds in the memory tests, so
/// that the partition's content is probed over the whole striped range.
fn gpt_cluster(size: u64) -> Vec<u8> {
    use ddgz_synth::gpt::{guid, seeded_guid, Gpt, Part};
    let mut g = Gpt {
        disk_sectors: size / 512,
        disk_guid: seeded_guid(1, 0),
        parts: vec![],
    };
    g.parts.push(Part {
        number: 1,
        first_lba: 2048,
        last_lba: g.last_usable_lba(),
        type_guid: guid("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"),
        unique_guid: seeded_guid(1, 1),
        name: "data".into(),
    });
    let mut c = vec![0u8; 1 << 16];
    for p in g.patches().into_iter().filter(|p| p.offset < 1 << 16) {
        c[p.offset as usize..][..p.data.len()].copy_from_slice(&p.data);
    }
    c
}

/// Runs `ddgz ARGS` in `d` with its address space limited to `limit` bytes (`prlimit
/// --as`), stdout piped through `head -c HEAD`; returns (exit status of ddgz, stdout
/// bytes, stderr).
fn ddgz_limited(d: &Dir, limit: u64, args: &str, head: usize) -> (String, usize, String) {
    let bin = env!("CARGO_BIN_EXE_ddgz");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "prlimit --as={limit} {bin} {args} 2>err | head -c {head} | wc -c; \
             echo \"${{PIPESTATUS[0]}}\" >status"
        ))
        .current_dir(d.path())
        .output()
        .unwrap();
    let n = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let status = std::fs::read_to_string(d.join("status")).unwrap();
    let err = std::fs::read_to_string(d.join("err")).unwrap();
    (status.trim().to_string(), n, err)
}

/// Memory is bounded by the work, not the disk: a 384 KiB qcow2 of 1 TiB whose clusters
/// alternate allocated and free (16 Mi extents) is inspected, validated and converted in
/// a 512 MiB address space. The old code built the whole extent list (1.1 GiB) to count
/// the allocated bytes and to probe the partition.
#[test]
fn memory_is_bounded_on_a_striped_1tib_qcow2() {
    const SIZE: u64 = 1 << 40;
    const LIMIT: u64 = 512 << 20;
    let d = Dir::new();
    striped_qcow2(&d.join("big.qcow2"), SIZE, &gpt_cluster(SIZE));
    let (status, n, err) = ddgz_limited(&d, LIMIT, "inspect --json big.qcow2", 1 << 20);
    assert_eq!(status, "0", "inspect: {err}");
    assert!(n > 0, "inspect printed nothing: {err}");
    let json = d.sh(&format!(
        "prlimit --as={LIMIT} {} inspect --json big.qcow2",
        env!("CARGO_BIN_EXE_ddgz")
    ));
    assert!(
        json.contains(&format!("\"allocated_bytes\": {}", SIZE / 2)),
        "{json}"
    );
    let (status, _, err) = ddgz_limited(&d, LIMIT, "validate big.qcow2", 1 << 20);
    assert!(
        status == "0" || status == "1",
        "validate must finish with a verdict, not die: {status} {err}"
    );
    // Converting 1 TiB takes a while; the first MiB of output shows it got past the extent
    // counting and is compressing in bounded memory (then `head` closes the pipe).
    let (_, n, err) = ddgz_limited(
        &d,
        LIMIT,
        "convert --no-validate --threads 2 big.qcow2 -o -",
        1 << 20,
    );
    assert_eq!(n, 1 << 20, "convert: {err}");
}

/// Every numeric option is bounded where it is parsed: a usage error (exit 2) that names
/// the range, before any file is opened. The old code took `-j 100000000` (a deadlock or a
/// 100 GB allocation) and failed on `--chunk-size 1` with exit 4 after opening the input.
#[test]
fn numeric_options_out_of_range_are_usage_errors() {
    let d = Dir::new();
    d.sh("truncate -s 1M in.raw && echo ks > ks.cfg");
    let cases: &[(&[&str], &str)] = &[
        (
            &["convert", "in.raw", "-j", "100000000"],
            "between 0 (one per core) and 128",
        ),
        (
            &["convert", "in.raw", "-j", "18446744073709551616"],
            "between 0",
        ),
        (&["convert", "in.raw", "--threads=-1"], "between 0"),
        (
            &["convert", "in.raw", "--chunk-size", "1"],
            "between 4096 and 67108864",
        ),
        (
            &["convert", "in.raw", "--chunk-size", "1000000000"],
            "between 4096",
        ),
        (&["convert", "in.raw", "--level", "10"], "0..=9"),
        (
            &["ks-media", "ks.cfg", "-o", "ks.img", "--size", "4T"],
            "between 35651584",
        ),
        (
            &["ks-media", "ks.cfg", "-o", "ks.img", "--size", "1M"],
            "between 35651584",
        ),
        (
            &["upload", "in.raw", "--name", "a/b", "--chunk-size", "2G"],
            "between 4096",
        ),
    ];
    for (args, want) in cases {
        let out = d.ddgz(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!d.join("in.raw.dd.gz").exists() && !d.join("ks.img").exists());
}

/// Runs `cmd`, killing it after `secs` seconds: a hang fails the test instead of stalling
/// the suite. Returns (exit code, stdout, stderr).
fn run_bounded(mut cmd: std::process::Command, secs: u64) -> (Option<i32>, String, String) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} hung (killed after {secs} s): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `sh -c SCRIPT` in `d` (for pipes into ddgz), bounded like [`run_bounded`].
fn sh_bounded(d: &Dir, script: &str, secs: u64) -> (Option<i32>, String, String) {
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg(script)
        .current_dir(d.path())
        .env("DDGZ", env!("CARGO_BIN_EXE_ddgz"));
    run_bounded(c, secs)
}

/// A small .dd.gz of a GPT disk with a FAT partition, made by ddgz itself.
fn small_ddgz(d: &Dir) {
    d.sh(
        "truncate -s 40M disk.raw && sgdisk -n 1:2048:+32M -t 1:0700 disk.raw >/dev/null \
         && mkfs.vfat -F 16 --offset 2048 disk.raw 32768 >/dev/null",
    );
    d.ddgz_ok(&["convert", "disk.raw", "-o", "disk.dd.gz", "--quiet"]);
}

/// `verify` reads a stream once: from a pipe as `/dev/stdin`, from a FIFO with a writer;
/// a FIFO without a writer is refused after a bounded wait; never a hang, never a second
/// open of the stream. The old code opened the file once per pass, so a FIFO with one
/// writer hung on the second pass, and a FIFO without a writer hung at once.
#[test]
fn verify_reads_a_stream_once_and_never_hangs() {
    let d = Dir::new();
    small_ddgz(&d);
    // A pipe: the gzip stream is checked and the layout validated from what one pass kept
    // (the first 64 MiB of the disk and its tail).
    let (code, out, err) = sh_bounded(&d, "cat disk.dd.gz | \"$DDGZ\" verify /dev/stdin", 60);
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("layout OK") && out.contains("1 pass"), "{out}");
    let (code, out, err) = sh_bounded(
        &d,
        "cat disk.dd.gz | \"$DDGZ\" verify /dev/stdin --against disk.raw",
        60,
    );
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("byte for byte"), "{out}");
    // A FIFO with one writer, which writes the stream once.
    d.sh("mkfifo p");
    let (code, out, err) = sh_bounded(
        &d,
        "cat disk.dd.gz > p & \"$DDGZ\" verify p --no-layout; s=$?; wait; exit $s",
        60,
    );
    assert_eq!(code, Some(0), "{out} {err}");
    let (code, out, err) = sh_bounded(
        &d,
        "cat disk.dd.gz > p & \"$DDGZ\" verify p; s=$?; wait; exit $s",
        60,
    );
    assert_eq!(code, Some(0), "{out} {err}");
    // A FIFO no one writes: refused after the writer wait (10 s), exit 3.
    let (code, _, err) = sh_bounded(&d, "\"$DDGZ\" verify p", 40);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no writer opened it"), "{err}");
}

/// `upload` needs a regular file: a FIFO, a pipe or a device is refused at once (the old
/// code hung on a FIFO, or uploaded an empty or endless stream); an API key file of
/// `/dev/zero` is refused after 64 KiB instead of filling memory.
#[test]
fn upload_refuses_streams_at_once() {
    let d = Dir::new();
    d.sh("mkfifo p && echo x > key");
    let env = [
        ("MAAS_API_KEY", "a:b:c"),
        ("MAAS_URL", "http://127.0.0.1:9/MAAS"),
    ];
    for script in [
        "\"$DDGZ\" upload p --name a/b",
        "echo x | \"$DDGZ\" upload /dev/stdin --name a/b",
        "\"$DDGZ\" upload /dev/zero --name a/b",
    ] {
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(script)
            .current_dir(d.path())
            .env("DDGZ", env!("CARGO_BIN_EXE_ddgz"))
            .envs(env);
        let (code, _, err) = run_bounded(c, 20);
        assert_eq!(code, Some(3), "{script}: {err}");
        assert!(err.contains("not a regular file"), "{script}: {err}");
    }
    let out = d.ddgz(&[
        "upload",
        "key",
        "--name",
        "a/b",
        "--url",
        "http://127.0.0.1:9/MAAS",
        "--api-key-file",
        "/dev/zero",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("longer than 65536 bytes"), "{err}");
}

/// Makes a GPT disk `disk.raw` of `mib` MiB with partition 1 formatted by `mkfs.fat ARGS`.
fn fat_disk(d: &Dir, mib: u64, mkfs: &str) {
    let sectors = (mib - 2) * 2048;
    d.sh(&format!(
        "truncate -s {mib}M disk.raw && sgdisk -n 1:2048:+{}M -t 1:0700 disk.raw >/dev/null \
         && mkfs.fat {mkfs} --offset 2048 disk.raw {} >/dev/null",
        mib - 2,
        sectors / 2
    ));
}

/// Adding N files into one directory is O(N): each directory is read once and entries are
/// appended (the fatfs-based code scanned the directory for every file: 2,000 files took
/// 11 s, 6,000 more than a minute). 10,000 files must finish well inside the bound; the
/// result is checked by fsck.fat and mtools.
#[test]
fn adding_ten_thousand_files_is_not_quadratic() {
    let d = Dir::new();
    fat_disk(&d, 300, "-F 32");
    let src = d.join("src/curtin");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..10_000 {
        std::fs::write(
            src.join(format!("hook-file-number-{i}.txt")),
            format!("{i}\n"),
        )
        .unwrap();
    }
    let mut c = crate::util::ddgz();
    c.current_dir(d.path()).args([
        "convert",
        "disk.raw",
        "--add",
        "src/curtin",
        "-o",
        "out.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let (code, _, err) = run_bounded(c, 120);
    assert_eq!(code, Some(0), "{err}");
    let out = d.sh(
        "zcat out.dd.gz | dd of=p.img bs=1M skip=1 count=298 iflag=fullblock status=none && fsck.fat -n p.img \
         && MTOOLS_SKIP_CHECK=1 mdir -b -i p.img ::/curtin | wc -l \
         && MTOOLS_SKIP_CHECK=1 mtype -i p.img ::/curtin/hook-file-number-9876.txt",
    );
    assert!(out.contains("10001 files"), "fsck: {out}");
    assert!(out.contains("\n10000\n9876\n"), "mdir/mtype: {out}");
}

/// FAT's directory limits are errors before anything is written: the fixed FAT16 root
/// (64 entries here) and 65,536 entries in any directory.
#[test]
fn fat_directory_limits_are_errors() {
    let d = Dir::new();
    fat_disk(&d, 66, "-F 16 -r 16");
    let mut args = vec![
        "convert",
        "disk.raw",
        "-o",
        "a.dd.gz",
        "--quiet",
        "--no-validate",
    ];
    let names: Vec<String> = (0..40).map(|i| format!("file-{i:03}.txt")).collect();
    for n in &names {
        std::fs::write(d.join(n), b"x").unwrap();
    }
    for n in &names {
        args.extend(["--add", n.as_str()]);
    }
    let out = d.ddgz(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    // mkfs.fat rounds the root up to 64 entries; 40 long names take 80.
    assert!(
        err.contains("root directory is full (64 entries; 16 more needed)"),
        "{err}"
    );
    assert!(!d.join("a.dd.gz").exists());

    // 22,000 names of 14..=26 characters take 3 slots each: 66,000 > 65,536.
    let src = d.join("huge");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..22_000 {
        std::fs::write(src.join(format!("entry-name-{i:05}")), b"").unwrap();
    }
    let out = d.ddgz(&[
        "convert",
        "disk.raw",
        "--add",
        "huge:/big",
        "-o",
        "b.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("/big: the directory is full: FAT allows 65,536 entries"),
        "{err}"
    );
    assert!(!d.join("b.dd.gz").exists());
}

/// An image that is not a file: a FIFO, a pipe, a character device or a directory is
/// refused at once with the reason (exit 3), never read as a 0-byte disk and never a
/// hang (opening a FIFO without a writer would block); a qcow2 naming a FIFO as its
/// backing file likewise.
#[test]
fn special_files_as_images_are_refused_at_once() {
    let d = Dir::new();
    d.sh("mkfifo p && qemu-img create -q -f qcow2 top.qcow2 1M \
         && qemu-img rebase -q -u -b p -F raw top.qcow2");
    for (script, want) in [
        ("\"$DDGZ\" convert p -o p.dd.gz", "p: is a FIFO"),
        ("\"$DDGZ\" inspect p", "p: is a FIFO"),
        (
            "echo x | \"$DDGZ\" convert /dev/stdin -o s.dd.gz",
            "is a FIFO",
        ),
        (
            "\"$DDGZ\" convert /dev/zero -o z.dd.gz",
            "/dev/zero: is a character device",
        ),
        (
            "\"$DDGZ\" validate /dev/null",
            "/dev/null: is a character device",
        ),
        ("\"$DDGZ\" ls . 1:/", ".: is a directory"),
        (
            "\"$DDGZ\" convert top.qcow2 -o t.dd.gz",
            "is a FIFO (named pipe): an image must be a regular file or a block device (the \
             backing file of top.qcow2)",
        ),
    ] {
        let (code, _, err) = sh_bounded(&d, script, 20);
        assert_eq!(code, Some(3), "{script}: {err}");
        assert!(err.contains(want), "{script}: {err}");
    }
    assert!(std::fs::read_dir(d.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".dd.gz")));
}

/// A block device as input is read at its real size (`metadata().len()` is 0 for one):
/// a loop device over a small GPT disk converts to the disk's bytes. Needs root and a
/// free loop device; skipped (and says so) without them.
#[test]
fn block_device_input_has_its_real_size() {
    let d = Dir::new();
    d.sh(
        "truncate -s 40M disk.raw && sgdisk -n 1:2048:+32M -t 1:0700 disk.raw >/dev/null \
         && mkfs.vfat -F 16 --offset 2048 disk.raw 32768 >/dev/null",
    );
    let out = std::process::Command::new("losetup")
        .args(["--find", "--show", "--read-only"])
        .arg(d.join("disk.raw"))
        .output();
    let dev = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => {
            eprintln!(
                "skipped: no loop device ({})",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: losetup: {e}");
            return;
        }
    };
    /// Detaches the loop device whatever happens.
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = std::process::Command::new("losetup")
                .args(["--detach", &self.0])
                .status();
        }
    }
    let _detach = Detach(dev.clone());
    let json = d.ddgz_ok(&["inspect", &dev, "--json"]);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["image"]["virtual_size"], 40u64 << 20, "{json}");
    d.ddgz_ok(&["convert", &dev, "-o", "dev.dd.gz", "--quiet"]);
    d.sh("zcat dev.dd.gz | cmp - disk.raw");
}
