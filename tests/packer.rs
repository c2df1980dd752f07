//! `examples/packer/`: the template validated by a real `packer`, and the Makefile's
//! `scripts.tar.xz` built and checked with ddgz's MAAS readiness checks.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::Dir;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/packer")
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `packer validate` in `dir` on `file`, with a stand-in ISO.
fn validate(dir: &Dir, file: &str) -> std::process::Output {
    std::fs::write(dir.join("fake.iso"), b"").unwrap();
    Command::new("packer")
        .args(["validate", "-var"])
        .arg(format!(
            "vmware_esxi_iso_path={}",
            dir.join("fake.iso").display()
        ))
        .arg(file)
        .current_dir(dir.path())
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_LOG", "0")
        .output()
        .unwrap()
}

/// Validates the template with the packer on PATH (Debian's 1.6.6 has the QEMU builder
/// built in); a template with an unknown key must fail, so the check is real. Skips, saying
/// why, when packer is missing or has no QEMU builder.
#[test]
fn packer_validates_the_example_template() {
    let version = match Command::new("packer").arg("version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            crate::util::say(
                "SKIPPED packer_validates_the_example_template: no packer on PATH (Debian: apt-get install packer)",
            );
            return;
        }
    };
    let dir = Dir::new();
    let template = std::fs::read_to_string(example().join("vmware-esxi.pkr.hcl")).unwrap();
    std::fs::write(dir.join("vmware-esxi.pkr.hcl"), &template).unwrap();
    let o = validate(&dir, "vmware-esxi.pkr.hcl");
    let t = out_text(&o);
    if !o.status.success() && t.to_lowercase().contains("unknown") && t.contains("qemu") {
        crate::util::say(&format!(
            "SKIPPED packer_validates_the_example_template: {version} has no QEMU builder \
             (packer >= 1.10 needs `packer init` of plugins.pkr.hcl, which needs the network): {t}"
        ));
        return;
    }
    assert!(o.status.success(), "{version}: {t}");
    crate::util::say(&format!("the example template validated with {version}"));
    // The same template with a key the QEMU builder does not have: refused.
    let broken = template.replace("disk_size = \"32G\"", "disk_sizes = \"32G\"");
    assert_ne!(broken, template);
    std::fs::write(dir.join("broken.pkr.hcl"), broken).unwrap();
    let o = validate(&dir, "broken.pkr.hcl");
    assert!(!o.status.success(), "{}", out_text(&o));
    assert!(out_text(&o).contains("disk_sizes"), "{}", out_text(&o));
}

/// `make scripts.tar.xz` of the example, with stand-ins for packer-maas's maas/ scripts and
/// a stand-in for pip (no network: PIP_INSTALL points at a script that lays the packages
/// out as `pip install --target` does, plus a __pycache__ and a .so the Makefile must
/// drop). The tarball has the maas/ prefix, root ownership, no caches, and passes the
/// readiness checks once added to a synthetic ESXi image with the example's curtin/.
#[test]
fn the_example_makefile_builds_a_scripts_tarball_that_is_ready() {
    use ddgz_synth::esxi;
    let dir = Dir::new();
    dir.sh(&format!("cp -r '{}/.' .", example().display()));
    // Without maas/: the Makefile says what to do.
    let o = Command::new("make")
        .arg("scripts.tar.xz")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        out_text(&o).contains("copy packer-maas's vmware-esxi/maas/"),
        "{}",
        out_text(&o)
    );
    std::fs::create_dir(dir.join("maas")).unwrap();
    for s in esxi::MAAS_SCRIPTS {
        std::fs::write(
            dir.join("maas").join(s),
            format!("#!/usr/bin/env python3\n# stand-in for packer-maas's {s}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("fakepip.sh"),
        "set -e\nt=\"$1\"\nfor p in yaml oauthlib requests; do mkdir -p \"$t/$p/__pycache__\"; \
         echo \"# $p\" > \"$t/$p/__init__.py\"; echo x > \"$t/$p/__pycache__/x.pyc\"; done\n\
         echo '# ipaddr' > \"$t/ipaddr.py\"\necho elf > \"$t/yaml/_speedups.so\"\n",
    )
    .unwrap();
    let o = Command::new("make")
        .arg("scripts.tar.xz")
        .arg(format!(
            "PIP_INSTALL=sh {}",
            dir.join("fakepip.sh").display()
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    let list = dir.sh("tar tvJf scripts.tar.xz");
    for want in [
        "maas/netplan-esxi",
        "maas/maas-md-get",
        "maas/yaml/__init__.py",
        "maas/oauthlib/__init__.py",
        "maas/ipaddr.py",
    ] {
        assert!(
            list.lines().any(|l| l.ends_with(&format!(" {want}"))),
            "{want} not in:\n{list}"
        );
    }
    assert!(
        !list.contains("__pycache__") && !list.contains(".so"),
        "{list}"
    );
    assert!(list.lines().all(|l| l.contains(" root/root ")), "{list}");

    let img = dir.join("packer-esxi");
    esxi::build(
        &img,
        &esxi::Options {
            disk_size: 10 << 30,
            ..esxi::Options::packer_maas()
        },
    )
    .unwrap();
    let o = dir.ddgz(&[
        "convert",
        "packer-esxi",
        "--add",
        "curtin",
        "--add",
        "scripts.tar.xz:curtin/",
        "--json",
    ]);
    assert!(o.status.success(), "{}", out_text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let items = j["findings"]["maas_readiness"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["code"], "maas-ready");
}
