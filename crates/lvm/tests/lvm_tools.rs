//! Against the real lvm2 tools: volume groups made by `pvcreate`/`vgcreate`/`lvcreate`
//! on loop devices (as root, with activation off: this machine kind has no
//! device-mapper), data written with plain file writes at the offsets `pvs`/`vgs`/`lvs`
//! report, and every logical volume read through ddgz-lvm compared with the bytes there.
//! The expected bytes are computed here from the tools' own report (`seg_pe_ranges`,
//! `stripes`, `stripe_size`), not from the crate.
//!
//! Skips, saying why, without root, loop devices or the lvm tools.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ddgz_disk::{Disk, ExtentKind, RawDisk};
use ddgz_lvm::{Error, Slice, VolumeGroup};

/// Loop devices over image files (or byte ranges of them), detached on drop, and the
/// `--config` that shows lvm only those devices and writes nothing under /etc.
struct Lab {
    dir: tempfile::TempDir,
    loops: Vec<String>,
    config: String,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Lab {
    /// A lab, or `None` after printing why the test skips.
    fn new(test: &str) -> Option<Self> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        let why = if !root {
            Some("not root (loop devices and lvm need it)")
        } else if !Path::new("/dev/loop-control").exists() {
            Some("no /dev/loop-control")
        } else if !have("lvm") || !have("losetup") {
            Some("lvm2 or losetup not installed")
        } else {
            None
        };
        if let Some(why) = why {
            eprintln!("{test}: skipped: {why}");
            return None;
        }
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            loops: Vec::new(),
            config: String::new(),
        })
    }

    /// A sparse image file of `mib` MiB.
    fn image(&self, name: &str, mib: u64) -> PathBuf {
        let p = self.dir.path().join(name);
        File::create(&p).unwrap().set_len(mib << 20).unwrap();
        p
    }

    /// Attaches `[offset, offset + len)` of `path` to a free loop device.
    fn attach(&mut self, path: &Path, offset: u64, len: u64) -> String {
        let out = Command::new("losetup")
            .args(["-f", "--show", "--offset", &offset.to_string()])
            .args(["--sizelimit", &len.to_string()])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        self.loops.push(dev.clone());
        let accept: String = self
            .loops
            .iter()
            .map(|d| format!("\"a|^{d}$|\", "))
            .collect();
        self.config = format!(
            "global {{ activation = 0 }} \
             devices {{ filter = [ {accept}\"r|.*|\" ] global_filter = [ {accept}\"r|.*|\" ] \
             use_devicesfile = 0 obtain_device_list_from_udev = 0 }} \
             backup {{ backup = 0 archive = 0 }}"
        );
        dev
    }

    /// Runs `lvm CMD ARGS… --config …`; panics with its stderr on failure.
    fn lvm(&self, cmd: &str, args: &[&str]) -> String {
        let out = Command::new("lvm")
            .arg(cmd)
            .args(args)
            .args(["--config", &self.config])
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lvm {cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One report field per line, `;`-separated columns, sizes in bytes.
    fn report(&self, cmd: &str, fields: &str, extra: &[&str]) -> Vec<Vec<String>> {
        let mut args = vec![
            "--noheadings",
            "--nosuffix",
            "--units",
            "b",
            "--separator",
            ";",
            "-o",
            fields,
        ];
        args.extend_from_slice(extra);
        self.lvm(cmd, &args)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().split(';').map(|f| f.trim().to_owned()).collect())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in &self.loops {
            let _ = Command::new("losetup").args(["-d", d]).status();
        }
    }
}

/// Where a loop device's bytes are: the image file and the offset of its window.
struct Backing {
    dev: String,
    file: PathBuf,
    offset: u64,
}

/// Fills `[offset, offset + len)` of `file` with sectors stamped with `tag` and their
/// position, so any misplaced sector shows.
fn stamp(file: &Path, offset: u64, len: u64, tag: u8) {
    let f = OpenOptions::new().write(true).open(file).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = 0;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64);
        for (i, s) in buf[..n as usize].chunks_mut(512).enumerate() {
            s.fill(tag);
            s[..8].copy_from_slice(&(offset + pos + i as u64 * 512).to_le_bytes());
        }
        f.write_all_at(&buf[..n as usize], offset + pos).unwrap();
        pos += n;
    }
}

/// Where each LV's bytes are, as the lvm tools describe them: `lvs --segments` for the
/// ranges, stripes and stripe size, `pvs` for `pe_start`, `vgs` for the extent size;
/// per LV, runs `(LV offset, length, file, offset in the file)` in LV order. This is
/// dm-stripe's definition (chunk `c` is row `c / n` of stripe `c % n`), written here
/// apart from the crate's.
#[allow(clippy::type_complexity)]
fn runs(lab: &Lab, vg: &str, backing: &[Backing]) -> Vec<(String, Vec<(u64, u64, PathBuf, u64)>)> {
    let es: u64 = lab.report("vgs", "vg_extent_size", &[vg])[0][0]
        .parse()
        .unwrap();
    let pe_start = |dev: &str| -> u64 {
        let rows = lab.report("pvs", "pv_name,pe_start", &[]);
        rows.iter().find(|r| r[0] == dev).unwrap()[1]
            .parse()
            .unwrap()
    };
    let rows = lab.report(
        "lvs",
        "lv_name,seg_start_pe,seg_size_pe,segtype,stripes,stripe_size,seg_pe_ranges",
        &["--segments", vg],
    );
    let mut out: Vec<(String, Vec<(u64, u64, PathBuf, u64)>)> = Vec::new();
    let mut other = Vec::new();
    for r in rows {
        if r[3] != "linear" && r[3] != "striped" {
            other.push(r[0].clone());
            continue;
        }
        let (name, start, count, n, ss) = (
            r[0].clone(),
            r[1].parse::<u64>().unwrap(),
            r[2].parse::<u64>().unwrap(),
            r[4].parse::<u64>().unwrap(),
            r[5].parse::<u64>().unwrap(),
        );
        let len = count * es;
        let ss = if n == 1 { len } else { ss };
        // "/dev/loop3:0-1 /dev/loop4:0-1": first extent of each stripe.
        let areas: Vec<(&Backing, u64)> = r[6]
            .split_whitespace()
            .map(|a| {
                let (dev, range) = a.rsplit_once(':').unwrap();
                let first: u64 = range.split('-').next().unwrap().parse().unwrap();
                let b = backing.iter().find(|b| b.dev == dev).unwrap();
                (b, b.offset + pe_start(dev) + first * es)
            })
            .collect();
        assert_eq!(areas.len() as u64, n);
        let lv = match out.iter_mut().find(|(n, _)| *n == name) {
            Some(lv) => lv,
            None => {
                out.push((name.clone(), Vec::new()));
                out.last_mut().unwrap()
            }
        };
        let seg_start = start * es;
        let have: u64 = lv.1.iter().map(|r| r.1).sum();
        assert_eq!(have, seg_start, "segments of {name} in order");
        let mut o = 0;
        while o < len {
            let (chunk, within) = (o / ss, o % ss);
            let (b, base) = areas[(chunk % n) as usize];
            let take = (ss - within).min(len - o);
            lv.1.push((
                seg_start + o,
                take,
                b.file.clone(),
                base + (chunk / n) * ss + within,
            ));
            o += take;
        }
    }
    out.retain(|(n, _)| !other.contains(n));
    out
}

/// The bytes of every LV, read from the files behind the loop devices along [`runs`].
fn expected(lab: &Lab, vg: &str, backing: &[Backing]) -> Vec<(String, Vec<u8>)> {
    runs(lab, vg, backing)
        .into_iter()
        .map(|(name, runs)| {
            let mut bytes = Vec::new();
            for (_, len, file, at) in runs {
                let mut b = vec![0u8; len as usize];
                File::open(file).unwrap().read_exact_at(&mut b, at).unwrap();
                bytes.extend_from_slice(&b);
            }
            (name, bytes)
        })
        .collect()
}

/// Writes `data` at the start of LV `lv` along [`runs`], as a filesystem tool would
/// through the activated volume.
fn write_lv(lab: &Lab, vg: &str, backing: &[Backing], lv: &str, data: &[u8]) {
    let all = runs(lab, vg, backing);
    let (_, runs) = all.iter().find(|(n, _)| n == lv).unwrap();
    for (off, len, file, at) in runs {
        if *off >= data.len() as u64 {
            break;
        }
        let n = (*len).min(data.len() as u64 - off) as usize;
        let f = OpenOptions::new().write(true).open(file).unwrap();
        f.write_all_at(&data[*off as usize..*off as usize + n], *at)
            .unwrap();
    }
}

/// Reads every LV through ddgz-lvm and compares it with `want`; zero extents must read
/// as zeros.
fn check_all<D: Disk>(vg: &VolumeGroup<D>, want: &[(String, Vec<u8>)]) {
    assert_eq!(vg.lvs().len(), want.len());
    for (name, bytes) in want {
        let lv = vg.open_lv(name).unwrap();
        assert_eq!(lv.size(), bytes.len() as u64, "{name}");
        let mut got = vec![0u8; bytes.len()];
        lv.read_at(0, &mut got).unwrap();
        assert!(
            got == *bytes,
            "{name}: content differs from the lvm tools' mapping"
        );
        // Odd-sized reads across chunk and segment boundaries.
        let mut pos = 0u64;
        let mut step = 4095u64;
        while pos < lv.size() {
            let n = step.min(lv.size() - pos);
            let mut b = vec![0u8; n as usize];
            lv.read_at(pos, &mut b).unwrap();
            assert!(
                b == bytes[pos as usize..(pos + n) as usize],
                "{name} at {pos}"
            );
            pos += n;
            step = step * 7 % 300_007 + 1;
        }
        let ext = lv.extents(0, lv.size()).unwrap();
        assert_eq!(ext.iter().map(|e| e.len).sum::<u64>(), lv.size());
        for e in ext.iter().filter(|e| e.kind == ExtentKind::Zero) {
            assert!(bytes[e.offset as usize..e.end() as usize]
                .iter()
                .all(|&b| b == 0));
        }
    }
}

fn open_vg(files: &[(&Path, u64, u64)]) -> VolumeGroup<Slice<RawDisk>> {
    VolumeGroup::open(
        files
            .iter()
            .map(|&(p, off, len)| Slice::new(RawDisk::open(p).unwrap(), off, len).unwrap()),
    )
    .unwrap()
}

#[test]
fn one_pv_linear_volumes_with_several_segments_and_holes() {
    let Some(mut lab) = Lab::new("one_pv_linear_volumes_with_several_segments_and_holes") else {
        return;
    };
    let img = lab.image("one.img", 64);
    let dev = lab.attach(&img, 0, 64 << 20);
    lab.lvm("pvcreate", &[&dev]);
    lab.lvm("vgcreate", &["-s", "1m", "vg1", &dev]);
    lab.lvm("lvcreate", &["-an", "-Zn", "-L", "8m", "-n", "root", "vg1"]);
    lab.lvm("lvcreate", &["-an", "-Zn", "-L", "3m", "-n", "swap", "vg1"]);
    lab.lvm("lvextend", &["-L", "+5m", "vg1/root"]);
    lab.lvm("lvcreate", &["-an", "-Zn", "-L", "2m", "-n", "home", "vg1"]);
    lab.lvm("lvextend", &["-L", "+2m", "vg1/swap"]);
    // The data area stamped except for a hole of 2 MiB from 10 MiB: the LVs over it
    // must map it as zeros.
    stamp(&img, 1 << 20, 9 << 20, 1);
    stamp(&img, 12 << 20, 40 << 20, 2);
    let backing = [Backing {
        dev,
        file: img.clone(),
        offset: 0,
    }];
    let want = expected(&lab, "vg1", &backing);
    let vg = open_vg(&[(&img, 0, 64 << 20)]);
    assert_eq!(vg.name(), "vg1");
    let seqno: u64 = lab.report("vgs", "vg_seqno", &["vg1"])[0][0]
        .parse()
        .unwrap();
    assert_eq!(vg.seqno(), seqno, "the newest of the committed copies");
    assert!(vg
        .lvs()
        .iter()
        .any(|l| l.name == "root" && l.segments.len() == 2));
    check_all(&vg, &want);
    let swap = vg.open_lv("swap").unwrap();
    assert!(
        swap.extents(0, swap.size())
            .unwrap()
            .iter()
            .any(|e| e.kind == ExtentKind::Zero),
        "the hole in the PV is a zero extent of the LV"
    );
    assert!(matches!(vg.open_lv("nope"), Err(Error::NotFound(_))));
}

#[test]
fn striped_over_two_partitions_and_a_vg_over_two_pvs() {
    let Some(mut lab) = Lab::new("striped_over_two_partitions_and_a_vg_over_two_pvs") else {
        return;
    };
    // One disk image, two partitions of 40 MiB at 1 MiB and 41 MiB (the window each
    // loop device shows), and a second image as a third PV of another VG.
    let img = lab.image("disk.img", 96);
    let (p1, p2, plen) = (1u64 << 20, 41u64 << 20, 40u64 << 20);
    let d1 = lab.attach(&img, p1, plen);
    let d2 = lab.attach(&img, p2, plen);
    lab.lvm("pvcreate", &[&d1, &d2]);
    lab.lvm("vgcreate", &["-s", "1m", "vg2", &d1, &d2]);
    lab.lvm(
        "lvcreate",
        &[
            "-an", "-Zn", "-i", "2", "-I", "64k", "-L", "16m", "-n", "data", "vg2",
        ],
    );
    lab.lvm(
        "lvcreate",
        &[
            "-an", "-Zn", "-i", "2", "-I", "4k", "-L", "4m", "-n", "small", "vg2",
        ],
    );
    // Linear, filling the first PV (39 extents, 10 used) and continuing on the second.
    lab.lvm(
        "lvcreate",
        &["-an", "-Zn", "-L", "34m", "-n", "span", "vg2"],
    );
    stamp(&img, p1 + (1 << 20), plen - (1 << 20), 3);
    stamp(&img, p2 + (1 << 20), plen - (3 << 20), 4);
    let backing = [
        Backing {
            dev: d1,
            file: img.clone(),
            offset: p1,
        },
        Backing {
            dev: d2,
            file: img.clone(),
            offset: p2,
        },
    ];
    // An ext4 filesystem in the striped LV, written through the tools' mapping and read
    // back through ddgz-lvm and ddgz-ext4.
    let tree = lab.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/os-release"), "ID=lvm-test\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(tree.join("big"), &big).unwrap();
    let fs = lab.dir.path().join("fs.img");
    File::create(&fs).unwrap().set_len(16 << 20).unwrap();
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "4096", "-d"])
        .arg(&tree)
        .arg(&fs)
        .status()
        .unwrap();
    assert!(mkfs.success());
    write_lv(&lab, "vg2", &backing, "data", &std::fs::read(&fs).unwrap());
    let want = expected(&lab, "vg2", &backing);
    let segs = lab.report("lvs", "lv_name,stripes", &["--segments", "vg2"]);
    assert!(
        segs.iter().any(|r| r[0] == "data" && r[1] == "2"),
        "{segs:?}"
    );
    assert!(
        segs.iter().filter(|r| r[0] == "span").count() >= 2,
        "{segs:?}"
    );
    // The PVs given in either order.
    let vg = open_vg(&[(&img, p2, plen), (&img, p1, plen)]);
    check_all(&vg, &want);
    let data = vg.open_lv("data").unwrap();
    let fs = ddgz_ext4::Fs::open(&data, 0, data.size()).unwrap();
    let osr = fs.lookup(b"/etc/os-release", true).unwrap().unwrap();
    assert_eq!(fs.read_small(&osr, 1 << 20).unwrap(), b"ID=lvm-test\n");
    let b = fs.lookup(b"/big", true).unwrap().unwrap();
    assert!(fs.read_small(&b, 4 << 20).unwrap() == big);
    // Without the second PV the striped LV names what is missing.
    let one =
        VolumeGroup::open([Slice::new(RawDisk::open(&img).unwrap(), p1, plen).unwrap()]).unwrap();
    assert_eq!(one.missing_pvs().len(), 1);
    let e = one.open_lv("data").unwrap_err();
    assert!(matches!(e, Error::MissingPv { .. }), "{e}");
}

/// Edits the VG's metadata with `vgcfgbackup`, a text change and `vgcfgrestore --force`:
/// lvm cannot create thin pools or snapshots without device-mapper, but it writes
/// metadata describing them.
fn restore_with(lab: &Lab, vg: &str, edit: impl FnOnce(&str) -> String) {
    let file = lab.dir.path().join(format!("{vg}.cfg"));
    lab.lvm("vgcfgbackup", &["-f", file.to_str().unwrap(), vg]);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, edit(&text)).unwrap();
    lab.lvm(
        "vgcfgrestore",
        &["--force", "-f", file.to_str().unwrap(), vg],
    );
}

#[test]
fn thin_pools_and_snapshots_are_named_unsupported() {
    let Some(mut lab) = Lab::new("thin_pools_and_snapshots_are_named_unsupported") else {
        return;
    };
    let img = lab.image("thin.img", 64);
    let dev = lab.attach(&img, 0, 64 << 20);
    lab.lvm("pvcreate", &[&dev]);
    lab.lvm("vgcreate", &["-s", "1m", "vg3", &dev]);
    for (name, size) in [
        ("orig", "4m"),
        ("cow", "2m"),
        ("pmeta", "1m"),
        ("pdata", "8m"),
    ] {
        lab.lvm("lvcreate", &["-an", "-Zn", "-L", size, "-n", name, "vg3"]);
    }
    let id = "AAAAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAAA";
    restore_with(&lab, "vg3", |t| {
        // Rename and hide the pool's sub-volumes (lvcreate refuses the reserved names),
        // then add the pool, a thin volume and a snapshot of `orig` whose store is `cow`.
        let mut t = t.to_owned();
        for (old, sub) in [("pmeta", "pool_tmeta"), ("pdata", "pool_tdata")] {
            t = t.replace(&format!("\t\t{old} {{"), &format!("\t\t{sub} {{"));
            let at = t.find(&format!("\t\t{sub} {{")).unwrap();
            let st = at
                + t[at..]
                    .find("status = [\"READ\", \"WRITE\", \"VISIBLE\"]")
                    .unwrap();
            t.replace_range(st..st + 37, "status = [\"READ\", \"WRITE\"]");
        }
        let extra = format!(
            "\t\tpool {{\n\t\t\tid = \"{}\"\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\
             \t\t\tflags = []\n\t\t\tsegment_count = 1\n\t\t\tsegment1 {{\n\
             \t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 8\n\t\t\t\ttype = \"thin-pool\"\n\
             \t\t\t\tmetadata = \"pool_tmeta\"\n\t\t\t\tpool = \"pool_tdata\"\n\
             \t\t\t\ttransaction_id = 1\n\t\t\t\tchunk_size = 128\n\t\t\t\tdiscards = \"passdown\"\n\
             \t\t\t\tzero_new_blocks = 0\n\t\t\t}}\n\t\t}}\n\
             \t\tthin1 {{\n\t\t\tid = \"{}\"\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\
             \t\t\tflags = []\n\t\t\tsegment_count = 1\n\t\t\tsegment1 {{\n\
             \t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 16\n\t\t\t\ttype = \"thin\"\n\
             \t\t\t\tthin_pool = \"pool\"\n\t\t\t\ttransaction_id = 0\n\t\t\t\tdevice_id = 1\n\
             \t\t\t}}\n\t\t}}\n\
             \t\tsnapshot0 {{\n\t\t\tid = \"{}\"\n\t\t\tstatus = [\"READ\"]\n\
             \t\t\tflags = []\n\t\t\tsegment_count = 1\n\t\t\tsegment1 {{\n\
             \t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 4\n\t\t\t\ttype = \"snapshot\"\n\
             \t\t\t\tchunk_size = 8\n\t\t\t\torigin = \"orig\"\n\t\t\t\tcow_store = \"cow\"\n\
             \t\t\t}}\n\t\t}}\n",
            id.replace('A', "B"),
            id.replace('A', "C"),
            id.replace('A', "D"),
        );
        let end = t.rfind("\t}\n").unwrap(); // the end of logical_volumes
        t.insert_str(end, &extra);
        t
    });
    // lvm itself reads back what it wrote.
    let lvs = lab.report("lvs", "lv_name,segtype", &["-a", "vg3"]);
    for (lv, ty) in [("pool", "thin-pool"), ("thin1", "thin"), ("cow", "linear")] {
        assert!(
            lvs.iter()
                .any(|r| r[0].trim_matches(['[', ']']) == lv && r[1] == ty),
            "{lvs:?}"
        );
    }
    let vg = open_vg(&[(&img, 0, 64 << 20)]);
    for (lv, ty) in [
        ("pool", "thin-pool"),
        ("thin1", "thin"),
        ("cow", "snapshot"),
    ] {
        match vg.open_lv(lv) {
            Err(Error::Unsupported {
                lv: name, segtype, ..
            }) => {
                assert_eq!(
                    (name.as_str(), segtype.as_str()),
                    (&*format!("vg3/{lv}"), ty)
                );
            }
            other => panic!("{lv}: {other:?}"),
        }
    }
    let e = vg.open_lv("thin1").unwrap_err().to_string();
    assert!(e.contains("vg3/thin1") && e.contains("\"thin\""), "{e}");
    // The origin and the pool's sub-volumes are plain linear volumes.
    stamp(&img, 1 << 20, 16 << 20, 5);
    let want = expected(
        &lab,
        "vg3",
        &[Backing {
            dev,
            file: img.clone(),
            offset: 0,
        }],
    );
    for (name, bytes) in want.iter().filter(|(n, _)| n != "cow") {
        let lv = vg.open_lv(name).unwrap();
        let mut got = vec![0u8; bytes.len()];
        lv.read_at(0, &mut got).unwrap();
        assert!(got == *bytes, "{name}");
    }
    let hidden = vg.lvs().iter().find(|l| l.name == "pool_tdata").unwrap();
    assert!(!hidden.visible);
}

#[test]
fn the_newest_copy_wins_and_a_damaged_copy_is_passed_over() {
    let Some(mut lab) = Lab::new("the_newest_copy_wins_and_a_damaged_copy_is_passed_over") else {
        return;
    };
    let a = lab.image("a.img", 32);
    let b = lab.image("b.img", 32);
    let da = lab.attach(&a, 0, 32 << 20);
    let db = lab.attach(&b, 0, 32 << 20);
    // Two metadata areas on each PV (one at each end).
    lab.lvm("pvcreate", &["--pvmetadatacopies", "2", &da, &db]);
    lab.lvm("vgcreate", &["-s", "1m", "vg4", &da, &db]);
    lab.lvm("lvcreate", &["-an", "-Zn", "-L", "4m", "-n", "one", "vg4"]);
    // Keep b's metadata as it is now (seqno N), then change the VG twice more.
    let old_b = std::fs::read(&b).unwrap();
    lab.lvm("lvcreate", &["-an", "-Zn", "-L", "2m", "-n", "two", "vg4"]);
    lab.lvm("lvextend", &["-L", "+3m", "vg4/one"]);
    let seqno: u64 = lab.report("vgs", "vg_seqno", &["vg4"])[0][0]
        .parse()
        .unwrap();
    stamp(&a, 1 << 20, 30 << 20, 6);
    let want = expected(
        &lab,
        "vg4",
        &[
            Backing {
                dev: da,
                file: a.clone(),
                offset: 0,
            },
            Backing {
                dev: db,
                file: b.clone(),
                offset: 0,
            },
        ],
    );
    // b goes back to its stale metadata (its data area was never written); a has the
    // newest in both areas.
    std::fs::write(&b, &old_b).unwrap();
    let vg = open_vg(&[(&b, 0, 32 << 20), (&a, 0, 32 << 20)]);
    assert_eq!(vg.seqno(), seqno);
    check_all(&vg, &want);
    // Damage the text of a's first area: the copy at the end of a is still good.
    let pv = ddgz_lvm::PhysicalVolume::open(RawDisk::open(&a).unwrap()).unwrap();
    let areas = pv.label().metadata_areas.clone();
    assert_eq!(areas.len(), 2, "{areas:?}");
    let f = OpenOptions::new().read(true).write(true).open(&a).unwrap();
    let mut h = [0u8; 64];
    f.read_exact_at(&mut h, areas[0].offset).unwrap();
    let text_at = areas[0].offset + u64::from_le_bytes(h[40..48].try_into().unwrap());
    f.write_all_at(b"#", text_at + 10).unwrap();
    drop(f);
    let pv = ddgz_lvm::PhysicalVolume::open(RawDisk::open(&a).unwrap()).unwrap();
    assert_eq!(pv.refused().len(), 1, "{:?}", pv.refused());
    assert!(pv.refused()[0].contains("checksum"), "{:?}", pv.refused());
    let vg = open_vg(&[(&a, 0, 32 << 20), (&b, 0, 32 << 20)]);
    assert_eq!(vg.seqno(), seqno);
    check_all(&vg, &want);
}
