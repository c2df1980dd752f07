//! The xz stream around blocks: stream header, the blocks in order, the index, the
//! stream footer.

use std::io::{self, Write};

use crate::block::{self, put_varint, EncodedBlock, IndexRecord};

/// Stream flags: check type CRC-64 (0x04).
const FLAGS: [u8; 2] = [0x00, 0x04];
const MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];

/// Longest zero run one block covers: a decoder that buffers a block (xz's threaded
/// decoder) never needs more than this for one.
pub const ZERO_BLOCK_MAX: u64 = 64 << 20;

/// What an [`XzStreamWriter`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Bytes written: the whole stream.
    pub bytes: u64,
    /// Bytes it decodes to.
    pub uncompressed: u64,
    /// Blocks, all kinds.
    pub blocks: u64,
    /// Of those, blocks written by [`XzStreamWriter::push_zero_run`].
    pub zero_blocks: u64,
    /// Bytes of the index (its records are kept in memory until the end).
    pub index_bytes: u64,
}

/// Writes one xz stream (check CRC-64) of blocks given in order. Keeps only the index
/// records, coded as they will be written (two varints: about 6 bytes per 1 MiB block,
/// at most 18), so memory is bounded by the block count: 6 MiB for a TiB of 1 MiB data
/// blocks, and zero runs take one record per [`ZERO_BLOCK_MAX`].
#[derive(Debug)]
pub struct XzStreamWriter<W: Write> {
    out: W,
    records: Vec<u8>,
    summary: Summary,
    /// Zero blocks written, reused for the next of equal length: one of
    /// [`ZERO_BLOCK_MAX`] (long runs) and the last of another length (a run's remainder).
    zero: [Option<EncodedBlock>; 2],
}

impl<W: Write> XzStreamWriter<W> {
    /// Writes the stream header to `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = MAGIC.to_vec();
        h.extend_from_slice(&FLAGS);
        h.extend_from_slice(&crc32fast::hash(&FLAGS).to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            out,
            records: Vec::new(),
            summary: Summary {
                bytes: h.len() as u64,
                ..Summary::default()
            },
            zero: [None, None],
        })
    }

    /// Appends a block made by [`crate::BlockEncoder`]. A block of no bytes is left out
    /// (xz writes no block for empty input either).
    pub fn push_block(&mut self, b: &EncodedBlock) -> io::Result<()> {
        if b.record.uncompressed_size == 0 {
            return Ok(());
        }
        self.out.write_all(&b.bytes)?;
        self.record(b.bytes.len() as u64, b.record);
        Ok(())
    }

    fn record(&mut self, len: u64, r: IndexRecord) {
        put_varint(&mut self.records, r.unpadded_size);
        put_varint(&mut self.records, r.uncompressed_size);
        self.summary.bytes += len;
        self.summary.blocks += 1;
        self.summary.uncompressed += r.uncompressed_size;
    }

    /// Appends `bytes` zero bytes, as blocks of at most [`ZERO_BLOCK_MAX`] built from
    /// precomputed LZMA2 (no compression work; 191 bytes per zero MiB in blocks of
    /// [`ZERO_BLOCK_MAX`], 257 as blocks of one MiB; `xz -6` spends 153 by compressing).
    pub fn push_zero_run(&mut self, mut bytes: u64) -> io::Result<()> {
        while bytes > 0 {
            let len = bytes.min(ZERO_BLOCK_MAX);
            let slot = usize::from(len != ZERO_BLOCK_MAX);
            let z = match self.zero[slot].take() {
                Some(z) if z.record.uncompressed_size == len => z,
                _ => {
                    let mut bytes = Vec::new();
                    let record = block::zero_block(len, &mut bytes)?;
                    EncodedBlock { bytes, record }
                }
            };
            self.out.write_all(&z.bytes)?;
            self.record(z.bytes.len() as u64, z.record);
            self.summary.zero_blocks += 1;
            self.zero[slot] = Some(z);
            bytes -= len;
        }
        Ok(())
    }

    /// Writes the index and the stream footer; returns the writer and what was written.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        let mut index = vec![0x00];
        put_varint(&mut index, self.summary.blocks);
        index.extend_from_slice(&self.records);
        index.resize(index.len() + block::pad4(index.len() as u64), 0);
        let crc = crc32fast::hash(&index);
        index.extend_from_slice(&crc.to_le_bytes());
        let backward = u32::try_from(index.len() / 4 - 1).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("an index of {} bytes exceeds xz's 16 GiB", index.len()),
            )
        })?;
        let mut footer = backward.to_le_bytes().to_vec();
        footer.extend_from_slice(&FLAGS);
        let crc = crc32fast::hash(&footer);
        footer.splice(0..0, crc.to_le_bytes());
        footer.extend_from_slice(&FOOTER_MAGIC);
        self.out.write_all(&index)?;
        self.out.write_all(&footer)?;
        self.out.flush()?;
        self.summary.index_bytes = index.len() as u64;
        self.summary.bytes += (index.len() + footer.len()) as u64;
        Ok((self.out, self.summary))
    }
}
