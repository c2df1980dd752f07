# The QEMU builder as a plugin, for packer >= 1.7 (`packer init .`). Debian's packer 1.6.6
# has it built in and validates windows.pkr.hcl alone.
packer {
  required_plugins {
    qemu = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/qemu"
    }
  }
}
