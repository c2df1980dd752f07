//! Sinks for the decoded bytes: comparison with the source disk, and the capture of the
//! ranges a layout validator reads.

use ddgz_disk::{Disk, Extent, ExtentKind};

use super::{first_nonzero, Capture, Error, Result, Sink, OUT_BUF};

/// Extents of the source asked for at a time by [`Against`], to bound the list.
const EXTENT_WINDOW: u64 = ddgz_disk::EXTENT_WINDOW;

/// Compares the decoded stream with a source disk, byte for byte. Zero extents of the
/// source are compared by scanning the decoded bytes, without reading the source.
#[derive(Debug)]
pub struct Against<'a> {
    disk: &'a dyn Disk,
    /// Extents of the source not yet compared, in order.
    extents: std::collections::VecDeque<Extent>,
    /// End of the range whose extents have been asked for.
    queried: u64,
    buf: Vec<u8>,
}

impl<'a> Against<'a> {
    /// Compares against `disk`.
    pub fn new(disk: &'a dyn Disk) -> Self {
        Self {
            disk,
            extents: Default::default(),
            queried: 0,
            buf: vec![0; OUT_BUF],
        }
    }

    /// The extent containing `offset`, asking the source for more extents when needed.
    fn extent_at(&mut self, offset: u64) -> Result<Extent> {
        loop {
            while let Some(e) = self.extents.front() {
                if e.end() <= offset {
                    self.extents.pop_front();
                } else {
                    return Ok(*e);
                }
            }
            let len = EXTENT_WINDOW.min(self.disk.size() - self.queried);
            let got = self.disk.extents(self.queried, len)?;
            // A source must cover the range exactly, in order; if one does not, read the
            // whole window instead, so that this can neither loop nor skip bytes.
            let exact = !got.is_empty()
                && got[0].offset == self.queried
                && got.windows(2).all(|w| w[0].end() == w[1].offset)
                && got.iter().all(|e| e.len > 0)
                && got.last().map(Extent::end) == Some(self.queried + len);
            if exact {
                self.extents.extend(got);
            } else {
                self.extents.push_back(Extent {
                    offset: self.queried,
                    len,
                    kind: ExtentKind::Data,
                });
            }
            self.queried += len;
        }
    }
}

impl Sink for Against<'_> {
    fn write(&mut self, offset: u64, data: &[u8], compressed: u64) -> Result<()> {
        let size = self.disk.size();
        let end = offset + data.len() as u64;
        if end > size {
            return Err(Error::Differs {
                offset: offset.max(size),
                compressed,
                detail: format!("the stream decodes to more than the source's {size} bytes"),
            });
        }
        let mut pos = offset;
        while pos < end {
            let e = self.extent_at(pos)?;
            let upto = e.end().min(end);
            let piece = &data[(pos - offset) as usize..(upto - offset) as usize];
            match e.kind {
                ExtentKind::Zero => {
                    if let Some(i) = first_nonzero(piece) {
                        let at = pos + i as u64;
                        return Err(Error::Differs {
                            offset: at,
                            compressed,
                            detail: format!(
                                "decoded byte 0x{:02x}, the source reads as zero there",
                                piece[i]
                            ),
                        });
                    }
                }
                ExtentKind::Data => {
                    let src = &mut self.buf[..piece.len()];
                    self.disk.read_at(pos, src)?;
                    if src != piece {
                        let i = src.iter().zip(piece).position(|(a, b)| a != b).unwrap_or(0);
                        return Err(Error::Differs {
                            offset: pos + i as u64,
                            compressed,
                            detail: format!(
                                "decoded byte 0x{:02x}, the source has 0x{:02x}",
                                piece[i], src[i]
                            ),
                        });
                    }
                }
            }
            pos = upto;
        }
        Ok(())
    }

    fn finish(&mut self, total: u64, compressed: u64) -> Result<()> {
        let size = self.disk.size();
        if total < size {
            return Err(Error::Differs {
                offset: total,
                compressed,
                detail: format!("the stream ends after {total} bytes, the source has {size} bytes"),
            });
        }
        Ok(())
    }
}

impl Sink for Capture {
    fn write(&mut self, offset: u64, data: &[u8], _compressed: u64) -> Result<()> {
        self.keep(offset, data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::check_stream;
    use crate::verify::test_util::{gzip, sample};

    #[derive(Debug)]
    struct Mem(Vec<u8>, u64);
    impl Disk for Mem {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
            // Zero below `self.1`, data above.
            let mut v = Vec::new();
            let end = offset + len;
            if offset < self.1 {
                v.push(Extent {
                    offset,
                    len: self.1.min(end) - offset,
                    kind: ExtentKind::Zero,
                });
            }
            if end > self.1 {
                let s = offset.max(self.1);
                v.push(Extent {
                    offset: s,
                    len: end - s,
                    kind: ExtentKind::Data,
                });
            }
            Ok(v)
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
            assert!(offset >= self.1, "read a zero extent at {offset}");
            buf.copy_from_slice(&self.0[offset as usize..][..buf.len()]);
            Ok(())
        }
    }

    #[test]
    fn verify_against_source() {
        let d = sample();
        let gz = gzip(&d);
        let src = Mem(d.clone(), 1 << 20);
        let mut a = Against::new(&src);
        check_stream(&gz[..], &mut [&mut a], &mut |_| {}).unwrap();
        // A byte differs in the data part.
        let mut d2 = d.clone();
        d2[2_000_000] ^= 1;
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&d2)[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Differs {
                    offset: 2_000_000,
                    ..
                }
            ),
            "{e}"
        );
        // ... in the zero part (never read from the source).
        let mut d2 = d.clone();
        d2[12345] = 9;
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&d2)[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Differs { offset: 12345, .. }), "{e}");
        // Shorter and longer.
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&d[..1000])[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Differs { offset: 1000, .. }), "{e}");
        let mut longer = d.clone();
        longer.push(0);
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&longer)[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(
            matches!(e, Error::Differs { offset, .. } if offset == d.len() as u64),
            "{e}"
        );
    }

    #[test]
    fn verify_capture_passes() {
        let d = sample();
        let gz = gzip(&d);
        let size = d.len() as u64;
        let mut cap = Capture::new(1 << 20);
        check_stream(&gz[..], &mut [&mut cap], &mut |_| {}).unwrap();
        let mut buf = [0u8; 512];
        {
            let v = cap.view(size);
            v.read_at(512, &mut buf).unwrap();
            assert_eq!(&buf[..], &d[512..1024]);
            v.read_at(size - 512, &mut buf).unwrap();
            assert_eq!(&buf[..], &d[d.len() - 512..]);
            assert!(v.misses().is_empty());
            v.read_at(1_500_000, &mut buf).unwrap();
            assert_eq!(v.misses(), vec![1_500_000..1_500_512]);
            // Zero blocks need no capture, and the extents say so.
            v.read_at(2_500_000, &mut buf).unwrap();
            assert_eq!(v.misses().len(), 1);
            let e = v.extents(0, size).unwrap();
            assert_eq!(
                e[0],
                Extent {
                    offset: 0,
                    len: 1 << 20,
                    kind: ExtentKind::Zero
                }
            );
            assert_eq!(e[1].kind, ExtentKind::Data);
            assert_eq!(e[2].kind, ExtentKind::Zero);
            assert_eq!(e.iter().map(|e| e.len).sum::<u64>(), size);
            let m = v.misses();
            assert!(cap.want(&m));
        }
        check_stream(&gz[..], &mut [&mut cap], &mut |_| {}).unwrap();
        let v = cap.view(size);
        v.read_at(1_500_000, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[1_500_000..1_500_512]);
        assert!(v.misses().is_empty());
        // Over budget.
        assert!(!cap.want(std::slice::from_ref(&(0..(10 << 20)))));
    }
}
