//! What a VDI says about itself, in the format-neutral shape every reader reports
//! ([`ddgz_disk::Facts`]), so that `inspect` prints it without knowing VDI.

use ddgz_disk::{Container, Facts};

use crate::Vdi;

impl Container for Vdi {
    fn facts(&self) -> Facts {
        let i = self.info();
        let mut f = Facts::new("vdi", &i.path, i.virtual_size);
        f.subformat = Some(i.image_type.name());
        f.allocation_unit = Some(("block", i.block_size));
        f.details
            .push(("blocks allocated", i.blocks_allocated.to_string()));
        f.details.push(("blocks zero", i.blocks_zero.to_string()));
        f
    }
}
