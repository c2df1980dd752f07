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

/// Unmounts a fuse2fs mount: `fusermount` where fuse's tools are installed, else `umount`
/// (root mounts FUSE itself with libfuse2).
const UNMOUNT: &str = "sh -c 'fusermount -u \"$0\" 2>/dev/null || umount \"$0\"'";

/// Whether the oracle can run: root, /dev/fuse, and fuse2fs can mount (and the probe's
/// mount is undone).
fn oracle_available(d: &Dir) -> bool {
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("[ \"$(id -u)\" = 0 ] && command -v fuse2fs >/dev/null && [ -e /dev/fuse ] && mkdir -p probe && truncate -s 8M probe.img && mkfs.ext4 -q probe.img && timeout 20 fuse2fs -o ro,fakeroot probe.img probe && {UNMOUNT} probe"))
        .current_dir(d.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "note: tar oracle skipped: needs root, /dev/fuse and fuse2fs (GNU tar over a fuse2fs mount)"
        );
    }
    ok
}

/// A listing of an extracted tree that compares every attribute the issue names.
///
/// mtimes in whole seconds: fuse2fs (e2fsprogs 1.47) reports every time with 0 ns, so the
/// oracle has none to compare; ddgz's nanoseconds are checked against debugfs instead.
///
/// No size for directories: an extracted directory's size is the host file system's
/// (blocks its entries took, which depends on the order tar created them), not the
/// archive's.
const LISTING: &str = r#"cd "$1" && { find . ! -type d -printf '%p %y %m %U %G %s %Ts %n %l\n'; find . -type d -printf '%p %y %m %U %G - %Ts %n\n'; } | LC_ALL=C sort
find . \( -type b -o -type c \) -exec stat -c '%n %t %T' {} + | LC_ALL=C sort
find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex --absolute-names 2>/dev/null
find . ! -type l -print0 | LC_ALL=C sort -z | xargs -0 getfacl -n -P 2>/dev/null"#;

/// GNU tar over the fuse2fs mount of `fs.img` (as fuse-tar-root runs it) and `ours`,
/// both extracted; asserts the trees are equal.
fn compare_with_gnu_tar(d: &Dir, ours: &str) {
    std::fs::write(d.join("listing.sh"), LISTING).unwrap();
    d.sh(&format!(
        "rm -rf mnt a b; mkdir mnt a b
         timeout 60 fuse2fs -o ro,fakeroot fs.img mnt; r=0
         tar -Scpf ref.tar --acls --selinux --xattrs --one-file-system --exclude-backups -C mnt . 2>tar.err || r=$?
         {UNMOUNT} mnt; [ $r -le 1 ] || {{ cat tar.err; exit 1; }}
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
    // The nanoseconds debugfs set (mtime_extra 0x773593FC: 499999999 ns), which the
    // oracle cannot show: ddgz's tarball carries them.
    let ns = d.sh("stat -c %y b/usr/bin/text");
    assert!(ns.contains(".499999999"), "ddgz lost the nanoseconds: {ns}");
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
        out.contains("name=custom/rocky9 ") && out.contains("filetype='tgz'"),
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
        "-t ext4 -b 4096 -O ^extent,^flex_bg,^64bit",
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

// ---------------------------------------------------------------------------------------
// Hostile filesystems: `fixtures/corrupt/ext4-*.img`, 96 KiB each, made by
// [`regenerate_ext4_fixtures`] from one small ext4 (mkfs.ext4 -d with a fixed time, UUID
// and hash seed) with debugfs and bytes patched by hand, and committed. To remake them:
// `cargo test --test tests tar::regenerate_ext4_fixtures -- --ignored`.

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corrupt")
        .join(name)
}

/// Each fixture, the options, the exit code and the pinned words of the error.
const HOSTILE: &[(&str, &[&str], i32, &str)] = &[
    ("ext4-base.img", &[], 0, ""),
    ("ext4-dir-loop.img", &[], 3, "is reached as ./d/ and again as ./d/e/loop/ (a directory loop or a hard-linked directory)"),
    ("ext4-extent-outside.img", &[], 3, "./d/big: corrupt ext filesystem: inode 13: logical block 0 maps to blocks 2147483647..+1 outside the filesystem (96 blocks)"),
    ("ext4-extent-depth.img", &[], 3, "./d/big: corrupt ext filesystem: inode 13: extent tree: depth 7; at most 5"),
    ("ext4-extent-order.img", &[], 3, "inode 13: extent tree: key 0 out of order or outside its parent's range"),
    ("ext4-xattr-blocks.img", &[], 3, "xattr block 28 has magic 0xea020000 and h_blocks 2 (0xea020000 and 1 expected)"),
    ("ext4-xattr-huge.img", &[], 3, "a value of 16777216 bytes; at most 65536"),
    ("ext4-inodes-count.img", &["--partition", "0"], 3, "s_inodes_count 4000000; 1 groups of 32 inodes hold 32"),
    ("ext4-dirent-inode.img", &[], 3, "entry \"l\" names inode 99; the filesystem has 32"),
    ("ext4-free-inode.img", &[], 3, "./y: corrupt ext filesystem: inode 30 lies in the unused part of group 0's inode table"),
    ("ext4-slash-name.img", &[], 3, "name \"a/b\" contains '/' or NUL"),
    ("ext4-unknown-incompat.img", &["--partition", "0"], 3, "unsupported ext filesystem: incompatible feature(s) unknown 0x800000"),
    ("ext4-truncated.img", &["--partition", "0"], 3, "claims 96 blocks of 1024 bytes (98304 bytes), the partition has 49152 bytes"),
    ("ext4-symlink-loop.img", &[], 3, "more than 40 symlinks resolving /etc/os-release"),
];

#[test]
fn tar_hostile_filesystems_fail_with_pinned_errors() {
    for (name, opts, code, words) in HOSTILE {
        let d = Dir::new();
        let mut args = vec![
            "tar",
            fixture(name).to_str().unwrap().to_owned().leak() as &str,
        ];
        args.extend_from_slice(&["-o", "out.tar.gz"]);
        args.extend_from_slice(opts);
        let o = d.ddgz(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(*code), "{name}: {err}");
        assert!(
            err.contains(words),
            "{name}: the error does not say {words:?}:\n{err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(
            left.len(),
            usize::from(*code == 0),
            "{name}: files left behind: {left:?}"
        );
    }
}

fn patch(path: &std::path::Path, at: u64, bytes: &[u8]) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, b).unwrap();
}

#[test]
#[ignore = "regenerates the committed fixtures"]
fn regenerate_ext4_fixtures() {
    let d = Dir::new();
    let out = fixture("");
    d.sh(
        "mkdir -p src/etc src/d/e && echo 'ID=x' > src/etc/os-release && echo hi > src/d/e/f
         yes data | head -c 5000 > src/d/big && ln -s d/e/f src/l
         E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -b 1024 -N 32 -I 256 \
           -O ^has_journal,^resize_inode -U 01234567-89ab-cdef-0123-456789abcdef \
           -E root_owner=0:0,hash_seed=01234567-89ab-cdef-0123-456789abcdef -d src base.img 96K
         e2fsck -fn base.img >/dev/null",
    );
    let base = d.join("base.img");
    let make = |name: &str, script: &str| {
        let p = d.join(name);
        std::fs::copy(&base, &p).unwrap();
        if !script.is_empty() {
            d.sh(&format!("export E2FSPROGS_FAKE_TIME=1700000000; {script}"));
        }
        p
    };
    let debugfs = |name: &str, cmds: &str| {
        make(
            name,
            &format!("debugfs -w -f - {name} >/dev/null 2>&1 <<'EOF'\n{cmds}\nEOF"),
        )
    };
    let num = |cmd: &str| -> u64 {
        d.sh(&format!("debugfs -R '{cmd}' base.img 2>/dev/null"))
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap()
    };
    let mut made = vec![make("ext4-base.img", "")];
    made.push(debugfs("ext4-dir-loop.img", "link /d /d/e/loop"));
    made.push(debugfs(
        "ext4-extent-outside.img",
        "set_inode_field /d/big block[5] 0x7fffffff",
    ));
    made.push(debugfs(
        "ext4-extent-depth.img",
        "set_inode_field /d/big block[1] 0x00070004",
    ));
    made.push(debugfs(
        "ext4-extent-order.img",
        "set_inode_field /d/big block[6] 0",
    ));
    // An xattr block: a value too big for the 256-byte inode.
    let xb = "head -c 600 /dev/zero | tr '\\0' v > val; debugfs -w -R 'ea_set -f val /etc/os-release user.big'";
    for (name, off, v) in [
        ("ext4-xattr-blocks.img", 8, 2u32),
        ("ext4-xattr-huge.img", 40, 1 << 24),
    ] {
        let p = make(name, &format!("{xb} {name} >/dev/null 2>&1"));
        let acl = d.sh(&format!("debugfs -R 'stat /etc/os-release' {name} 2>/dev/null | sed -n 's/.*File ACL: \\([0-9]*\\).*/\\1/p'"));
        let block: u64 = acl.trim().parse().unwrap();
        assert_ne!(block, 0, "no xattr block was made");
        patch(&p, block * 1024 + off, &v.to_le_bytes());
        made.push(p);
    }
    made.push(debugfs("ext4-inodes-count.img", "ssv inodes_count 4000000"));
    // The root directory's entry "l" (a symlink, inode 18) renamed to inode 99.
    let p = make("ext4-dirent-inode.img", "");
    let root = num("bmap / 0") * 1024;
    let b = std::fs::read(&p).unwrap();
    let at = (root as usize..root as usize + 1024 - 9)
        .find(|&i| b[i + 6] == 1 && b[i + 8] == b'l' && b[i..i + 4] == 18u32.to_le_bytes())
        .expect("the entry of l");
    patch(&p, at as u64, &99u32.to_le_bytes());
    made.push(p);
    made.push(debugfs("ext4-free-inode.img", "link <30> /y"));
    made.push(debugfs("ext4-slash-name.img", "cd /etc\nmknod a/b p"));
    let p = make("ext4-unknown-incompat.img", "");
    let incompat = u32::from_le_bytes(
        std::fs::read(&p).unwrap()[1024 + 0x60..1024 + 0x64]
            .try_into()
            .unwrap(),
    );
    patch(&p, 1024 + 0x60, &(incompat | 0x80_0000).to_le_bytes());
    made.push(p);
    made.push(make(
        "ext4-truncated.img",
        "truncate -s 48K ext4-truncated.img",
    ));
    made.push(debugfs(
        "ext4-symlink-loop.img",
        "rm /etc/os-release\nsymlink /etc/os-release /etc/os-release",
    ));
    for p in made {
        std::fs::copy(&p, out.join(p.file_name().unwrap())).unwrap();
    }
}

/// The root found among several partitions, a `bls_boot` (XBOOTLDR) partition's content
/// under `boot/` (as fuse-tar-root's `DETECT_BLS_BOOT=1` appends it), and the errors when
/// several or no partitions hold `/etc/os-release`.
#[test]
fn tar_finds_the_root_and_adds_bls_boot() {
    let d = Dir::new();
    d.sh(
        "mkdir -p root/etc root/boot boot/loader/entries other
         printf 'ID=fedora\\nVERSION_ID=40\\nNAME=Fedora\\n' > root/etc/os-release
         echo 'title Fedora' > boot/loader/entries/f.conf
         echo data > other/x
         mkfs.ext4 -q -d root r.img 8M; mkfs.ext4 -q -d boot b.img 8M; mkfs.ext4 -q -d other o.img 8M
         truncate -s 40M disk.raw
         sgdisk -o -n 1:2048:+8M -n 2:0:+16M -n 3:0:+8M -t 3:ea00 disk.raw >/dev/null
         dd if=o.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none
         dd if=r.img of=disk.raw bs=512 seek=18432 conv=notrunc status=none
         dd if=b.img of=disk.raw bs=512 seek=51200 conv=notrunc status=none",
    );
    let out = d.ddgz_ok(&["tar", "disk.raw", "-o", "t.tar.gz"]);
    assert!(out.contains("from partition 2"), "{out}");
    assert!(out.contains("members from bls_boot partition 3"), "{out}");
    let list = d.sh("tar -tzf t.tar.gz");
    assert!(
        list.lines().any(|l| l == "./boot/loader/entries/f.conf"),
        "{list}"
    );
    assert!(list.lines().any(|l| l == "./etc/os-release"), "{list}");
    d.ddgz_ok(&["tar", "disk.raw", "-o", "n.tar.gz", "--no-bls-boot"]);
    assert!(!d.sh("tar -tzf n.tar.gz").contains("loader"));
    // Two roots: the user must choose (exit 2); none: exit 3, each partition described.
    d.sh("dd if=r.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none; cp disk.raw two.raw");
    let o = d.ddgz(&["tar", "two.raw", "-o", "x.tar.gz"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("partitions 1, 2 all hold /etc/os-release"),
        "{err}"
    );
    d.ddgz_ok(&[
        "tar",
        "two.raw",
        "-o",
        "p1.tar.gz",
        "--partition",
        "1",
        "--no-bls-boot",
    ]);
    d.sh("dd if=o.img of=none.raw bs=512 status=none");
    let o = d.ddgz(&["tar", "none.raw", "-o", "x.tar.gz"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(
            "no ext2/3/4 or XFS filesystem holds /etc/os-release (0: ext, no /etc/os-release)"
        ),
        "{err}"
    );
    assert!(!d.join("x.tar.gz").exists());
}

/// SIGINT or SIGTERM while `ddgz tar` writes a large root: it stops (it used to spin for
/// ever: the cancel was an `Interrupted` error, which `write_all` retries), removes its
/// temporary and exits 4 with "interrupted", as `convert` does.
#[test]
fn tar_stops_on_sigint_and_sigterm_and_keeps_nothing() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let d = Dir::new();
    // 96 MiB of base64 text at level 9 on one thread: seconds of work on any machine.
    d.sh(
        "mkdir -p root/etc root/data && printf 'ID=debian\\nVERSION_ID=12\\n' > root/etc/os-release
         for i in 1 2 3 4; do head -c 18000000 /dev/urandom | base64 > root/data/f$i; done
         mkfs.ext4 -q -d root fs.img 160M",
    );
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let mut child = crate::util::ddgz()
            .args(["tar", "fs.img", "-o", "out.tar.gz", "-q", "-j", "1"])
            .current_dir(d.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while crate::util::partials(d.path()).is_empty() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{name}: tar ended first"
            );
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no temporary appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        // A watchdog, not a timing: the old binary never ended.
        let t = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{name}: tar still running 30 s after the signal");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{name}: {err}");
        assert!(err.contains("interrupted"), "{name}: {err}");
        assert!(!d.join("out.tar.gz").exists(), "{name}");
        assert!(crate::util::partials(d.path()).is_empty(), "{name}");
    }
}
