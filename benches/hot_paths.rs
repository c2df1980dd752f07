//! criterion benches of the hot paths of `ddgz convert`:
//!
//! - **chunk deflate**: `ddgz_deflate::compress` on one thread over 8 MiB of seeded text,
//!   binary and mixed content (`ddgz_synth::content`), with and without the self-check;
//! - **zero chunks**: 1 GiB known to be zero from the extent map (the precomputed chunk is
//!   reused), and 64 MiB of zeros reported as data (found by the word-wise scan);
//! - **extent mapping**: `Qcow2::mappings` over a million clusters (64 GiB of 64 KiB
//!   clusters, allocated and zero-flagged runs alternating), from an image built in memory.
//!
//! Run: `cargo bench --bench hot_paths` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ddgz_deflate::{compress, Options};
use ddgz_image::{check_range, Disk, Extent, ExtentKind, MemoryDisk};
use ddgz_qcow2::{OpenOptions, Qcow2};
use ddgz_synth::content::{Content, Kind};

const MIB: usize = 1 << 20;

fn opts(verify: bool) -> Options {
    let mut o = Options::default();
    o.threads = 1;
    o.verify = verify;
    o
}

fn chunk_deflate(c: &mut Criterion) {
    let content = Content::new(42);
    let mut g = c.benchmark_group("chunk_deflate");
    g.throughput(Throughput::Bytes(8 * MIB as u64));
    g.sample_size(10);
    for (name, kind) in [
        ("text", Kind::Text),
        ("binary", Kind::Binary),
        ("mixed", Kind::Mixed),
    ] {
        let mut data = vec![0u8; 8 * MIB];
        content.fill(kind, 0, &mut data);
        let disk = MemoryDisk(data);
        for verify in [false, true] {
            let id = format!("{name}_8MiB_1thread{}", if verify { "_verify" } else { "" });
            g.bench_function(id, |b| {
                b.iter(|| compress(&disk, std::io::sink(), &opts(verify), &mut |_| {}).unwrap())
            });
        }
    }
    g.finish();
}

/// A disk that is all zero and says so in its extents (like a qcow2 hole).
#[derive(Debug)]
struct ZeroDisk(u64);

impl Disk for ZeroDisk {
    fn size(&self) -> u64 {
        self.0
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_image::Result<Vec<Extent>> {
        check_range(self.0, offset, len)?;
        Ok(vec![Extent {
            offset,
            len,
            kind: ExtentKind::Zero,
        }])
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_image::Result<()> {
        check_range(self.0, offset, buf.len() as u64)?;
        buf.fill(0);
        Ok(())
    }
}

fn zero_chunks(c: &mut Criterion) {
    let mut g = c.benchmark_group("zero_chunks");
    g.sample_size(10);
    let hole = ZeroDisk(1 << 30);
    g.throughput(Throughput::Bytes(hole.size()));
    g.bench_function("1GiB_known_zero_extents", |b| {
        b.iter(|| compress(&hole, std::io::sink(), &opts(true), &mut |_| {}).unwrap())
    });
    let zeros = MemoryDisk(vec![0u8; 64 * MIB]);
    g.throughput(Throughput::Bytes(zeros.size()));
    g.bench_function("64MiB_zero_data_scanned", |b| {
        b.iter(|| compress(&zeros, std::io::sink(), &opts(true), &mut |_| {}).unwrap())
    });
    g.finish();
}

/// A qcow2 v3 image (64 KiB clusters) of `clusters` guest clusters, built in memory: runs
/// of 8 allocated clusters (pointing into a pool of 64 host clusters) alternate with runs
/// of 8 zero-flagged ones. Header fields: QCOW2.md / qemu's docs/interop/qcow2.txt.
fn million_cluster_image(clusters: u64) -> Vec<u8> {
    const CB: u32 = 16;
    const CS: u64 = 1 << CB;
    let l2_entries = CS / 8;
    let l2_tables = clusters.div_ceil(l2_entries);
    let l1_clusters = (l2_tables * 8).div_ceil(CS);
    // Layout: header | refcount table | refcount block | L1 | L2 tables | data pool.
    let rt = CS;
    let rb = 2 * CS;
    let l1 = 3 * CS;
    let l2 = l1 + l1_clusters * CS;
    let pool = l2 + l2_tables * CS;
    let pool_clusters = 64u64;
    let len = pool + pool_clusters * CS;
    let mut img = vec![0u8; len as usize];
    let put32 = |img: &mut Vec<u8>, at: u64, v: u32| {
        img[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes())
    };
    let put64 = |img: &mut Vec<u8>, at: u64, v: u64| {
        img[at as usize..at as usize + 8].copy_from_slice(&v.to_be_bytes())
    };
    img[0..4].copy_from_slice(b"QFI\xfb");
    put32(&mut img, 4, 3); // version
    put32(&mut img, 20, CB); // cluster_bits
    put64(&mut img, 24, clusters * CS); // size
    put32(&mut img, 36, l2_tables as u32); // l1_size
    put64(&mut img, 40, l1); // l1_table_offset
    put64(&mut img, 48, rt); // refcount_table_offset
    put32(&mut img, 56, 1); // refcount_table_clusters
    put32(&mut img, 96, 4); // refcount_order: 16-bit refcounts
    put32(&mut img, 100, 104); // header_length
                               // One refcount block covers 32768 clusters: enough for the metadata and the pool.
    let host_clusters = len / CS;
    assert!(host_clusters <= CS / 2);
    put64(&mut img, rt, rb);
    for i in 0..host_clusters {
        img[(rb + 2 * i) as usize..(rb + 2 * i + 2) as usize].copy_from_slice(&1u16.to_be_bytes());
    }
    const COPIED: u64 = 1 << 63;
    for t in 0..l2_tables {
        put64(&mut img, l1 + 8 * t, COPIED | (l2 + t * CS));
    }
    for c in 0..clusters {
        let entry = if (c / 8) % 2 == 0 {
            COPIED | (pool + (c % pool_clusters) * CS)
        } else {
            1 // zero flag, no host cluster
        };
        put64(&mut img, l2 + 8 * c, entry);
    }
    img
}

fn extent_mapping(c: &mut Criterion) {
    let clusters = 1u64 << 20;
    let q = Qcow2::from_bytes(
        Path::new("million.qcow2"),
        million_cluster_image(clusters),
        &OpenOptions::default(),
    )
    .expect("the in-memory image opens");
    let size = q.virtual_size();
    assert_eq!(size, clusters << 16);
    let runs = q.extents(0, size).unwrap().len();
    assert!(runs >= (clusters / 8) as usize, "{runs} runs");
    let mut g = c.benchmark_group("extent_mapping");
    g.sample_size(10);
    g.throughput(Throughput::Elements(clusters));
    g.bench_function("qcow2_1M_clusters_64GiB", |b| {
        b.iter(|| black_box(q.extents(0, size).unwrap().len()))
    });
    g.finish();
}

criterion_group!(benches, chunk_deflate, zero_chunks, extent_mapping);
criterion_main!(benches);
