//! `ddgz inspect` / `ddgz validate` end to end, on synthetic ESXi disks (ddgz-synth), broken
//! variants of them, and the real VMFS-3 volume in `../shared/fixtures`, cross-checked with
//! sgdisk, sfdisk, debugvmfs and debugvmfs6.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ddgz_synth::esxi::{self, Options, Version, Volume};
use ddgz_synth::gpt::{self as sg, Gpt};
use serde_json::Value;

use crate::util::{ddgz, Dir};

const GIB: u64 = 1 << 30;

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `ddgz validate IMG ARGS --json`: (exit code, findings).
fn validate(img: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let out = ddgz()
        .arg("validate")
        .arg(img)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("validate --json: {e}\n{}{}", stdout(&out), stderr(&out)));
    (
        out.status.code().unwrap(),
        v["items"].as_array().unwrap().clone(),
    )
}

fn inspect_json(img: &Path) -> Value {
    let out = ddgz()
        .arg("inspect")
        .arg(img)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "inspect failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The findings of `severity` that mention `needle` (and partition `part`, if given).
fn has(items: &[Value], severity: &str, part: Option<u64>, needle: &str) -> bool {
    items.iter().any(|i| {
        i["severity"] == severity
            && part.is_none_or(|n| i["partition"] == n)
            && i["message"].as_str().unwrap().contains(needle)
    })
}

fn show(items: &[Value]) -> String {
    items
        .iter()
        .map(|i| format!("{} {} {}", i["severity"], i["partition"], i["message"]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn errors(items: &[Value]) -> usize {
    items.iter().filter(|i| i["severity"] == "error").count()
}

fn v7(datastore: bool) -> Options {
    Options {
        version: Version::V7_0,
        disk_size: 40 * GIB,
        osdata_sectors: datastore.then_some(24 * GIB / 512),
        datastore,
        osdata: Volume::Vmfs6L,
        datastore_volume: Volume::Vmfs6,
        fat: true,
        seed: 7,
        build: None,
        curtin: true,
    }
}

fn v67() -> Options {
    Options {
        datastore_volume: Volume::Vmfs5,
        curtin: true,
        ..Options::esxi67(12 * GIB)
    }
}

/// sgdisk -v finds no problem, and our partition list equals sfdisk --json's.
fn check_with_real_tools(img: &Path) {
    let v = run("sgdisk", &["-v", p(img)]);
    assert!(
        stdout(&v).contains("No problems found"),
        "sgdisk -v {}:\n{}{}",
        img.display(),
        stdout(&v),
        stderr(&v)
    );
    let s = run("sfdisk", &["--json", p(img)]);
    assert!(s.status.success(), "sfdisk: {}", stderr(&s));
    let sf: Value = serde_json::from_slice(&s.stdout).unwrap();
    let t = &sf["partitiontable"];
    let ours = inspect_json(img);
    assert_eq!(t["label"], "gpt");
    assert_eq!(t["id"], ours["table"]["disk_guid"]);
    assert_eq!(t["firstlba"], ours["table"]["first_usable_lba"]);
    assert_eq!(t["lastlba"], ours["table"]["last_usable_lba"]);
    let mut theirs: Vec<Value> = t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let node = q["node"].as_str().unwrap();
            let number: u64 = node[p(img).len()..].parse().unwrap();
            let size = q["size"].as_u64().unwrap();
            let start = q["start"].as_u64().unwrap();
            serde_json::json!({
                "number": number,
                "first_lba": start,
                "last_lba": start + size - 1,
                "type": q["type"],
                "guid": q["uuid"],
                "name": q.get("name").cloned().unwrap_or(Value::String(String::new())),
            })
        })
        .collect();
    theirs.sort_by_key(|q| q["number"].as_u64());
    let mine: Vec<Value> = ours["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            serde_json::json!({
                "number": q["number"],
                "first_lba": q["first_lba"],
                "last_lba": q["last_lba"],
                "type": q["type"],
                "guid": q["guid"],
                "name": q["name"],
            })
        })
        .collect();
    assert_eq!(mine, theirs);
}

#[test]
fn valid_layouts_pass_and_match_sgdisk_and_sfdisk() {
    let dir = Dir::new();
    let cases: Vec<(&str, Options, &str)> = vec![
        ("esxi67.img", v67(), "6.x"),
        ("esxi70.img", v7(true), "7.0/8.0"),
        (
            "esxi80-packer-maas.img",
            Options {
                curtin: true,
                ..Options::packer_maas()
            },
            "7.0/8.0",
        ),
    ];
    for (name, opts, gen) in cases {
        let img = dir.join(name);
        esxi::build(&img, &opts).unwrap();
        check_with_real_tools(&img);
        let (code, items) = validate(&img, &[]);
        assert_eq!(code, 0, "{name}:\n{}", show(&items));
        assert_eq!(errors(&items), 0, "{name}:\n{}", show(&items));
        let j = inspect_json(&img);
        assert_eq!(j["esxi"]["generation"], gen, "{name}");
        assert_eq!(j["findings"]["profile"], "esxi");
        for n in [1, 5, 6] {
            let part = j["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["number"] == n)
                .unwrap();
            assert_eq!(part["content"]["kind"], "fat", "{name} partition {n}");
        }
    }
    // The packer-maas variant is named, and has no VMFS: no cloning warning.
    let j = inspect_json(&dir.join("esxi80-packer-maas.img"));
    assert!(j["esxi"]["variant"]
        .as_str()
        .unwrap()
        .contains("packer-maas 32 GiB"));
    assert_eq!(j["esxi"]["reference_lbas"], true);
    // 7.0 with VMFS volumes: the cloning warning names both UUIDs; --strict fails on it.
    let img = dir.join("esxi70.img");
    let (_, items) = validate(&img, &[]);
    assert!(has(&items, "warning", None, "KB 84280"), "{}", show(&items));
    let (code, _) = validate(&img, &["--strict"]);
    assert_eq!(code, 1);
    let j = inspect_json(&img);
    let parts = j["partitions"].as_array().unwrap();
    assert_eq!(parts[3]["content"]["version_name"], "VMFS6-L");
    assert_eq!(parts[4]["content"]["version_name"], "VMFS6");
    for q in &parts[3..5] {
        let uuid = q["content"]["uuid"].as_str().unwrap();
        assert!(has(&items, "warning", None, uuid));
    }
}

/// Extracts `[range)` of `img` into `out` (sparse).
fn extract(img: &Path, range: std::ops::Range<u64>, out: &Path) {
    let o = run(
        "dd",
        &[
            &format!("if={}", p(img)),
            &format!("of={}", p(out)),
            "bs=1M",
            "iflag=skip_bytes,count_bytes",
            &format!("skip={}", range.start),
            &format!("count={}", range.end - range.start),
            "conv=sparse",
            "status=none",
        ],
    );
    assert!(o.status.success(), "dd: {}", stderr(&o));
}

fn shared_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// `debugvmfs FILE show` as key → value.
fn debugvmfs_show(tool: &str, file: &Path) -> (bool, Vec<(String, String)>, String) {
    let o = run(tool, &[p(file), "show"]);
    let kv = stdout(&o)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (o.status.success(), kv, stderr(&o))
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> &'a str {
    &kv.iter()
        .find(|(key, _)| key == k)
        .unwrap_or_else(|| panic!("no {k} in {kv:?}"))
        .1
}

#[test]
fn real_vmfs3_volume_matches_debugvmfs() {
    let dir = Dir::new();
    let xz = shared_fixtures().join("vmfs3-toto.img.xz");
    if !xz.is_file() {
        // A clone outside the project layout has no ../shared: say so on the output.
        crate::util::say(&format!(
            "SKIPPED real_vmfs3_volume_matches_debugvmfs: {} is absent (the real VMFS-3 \
             volume lives in ../shared/fixtures beside the repository)",
            xz.display()
        ));
        return;
    }
    let vol = dir.join("toto.img");
    // pipefail: a failing xz must fail the step, not leave dd an empty input.
    dir.sh(&format!(
        "bash -o pipefail -ec \"xz -dc '{}' | dd of='{}' bs=1M conv=sparse status=none\"",
        xz.display(),
        vol.display()
    ));
    assert!(
        std::fs::metadata(&vol).unwrap().len() > 0,
        "{} unpacked to nothing",
        xz.display()
    );
    let vol_len = std::fs::metadata(&vol).unwrap().len();
    let sectors = vol_len.div_ceil(512);
    // A GPT disk with the volume as partition 1 (type VMFS) at LBA 2048.
    let g = Gpt {
        disk_sectors: 2048 + sectors + 2048,
        disk_guid: sg::seeded_guid(3, 0),
        parts: vec![sg::Part {
            number: 1,
            first_lba: 2048,
            last_lba: 2048 + sectors - 1,
            type_guid: sg::guid(sg::types::VMFS),
            unique_guid: sg::seeded_guid(3, 1),
            name: "datastore".into(),
        }],
    };
    let img = dir.join("disk.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(g.disk_sectors * 512).unwrap();
    g.write(&f).unwrap();
    drop(f);
    dir.sh(&format!(
        "dd if='{}' of='{}' bs=1M seek=1 conv=sparse,notrunc status=none",
        vol.display(),
        img.display()
    ));
    let part = dir.join("part1.img");
    extract(&img, 2048 * 512..(2048 + sectors) * 512, &part);

    let (_, kv, err) = debugvmfs_show("debugvmfs", &part);
    let j = inspect_json(&img);
    let c = &j["partitions"][0]["content"];
    assert_eq!(c["kind"], "vmfs", "{c}\ndebugvmfs: {err}");
    assert_eq!(c["label"], get(&kv, "Label"));
    assert_eq!(c["uuid"], get(&kv, "UUID"));
    assert_eq!(c["fs_version"].to_string(), get(&kv, "Volume Version"));
    assert_eq!(c["fs_minor"].to_string(), get(&kv, "Version"));
    let bs = get(&kv, "Block size");
    let mib: u64 = bs.strip_suffix(" MiB").unwrap().parse().unwrap();
    assert_eq!(c["block_size"], mib << 20);
    // And the values the fixture's documentation gives.
    let doc =
        std::fs::read_to_string(shared_fixtures().join("vmfs3-toto.debugvmfs-show.txt")).unwrap();
    assert!(doc.contains("UUID: 49edf844-ebfc28f3-65cb-0021280083cf"));
    assert_eq!(c["uuid"], "49edf844-ebfc28f3-65cb-0021280083cf");
    assert_eq!(c["label"], "toto");
    assert_eq!(c["version_name"], "VMFS3");
    // Generic profile (no ESXi layout): valid, with the cloning warning only.
    let (code, items) = validate(&img, &[]);
    assert_eq!(code, 0, "{}", show(&items));
    assert!(has(
        &items,
        "warning",
        None,
        "49edf844-ebfc28f3-65cb-0021280083cf"
    ));
}

/// Synthesized VMFS5 / VMFS6 / VMFS6-L headers: the open-source readers get past the
/// LV-UUID check (they then stop at the FDC, which header-only volumes lack); with the LV
/// UUID broken, they and we refuse.
#[test]
fn synthetic_vmfs_headers_against_debugvmfs() {
    let dir = Dir::new();
    let len = 1200u64 << 20;
    for (v, tool, name) in [
        (Volume::Vmfs5, "debugvmfs", "vmfs5"),
        (Volume::Vmfs6, "debugvmfs6", "vmfs6"),
        (Volume::Vmfs6L, "debugvmfs6", "vmfs6l"),
    ] {
        let part = dir.join(format!("{name}.img"));
        let f = std::fs::File::create(&part).unwrap();
        f.set_len(len).unwrap();
        sg::write_patches(&f, &esxi::vmfs_headers(v, len, name, 42)).unwrap();
        drop(f);
        // Past every header check, the readers go for the FDC bitmap, which a header-only
        // volume lacks (they die there, e.g. with SIGFPE on its zero geometry): none of
        // their header-stage messages may appear.
        let (_, _, err) = debugvmfs_show(tool, &part);
        for early in [
            "invalid magic",
            "Unsupported version",
            "Unable to read volume information",
            "Unable to read FS information",
            "Missing extents",
            "doesn't belong",
            "Unable to open device",
        ] {
            assert!(!err.contains(early), "{name}: {tool}: {err}");
        }
        // Broken LV UUID.
        let bad = dir.join(format!("{name}-bad.img"));
        std::fs::copy(&part, &bad).unwrap();
        let f = OpenOptions::new().write(true).open(&bad).unwrap();
        f.write_all_at(&[0xFF], esxi::FS_LV_UUID + 3).unwrap();
        drop(f);
        let (ok, _, err) = debugvmfs_show(tool, &bad);
        assert!(
            !ok && err.contains("doesn't belong to the underlying LVM"),
            "{name}: {err}"
        );
    }
    // Ours, in a 7.0 layout: OSDATA with a broken LV UUID.
    let img = dir.join("esxi70.img");
    let b = esxi::build(&img, &v7(true)).unwrap();
    let f = OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xFF], b.range(7).unwrap().start + esxi::FS_LV_UUID + 3)
        .unwrap();
    drop(f);
    let (code, items) = validate(&img, &[]);
    assert_eq!(code, 1);
    assert!(
        has(&items, "error", Some(7), "LV UUID mismatch"),
        "{}",
        show(&items)
    );
}

fn write_at(img: &Path, off: u64, data: &[u8]) {
    let f = OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(data, off).unwrap();
}

fn flip(img: &Path, off: u64) {
    let f = OpenOptions::new().read(true).write(true).open(img).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, off).unwrap();
    f.write_all_at(&[b[0] ^ 0xFF], off).unwrap();
}

/// Each broken variant with its expected finding.
#[test]
fn broken_variants() {
    let dir = Dir::new();
    let opts = Options {
        osdata: Volume::Blank,
        datastore_volume: Volume::Blank,
        ..v7(true)
    };
    let good = dir.join("good.img");
    let built = esxi::build(&good, &opts).unwrap();
    let last = opts.disk_size - 512;
    let copy = |name: &str| {
        let p = dir.join(name);
        dir.sh(&format!(
            "cp --sparse=always '{}' '{}'",
            good.display(),
            p.display()
        ));
        p
    };
    let expect = |img: &Path, code: i32, sev: &str, part: Option<u64>, needle: &str| {
        let (c, items) = validate(img, &[]);
        assert!(
            has(&items, sev, part, needle),
            "{}: expected {sev} {part:?} '{needle}', got:\n{}",
            img.display(),
            show(&items)
        );
        assert_eq!(c, code, "{}:\n{}", img.display(), show(&items));
    };
    let (c, items) = validate(&good, &[]);
    assert_eq!((c, errors(&items)), (0, 0), "{}", show(&items));

    // Bad primary header CRC: the backup is used, with a warning saying so.
    let img = copy("primary-crc.img");
    flip(&img, 512 + 16);
    expect(
        &img,
        0,
        "warning",
        None,
        "primary GPT damaged (header at LBA 1: CRC mismatch",
    );
    assert_eq!(validate(&img, &["--strict"]).0, 1);
    assert_eq!(inspect_json(&img)["table"]["source"], "gpt_backup");

    // Both headers bad.
    let img = copy("both-bad.img");
    flip(&img, 512 + 16);
    flip(&img, last + 16);
    expect(
        &img,
        1,
        "error",
        None,
        "GPT damaged: primary: header at LBA 1: CRC mismatch",
    );

    // Entry array CRC wrong (a name byte of the primary array changed).
    let img = copy("entry-crc.img");
    flip(&img, 2 * 512 + 56);
    expect(&img, 0, "warning", None, "partition entry array at LBA 2");
    // … in both arrays: an error.
    flip(&img, last - 32 * 512 + 56);
    expect(&img, 1, "error", None, "CRC mismatch");

    // Tables with a problem in the layout (CRCs correct).
    let variant = |name: &str, edit: &dyn Fn(&mut Gpt)| {
        let img = dir.join(name);
        let mut g = esxi::layout(&opts);
        edit(&mut g);
        esxi::build_with(&img, &opts, g).unwrap();
        img
    };
    let img = variant("overlap.img", &|g| {
        let p6 = g.parts.iter_mut().find(|p| p.number == 6).unwrap();
        p6.first_lba = 8595455 - 1000; // 1000 sectors into partition 5
        p6.last_lba -= 4096;
    });
    expect(&img, 1, "error", Some(6), "overlap");

    let img = variant("past-end.img", &|g| {
        let e = g.parts.iter_mut().find(|p| p.number == 8).unwrap();
        e.last_lba = g.disk_sectors + 100;
    });
    expect(&img, 1, "error", Some(8), "past the end of the disk");

    let img = variant("no-p1.img", &|g| g.parts.retain(|p| p.number != 1));
    expect(&img, 1, "error", Some(1), "missing");

    let img = variant("p6-type.img", &|g| {
        g.parts
            .iter_mut()
            .find(|p| p.number == 6)
            .unwrap()
            .type_guid = sg::guid(sg::types::LINUX);
    });
    expect(
        &img,
        1,
        "error",
        Some(6),
        "the BOOTBANK2 (altbootbank) must be",
    );

    let img = copy("p6-no-fat.img");
    write_at(&img, built.range(6).unwrap().start, &[0u8; 512]);
    expect(&img, 1, "error", Some(6), "must hold a FAT filesystem");

    let img = variant("after-datastore.img", &|g| {
        let ds = g.parts.iter_mut().find(|p| p.number == 8).unwrap();
        let end = ds.last_lba;
        ds.last_lba = end - 4096;
        g.parts.push(sg::Part {
            number: 9,
            first_lba: end - 2048,
            last_lba: end,
            type_guid: sg::guid(sg::types::LINUX),
            unique_guid: sg::seeded_guid(9, 9),
            name: "extra".into(),
        });
    });
    expect(&img, 1, "error", Some(9), "sits after the datastore");

    // 6.x: a partition after datastore 3.
    let o6 = Options {
        datastore_volume: Volume::Blank,
        ..v67()
    };
    let img = dir.join("after-datastore-6.img");
    let mut g = esxi::layout(&o6);
    let ds = g.parts.iter_mut().find(|p| p.number == 3).unwrap();
    let end = ds.last_lba;
    ds.last_lba = end - 4096;
    g.parts.push(sg::Part {
        number: 4,
        first_lba: end - 2048,
        last_lba: end,
        type_guid: sg::guid(sg::types::BASIC_DATA),
        unique_guid: sg::seeded_guid(9, 4),
        name: String::new(),
    });
    esxi::build_with(&img, &o6, g).unwrap();
    expect(
        &img,
        1,
        "error",
        Some(4),
        "sits after the datastore (partition 3)",
    );

    // Truncated image (the tail with the backup GPT is gone).
    let img = copy("truncated.img");
    let f = OpenOptions::new().write(true).open(&img).unwrap();
    f.set_len(opts.disk_size - 4 * GIB).unwrap();
    drop(f);
    expect(&img, 1, "error", None, "image truncated");
    expect(&img, 1, "error", Some(8), "past the end of the disk");
}

#[test]
fn mbr_only_disk_generic_ok_esxi_not() {
    let dir = Dir::new();
    let img = dir.join("win.img");
    dir.sh("truncate -s 64M win.img && printf 'label: dos\\nstart=2048, size=20480, type=7\\n' | sfdisk -q win.img");
    let (code, items) = validate(&img, &[]);
    assert_eq!(code, 0, "{}", show(&items));
    assert!(has(&items, "info", None, "MBR partition table only"));
    let (code, items) = validate(&img, &["--profile", "esxi"]);
    assert_eq!(code, 1);
    assert!(has(&items, "error", None, "MBR partition table only"));
    let j = inspect_json(&img);
    assert_eq!(j["table"]["source"], "mbr");
    assert_eq!(j["partitions"][0]["type"], "0x07");
    assert_eq!(j["partitions"][0]["content"]["kind"], "blank");
}

#[test]
fn unreadable_input_exits_3() {
    let dir = Dir::new();
    let out = dir.ddgz(&["inspect", "missing.img"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = dir.ddgz(&["validate", "missing.img"]);
    assert_eq!(out.status.code(), Some(3));
    // No partition table at all: validate says so and fails; inspect still reports.
    dir.sh("truncate -s 8M zero.img");
    let (code, items) = validate(&dir.join("zero.img"), &[]);
    assert_eq!(code, 1);
    assert!(has(&items, "error", None, "no partition table"));
    let j = inspect_json(&dir.join("zero.img"));
    assert_eq!(j["table"], Value::Null);
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The documented `--json` shape (src/cmd/inspect.rs), pinned.
#[test]
fn inspect_json_shape_is_pinned() {
    let dir = Dir::new();
    let img = dir.join("esxi70.img");
    esxi::build(&img, &v7(true)).unwrap();
    let j = inspect_json(&img);
    let k = |v: &Value| keys(v).join(",");
    assert_eq!(
        k(&j),
        "disk_size,esxi,filesystem,findings,image,linux,lvm,partitions,schema_version,table,windows"
    );
    assert_eq!(j["schema_version"], 2);
    assert_eq!(
        k(&j["image"]),
        "allocated_bytes,container,format,named_files,path,virtual_size"
    );
    assert_eq!(j["image"]["format"], "raw");
    assert_eq!(
        k(&j["image"]["container"]),
        "allocation_unit,allocation_unit_size,backing_chain,details,subformat"
    );
    assert_eq!(j["image"]["container"]["subformat"], Value::Null);
    assert_eq!(
        k(&j["table"]),
        "disk_guid,first_usable_lba,last_usable_lba,source"
    );
    let parts = j["partitions"].as_array().unwrap();
    let numbers: Vec<u64> = parts
        .iter()
        .map(|q| q["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 5, 6, 7, 8]);
    for q in parts {
        assert_eq!(
            k(q),
            "content,filesystem,first_lba,guid,last_lba,name,number,size,type,type_name"
        );
    }
    assert_eq!(
        k(&parts[0]["content"]),
        "cluster_size,fat_type,free_bytes,kind,label,root_entries,total_bytes,volume_id"
    );
    assert_eq!(
        k(&parts[3]["content"]),
        "block_size,ctime,device_uuid,disk_block_size,extents,flavor,fs_minor,fs_version,kind,label,lv_size,lv_uuid,lvm_version,mode,segments,uuid,version_name"
    );
    assert_eq!(parts[3]["content"]["flavor"], "VMFS-L");
    // What each filesystem says of itself (ddgz-volumes): FAT's own facts, VMFS named.
    assert_eq!(
        k(&parts[0]["filesystem"]),
        "cluster_size,fat_type,kind,label,volume_id"
    );
    assert_eq!(parts[3]["filesystem"]["kind"], "other");
    assert_eq!(parts[3]["filesystem"]["what"], "VMFS");
    assert_eq!(j["filesystem"], Value::Null);
    assert_eq!(j["lvm"], Value::Null);
    assert_eq!(parts[3]["type"], "4EB2EA39-7855-4790-A79E-FAE495E21F8D");
    assert_eq!(parts[3]["type_name"], "VMware VMFS-L");
    assert_eq!(parts[3]["name"], "OSDATA");
    assert_eq!(
        k(&j["esxi"]),
        "generation,reference_lbas,variant,version,version_missing"
    );
    assert_eq!(k(&j["findings"]), "items,maas_readiness,profile");
    assert_eq!(
        k(&j["findings"]["maas_readiness"]),
        "advisory,checked,items"
    );
    let readiness = j["findings"]["maas_readiness"]["items"].as_array().unwrap();
    for i in j["findings"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(readiness)
    {
        assert_eq!(k(i), "allowed,code,message,partition,severity");
    }
    // validate --json
    let out = ddgz()
        .args(["validate", p(&img), "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(k(&v), "items,maas_readiness,ok,profile,schema_version");
    assert_eq!(v["ok"], true);
    // And the human form names the layout and the partitions.
    let out = ddgz().args(["inspect", p(&img)]).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("layout:     ESXi 7.0/8.0"), "{text}");
    assert!(text.contains("VMFS6-L"), "{text}");
}

/// A qcow2 image: the container is described, the partitions are those of the raw disk.
#[test]
fn qcow2_container_is_described() {
    let dir = Dir::new();
    let raw = dir.join("esxi.img");
    esxi::packer_maas(&raw, 5).unwrap();
    dir.sh("qemu-img convert -f raw -O qcow2 -o compression_type=zlib esxi.img esxi.qcow2");
    let q = inspect_json(&dir.join("esxi.qcow2"));
    let r = inspect_json(&raw);
    assert_eq!(q["image"]["format"], "qcow2");
    let c = &q["image"]["container"];
    assert_eq!(c["subformat"], "v3");
    assert_eq!(c["allocation_unit"], "cluster");
    assert_eq!(c["allocation_unit_size"], 65536);
    assert_eq!(c["details"]["compression"], "zlib");
    assert_eq!(c["backing_chain"], serde_json::json!([]));
    assert_eq!(q["image"]["virtual_size"], 32u64 << 30);
    assert!(q["image"]["allocated_bytes"].as_u64().unwrap() < 64 << 20);
    assert_eq!(q["partitions"], r["partitions"]);
    assert_eq!(q["findings"], r["findings"]);
    let out = ddgz()
        .args(["inspect", p(&dir.join("esxi.qcow2"))])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("container:  qcow2 v3, 64 KiB clusters, compression zlib"),
        "{}",
        stdout(&out)
    );
}
