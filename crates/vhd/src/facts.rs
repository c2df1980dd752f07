//! What a VHD says about itself, in the format-neutral shape every reader reports
//! ([`ddgz_disk::Facts`]), so that `inspect` prints it without knowing VHD.

use ddgz_disk::{Container, Facts};

use crate::{FooterCopy, SizeRule, Vhd};

impl Container for Vhd {
    fn facts(&self) -> Facts {
        let i = self.info();
        let mut f = Facts::new("vhd", &i.path, i.virtual_size);
        f.subformat = Some(i.disk_type.name().into());
        f.allocation_unit = i.block_size.map(|b| ("block", b));
        f.details.push(("creator", format!("{:?}", i.creator_app)));
        let rule = match i.size_rule {
            SizeRule::Chs => "CHS geometry",
            SizeRule::CurrentSize => "current_size",
        };
        f.details.push(("size from", rule.into()));
        if i.footer == FooterCopy::Head {
            f.details.push((
                "footer",
                "copy at offset 0 (the footer at the end is damaged)".into(),
            ));
        }
        // The parents, nearest first, nested from the farthest up.
        f.backing = i.parents.iter().rev().fold(None, |below, p| {
            let mut pf = Facts::new("vhd", &p.path, p.virtual_size);
            pf.subformat = Some(p.disk_type.name().into());
            pf.details.push(("found by", p.found_by.clone()));
            pf.backing = below;
            Some(Box::new(pf))
        });
        f
    }
}
