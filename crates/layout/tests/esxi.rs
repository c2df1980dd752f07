//! The library against synthetic ESXi disks (ddgz-synth) and real tools.

use std::path::Path;

use ddgz_image::{Image, OpenOptions};
use ddgz_layout::{inspect, validate, Content, Profile, Severity};
use ddgz_synth::esxi::{self, Options, Version, Volume};

fn open(p: &Path) -> Image {
    Image::open(p, &OpenOptions::default()).unwrap()
}

#[test]
fn packer_maas_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("esxi.img");
    esxi::packer_maas(&img, 1).unwrap();
    let disk = open(&img);
    let r = inspect(&disk).unwrap();
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    let f = validate(&disk, Profile::Auto).unwrap();
    for i in &f.items {
        println!("{i}");
    }
    assert!(!f.has_errors());
}
