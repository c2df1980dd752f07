#!/bin/sh
# Fills corpus/TARGET with seeds: the committed fixtures (fixtures/corrupt: valid images
# and one per failure), and for `vmfs` the LVM header + FS descriptor areas of the real
# VMFS-3 volume of ../shared/fixtures (seeds/vmfs3-toto.vmfs, 8 KiB of each).
set -e
cd "$(dirname "$0")"
F=../fixtures/corrupt
mkdir -p corpus/vhd corpus/vdi corpus/vhdx corpus/vmdk corpus/qcow2 corpus/layout corpus/vmfs corpus/fat corpus/fat_add corpus/ext4 corpus/gzip corpus/xfs
cp "$F"/*.qcow2 corpus/qcow2/
cp "$F"/vmdk-*.vmdk corpus/vmdk/
cp "$F"/vhd-*.vhd corpus/vhd/
cp "$F"/vdi-*.vdi corpus/vdi/
cp seeds/vhdx-*.bin corpus/vhdx/
cp "$F"/gpt-*.raw corpus/layout/
cp "$F"/fat-*.img corpus/fat/
cp "$F"/ext4-*.img corpus/ext4/
cp "$F"/xfs-*.bin corpus/xfs/
cp "$F"/fat-*.img corpus/fat_add/
cp "$F"/*.dd.gz corpus/gzip/
cp seeds/*.vmfs corpus/vmfs/
