//! The xz counterpart of [`super::check_stream`]: a `.dd.xz` (MAAS `ddxz`) decoded once,
//! sequentially, by lzma-rust2's reader, which checks what `xz -t` checks (stream header
//! and footer, every block's header, LZMA2 data, sizes and check, the index), the decoded
//! bytes handed to the same sinks (the comparison with a source, the layout capture).

use std::io::{self, Read};

use super::{At, Result, Sink, Summary, OUT_BUF};

/// Decoder memory allowed (KiB): a hostile header may announce a 4 GiB dictionary; xz's
/// own presets need at most 64 MiB, ddgz's blocks 4 MiB.
const MEM_LIMIT_KIB: u32 = 256 << 10;

/// Counts the compressed bytes read, for progress and messages.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Decodes a whole xz file from `reader` (concatenated streams and stream padding as
/// `xzcat` takes them) and hands the decoded bytes to `sinks` in order; `progress` is
/// called with the compressed offset reached. [`Summary::members`] counts nothing here
/// (0); [`Summary::crc32`] is the CRC-32 of the decoded bytes.
pub fn check_xz_stream<R: Read>(
    reader: R,
    sinks: &mut [&mut dyn Sink],
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let mut xz = lzma_rust2::XzReader::new_mem_limit(
        Counted {
            inner: reader,
            read: 0,
        },
        true,
        MEM_LIMIT_KIB,
    );
    let mut out = vec![0u8; OUT_BUF];
    let mut crc = crc32fast::Hasher::new();
    let mut at = At {
        member: 1,
        uncompressed: 0,
    };
    loop {
        let n = match xz.read(&mut out) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let compressed = xz.inner().read;
                return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                    at.corrupt(
                        compressed,
                        "the file ends inside the xz stream: it is truncated",
                    )
                } else {
                    at.corrupt(compressed, format!("corrupt xz stream: {e}"))
                });
            }
        };
        let data = &out[..n];
        crc.update(data);
        let compressed = xz.inner().read;
        for s in sinks.iter_mut() {
            s.write(at.uncompressed, data, compressed)?;
        }
        at.uncompressed += n as u64;
        progress(compressed);
    }
    let compressed = xz.inner().read;
    if compressed == 0 {
        return Err(at.corrupt(0, "the file is empty: not an xz stream"));
    }
    for s in sinks.iter_mut() {
        s.finish(at.uncompressed, compressed)?;
    }
    Ok(Summary {
        members: 0,
        compressed,
        uncompressed: at.uncompressed,
        crc32: crc.finalize(),
    })
}
