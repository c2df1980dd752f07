//! `ddgz tar` members exactly as GNU tar reads them (issue 24): each case is a filesystem
//! made with `mkfs.ext4 -d` and edited with `debugfs -w`, written by `ddgz tar`, then
//! listed with `tar -tv` and extracted the way curtin does (`tar -Sxpf - --numeric-owner
//! --xattrs`); GNU tar's own reading is the oracle.

use crate::util::Dir;

/// A Debian 12 root with the odd cases: `/etc/machine-id` hard-linked to a name that
/// sorts first, a FIFO and a device with two names each, a symlink with an empty target,
/// xattr names holding `=` and `%`.
const ODD: &str = r#"
mkdir -p src/etc src/var/lib/dbus
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n' > src/etc/os-release
echo 0123456789abcdef0123456789abcdef > src/etc/machine-id
ln src/etc/machine-id src/aaa-id
mkfifo src/fifo && ln src/fifo src/fifo2
echo x > src/x
mkfs.ext4 -q -F -d src fs.img 16M
cat > e.debugfs <<'END'
symlink emptylink x
set_inode_field emptylink size 0
mknod dev1 c 1 3
ln dev1 dev2
set_inode_field dev1 links_count 2
ea_set /x user.a=b one
ea_set /x user.p%q two
END
debugfs -w -f e.debugfs fs.img >/dev/null 2>&1
"#;

/// `ddgz tar fs.img` then GNU tar's listing and curtin's extraction into `x/`; returns
/// (ddgz's stdout, the listing).
fn tar_and_extract(d: &Dir) -> (String, String) {
    let out = d.ddgz_ok(&["tar", "fs.img", "-o", "out.tar.gz"]);
    let list = d.sh("tar -tvzf out.tar.gz");
    d.sh("mkdir x && zcat out.tar.gz | (cd x && tar -Sxpf - --numeric-owner --xattrs)");
    (out, list)
}

#[test]
fn tar_odd_members_read_back_as_gnu_tar_writes_them() {
    let d = Dir::new();
    d.sh(ODD);
    let (out, list) = tar_and_extract(&d);
    // An empty symlink target: GNU tar cannot create it ("Cannot create symlink to ''"),
    // so the member is left out and the report says so.
    assert!(!list.contains("emptylink"), "{list}");
    assert!(
        out.contains("empty symlink  ./emptylink (left out"),
        "{out}"
    );
    // xattr names with `=` and `%` come back as they were.
    let attrs = d.sh("getfattr -d --absolute-names x/x");
    assert!(attrs.contains("user.a\\075b=\"one\""), "{attrs}");
    assert!(attrs.contains("user.p%q=\"two\""), "{attrs}");
    // FIFOs and devices with two names: separate nodes, as GNU tar writes them.
    for (name, kind) in [("./fifo2", 'p'), ("./dev2", 'c')] {
        let line = list
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{list}"));
        assert!(line.starts_with(kind), "{line}");
    }
    // The machine id is gone under every name of its inode.
    assert_eq!(d.sh("cat x/etc/machine-id x/aaa-id | wc -c").trim(), "0");
    assert!(out.contains("emptied        ./aaa-id"), "{out}");
    // The README's suggested name for Debian.
    assert!(out.contains("name=custom/debian-12 "), "{out}");
}

#[test]
fn tar_machine_id_symlink_empties_its_target_in_the_image() {
    let d = Dir::new();
    d.sh(
        "mkdir -p src/etc src/var/lib/dbus && echo ID=debian > src/etc/os-release
         echo 0123456789abcdef0123456789abcdef > src/var/lib/dbus/machine-id
         ln -s /var/lib/dbus/machine-id src/etc/machine-id
         mkfs.ext4 -q -F -d src fs.img 16M",
    );
    let (out, _) = tar_and_extract(&d);
    assert_eq!(
        d.sh("readlink x/etc/machine-id").trim(),
        "/var/lib/dbus/machine-id"
    );
    assert_eq!(d.sh("wc -c < x/var/lib/dbus/machine-id").trim(), "0");
    assert!(
        out.contains("emptied        ./var/lib/dbus/machine-id"),
        "{out}"
    );
}

#[test]
fn tar_a_lying_file_size_is_an_error_naming_the_file() {
    let d = Dir::new();
    d.sh("mkdir -p src/etc && echo ID=debian > src/etc/os-release
         mkfs.ext4 -q -F -d src fs.img 16M
         printf 'write /dev/null huge\\nset_inode_field huge size 0xFFFFFFFFFFFFFFFF\\n' > e
         debugfs -w -f e fs.img >/dev/null 2>&1");
    let o = d.ddgz(&["tar", "fs.img", "-o", "out.tar.gz"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("./huge: corrupt ext filesystem: inode "),
        "{err}"
    );
    assert!(
        err.contains(
            "claims a size of 18446744073709551615 bytes; a file of this filesystem holds at most"
        ),
        "{err}"
    );
    assert!(!d.join("out.tar.gz").exists());
    assert!(crate::util::partials(d.path()).is_empty());
}

/// The same tree through packer-maas's pipeline — GNU tar over a `fuse2fs` mount — lists
/// the same members (but the empty symlink, which GNU tar writes and cannot extract) and
/// extracts to the same xattrs. Needs root, /dev/fuse and fuse2fs; skips with a note.
#[test]
fn tar_odd_members_list_as_gnu_tar_over_fuse2fs() {
    let d = Dir::new();
    d.sh(ODD);
    let oracle = d.sh(
        "if [ \"$(id -u)\" = 0 ] && [ -e /dev/fuse ] && command -v fuse2fs >/dev/null \
           && mkdir mnt && timeout 60 fuse2fs -o ro,fakeroot fs.img mnt; then
           r=0; tar -Scpf ref.tar --acls --selinux --xattrs --one-file-system \
             --exclude-backups -C mnt . 2>/dev/null || r=$?
           fusermount -u mnt 2>/dev/null || umount mnt
           [ $r -le 1 ] && echo yes
         fi",
    );
    if oracle.trim() != "yes" {
        crate::util::say("note: fuse2fs oracle skipped: needs root, /dev/fuse and fuse2fs");
        return;
    }
    d.ddgz_ok(&["tar", "fs.img", "-o", "out.tar.gz", "--keep-machine-id"]);
    let list = |f: &str| {
        d.sh(&format!(
            "tar -tv --numeric-owner -f {f} | grep -v ' ./emptylink -> ' | LC_ALL=C sort"
        ))
    };
    let (gnu, ours) = (list("ref.tar"), list("out.tar.gz"));
    assert!(gnu.contains("./fifo2") && gnu.contains("./dev2"), "{gnu}");
    assert_eq!(gnu, ours, "GNU tar over fuse2fs vs ddgz tar");
    d.sh(
        "mkdir a b && tar -xf ref.tar --xattrs --xattrs-include='*' -C a 2>/dev/null || true
          tar -xzf out.tar.gz --xattrs --xattrs-include='*' -C b",
    );
    let attrs = |dir: &str| d.sh(&format!("cd {dir} && getfattr -d -m user. x"));
    assert_eq!(attrs("a"), attrs("b"));
    assert!(attrs("b").contains("user.a\\075b"), "{}", attrs("b"));
}
