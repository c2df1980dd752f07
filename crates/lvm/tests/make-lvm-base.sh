#!/bin/sh
# Makes fixtures/corrupt/lvm-base.img (768 KiB, committed): a real LVM2 PV written by
# the lvm tools on a loop device, as root, without activation (no device-mapper needed).
# VG "vgt", 4 KiB extents, a 32 KiB metadata area holding many committed copies, LV "a"
# (linear, two segments), LV "b" (linear); data: each 4 KiB extent of the data area
# stamped with its index.
set -eu
out=${1:-fixtures/corrupt/lvm-base.img}
rm -f "$out"
truncate -s 768k "$out"
L=$(losetup -f --show "$out")
trap 'losetup -d "$L"' EXIT
C="global { activation = 0 } devices { filter = [ \"a|^$L\$|\", \"r|.*|\" ] use_devicesfile = 0 pv_min_size = 512 } backup { backup = 0 archive = 0 }"
export LVM_SUPPRESS_FD_WARNINGS=1
lvm() { command lvm "$@" --config "$C" >/dev/null 2>&1 || command lvm "$@" --config "$C"; }
lvm pvcreate --metadatasize 32k --dataalignment 4k "$L"
lvm vgcreate -s 4k vgt "$L"
lvm lvcreate -an -Zn -l 8 -n a vgt
lvm lvcreate -an -Zn -l 4 -n b vgt
lvm lvextend -l +4 vgt/a
# Churn until the metadata text wraps around the circular buffer.
# Churn: lvm 2.03 never wraps a text around the buffer's end (it starts over at the
# beginning of the buffer instead), so 24 commits leave the newest copy among older ones.
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  lvm lvcreate -an -Zn -l 1 -n tmp$i vgt
  lvm lvremove -y vgt/tmp$i
done
python3 - "$out" <<'P'
import struct, sys
p = sys.argv[1]
d = bytearray(open(p, 'rb').read())
m = d.find(b' LVM2 x[5A%r0N*>') - 4
start, size = struct.unpack('<QQ', d[m + 24:m + 40])
off, ln = struct.unpack('<QQ', d[m + 40:m + 56])
pe_start = start + size  # with --dataalignment 4k the data follows the area
for i, at in enumerate(range(pe_start, len(d), 4096)):
    d[at:at + 4096] = bytes([i & 0xff]) * 4096
open(p, 'wb').write(d)
P
command lvm lvs --config "$C" --segments -o lv_name,seg_pe_ranges,vg_seqno 2>/dev/null
