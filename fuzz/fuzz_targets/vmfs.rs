//! VMFS / VMFS-L headers: the input is split into the LVM header area (partition offset
//! 1 MiB) and the filesystem descriptor area (0x1300000) of a 64 MiB partition that reads
//! as zeros elsewhere.
#![no_main]
use ddgz_disk::{Disk, Extent, ExtentKind};
use libfuzzer_sys::fuzz_target;

const SIZE: u64 = 64 << 20;

#[derive(Debug)]
struct Sparse(Vec<(u64, Vec<u8>)>);

impl Disk for Sparse {
    fn size(&self) -> u64 {
        SIZE
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        ddgz_disk::check_range(SIZE, offset, len)?;
        Ok(vec![Extent { offset, len, kind: ExtentKind::Data }])
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        ddgz_disk::check_range(SIZE, offset, buf.len() as u64)?;
        buf.fill(0);
        let end = offset + buf.len() as u64;
        for (at, bytes) in &self.0 {
            let (s, e) = (offset.max(*at), end.min(at + bytes.len() as u64));
            if s < e {
                buf[(s - offset) as usize..(e - offset) as usize]
                    .copy_from_slice(&bytes[(s - at) as usize..(e - at) as usize]);
            }
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let half = data.len() / 2;
    let disk = Sparse(vec![
        (ddgz_vmfs::LVM_HEADER, data[..half].to_vec()),
        (ddgz_vmfs::FS_DESCRIPTOR, data[half..].to_vec()),
    ]);
    let _ = ddgz_vmfs::probe(&disk, 0..SIZE);
});
