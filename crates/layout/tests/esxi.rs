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
    assert!(
        f.items.iter().all(|i| i.severity == Severity::Info),
        "{:?}",
        f.items
    );
    // As packer leaves it, before its post-processor adds curtin/: not ready for MAAS.
    assert!(f.maas_readiness.checked);
    let codes: Vec<&str> = f.maas_readiness.items.iter().map(|i| i.code).collect();
    assert_eq!(codes, ["maas-hooks-missing", "maas-scripts-missing"]);
    for n in [1, 5, 6, 7] {
        assert_eq!(partition_range(&disk, n).unwrap(), built.range(n).unwrap());
    }
    assert_eq!(
        partition_range(&disk, 8).unwrap_err().to_string(),
        "partition 8 does not exist (the disk has partitions 1, 5, 6, 7)"
    );
}

#[test]
fn packer_maas_with_hooks_and_scripts_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("esxi.img");
    let opts = esxi::Options {
        curtin: true,
        ..esxi::Options::packer_maas()
    };
    esxi::build(&img, &opts).unwrap();
    let disk = Image::open(&img, &OpenOptions::default()).unwrap();
    let f = validate(&disk, Profile::Auto).unwrap();
    assert!(!f.has_errors() && !f.has_warnings(), "{f:?}");
    let r = &f.maas_readiness.items;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].code, r[0].severity), ("maas-ready", Severity::Info));
}
