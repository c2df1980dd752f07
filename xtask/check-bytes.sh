#!/usr/bin/env bash
# check-bytes.sh DDGZ_BINARY [OUTDIR]: convert every input of $CHECK_BYTES_INPUTS (built
# once, on the first call: one 256 MiB GPT disk with a FAT and an ext4 partition, as raw,
# qcow2 plain/compressed/zstd/extended-L2/backing, VMDK mono/stream/2GB/flat, VHD
# dynamic/fixed, VHDX and VDI) with DDGZ_BINARY, run the convert/tar/ks-media variants,
# and print "sha256  name" for every output. `cargo xtask check-bytes` runs it; compare
# two binaries with: diff <(check-bytes.sh A) <(check-bytes.sh B)
set -euo pipefail
BIN=$(readlink -f "$1"); OUT=${2:-$(mktemp -d)}
IN=${CHECK_BYTES_INPUTS:?set CHECK_BYTES_INPUTS to the inputs directory}
mkdir -p "$OUT"
if [ ! -e "$IN/.done" ]; then
  rm -rf "$IN"; mkdir -p "$IN"; cd "$IN"
  mkdir -p root/etc root/usr/bin root/var/log fatsrc
  printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' > root/etc/os-release
  echo 0123456789abcdef0123456789abcdef > root/etc/machine-id
  python3 -c "
import random; r=random.Random(7)
open('root/usr/bin/blob','wb').write(bytes(r.getrandbits(8) for _ in range(3<<20)))
open('root/var/log/text','w').write(''.join('line %d %s\n'%(i,'abc'*(i%17)) for i in range(200000)))
open('fatsrc/BOOT.CFG','w').write('kernel=b.b00\n'*100)
"
  E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -U 11111111-2222-3333-4444-555555555555 -E hash_seed=11111111-2222-3333-4444-555555555555 -d root fs.img 64M >/dev/null
  mkfs.fat -C -F 32 -i 12345678 fat.img 40960 >/dev/null   # 40 MiB
  MTOOLS_SKIP_CHECK=1 mcopy -i fat.img fatsrc/BOOT.CFG ::/BOOT.CFG
  truncate -s 256M disk.raw
  sgdisk -o -U 01234567-89AB-CDEF-0123-456789ABCDEF -n 1:2048:+40M -t 1:ef00 -u 1:11111111-1111-1111-1111-111111111111 -n 2:0:+64M -u 2:22222222-2222-2222-2222-222222222222 disk.raw >/dev/null
  dd if=fat.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
  dd if=fs.img of=disk.raw bs=1M seek=41 conv=notrunc status=none
  python3 -c "
import random; r=random.Random(9); f=open('disk.raw','r+b'); f.seek(200<<20); f.write(bytes(r.getrandbits(8) for _ in range(1<<20))); f.seek(230<<20); f.write(b'x'*(2<<20))"
  qemu-img convert -f raw -O qcow2 disk.raw q.qcow2
  qemu-img convert -f raw -O qcow2 -c disk.raw qc.qcow2
  qemu-img convert -f raw -O qcow2 -o extended_l2=on,cluster_size=128k disk.raw qx.qcow2
  qemu-img convert -f raw -O qcow2 -o compression_type=zstd -c disk.raw qz.qcow2
  qemu-img create -q -f qcow2 -F qcow2 -b q.qcow2 qb.qcow2
  qemu-io -f qcow2 -c 'write -P 0x5a 100M 3M' -c 'write -z 41M 64k' qb.qcow2 >/dev/null
  qemu-img convert -f raw -O vmdk disk.raw v-mono.vmdk
  qemu-img convert -f raw -O vmdk -o subformat=streamOptimized disk.raw v-stream.vmdk
  qemu-img convert -f raw -O vmdk -o subformat=twoGbMaxExtentSparse disk.raw v-2gb.vmdk
  qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat disk.raw v-flat.vmdk
  qemu-img convert -f raw -O vpc disk.raw d.vhd
  qemu-img convert -f raw -O vpc -o subformat=fixed disk.raw f.vhd
  qemu-img convert -f raw -O vhdx disk.raw d.vhdx
  qemu-img convert -f raw -O vdi disk.raw d.vdi
  mkdir -p addsrc/curtin; printf '#!/bin/sh\necho hi\n' > addsrc/curtin/curtin-hooks
  echo 'vmaccepteula' > KS.CFG; touch -d @1700000000 KS.CFG addsrc/curtin/curtin-hooks
  touch .done
fi
cd "$IN"
run() { local name=$1; shift; if "$BIN" "$@" >"$OUT/$name.log" 2>&1; then sha256sum "$OUT/$name" | sed "s|$OUT/||"; else echo "FAILED $name: $(tail -1 "$OUT/$name.log")"; fi; }
for f in disk.raw q.qcow2 qc.qcow2 qx.qcow2 qz.qcow2 qb.qcow2 v-mono.vmdk v-stream.vmdk v-2gb.vmdk v-flat.vmdk d.vhd f.vhd d.vhdx d.vdi; do
  run "$f.j2.dd.gz" convert "$f" -o "$OUT/$f.j2.dd.gz" --no-validate -j2 -q
done
run q.qcow2.j1.dd.gz convert q.qcow2 -o "$OUT/q.qcow2.j1.dd.gz" --no-validate -j1 -q
run q.qcow2.l1.dd.gz convert q.qcow2 -o "$OUT/q.qcow2.l1.dd.gz" --no-validate --level 1 -q
run q.qcow2.add.dd.gz convert q.qcow2 -o "$OUT/q.qcow2.add.dd.gz" --no-validate --add addsrc/curtin -q
run root.j1.tar.gz tar q.qcow2 -o "$OUT/root.j1.tar.gz" -j1 -q
run root.j2.tar.gz tar q.qcow2 -o "$OUT/root.j2.tar.gz" -j2 -q
run root.add.tar.gz tar d.vhdx -o "$OUT/root.add.tar.gz" --add addsrc/curtin -q
run usb.img ks-media KS.CFG -o "$OUT/usb.img"
