//! Detection and the hostile-input bar on made-up volumes (the real filesystems are
//! tested against their tools in the command line's tests).

use std::sync::Arc;

use ddgz_disk::MemoryDisk;

use crate::{parse_spec, Error, ErrorKind, Place, Volumes};

fn vols(bytes: Vec<u8>) -> Volumes<'static> {
    Volumes::new(Arc::new(MemoryDisk::new(bytes)))
}

#[test]
fn specs() {
    assert_eq!(parse_spec("4:/Windows"), (Place::Partition(4), "/Windows"));
    assert_eq!(
        parse_spec("rl/root:/etc"),
        (Place::Lv("rl/root".into()), "/etc")
    );
    assert_eq!(parse_spec("etc/hosts"), (Place::Partition(1), "etc/hosts"));
    assert_eq!(
        parse_spec("99999999999:/"),
        (Place::Partition(u32::MAX), "/")
    );
    assert_eq!(Place::Partition(0).to_string(), "the image");
    assert_eq!(
        Place::Lv("rl/root".into()).to_string(),
        "logical volume rl/root"
    );
}

#[test]
fn what_is_not_a_filesystem_is_named() {
    let v = vols(vec![0; 1 << 20]);
    let e = v.open(&Place::Partition(0)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Input);
    // MemoryDisk says every byte is data: the zeros are seen in the head.
    assert!(
        e.to_string()
            .contains("the image: no filesystem (its first 8 KiB are zero): not a filesystem"),
        "{e}"
    );
    let mut swap = vec![0u8; 1 << 20];
    swap[4086..4096].copy_from_slice(b"SWAPSPACE2");
    let e = vols(swap).open(&Place::Partition(0)).err().unwrap();
    assert!(e.to_string().contains("Linux swap"), "{e}");
    let e = vols(vec![0; 1 << 20])
        .open(&Place::Partition(1))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("0:PATH reads the whole image"),
        "{e}"
    );
    let e = vols(vec![0; 1 << 20])
        .open(&Place::Lv("vg/lv".into()))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(
        e.to_string()
            .contains("no logical volume vg/lv (found: none)"),
        "{e}"
    );
}

/// Each signature over noise: an error or an answer, never a panic, for open, list,
/// walk, copy and facts.
#[test]
fn noise_behind_every_signature_is_refused_cleanly() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..64 {
        for sig in 0..5 {
            let mut b = vec![0u8; 256 << 10];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = if round % 2 == 0 {
                    x as u8
                } else {
                    (x as u8) & 0x0F
                };
            }
            match sig {
                0 => b[3..11].copy_from_slice(b"NTFS    "),
                1 => b[1080..1082].copy_from_slice(&[0x53, 0xEF]),
                2 => b[0..4].copy_from_slice(b"XFSB"),
                3 => {
                    b[0] = 0xEB;
                    b[2] = 0x90;
                    b[11..13].copy_from_slice(&512u16.to_le_bytes());
                    b[54..57].copy_from_slice(b"FAT");
                }
                _ => b[512..520].copy_from_slice(b"LABELONE"),
            }
            let v = vols(b);
            let _ = v.facts(0);
            let _ = v.lvm_report();
            if let Ok(vol) = v.open(&Place::Partition(0)) {
                let _ = vol.list("/");
                let _ = vol.walk("/", &mut |_, _| Ok(()));
                let _ = vol.copy("/a/b", &mut Vec::new());
                let _ = vol.facts();
            }
        }
    }
}

#[test]
fn output_errors_are_their_own_kind() {
    let e = Error::Output {
        what: "stdout".into(),
        source: std::io::Error::from(std::io::ErrorKind::BrokenPipe),
    };
    assert_eq!(e.kind(), ErrorKind::Output);
}
