//! The hive reader against hivex (Debian's libhivex-bin, LGPL, used as an oracle only):
//! hivexget reads what the generator writes, the reader reads the same values, and it
//! reads what `hivexsh -w` writes.

use std::process::Command;

use ddgz_windows::hive::{edition, Data, Hive};
use ddgz_windows::synth::{self, Value};

fn hivexget(file: &std::path::Path, key: &str, value: &str) -> Option<String> {
    let out = Command::new("hivexget")
        .arg(file)
        .arg(key)
        .arg(value)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "hivexget {key} {value}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// Writes `bytes` as a fuzz seed when `DDGZ_HIVE_SEEDS` names a directory.
fn seed(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("DDGZ_HIVE_SEEDS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}

#[test]
fn generated_hive_reads_the_same_in_hivex_and_here() {
    let bytes = synth::software_2022();
    seed("software-2022", &bytes);
    let e = edition(&bytes[..]).unwrap().unwrap();
    assert_eq!(
        e.product_name.as_deref(),
        Some("Windows Server 2022 Datacenter")
    );
    assert_eq!(e.edition_id.as_deref(), Some("ServerDatacenter"));
    assert_eq!(e.build.as_deref(), Some("20348"));
    assert_eq!(e.display_version.as_deref(), Some("21H2"));
    let h = Hive::open(&bytes[..]).unwrap();
    let k = h
        .key(r"MICROSOFT\windows nt\currentversion")
        .unwrap()
        .unwrap();
    assert_eq!(
        h.value(k, "currentmajorversionnumber").unwrap(),
        Some(Data::Dword(10))
    );
    assert_eq!(h.value(k, "nope").unwrap(), None);
    assert_eq!(h.key(r"Microsoft\Nope").unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("SOFTWARE");
    std::fs::write(&f, &bytes).unwrap();
    let key = r"\Microsoft\Windows NT\CurrentVersion";
    let Some(p) = hivexget(&f, key, "ProductName") else {
        eprintln!("skipped the hivex oracle: hivexget not installed (Debian: libhivex-bin)");
        return;
    };
    assert_eq!(p, "Windows Server 2022 Datacenter");
    assert_eq!(hivexget(&f, key, "EditionID").unwrap(), "ServerDatacenter");
    assert_eq!(hivexget(&f, key, "CurrentBuildNumber").unwrap(), "20348");
    assert_eq!(
        hivexget(&f, key, "CurrentMajorVersionNumber").unwrap(),
        "10"
    );
}

#[test]
fn a_hive_edited_by_hivex_reads_back() {
    // hivexsh -w edits the generated hive: its own cells, values and subkey lists.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("SOFTWARE");
    std::fs::write(
        &f,
        synth::hive(&[(
            r"Microsoft\Windows NT\CurrentVersion",
            vec![("ProductName", Value::Sz("old".into()))],
        )]),
    )
    .unwrap();
    let mut script = String::from(
        "cd \\Microsoft\\Windows NT\\CurrentVersion\nsetval 4\nProductName\n\
         string:Windows Server 2019 Standard\nEditionID\nstring:ServerStandard\n\
         CurrentBuildNumber\nstring:17763\nReleaseId\nstring:1809\ncd \\Microsoft\n",
    );
    for i in 0..300 {
        script.push_str(&format!(
            "add Key{i:04}\ncd Key{i:04}\nsetval 1\nV\nstring:{i}\ncd ..\n"
        ));
    }
    script.push_str("commit\n");
    let cmds = dir.path().join("edit.hivexsh");
    std::fs::write(&cmds, script).unwrap();
    let Ok(out) = Command::new("hivexsh")
        .arg("-w")
        .arg("-f")
        .arg(&cmds)
        .arg(&f)
        .output()
    else {
        eprintln!("skipped: hivexsh not installed (Debian: libhivex-bin)");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&f).unwrap();
    seed("hivexsh-edited", &bytes);
    let e = edition(&bytes[..]).unwrap().unwrap();
    assert_eq!(
        e.product_name.as_deref(),
        Some("Windows Server 2019 Standard")
    );
    assert_eq!(e.edition_id.as_deref(), Some("ServerStandard"));
    assert_eq!(e.build.as_deref(), Some("17763"));
    assert_eq!(e.display_version.as_deref(), Some("1809"));
    let h = Hive::open(&bytes[..]).unwrap();
    let k = h.key(r"Microsoft\Key0299").unwrap().unwrap();
    assert_eq!(h.value(k, "V").unwrap(), Some(Data::String("299".into())));
}

/// Offset of the root `nk` cell's field `at` in hive `b`.
fn root_field(b: &[u8], at: usize) -> usize {
    4096 + u32::from_le_bytes(b[0x24..0x28].try_into().unwrap()) as usize + 4 + at
}

#[test]
fn hostile_hives_are_errors_not_panics() {
    let good = synth::software_2022();
    let put = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    // The root cell out of range.
    let mut b = good.clone();
    put(&mut b, 0x24, 0x7fff_fff8);
    let e = Hive::open(&b[..]).err().unwrap();
    assert!(e.to_string().contains("outside the hive bins"), "{e}");
    // The subkey list of the root pointing past the bins.
    let mut b = good.clone();
    let at = root_field(&b, 0x1c);
    put(&mut b, at, 0x0100_0000);
    let e = edition(&b[..]).unwrap_err();
    assert!(e.to_string().contains("outside the hive bins"), "{e}");
    // A subkey list claiming 65535 entries in its small cell.
    let mut b = good.clone();
    let list = u32::from_le_bytes(b[root_field(&b, 0x1c)..][..4].try_into().unwrap()) as usize;
    b[4096 + list + 4 + 2..][..2].copy_from_slice(&u16::MAX.to_le_bytes());
    let e = edition(&b[..]).unwrap_err();
    assert!(e.to_string().contains("65535 entries"), "{e}");
    // The list made an `ri` pointing at itself: one level of ri only.
    let mut b = good.clone();
    b[4096 + list + 4..][..2].copy_from_slice(b"ri");
    b[4096 + list + 4 + 2..][..2].copy_from_slice(&1u16.to_le_bytes());
    put(&mut b, 4096 + list + 8, list as u32);
    let e = edition(&b[..]).unwrap_err();
    assert!(e.to_string().contains("ri list inside an ri list"), "{e}");
    // The root's subkey list pointing at the root itself (a loop through keys): the path
    // is walked once per component, so it ends; the key is simply not found.
    let mut b = good.clone();
    b[4096 + list + 4..][..2].copy_from_slice(b"li");
    b[4096 + list + 4 + 2..][..2].copy_from_slice(&1u16.to_le_bytes());
    let root = u32::from_le_bytes(b[0x24..0x28].try_into().unwrap());
    put(&mut b, 4096 + list + 8, root);
    assert_eq!(edition(&b[..]).unwrap(), None);
    // A value list pointing 60 000 times at one large value cell: the byte budget ends it.
    let mut b = good.clone();
    b.truncate(4096);
    let mut bins = vec![0u8; 32];
    bins[..4].copy_from_slice(b"hbin");
    let cell = |bins: &mut Vec<u8>, data: &[u8]| -> u32 {
        let off = bins.len() as u32;
        let size = (4 + data.len()).div_ceil(8) * 8;
        bins.extend_from_slice(&(-(size as i32)).to_le_bytes());
        bins.extend_from_slice(data);
        bins.resize(off as usize + size, 0);
        off
    };
    let mut vk = vec![0u8; 20];
    vk[..2].copy_from_slice(b"vk");
    vk.resize(1 << 19, 0);
    let vk_off = cell(&mut bins, &vk);
    let list: Vec<u8> = std::iter::repeat_n(vk_off.to_le_bytes(), 60_000)
        .flatten()
        .collect();
    let list_off = cell(&mut bins, &list);
    let mut nk = vec![0u8; 0x4c];
    nk[..2].copy_from_slice(b"nk");
    nk[0x1c..0x20].copy_from_slice(&u32::MAX.to_le_bytes());
    nk[0x24..0x28].copy_from_slice(&60_000u32.to_le_bytes());
    nk[0x28..0x2c].copy_from_slice(&list_off.to_le_bytes());
    let nk_off = cell(&mut bins, &nk);
    let total = bins.len().div_ceil(4096) * 4096;
    bins.resize(total, 0);
    bins[8..12].copy_from_slice(&(total as u32).to_le_bytes());
    put(&mut b, 0x24, nk_off);
    put(&mut b, 0x28, total as u32);
    b.extend_from_slice(&bins);
    let h = Hive::open(&b[..]).unwrap();
    let e = h.value(h.root(), "x").unwrap_err();
    assert!(
        e.to_string()
            .contains("bytes of cells read for one look-up"),
        "{e}"
    );
    // A cell size that lies (larger than the bins).
    let mut b = good.clone();
    let root = u32::from_le_bytes(b[0x24..0x28].try_into().unwrap()) as usize;
    b[4096 + root..][..4].copy_from_slice(&(-0x7fff_0000i32).to_le_bytes());
    assert!(Hive::open(&b[..]).is_err());
    // Not a hive, and truncated ones: errors, never a panic.
    assert!(Hive::open(&b"regf"[..]).is_err());
    for n in (0..good.len()).step_by(97) {
        ddgz_windows::hive::fuzz(&good[..n]);
    }
    // Every byte flipped in the first cells: no panic.
    for i in 4096..good.len().min(4096 + 1024) {
        let mut b = good.clone();
        b[i] ^= 0xff;
        ddgz_windows::hive::fuzz(&b);
    }
}
