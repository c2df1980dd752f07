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
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Writes the checksum of the `len` bytes at `at` (field at `at + 4`).
fn fix_crc(b: &mut [u8], at: usize, len: usize) {
    b[at + 4..at + 8].fill(0);
    let c = crc32c(&b[at..at + len]);
    b[at + 4..at + 8].copy_from_slice(&c.to_le_bytes());
}

/// One log entry ([MS-VHDX] 2.3.1): sequence `seq`, tail `tail`, `writes` of 4 KiB
/// data sectors (`Some`) or zero runs (`None`, `len` bytes).
fn log_entry(
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
