//! GUIDs as GPT stores them: 16 bytes, the first three fields little-endian
//! ("mixed-endian", UEFI 2.10 Appendix A), shown as `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`.

use std::fmt;

/// A GUID in its on-disk byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The all-zero GUID (an unused GPT entry).
    pub const ZERO: Guid = Guid([0; 16]);

    /// Parses the text form (`XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`, any case).
    pub fn parse(s: &str) -> Option<Guid> {
        let digits: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
        if s.len() != 36 {
            return None;
        }
        let mut be = [0u8; 16];
        hex::decode_to_slice(digits, &mut be).ok()?;
        let mut b = be;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        Some(Guid(b))
    }

    /// A compile-time GUID from its text form; panics (at compile time) on a typo.
    pub const fn from_str_const(s: &str) -> Guid {
        const fn nib(c: u8) -> u8 {
            match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => panic!("bad hex digit in GUID"),
            }
        }
        let s = s.as_bytes();
        assert!(s.len() == 36);
        let mut be = [0u8; 16];
        let mut i = 0;
        let mut j = 0;
        while i < 36 {
            if s[i] == b'-' {
                i += 1;
                continue;
            }
            be[j] = nib(s[i]) << 4 | nib(s[i + 1]);
            j += 1;
            i += 2;
        }
        assert!(j == 16);
        let b = be;
        Guid([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ])
    }

    /// Whether this is the all-zero GUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{}",
            b[3],
            b[2],
            b[1],
            b[0],
            b[5],
            b[4],
            b[7],
            b[6],
            b[8],
            b[9],
            hex::encode_upper(&b[10..])
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Partition type GUIDs that matter here (ESXI.md, "GPT partition type GUIDs").
pub mod types {
    use super::Guid;
    /// EFI System Partition (ESXi: systemPartition, partition 1).
    pub const EFI_SYSTEM: Guid = Guid::from_str_const("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    /// Microsoft Basic Data (ESXi: linuxNative — bootbanks, locker, scratch).
    pub const BASIC_DATA: Guid = Guid::from_str_const("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
    /// VMware vmkDiagnostic (coredump).
    pub const VMKDIAGNOSTIC: Guid = Guid::from_str_const("9D275380-40AD-11DB-BF97-000C2911D1B8");
    /// VMware VMFS datastore.
    pub const VMFS: Guid = Guid::from_str_const("AA31E02A-400F-11DB-9590-000C2911D1B8");
    /// VMware VMFS-L (OSDATA, ESXi 7+).
    pub const VMFSL: Guid = Guid::from_str_const("4EB2EA39-7855-4790-A79E-FAE495E21F8D");
    /// VMware reserved.
    pub const VMKRESERVED: Guid = Guid::from_str_const("9198EFFC-31C0-11DB-8F78-000C2911D1B8");
    /// VMware vSAN.
    pub const VSAN: Guid = Guid::from_str_const("381CFCCC-7288-11E0-92EE-000C2911D0B2");
    /// Linux filesystem data.
    pub const LINUX: Guid = Guid::from_str_const("0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    /// Linux swap.
    pub const LINUX_SWAP: Guid = Guid::from_str_const("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F");
    /// Linux LVM.
    pub const LINUX_LVM: Guid = Guid::from_str_const("E6D6D379-F507-44C2-A23C-238F2A3DF928");
    /// BIOS boot partition (GRUB).
    pub const BIOS_BOOT: Guid = Guid::from_str_const("21686148-6449-6E6F-744E-656564454649");
    /// Microsoft Reserved.
    pub const MS_RESERVED: Guid = Guid::from_str_const("E3C9E316-0B5C-4DB8-817D-F92DF00215AE");
    /// Windows Recovery Environment.
    pub const MS_RECOVERY: Guid = Guid::from_str_const("DE94BBA4-06D1-4D40-A16A-BFD50179D6AC");

    /// A human name for a type GUID (partedUtil's for the VMware ones), if known.
    pub fn name(g: &Guid) -> Option<&'static str> {
        Some(match *g {
            EFI_SYSTEM => "EFI System",
            BASIC_DATA => "Basic Data",
            VMKDIAGNOSTIC => "VMware vmkDiagnostic",
            VMFS => "VMware VMFS",
            VMFSL => "VMware VMFS-L",
            VMKRESERVED => "VMware reserved",
            VSAN => "VMware vSAN",
            LINUX => "Linux filesystem",
            LINUX_SWAP => "Linux swap",
            LINUX_LVM => "Linux LVM",
            BIOS_BOOT => "BIOS boot",
            MS_RESERVED => "Microsoft reserved",
            MS_RECOVERY => "Windows recovery",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_endian_round_trip() {
        let g = types::VMFS;
        assert_eq!(
            g.0,
            [
                0x2a, 0xe0, 0x31, 0xaa, 0x0f, 0x40, 0xdb, 0x11, 0x95, 0x90, 0x00, 0x0c, 0x29, 0x11,
                0xd1, 0xb8
            ]
        );
        assert_eq!(g.to_string(), "AA31E02A-400F-11DB-9590-000C2911D1B8");
        assert_eq!(Guid::parse("aa31e02a-400f-11db-9590-000c2911d1b8"), Some(g));
        assert_eq!(Guid::parse("aa31e02a-400f-11db-9590-000c2911d1b"), None);
    }
}
