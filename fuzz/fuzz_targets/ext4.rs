//! ext2/3/4 through ddgz-ext4 and the tar walk of ddgz-tar: open the filesystem held in
//! memory (superblock, descriptors, journal replay) and write the whole tree as a tar
//! stream into a sink (directories, extents, block maps, inline data, xattrs, ACLs).
#![no_main]
use ddgz_disk::MemoryDisk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let disk = MemoryDisk(data.to_vec());
    let Ok(fs) = ddgz_ext4::Fs::open(&disk, 0, data.len() as u64) else {
        return;
    };
    let _ = fs.lookup(b"/etc/os-release", true);
    let names = ddgz_tar::Names::from_fs(&fs);
    let mut tar = ddgz_tar::Writer::new(std::io::sink());
    let mut report = ddgz_tar::Report::default();
    let _ = ddgz_tar::write_fs(
        &fs,
        ddgz_ext4::ROOT_INO,
        b"./",
        &mut tar,
        &ddgz_tar::Options::default(),
        &names,
        &mut report,
    );
});
