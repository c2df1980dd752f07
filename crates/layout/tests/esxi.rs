//! The library against a synthetic packer-maas disk (ddgz-synth: sparse file, mkfs.fat,
//! mtools). The binary's end-to-end tests are in the root `tests/inspect.rs`.

use ddgz_image::{Image, OpenOptions};
use ddgz_layout::{inspect, partition_range, validate, Content, Profile, Severity};
use ddgz_synth::esxi;

#[test]
fn packer_maas_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("esxi.img");
    let built = esxi::packer_maas(&img, 1).unwrap();
    let disk = Image::open(&img, &OpenOptions::default()).unwrap();
    let r = inspect(&disk).unwrap();
    let layout = r.esxi.as_ref().unwrap();
    assert!(layout.variant.contains("packer-maas 32 GiB"), "{layout:?}");
    assert!(matches!(r.partitions[3].content, Content::Blank));
    let f = validate(&disk, Profile::Auto).unwrap();
    assert_eq!(f.profile, Profile::Esxi);
    assert!(!f.has_errors(), "{:?}", f.items);
    assert!(
        f.items.iter().all(|i| i.severity == Severity::Info),
        "{:?}",
        f.items
    );
    for n in [1, 5, 6, 7] {
        assert_eq!(partition_range(&disk, n).unwrap(), built.range(n).unwrap());
    }
    assert_eq!(
        partition_range(&disk, 8).unwrap_err().to_string(),
        "partition 8 does not exist (the disk has partitions 1, 5, 6, 7)"
    );
}
