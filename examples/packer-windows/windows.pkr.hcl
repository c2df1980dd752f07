# Windows (Server) for MAAS: packer's QEMU builder runs Windows Setup from its ISO, ddgz
# finishes the image. The install follows canonical/packer-maas `windows`: UEFI (OVMF) on
# a q35 machine, the answer file (http/Autounattend.xml) and logon.ps1 on a floppy, the
# virtio drivers on a second CD-ROM, a 32 GiB raw disk that Setup lays out as EFI system,
# MSR, recovery and Windows partitions; Setup (and Cloudbase-Init's sysprep) shut the VM
# down at the end. Where packer-maas then needs root, the nbd kernel module, qemu-nbd and
# a kernel NTFS mount (scripts/setup-nbd) to copy curtin/ into the Windows partition, and
# packer's `compress` post-processor to gzip all 32 GiB, one unprivileged
# `ddgz convert --add curtin` does both, reading the raw disk read-only: it finds the
# Windows partition (the NTFS one holding Windows/System32: partition 4 here, 3 on
# packer-maas's VHDX path) and writes curtin/ into it in an overlay.
#
# Like the ESXi example, this file has no `packer { required_plugins }` block so that it
# validates with the packer that has QEMU built in (Debian's 1.6.6); plugins.pkr.hcl beside
# it declares the QEMU plugin for packer >= 1.7 (`packer init .`, `packer build .`).

variable "iso_path" {
  type        = string
  default     = "${env("WINDOWS_ISO_PATH")}"
  description = "The Windows (Server) installer ISO."
}

variable "drivers_iso" {
  type        = string
  default     = "virtio-win.iso"
  description = "The virtio drivers ISO (fedorapeople.org's virtio-win.iso)."
}

variable "disk_size" {
  type    = string
  default = "32G"
}

variable "ovmf_suffix" {
  type        = string
  default     = "_4M"
  description = "Suffix of the OVMF firmware files (/usr/share/OVMF/OVMF_CODE_4M.ms.fd)."
}

variable "headless" {
  type        = bool
  default     = true
  description = "Run without a VNC viewer."
}

variable "timeout" {
  type        = string
  default     = "1h"
  description = "How long Setup may run before the build fails."
}

variable "ddgz" {
  type        = string
  default     = "ddgz"
  description = "The ddgz binary."
}

variable "filename" {
  type        = string
  default     = "windows.dd.gz"
  description = "The ddgz file to upload to MAAS."
}

source "qemu" "windows_builder" {
  iso_url      = var.iso_path
  iso_checksum = "none"
  accelerator  = "kvm"
  machine_type = "q35"
  cpus         = 2
  memory       = 4096
  net_device   = "e1000"
  headless     = var.headless
  communicator = "none"

  # The disk packer creates: output-windows_builder/packer-windows_builder.
  disk_size = var.disk_size
  format    = "raw"

  # The answer file and the first-logon script, as packer-maas hands them to Setup.
  floppy_files = ["./http/Autounattend.xml", "./http/logon.ps1"]

  boot_wait    = "2s"
  boot_command = ["<return>"]

  # qemuargs replace packer's own -drive and -cdrom arguments whole, so the disk, the
  # installer and the drivers CD are listed here, with the UEFI firmware (Secure Boot
  # keys enrolled: the .ms.fd files) and its writable variables.
  qemuargs = [
    ["-cpu", "host"],
    ["-serial", "stdio"],
    ["-drive", "if=pflash,format=raw,id=ovmf_code,readonly=on,file=/usr/share/OVMF/OVMF_CODE${var.ovmf_suffix}.ms.fd"],
    ["-drive", "if=pflash,format=raw,id=ovmf_vars,file=OVMF_VARS.fd"],
    ["-drive", "file=output-windows_builder/packer-windows_builder,format=raw"],
    ["-cdrom", "${var.iso_path}"],
    ["-drive", "file=${var.drivers_iso},media=cdrom,index=3"],
    ["-boot", "d"],
  ]

  # Setup's last step shuts the VM down; packer waits for that.
  shutdown_timeout = var.timeout
}

build {
  sources = ["source.qemu.windows_builder"]

  # packer-maas's setup-nbd + mount -t ntfs + mkdir curtin + cp + umount + qemu-nbd -d +
  # `compress`, as one unprivileged step: curtin/ (curtin-hooks, finalize, finalize.py)
  # into the Windows partition, where curtin looks for it; the layout checked; compressed
  # in parallel into one gzip member; the maas line printed.
  post-processor "shell-local" {
    inline = [
      "${var.ddgz} convert output-windows_builder/packer-windows_builder -o ${var.filename} --force --add curtin",
    ]
  }
}
