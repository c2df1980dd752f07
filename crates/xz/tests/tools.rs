//! Streams written by ddgz-xz, checked by the real tools: `xz -t`, `xz -dc`, `xz --list`,
//! Python's `lzma`, and ddgz's own reader (ddgz-packed, lzma-rust2).

use std::path::Path;
use std::process::Command;

use ddgz_disk::Disk;
use ddgz_xz::{BlockEncoder, XzStreamWriter};

const MIB: usize = 1 << 20;

/// Writes `data` as an xz stream of one block per `chunk` bytes; with `runs`, consecutive
/// all-zero chunks go through `push_zero_run` (as the pipeline hands them over), else
/// through the encoder. Returns the stream and its block count.
fn encode(data: &[u8], chunk: usize, runs: bool) -> (Vec<u8>, u64) {
    let mut w = XzStreamWriter::new(Vec::new()).unwrap();
    let mut enc = BlockEncoder::new(6);
    let mut zeros = 0u64;
    for c in data.chunks(chunk) {
        if runs && c.iter().all(|&b| b == 0) {
            zeros += c.len() as u64;
            continue;
        }
        w.push_zero_run(zeros).unwrap();
        zeros = 0;
        w.push_block(&enc.encode(c).unwrap()).unwrap();
    }
    w.push_zero_run(zeros).unwrap();
    let (out, s) = w.finish().unwrap();
    assert_eq!(s.bytes, out.len() as u64);
    assert_eq!(s.uncompressed, data.len() as u64);
    (out, s.blocks)
}

fn xorshift(n: usize, mut s: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

fn text(n: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "disk ", "image ", "block ", "the ", "zero\n", "sector ", "xz ", "ext4 ",
    ];
    let r = xorshift(n, 7);
    let mut out = Vec::with_capacity(n + 8);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(WORDS[(r[i % n] % 8) as usize].as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

fn mixed() -> Vec<u8> {
    let mut d = text(MIB + 100);
    d.resize(d.len() + 9 * MIB + 5, 0);
    d.extend_from_slice(&xorshift(MIB - 3, 3));
    d.resize(d.len() + 70 * MIB, 0);
    d.extend_from_slice(b"the end");
    d
}

/// Every tool decodes `xz` to `data`, and counts `blocks` blocks.
fn check_with_tools(dir: &Path, name: &str, data: &[u8], xz: &[u8], blocks: u64) {
    let raw = dir.join(format!("{name}.raw"));
    let file = dir.join(format!("{name}.xz"));
    std::fs::write(&raw, data).unwrap();
    std::fs::write(&file, xz).unwrap();
    let t = Command::new("xz").arg("-t").arg(&file).output().unwrap();
    assert!(t.status.success(), "xz -t {name}: {t:?}");
    let d = Command::new("xz").arg("-dc").arg(&file).output().unwrap();
    assert!(d.status.success(), "xz -dc {name}: {d:?}");
    assert!(d.stdout == data, "xz -dc {name}: the bytes differ");
    let l = Command::new("xz")
        .args(["--robot", "--list", "--verbose"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(l.status.success(), "xz --list {name}: {l:?}");
    let list = String::from_utf8(l.stdout).unwrap();
    let totals: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("totals"))
        .unwrap()
        .split('\t')
        .collect();
    assert_eq!(totals[2], blocks.to_string(), "{name}: blocks\n{list}");
    assert_eq!(totals[4], data.len().to_string(), "{name}: size\n{list}");
    assert_eq!(totals[6], "CRC64", "{name}: check\n{list}");
    let py = Command::new("python3")
        .args([
            "-c",
            "import lzma,sys; d=lzma.decompress(open(sys.argv[1],'rb').read()); \
             sys.exit(0 if d == open(sys.argv[2],'rb').read() else 1)",
        ])
        .arg(&file)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(py.status.success(), "python lzma {name}: {py:?}");
    // ddgz's own reader of .dd.xz.
    if !data.is_empty() {
        let mut p = ddgz_packed::Packed::open(&file, &ddgz_packed::Options::default()).unwrap();
        assert_eq!(p.size(), data.len() as u64, "{name}: ddgz-packed size");
        let head = data.len().min(16 * MIB);
        let got = p
            .run(|disk| {
                let mut b = vec![0u8; head];
                disk.read_at(0, &mut b).map(|_| b).unwrap()
            })
            .unwrap();
        assert!(got == data[..head], "{name}: ddgz-packed bytes differ");
    }
}

#[test]
fn real_tools_decode_every_kind_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("empty", Vec::new(), MIB),
        ("one_byte", vec![42], MIB),
        ("random", xorshift(MIB + 17, 1), MIB),
        ("text", text(5 * MIB / 2), MIB),
        ("text_3m_chunks", text(4 * MIB + 1), 3 * MIB),
        ("zeros", vec![0u8; 5 * MIB + 3], MIB),
        ("mixed", mixed(), MIB),
        ("mixed_odd_chunk", mixed(), 3 * MIB / 2 + 1),
    ];
    for (name, data, chunk) in &cases {
        // Zero runs matter only where there are zero chunks (and LZMA of data is slow).
        let zeros = data.chunks(*chunk).any(|c| c.iter().all(|&b| b == 0));
        for runs in [false, true].into_iter().filter(|&r| !r || zeros) {
            let (xz, blocks) = encode(data, *chunk, runs);
            let name = format!("{name}_{}", if runs { "runs" } else { "blocks" });
            check_with_tools(dir.path(), &name, data, &xz, blocks);
        }
    }
}

#[test]
fn equal_input_gives_equal_bytes() {
    let data = text(MIB + 5);
    let mut a = BlockEncoder::new(6);
    let first = a.encode(&data).unwrap();
    a.encode(&xorshift(MIB, 9)).unwrap();
    a.encode(&vec![0u8; MIB]).unwrap();
    assert_eq!(a.encode(&data).unwrap(), first);
    assert_eq!(BlockEncoder::new(6).encode(&data).unwrap(), first);
    // A zero chunk encodes as the zero run of its length.
    let z = BlockEncoder::new(6)
        .encode(&vec![0u8; 3 * MIB + 1])
        .unwrap();
    let mut w = XzStreamWriter::new(Vec::new()).unwrap();
    w.push_zero_run(3 * MIB as u64 + 1).unwrap();
    let (s, _) = w.finish().unwrap();
    assert_eq!(&s[12..12 + z.bytes.len()], &z.bytes[..]);
}

/// A long zero run costs a few hundred bytes per MiB, from precomputed units, and blocks of
/// at most ZERO_BLOCK_MAX; xz agrees on the content.
#[test]
fn long_zero_runs_are_cheap_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let len = 300u64 << 20;
    let mut w = XzStreamWriter::new(Vec::new()).unwrap();
    w.push_zero_run(len).unwrap();
    let (xz, s) = w.finish().unwrap();
    assert_eq!(s.blocks, len.div_ceil(ddgz_xz::ZERO_BLOCK_MAX));
    let per_mib = xz.len() as f64 / 300.0;
    eprintln!(
        "zero run of 300 MiB: {} bytes, {per_mib:.0} bytes per MiB",
        xz.len()
    );
    assert!(per_mib < 400.0, "{per_mib} bytes per zero MiB");
    let file = dir.path().join("z.xz");
    std::fs::write(&file, &xz).unwrap();
    let t = Command::new("xz").arg("-t").arg(&file).output().unwrap();
    assert!(t.status.success(), "{t:?}");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc '{}' | cmp - /dev/zero 2>&1; true",
            file.display()
        ))
        .output()
        .unwrap();
    // cmp reports EOF on stdin after exactly len bytes: all zeros, no more, no less.
    let msg = String::from_utf8_lossy(&out.stdout);
    assert!(
        msg.contains(&format!("EOF on - after byte {len}")),
        "cmp: {msg}"
    );
}

/// Any length, data or zeros, gives a stream that decodes to it (ddgz's decoder here; the
/// real tools above).
#[test]
fn every_length_round_trips() {
    let unit = 1u64 << 20;
    let mut enc = BlockEncoder::new(6);
    for len in [0usize, 1, 2, 3, 4, 5, 13, 255, 4095, 4096, 4097, 70_000] {
        for data in [xorshift(len, len as u64 + 1), vec![0u8; len]] {
            let mut w = XzStreamWriter::new(Vec::new()).unwrap();
            w.push_block(&enc.encode(&data).unwrap()).unwrap();
            w.push_block(&enc.encode(&data).unwrap()).unwrap();
            let (xz, _) = w.finish().unwrap();
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut lzma_rust2::XzReader::new(&xz[..], false), &mut out)
                .unwrap();
            assert!(out == [&data[..], &data[..]].concat(), "length {len}");
        }
    }
    for len in [1, unit - 1, unit, unit + 1, 2 * unit + 4099] {
        let mut w = XzStreamWriter::new(Vec::new()).unwrap();
        w.push_zero_run(len).unwrap();
        w.push_block(&enc.encode(b"x").unwrap()).unwrap();
        w.push_zero_run(len).unwrap();
        let (xz, s) = w.finish().unwrap();
        assert_eq!(s.uncompressed, 2 * len + 1);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut lzma_rust2::XzReader::new(&xz[..], false), &mut out)
            .unwrap();
        let mut want = vec![0u8; len as usize];
        want.push(b'x');
        want.resize(2 * len as usize + 1, 0);
        assert!(out == want, "zero run {len}");
    }
}
