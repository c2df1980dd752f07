//! A finished `.dd.gz` / `.dd.xz` as input to `inspect`, `validate`, `ls` and `cat`: the
//! answers equal those on the raw disk (and mtools' view of the unpacked disk), in bounded
//! memory, and nothing is written.

use ddgz_synth::esxi::{self, Options};

use crate::util::*;

/// Names in a FAT directory as mtools lists them (`mdir -b`: one `::/PATH/NAME` a line).
fn mtools_names(d: &Dir, img: &str, offset: u64, dir: &str) -> Vec<String> {
    let out = d.sh(&format!(
        "MTOOLS_SKIP_CHECK=1 mdir -b -i {img}@@{offset} ::{dir}"
    ));
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| {
            l.trim_end_matches('/')
                .rsplit('/')
                .next()
                .map(str::to_string)
        })
        .filter(|n| !n.is_empty())
        .collect();
    v.sort();
    v
}

/// Names `ddgz ls` prints (directories without their trailing `/`).
fn ddgz_names(d: &Dir, img: &str, spec: &str) -> Vec<String> {
    let mut v: Vec<String> = d
        .ddgz_ok(&["ls", img, spec])
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    v.sort();
    v
}

/// Runs `ddgz ARGS` under `/usr/bin/time -v`; returns its stdout and peak RSS in KiB.
fn with_peak_rss(d: &Dir, args: &str) -> (String, u64) {
    let out = d.sh(&format!(
        "/usr/bin/time -v {} {args} 2>time.txt",
        env!("CARGO_BIN_EXE_ddgz")
    ));
    let t = std::fs::read_to_string(d.join("time.txt")).unwrap();
    let rss = t
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .expect("time -v output")
        .trim()
        .parse()
        .unwrap();
    (out, rss)
}

/// Files in the test directory with their sizes: nothing may appear or grow.
fn listing(d: &Dir) -> Vec<(String, u64)> {
    let mut v: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .filter(|(n, _)| n != "time.txt")
        .collect();
    v.sort();
    v
}

/// The packer-maas ESXi 8 disk (32 GiB, ddgz-synth) as a `.dd.gz`: inspect agrees with
/// the raw disk; ls and cat of the FAT partitions agree with mtools on the unpacked disk;
/// memory stays bounded (peak RSS printed); no file is written. Every command decodes the
/// 32 GiB stream at least once, so there are few of them.
#[test]
fn esxi8_dd_gz_inspect_validate_ls_cat() {
    let d = Dir::new();
    // With packer-maas's curtin/ in partition 1, as MAAS needs it (convert checks it).
    let opts = Options {
        curtin: true,
        ..Options::packer_maas()
    };
    let built = esxi::build(&d.join("esxi8.raw"), &opts).unwrap();
    d.ddgz_ok(&["convert", "esxi8.raw", "-o", "esxi8.dd.gz", "--quiet"]);

    let raw: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "esxi8.raw", "--json"])).unwrap();
    let before = listing(&d);
    let (gz, inspect_rss) = with_peak_rss(&d, "inspect esxi8.dd.gz --json");
    let gz: serde_json::Value = serde_json::from_str(&gz).unwrap();
    assert_eq!(gz["image"]["format"], "gzip");
    assert_eq!(gz["image"]["virtual_size"], 32u64 << 30);
    for k in ["disk_size", "table", "partitions", "esxi", "findings"] {
        assert_eq!(gz[k], raw[k], "inspect {k} differs between .dd.gz and raw");
    }

    // The oracle: the disk unpacked (sparse) up to the end of the last FAT partition.
    let fats: Vec<u32> = [1u32, 5]
        .into_iter()
        .filter(|&n| built.range(n).is_some())
        .collect();
    let end = fats
        .iter()
        .map(|&n| built.range(n).unwrap().end)
        .max()
        .unwrap();
    d.sh(&format!(
        "zcat esxi8.dd.gz | head -c {end} | dd of=unpacked.raw bs=1M conv=sparse status=none"
    ));
    let before_ls = listing(&d);
    for &n in &fats {
        let off = built.range(n).unwrap().start;
        assert_eq!(
            ddgz_names(&d, "esxi8.dd.gz", &format!("{n}:/")),
            mtools_names(&d, "unpacked.raw", off, "/"),
            "partition {n}"
        );
    }
    let r = built.range(5).unwrap();
    let want = d.sh(&format!(
        "MTOOLS_SKIP_CHECK=1 mtype -i unpacked.raw@@{} ::/boot.cfg",
        r.start
    ));
    let (got, cat_rss) = with_peak_rss(&d, "cat esxi8.dd.gz 5:/boot.cfg");
    assert!(got.contains("kernelopt"), "{got}");
    assert_eq!(got, want, "5:/boot.cfg");
    assert_eq!(listing(&d), before_ls, "ls/cat wrote a file");
    assert_eq!(
        listing(&d).len(),
        before.len() + 1,
        "only unpacked.raw was added"
    );

    println!("peak RSS: inspect {inspect_rss} KiB, cat {cat_rss} KiB (32 GiB ESXi 8 .dd.gz)");
    // The bound: the capture budget (256 MiB) and head (64 MiB), far below the disk.
    assert!(
        inspect_rss < 400 * 1024 && cat_rss < 400 * 1024,
        "{inspect_rss} {cat_rss}"
    );
}

/// The same through xz (xz-utils' stream) on a small GPT disk with a FAT partition; a
/// corrupt stream is an input error naming the file.
#[test]
fn dd_xz_and_broken_streams() {
    let d = Dir::new();
    d.sh("truncate -s 64M disk.raw
         sgdisk -a 1 -o -n 1:2048:+32M -t 1:ef00 disk.raw >/dev/null
         mkfs.vfat --offset 2048 -n PACKED disk.raw 32768 >/dev/null
         printf 'hello from inside the stream\\n' > hello.txt
         MTOOLS_SKIP_CHECK=1 mmd -i disk.raw@@1M ::/dir
         MTOOLS_SKIP_CHECK=1 mcopy -i disk.raw@@1M hello.txt ::/dir/hello.txt
         xz -0 -T1 -k -c disk.raw > disk.dd.xz
         gzip -1 -c disk.raw > disk.dd.gz");
    for img in ["disk.dd.xz", "disk.dd.gz"] {
        assert_eq!(d.ddgz_ok(&["ls", img, "1:/dir"]), "hello.txt\n");
        assert_eq!(
            d.ddgz_ok(&["cat", img, "1:/dir/hello.txt"]),
            "hello from inside the stream\n"
        );
        let j: serde_json::Value =
            serde_json::from_str(&d.ddgz_ok(&["inspect", img, "--json"])).unwrap();
        assert_eq!(j["partitions"][0]["content"]["label"], "PACKED");
        assert_eq!(
            d.ddgz_ok(&["validate", img]),
            d.ddgz_ok(&["validate", "disk.raw"])
        );
    }
    d.sh(
        "for f in xz gz; do head -c $(($(stat -c %s disk.dd.$f) / 2)) disk.dd.$f > cut.dd.$f; done",
    );
    for img in ["cut.dd.xz", "cut.dd.gz"] {
        let out = d.ddgz(&["inspect", img]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(
            err.contains(&format!("{img}: ")) && err.contains("stream broken after"),
            "{err}"
        );
    }
    // convert refuses a finished stream (it would compress compressed bytes): named as a
    // compressed stream given where a disk is expected, exit 3 (ddgz_image::unsupported).
    let out = d.ddgz(&["convert", "disk.dd.xz", "-o", "again.dd.gz", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("is an xz-compressed stream"), "{err}");
    assert!(!d.join("again.dd.gz").exists());
    // --format raw reads the compressed bytes as a disk: no table.
    let out = d.ddgz_ok(&["inspect", "disk.dd.gz", "--format", "raw"]);
    assert!(out.contains("table:      none usable"), "{out}");
}

/// Decoding a `.dd.gz` shows a progress bar over the compressed bytes on a terminal (a
/// pass over a 32 GiB disk takes many seconds; before, a spinner without an end), and
/// nothing on stderr when it is not a terminal. The terminal is `script`'s pseudo-terminal.
#[test]
fn decoding_shows_a_bar_on_a_terminal_only() {
    let d = Dir::new();
    d.sh("truncate -s 6G z.raw");
    d.ddgz_ok(&["convert", "z.raw", "-o", "z.dd.gz", "--no-validate", "-q"]);
    let tty = d.sh(&format!(
        "script -qec '{} inspect z.dd.gz' /dev/null </dev/null || true",
        env!("CARGO_BIN_EXE_ddgz")
    ));
    assert!(
        tty.contains("decoding z.dd.gz") && tty.contains("eta"),
        "no progress bar on a terminal:\n{tty}"
    );
    let out = d.ddgz(&["inspect", "z.dd.gz"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("decoding"),
        "{out:?}"
    );
}
