# VMware ESXi for MAAS: packer's QEMU builder runs the ESXi installer, ddgz finishes the
# image. The install follows canonical/packer-maas `vmware-esxi`: the ISO boots on a q35
# machine with the kickstart on a USB stick (usb.img) onto a 32 GiB raw disk on an AHCI
# (SATA) controller, with systemMediaSize=min so that no datastore is made (MAAS grows or
# creates it at deploy time), and the kickstart halts the VM after the install. Where
# packer-maas then needs qemu-nbd, nbdkit, nbdfuse and fusefat (root or FUSE) to copy
# curtin/ into partition 1, and packer's `compress` post-processor to gzip all 32 GiB, one
# unprivileged `ddgz convert --add` does both, reading the raw disk read-only.
#
# This file holds no `packer { required_plugins }` block so that it validates with the
# packer that has QEMU built in (Debian's 1.6.6: `packer validate vmware-esxi.pkr.hcl`);
# plugins.pkr.hcl beside it declares the QEMU plugin for packer >= 1.7, which the Makefile
# uses on the whole directory (`packer init .`, `packer build .`).

variable "vmware_esxi_iso_path" {
  type        = string
  default     = "${env("VMWARE_ESXI_ISO_PATH")}"
  description = "The VMware ESXi installer ISO."
}

variable "timeout" {
  type        = string
  default     = "1h"
  description = "How long the installer may run before the build fails."
}

variable "ddgz" {
  type        = string
  default     = "ddgz"
  description = "The ddgz binary."
}

variable "output" {
  type        = string
  default     = "vmware-esxi.dd.gz"
  description = "The ddgz file to upload to MAAS."
}

source "qemu" "esxi" {
  iso_url      = var.vmware_esxi_iso_path
  iso_checksum = "none"
  accelerator  = "kvm"
  machine_type = "q35"
  cpus         = 4
  memory       = 8192
  net_device   = "vmxnet3"
  headless     = true
  communicator = "none"

  # The disk packer creates: output-esxi/packer-esxi (vm_name defaults to packer-esxi).
  disk_size = "32G"
  format    = "raw"

  boot_wait = "3s"
  # Shift+O edits the installer's boot options: kickstart from the USB stick, no CPU
  # uniformity panic under QEMU, the small system area, the console on the serial port.
  boot_command = [
    "<enter><wait>",
    "<leftShiftOn>O<leftShiftOff>",
    " ks=usb:/KS.CFG",
    " cpuUniformityHardCheckPanic=FALSE",
    " systemMediaSize=min",
    " com1_Port=0x3f8 tty2Port=com1",
    "<enter>",
  ]

  # qemuargs replace packer's own -drive and -cdrom arguments whole (a key given here is
  # not merged with the builder's), so the disk and the ISO are listed here too: the disk
  # on an AHCI controller (ESXi 9 has no IDE driver), the ISO as the boot CD-ROM, and the
  # kickstart stick made by `ddgz ks-media KS.CFG -o usb.img`.
  qemuargs = [
    ["-cpu", "host"],
    ["-serial", "stdio"],
    ["-usb"],
    ["-device", "usb-storage,drive=usb0"],
    ["-drive", "file=usb.img,if=none,id=usb0,format=raw,readonly=on"],
    ["-cdrom", "${var.vmware_esxi_iso_path}"],
    ["-device", "ich9-ahci,id=sata"],
    ["-device", "ide-hd,drive=sata-disk,bus=sata.0"],
    ["-drive", "file=output-esxi/packer-esxi,if=none,id=sata-disk,cache=writeback,discard=ignore,format=raw"],
    ["-boot", "d"],
  ]

  # The kickstart's %post halts the VM; packer waits for that.
  shutdown_timeout = var.timeout
}

build {
  sources = ["source.qemu.esxi"]

  # packer-maas's fuse-nbd + post.sh + `compress`, as one unprivileged step: curtin/
  # (curtin-hooks) and scripts.tar.xz into partition 1, where curtin looks for curtin/;
  # the ESXi layout and the MAAS readiness checked (the result refused on an error);
  # compressed in parallel into one gzip member; the maas line printed with the name
  # esxi/<release> read from the image's boot.cfg.
  post-processor "shell-local" {
    inline = [
      "${var.ddgz} convert output-esxi/packer-esxi -o ${var.output} --force --add curtin --add scripts.tar.xz:curtin/",
    ]
  }
}
