//! `ddgz tar` against the real tools: trees made with `mkfs.ext4 -d` and `debugfs -w`,
//! put into a GPT disk as partition 2, converted to qcow2; the oracle is what packer-maas
//! runs — GNU tar over the filesystem mounted with `fuse2fs` — both extracted by GNU tar
//! and compared by content, type, mode, owner, mtime (ns), link count, device numbers,
//! xattrs and ACLs. The oracle needs root and /dev/fuse; without them the comparison is
//! skipped with a note, and what can be checked without (gzip -t, tar -t, identity
//! across runs and thread counts, the edits) still runs.

use crate::util::Dir;

/// The source tree: every kind of file `Done means` of issue 15 lists, made rootless.
const TREE: &str = r#"
mkdir -p src/etc src/var/lib/cloud/instances/i-1 src/var/log src/usr/bin src/wide src/dev
printf 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n' > src/etc/os-release
echo 0123456789abcdef0123456789abcdef > src/etc/machine-id
printf 'root:x:0:0::/root:/bin/bash\nbob:x:1001:1002::/home/bob:/bin/sh\n' > src/etc/passwd
printf 'root:x:0:\nbobs:x:1002:\n' > src/etc/group
ln -s instances/i-1 src/var/lib/cloud/instance
echo state > src/var/lib/cloud/instances/i-1/obj.pkl
echo log > src/var/log/cloud-init.log
echo log > src/var/log/cloud-init-output.log
echo keep > src/var/log/messages
head -c 3000000 /dev/urandom > src/usr/bin/big
seq 1 200000 > src/usr/bin/text
ln src/usr/bin/big src/usr/bin/big-link
ln -s /usr/bin/big src/fastlink
ln -s /usr/share/a/very/long/target/that/does/not/fit/in/the/inode/itself/0123456789 src/slowlink
: > src/empty
truncate -s 40M src/sparse && echo tail >> src/sparse
dd if=/dev/urandom of=src/sparse bs=4096 seek=100 count=3 conv=notrunc status=none
truncate -s 5M src/allhole
echo backup > 'src/x~' && echo l > 'src/.#lock' && echo a > 'src/#auto#'
p=src/deep; for i in $(seq 1 60); do p=$p/d$i; done; mkdir -p $p && echo deep > $p/f
for i in $(seq 1 1500); do echo $i > src/wide/file-$i; done
n=$(printf 'n%.0s' $(seq 1 200)); echo long > src/wide/$n
mkfifo src/fifo
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('src/sock')"
setfattr -n user.test -v hello src/etc/os-release
setfattr -n user.empty src/empty
setfacl -m u:1234:rw,g:55:r src/etc/passwd
setfacl -d -m u:1234:rx src/var/log
"#;

/// debugfs edits no rootless tree can carry: owners, setuid/sticky modes, device nodes,
/// SELinux labels, nanosecond mtimes, an xattr too big for the inode (in a block). The
/// block device is 259:70000 in the new encoding (i_block[1]; debugfs mknod takes < 256).
const DEBUGFS: &str = r#"
set_inode_field /etc/passwd uid 1001
set_inode_field /etc/passwd gid 1002
set_inode_field /usr/bin/text uid 3000000
set_inode_field /usr/bin/big mode 0104755
set_inode_field /var/log mode 041777
set_inode_field /usr/bin/text mtime_extra 0x773593FC
cd /dev
mknod null0 c 1 3
set_inode_field null0 mode 020666
mknod nvme b 1 1
set_inode_field nvme mode 060660
set_inode_field nvme block[0] 0
set_inode_field nvme block[1] 0x11110370
cd /
ea_set /etc/os-release security.selinux system_u:object_r:etc_t:s0
ea_set -f bigvalue /usr/bin/text user.big
"#;

/// Makes `fs.img` with `mkfs` options, the tree and the debugfs edits (and
/// `extra_debugfs`); checks it with
/// e2fsck; puts it into `disk.qcow2` as GPT partition 2.
fn make_image(d: &Dir, mkfs: &str, extra_debugfs: &str) {
    d.sh(TREE);
    d.sh(&format!(
        "mkfs.ext4 -q -F {mkfs} -d src fs.img 96M
         head -c 500 /dev/urandom | base64 -w0 > bigvalue
         head -c 6000 /dev/urandom | base64 -w0 > hugevalue"
    ));
    {
        std::fs::write(
            d.join("edits.debugfs"),
            format!("{DEBUGFS}{extra_debugfs}\n"),
        )
        .unwrap();
        d.sh("debugfs -w -f edits.debugfs fs.img >/dev/null 2>debugfs.err; ! grep -v '^debugfs ' debugfs.err");
    }
    // debugfs's ea_set leaves i_blocks of an inode with an ea_inode value short (an
    // accounting slip of debugfs, e2fsprogs 1.47): let e2fsck fix that, then demand a clean
    // filesystem.
    d.sh("e2fsck -fy fs.img >/dev/null 2>&1 || true; e2fsck -fn fs.img >/dev/null");
    make_disk(d);
}

/// `fs.img` → `disk.qcow2` (GPT: a 1 MiB partition 1, the filesystem as partition 2).
fn make_disk(d: &Dir) {
    d.sh("rm -f disk.raw disk.qcow2; truncate -s 128M disk.raw
         sgdisk -o -n 1:2048:+1M -n 2:4096:+96M disk.raw >/dev/null
         dd if=fs.img of=disk.raw bs=512 seek=4096 conv=notrunc,sparse status=none
         qemu-img convert -O qcow2 disk.raw disk.qcow2");
}

/// Whether the oracle can run: root, and fuse2fs can mount.
fn oracle_available(d: &Dir) -> bool {
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg("[ \"$(id -u)\" = 0 ] && mkdir -p probe && truncate -s 8M probe.img && mkfs.ext4 -q probe.img && fuse2fs -o ro,fakeroot probe.img probe && fusermount -u probe")
        .current_dir(d.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "note: tar oracle skipped: needs root and fuse2fs (GNU tar over a fuse2fs mount)"
        );
    }
    ok
}

/// A listing of an extracted tree that compares every attribute the issue names.
const LISTING: &str = r#"cd "$1" && find . -printf '%p %y %m %U %G %s %T@ %n %l\n' | LC_ALL=C sort
find . \( -type b -o -type c \) -exec stat -c '%n %t %T' {} + | LC_ALL=C sort
find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex --absolute-names 2>/dev/null
find . ! -type l -print0 | LC_ALL=C sort -z | xargs -0 getfacl -n -P 2>/dev/null"#;

/// GNU tar over the fuse2fs mount of `fs.img` (as fuse-tar-root runs it) and `ours`,
/// both extracted; asserts the trees are equal.
fn compare_with_gnu_tar(d: &Dir, ours: &str) {
    std::fs::write(d.join("listing.sh"), LISTING).unwrap();
    d.sh(&format!(
        "rm -rf mnt a b; mkdir mnt a b
         fuse2fs -o ro,fakeroot fs.img mnt
         tar -Scpf ref.tar --acls --selinux --xattrs --one-file-system --exclude-backups -C mnt . 2>tar.err || true
         fusermount -u mnt
         tar -xf ref.tar --xattrs --xattrs-include='*' --acls --numeric-owner -p -C a
         tar -xzf {ours} --xattrs --xattrs-include='*' --acls --numeric-owner -p -C b
         sh listing.sh a > a.lst; sh listing.sh b > b.lst
         diff -r --no-dereference a b > content.diff 2>&1 || true"
    ));
    let a = std::fs::read_to_string(d.join("a.lst")).unwrap();
    let b = std::fs::read_to_string(d.join("b.lst")).unwrap();
    // The listing carries what the debugfs edits made, so the comparison is not vacuous:
    // the device numbers (hex), the large uid, the nanoseconds, the labels and ACLs.
    for needle in [
        "./dev/nvme 103 11170",
        "./dev/null0 1 3",
        "./usr/bin/text f 644 3000000 0",
        ".499999999",
        "security.selinux=0x73797374656d5f75",
        "user.big=",
        "system.posix_acl_access=",
        "system.posix_acl_default=",
        "user:1234:rw-",
        "./usr/bin/big f 4755",
        "./var/log d 1777",
        "./etc/passwd f 664 1001 1002",
        "./fifo p",
    ] {
        assert!(
            a.contains(needle),
            "the oracle listing lacks {needle:?}:\n{a}"
        );
    }
    if a != b {
        let diff = d.sh("diff a.lst b.lst || true");
        panic!("ddgz tar differs from GNU tar over fuse2fs (< GNU, > ddgz):\n{diff}");
    }
    let content = std::fs::read_to_string(d.join("content.diff")).unwrap();
    let real: Vec<&str> = content
        .lines()
        .filter(|l| !l.contains("is a fifo while") && !l.contains("special file while"))
        .collect();
    assert!(real.is_empty(), "content differs:\n{}", real.join("\n"));
}

#[test]
fn tar_ext4_equals_gnu_tar_over_fuse2fs_with_edits_and_identity() {
    let d = Dir::new();
    // An 8000-byte value: more than a block, so in an ea_inode.
    make_image(
        &d,
        "-t ext4 -b 4096 -O inline_data,ea_inode",
        "ea_set -f hugevalue /usr/bin/big user.huge",
    );
    // Exact comparison: the edits off.
    d.ddgz_ok(&[
        "tar",
        "disk.qcow2",
        "-o",
        "plain.tar.gz",
        "--keep-machine-id",
        "--keep-cloud-init",
    ]);
    d.sh("gzip -t plain.tar.gz && tar -tvf plain.tar.gz >/dev/null");
    if oracle_available(&d) {
        compare_with_gnu_tar(&d, "plain.tar.gz");
    }
    // Default edits, a curtin directory added; one partition holds /etc/os-release.
    d.sh("mkdir -p curtin && printf '#!/bin/sh\\n' > curtin/curtin-hooks && chmod 755 curtin/curtin-hooks");
    let out = d.ddgz_ok(&[
        "tar",
        "disk.qcow2",
        "-o",
        "a.tar.gz",
        "--add",
        "curtin",
        "-j",
        "1",
    ]);
    assert!(out.contains("from partition 2"), "{out}");
    assert!(
        out.contains("name='custom/rocky9'") && out.contains("filetype='tgz'"),
        "{out}"
    );
    let list = d.sh("tar -tvf a.tar.gz");
    for gone in [
        "./var/lib/cloud/instance",
        "./var/log/cloud-init.log",
        "./var/log/cloud-init-output.log",
        "./x~",
        "./.#lock",
        "./#auto#",
        "./sock",
    ] {
        assert!(
            !list
                .lines()
                .any(|l| l.ends_with(gone) || l.contains(&format!("{gone}/"))),
            "{gone} is in the tarball:\n{list}"
        );
    }
    assert!(list.contains("./var/log/messages"));
    let mid = d.sh("tar -xOzf a.tar.gz ./etc/machine-id | wc -c");
    assert_eq!(mid.trim(), "0", "machine-id is not empty");
    let hooks = d.sh("tar -tvf a.tar.gz ./curtin/curtin-hooks");
    assert!(hooks.starts_with("-rwxr-xr-x root/root"), "{hooks}");
    // The same image gives the same bytes, whatever the thread count.
    d.ddgz_ok(&[
        "tar",
        "disk.qcow2",
        "-o",
        "b.tar.gz",
        "--add",
        "curtin",
        "-j",
        "3",
    ]);
    d.ddgz_ok(&[
        "tar",
        "disk.qcow2",
        "-o",
        "c.tar.gz",
        "--add",
        "curtin",
        "-j",
        "2",
    ]);
    d.sh("cmp a.tar.gz b.tar.gz && cmp a.tar.gz c.tar.gz");
    // Existing output refused.
    let o = d.ddgz(&["tar", "disk.qcow2", "-o", "a.tar.gz"]);
    assert_eq!(o.status.code(), Some(4));
}

/// ext2, ext3 and ext4 variants: block sizes, huge_file, inline_data, metadata_csum.
#[test]
fn tar_ext_variants_equal_gnu_tar() {
    for mkfs in [
        "-t ext2 -b 1024",
        "-t ext3 -b 4096",
        "-t ext3 -b 1024 -O ^dir_index",
        "-t ext4 -b 1024 -O ^metadata_csum,^huge_file,^64bit",
        "-t ext4 -b 4096 -O ^extent,^flex_bg",
        "-t ext4 -b 2048 -O inline_data,meta_bg,^resize_inode",
    ] {
        let d = Dir::new();
        make_image(&d, mkfs, "");
        d.ddgz_ok(&[
            "tar",
            "disk.qcow2",
            "-o",
            "t.tar.gz",
            "--keep-machine-id",
            "--keep-cloud-init",
        ]);
        d.sh("gzip -t t.tar.gz && tar -tvf t.tar.gz >/dev/null");
        if !oracle_available(&d) {
            return;
        }
        eprintln!("variant {mkfs}");
        compare_with_gnu_tar(&d, "t.tar.gz");
    }
}

/// A filesystem whose journal holds committed transactions not yet written home (made
/// with debugfs's journal writer, checksums v3, 1 KiB blocks), a revoked block and an
/// uncommitted transaction: ddgz replays it in memory, as e2fsck would on disk.
#[test]
fn tar_replays_an_unreplayed_journal_in_memory() {
    let d = Dir::new();
    make_image(&d, "-t ext4 -b 1024", "");
    d.sh(
        "yes new | head -c 1024 > new; yes bad | head -c 1024 > bad; yes nop | head -c 1024 > nop
         T=$(debugfs -R 'bmap /usr/bin/text 0' fs.img 2>/dev/null)
         M=$(debugfs -R 'bmap /var/log/messages 0' fs.img 2>/dev/null)
         G=$(debugfs -R 'bmap /etc/group 0' fs.img 2>/dev/null)
         printf 'jo -c -v 3\\njw -b %s new\\njw -b %s nop\\njw -r %s /dev/null\\njc\\njo\\njw -b %s -c bad\\njc\\n' $T $G $G $M > j.debugfs
         debugfs -w -f j.debugfs fs.img >/dev/null 2>&1
         dumpe2fs -h fs.img 2>/dev/null | grep -q needs_recovery",
    );
    make_disk(&d);
    let out = d.ddgz_ok(&[
        "tar",
        "disk.qcow2",
        "-o",
        "j.tar.gz",
        "--keep-machine-id",
        "--keep-cloud-init",
    ]);
    assert!(out.contains("transaction(s) replayed in memory"), "{out}");
    // The input is never written: the flag is still set.
    d.sh("qemu-img convert -O raw disk.qcow2 back.raw && dd if=back.raw of=back.img bs=512 skip=4096 count=196608 status=none && dumpe2fs -h back.img 2>/dev/null | grep -q needs_recovery");
    let text = d.sh("tar -xOzf j.tar.gz ./usr/bin/text | head -c 8");
    assert_eq!(text, "new\nnew\n", "the committed copy was not replayed");
    let group = d.sh("tar -xOzf j.tar.gz ./etc/group");
    assert!(
        group.starts_with("root:x:0:"),
        "a revoked copy was replayed: {group}"
    );
    let msg = d.sh("tar -xOzf j.tar.gz ./var/log/messages");
    assert_eq!(msg, "keep\n", "an uncommitted transaction was replayed");
    // The oracle: e2fsck replays the journal on disk, then GNU tar over fuse2fs.
    d.sh("e2fsck -fy fs.img >/dev/null 2>&1 || true; e2fsck -fn fs.img >/dev/null");
    if oracle_available(&d) {
        compare_with_gnu_tar(&d, "j.tar.gz");
    }
}
