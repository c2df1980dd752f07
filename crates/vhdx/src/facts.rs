//! What a VHDX says about itself, in the format-neutral shape every reader reports
//! ([`ddgz_disk::Facts`]), so that `inspect` prints it without knowing VHDX.

use ddgz_disk::{Container, Facts};

use crate::Vhdx;

impl Container for Vhdx {
    fn facts(&self) -> Facts {
        let i = self.info();
        let mut f = Facts::new("vhdx", self.path(), i.virtual_size);
        f.subformat = Some(i.subformat.into());
        f.allocation_unit = Some(("block", i.block_size));
        f.details.push((
            "sectors",
            format!(
                "{} logical, {} physical",
                i.logical_sector_size, i.physical_sector_size
            ),
        ));
        if let Some(l) = i.log {
            f.details.push((
                "log",
                format!(
                    "replayed in memory: {} entries (sequence {}..{}), {} writes; the file \
                     is unchanged",
                    l.entries, l.sequence.0, l.sequence.1, l.writes
                ),
            ));
        }
        f
    }
}
