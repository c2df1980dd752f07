//! `cargo xtask demo`: the README's first command. Synthesizes a small sparse qcow2 disk
//! (4 GiB virtual, GPT, an EFI system partition with files, two Linux partitions holding
//! ~100 MiB of text-like and binary-like data), converts it with the release `ddgz` and
//! shows the report. Needs only the Rust toolchain and qemu-utils.

use std::process::Command;

use anyhow::{bail, Context, Result};

pub fn main(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("demo: unexpected argument {a}");
    }
    if !crate::have("qemu-img") {
        bail!("the demo needs qemu-img: sudo apt-get install qemu-utils");
    }
    let ddgz = crate::build_ddgz(None)?;
    let dir = crate::target_dir().join("demo");
    eprintln!("xtask: synthesizing a 4 GiB sparse disk (GPT, ESP FAT16, two Linux partitions, ~100 MiB of data)");
    let b = crate::fixtures::build("demo-4g", &dir, true)?;
    let out = dir.join("demo-4g.dd.gz");
    eprintln!(
        "\n$ ddgz convert {} -o {} --force\n",
        b.qcow2.display(),
        out.display()
    );
    let st = Command::new(&ddgz)
        .arg("convert")
        .arg(&b.qcow2)
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .status()
        .with_context(|| format!("running {}", ddgz.display()))?;
    if !st.success() {
        bail!("ddgz convert failed ({st})");
    }
    eprintln!(
        "\nxtask: the disk is {}; try `{} inspect {}` and `zcat {} | cmp - {}`",
        b.qcow2.display(),
        ddgz.display(),
        b.qcow2.display(),
        out.display(),
        b.raw
            .as_ref()
            .map_or("RAW".into(), |p| p.display().to_string())
    );
    Ok(())
}
