//! Project tasks: `cargo xtask test` (install what the tests need; the lints fmt, clippy,
//! machete and doc; then every test), `demo` (the README's first command), `fixtures`
//! (realistic synthetic disks), `bench` (ddgz against pigz, gzip and qemu-img + pigz on
//! them), `bench-tar` (`ddgz tar` against packer-maas's nbd + fuse2fs + GNU tar) and
//! `bench-free` (`--zero-free` and `.dd.xz` against qemu-img + xz).
//!
//! Run through the `.cargo/config.toml` alias, so `$CARGO` names the cargo that runs us.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod bench_free;
mod bench_tar;
mod bench_tar_lvm;
mod check_bytes;
mod demo;
mod fat;
mod fixtures;
mod tar_tree;

/// Tools the test suite runs as oracles, and the Debian package that ships each.
const TEST_TOOLS: &[(&str, &str)] = &[
    ("qemu-img", "qemu-utils"),
    ("qemu-io", "qemu-utils"),
    ("gzip", "gzip"),
    ("pigz", "pigz"),
    ("python3", "python3"),
    ("xz", "xz-utils"),
    ("fsck.fat", "dosfstools"),
    ("mkfs.fat", "dosfstools"),
    ("mdir", "mtools"),
    ("sgdisk", "gdisk"),
    ("sfdisk", "fdisk"),
    ("setpriv", "util-linux"),
    ("debugvmfs", "vmfs-tools"),
    ("debugvmfs6", "vmfs6-tools"),
    ("mkfs.ext4", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("fuse2fs", "fuse2fs"),
    ("setfattr", "attr"),
    ("getfattr", "attr"),
    ("setfacl", "acl"),
    ("getfacl", "acl"),
    ("mkfs.xfs", "xfsprogs"),
    ("xfs_db", "xfsprogs"),
    ("xfs_io", "xfsprogs"),
    ("xfs_logprint", "xfsprogs"),
    ("tar", "tar"),
    ("/usr/bin/time", "time"),
    ("lvm", "lvm2"),
    ("losetup", "mount"),
    ("mkntfs", "ntfs-3g"),
    ("ntfscp", "ntfs-3g"),
    ("ntfsls", "ntfs-3g"),
    ("ntfscat", "ntfs-3g"),
    ("ntfsinfo", "ntfs-3g"),
    ("ntfswipe", "ntfs-3g"),
    ("ntfsfix", "ntfs-3g"),
    ("zerofree", "zerofree"),
    ("ntfs-3g", "ntfs-3g"),
    ("blkid", "util-linux"),
    ("mkswap", "util-linux"),
    ("hivexget", "libhivex-bin"),
    ("hivexsh", "libhivex-bin"),
    ("strace", "strace"),
    ("script", "bsdutils"),
    ("make", "make"),
    ("packer", "packer"),
];

/// Packages whose install may fail (not in every distribution's archive): the tests that
/// need them print why they skipped.
const OPTIONAL_PACKAGES: &[&str] = &["packer"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("install-test-tools") => install_test_tools(),
        Some("demo") => demo::main(&args[1..]),
        Some("fixtures") => fixtures::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("bench-tar") => bench_tar::main(&args[1..]),
        Some("bench-free") => bench_free::main(&args[1..]),
        Some("check-bytes") => check_bytes::main(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test [ARGS]           install the test tools if missing; cargo fmt --check, clippy -D warnings,\n                        \
                 machete, doc (-D warnings); then cargo test --workspace [ARGS]\n  \
                 install-test-tools    apt-get install what the tests run (qemu-utils, pigz, dosfstools, mtools, gdisk, vmfs-tools, ...)\n  \
                 demo                  synthesize a small sparse qcow2 disk, convert it with ddgz, print the report\n  \
                 fixtures [--out DIR] [NAME...]\n                        \
                 build the benchmark disks (generic-2g, esxi67-10g, esxi8-min-32g, esxi8-min-1t)\n  \
                 bench [--quick] [--runs N] [--big-peer-runs N] [--gzip-max-gib N] [--json FILE] [--svg FILE] [FIXTURE...]\n                        \
                 ddgz against pigz, gzip and qemu-img + pigz on the fixtures (ends with bench-tar)\n  \
                 bench-tar [--mib N] [--runs N] [--only ext4|xfs-lvm]\n                        \
                 ddgz tar against debugfs rdump (ext4) / a loop mount (XFS on LVM, root) + GNU tar + pigz\n  \
                 bench-free [--mib N] [--runs N] [--no-xz]\n                        \
                 convert plain / --zero-free, .dd.gz / .dd.xz, against qemu-img + xz, on a disk with deleted data\n  \
                 check-bytes [BASELINE_BIN]\n                        \
                 sha256 of every output of a fixed set of conversions; with a baseline binary, fail unless identical"
            );
            std::process::exit(2);
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The target directory: `$CARGO_TARGET_DIR`, or `target/` of the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Builds the release `ddgz` binary with `$CARGO` (into `target_dir` if given) and returns
/// its path.
fn build_ddgz(target_dir: Option<&std::path::Path>) -> Result<PathBuf> {
    eprintln!("xtask: building ddgz (release; the first build takes a few minutes)");
    let mut cmd = cargo();
    cmd.current_dir(workspace_root()).args([
        "build",
        "--release",
        "--package",
        "ddgz",
        "--bin",
        "ddgz",
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(t) = target_dir {
        cmd.arg("--target-dir").arg(t);
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !out.status.success() {
        bail!("cargo build --release --bin ddgz failed ({})", out.status);
    }
    for line in out.stdout.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] == "compiler-artifact" && v["target"]["name"] == "ddgz" {
            if let Some(exe) = v["executable"].as_str() {
                return Ok(exe.into());
            }
        }
    }
    bail!("cargo build did not report the ddgz executable")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Installs (with apt-get, once) the Debian packages of every missing test tool.
fn install_test_tools() -> Result<()> {
    let mut missing: Vec<&str> = TEST_TOOLS
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(_, p)| *p)
        .collect();
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing test tools: {}", missing.join(" "));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let apt = |args: &[&str]| -> Result<()> {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !root {
            c.arg("apt-get");
        }
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        let st = c
            .status()
            .with_context(|| format!("running apt-get {}", args.join(" ")))?;
        if !st.success() {
            bail!("apt-get {} failed ({st})", args.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let (optional, required): (Vec<&str>, Vec<&str>) =
        missing.iter().partition(|p| OPTIONAL_PACKAGES.contains(p));
    let install = ["install", "-y", "-qq", "--no-install-recommends"];
    if !required.is_empty() {
        apt(&[&install[..], &required].concat())?;
    }
    if !optional.is_empty() {
        if let Err(e) = apt(&[&install[..], &optional].concat()) {
            eprintln!(
                "xtask: {e}; the tests that need {} will say they skipped",
                optional.join(", ")
            );
        }
    }
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    install_test_tools()?;
    // Lints are part of the tests: formatting, clippy with warnings as errors, and no
    // dependency that no code uses.
    run_cargo(
        &["fmt", "--all", "--check"],
        "cargo fmt --check (run `cargo fmt --all`)",
    )?;
    run_cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "cargo clippy",
    )?;
    if Command::new("cargo-machete")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("xtask: installing cargo-machete (unused dependency check)");
        run_cargo(
            &["install", "--locked", "cargo-machete"],
            "cargo install cargo-machete",
        )?;
    }
    // Called directly: under `cargo run` (CARGO_PKG_NAME set) `cargo machete` would take
    // its own subcommand name for a path.
    let st = Command::new("cargo-machete")
        .current_dir(workspace_root())
        .status()
        .context("running cargo-machete")?;
    if !st.success() {
        bail!("cargo machete found unused dependencies (or failed): {st}");
    }
    // The API docs build without a warning (broken intra-doc links above all).
    let st = cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .context("running cargo doc")?;
    if !st.success() {
        bail!("cargo doc --workspace --no-deps has warnings or failed ({st})");
    }
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    run_cargo(&args, "cargo test")
}

/// Runs `cargo ARGS`; fails naming `what` when it does not succeed.
fn run_cargo(args: &[&str], what: &str) -> Result<()> {
    let st = cargo()
        .args(args)
        .status()
        .with_context(|| format!("running {what}"))?;
    if !st.success() {
        bail!("{what} failed ({st})");
    }
    Ok(())
}
