//! A parallel gzip writer for a byte stream (the tarball), one gzip member, bytes
//! independent of the thread count.
//!
//! `ddgz_deflate::compress` takes a `Disk` (random access, known size); a tar stream is
//! produced once, in order, of unknown length. This is the same scheme on a stream:
//! 1 MiB chunks, each encoded by `ddgz_deflate::DeflateEncoder` (raw deflate from a fresh
//! engine primed with the previous 32 KiB, ended by a sync flush; already-compressed
//! chunks stored; each checked by decoding it again), written in order. At most
//! `2 × threads + 2` chunks are in flight.
//! TODO(lib): fold into ddgz-deflate once its pipeline takes a chunk source.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

use crc32fast::Hasher;

/// Bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Deflate's window: the dictionary handed to the next chunk.
const DICTIONARY: usize = 32 << 10;
/// The gzip header: no name, mtime 0 (equal input, equal bytes), OS Unix.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

struct Job {
    index: u64,
    dictionary: Arc<Vec<u8>>,
    data: Vec<u8>,
}

/// A compressed chunk: deflate bytes, CRC of the input, input length; or why not.
type Compressed = Result<(Vec<u8>, Hasher, u64), String>;
type Done = (u64, Compressed);

/// What the stream wrote.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Uncompressed bytes.
    pub input_bytes: u64,
    /// Compressed bytes written.
    pub output_bytes: u64,
}

/// The parallel gzip writer; create it inside a `std::thread::scope`.
pub struct GzStream<'scope, W: Write + Send + 'scope> {
    buf: Vec<u8>,
    dictionary: Arc<Vec<u8>>,
    next: u64,
    input: u64,
    jobs: Option<SyncSender<Job>>,
    tokens: Receiver<()>,
    writer: Option<ScopedJoinHandle<'scope, io::Result<(W, u64)>>>,
    cancel: Arc<AtomicBool>,
}

/// Encodes one chunk with the compressor's deflate encoder (the same bytes `convert`
/// writes for the same chunk and dictionary, checked by decoding them again if `verify`).
fn work(enc: &mut ddgz_deflate::DeflateEncoder, job: &Job) -> Compressed {
    use ddgz_deflate::ChunkEncoder;
    let out = enc
        .encode(job.index * CHUNK as u64, &job.dictionary, &job.data)
        .map_err(|e| e.to_string())?;
    let mut crc = Hasher::new();
    crc.update(&job.data);
    Ok((out, crc, job.data.len() as u64))
}

impl<'scope, W: Write + Send + 'scope> GzStream<'scope, W> {
    /// Starts `threads` workers and the writer on `scope`.
    pub fn new<'env>(
        scope: &'scope Scope<'scope, 'env>,
        mut out: W,
        level: u32,
        threads: usize,
        verify: bool,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        let threads = threads.max(1);
        let in_flight = 2 * threads + 2;
        let (jobs_tx, jobs_rx) = sync_channel::<Job>(threads);
        let (done_tx, done_rx) = sync_channel::<Done>(in_flight);
        let (token_tx, token_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            token_tx.send(()).expect("the receiver is alive");
        }
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        for _ in 0..threads {
            let jobs_rx = jobs_rx.clone();
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut enc = ddgz_deflate::DeflateEncoder::new(level, verify);
                loop {
                    let job = match jobs_rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    };
                    if done_tx.send((job.index, work(&mut enc, &job))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let writer = scope.spawn(move || -> io::Result<(W, u64)> {
            out.write_all(&HEADER)?;
            let mut written = HEADER.len() as u64;
            let mut crc = Hasher::new();
            let mut len = 0u64;
            let mut waiting: BTreeMap<u64, Compressed> = BTreeMap::new();
            let mut want = 0u64;
            for (i, r) in done_rx {
                waiting.insert(i, r);
                while let Some(r) = waiting.remove(&want) {
                    let (bytes, h, n) = r.map_err(io::Error::other)?;
                    out.write_all(&bytes)?;
                    written += bytes.len() as u64;
                    crc.combine(&h);
                    len += n;
                    want += 1;
                    // A slot is free again; the producer may be gone already.
                    let _ = token_tx.send(());
                }
            }
            if !waiting.is_empty() {
                return Err(io::Error::other("a compressed chunk went missing"));
            }
            let mut trailer = [0u8; 10];
            trailer[..2].copy_from_slice(&[0x03, 0x00]); // empty final fixed block
            trailer[2..6].copy_from_slice(&crc.finalize().to_le_bytes());
            trailer[6..].copy_from_slice(&(len as u32).to_le_bytes());
            out.write_all(&trailer)?;
            written += trailer.len() as u64;
            out.flush()?;
            Ok((out, written))
        });
        Self {
            buf: Vec::with_capacity(CHUNK),
            dictionary: Arc::new(Vec::new()),
            next: 0,
            input: 0,
            jobs: Some(jobs_tx),
            tokens: token_rx,
            writer: Some(writer),
            cancel,
        }
    }

    fn dispatch(&mut self) -> io::Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        // Wait for a free slot; if the writer is gone, its error is reported by finish.
        if self.tokens.recv().is_err() {
            return Err(self.writer_error());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let tail = &data[data.len().saturating_sub(DICTIONARY)..];
        let next_dict = Arc::new(tail.to_vec());
        let job = Job {
            index: self.next,
            dictionary: std::mem::replace(&mut self.dictionary, next_dict),
            data,
        };
        self.next += 1;
        let sent = self.jobs.as_ref().map(|j| j.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.writer_error());
        }
        Ok(())
    }

    /// Stops everything and returns the writer's error.
    fn writer_error(&mut self) -> io::Error {
        self.jobs = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("the compressor stopped"),
        }
    }

    /// Compresses what is left, writes the trailer, and returns the output.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        if !self.buf.is_empty() {
            self.dispatch()?;
        }
        self.jobs = None;
        let (out, written) = match self.writer.take().map(|w| w.join()) {
            Some(Ok(r)) => r?,
            _ => return Err(io::Error::other("the compressor panicked")),
        };
        Ok((
            out,
            Summary {
                input_bytes: self.input,
                output_bytes: written,
            },
        ))
    }
}

impl<'scope, W: Write + Send + 'scope> Write for GzStream<'scope, W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        self.input += n as u64;
        if self.buf.len() == CHUNK {
            self.dispatch()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
