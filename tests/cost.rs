//! Issue 24, "cost bounded by the data, not by what a header claims": hand-made images
//! whose headers claim exabytes (or tables of tens of millions of entries) over almost no
//! data. `inspect` must answer from the metadata that exists. Each runs under a CPU-time
//! and memory limit (`prlimit`: a cost bound, not a timing) that the readers before the
//! shared mapping layer blew through (checked: killed after 10 s of CPU, or > 600 MiB).

use std::process::Command;

use crate::util::{say, Dir};

/// Runs `ddgz inspect --json IMAGE` with at most 20 s of CPU and 256 MiB of data; returns
/// its report.
fn inspect_bounded(d: &Dir, image: &str) -> serde_json::Value {
    inspect_limited(d, image, 256)
}

/// As [`inspect_bounded`], with at most `mib` MiB of data.
fn inspect_limited(d: &Dir, image: &str, mib: u64) -> serde_json::Value {
    if Command::new("prlimit").arg("--version").output().is_err() {
        say("cost: prlimit (util-linux) not found; running without limits");
    }
    let out = Command::new("prlimit")
        .args(["--cpu=20", &format!("--data={}", mib << 20), "--"])
        .arg(env!("CARGO_BIN_EXE_ddgz"))
        .args(["inspect", "--json", image])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "inspect {image} was killed ({}): its cost grows with what the header claims",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect {image}: {e} ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn allocated(report: &serde_json::Value) -> u64 {
    report["image"]["allocated_bytes"].as_u64().unwrap()
}

#[test]
fn qcow2_of_2_eib_holding_one_cluster() {
    let d = Dir::new();
    d.sh(
        "qemu-img create -q -f qcow2 -o cluster_size=2M e.qcow2 2E && \
         qemu-io -f qcow2 -c 'write -P 7 1E 64k' e.qcow2 >/dev/null",
    );
    let r = inspect_bounded(&d, "e.qcow2");
    assert_eq!(r["image"]["virtual_size"], 2u64 << 60);
    assert_eq!(allocated(&r), 2 << 20);
}

#[test]
fn vmdk_with_a_4_eib_zero_extent() {
    let d = Dir::new();
    std::fs::write(
        d.join("z.vmdk"),
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\n\nRW 9007199254740992 ZERO\n",
    )
    .unwrap();
    let r = inspect_bounded(&d, "z.vmdk");
    assert_eq!(r["image"]["virtual_size"], 4u64 << 60);
    assert_eq!(allocated(&r), 0);
}

/// A monolithicSparse VMDK of 1 PiB whose grain directory has 32 Mi entries (128 MiB,
/// the limit) lying in a hole of the file: nothing is allocated.
#[test]
fn vmdk_grain_directory_of_32_mi_entries_over_a_hole() {
    let d = Dir::new();
    let gd_entries = 32u64 << 20;
    let overhead = 1 + gd_entries * 4 / 512;
    let mut h = vec![0u8; 512];
    h[0..4].copy_from_slice(b"KDMV");
    h[4..8].copy_from_slice(&1u32.to_le_bytes());
    h[12..20].copy_from_slice(&(gd_entries * 512 * 128).to_le_bytes()); // capacity
    h[20..28].copy_from_slice(&128u64.to_le_bytes()); // grain: 64 KiB
    h[44..48].copy_from_slice(&512u32.to_le_bytes()); // GTEs per table
    h[56..64].copy_from_slice(&1u64.to_le_bytes()); // directory at sector 1
    h[64..72].copy_from_slice(&overhead.to_le_bytes());
    h[73..77].copy_from_slice(b"\n \r\n");
    let f = std::fs::File::create(d.join("gd.vmdk")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &h, 0).unwrap();
    f.set_len(overhead * 512).unwrap();
    let r = inspect_bounded(&d, "gd.vmdk");
    assert_eq!(r["image"]["virtual_size"], 1u64 << 50);
    assert_eq!(allocated(&r), 0);
}

/// A dynamic VDI of 4 PiB (16 Mi blocks of 256 MiB, none allocated): the block map
/// (64 MiB, the limit) is read in windows and held once (before: twice, 135 MiB).
#[test]
fn vdi_of_4_pib() {
    let d = Dir::new();
    d.sh("qemu-img create -q -f vdi v.vdi 1G");
    let (bs, n) = (256u64 << 20, 16u64 << 20);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(d.join("v.vdi"))
        .unwrap();
    let mut h = [0u8; 512];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut h, 0).unwrap();
    let bmap = u64::from(u32::from_le_bytes(h[340..344].try_into().unwrap()));
    let data = (bmap + n * 4).div_ceil(1 << 20) << 20;
    h[344..348].copy_from_slice(&(data as u32).to_le_bytes());
    h[368..376].copy_from_slice(&(bs * n).to_le_bytes());
    h[376..380].copy_from_slice(&(bs as u32).to_le_bytes());
    h[384..388].copy_from_slice(&(n as u32).to_le_bytes());
    h[388..392].copy_from_slice(&0u32.to_le_bytes());
    std::os::unix::fs::FileExt::write_all_at(&f, &h, 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &vec![0xff; (n * 4) as usize], bmap).unwrap();
    f.set_len(data).unwrap();
    let r = inspect_limited(&d, "v.vdi", 100);
    assert_eq!(r["image"]["virtual_size"], 4u64 << 50);
    assert_eq!(allocated(&r), 0);
}

/// A 64 TiB VHDX whose log replays 512 Ki zero writes spread over 64 TiB of file offsets
/// (16 MiB of log): the writes are indexed once, so the BAT reads and the extents of the
/// payload do not scan them all each time.
#[test]
fn vhdx_log_of_512_ki_writes_over_64_tib() {
    use crate::vhdx::{fix_crc, le64, log_entry};
    let d = Dir::new();
    d.sh("qemu-img create -q -f vhdx -o log_size=32M,block_size=32M big.vhdx 64T");
    let mut b = std::fs::read(d.join("big.vhdx")).unwrap();
    let cur = if le64(&b, (128 << 10) + 8) > le64(&b, (64 << 10) + 8) {
        128 << 10
    } else {
        64 << 10
    };
    let log_at = le64(&b, cur + 72) as usize;
    let guid = [0x5au8; 16];
    let writes: Vec<(u64, Option<Vec<u8>>, u64)> = (0..512u64 << 10)
        .map(|i| ((i << 27) + (64 << 20), None, 4096))
        .collect();
    let e = log_entry(&guid, 7, 0, &writes, b.len() as u64);
    b[log_at..log_at + e.len()].copy_from_slice(&e);
    for h in [64 << 10, 128 << 10] {
        b[h + 48..h + 64].copy_from_slice(&guid);
        fix_crc(&mut b, h, 4096);
    }
    std::fs::write(d.join("big.vhdx"), &b).unwrap();
    let r = inspect_bounded(&d, "big.vhdx");
    assert_eq!(r["image"]["virtual_size"], 64u64 << 40);
    assert_eq!(allocated(&r), 0);
    let log = r["image"]["container"]["details"].to_string();
    assert!(log.contains("524288 writes"), "{log}");
}
