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
        curtin: true,
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

// ---------------------------------------------------------------------------------------
// MAAS readiness

/// `ddgz validate IMG ARGS --json` → (exit code, JSON).
fn validate(dir: &Dir, img: &Path, args: &[&str]) -> (i32, Value) {
    let o = dir.ddgz(&[&["validate", img.to_str().unwrap(), "--json"][..], args].concat());
    (o.status.code().unwrap(), json(&o))
}

fn readiness_codes(j: &Value) -> Vec<String> {
    j["maas_readiness"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["severity"].as_str().unwrap(),
                i["code"].as_str().unwrap()
            )
        })
        .collect()
}

/// Puts `curtin/curtin-hooks` and `TARBALL` as `curtin/scripts.tar.xz` into partition 1 with
/// mtools, as packer-maas's post-processor would.
fn put_curtin(dir: &Dir, img: &Path, o: &Options, tarball: &Path) {
    let p1 = mt(img, offset(o, 1));
    dir.sh(&format!(
        "export MTOOLS_SKIP_CHECK=1; mmd -i {p1} ::/curtin && mcopy -i {p1} curtin/curtin-hooks ::/curtin/ && mcopy -i {p1} '{}' ::/curtin/scripts.tar.xz",
        tarball.display()
    ));
}

#[test]
fn readiness_names_what_is_missing_and_the_add_that_fixes_it() {
    let dir = Dir::new();
    let bare = Options {
        curtin: false,
        ..opts(Version::V8_0, "8.0.3-0.0.24022510")
    };
    // 1. As packer leaves it: no hooks, no scripts.
    let img = build(&dir, "bare.img", &bare);
    let (code, j) = validate(&dir, &img, &[]);
    assert_eq!(code, 1);
    assert_eq!(j["ok"], false);
    assert_eq!(
        readiness_codes(&j),
        ["error maas-hooks-missing", "error maas-scripts-missing"]
    );
    let t = text(&dir.ddgz(&["validate", img.to_str().unwrap()]));
    assert!(
        t.contains("MAAS readiness (curtin hooks, maas/ scripts, partition 6):")
            && t.contains("error [maas-hooks-missing]: partition 1: no curtin/curtin-hooks")
            && t.contains("--add curtin")
            && t.contains("--add scripts.tar.xz:curtin/"),
        "{t}"
    );
    let o = dir.ddgz(&["convert", img.to_str().unwrap(), "-o", "bare.dd.gz"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("[maas-hooks-missing]") && !dir.join("bare.dd.gz").exists());

    // 2. Hooks, but a tarball without maas/.
    let broken = dir.join("broken");
    std::fs::create_dir(&broken).unwrap();
    let what = esxi::MaasScripts {
        no_maas_dir: true,
        ..Default::default()
    };
    let (_, tarball) = esxi::maas_scripts(&broken, &what).unwrap();
    esxi::maas_scripts(dir.path(), &Default::default()).unwrap();
    let img2 = build(&dir, "nomaas.img", &bare);
    put_curtin(&dir, &img2, &bare, &tarball);
    let (code, j) = validate(&dir, &img2, &[]);
    assert_eq!(
        (code, readiness_codes(&j)),
        (1, vec!["error maas-scripts-no-maas-dir".to_string()])
    );
    let item = &j["maas_readiness"]["items"][0];
    assert_eq!(item["partition"], 1);
    assert!(item["message"].as_str().unwrap().contains("netplan-esxi"));

    // 3. A tarball lacking a required script and a vendored package.
    let what = esxi::MaasScripts {
        omit: vec!["netplan-esxi".into(), "oauthlib".into(), "requests".into()],
        ..Default::default()
    };
    let partial = dir.join("partial");
    std::fs::create_dir(&partial).unwrap();
    let (_, tarball) = esxi::maas_scripts(&partial, &what).unwrap();
    let img3 = build(&dir, "partial.img", &bare);
    put_curtin(&dir, &img3, &bare, &tarball);
    let (code, j) = validate(&dir, &img3, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        readiness_codes(&j),
        [
            "error maas-script-missing",
            "error maas-package-missing",
            "warning maas-package-optional-missing"
        ]
    );

    // 4. No partition 6.
    let mut g = esxi::layout(&opts(Version::V8_0, "8.0.3-24022510"));
    g.parts.retain(|p| p.number != 6);
    let img4 = dir.join("nop6.img");
    esxi::build_with(&img4, &opts(Version::V8_0, "8.0.3-24022510"), g).unwrap();
    let (code, j) = validate(&dir, &img4, &[]);
    assert_eq!(code, 1);
    assert_eq!(readiness_codes(&j), ["error maas-altbootbank-missing"]);
    assert!(j["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["code"] == "esxi-partition-missing" && i["partition"] == 6));

    // 5. Partition 6 full: no room to unpack the scripts.
    let o6 = opts(Version::V6_7, "6.7.0-8169922");
    let img5 = build(&dir, "full.img", &o6);
    let p6 = mt(&img5, offset(&o6, 6));
    let ij = json(&dir.ddgz(&["inspect", img5.to_str().unwrap(), "--json"]));
    let free = ij["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"] == 6)
        .unwrap()["content"]["free_bytes"]
        .as_u64()
        .unwrap();
    dir.sh(&format!(
        "head -c {} /dev/zero > big.bin && MTOOLS_SKIP_CHECK=1 mcopy -i {p6} big.bin ::/big.bin",
        free - (32 << 10)
    ));
    let (code, j) = validate(&dir, &img5, &[]);
    assert_eq!(
        (code, readiness_codes(&j)),
        (1, vec!["error maas-altbootbank-full".to_string()])
    );
}

/// The packer-maas flow: the image as packer leaves it, converted with `--add curtin --add
/// scripts.tar.xz:curtin/`: ready, written by curtin's pipeline, files byte-exact.
#[test]
fn the_complete_add_is_ready_and_survives_curtins_pipeline() {
    let dir = Dir::new();
    let o = Options {
        curtin: false,
        ..opts(Version::V8_0, "8.0.3-0.0.24022510")
    };
    let img = build(&dir, "packer-esxi", &o);
    let (_, tarball) = esxi::maas_scripts(dir.path(), &Default::default()).unwrap();
    let out = dir.ddgz(&[
        "convert",
        "packer-esxi",
        "--add",
        "curtin",
        "--add",
        "scripts.tar.xz:curtin/",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    let ij = json(&dir.ddgz(&["inspect", "packer-esxi", "--json"]));
    assert_eq!(j["schema_version"], ij["schema_version"]);
    assert_eq!(j["findings"]["maas_readiness"]["checked"], true);
    assert_eq!(readiness_codes(&j["findings"]), ["info maas-ready"]);
    assert_eq!(j["maas_name"], "esxi/8.0");
    drop(img);
    // curtin: wget | zcat | dd (with pipefail here, so that any step's failure counts).
    let p1 = offset(&o, 1);
    let listing = |t: &str| {
        let mut l: Vec<String> = dir
            .sh(&format!("tar tJf {t}"))
            .lines()
            .map(String::from)
            .collect();
        l.sort();
        l
    };
    dir.sh("bash -o pipefail -ec 'cat packer-esxi.dd.gz | zcat | dd bs=4M of=target.img conv=sparse status=none'");
    dir.sh(&format!(
        "export MTOOLS_SKIP_CHECK=1; mcopy -n -i 'target.img@@{p1}' ::/curtin/curtin-hooks got-hooks && mcopy -n -i 'target.img@@{p1}' ::/curtin/scripts.tar.xz got.tar.xz && cmp got-hooks curtin/curtin-hooks && cmp got.tar.xz '{}'",
        tarball.display()
    ));
    assert_eq!(listing("got.tar.xz"), listing("scripts.tar.xz"));
    assert!(listing("got.tar.xz").contains(&"./maas/netplan-esxi".to_string()));
    // verify sees the same: layout OK, readiness included.
    let v = dir.ddgz_ok(&["verify", "packer-esxi.dd.gz", "-q"]);
    assert!(v.contains("layout OK: profile esxi, no errors"), "{v}");
}

#[test]
fn strict_with_allow_passes_a_good_image_and_fails_on_one_more_fault() {
    let dir = Dir::new();
    // 7.0 with OSDATA and a datastore: VMFS volumes, so the cloning warning is there.
    let o = Options {
        disk_size: 40 * GIB,
        osdata_sectors: Some(24 * GIB / 512),
        datastore: true,
        osdata: esxi::Volume::Vmfs6L,
        datastore_volume: esxi::Volume::Vmfs6,
        ..opts(Version::V7_0, "7.0.3-21930508")
    };
    let img = build(&dir, "good.img", &o);
    let i = img.to_str().unwrap();
    let (code, j) = validate(&dir, &img, &["--strict"]);
    assert_eq!(code, 1, "{j}");
    let (code, j) = validate(&dir, &img, &["--strict", "--allow", "vmfs-clone-uuid"]);
    assert_eq!(code, 0, "{j}");
    let note = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "vmfs-clone-uuid")
        .unwrap();
    assert_eq!(
        (&note["severity"], &note["allowed"]),
        (&"note".into(), &"warning".into())
    );
    let t = dir.ddgz_ok(&["validate", i, "--strict", "--allow", "vmfs-clone-uuid"]);
    assert!(
        t.contains("note [vmfs-clone-uuid, allowed warning]:"),
        "{t}"
    );
    // One more fault: the hooks gone.
    dir.sh(&format!(
        "MTOOLS_SKIP_CHECK=1 mdel -i {} ::/curtin/curtin-hooks",
        mt(&img, offset(&o, 1))
    ));
    let (code, j) = validate(&dir, &img, &["--strict", "--allow", "vmfs-clone-uuid"]);
    assert_eq!(code, 1, "{j}");
    assert_eq!(readiness_codes(&j), ["error maas-hooks-missing"]);
    // A code that does not exist is a usage error.
    let o = dir.ddgz(&["validate", i, "--allow", "vmfs-clone-uid"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("vmfs-clone-uuid"), "{}", text(&o));
}

// ---------------------------------------------------------------------------------------
// What a new user tripped on

/// Compressed streams and an ISO given where a disk is expected: named, exit 3, never "no
/// partition table" (`--format raw` still reads them as bytes; inspect and validate read
/// gzip and xz as finished images).
#[test]
fn compressed_streams_and_isos_are_named_not_read_as_disks() {
    let dir = Dir::new();
    crate::util::write_pattern(&dir.join("d.raw"), 1 << 20, 0, 200_000, 3);
    dir.sh("gzip -k d.raw && xz -k d.raw && bzip2 -k d.raw");
    let mut zst = vec![0x28, 0xB5, 0x2F, 0xFD];
    zst.extend(std::iter::repeat_n(7u8, 5000));
    std::fs::write(dir.join("d.raw.zst"), zst).unwrap();
    let mut iso = vec![0u8; 1 << 20];
    iso[0x8000..0x8006].copy_from_slice(b"\x01CD001");
    std::fs::write(dir.join("installer.iso"), iso).unwrap();
    for (file, what) in [
        ("d.raw.gz", "a gzip-compressed stream"),
        ("d.raw.xz", "an xz-compressed stream"),
        ("d.raw.bz2", "a bzip2-compressed stream"),
        ("d.raw.zst", "a zstd-compressed stream"),
        ("installer.iso", "an ISO 9660 image"),
    ] {
        // inspect and validate read a finished .dd.gz / .dd.xz (tests/packed.rs).
        let packed = file.ends_with(".gz") || file.ends_with(".xz");
        let cmds: &[&str] = if packed {
            &["convert"]
        } else {
            &["inspect", "validate", "convert"]
        };
        for &cmd in cmds {
            let o = dir.ddgz(&[cmd, file, "-o", "x.dd.gz"][..if cmd == "convert" { 4 } else { 2 }]);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(3), "{cmd} {file}: {t}");
            assert!(
                t.contains(what) && !t.contains("no partition table"),
                "{cmd} {file}: {t}"
            );
        }
    }
    assert!(!dir.join("x.dd.gz").exists());
    let o = dir.ddgz(&["inspect", "d.raw.bz2", "--format", "raw"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn an_error_cause_is_printed_once() {
    let dir = Dir::new();
    let o = dir.ddgz(&["inspect", "missing.raw"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn an_output_named_for_another_format_is_refused() {
    let dir = Dir::new();
    crate::util::write_pattern(&dir.join("d.raw"), 1 << 20, 0, 4096, 3);
    // `.dd.xz` is written as xz (MAAS ddxz; tests/xz.rs), `.img` raw (tests/raw.rs); other
    // names of other formats are refused.
    for out in ["d.dd.bz2", "d.qcow2", "D.DD.ZST"] {
        let o = dir.ddgz(&["convert", "d.raw", "--no-validate", "-o", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", text(&o));
        assert!(text(&o).contains("name it .dd.gz"), "{}", text(&o));
        assert!(!dir.join(out).exists());
    }
    dir.ddgz_ok(&["convert", "d.raw", "--no-validate", "-o", "d.dd.gz", "-q"]);
}

/// Not enough room in partition 1 for `--add`: exit 3, as the README's table says.
#[test]
fn no_space_in_the_fat_partition_has_the_documented_exit_code() {
    let dir = Dir::new();
    let o = opts(Version::V6_7, "6.7.0-8169922"); // partition 1: 4 MiB
    build(&dir, "esxi.img", &o);
    dir.sh("head -c 6000000 /dev/urandom > big.bin");
    let out = dir.ddgz(&[
        "convert",
        "esxi.img",
        "--add",
        "big.bin:curtin/",
        "-o",
        "o.dd.gz",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("not enough free space"),
        "{}",
        text(&out)
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let row = readme.lines().find(|l| l.starts_with("| 3 |")).unwrap();
    assert!(row.contains("not enough free space"), "{row}");
}

#[test]
fn help_has_examples_and_agrees_with_the_level_range() {
    let dir = Dir::new();
    let h = dir.ddgz_ok(&["verify", "--help"]);
    assert!(
        h.contains("Examples:") && h.contains("ddgz verify vmware-esxi.dd.gz --against"),
        "{h}"
    );
    let h = dir.ddgz_ok(&["convert", "--help"]);
    assert!(h.contains("Deflate level, 0 to 9"), "{h}");
    crate::util::write_pattern(&dir.join("d.raw"), 1 << 20, 0, 4096, 3);
    for (level, code) in [("0", 0), ("9", 0), ("10", 2)] {
        let out = format!("l{level}.dd.gz");
        let o = dir.ddgz(&[
            "convert",
            "d.raw",
            "--no-validate",
            "-q",
            "-l",
            level,
            "-o",
            &out,
        ]);
        assert_eq!(o.status.code(), Some(code), "level {level}: {}", text(&o));
    }
}
