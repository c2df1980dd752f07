//! `ddgz tar` of roots laid out as the RHEL installer lays them out: XFS on a partition,
//! and XFS in an LVM logical volume (`rl/root`) beside swap, with /boot on its own
//! bls_boot partition. The oracle is GNU tar of the loop-mounted filesystem as
//! packer-maas runs it (`tar -Scpf --acls --selinux --xattrs --one-file-system`); both
//! tarballs are extracted with curtin's flags (`tar -Sxpf - --numeric-owner --xattrs`)
//! and compared by content, type, mode, owner, mtime, link count and xattrs. Needs root
//! (loop devices, mount), mkfs.xfs, lvm, sgdisk, qemu-img; skips with the reason
//! otherwise.

use crate::util::{say, Dir};

/// A small root: os-release, passwd/group, xattrs of both XFS forms, a SELinux label, an
/// ACL, a hard link, symlinks, a device, a fifo, a sparse file, a leaf directory, times
/// with nanoseconds and before 1970.
const FILL: &str = r#"cd mnt
mkdir -p etc usr/bin var/log big boot acl
printf 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.4"\n' > etc/os-release
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n' > etc/passwd
printf 'root:x:0:\nalice:x:1002:\n' > etc/group
chown 1001:1002 etc/passwd; chmod 664 etc/passwd
printf 'hello\n' > usr/bin/text; chown 3000000:0 usr/bin/text
head -c 300000 /dev/urandom > usr/bin/big; chmod 4755 usr/bin/big
ln usr/bin/big usr/bin/big-link
ln -s text usr/bin/short
ln -s "$(printf 'x/%.0s' $(seq 300))end" usr/bin/long
truncate -s 50M sparse; printf data | dd of=sparse bs=1 seek=10000000 conv=notrunc 2>/dev/null
mknod dev-null c 1 3; mkfifo fifo
chmod 1777 var/log
for i in $(seq 300); do touch big/entry-with-a-longish-name-$i; done
setfattr -n user.small -v hi usr/bin/text
for i in $(seq 60); do setfattr -n user.many-$i -v value-$i usr/bin/big; done
setfattr -n security.selinux -v system_u:object_r:bin_t:s0 usr/bin/big
setfacl -m u:1234:rw- acl
touch -d '2001-02-03 04:05:06.123456789' usr/bin/text
touch -h -d '1960-06-07 08:09:10.5' usr/bin/short
"#;

/// What is compared of an extracted tree (trusted.SGI_ACL_*, XFS's raw ACLs which GNU
/// tar run as root also stores, left out: the reader gives ACLs once, in the kernel's
/// form).
const LISTING: &str = r#"cd "$1" && { find . ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'; find . -type d -printf '%p %y %m %U %G - %T@ %n\n'; } | LC_ALL=C sort
find . \( -type b -o -type c \) -exec stat -c '%n %t %T' {} + | LC_ALL=C sort
find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex --absolute-names 2>/dev/null | grep -v '^trusted[.]SGI_ACL_'"#;

/// Root, loop devices and the tools, or the reason to skip.
pub(crate) fn lab(test: &str) -> Option<Dir> {
    let tools =
        "mkfs.xfs xfs_io mkfs.ext4 sgdisk qemu-img lvm losetup setfattr getfattr setfacl tar";
    let d = Dir::new();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "[ \"$(id -u)\" = 0 ] && [ -e /dev/loop-control ] && for t in {tools}; do \
             command -v $t >/dev/null || exit 1; done && truncate -s 300M probe.img && \
             mkfs.xfs -q probe.img && mkdir probe && mount -o loop probe.img probe && \
             umount probe"
        ))
        .current_dir(d.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        say(&format!(
            "{test}: skipped: needs root, loop devices (an XFS loop mount) and {tools}"
        ));
        return None;
    }
    Some(d)
}

/// Makes `xfs.img` (320 MiB, sparse) and fills it through a loop mount.
pub(crate) fn make_xfs(d: &Dir) {
    std::fs::write(d.join("fill.sh"), FILL).unwrap();
    d.sh(
        "truncate -s 320M xfs.img && mkfs.xfs -q -f xfs.img && mkdir -p mnt a b
          mount -o loop xfs.img mnt; r=0; sh -e fill.sh || r=$?; umount mnt; exit $r",
    );
}

/// GNU tar of the mounted `xfs.img` against `ours` (gzip), both extracted with curtin's
/// flags; the trees must be equal (a `boot/` of ours beside, when `skip_boot`, left out).
fn compare(d: &Dir, ours: &str, skip_boot: bool) {
    std::fs::write(d.join("listing.sh"), LISTING).unwrap();
    // Removed keeping the root's mtime, which the removal would change.
    let rm_boot = if skip_boot {
        "for t in a b; do touch -r $t t.ref; rm -rf $t/boot; touch -r t.ref $t; done"
    } else {
        ":"
    };
    d.sh(&format!(
        "rm -rf a b; mkdir a b
         mount -o loop,ro xfs.img mnt; r=0
         tar -Scpf ref.tar --acls --selinux --xattrs --one-file-system -C mnt . 2>tar.err || r=$?
         umount mnt; [ $r -le 1 ] || {{ cat tar.err; exit 1; }}
         tar -Sxpf - --numeric-owner --xattrs -C a < ref.tar
         gzip -dc {ours} | tar -Sxpf - --numeric-owner --xattrs -C b
         {rm_boot}
         sh listing.sh a > a.lst; sh listing.sh b > b.lst
         diff -r --no-dereference a b > content.diff 2>&1 || true"
    ));
    let a = std::fs::read_to_string(d.join("a.lst")).unwrap();
    let b = std::fs::read_to_string(d.join("b.lst")).unwrap();
    for needle in [
        "./usr/bin/text f 644 3000000 0 6 981173106.123456789",
        "./usr/bin/big f 4755 0 0 300000",
        "./usr/bin/big l",
        "./etc/passwd f 664 1001 1002",
        "./var/log d 1777",
        "./fifo p",
        "./dev-null 1 3",
        "./big/entry-with-a-longish-name-300 f",
        "user.many-60=",
        "user.small=0x6869",
    ] {
        let needle = needle.replace("./usr/bin/big l", "./usr/bin/big-link f 4755 0 0 300000");
        assert!(a.contains(&needle), "the oracle lacks {needle:?}:\n{a}");
    }
    if a != b {
        let diff = d.sh("diff a.lst b.lst || true");
        panic!("ddgz tar differs from GNU tar of the XFS mount (< GNU, > ddgz):\n{diff}");
    }
    let content = std::fs::read_to_string(d.join("content.diff")).unwrap();
    let real: Vec<&str> = content
        .lines()
        .filter(|l| !l.contains("is a fifo while") && !l.contains("special file while"))
        .collect();
    assert!(real.is_empty(), "content differs:\n{}", real.join("\n"));
}

#[test]
fn tar_of_an_xfs_root_partition_equals_gnu_tar() {
    let Some(d) = lab("tar_of_an_xfs_root_partition_equals_gnu_tar") else {
        return;
    };
    make_xfs(&d);
    // GPT: p1 EFI (8 MiB, empty), p2 Linux filesystem holding the XFS root.
    d.sh("truncate -s 340M disk.img
          sgdisk -n1:1M:+8M -t1:ef00 -n2:9M:0 -t2:8300 disk.img >/dev/null
          dd if=xfs.img of=disk.img bs=1M seek=9 conv=notrunc,sparse status=none
          qemu-img convert -O qcow2 disk.img disk.qcow2");
    let out = d.ddgz_ok(&["tar", "disk.qcow2", "-o", "ours.tar.gz", "-j1"]);
    assert!(out.contains("from partition 2 of"), "{out}");
    compare(&d, "ours.tar.gz", false);
    // Named, the same bytes.
    d.ddgz_ok(&["tar", "disk.qcow2", "-p", "2", "-o", "named.tar.gz", "-j1"]);
    assert_eq!(
        d.sh("sha256sum < ours.tar.gz"),
        d.sh("sha256sum < named.tar.gz")
    );
}

/// The RHEL installer's layout: p1 EFI, p2 /boot (here ext4 typed bls_boot, so it goes
/// under boot/), p3 an LVM PV of VG `rl` holding `root` (XFS) and `swap`, plus a thin
/// volume (metadata only: lvm cannot make one without device-mapper).
#[test]
fn tar_finds_an_xfs_root_in_lvm_and_refuses_a_thin_volume() {
    let Some(d) = lab("tar_finds_an_xfs_root_in_lvm_and_refuses_a_thin_volume") else {
        return;
    };
    make_xfs(&d);
    d.sh("mkdir -p bootsrc/loader/entries
          printf 'kernel\\n' > bootsrc/vmlinuz-5.14.0-427.el9.x86_64
          printf 'title Rocky\\n' > bootsrc/loader/entries/rocky.conf
          truncate -s 32M boot.img && mkfs.ext4 -q -F -d bootsrc boot.img
          truncate -s 420M disk.img
          sgdisk -n1:1M:+8M -t1:ef00 -n2:9M:+32M -t2:ea00 -n3:41M:0 -t3:8e00 disk.img >/dev/null
          dd if=boot.img of=disk.img bs=1M seek=9 conv=notrunc,sparse status=none");
    // The PV through a loop device over p3; lvm writes only metadata (activation = 0).
    let script = r#"
end=$(sgdisk -i 3 disk.img | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
len=$(( (end + 1) * 512 - 41 * 1048576 ))
dev=$(losetup -f --show --offset $((41 * 1048576)) --sizelimit $len disk.img)
trap 'losetup -d $dev' EXIT
cfg="global { activation = 0 } devices { filter = [ \"a|^$dev\$|\", \"r|.*|\" ] global_filter = [ \"a|^$dev\$|\", \"r|.*|\" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 } backup { backup = 0 archive = 0 }"
export LVM_SUPPRESS_FD_WARNINGS=1
lvm pvcreate -q --config "$cfg" $dev >/dev/null
lvm vgcreate -q --config "$cfg" -s 4m rl $dev >/dev/null
lvm lvcreate -q --config "$cfg" -an -Zn -L 8m -n swap rl >/dev/null
lvm lvcreate -q --config "$cfg" -an -Zn -L 320m -n root rl >/dev/null
for lv in pmeta pdata; do lvm lvcreate -q --config "$cfg" -an -Zn -L 4m -n $lv rl >/dev/null; done
lvm vgcfgbackup -q --config "$cfg" -f rl.cfg rl >/dev/null
python3 edit.py rl.cfg
lvm vgcfgrestore -q --config "$cfg" --force -f rl.cfg rl >/dev/null
pe_start=$(lvm pvs --config "$cfg" --noheadings --nosuffix --units b -o pe_start $dev | tr -d ' ')
first=$(lvm lvs --config "$cfg" --noheadings -o seg_pe_ranges rl/root | sed 's/.*:\([0-9]*\)-.*/\1/')
echo $(( 41 * 1048576 + pe_start + first * 4194304 ))
"#;
    // Turns pmeta/pdata into a hidden pool's sub-volumes and adds the pool and `thin1`.
    let edit = r#"import sys
p = sys.argv[1]; t = open(p).read()
for old, sub in (("pmeta", "pool_tmeta"), ("pdata", "pool_tdata")):
    at = t.index("\t\t%s {" % old)
    t = t[:at] + t[at:].replace("\t\t%s {" % old, "\t\t%s {" % sub, 1).replace('status = ["READ", "WRITE", "VISIBLE"]', 'status = ["READ", "WRITE"]', 1)
seg = lambda body: '\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]\n\t\t\tflags = []\n\t\t\tsegment_count = 1\n\t\t\tsegment1 {\n' + body + '\t\t\t}\n\t\t}\n'
extra = ('\t\tpool {\n\t\t\tid = "BBBBBB-BBBB-BBBB-BBBB-BBBB-BBBB-BBBBBB"\n' + seg('\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 1\n\t\t\t\ttype = "thin-pool"\n\t\t\t\tmetadata = "pool_tmeta"\n\t\t\t\tpool = "pool_tdata"\n\t\t\t\ttransaction_id = 1\n\t\t\t\tchunk_size = 128\n\t\t\t\tdiscards = "passdown"\n\t\t\t\tzero_new_blocks = 0\n')
  + '\t\tthin1 {\n\t\t\tid = "CCCCCC-CCCC-CCCC-CCCC-CCCC-CCCC-CCCCCC"\n' + seg('\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 4\n\t\t\t\ttype = "thin"\n\t\t\t\tthin_pool = "pool"\n\t\t\t\ttransaction_id = 0\n\t\t\t\tdevice_id = 1\n'))
end = t.rindex("\t}\n")
open(p, "w").write(t[:end] + extra + t[end:])
"#;
    std::fs::write(d.join("lvm.sh"), script).unwrap();
    std::fs::write(d.join("edit.py"), edit).unwrap();
    let offset: u64 = d.sh("sh -e lvm.sh").trim().parse().unwrap();
    d.sh(&format!(
        "dd if=xfs.img of=disk.img bs=1M seek={} conv=notrunc,sparse status=none
         qemu-img convert -O qcow2 disk.img disk.qcow2",
        offset >> 20
    ));
    assert_eq!(offset % (1 << 20), 0, "the LV starts at byte {offset}");

    // Found by /etc/os-release among the partitions and the LVs.
    let out = d.ddgz_ok(&["tar", "disk.qcow2", "-o", "auto.tar.gz", "-j1"]);
    assert!(out.contains("from logical volume rl/root of"), "{out}");
    assert!(out.contains("from bls_boot partition 2"), "{out}");
    d.sh("rm -rf x && mkdir x && tar -xzf auto.tar.gz -C x
          grep -q kernel x/boot/vmlinuz-5.14.0-427.el9.x86_64
          test -f x/boot/loader/entries/rocky.conf");
    compare(&d, "auto.tar.gz", true);

    // Named: the same bytes.
    d.ddgz_ok(&[
        "tar",
        "disk.qcow2",
        "--root",
        "rl/root",
        "-o",
        "named.tar.gz",
        "-j1",
    ]);
    assert_eq!(
        d.sh("sha256sum < auto.tar.gz"),
        d.sh("sha256sum < named.tar.gz")
    );

    // A thin volume: exit 3, the reason named; swap is no filesystem: exit 3; an unknown
    // LV: exit 2 with the names found; --root beside --partition: exit 2.
    for (root, code, says) in [
        ("rl/thin1", 3, "thin"),
        ("rl/swap", 3, "neither ext2/3/4 nor XFS"),
        ("rl/nope", 2, "rl/root"),
        ("vg/x", 2, "no logical volume vg/x"),
    ] {
        let o = d.ddgz(&["tar", "disk.qcow2", "--root", root, "-o", "no.tar.gz"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "--root {root}: {err}");
        assert!(err.contains(says), "--root {root}: {err}");
        assert!(!d.join("no.tar.gz").exists());
    }
    let o = d.ddgz(&["tar", "disk.qcow2", "--root", "rl/root", "-p", "3"]);
    assert_eq!(o.status.code(), Some(2));
}

/// An XFS root whose log is dirty (shut down without unmounting): refused with the
/// reason, exit 3, found or named, nothing written.
#[test]
fn tar_refuses_an_xfs_root_with_a_dirty_log() {
    let Some(d) = lab("tar_refuses_an_xfs_root_with_a_dirty_log") else {
        return;
    };
    d.sh("truncate -s 300M xfs.img && mkfs.xfs -q -f xfs.img && mkdir -p mnt
          mount -o loop xfs.img mnt; r=0
          { mkdir mnt/etc && echo ID=rocky > mnt/etc/os-release && xfs_io -x -c 'shutdown -f' mnt; } || r=$?
          umount mnt; exit $r");
    for args in [
        &["tar", "xfs.img", "-o", "no.tar.gz"][..],
        &["tar", "xfs.img", "-p", "0", "-o", "no.tar.gz"],
    ] {
        let o = d.ddgz(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("XFS log is dirty"), "{args:?}: {err}");
        assert!(!d.join("no.tar.gz").exists());
    }
}
