//! Push mode: a stream produced once, in order, of unknown length (a tarball), compressed
//! by the same ordered pipeline, encoder, window, self-check and gzip framing as a disk.
//!
//! The producer runs on the caller's thread and writes into a [`StreamWriter`]; every
//! full chunk (with the 32 KiB before it, the encoder's dictionary) is queued for the
//! pipeline's workers, who claim chunk indices as they do on a disk. The queue holds at
//! most two chunks per worker, so a fast producer waits and memory stays bounded. The
//! end of the stream is where a worker finds no chunk ([`pipeline::Claim::end_at`]).
//!
//! Unlike a disk's, a stream's chunks are never replaced by a precomputed zero chunk: a
//! chunk's bytes are its encoding with the bytes before it, so equal input gives equal
//! output whatever the thread count, and the bytes are those of any earlier release.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crc32fast::Hasher;

use crate::encoder::{ChunkEncoder, DeflateEncoder};
use crate::xz::{self, XzEncoder};
use crate::{gzip, pipeline, Chunk, Codec, Error, Options, Summary};

/// How long a worker waiting for the producer sleeps before it looks whether the pipeline
/// stopped (it is woken at once when a chunk arrives).
const POLL: Duration = Duration::from_millis(10);

/// A chunk for the workers: the bytes before it (the dictionary) and its bytes.
struct Job {
    before: Vec<u8>,
    data: Vec<u8>,
}

/// Behind [`Feed::state`].
#[derive(Default)]
struct FeedState {
    /// Index of `queue[0]`.
    base: u64,
    /// Chunks `base..`, `None` once a worker took one.
    queue: VecDeque<Option<Job>>,
    /// Where the stream ended, and its length.
    end: Option<(u64, u64)>,
    /// The producer stopped without ending the stream.
    aborted: bool,
    /// The pipeline stopped: the producer is told at its next chunk.
    closed: bool,
}

/// Between the producer and the workers.
struct Feed {
    state: Mutex<FeedState>,
    cond: Condvar,
    /// Chunks queued at most.
    bound: usize,
}

/// What a worker finds at its index.
enum Take {
    Job(Job),
    End,
    Aborted,
    Stopped,
}

/// The error a worker reports where the producer stopped: never the cause.
#[derive(Debug)]
struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream's producer stopped")
    }
}

impl std::error::Error for Aborted {}

fn is_aborted(e: &Error) -> bool {
    matches!(e, Error::Write(io) if io.get_ref().is_some_and(|e| e.is::<Aborted>()))
}

/// The producer's error when the pipeline stopped (its own error is the cause).
const CLOSED: &str = "the compressor stopped";
/// The producer's error when the cancel flag was set.
const CANCELLED: &str = "cancelled";

impl Feed {
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, job: Job) -> io::Result<()> {
        let mut g = self.lock();
        while g.queue.len() >= self.bound && !g.closed {
            g = self.cond.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        if g.closed {
            return Err(io::Error::other(CLOSED));
        }
        g.queue.push_back(Some(job));
        self.cond.notify_all();
        Ok(())
    }

    fn take(&self, i: u64, stopped: &pipeline::Stopped) -> Take {
        let mut g = self.lock();
        loop {
            let k = i.checked_sub(g.base).and_then(|k| usize::try_from(k).ok());
            if let Some(job) = k.and_then(|k| g.queue.get_mut(k)).and_then(Option::take) {
                while matches!(g.queue.front(), Some(None)) {
                    g.queue.pop_front();
                    g.base += 1;
                }
                self.cond.notify_all();
                return Take::Job(job);
            }
            if g.end.is_some_and(|(e, _)| i >= e) {
                return Take::End;
            }
            if g.aborted {
                return Take::Aborted;
            }
            if stopped.get() {
                return Take::Stopped;
            }
            g = self
                .cond
                .wait_timeout(g, POLL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The producer is done: the stream ends after `end` chunks and `len` bytes, or (None)
    /// it stopped on an error.
    fn finish(&self, end: Option<(u64, u64)>) {
        let mut g = self.lock();
        match end {
            Some(e) => g.end = Some(e),
            None => g.aborted = true,
        }
        self.cond.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.cond.notify_all();
    }
}

/// Where the producer writes the stream: cut into chunks and handed to the workers.
/// Its errors say only that compression stopped (or was cancelled);
/// [`compress_stream`] returns the cause.
pub struct StreamWriter<'a> {
    feed: &'a Feed,
    buf: Vec<u8>,
    before: Vec<u8>,
    chunk: usize,
    history: usize,
    next: u64,
    input: u64,
    cancel: Option<&'a AtomicBool>,
    progress: &'a mut dyn FnMut(u64),
}

impl std::fmt::Debug for StreamWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl StreamWriter<'_> {
    /// Bytes written into the stream so far.
    pub fn bytes_in(&self) -> u64 {
        self.input
    }

    /// Hands the full or last chunk to the workers.
    fn send(&mut self) -> io::Result<()> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            // Not `Interrupted`: `write_all` would try again, for ever.
            return Err(io::Error::other(CANCELLED));
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        let before = data[data.len().saturating_sub(self.history)..].to_vec();
        let job = Job {
            before: std::mem::replace(&mut self.before, before),
            data,
        };
        self.feed.push(job)?;
        self.next += 1;
        (self.progress)(self.input);
        Ok(())
    }
}

impl Write for StreamWriter<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.len() == self.chunk {
            self.send()?;
        }
        let n = b.len().min(self.chunk - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        self.input += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why [`compress_stream`] stopped: the producer's own error, or compression's (which is
/// the cause of whatever the producer met after it).
#[derive(Debug)]
pub enum StreamError<E> {
    /// The producer failed.
    Produce(E),
    /// Compressing or writing failed, or [`Options::cancel`] was set
    /// ([`Error::Cancelled`]).
    Compress(Error),
}

impl<E: std::fmt::Display> std::fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Produce(e) => e.fmt(f),
            StreamError::Compress(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StreamError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Produce(e) => e.source(),
            StreamError::Compress(e) => e.source(),
        }
    }
}

/// Compresses what `produce` writes into its [`StreamWriter`] into `out` as one gzip
/// member, in parallel, with the bytes [`crate::compress`] would write for a disk holding
/// the stream (zero chunks aside, see the module docs). `progress` is told the bytes
/// written into the stream after each chunk, on the caller's thread. Returns what
/// `produce` returned and the summary.
pub fn compress_stream<R, E>(
    out: impl Write + Send,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
    produce: impl FnOnce(&mut StreamWriter<'_>) -> Result<R, E>,
) -> Result<(R, Summary), StreamError<E>> {
    let threads = crate::checked_threads(opts).map_err(StreamError::Compress)?;
    let chunk = opts.chunk_size;
    let feed = Feed {
        state: Mutex::new(FeedState::default()),
        cond: Condvar::new(),
        bound: 2 * threads,
    };
    let cancel = opts.cancel.as_deref();
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let history = match opts.codec {
        Codec::Gzip => DeflateEncoder::new(opts.level, false).history(),
        Codec::Xz => XzEncoder::new(opts.level, false).history(),
    };
    let feed = &feed;
    let (produced, compressed) = std::thread::scope(|s| {
        let compressor = s.spawn(move || {
            let r = match opts.codec {
                Codec::Gzip => gzip::write_member(out, chunk, None, |push| {
                    let new_encoder = || DeflateEncoder::new(opts.level, opts.verify);
                    encode_stream(feed, threads, chunk, &cancelled, new_encoder, push)
                }),
                Codec::Xz => xz::write_stream(out, chunk, |push| {
                    let new_encoder = || XzEncoder::new(opts.level, opts.verify);
                    encode_stream(feed, threads, chunk, &cancelled, new_encoder, push)
                }),
            };
            feed.close();
            r
        });
        let mut w = StreamWriter {
            feed,
            buf: Vec::with_capacity(chunk),
            before: Vec::new(),
            chunk,
            history,
            next: 0,
            input: 0,
            cancel,
            progress,
        };
        let produced = produce(&mut w).map(|r| {
            let last = if w.buf.is_empty() { Ok(()) } else { w.send() };
            (r, last)
        });
        match &produced {
            Ok((_, Ok(()))) => feed.finish(Some((w.next, w.input))),
            _ => feed.finish(None),
        }
        let compressed = compressor
            .join()
            .unwrap_or_else(|_| Err(Error::Write(io::Error::other("the compressor panicked"))));
        (produced, compressed)
    });
    if cancelled() {
        return Err(StreamError::Compress(Error::Cancelled));
    }
    match (produced, compressed) {
        (_, Err(e)) if !is_aborted(&e) => Err(StreamError::Compress(e)),
        (Err(e), _) => Err(StreamError::Produce(e)),
        (Ok((r, Ok(()))), Ok(summary)) => Ok((r, summary)),
        (Ok((_, Err(e))), _) => Err(StreamError::Compress(Error::Write(e))),
        (Ok(_), Err(e)) => Err(StreamError::Compress(e)),
    }
}

/// The pipeline over the chunks the producer queues in `feed`, each encoder from
/// `new_encoder`: pushes them in order, returns the stream's length.
fn encode_stream<E: ChunkEncoder>(
    feed: &Feed,
    threads: usize,
    chunk: usize,
    cancelled: &(dyn Fn() -> bool + Sync),
    new_encoder: impl Fn() -> E + Sync,
    push: &mut dyn FnMut(Chunk) -> Result<(), Error>,
) -> Result<u64, Error> {
    pipeline::run(
        u64::MAX,
        threads,
        pipeline::window(threads, chunk as u64),
        cancelled,
        new_encoder,
        |enc: &mut E,
         claim: &mut pipeline::Claim,
         stopped: &pipeline::Stopped,
         results: &mut pipeline::Results<Chunk>| {
            for i in claim.range() {
                let job = match feed.take(i, stopped) {
                    Take::Job(job) => job,
                    Take::End => return claim.end_at(i),
                    Take::Aborted => {
                        let e = Error::Write(io::Error::other(Aborted));
                        return results.push((i..i + 1, Err(e)));
                    }
                    Take::Stopped => return,
                };
                let mut crc = Hasher::new();
                crc.update(&job.data);
                let offset = i.saturating_mul(chunk as u64);
                let c = enc.encode(offset, &job.before, &job.data);
                let failed = c.is_err();
                results.push((i..i + 1, c.map(|b| Chunk::Data(b, crc))));
                if failed {
                    return;
                }
            }
        },
        push,
        &mut |_| {},
    )?;
    Ok(feed.lock().end.map_or(0, |(_, len)| len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Arc;

    /// Text, pseudo-random bytes and zeros, in runs that straddle chunks.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                match (i / 70_000) % 3 {
                    0 => b"a tarball of text, mostly "[i % 26],
                    1 => (x >> 16) as u8,
                    _ => 0,
                }
            })
            .collect()
    }

    /// The scheme written out one chunk after the other: what the stream must equal.
    fn sequential(data: &[u8], chunk: usize, level: u32) -> Vec<u8> {
        let mut enc = DeflateEncoder::new(level, false);
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        let mut before: &[u8] = &[];
        for (i, c) in data.chunks(chunk).enumerate() {
            out.extend(enc.encode((i * chunk) as u64, before, c).unwrap());
            before = &c[c.len().saturating_sub(32 << 10)..];
        }
        out.extend([3, 0]);
        out.extend(crc32fast::hash(data).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out
    }

    fn stream(data: &[u8], opts: &Options, piece: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut seen = 0;
        let ((), s) = compress_stream(&mut out, opts, &mut |n| seen = n, |w| {
            data.chunks(piece).try_for_each(|p| w.write_all(p))
        })
        .unwrap();
        assert_eq!(s.input_bytes, data.len() as u64);
        assert_eq!(s.output_bytes, out.len() as u64);
        assert!(seen <= data.len() as u64);
        out
    }

    #[test]
    fn a_stream_is_the_chunks_in_order_whatever_the_threads() {
        let chunk = 64 << 10;
        for len in [0, 1, chunk, 3 * chunk, 10 * chunk + 123] {
            let data = sample(len);
            let want = sequential(&data, chunk, 6);
            for threads in [1, 2, 3] {
                let opts = Options {
                    threads,
                    chunk_size: chunk,
                    ..Options::default()
                };
                for piece in [1000, chunk, 7 * chunk] {
                    let got = stream(&data, &opts, piece);
                    assert!(got == want, "{len} bytes, {threads} threads, {piece}");
                }
            }
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&want[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data);
        }
    }

    #[test]
    fn the_producers_error_and_a_cancel_stop_it() {
        let opts = Options {
            threads: 2,
            chunk_size: 4096,
            ..Options::default()
        };
        let data = sample(1 << 20);
        let r = compress_stream(Vec::new(), &opts, &mut |_| {}, |w| {
            w.write_all(&data)?;
            Err::<(), _>(io::Error::other("the producer's own"))
        });
        match r {
            Err(StreamError::Produce(e)) => assert_eq!(e.to_string(), "the producer's own"),
            r => panic!("{r:?}"),
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let opts = Options {
            cancel: Some(cancel.clone()),
            ..opts
        };
        let r = compress_stream(Vec::new(), &opts, &mut |_| {}, |w| -> io::Result<()> {
            loop {
                w.write_all(&data[..100_000])?;
                if w.bytes_in() > 4 << 20 {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        });
        assert!(
            matches!(r, Err(StreamError::Compress(Error::Cancelled))),
            "{r:?}"
        );
    }

    /// A writer that fails after `left` bytes.
    struct Full {
        left: usize,
    }

    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = b.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_output_error_is_the_cause_and_ends_an_endless_producer() {
        let opts = Options {
            threads: 2,
            chunk_size: 4096,
            ..Options::default()
        };
        let data = sample(1 << 16);
        let r = compress_stream(Full { left: 10_000 }, &opts, &mut |_| {}, |w| {
            loop {
                w.write_all(&data)?;
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        });
        match r {
            Err(StreamError::Compress(e)) => assert!(e.to_string().contains("disk full"), "{e}"),
            r => panic!("{r:?}"),
        }
    }
}
