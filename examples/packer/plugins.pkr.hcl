# The QEMU builder is a plugin since packer 1.7 (and out of packer's core since 1.10):
# `packer init .` installs it. Packer 1.6 has it built in and validates
# vmware-esxi.pkr.hcl alone.
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    qemu = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/qemu"
    }
  }
}
