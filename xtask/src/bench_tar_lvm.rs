//! bench-tar's XFS-on-LVM row: `ddgz tar` of a root that is XFS in a logical volume (the
//! RHEL installer's default layout, `rl/root`) against what a root user does without
//! FUSE: a loop mount of the LV + GNU tar `--xattrs --acls --selinux -Scpf` + `pigz -9`.
//! The same OS-like tree as the ext4 row. Without device-mapper (this machine kind) lvm
//! writes only metadata (`activation = 0`) and the XFS image goes to the LV's offset; the
//! peer mounts that linear LV through a loop device at the same offset of the raw disk
//! (no qcow2, no nbd, no LV activation: a floor for it). Needs root and loop devices:
//! skips, saying why, without them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::tar_tree::{sh, time, time_ddgz_tar, tree, Timing};

/// The LV's extent size, MiB.
const EXTENT_MIB: u64 = 4;

/// Why this machine cannot build the fixture (root, a loop device, an XFS loop mount,
/// the tools), or `None`.
fn cannot(dir: &Path) -> Option<String> {
    let tools = "mkfs.xfs lvm losetup sgdisk qemu-img tar pigz";
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "[ \"$(id -u)\" = 0 ] && [ -e /dev/loop-control ] && for t in {tools}; do \
             command -v $t >/dev/null || exit 1; done && rm -rf probe probe.img && \
             truncate -s 300M probe.img && mkfs.xfs -q probe.img && mkdir probe && \
             mount -o loop probe.img probe && umount probe && rm -rf probe probe.img"
        ))
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| format!("needs root, loop devices (an XFS loop mount) and {tools}"))
}

/// Builds (once) `dir/xfs-lvm-{mib}m.qcow2` and the same disk raw, with the LV's byte
/// offset and length in the raw disk.
fn fixture(dir: &Path, mib: u64) -> Result<(PathBuf, PathBuf, u64, u64)> {
    let qcow2 = dir.join(format!("xfs-lvm-{mib}m.qcow2"));
    let raw = dir.join(format!("xfs-lvm-{mib}m.raw"));
    let at = dir.join(format!("xfs-lvm-{mib}m.offset"));
    // mkfs.xfs wants 300 MiB at least.
    let lv_mib = (mib * 3 / 2 + 64).max(320).div_ceil(EXTENT_MIB) * EXTENT_MIB;
    let len = lv_mib << 20;
    if let (true, true, Ok(text)) = (qcow2.exists(), raw.exists(), std::fs::read_to_string(&at)) {
        return Ok((
            qcow2,
            raw,
            text.trim().parse().context("the offset file")?,
            len,
        ));
    }
    std::fs::create_dir_all(dir)?;
    let src = dir.join("xfs-lvm-src");
    let _ = std::fs::remove_dir_all(&src);
    let files = tree(&src, mib)?;
    eprintln!("bench-tar: {files} files, {mib} MiB; mkfs.xfs, a loop mount, lvm …");
    // p1 a 1 MiB EFI stand-in, p2 the PV from 2 MiB to the end.
    let script = format!(
        "rm -rf xfs.tmp disk.tmp mnt.tmp
         truncate -s {lv_mib}M xfs.tmp && mkfs.xfs -q -f xfs.tmp && mkdir mnt.tmp
         mount -o loop xfs.tmp mnt.tmp; r=0; cp -a xfs-lvm-src/. mnt.tmp/ || r=$?
         umount mnt.tmp; rmdir mnt.tmp; [ $r = 0 ]
         truncate -s {disk}M disk.tmp
         sgdisk -o -n 1:2048:+1M -t 1:ef00 -n 2:4096:0 -t 2:8e00 disk.tmp >/dev/null
         end=$(sgdisk -i 2 disk.tmp | sed -n 's/^Last sector: \\([0-9]*\\).*/\\1/p')
         dev=$(losetup -f --show --offset 2097152 --sizelimit $(( (end + 1) * 512 - 2097152 )) disk.tmp)
         trap 'losetup -d $dev' EXIT
         cfg=\"global {{ activation = 0 }} devices {{ filter = [ \\\"a|^$dev\\$|\\\", \\\"r|.*|\\\" ] global_filter = [ \\\"a|^$dev\\$|\\\", \\\"r|.*|\\\" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 }} backup {{ backup = 0 archive = 0 }}\"
         export LVM_SUPPRESS_FD_WARNINGS=1
         lvm pvcreate -q --config \"$cfg\" $dev >/dev/null
         lvm vgcreate -q --config \"$cfg\" -s {EXTENT_MIB}m rl $dev >/dev/null
         lvm lvcreate -q --config \"$cfg\" -an -Zn -L {lv_mib}m -n root rl >/dev/null
         pe_start=$(lvm pvs --config \"$cfg\" --noheadings --nosuffix --units b -o pe_start $dev | tr -d ' ')
         first=$(lvm lvs --config \"$cfg\" --noheadings -o seg_pe_ranges rl/root | sed 's/.*:\\([0-9]*\\)-.*/\\1/')
         off=$(( 2097152 + pe_start + first * {EXTENT_MIB} * 1048576 ))
         dd if=xfs.tmp of=disk.tmp bs=1M seek=$(( off / 1048576 )) conv=notrunc,sparse status=none
         [ $(( off % 1048576 )) = 0 ]
         qemu-img convert -O qcow2 disk.tmp {q}
         echo $off > {a}; mv disk.tmp {r}; rm -rf xfs.tmp xfs-lvm-src",
        disk = lv_mib + 16,
        q = qcow2.display(),
        r = raw.display(),
        a = at.display(),
    );
    sh(dir, &script)?;
    let off = std::fs::read_to_string(&at)?.trim().parse()?;
    Ok((qcow2, raw, off, len))
}

/// The two rows (ddgz, the peer), or `None` with the
/// reason printed when the machine cannot build the fixture.
pub(crate) fn rows(
    ddgz: &Path,
    dir: &Path,
    mib: u64,
    runs: usize,
    threads: usize,
) -> Result<Option<Vec<(String, Timing)>>> {
    std::fs::create_dir_all(dir)?;
    if let Some(why) = cannot(dir) {
        println!("bench-tar: the XFS-on-LVM row skipped: {why}");
        return Ok(None);
    }
    let (qcow2, raw, off, len) = fixture(dir, mib)?;
    let out = dir.join("bench-tar-lvm.out");
    let mnt = dir.join("bench-tar-lvm.mnt");
    let ours = time_ddgz_tar(ddgz, &qcow2, &out, runs, threads)?;
    let peer = time(runs, &out, || {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "mkdir -p '{m}' && mount -o loop,ro,offset={off},sizelimit={len} '{r}' '{m}' && \
             {{ tar -Scpf - --acls --selinux --xattrs -C '{m}' . | pigz -9 -p {threads} > '{o}'; }}; \
             s=$?; umount '{m}'; rmdir '{m}'; exit $s",
            m = mnt.display(),
            r = raw.display(),
            o = out.display()
        ));
        c
    })?;
    let _ = std::fs::remove_file(&out);
    Ok(Some(vec![
        ("ddgz tar qcow2, XFS in LV rl/root (level 9)".into(), ours),
        (
            "loop mount of the LV + GNU tar + pigz -9 (raw disk)".into(),
            peer,
        ),
    ]))
}
