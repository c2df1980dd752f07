# VMware ESXi for MAAS, built with packer's QEMU builder and finished with ddgz.
#
# Same install as canonical/packer-maas `vmware-esxi`: the ESXi ISO boots under QEMU with
# a kickstart USB stick (usb.img, KS.CFG at its root) onto a 32 GiB raw disk. What differs
# is the end: instead of qemu-nbd + nbdkit + nbdfuse + fusefat (root or FUSE) to copy
# curtin/ into partition 1, and packer's `compress` post-processor to gzip all 32 GiB,
# one unprivileged `ddgz convert --add` does both, reading the raw disk read-only.
#
#   make            # builds usb.img with `ddgz ks-media`, scripts.tar.xz, then runs packer
#   maas $PROFILE boot-resources create name='esxi/8' title='VMware ESXi 8' \
#       architecture='amd64/generic' filetype='ddgz' content@=vmware-esxi.dd.gz

packer {
  required_version = ">= 1.7.0"
  required_plugins {
    qemu = {
      version = "~> 1.0"
      source  = "github.com/hashicorp/qemu"
    }
  }
}

variable "vmware_esxi_iso_path" {
  type        = string
  default     = "${env("VMWARE_ESXI_ISO_PATH")}"
  description = "Path to the VMware ESXi installer ISO."
}

variable "headless" {
  type    = bool
  default = true
}

variable "output" {
  type        = string
  default     = "vmware-esxi.dd.gz"
  description = "The ddgz file to upload to MAAS."
}

variable "ddgz" {
  type        = string
  default     = "ddgz"
  description = "The ddgz binary."
}

source "qemu" "esxi" {
  iso_url      = var.vmware_esxi_iso_path
  iso_checksum = "none"
  headless     = var.headless

  # ESXi's installer: 32 GiB raw disk; systemMediaSize=min keeps OSDATA small so no
  # datastore is made (MAAS grows or creates it at deploy time).
  disk_size      = "32G"
  format         = "raw"
  disk_interface = "ide"
  net_device     = "vmxnet3"
  memory         = 8192
  cpus           = 2
  communicator   = "none"

  boot_wait = "3s"
  boot_command = [
    "<enter><wait>",
    "<leftShiftOn>O<leftShiftOff>",
    " ks=usb:/KS.CFG systemMediaSize=min<enter>",
  ]

  # The kickstart medium made by `ddgz ks-media KS.CFG -o usb.img`.
  qemuargs = [
    ["-cpu", "host"],
    ["-device", "nec-usb-xhci,id=xhci"],
    ["-device", "usb-storage,bus=xhci.0,drive=ks"],
    ["-drive", "file=${path.root}/usb.img,if=none,id=ks,format=raw,readonly=on"],
  ]

  # The kickstart powers the VM off at the end of the installation.
  shutdown_timeout = "1h"
}

build {
  sources = ["source.qemu.esxi"]

  # Replaces packer-maas's nbd/FUSE post-processor and the `compress` post-processor:
  # curtin/ (curtin-hooks, executable by the vfat driver's default fmask) and
  # scripts.tar.xz go into partition 1, the FAT boot partition where curtin looks for
  # `curtin/`; the disk is validated and compressed in parallel into one gzip member.
  # Rootless: no nbd module, no FUSE, no mount.
  post-processor "shell-local" {
    inline = [
      "${var.ddgz} convert output-esxi/packer-esxi -o ${var.output} --force --add curtin --add scripts.tar.xz:curtin/",
    ]
  }
}
