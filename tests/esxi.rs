//! ESXi images as MAAS deploys them: the release read from `boot.cfg`, the `esxi/<release>`
//! name in the printed `maas` line and on `--upload`, and the readiness findings (curtin
//! hooks in partition 1, the `maas/` scripts tarball, room in partition 6).

use std::path::Path;

use ddgz_synth::esxi::{self, Options, Version};
use serde_json::Value;

use crate::util::Dir;

const GIB: u64 = 1 << 30;

/// The three `build=` shapes ESXi writes, one per release the tests build.
pub const RELEASES: [(Version, &str, &str, &str, &str); 3] = [
    (Version::V6_7, "6.7.0-8169922", "6.7.0", "8169922", "6.7"),
    (Version::V7_0, "7.0.3-21930508", "7.0.3", "21930508", "7.0"),
    (
        Version::V8_0,
        "8.0.3-0.0.24022510",
        "8.0.3",
        "24022510",
        "8.0",
    ),
];

/// Options for a small disk of `version` whose `boot.cfg` says `build=BUILD`.
pub fn opts(version: Version, build: &str) -> Options {
    let base = match version {
        Version::V6_7 => Options::esxi67(10 * GIB),
        _ => Options {
            version,
            disk_size: 10 * GIB,
            ..Options::packer_maas()
        },
    };
    Options {
        build: Some(build.into()),
        ..base
    }
}

/// Builds the disk of `opts` at `dir/name`.
pub fn build(dir: &Dir, name: &str, o: &Options) -> std::path::PathBuf {
    let img = dir.join(name);
    esxi::build(&img, o).unwrap();
    img
}

/// The byte offset of partition `n` for mtools' `IMG@@OFFSET`.
pub fn offset(o: &Options, n: u32) -> u64 {
    esxi::layout(o)
        .parts
        .iter()
        .find(|p| p.number == n)
        .unwrap()
        .start()
}

pub fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn mt(img: &Path, off: u64) -> String {
    format!("'{}@@{off}'", img.display())
}

#[test]
fn inspect_shows_the_release_from_boot_cfg_in_each_build_shape() {
    let dir = Dir::new();
    for (v, build_line, version, build, release) in RELEASES {
        let o = opts(v, build_line);
        let img = build_img(&dir, &o, release);
        let out = dir.ddgz(&["inspect", img.to_str().unwrap(), "--json"]);
        assert!(out.status.success());
        let j = json(&out);
        let got = &j["esxi"]["version"];
        assert_eq!(got["version"], version, "{build_line}: {got}");
        assert_eq!(got["build"], build);
        assert_eq!(got["build_line"], build_line);
        assert_eq!(got["partition"], 5);
        assert_eq!(
            format!("{}.{}", got["major"], got["minor"]),
            release,
            "{build_line}"
        );
        assert_eq!(j["esxi"]["version_missing"], Value::Null);
        let text = dir.ddgz_ok(&["inspect", img.to_str().unwrap()]);
        assert!(
            text.contains(&format!(
                "release:    ESXi {version} build {build} (build={build_line} in boot.cfg of partition 5)"
            )),
            "{text}"
        );
    }
}

fn build_img(dir: &Dir, o: &Options, tag: &str) -> std::path::PathBuf {
    build(dir, &format!("esxi-{tag}.img"), o)
}

#[test]
fn the_altbootbank_is_read_when_the_bootbank_has_no_boot_cfg_and_a_missing_one_is_said() {
    let dir = Dir::new();
    let o = opts(Version::V8_0, "8.0.3-24022510");
    let img = build_img(&dir, &o, "alt");
    let (p5, p6) = (mt(&img, offset(&o, 5)), mt(&img, offset(&o, 6)));
    dir.sh(&format!(
        "export MTOOLS_SKIP_CHECK=1; mcopy -i {p5} ::/boot.cfg boot.cfg && mdel -i {p5} ::/boot.cfg && mcopy -i {p6} boot.cfg ::/boot.cfg"
    ));
    let j = json(&dir.ddgz(&["inspect", img.to_str().unwrap(), "--json"]));
    assert_eq!(j["esxi"]["version"]["partition"], 6, "{}", j["esxi"]);
    assert_eq!(j["esxi"]["version"]["version"], "8.0.3");
    assert_eq!(j["esxi"]["version"]["build"], "24022510");

    dir.sh(&format!(
        "export MTOOLS_SKIP_CHECK=1; mdel -i {p6} ::/boot.cfg"
    ));
    let j = json(&dir.ddgz(&["inspect", img.to_str().unwrap(), "--json"]));
    assert_eq!(j["esxi"]["version"], Value::Null);
    let why = j["esxi"]["version_missing"].as_str().unwrap();
    assert!(
        why.starts_with("no boot.cfg found:")
            && why.contains("partition 5")
            && why.contains("partition 6"),
        "{why}"
    );
    let text = dir.ddgz_ok(&["inspect", img.to_str().unwrap()]);
    assert!(
        text.contains("release:    unknown: no boot.cfg found"),
        "{text}"
    );
}

const KEY: &str = "e2eConsumerKey:e2eTokenKey:e2eTokenSecret";

/// `ddgz ARGS` in `dir` with MAAS_URL and MAAS_API_KEY set for `m`.
fn with_maas(dir: &Dir, m: &ddgz_maas::fake::FakeMaas, args: &[&str]) -> std::process::Output {
    crate::util::ddgz()
        .args(args)
        .current_dir(dir.path())
        .env("MAAS_URL", m.url())
        .env("MAAS_API_KEY", KEY)
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn convert_names_esxi_images_esxi_release_and_uploads_them_so() {
    use ddgz_maas::fake::{Config, FakeMaas};
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    for (v, build_line, _, _, release) in RELEASES {
        let img = build_img(&dir, &opts(v, build_line), release);
        let out = dir.join(format!("{release}.dd.gz"));
        let o = with_maas(
            &dir,
            &m,
            &[
                "convert",
                img.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--upload",
                "--upload-chunk-size",
                "1M",
            ],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(
            t.contains(&format!(
                "maas $PROFILE boot-resources create name=esxi/{release} title='VMware ESXi {release}' architecture=amd64/generic filetype='ddgz' content@="
            )),
            "{t}"
        );
        assert!(!t.contains("base_image"), "{t}");
        let r = m.resources().pop().unwrap();
        assert_eq!(r.name, format!("esxi/{release}"));
        assert_eq!(r.title.as_deref(), Some(&*format!("VMware ESXi {release}")));
        assert_eq!(r.base_image, None);
        assert!(r.complete);
        assert_eq!(r.data, std::fs::read(&out).unwrap());
    }
}

#[test]
fn a_name_that_contradicts_the_image_is_a_warning_and_other_images_are_custom() {
    use ddgz_maas::fake::{Config, FakeMaas};
    let dir = Dir::new();
    let img = build_img(&dir, &opts(Version::V8_0, "8.0.3-24022510"), "8");
    let o = dir.ddgz(&[
        "convert",
        img.to_str().unwrap(),
        "-o",
        "a.dd.gz",
        "--name",
        "esxi/7.0",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: --name esxi/7.0: the image is ESXi 8.0"),
        "{err}"
    );
    let j = json(&o);
    assert_eq!(j["maas_name"], "esxi/7.0");
    assert_eq!(j["maas_title"], "VMware ESXi 8.0");
    assert_eq!(j["name_warnings"].as_array().unwrap().len(), 1);

    // Not ESXi: custom/<stem>, and the base image MAAS requires for custom images.
    crate::util::write_pattern(&dir.join("plain.raw"), 8 << 20, 0, 4096, 1);
    let t = dir.ddgz_ok(&["convert", "plain.raw", "--no-validate"]);
    assert!(
        t.contains("name=custom/plain title=plain architecture=amd64/generic filetype='ddgz' base_image=ubuntu/SERIES content@="),
        "{t}"
    );
    let m = FakeMaas::start(Config::new(KEY));
    let args = [
        "convert",
        "plain.raw",
        "--no-validate",
        "-o",
        "p.dd.gz",
        "--upload",
    ];
    let o = with_maas(&dir, &m, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--base-image"), "{}", text(&o));
    assert!(!dir.join("p.dd.gz").exists() && m.seen().is_empty());
    let o = with_maas(
        &dir,
        &m,
        &[&args[..], &["--base-image", "ubuntu/noble"]].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("base_image=ubuntu/noble"), "{}", text(&o));
    let r = m.resources().pop().unwrap();
    assert_eq!(
        (r.name.as_str(), r.base_image.as_deref()),
        ("custom/plain", Some("ubuntu/noble"))
    );
}
