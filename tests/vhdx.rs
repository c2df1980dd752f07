//! VHDX input: dynamic and fixed files of several block and log sizes, converted by
//! qemu-img from a pattern disk and written by a guest through qemu-io, must convert to
//! exactly `qemu-img convert -f vhdx -O raw`. A file whose log holds an unreplayed
//! sequence (crafted from [MS-VHDX] 2.3 on a qemu-made file) is read as qemu reads it
//! after replaying the log into a copy (`qemu-img check -r all`), and is not changed.

use crate::oracle::*;
use crate::util::*;

/// Not a whole number of blocks of any size.
const SIZE: u64 = (40 << 20) + 4096;

fn variant(opts: &str) {
    let d = Dir::new();
    pattern_source(&d, SIZE);
    d.sh(&format!(
        "qemu-img convert -f raw -O vhdx {opts} src.raw img.vhdx"
    ));
    check_convert(&d, "img.vhdx", "vhdx", &[]);
    let j = inspect_json(&d, "img.vhdx", &[]);
    assert_eq!(j["image"]["format"], "vhdx");
    assert_eq!(
        j["image"]["virtual_size"].as_u64().unwrap(),
        qemu_virtual_size(&d, "img.vhdx", "vhdx")
    );
    let c = &j["image"]["container"];
    let sub = if opts.contains("fixed") {
        "fixed"
    } else {
        "dynamic"
    };
    assert_eq!(c["subformat"], sub, "{c}");
    assert_eq!(c["allocation_unit"], "block", "{c}");
    // qemu-img map reports every VHDX byte as data; ours finds the zero blocks and the
    // holes of the file (1.1 MiB of pattern data in a 40 MiB disk).
    let allocated = j["image"]["allocated_bytes"].as_u64().unwrap();
    assert!(allocated < SIZE / 2, "{allocated} of {SIZE}");
}

macro_rules! vhdx_variants {
    ($($name:ident: $opts:expr,)*) => {$(
        #[test]
        fn $name() {
            variant($opts);
        }
    )*};
}

vhdx_variants! {
    vhdx_dynamic: "",
    vhdx_fixed: "-o subformat=fixed",
    vhdx_dynamic_block_1m: "-o block_size=1M",
    vhdx_dynamic_block_8m_log_4m: "-o block_size=8M,log_size=4M",
    vhdx_dynamic_block_32m: "-o block_size=32M",
    vhdx_fixed_block_1m_log_2m: "-o subformat=fixed,block_size=1M,log_size=2M",
    vhdx_fixed_block_32m: "-o subformat=fixed,block_size=32M",
}

#[test]
fn vhdx_written_by_the_guest() {
    for opts in [
        "",
        "-o subformat=fixed",
        "-o block_size=1M",
        "-o block_size=32M,log_size=8M",
    ] {
        let d = Dir::new();
        d.sh(&format!(
            "qemu-img create -q -f vhdx {opts} img.vhdx {SIZE}"
        ));
        d.sh(&format!(
            "qemu-io -f vhdx{} img.vhdx >/dev/null",
            qemu_io_args(&guest_writes(SIZE))
        ));
        check_convert(&d, "img.vhdx", "vhdx", &[]);
    }
}

/// CRC-32C (Castagnoli), reflected, as VHDX checksums use it.
fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Writes the checksum of the `len` bytes at `at` (field at `at + 4`).
pub(crate) fn fix_crc(b: &mut [u8], at: usize, len: usize) {
    b[at + 4..at + 8].fill(0);
    let c = crc32c(&b[at..at + len]);
    b[at + 4..at + 8].copy_from_slice(&c.to_le_bytes());
}

/// One log entry ([MS-VHDX] 2.3.1): sequence `seq`, tail `tail`, `writes` of 4 KiB
/// data sectors (`Some`) or zero runs (`None`, `len` bytes).
pub(crate) fn log_entry(
    guid: &[u8],
    seq: u64,
    tail: u32,
    writes: &[(u64, Option<Vec<u8>>, u64)],
    size: u64,
) -> Vec<u8> {
    let count = writes.len();
    let desc_sectors = (count + 2).div_ceil(128);
    let ndata = writes.iter().filter(|w| w.1.is_some()).count();
    let len = (desc_sectors + ndata) * 4096;
    let mut e = vec![0u8; len];
    e[..4].copy_from_slice(b"loge");
    e[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    e[12..16].copy_from_slice(&tail.to_le_bytes());
    e[16..24].copy_from_slice(&seq.to_le_bytes());
    e[24..28].copy_from_slice(&(count as u32).to_le_bytes());
    e[32..48].copy_from_slice(guid);
    e[48..56].copy_from_slice(&size.to_le_bytes());
    e[56..64].copy_from_slice(&size.to_le_bytes());
    let mut k = 0;
    for (i, (off, data, zlen)) in writes.iter().enumerate() {
        let d = 64 + i * 32;
        e[d + 16..d + 24].copy_from_slice(&off.to_le_bytes());
        e[d + 24..d + 32].copy_from_slice(&seq.to_le_bytes());
        match data {
            None => {
                e[d..d + 4].copy_from_slice(b"zero");
                e[d + 8..d + 16].copy_from_slice(&zlen.to_le_bytes());
            }
            Some(s) => {
                e[d..d + 4].copy_from_slice(b"desc");
                e[d + 4..d + 8].copy_from_slice(&s[4092..]);
                e[d + 8..d + 16].copy_from_slice(&s[..8]);
                let at = (desc_sectors + k) * 4096;
                e[at..at + 4].copy_from_slice(b"data");
                e[at + 4..at + 8].copy_from_slice(&((seq >> 32) as u32).to_le_bytes());
                e[at + 8..at + 4092].copy_from_slice(&s[8..4092]);
                e[at + 4092..at + 4096].copy_from_slice(&(seq as u32).to_le_bytes());
                k += 1;
            }
        }
    }
    fix_crc(&mut e, 0, len);
    e
}

/// A qemu-made dynamic VHDX with guest data, then a log sequence of two entries that
/// (1) rewrites the BAT sector: block 1 (guest data) becomes a ZERO block, block 5 (not
/// present: a zero block) points at block 2's data; (2) zeroes 8 KiB inside block 2's data. The log
/// GUID is set in both headers. qemu refuses the file read-only and replays the log into
/// a copy with `qemu-img check -r all`; ddgz replays it in memory and must read the same
/// bytes, leaving the file as it was.
#[test]
fn vhdx_unreplayed_log() {
    let d = Dir::new();
    d.sh(&format!(
        "qemu-img create -q -f vhdx -o block_size=1M img.vhdx {SIZE}"
    ));
    d.sh(&format!(
        "qemu-io -f vhdx -c 'write -P 0x31 1M 1M' -c 'write -P 0x32 2M 1M' -c 'write -P 0x33 {} 4096' img.vhdx >/dev/null",
        SIZE - 4096
    ));
    let before = qemu_raw_sha(&d, "img.vhdx", "vhdx");
    let mut b = std::fs::read(d.join("img.vhdx")).unwrap();
    // The current header, the log, the BAT region.
    let cur = if le64(&b, (128 << 10) + 8) > le64(&b, (64 << 10) + 8) {
        128 << 10
    } else {
        64 << 10
    };
    let log_len = le32(&b, cur + 68) as usize;
    let log_at = le64(&b, cur + 72) as usize;
    let rt = 192 << 10;
    let bat_at = (0..le32(&b, rt + 8) as usize)
        .map(|i| rt + 16 + i * 32)
        .find(|&e| b[e..e + 4] == [0x66, 0x77, 0xc2, 0x2d])
        .map(|e| le64(&b, e + 16) as usize)
        .unwrap();
    // 1 MiB blocks, 512-byte sectors: chunk ratio 4096, so blocks 0..5 are entries 0..5.
    let entry = |i: usize| le64(&b, bat_at + i * 8);
    assert_eq!(entry(1) & 7, 6, "block 1 is present");
    assert_ne!(
        entry(5) & 7,
        6,
        "block 5 is not present (zero: qemu's block_state_zero)"
    );
    let block2 = entry(2) & !0xfffff;
    let mut bat_sector = b[bat_at..bat_at + 4096].to_vec();
    bat_sector[8..16].copy_from_slice(&2u64.to_le_bytes());
    bat_sector[40..48].copy_from_slice(&(block2 | 6).to_le_bytes());
    let guid = [0x5au8; 16];
    let size = b.len() as u64;
    let e1 = log_entry(&guid, 7, 0, &[(bat_at as u64, Some(bat_sector), 0)], size);
    let e2 = log_entry(&guid, 8, 0, &[(block2 + 8192, None, 8192)], size);
    assert!(e1.len() + e2.len() <= log_len);
    b[log_at..log_at + e1.len()].copy_from_slice(&e1);
    b[log_at + e1.len()..log_at + e1.len() + e2.len()].copy_from_slice(&e2);
    for h in [64 << 10, 128 << 10] {
        b[h + 48..h + 64].copy_from_slice(&guid);
        fix_crc(&mut b, h, 4096);
    }
    std::fs::write(d.join("img.vhdx"), &b).unwrap();

    // qemu: refused read-only; replayed into a copy.
    let out = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "vhdx", "-O", "raw", "img.vhdx", "x.raw"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("log that needs to be replayed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.sh("cp img.vhdx copy.vhdx && qemu-img check -q -r all copy.vhdx");
    let want = qemu_raw_sha(&d, "copy.vhdx", "vhdx");
    assert_ne!(want, before, "the log changed nothing");
    check_convert_sha(&d, "img.vhdx", &want, &[]);
    let human = d.ddgz_ok(&["inspect", "img.vhdx"]);
    assert!(
        human.contains("log replayed in memory: 2 entries (sequence 7..8), 2 writes"),
        "{human}"
    );
    // The tail of the second entry broken: only the first is a complete sequence.
    let mut c = b.clone();
    let e2at = log_at + e1.len();
    c[e2at + 12..e2at + 16].copy_from_slice(&(4096u32 * 1000).to_le_bytes());
    fix_crc(&mut c, e2at, e2.len());
    std::fs::write(d.join("tail.vhdx"), &c).unwrap();
    let human = d.ddgz_ok(&["inspect", "tail.vhdx"]);
    assert!(human.contains("1 entries (sequence 7..7)"), "{human}");
}

// ---------------------------------------------------------------------------------------
// Broken VHDXs: fixtures/corrupt/vhdx-*.vhdx.gz (a VHDX is at least 4 MiB, mostly zeros:
// committed gzipped, unpacked by the test), made by `regenerate` from a qemu-img file
// with fields patched (CRC-32Cs fixed where the field is not the point), each with its
// pinned error. `regenerate` also writes the fuzz seeds `fuzz/seeds/vhdx-*.bin` (the
// files' non-zero 4 KiB sectors as runs, the form `ddgz_vhdx::fuzz_sparse` reads).

fn set_le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn set_le64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The offsets of the metadata region, the BAT region and the file parameters item.
fn layout(b: &[u8]) -> (usize, usize, usize) {
    let rt = 192 << 10;
    let region = |first: u8| {
        (0..le32(b, rt + 8) as usize)
            .map(|i| rt + 16 + i * 32)
            .find(|&e| b[e] == first)
            .map(|e| le64(b, e + 16) as usize)
            .unwrap()
    };
    let (bat, md) = (region(0x66), region(0x06));
    // File parameters: CAA16737-…, its first byte 0x37.
    let fp = (0..usize::from(u16::from_le_bytes([b[md + 10], b[md + 11]])))
        .map(|i| md + 32 + i * 32)
        .find(|&e| b[e] == 0x37)
        .map(|e| md + le32(b, e + 16) as usize)
        .unwrap();
    (md, bat, fp)
}

/// Remakes the `vhdx-*` files of `fixtures/corrupt/` and the vhdx fuzz seeds. Needs
/// qemu-img, qemu-io and gzip.
#[test]
#[ignore = "regenerates the committed fixtures: run by hand"]
fn regenerate() {
    let out = crate::corrupt::fixtures();
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let d = Dir::new();
    d.sh("qemu-img create -q -f vhdx -o block_size=1M v.vhdx 3M
         qemu-io -f vhdx -c 'write -P 0x41 0 4096' -c 'write -P 0x42 2M 8192' v.vhdx >/dev/null");
    let v = std::fs::read(d.join("v.vhdx")).unwrap();
    let (md, bat, fp) = layout(&v);
    let write = |name: &str, b: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, b).unwrap();
        d.sh(&format!(
            "gzip -9 -n -c {name} > {}",
            out.join(format!("{name}.gz")).display()
        ));
        let gz = std::fs::metadata(out.join(format!("{name}.gz")))
            .unwrap()
            .len();
        assert!(gz < 64 << 10, "{name}.gz: {gz} bytes");
    };
    let patched = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = v.clone();
        f(&mut b);
        b
    };
    let regions = |b: &mut Vec<u8>, f: &dyn Fn(&mut [u8])| {
        for rt in [192 << 10, 256 << 10] {
            f(&mut b[rt..rt + 65536]);
            fix_crc(b, rt, 65536);
        }
    };
    write("vhdx-valid.vhdx", &v);
    write(
        "vhdx-headers.vhdx",
        &patched(&|b| {
            b[(64 << 10) + 200] ^= 1;
            b[(128 << 10) + 200] ^= 1;
        }),
    );
    write(
        "vhdx-regions.vhdx",
        &patched(&|b| {
            b[(192 << 10) + 1000] ^= 1;
            b[(256 << 10) + 1000] ^= 1;
        }),
    );
    write(
        "vhdx-region-required.vhdx",
        &patched(&|b| {
            regions(b, &|r| {
                let n = le32(r, 8) as usize;
                let e = 16 + n * 32;
                r[e..e + 16].copy_from_slice(&[0xaa; 16]);
                set_le64(r, e + 16, 64 << 20);
                set_le32(r, e + 24, 1 << 20);
                set_le32(r, e + 28, 1);
                set_le32(r, 8, n as u32 + 1);
            })
        }),
    );
    write(
        "vhdx-bat-past-eof.vhdx",
        &patched(&|b| {
            regions(b, &|r| {
                let e = (0..le32(r, 8) as usize)
                    .map(|i| 16 + i * 32)
                    .find(|&e| r[e] == 0x66)
                    .unwrap();
                set_le64(r, e + 16, 1 << 40);
            })
        }),
    );
    write(
        "vhdx-block-size.vhdx",
        &patched(&|b| set_le32(b, fp, 3 << 20)),
    );
    write(
        "vhdx-parent.vhdx",
        &patched(&|b| {
            let f = le32(b, fp + 4);
            set_le32(b, fp + 4, f | 2)
        }),
    );
    let _ = md;
    write(
        "vhdx-block-past-eof.vhdx",
        &patched(&|b| set_le64(b, bat, (1 << 40) | 6)),
    );
    write(
        "vhdx-block-in-header.vhdx",
        &patched(&|b| set_le64(b, bat, 6)),
    );
    write(
        "vhdx-block-partial.vhdx",
        &patched(&|b| {
            let e = le64(b, bat);
            set_le64(b, bat, (e & !7) | 7)
        }),
    );
    write("vhdx-block-state.vhdx", &patched(&|b| set_le64(b, bat, 4)));
    // A log entry (a zero write) whose flushed file offset is past the end of the file.
    let mut b = v.clone();
    let cur = if le64(&b, (128 << 10) + 8) > le64(&b, (64 << 10) + 8) {
        128 << 10
    } else {
        64 << 10
    };
    let log_at = le64(&b, cur + 72) as usize;
    let guid = [0x77u8; 16];
    let size = b.len() as u64;
    let e = log_entry(&guid, 1, 0, &[(bat as u64, None, 4096)], size + (1 << 20));
    b[log_at..log_at + e.len()].copy_from_slice(&e);
    for h in [64 << 10, 128 << 10] {
        b[h + 48..h + 64].copy_from_slice(&guid);
        fix_crc(&mut b, h, 4096);
    }
    write("vhdx-log-truncated.vhdx", &b);
    write("vhdx-truncated.vhdx", &v[..200 << 10]);

    // Fuzz seeds: three fixtures (a valid file, one with a log, a truncated one) as runs
    // of their non-zero 4 KiB sectors; the fuzzer finds the other fields.
    for name in [
        "vhdx-valid.vhdx",
        "vhdx-log-truncated.vhdx",
        "vhdx-truncated.vhdx",
    ] {
        let b = std::fs::read(d.join(name)).unwrap();
        let mut runs = Vec::new();
        for (k, s) in b.chunks(4096).enumerate() {
            if s.iter().any(|&x| x != 0) {
                runs.extend(((k * 4096) as u32).to_le_bytes());
                runs.extend((s.len() as u16).to_le_bytes());
                runs.extend(s);
            }
        }
        std::fs::write(seeds.join(name.replace(".vhdx", ".bin")), runs).unwrap();
    }
}

const CASES: &[(&str, i32, &str)] = &[
    ("vhdx-headers.vhdx", 3, "no valid header: the one at 0x10000: CRC-32C mismatch; the one at 0x20000: CRC-32C mismatch"),
    ("vhdx-regions.vhdx", 3, "region table at 0x30000: CRC-32C mismatch (and its copy at 0x40000 is no better)"),
    ("vhdx-region-required.vhdx", 3, "region AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA is required and unknown"),
    ("vhdx-bat-past-eof.vhdx", 3, "BAT region at 0x10000000000 (1048576 bytes) lies past the end of the file"),
    ("vhdx-block-size.vhdx", 3, "block size 3145728; must be a power of two from 1 MiB to 256 MiB"),
    ("vhdx-parent.vhdx", 3, "a differencing VHDX (has parent; no parent locator): not read"),
    ("vhdx-block-past-eof.vhdx", 3, "payload block 0 (BAT entry 0 = 0x0000010000000006 at 0x200000): data at 0x10000000000 (1048576 bytes) lies past the end of the file"),
    ("vhdx-block-in-header.vhdx", 3, "data at 0x0, inside the 1 MiB header section"),
    ("vhdx-block-partial.vhdx", 3, "partially present, which only a differencing disk may be"),
    ("vhdx-block-state.vhdx", 3, "unknown block state 4"),
    ("vhdx-log-truncated.vhdx", 3, "the file was truncated after the log was written"),
    ("vhdx-truncated.vhdx", 3, "file ended early reading 65536 bytes of the region table at 0x30000"),
];

#[test]
fn vhdx_corrupt_fixtures_pinned() {
    let d = Dir::new();
    for e in std::fs::read_dir(crate::corrupt::fixtures()).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        if let Some(name) = n.strip_prefix("vhdx-").and_then(|n| n.strip_suffix(".gz")) {
            d.sh(&format!(
                "gzip -dc {} > vhdx-{name}",
                crate::corrupt::fixtures().join(&n).display()
            ));
        }
    }
    let mut failures = Vec::new();
    for &(file, code, text) in CASES {
        for c in [
            "convert {} -o out.dd.gz --quiet",
            "convert {} -o out.dd.gz --quiet --no-validate",
            "inspect {}",
            "validate {}",
        ] {
            if let Some(f) = crate::corrupt::run_case(&d, file, c, code, text) {
                failures.push(f);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    check_convert(&d, "vhdx-valid.vhdx", "vhdx", &[]);
}
