//! The reader against ntfs-3g: volumes formatted by `mkntfs` at 512 B, 4 KiB and 64 KiB
//! clusters, populated by `ntfscp` and (as root, with /dev/fuse) an `ntfs-3g` mount; the
//! crate's tree must equal `ntfsls -R`, every stream `ntfscat`, the facts `ntfsinfo -m`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::windows::{build, MANY};
use common::*;
use ddgz_ntfs::{Error, Volume};

/// The crate's recursive listing, system files (records below 16) left out as `ntfsls`
/// does, with each file's record.
fn walk(vol: &Volume<&ddgz_disk::MemoryDisk>) -> BTreeMap<String, (u64, bool)> {
    let mut out = BTreeMap::new();
    let mut hidden: Vec<String> = Vec::new();
    vol.walk(|p, e| {
        if e.file.record < 16 || hidden.iter().any(|h| p.starts_with(&format!("{h}/"))) {
            hidden.push(p.to_string());
            return Ok(());
        }
        out.insert(p.to_string(), (e.file.record, e.is_directory()));
        Ok::<(), Error>(())
    })
    .unwrap();
    out
}

/// Index nodes of directory `path`'s `$INDEX_ALLOCATION`, and how many have children.
fn index_nodes(vol: &Volume<&ddgz_disk::MemoryDisk>, path: &str) -> (usize, usize) {
    let d = vol.lookup(path).unwrap().unwrap();
    let i30: Vec<u16> = "$I30".encode_utf16().collect();
    let cs = vol.boot().cluster_size;
    let s = d
        .stream(ddgz_ntfs::attr::kind::INDEX_ALLOCATION, &i30, cs)
        .unwrap()
        .expect("an index allocation");
    let irs = u64::from(vol.boot().index_record_size);
    let vcn_size = if irs >= u64::from(cs) {
        u64::from(cs)
    } else {
        512
    };
    let (mut nodes, mut inner) = (0, 0);
    let mut at = 0;
    while at + irs <= s.len() {
        let mut b = vec![0u8; irs as usize];
        vol.read_at(&s, at, &mut b).unwrap();
        if &b[..4] == b"INDX" {
            ddgz_ntfs::fixup::unprotect(&mut b).unwrap();
            let n = ddgz_ntfs::index::parse_indx(&b, at / vcn_size).unwrap();
            nodes += 1;
            inner += usize::from(n.has_children);
        }
        at += irs;
    }
    (nodes, inner)
}

fn check(cluster: u32) {
    if let Some(why) = missing(&["mkntfs", "ntfscp", "ntfsls", "ntfscat", "ntfsinfo"]) {
        eprintln!("SKIP: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = build(dir.path(), cluster);
    let disk = disk(&img);
    let vol = Volume::open(&disk, 0, disk.0.len() as u64).unwrap();
    assert_eq!(vol.boot().cluster_size, cluster);

    let ours = walk(&vol);
    let theirs = ntfsls_tree(&img);
    assert_eq!(
        ours.keys().cloned().collect::<Vec<_>>(),
        theirs,
        "tree differs from ntfsls -R"
    );
    let mounted = no_mount().is_none();
    if mounted {
        assert!(ours.len() > MANY, "{} paths", ours.len());
    }

    let mut streams = 0;
    for (path, &(_, is_dir)) in &ours {
        let f = vol
            .lookup(path)
            .unwrap()
            .unwrap_or_else(|| panic!("lookup {path}"));
        // Case-insensitive look-up through $UpCase.
        let upper = vol
            .lookup(&path.to_uppercase())
            .unwrap()
            .expect("upper-case lookup");
        assert_eq!(upper.reference, f.reference, "{path}");
        if is_dir {
            continue;
        }
        let stat = vol.stat(&f).unwrap();
        let mut names = vec![String::new()];
        names.extend(stat.streams.iter().cloned());
        for ads in names {
            let s = vol.data(&f, &ads).unwrap().unwrap();
            let mut ours = Vec::new();
            vol.for_each_piece(&s, 64 << 10, |at, b: &[u8]| {
                assert_eq!(at, ours.len() as u64);
                ours.extend_from_slice(b);
                Ok::<(), Error>(())
            })
            .unwrap_or_else(|e| panic!("{path}:{ads}: {e}"));
            let theirs = ntfscat(&img, path, (!ads.is_empty()).then_some(ads.as_str()));
            if ads.is_empty() {
                assert_eq!(stat.size, theirs.len() as u64, "{path}: stat size");
            }
            assert!(
                ours == theirs,
                "{path}:{ads}: {} bytes here, {} from ntfscat",
                ours.len(),
                theirs.len()
            );
            streams += 1;
        }
    }
    eprintln!(
        "{cluster}-byte clusters: {} paths, {streams} streams equal to ntfscat",
        ours.len()
    );

    if mounted {
        let listed = vol.lookup("ads/listed.txt").unwrap().unwrap();
        assert!(
            listed
                .attributes
                .iter()
                .any(|(_, a)| a.type_code == ddgz_ntfs::attr::kind::ATTRIBUTE_LIST),
            "ads/listed.txt has no $ATTRIBUTE_LIST: the test does not test it"
        );
        assert_eq!(listed.stream_names().len(), 40);
        // The DOS alias: found by look-up, listed by read_dir as an alias, not walked.
        let long = vol
            .lookup("names/MixedCase Name With Spaces.Document")
            .unwrap()
            .unwrap();
        let dos = vol
            .lookup("names/mixedc~1.doc")
            .unwrap()
            .expect("look-up by DOS name");
        assert_eq!(dos.reference, long.reference);
        let names = vol.lookup("names").unwrap().unwrap();
        let aliases: Vec<String> = vol
            .read_dir(&names)
            .unwrap()
            .iter()
            .filter(|e| e.is_dos_alias())
            .map(|e| e.name_string())
            .collect();
        assert_eq!(aliases, ["MIXEDC~1.DOC"]);
        let (nodes, inner) = index_nodes(&vol, "many");
        assert!(
            inner > 0,
            "many/: {nodes} index nodes, none with children: not 3 levels"
        );
        let sparse = vol.lookup("sparse.bin").unwrap().unwrap();
        let s = vol.data(&sparse, "").unwrap().unwrap();
        assert!(
            s.flags & ddgz_ntfs::attr::FLAG_SPARSE != 0,
            "sparse.bin is not sparse"
        );
        if cluster <= 4096 {
            let c = vol.lookup("COMPRESSED/TEXT.TXT").unwrap().unwrap();
            let s = vol.data(&c, "").unwrap().unwrap();
            assert!(
                s.flags & ddgz_ntfs::attr::FLAG_COMPRESSED != 0,
                "text.txt is not compressed"
            );
        }
    }

    // Volume facts against ntfsinfo -m.
    let facts = vol.facts().unwrap();
    let info = String::from_utf8(run(Command::new("ntfsinfo").arg("-m").arg(&img))).unwrap();
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("ntfsinfo -m has no {name}\n{info}"))
    };
    assert_eq!(field("Volume Name:"), facts.label);
    assert_eq!(
        field("Volume Version:"),
        format!("{}.{}", facts.version.0, facts.version.1)
    );
    assert_eq!(field("Volume Flags:"), format!("{:#06x}", facts.flags));
    assert_eq!(field("Cluster Size:"), facts.cluster_size.to_string());
    assert_eq!(field("Sector Size:"), facts.sector_size.to_string());
    assert_eq!(
        field("Volume Size in Clusters:"),
        facts.total_clusters.to_string()
    );
    let free = field("Free Clusters:");
    assert_eq!(
        free.split_whitespace().next().unwrap(),
        facts.free_clusters.to_string()
    );
    assert!(!facts.dirty && !facts.hibernated, "{facts:?}");
    assert_eq!(facts.log, ddgz_ntfs::LogState::Clean);
    assert_eq!(facts.label, format!("DDGZ{cluster}"));
    // The serial as blkid shows it (util-linux: the NTFS "UUID").
    if have("blkid") {
        let uuid = run(Command::new("blkid")
            .args(["-p", "-o", "value", "-s", "UUID"])
            .arg(&img));
        assert_eq!(
            String::from_utf8(uuid).unwrap().trim(),
            format!("{:016X}", facts.serial)
        );
    }
}

#[test]
fn clusters_of_512_bytes() {
    check(512);
}

#[test]
fn clusters_of_4_kib() {
    check(4096);
}

#[test]
fn clusters_of_64_kib() {
    check(65536);
}
