//! The registry against the real tool: images made by `qemu-img` open through one table,
//! backing files by the format their image records (qcow2 over raw, over qcow2), and
//! special files are refused with a reason.

use std::path::Path;
use std::process::Command;

use ddgz_image::{Container, Disk, ExtentKind, Format, Image, OpenOptions};

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_all(d: &dyn Disk) -> Vec<u8> {
    let mut b = vec![0u8; d.size() as usize];
    d.read_at(0, &mut b).unwrap();
    b
}

#[test]
fn chains_open_through_the_table_and_report_facts() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    sh(
        d,
        "truncate -s 8M base.raw
         printf 'base' | dd of=base.raw bs=1 seek=1048576 conv=notrunc status=none
         qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 8M
         qemu-io -c 'write -P 0x11 2M 64k' mid.qcow2 >/dev/null
         qemu-img create -q -f qcow2 -o cluster_size=4096 -b mid.qcow2 -F qcow2 top.qcow2
         qemu-io -c 'write -P 0x22 4M 4k' top.qcow2 >/dev/null
         qemu-img convert -O raw top.qcow2 want.raw",
    );
    let img = Image::open(&d.join("top.qcow2"), &OpenOptions::default()).unwrap();
    assert_eq!(img.format(), Format::Qcow2);
    assert_eq!(read_all(&img), std::fs::read(d.join("want.raw")).unwrap());
    let f = img.facts();
    assert_eq!((f.format, f.subformat.as_deref()), ("qcow2", Some("v3")));
    assert_eq!(f.allocation_unit, Some(("cluster", 4096)));
    let chain: Vec<_> = f.chain().map(|b| (b.path.clone(), b.format)).collect();
    assert_eq!(
        chain,
        [(d.join("mid.qcow2"), "qcow2"), (d.join("base.raw"), "raw")]
    );
    // The raw backing file's holes are zero extents all the way up.
    let data: u64 = img
        .extents(0, img.size())
        .unwrap()
        .iter()
        .filter(|e| e.kind == ExtentKind::Data)
        .map(|e| e.len)
        .sum();
    assert!(data < 1 << 20, "{data} data bytes");

    // --format raw reads the container itself.
    let mut raw = OpenOptions::default();
    raw.format = Format::from_name("raw");
    let r = Image::open(&d.join("top.qcow2"), &raw).unwrap();
    assert_eq!(r.format(), Format::Raw);
    assert_eq!(r.facts().format, "raw");
    assert_eq!(
        r.size(),
        std::fs::metadata(d.join("top.qcow2")).unwrap().len()
    );
}

#[test]
fn special_files_are_refused_with_a_reason() {
    let t = tempfile::tempdir().unwrap();
    sh(t.path(), "mkfifo fifo");
    for (p, want) in [
        (t.path().join("fifo"), "is a FIFO"),
        ("/dev/null".into(), "is a character device"),
        (t.path().to_path_buf(), "is a directory"),
    ] {
        let e = Image::open(&p, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{}: {e}", p.display());
    }
}
