//! An XFS root written through the generic walk equals GNU tar of the mounted tree
//! (`tar -Scpf --acls --selinux --xattrs --one-file-system`), both extracted with
//! curtin's flags: content, types, modes, owners, mtimes, xattrs, ACLs, devices, hard
//! links, sparse files. Needs root (loop mount), mkfs.xfs, setfacl, setfattr and GNU
//! tar; prints why it skips otherwise.

use std::path::Path;
use std::process::Command;

use ddgz_disk::{Disk, RawDisk};
use ddgz_tar::tree::write_fs;

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Types, modes, owners, sizes, mtimes with nanoseconds, link counts and targets; device
/// numbers; every xattr; ACLs. Left out: `trusted.SGI_ACL_FILE`/`_DEFAULT`, XFS's raw
/// on-disk ACLs, which the kernel lists to root beside `system.posix_acl_*` (so GNU tar
/// run as root stores them too); the reader gives the ACLs once, in the kernel's form.
const LISTING: &str = r#"cd "$1" && { find . ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'; find . -type d -printf '%p %y %m %U %G - %T@ %n\n'; } | LC_ALL=C sort
find . \( -type b -o -type c \) -exec stat -c '%n %t %T' {} + | LC_ALL=C sort
find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex --absolute-names 2>/dev/null | grep -v '^trusted[.]SGI_ACL_'
find . ! -type l -print0 | LC_ALL=C sort -z | xargs -0 getfacl -n -P 2>/dev/null"#;

/// Fills the mounted filesystem: a leaf directory, shortform and leaf xattrs, ACLs, a
/// SELinux label, a hard link, inline and remote symlinks, devices, a fifo, a sparse
/// file, a large uid, nanosecond and pre-1970 times.
const FILL: &str = r#"cd mnt
mkdir -p etc usr/bin var/log big/leaf acl
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n' > etc/passwd
printf 'root:x:0:\nalice:x:1002:\n' > etc/group
chown 1001:1002 etc/passwd; chmod 664 etc/passwd
printf 'hello\n' > usr/bin/text; chown 3000000:0 usr/bin/text
head -c 300000 /dev/urandom > usr/bin/big; chmod 4755 usr/bin/big
ln usr/bin/big usr/bin/big-link
ln -s text usr/bin/short
ln -s "$(printf 'x/%.0s' $(seq 300))end" usr/bin/long
truncate -s 50M sparse; printf data | dd of=sparse bs=1 seek=10000000 conv=notrunc 2>/dev/null
mknod dev-null c 1 3; mknod nvme b 259 70000; mkfifo fifo
chmod 1777 var/log
for i in $(seq 400); do touch big/leaf/entry-with-a-longish-name-$i; done
setfattr -n user.small -v hi usr/bin/text
setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' v)" usr/bin/text
for i in $(seq 60); do setfattr -n user.many-$i -v value-$i usr/bin/big; done
setfattr -n security.selinux -v system_u:object_r:bin_t:s0 usr/bin/big
setfacl -m u:1234:rw- acl; setfacl -d -m g:55:r-x acl
touch acl/f; setfacl -m u:1234:r-- acl/f
touch -d '2001-02-03 04:05:06.123456789' usr/bin/text
touch -h -d '1960-06-07 08:09:10.5' usr/bin/short
"#;

#[test]
fn tar_of_xfs_equals_gnu_tar_of_the_mount() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skip: needs root to loop-mount XFS");
        return;
    }
    for t in [
        "mkfs.xfs", "setfacl", "getfacl", "setfattr", "getfattr", "tar",
    ] {
        if !have(t) {
            eprintln!("skip: needs {t}");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(
        d,
        "truncate -s 300M xfs.img && mkfs.xfs -q -f xfs.img && mkdir mnt a b",
    );
    if Command::new("mount")
        .args(["-o", "loop", "xfs.img", "mnt"])
        .current_dir(d)
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("skip: mount -o loop failed");
        return;
    }
    let filled = Command::new("sh")
        .args(["-ec", FILL])
        .current_dir(d)
        .output()
        .unwrap();
    sh(d, "umount mnt");
    assert!(
        filled.status.success(),
        "{}",
        String::from_utf8_lossy(&filled.stderr)
    );

    let disk = RawDisk::open(&d.join("xfs.img")).unwrap();
    let fs = ddgz_xfs::Fs::open(&disk, 0, disk.size()).unwrap();
    let names = ddgz_tar::Names::from_fs(&fs);
    assert_eq!(names.user(1001), Some(&b"alice"[..]));
    let mut tar = ddgz_tar::Writer::new(std::fs::File::create(d.join("ours.tar")).unwrap());
    let mut report = ddgz_tar::Report::default();
    write_fs(
        &fs,
        fs.root_ino(),
        b"./",
        &mut tar,
        &ddgz_tar::Options::default(),
        &names,
        &mut report,
    )
    .unwrap();
    tar.finish().unwrap();
    assert_eq!(
        (report.hard_links, report.sparse_files),
        (1, 1),
        "{report:?}"
    );

    std::fs::write(d.join("listing.sh"), LISTING).unwrap();
    sh(
        d,
        "mount -o loop,ro xfs.img mnt; r=0
         tar -Scpf ref.tar --acls --selinux --xattrs --one-file-system -C mnt . 2>tar.err || r=$?
         umount mnt; [ $r -le 1 ] || { cat tar.err; exit 1; }
         tar -Sxpf ref.tar --xattrs --xattrs-include='*' --acls --numeric-owner -C a
         tar -Sxpf ours.tar --xattrs --xattrs-include='*' --acls --numeric-owner -C b
         sh listing.sh a > a.lst; sh listing.sh b > b.lst
         diff -r --no-dereference a b > content.diff 2>&1 || true",
    );
    let a = std::fs::read_to_string(d.join("a.lst")).unwrap();
    let b = std::fs::read_to_string(d.join("b.lst")).unwrap();
    // What the fill made, so that the comparison is not vacuous.
    for needle in [
        "./nvme 103 11170",
        "./dev-null 1 3",
        "./usr/bin/text f 644 3000000 0 6 981173106.123456789",
        "security.selinux=0x73797374656d5f75",
        "user.big=",
        "user.many-60=",
        "user:1234:rw-",
        "default:group:55:r-x",
        "./usr/bin/big f 4755 0 0 300000",
        "./var/log d 1777",
        "./etc/passwd f 664 1001 1002",
        "./fifo p",
        "./big/leaf/entry-with-a-longish-name-400 f",
    ] {
        assert!(
            a.contains(needle),
            "the oracle listing lacks {needle:?}:\n{a}"
        );
    }
    if a != b {
        let diff = sh(d, "diff a.lst b.lst || true");
        panic!("ddgz's XFS tarball differs from GNU tar of the mount (< GNU, > ddgz):\n{diff}");
    }
    let content = std::fs::read_to_string(d.join("content.diff")).unwrap();
    let real: Vec<&str> = content
        .lines()
        .filter(|l| !l.contains("is a fifo while") && !l.contains("special file while"))
        .collect();
    assert!(real.is_empty(), "content differs:\n{}", real.join("\n"));
}
