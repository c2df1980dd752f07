//! The archive format GNU tar 1.34 writes with `--xattrs --acls --selinux -S`: POSIX
//! pax (POSIX.1-2001). Each member is an optional extended header (typeflag `x`, named
//! `DIR/PaxHeaders/NAME`, holding `LEN key=value\n` records) and a ustar header
//! (512 bytes, octal fields, checksum), then the data padded to 512 bytes; the archive
//! ends with two zero blocks, padded to a 10240-byte record. Sparse files are GNU's
//! "PAX 1.0" sparse format: `GNU.sparse.{major,minor,name,realsize}` records, a ustar
//! name `DIR/GNUSparseFile.0/NAME`, and the data preceded by the map in decimal text.

use std::io::{self, Write};

use ddgz_fs::Time;

/// A tar block.
pub const BLOCK: usize = 512;
/// GNU tar's default record: 20 blocks.
pub const RECORD: u64 = 20 * BLOCK as u64;
/// Largest value of an 11-digit octal field (size, mtime): 8 GiB − 1.
const MAX_OCTAL11: u64 = 0o77777777777;
/// Largest value of a 7-digit octal field (mode, uid, gid, device numbers).
const MAX_OCTAL7: u64 = 0o7777777;

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of `size` bytes (the real size; see [`Header::sparse`]).
    Regular {
        /// Bytes of content.
        size: u64,
    },
    /// A directory.
    Directory,
    /// A symlink to `target`.
    Symlink(Vec<u8>),
    /// A hard link to an earlier member's name.
    HardLink(Vec<u8>),
    /// A character device.
    CharDevice(u32, u32),
    /// A block device.
    BlockDevice(u32, u32),
    /// A FIFO.
    Fifo,
}

/// One member's metadata.
#[derive(Debug, Clone)]
pub struct Header {
    /// Member name, e.g. `./etc/passwd`, `./etc/` for a directory.
    pub path: Vec<u8>,
    /// Type (and size or target).
    pub kind: Kind,
    /// Permission bits with setuid, setgid, sticky (`07777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Owner's name, when known.
    pub uname: Option<Vec<u8>>,
    /// Group's name, when known.
    pub gname: Option<Vec<u8>>,
    /// Modification time.
    pub mtime: Time,
    /// Access time.
    pub atime: Time,
    /// Status change time.
    pub ctime: Time,
    /// Extra pax records after the times, in order (ACLs, SELinux context, xattrs).
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
    /// For a sparse regular file: the data segments (offset, length), in order. The
    /// member then holds only those bytes.
    pub sparse: Option<Vec<(u64, u64)>>,
}

/// Largest member size GNU tar reads back: its sizes are `off_t`, signed 64-bit (a larger
/// `size` or `GNU.sparse.realsize` is "out of range" to it).
pub const MAX_MEMBER_SIZE: u64 = i64::MAX as u64;

/// The pax keyword GNU tar writes for xattr `name`: `SCHILY.xattr.` then the name with
/// `%` as `%25` and `=` as `%3D` (`xattr_encode_keyword` in GNU tar's `xheader.c`), since
/// a keyword ends at the first `=`. GNU tar decodes the two escapes when it extracts.
pub fn xattr_keyword(name: &[u8]) -> Vec<u8> {
    let mut k = b"SCHILY.xattr.".to_vec();
    for &c in name {
        match c {
            b'%' => k.extend_from_slice(b"%25"),
            b'=' => k.extend_from_slice(b"%3D"),
            _ => k.push(c),
        }
    }
    k
}

/// `LEN key=value\n` where LEN counts the whole record, itself included.
fn record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A time as pax writes it: seconds, then a dot and the nanoseconds without trailing
/// zeros when there are any (`-1.5` is 1.5 s before the epoch).
pub fn pax_time(t: Time) -> String {
    let (neg, mut sec, mut nsec) = if t.sec < 0 && t.nsec > 0 {
        (true, -(t.sec + 1), 1_000_000_000 - t.nsec)
    } else if t.sec < 0 {
        (true, -t.sec, 0)
    } else {
        (false, t.sec, t.nsec)
    };
    if nsec >= 1_000_000_000 {
        sec += 1;
        nsec -= 1_000_000_000;
    }
    let mut s = format!("{}{sec}", if neg { "-" } else { "" });
    if nsec > 0 {
        let frac = format!("{nsec:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s
}

/// Writes `v` as `width - 1` octal digits and a NUL into `field`.
fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    field[..w].copy_from_slice(&s.as_bytes()[s.len() - w..]);
    field[w] = 0;
}

/// The directory part (`.` when none) and the last component of a member name, without
/// a trailing slash.
fn split_name(path: &[u8]) -> (&[u8], &[u8]) {
    let p = path.strip_suffix(b"/").unwrap_or(path);
    match p.iter().rposition(|&c| c == b'/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (b".", p),
    }
}

/// Fills the ustar name and prefix fields; `false` when the name fits in neither.
fn set_name(block: &mut [u8; BLOCK], name: &[u8]) -> bool {
    if name.len() <= 100 {
        block[..name.len()].copy_from_slice(name);
        return true;
    }
    // Split at a '/' so that the prefix has at most 155 bytes and the rest at most 100.
    let split = (0..name.len())
        .rev()
        .filter(|&i| name[i] == b'/')
        .find(|&i| i <= 155 && name.len() - i - 1 <= 100 && i > 0);
    match split {
        Some(i) if name.len() - i - 1 > 0 => {
            block[345..345 + i].copy_from_slice(&name[..i]);
            block[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
            true
        }
        _ => {
            block[..100].copy_from_slice(&name[..100]);
            false
        }
    }
}

/// A ustar header block.
#[allow(clippy::too_many_arguments)]
fn ustar(
    name: &[u8],
    typeflag: u8,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    link: &[u8],
    uname: &[u8],
    gname: &[u8],
    dev: (u32, u32),
) -> ([u8; BLOCK], bool) {
    let mut b = [0u8; BLOCK];
    let fits = set_name(&mut b, name);
    octal(&mut b[100..108], u64::from(mode).min(MAX_OCTAL7));
    octal(
        &mut b[108..116],
        if u64::from(uid) > MAX_OCTAL7 {
            0
        } else {
            u64::from(uid)
        },
    );
    octal(
        &mut b[116..124],
        if u64::from(gid) > MAX_OCTAL7 {
            0
        } else {
            u64::from(gid)
        },
    );
    octal(&mut b[124..136], if size > MAX_OCTAL11 { 0 } else { size });
    octal(
        &mut b[136..148],
        u64::try_from(mtime)
            .ok()
            .filter(|&m| m <= MAX_OCTAL11)
            .unwrap_or(0),
    );
    b[156] = typeflag;
    let l = link.len().min(100);
    b[157..157 + l].copy_from_slice(&link[..l]);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    let u = uname.len().min(32);
    b[265..265 + u].copy_from_slice(&uname[..u]);
    let g = gname.len().min(32);
    b[297..297 + g].copy_from_slice(&gname[..g]);
    octal(&mut b[329..337], u64::from(dev.0).min(MAX_OCTAL7));
    octal(&mut b[337..345], u64::from(dev.1).min(MAX_OCTAL7));
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let s = format!("{sum:06o}");
    b[148..154].copy_from_slice(s.as_bytes());
    b[154] = 0;
    b[155] = b' ';
    (b, fits)
}

/// Writes a tar stream: headers, data padded to blocks, the end of the archive.
pub struct Writer<W: Write> {
    out: W,
    written: u64,
    /// Data bytes the current member still expects.
    remaining: u64,
    /// Data bytes of the current member (for the padding).
    member_data: u64,
}

impl<W: Write> Writer<W> {
    /// A writer on `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: 0,
            remaining: 0,
            member_data: 0,
        }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.written
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.put(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Starts member `h`: writes its headers (and a sparse map). For a regular file the
    /// caller then writes exactly its data (the sparse segments' bytes, in order) with
    /// [`Writer::data`], and calls [`Writer::end`].
    pub fn begin(&mut self, h: &Header) -> io::Result<()> {
        assert_eq!(self.remaining, 0, "a member's data was not finished");
        if let Kind::Regular { size } = h.kind {
            if size > MAX_MEMBER_SIZE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: size {size} bytes is past what tar can hold ({MAX_MEMBER_SIZE})",
                        String::from_utf8_lossy(&h.path)
                    ),
                ));
            }
        }
        let (typeflag, link, dev, data_len): (u8, &[u8], (u32, u32), u64) = match &h.kind {
            Kind::Regular { size } => (b'0', b"", (0, 0), *size),
            Kind::Directory => (b'5', b"", (0, 0), 0),
            Kind::Symlink(t) => (b'2', t, (0, 0), 0),
            Kind::HardLink(t) => (b'1', t, (0, 0), 0),
            Kind::CharDevice(a, b) => (b'3', b"", (*a, *b), 0),
            Kind::BlockDevice(a, b) => (b'4', b"", (*a, *b), 0),
            Kind::Fifo => (b'6', b"", (0, 0), 0),
        };
        let mut pax = Vec::new();
        let mut name = h.path.clone();
        let mut map = Vec::new();
        let mut member_size = data_len;
        if let (Some(segs), Kind::Regular { size }) = (&h.sparse, &h.kind) {
            record(&mut pax, b"GNU.sparse.major", b"1");
            record(&mut pax, b"GNU.sparse.minor", b"0");
            record(&mut pax, b"GNU.sparse.name", &h.path);
            record(
                &mut pax,
                b"GNU.sparse.realsize",
                size.to_string().as_bytes(),
            );
            let (dir, base) = split_name(&h.path);
            name = [dir, b"/GNUSparseFile.0/", base].concat();
            map.extend_from_slice(format!("{}\n", segs.len()).as_bytes());
            for (o, l) in segs {
                map.extend_from_slice(format!("{o}\n{l}\n").as_bytes());
            }
            let padded = map.len().div_ceil(BLOCK) * BLOCK;
            map.resize(padded, 0);
            member_size = map.len() as u64 + segs.iter().map(|s| s.1).sum::<u64>();
        }
        let fits_name = name.len() <= 100 || set_name(&mut [0u8; BLOCK], &name);
        if !fits_name {
            record(&mut pax, b"path", &name);
        }
        if link.len() > 100 {
            record(&mut pax, b"linkpath", link);
        }
        if member_size > MAX_OCTAL11 {
            record(&mut pax, b"size", member_size.to_string().as_bytes());
        }
        if u64::from(h.uid) > MAX_OCTAL7 {
            record(&mut pax, b"uid", h.uid.to_string().as_bytes());
        }
        if u64::from(h.gid) > MAX_OCTAL7 {
            record(&mut pax, b"gid", h.gid.to_string().as_bytes());
        }
        let uname = h.uname.as_deref().unwrap_or(b"");
        let gname = h.gname.as_deref().unwrap_or(b"");
        if uname.len() > 32 {
            record(&mut pax, b"uname", uname);
        }
        if gname.len() > 32 {
            record(&mut pax, b"gname", gname);
        }
        record(&mut pax, b"mtime", pax_time(h.mtime).as_bytes());
        record(&mut pax, b"atime", pax_time(h.atime).as_bytes());
        record(&mut pax, b"ctime", pax_time(h.ctime).as_bytes());
        for (k, v) in &h.records {
            record(&mut pax, k, v);
        }
        let (dir, base) = split_name(&h.path);
        let pax_name = [dir, b"/PaxHeaders/", base].concat();
        let (xb, _) = ustar(
            &pax_name[..pax_name.len().min(100)],
            b'x',
            0o644,
            0,
            0,
            pax.len() as u64,
            h.mtime.sec,
            b"",
            b"",
            b"",
            (0, 0),
        );
        self.put(&xb)?;
        self.put(&pax)?;
        self.pad(pax.len() as u64)?;
        let (hb, _) = ustar(
            &name,
            typeflag,
            h.mode & 0o7777,
            h.uid,
            h.gid,
            member_size,
            h.mtime.sec,
            link,
            uname,
            gname,
            dev,
        );
        self.put(&hb)?;
        self.put(&map)?;
        self.remaining = member_size - map.len() as u64;
        self.member_data = member_size;
        Ok(())
    }

    /// Writes data of the current member.
    pub fn data(&mut self, b: &[u8]) -> io::Result<()> {
        if b.len() as u64 > self.remaining {
            return Err(io::Error::other(format!(
                "member data overflows its header by {} bytes",
                b.len() as u64 - self.remaining
            )));
        }
        self.remaining -= b.len() as u64;
        self.put(b)
    }

    /// Writes `n` zero bytes of data.
    pub fn zeros(&mut self, mut n: u64) -> io::Result<()> {
        static Z: [u8; 64 << 10] = [0u8; 64 << 10];
        while n > 0 {
            let k = n.min(Z.len() as u64) as usize;
            self.data(&Z[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Ends the current member: checks its data is complete and pads it.
    pub fn end(&mut self) -> io::Result<()> {
        if self.remaining != 0 {
            return Err(io::Error::other(format!(
                "member data is {} bytes short of its header",
                self.remaining
            )));
        }
        self.pad(self.member_data)?;
        self.member_data = 0;
        Ok(())
    }

    /// Writes the end of the archive (two zero blocks, padded to a record) and returns
    /// the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[0u8; 2 * BLOCK])?;
        let rem = self.written % RECORD;
        if rem != 0 {
            self.zeros_raw(RECORD - rem)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn zeros_raw(&mut self, n: u64) -> io::Result<()> {
        for _ in 0..n / BLOCK as u64 {
            self.put(&[0u8; BLOCK])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_their_own_length() {
        let mut v = Vec::new();
        // As GNU tar 1.34 wrote it.
        record(&mut v, b"mtime", b"1796177281.979442473");
        assert_eq!(v, b"30 mtime=1796177281.979442473\n");
        let mut v = Vec::new();
        // 98 bytes plus a length of 2 digits would be 100, which has 3: 101.
        record(&mut v, b"k", &[b'x'; 94]);
        assert_eq!(&v[..4], b"101 ");
        assert_eq!(v.len(), 101);
        let mut v = Vec::new();
        record(&mut v, b"k", &[b'x'; 93]);
        assert_eq!((&v[..3], v.len()), (&b"99 "[..], 99));
    }

    #[test]
    fn xattr_keywords_escape_as_gnu_tar() {
        assert_eq!(xattr_keyword(b"user.a=b%c"), b"SCHILY.xattr.user.a%3Db%25c");
        assert_eq!(xattr_keyword(b"user.plain"), b"SCHILY.xattr.user.plain");
    }

    #[test]
    fn sizes_past_off_t_are_refused() {
        let h = Header {
            path: b"./f".to_vec(),
            kind: Kind::Regular { size: u64::MAX },
            mode: 0o644,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            mtime: Time::default(),
            atime: Time::default(),
            ctime: Time::default(),
            records: Vec::new(),
            sparse: Some(vec![(u64::MAX, 0)]),
        };
        let mut w = Writer::new(Vec::new());
        assert!(w.begin(&h).is_err());
        assert_eq!(w.position(), 0);
    }

    #[test]
    fn times() {
        assert_eq!(pax_time(Time { sec: 5, nsec: 0 }), "5");
        assert_eq!(
            pax_time(Time {
                sec: 5,
                nsec: 500_000_000
            }),
            "5.5"
        );
        assert_eq!(
            pax_time(Time {
                sec: -2,
                nsec: 500_000_000
            }),
            "-1.5"
        );
        assert_eq!(pax_time(Time { sec: -2, nsec: 0 }), "-2");
    }

    #[test]
    fn long_names_split_or_go_to_pax() {
        let mut b = [0u8; BLOCK];
        let n = [&[b'a'; 120][..], b"/", &[b'b'; 90]].concat();
        assert!(set_name(&mut b, &n));
        assert_eq!(&b[345..465], &[b'a'; 120][..]);
        assert!(!set_name(&mut [0u8; BLOCK], &[b'c'; 300]));
    }
}
