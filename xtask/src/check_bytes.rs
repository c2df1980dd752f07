//! `cargo xtask check-bytes [BASELINE_BIN]`: the byte-identity check of a refactor. Builds
//! the release `ddgz`, runs `xtask/check-bytes.sh` with it (every input format converted,
//! `tar` and `ks-media` variants; the inputs are built once under
//! `target/check-bytes/inputs`) and prints a sha256 per output. Given a baseline binary
//! (a release build of the starting point), runs it on the same inputs too and fails,
//! printing the difference, unless every output is the same. Slow (minutes): not part of
//! `cargo xtask test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub fn main(args: &[String]) -> Result<()> {
    let baseline = match args {
        [] => None,
        [b] if !b.starts_with('-') => Some(PathBuf::from(b)),
        _ => bail!("usage: cargo xtask check-bytes [BASELINE_BIN]"),
    };
    let dir = crate::target_dir().join("check-bytes");
    let ddgz = crate::build_ddgz(None)?;
    let current = run(&dir, &ddgz, "current")?;
    let Some(baseline) = baseline else {
        print!("{current}");
        return Ok(());
    };
    let base = run(&dir, &baseline, "baseline")?;
    if base == current {
        print!("{current}");
        eprintln!(
            "xtask: check-bytes: all {} outputs are byte-identical to {}",
            current.lines().count(),
            baseline.display()
        );
        return Ok(());
    }
    for (b, c) in base.lines().zip(current.lines()) {
        if b != c {
            println!("- {b}\n+ {c}");
        }
    }
    bail!(
        "check-bytes: the outputs differ from {}'s",
        baseline.display()
    )
}

/// The script's answer for `bin` (outputs under `dir/out-NAME`, emptied first).
fn run(dir: &Path, bin: &Path, name: &str) -> Result<String> {
    let out = dir.join(format!("out-{name}"));
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    eprintln!("xtask: check-bytes: {name} ({})", bin.display());
    let script = crate::workspace_root().join("xtask/check-bytes.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(bin)
        .arg(&out)
        .env("CHECK_BYTES_INPUTS", dir.join("inputs"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !o.status.success() {
        bail!(
            "{} {} failed ({})",
            script.display(),
            bin.display(),
            o.status
        );
    }
    let text = String::from_utf8(o.stdout).context("the script's output is not UTF-8")?;
    if text.contains("FAILED") {
        bail!("check-bytes: a run of {} failed:\n{text}", bin.display());
    }
    Ok(text)
}
