//! Hostile and broken input: `fixtures/corrupt/` holds one small image per failure (each
//! under 64 KiB), and every command that reads it must refuse it with a clear error, the
//! right exit code, no output file left behind, and no panic.
//!
//! The fixtures are made by [`regenerate`] (qemu-img, sgdisk, mkfs.vfat/mtools, then bytes
//! patched by hand) and committed, so that a newer qemu does not change them under the
//! tests. To remake them:
//! `cargo test --test tests corrupt::regenerate -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Where the fixtures live.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corrupt")
}

// ---------------------------------------------------------------------------------------
// The generator.

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
fn set_be64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}
fn set_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn set_le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn set_le64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The L1 table offset, the first L1 entry's L2 offset, and the first allocated L2 entry
/// (its byte position in the file and value) of a qcow2 image.
fn qcow2_tables(b: &[u8]) -> (u64, u64, usize, u64) {
    const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
    let l1 = be64(b, 40);
    let l2 = be64(b, l1 as usize) & OFFSET_MASK;
    let cluster = 1usize << u32::from_be_bytes(b[20..24].try_into().unwrap());
    let pos = (0..cluster / 8)
        .map(|i| l2 as usize + i * 8)
        .find(|&p| be64(b, p) != 0)
        .expect("an allocated L2 entry");
    (l1, l2, pos, be64(b, pos))
}

/// Recomputes the CRC32 of the GPT header at `at` (92 bytes, CRC field zeroed).
fn fix_gpt_crc(b: &mut [u8], at: usize) {
    set_le32(b, at + 16, 0);
    let size = le32(b, at + 12) as usize;
    let mut crc = flate2::Crc::new();
    crc.update(&b[at..at + size]);
    set_le32(b, at + 16, crc.sum());
}

/// Sets a FAT12 entry of the FAT starting at byte `fat`.
fn set_fat12(b: &mut [u8], fat: usize, n: usize, v: u16) {
    let at = fat + n * 3 / 2;
    let cur = u16::from_le_bytes([b[at], b[at + 1]]);
    let new = if n % 2 == 0 {
        (cur & 0xf000) | (v & 0x0fff)
    } else {
        (cur & 0x000f) | (v << 4)
    };
    b[at..at + 2].copy_from_slice(&new.to_le_bytes());
}

/// Remakes `fixtures/corrupt/`. Needs qemu-img, sgdisk, mkfs.vfat, mtools, gzip.
#[test]
#[ignore = "regenerates the committed fixtures: run by hand"]
fn regenerate() {
    let out = fixtures();
    std::fs::create_dir_all(&out).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let write = |name: &str, data: &[u8]| {
        assert!(data.len() < 64 * 1024, "{name}: {} bytes", data.len());
        std::fs::write(out.join(name), data).unwrap();
    };

    // A 1 MiB GPT disk (partition 1 at sector 64) with data at 32, 64 and 512 KiB; 4 KiB
    // clusters keep the images small.
    sh(
        t,
        "truncate -s 1M base.raw
         sgdisk -a 1 -o -n 1:64:2000 -t 1:0700 base.raw >/dev/null
         printf 'ddgz corrupt fixture %.0s' $(seq 200) | dd of=base.raw bs=32k seek=1 conv=notrunc status=none
         printf 'second %.0s' $(seq 600) | dd of=base.raw bs=64k seek=1 conv=notrunc status=none
         printf 'third %.0s' $(seq 700) | dd of=base.raw bs=512k seek=1 conv=notrunc status=none
         qemu-img convert -f raw -O qcow2 -o cluster_size=4096 base.raw valid.qcow2
         qemu-img convert -c -f raw -O qcow2 -o cluster_size=4096 base.raw zlib.qcow2",
    );
    let valid = std::fs::read(t.join("valid.qcow2")).unwrap();
    write("valid.qcow2", &valid);
    let (l1, l2, l2e_pos, l2e) = qcow2_tables(&valid);
    let patched = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = valid.clone();
        f(&mut b);
        b
    };
    const COPIED: u64 = 1 << 63;
    const FAR: u64 = 0x10_0000_0000; // 64 GiB: cluster-aligned, far past the end
    write("l1-past-eof.qcow2", &patched(&|b| set_be64(b, 40, FAR)));
    write(
        "l1-overlaps-header.qcow2",
        &patched(&|b| set_be64(b, 40, 0)),
    );
    write(
        "l1-size-huge.qcow2",
        &patched(&|b| set_be32(b, 36, 0x0fff_ffff)),
    );
    write(
        "l2-past-eof.qcow2",
        &patched(&|b| set_be64(b, l1 as usize, COPIED | FAR)),
    );
    write(
        "l2-misaligned.qcow2",
        &patched(&|b| set_be64(b, l1 as usize, COPIED | 0x200)),
    );
    write(
        "data-past-eof.qcow2",
        &patched(&|b| set_be64(b, l2e_pos, COPIED | FAR)),
    );
    let _ = (l2, l2e);
    write("encrypted-aes.qcow2", &patched(&|b| set_be32(b, 32, 1)));
    write("encrypted-luks.qcow2", &patched(&|b| set_be32(b, 32, 2)));
    write(
        "corrupt-bit.qcow2",
        &patched(&|b| {
            let v = be64(b, 72);
            set_be64(b, 72, v | 2)
        }),
    );
    write(
        "unknown-incompat.qcow2",
        &patched(&|b| {
            let v = be64(b, 72);
            set_be64(b, 72, v | 1 << 20)
        }),
    );
    // Cut inside the last data cluster, and inside the L2 table.
    write("truncated-data.qcow2", &valid[..valid.len() - 2048]);
    write("truncated-l2.qcow2", &valid[..l2 as usize + 100]);
    write("truncated-header.qcow2", &valid[..50]);

    // Compressed clusters: the first one's length overruns the file (it starts 16 bytes
    // before the end and claims the maximum sector count).
    let zlib = std::fs::read(t.join("zlib.qcow2")).unwrap();
    let (_, _, pos, e) = qcow2_tables(&zlib);
    assert!(e & (1 << 62) != 0, "not a compressed entry: {e:x}");
    let mut z = zlib.clone();
    // cluster_bits 12: x = 62 - (12 - 8) = 58; offset bits 0..57, sector count 58..61.
    let off = (zlib.len() - 16) as u64;
    set_be64(&mut z, pos, (1 << 62) | (0xf << 58) | off);
    write("compressed-overrun.qcow2", &z);
    let mut z = zlib.clone();
    set_be64(&mut z, pos, (1 << 62) | (0xf << 58) | FAR);
    write("compressed-past-eof.qcow2", &z);

    // Backing chains: a loop of two, a loop of one, one deeper than the limit (16).
    sh(
        t,
        "qemu-img create -q -f qcow2 -o cluster_size=512 -u -b loop-b.qcow2 -F qcow2 loop-a.qcow2 64K
         qemu-img create -q -f qcow2 -o cluster_size=512 -u -b loop-a.qcow2 -F qcow2 loop-b.qcow2 64K
         qemu-img create -q -f qcow2 -o cluster_size=512 -u -b loop-selx.qcow2 -F qcow2 loop-self.qcow2 64K
         truncate -s 32K deep-00.raw
         prev=deep-00.raw; fmt=raw
         for i in $(seq -w 1 20); do
           qemu-img create -q -f qcow2 -o cluster_size=512 -u -b $prev -F $fmt deep-$i.qcow2 64K
           prev=deep-$i.qcow2; fmt=qcow2
         done
         qemu-img create -q -f qcow2 -o cluster_size=512 -u \
           -b 'json:{\"file\":{\"driver\":\"file\",\"filename\":\"/etc/passwd\"}}' -F raw backing-json.qcow2 64K
         qemu-img create -q -f qcow2 -o cluster_size=512 -u -b nbd:localhost:10809 -F raw backing-nbd.qcow2 64K
         qemu-img create -q -f qcow2 -o cluster_size=512 -u -b http://example.invalid/disk.raw -F raw backing-http.qcow2 64K
         qemu-img create -q -f qcow2 -o cluster_size=512 -u -b missing.raw -F raw backing-missing.qcow2 64K",
    );
    // qemu-img refuses to name the image itself as its backing file: patch the name in.
    let mut b = std::fs::read(t.join("loop-self.qcow2")).unwrap();
    let at = b
        .windows(9)
        .position(|w| w == b"loop-selx")
        .expect("backing name");
    b[at + 8] = b'f';
    std::fs::write(t.join("loop-self.qcow2"), b).unwrap();
    for f in std::fs::read_dir(t).unwrap() {
        let f = f.unwrap().file_name().into_string().unwrap();
        if f.starts_with("loop-") || f.starts_with("deep-") || f.starts_with("backing-") {
            write(&f, &std::fs::read(t.join(&f)).unwrap());
        }
    }

    // GPT on a 48 KiB disk (96 sectors): entry count, entry size and entry LBA that do
    // not fit, each patched into both copies with the header CRC fixed, so that neither
    // copy is usable.
    sh(
        t,
        "truncate -s 48K gpt.raw
         sgdisk -a 1 -o -n 1:40:60 -t 1:ef00 -U 11111111-2222-3333-4444-555555555555 -u 1:66666666-7777-8888-9999-AAAAAAAAAAAA gpt.raw >/dev/null",
    );
    let gpt = std::fs::read(t.join("gpt.raw")).unwrap();
    write("gpt-valid.raw", &gpt);
    let both = |f: &dyn Fn(&mut [u8], usize)| {
        let mut b = gpt.clone();
        for at in [512, gpt.len() - 512] {
            f(&mut b, at);
            fix_gpt_crc(&mut b, at);
        }
        b
    };
    write(
        "gpt-entries-count.raw",
        &both(&|b, at| set_le32(b, at + 80, 0xffff_ffff)),
    );
    write(
        "gpt-entry-size.raw",
        &both(&|b, at| set_le32(b, at + 84, 0x1000_0000)),
    );
    write(
        "gpt-entry-size-small.raw",
        &both(&|b, at| set_le32(b, at + 84, 8)),
    );
    write(
        "gpt-entries-past-end.raw",
        &both(&|b, at| set_le64(b, at + 72, 1_000_000)),
    );

    // FAT12 volumes (whole image, partition 0), 512-byte clusters: a file whose chain
    // loops, one whose chain leaves the volume, a directory whose chain loops.
    sh(
        t,
        "mkfs.vfat -C -s 1 -r 16 -n FIXTURE -i 12345678 fat.img 48 >/dev/null
         printf 'line of text %.0s' $(seq 300) > file.txt
         mcopy -i fat.img file.txt ::/FILE.TXT
         mmd -i fat.img ::/DIR
         for i in $(seq 1 40); do echo $i > f$i.txt; mcopy -i fat.img f$i.txt ::/DIR/; done",
    );
    let fat = std::fs::read(t.join("fat.img")).unwrap();
    write("fat-valid.img", &fat);
    let reserved = u16::from_le_bytes([fat[14], fat[15]]) as usize;
    let fat_at = reserved * 512;
    let fats = fat[16] as usize;
    let fat_len = u16::from_le_bytes([fat[22], fat[23]]) as usize * 512;
    // Root directory entries: FILE.TXT, then DIR (after the volume label).
    let root = fat_at + fats * fat_len;
    let first_cluster = |name: &[u8]| {
        (0..512)
            .map(|i| root + i * 32)
            .find(|&e| &fat[e..e + 11] == name)
            .map(|e| u16::from_le_bytes([fat[e + 26], fat[e + 27]]) as usize)
            .unwrap()
    };
    let file = first_cluster(b"FILE    TXT");
    let dir = first_cluster(b"DIR        ");
    let all_fats = |f: &dyn Fn(&mut [u8], usize)| {
        let mut b = fat.clone();
        for i in 0..fats {
            f(&mut b, fat_at + i * fat_len);
        }
        b
    };
    // FILE.TXT spans 8 clusters: make the 3rd point back to the 1st.
    write(
        "fat-file-cycle.img",
        &all_fats(&|b, at| set_fat12(b, at, file + 2, file as u16)),
    );
    write(
        "fat-file-out-of-range.img",
        &all_fats(&|b, at| set_fat12(b, at, file + 2, 0xfe0)),
    );
    write(
        "fat-dir-cycle.img",
        &all_fats(&|b, at| set_fat12(b, at, dir + 1, dir as u16)),
    );
    write(
        "fat-dir-out-of-range.img",
        &all_fats(&|b, at| set_fat12(b, at, dir, 0x500)),
    );

    // gzip streams for `verify`: truncated, trailing garbage, a flipped CRC, a flipped
    // deflate bit, a reserved flag.
    sh(
        t,
        "gzip -9 -n -c gpt.raw > gpt.raw.gz
         head -c 150 gpt.raw.gz > truncated.dd.gz
         cat gpt.raw.gz > trailing-garbage.dd.gz; printf 'garbage' >> trailing-garbage.dd.gz
         cat gpt.raw.gz > trailing-zeros.dd.gz; head -c 1024 /dev/zero >> trailing-zeros.dd.gz
         cat gpt.raw.gz gpt.raw.gz > two-members.dd.gz",
    );
    for f in [
        "truncated.dd.gz",
        "trailing-garbage.dd.gz",
        "trailing-zeros.dd.gz",
        "two-members.dd.gz",
    ] {
        write(f, &std::fs::read(t.join(f)).unwrap());
    }
    let gz = std::fs::read(t.join("gpt.raw.gz")).unwrap();
    write("valid.dd.gz", &gz);
    let n = gz.len();
    let mut b = gz.clone();
    b[n - 8] ^= 0x01;
    write("bad-crc.dd.gz", &b);
    let mut b = gz.clone();
    b[n - 4] ^= 0x01;
    write("bad-isize.dd.gz", &b);
    let mut b = gz.clone();
    b[3] |= 0x80;
    write("reserved-flag.dd.gz", &b);
    let mut b = gz.clone();
    b[2] = 7;
    write("bad-method.dd.gz", &b);
    // A flip in the first bytes of the deflate data (its block header and code lengths).
    let mut b = gz.clone();
    b[12] ^= 0x40;
    write("bad-deflate.dd.gz", &b);
}

// ---------------------------------------------------------------------------------------
// The expectations.

/// `FILE`: the fixture; `ARGS`: the command, `{}` standing for the fixture; the exit
/// code; a piece of the error text (looked for in stderr and stdout).
const CASES: &[(&str, &str, i32, &str)] = &[
    // qcow2 tables.
    ("l1-past-eof.qcow2", "*", 3, "L1 table at 0x1000000000 (1 entries) lies past the end of the file"),
    ("l1-overlaps-header.qcow2", "*", 3, "L1 table at 0x0 overlaps the header cluster"),
    ("l1-size-huge.qcow2", "*", 3, "L1 table has 268435455 entries; the limit is 4194304"),
    ("l2-past-eof.qcow2", "*", 3, "L2 table at 0x1000000000 (L1 entry 0) lies past the end of the file"),
    ("l2-misaligned.qcow2", "*", 3, "L2 table offset 0x200 (L1 entry 0) is not aligned to the cluster size 0x1000"),
    ("data-past-eof.qcow2", "*", 3, "data cluster at 0x1000000000 for guest offset 0x0 lies past the end of the file"),
    ("compressed-overrun.qcow2", "*", 3, "runs past the end of the file"),
    ("compressed-past-eof.qcow2", "*", 3, "compressed cluster at 0x1000000000"),
    // qcow2 header.
    ("encrypted-aes.qcow2", "*", 3, "image is encrypted (AES, crypt_method 1); refusing to read ciphertext"),
    ("encrypted-luks.qcow2", "*", 3, "image is encrypted (LUKS, crypt_method 2); refusing to read ciphertext"),
    ("corrupt-bit.qcow2", "*", 3, "the corrupt bit is set"),
    ("unknown-incompat.qcow2", "*", 3, "unsupported incompatible features: bit 20"),
    ("truncated-header.qcow2", "*", 3, "file is 50 bytes, shorter than the 72-byte qcow2 header"),
    ("truncated-l2.qcow2", "*", 3, "(L1 entry 0) lies past the end of the file"),
    ("truncated-data.qcow2", "convert {} -o out.dd.gz --quiet --no-validate", 3, "for guest offset 0xff000 lies past the end of the file"),
    ("truncated-data.qcow2", "inspect {}", 3, "for guest offset 0xff000 lies past the end of the file"),
    // Backing chains.
    ("loop-a.qcow2", "*", 3, "backing chain loops"),
    ("loop-self.qcow2", "*", 3, "backing chain loops: this file is already in the chain (the backing file of loop-self.qcow2)"),
    ("deep-20.qcow2", "*", 3, "backing chain is longer than the limit of 16 files"),
    ("backing-json.qcow2", "*", 3, "is not a plain file path (protocol prefix \"json:\")"),
    ("backing-nbd.qcow2", "*", 3, "is not a plain file path (protocol prefix \"nbd:\")"),
    ("backing-http.qcow2", "*", 3, "is not a plain file path (protocol prefix \"http:\")"),
    ("backing-missing.qcow2", "*", 3, "cannot open (the backing file of backing-missing.qcow2)"),
    // GPT: validation findings (exit 1); inspect shows them and succeeds.
    ("gpt-entries-count.raw", "validate {}", 1, "entry array of 4294967295 × 128 bytes exceeds our limit"),
    ("gpt-entries-count.raw", "convert {} -o out.dd.gz --quiet", 1, "entry array of 4294967295 × 128 bytes exceeds our limit"),
    ("gpt-entries-count.raw", "inspect {}", 0, "entry array of 4294967295 × 128 bytes exceeds our limit"),
    ("gpt-entry-size.raw", "validate {}", 1, "entry size 268435456; must be 128 × 2^n"),
    ("gpt-entry-size.raw", "convert {} -o out.dd.gz --quiet", 1, "entry size 268435456; must be 128 × 2^n"),
    ("gpt-entry-size-small.raw", "validate {}", 1, "entry size 8; must be 128 × 2^n"),
    ("gpt-entries-past-end.raw", "validate {}", 1, "entry array at LBA 1000000 (32 sectors) lies outside the disk (96 sectors)"),
    ("gpt-entries-past-end.raw", "convert {} -o out.dd.gz --quiet", 1, "entry array at LBA 1000000 (32 sectors) lies outside the disk"),
    // FAT chains (the whole image is the volume: partition 0).
    ("fat-file-cycle.img", "cat {} 0:/FILE.TXT", 3, "/FILE.TXT: cluster 2 is used twice (cross-linked or cyclic chain)"),
    ("fat-file-cycle.img", "ls {} 0:/", 3, "cluster 2 is used twice (cross-linked or cyclic chain)"),
    ("fat-file-out-of-range.img", "cat {} 0:/FILE.TXT", 3, "/FILE.TXT: its cluster chain reaches cluster 4064, outside 2..=93"),
    ("fat-dir-cycle.img", "ls {} 0:/DIR", 3, "is used twice (cross-linked or cyclic chain)"),
    ("fat-dir-out-of-range.img", "ls {} 0:/DIR", 3, "/DIR: its cluster chain reaches cluster 1280, outside 2..=93"),
    ("fat-dir-out-of-range.img", "cat {} 0:/DIR/F1.TXT", 3, "/DIR: its cluster chain reaches cluster 1280"),
    // gzip streams.
    ("truncated.dd.gz", "verify {}", 1, "the file ends inside a deflate block: the stream is truncated (member 1, compressed offset 150"),
    ("trailing-garbage.dd.gz", "verify {}", 1, "7 bytes of garbage follow the last gzip member"),
    ("trailing-zeros.dd.gz", "verify {}", 1, "1024 zero bytes follow the last gzip member"),
    ("bad-crc.dd.gz", "verify {}", 1, "CRC32 mismatch: the trailer says 0x"),
    ("bad-isize.dd.gz", "verify {}", 1, "ISIZE mismatch: the trailer says 49153, the member decodes to 49152 bytes"),
    ("bad-method.dd.gz", "verify {}", 1, "unknown compression method 7"),
    ("reserved-flag.dd.gz", "verify {}", 1, "reserved flag bits set in the gzip header: FLG = 0x80"),
    ("bad-deflate.dd.gz", "verify {}", 1, "corrupt deflate data: invalid code lengths set (member 1, compressed offset"),
    ("valid.dd.gz", "verify {} --against gpt-entries-count.raw --no-layout", 1, "differs from the source at byte 5"),
    ("nonexistent.dd.gz", "verify {}", 3, "cannot open nonexistent.dd.gz"),
];

/// Commands that must all fail the same way on a broken qcow2 (`*` in [`CASES`]).
const ALL: &[&str] = &[
    "convert {} -o out.dd.gz --quiet",
    "convert {} -o out.dd.gz --quiet --no-validate",
    "inspect {}",
    "validate {}",
];

/// Runs `ddgz ARGS` on a copy of the fixtures; checks the exit code, the text, that no
/// output is left and that no input changed.
pub(crate) fn run_case(d: &Dir, file: &str, args: &str, code: i32, text: &str) -> Option<String> {
    let args: Vec<String> = args.split(' ').map(|a| a.replace("{}", file)).collect();
    let snapshot = || {
        let mut v: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (e.file_name(), m.len(), m.modified().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot();
    let hash = d
        .path()
        .join(file)
        .exists()
        .then(|| sha256_file(&d.join(file)));
    let out = d.ddgz(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut problems = Vec::new();
    if out.status.code() != Some(code) {
        problems.push(format!("exit {:?}, expected {code}", out.status.code()));
    }
    if !stderr.contains(text) && !stdout.contains(text) {
        problems.push(format!("no {text:?} in the output"));
    }
    if code != 0 && !stderr.starts_with("ddgz: error: ") && !stderr.contains("\nddgz: error: ") {
        problems.push("stderr has no `ddgz: error:` line".into());
    }
    if stderr.contains("panicked") {
        problems.push("panic".into());
    }
    if snapshot() != before {
        problems.push("files in the directory changed (output left behind?)".into());
    }
    if let Some(h) = hash {
        if sha256_file(&d.join(file)) != h {
            problems.push("the input's bytes changed".into());
        }
    }
    (!problems.is_empty()).then(|| {
        format!(
            "ddgz {}: {}\n  stderr: {}  stdout: {}",
            args.join(" "),
            problems.join("; "),
            stderr,
            stdout.chars().take(600).collect::<String>()
        )
    })
}

/// Every fixture gives its pinned error with every command that reads it.
#[test]
fn corrupt_fixtures_pinned() {
    let d = Dir::new();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.join(e.file_name().to_str().unwrap())).unwrap();
    }
    let mut failures = Vec::new();
    for &(file, args, code, text) in CASES {
        let cmds: Vec<&str> = if args == "*" {
            ALL.to_vec()
        } else {
            vec![args]
        };
        for c in cmds {
            if let Some(f) = run_case(&d, file, c, code, text) {
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
}

/// The valid fixtures the broken ones were made from are accepted, so that each broken
/// one fails for its own reason.
#[test]
fn corrupt_fixtures_have_valid_originals() {
    let d = Dir::new();
    for f in [
        "valid.qcow2",
        "gpt-valid.raw",
        "fat-valid.img",
        "valid.dd.gz",
        "two-members.dd.gz",
    ] {
        std::fs::copy(fixtures().join(f), d.join(f)).unwrap();
    }
    d.ddgz_ok(&["validate", "valid.qcow2"]);
    d.ddgz_ok(&["convert", "valid.qcow2", "-o", "v.dd.gz", "--quiet"]);
    d.sh("qemu-img convert -O raw valid.qcow2 v.raw && gzip -dc v.dd.gz | cmp - v.raw");
    d.ddgz_ok(&["verify", "v.dd.gz", "--against", "valid.qcow2"]);
    d.ddgz_ok(&["validate", "gpt-valid.raw"]);
    d.ddgz_ok(&["ls", "fat-valid.img", "0:/DIR"]);
    d.ddgz_ok(&["cat", "fat-valid.img", "0:/FILE.TXT"]);
    d.ddgz_ok(&["verify", "valid.dd.gz", "--against", "gpt-valid.raw"]);
    let out = d.ddgz_ok(&["verify", "two-members.dd.gz", "--no-layout"]);
    assert!(out.contains("2 members"), "{out}");
}

/// `verify` of an ESXi disk without the source: the layout is validated from the bytes
/// kept in one pass (the validator looks ahead from the partition table: partition
/// headers, FATs, the curtin files and scripts tarball), and agrees with `validate` on
/// the source; with `--against` it is validated on the source. A byte changed in a VMFS
/// header is found both ways.
#[test]
fn verify_esxi_layout_without_source() {
    use ddgz_synth::esxi::{self, Options, Volume};
    let d = Dir::new();
    let img = d.join("esxi.raw");
    let opts = Options {
        datastore_volume: Volume::Vmfs5,
        curtin: true,
        ..Options::esxi67(12 << 30)
    };
    let built = esxi::build(&img, &opts).unwrap();
    d.ddgz_ok(&["validate", "esxi.raw"]);
    d.ddgz_ok(&["convert", "esxi.raw", "-o", "esxi.dd.gz", "--quiet"]);
    let out = d.ddgz_ok(&["verify", "esxi.dd.gz", "--quiet"]);
    assert!(out.contains("layout OK: profile esxi"), "{out}");
    assert!(out.contains("(1 pass over the stream)"), "{out}");
    // The same findings as on the source.
    let src = d.ddgz_ok(&["validate", "esxi.raw"]);
    let warnings = |s: &str| s.matches("warning [").count();
    assert_eq!(warnings(&out), warnings(&src), "{out}\n{src}");
    let out = d.ddgz_ok(&["verify", "esxi.dd.gz", "--against", "esxi.raw", "--quiet"]);
    assert!(
        out.contains("equal to esxi.raw") && out.contains("layout OK: profile esxi"),
        "{out}"
    );

    // Break the datastore's VMFS filesystem descriptor (at 0x1300000) and compress again.
    let ds = 3; // the ESXi 6.7 datastore
    let at = built.range(ds).unwrap().start + 0x130_0000;
    d.sh(&format!(
        "printf 'XXXXXXXX' | dd of=esxi.raw bs=1 seek={at} conv=notrunc status=none"
    ));
    let v = d.ddgz(&["validate", "esxi.raw"]);
    assert_eq!(
        v.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    d.ddgz_ok(&[
        "convert",
        "esxi.raw",
        "-o",
        "bad.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let out = d.ddgz(&["verify", "bad.dd.gz", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("validation of the decompressed disk (profile esxi) found"),
        "{err}"
    );
    let out = d.ddgz(&["verify", "bad.dd.gz", "--against", "esxi.raw", "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    // The stream is sound and equal to the (broken) source: only the layout fails.
    assert!(String::from_utf8_lossy(&out.stderr).contains("validation of the decompressed disk"));
}
