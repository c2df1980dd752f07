//! The ordered, bounded pipeline: `threads` workers claim items `0..count` one at a time;
//! one writer takes them strictly in order. It knows nothing of disks or codecs: what an
//! item is and how it is made is the caller's.
//!
//! Hand-written rather than rayon's: rayon has no ordered, bounded streaming (its ordered
//! collect holds every result), and pigz hand-rolls the same scheme. Memory is bounded by
//! the window: a worker does not start a claim while `window` results wait for the writer
//! or are being made, unless its claim is the one the writer waits for.
//!
//! A run of cheap indices (zero chunks) costs per run, not per index: a worker may extend
//! its claim over the run ([`Claim::extend`]) and hand it over as one result covering
//! all its indices, so a terabyte of zeros is a handful of claims, lock round trips and
//! writes instead of a million.
//!
//! The item count may be unknown at the start (a stream, [`crate::stream`]): a worker
//! that finds no item at its claim says so ([`Claim::end_at`]), and the items end there.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use crate::Error;

/// Items a worker claims at once. One: the writer can take an item as soon as it is done,
/// so a slow item holds back only itself, not the items claimed with it. Runs of cheap
/// items (zero chunks) are claimed whole by [`Claim::extend`] instead.
pub const CLAIM: u64 = 1;

/// Bytes of items in flight: what bounds the memory of many threads or big items (each
/// item in flight holds up to its size of output).
pub const IN_FLIGHT_BUDGET: u64 = 128 << 20;

/// Most items in flight per worker: beyond this, a larger window no longer smooths
/// anything and only holds memory.
const MAX_PER_WORKER: u64 = 64;

/// How many results may be in flight (made, or waiting for the writer) with `threads`
/// workers and items of up to `item_bytes`. Items cost unequal time (an ESXi disk
/// alternates runs of stored module payloads, 0.4 ms per MiB, with text that takes 16 ms
/// per MiB to deflate), and a worker stops when the window is full: with 16 items per
/// worker, measured on esxi8-min-32g with two threads, the fast worker waited 0.7 s in a
/// 4 s run. So: up to `MAX_PER_WORKER` (64) items per worker within [`IN_FLIGHT_BUDGET`]
/// bytes, and at least one per worker.
pub fn window(threads: usize, item_bytes: u64) -> u64 {
    let threads = threads.max(1) as u64;
    let per_worker =
        (IN_FLIGHT_BUDGET / (threads * CLAIM * item_bytes.max(1))).clamp(1, MAX_PER_WORKER);
    threads * per_worker * CLAIM
}

/// What a worker produces for a claim: `(indices, item)` in index order, each item covering
/// one index or a run of them (the next item starts where it ends).
pub type Results<T> = Vec<(Range<u64>, Result<T, Error>)>;

/// The indices a worker claimed.
#[derive(Debug)]
pub struct Claim<'a> {
    range: Range<u64>,
    next: &'a AtomicU64,
    count: &'a AtomicU64,
}

impl Claim<'_> {
    /// The claimed indices.
    pub fn range(&self) -> Range<u64> {
        self.range.clone()
    }

    /// Whether no other worker has claimed past this claim yet (so [`Claim::extend`] may
    /// succeed): lets a worker skip looking for a run it could not take.
    pub fn extendable(&self) -> bool {
        self.next.load(Ordering::Relaxed) == self.range.end
    }

    /// Extends the claim to `end` (at most the item count) if no other worker has claimed
    /// past it yet; true if the claim now reaches `end`. Meant for runs of cheap items
    /// only: the whole run is one result, one place in the window.
    pub fn extend(&mut self, end: u64) -> bool {
        let end = end.min(self.count.load(Ordering::Relaxed));
        if end <= self.range.end {
            return true;
        }
        let ok = self
            .next
            .compare_exchange(self.range.end, end, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if ok {
            self.range.end = end;
        }
        ok
    }

    /// There are no items from index `at` on (a stream ended there): the claim stops
    /// before it and the pipeline ends after the items before it.
    pub fn end_at(&mut self, at: u64) {
        self.count.fetch_min(at, Ordering::Relaxed);
        self.range.end = self.range.end.min(at).max(self.range.start);
    }
}

/// What the workers and the writer share.
struct Shared<T> {
    /// Next index a worker may claim.
    next: AtomicU64,
    /// The item count: lowered by [`Claim::end_at`].
    count: AtomicU64,
    state: Mutex<State<T>>,
    /// Signalled when the item the writer waits for is ready.
    ready: Condvar,
    /// Signalled when the writer took items, so the window moved.
    room: Condvar,
    /// Set when the writer stops early, so workers stop too.
    stop: AtomicBool,
}

/// Behind `Shared::state`. Notifications are sent only to someone waiting for them: on a
/// disk of zeros an item costs microseconds, and futex calls would dominate.
struct State<T> {
    /// Finished items not yet written, by first index, with the index after their last.
    done: BTreeMap<u64, (u64, Result<T, Error>)>,
    /// The index the writer needs next.
    next_write: u64,
    /// Claims being worked on: with `done`, what the window counts.
    working: u64,
    /// Workers waiting for the window to move.
    room_waiters: usize,
}

/// Runs the pipeline.
///
/// Each of `threads` workers gets its own state from `new_worker`, claims [`CLAIM`]
/// consecutive indices at a time and calls `work(state, claim, results)`, which pushes
/// `(indices, result)` covering the indices of the claim in order (it may stop after an
/// error, and must stop when `stopped()` says so). `write` receives the items in order;
/// `written(n)` is called after each batch with the number of items written so far.
/// `count` may be `u64::MAX` when a worker will find the end ([`Claim::end_at`]).
/// The first error in index order (an item's or `write`'s) stops everything and is
/// returned; `cancelled()` is checked between batches ([`Error::Cancelled`]).
#[allow(clippy::too_many_arguments)]
pub fn run<S, T, N, W>(
    count: u64,
    threads: usize,
    window: u64,
    cancelled: &(dyn Fn() -> bool + Sync),
    new_worker: N,
    work: W,
    write: &mut dyn FnMut(T) -> Result<(), Error>,
    written: &mut dyn FnMut(u64),
) -> Result<(), Error>
where
    T: Send,
    N: Fn() -> S + Sync,
    W: Fn(&mut S, &mut Claim, &Stopped, &mut Results<T>) + Sync,
{
    let (new_worker, work) = (&new_worker, &work);
    let shared = Shared {
        next: AtomicU64::new(0),
        count: AtomicU64::new(count),
        state: Mutex::new(State {
            done: BTreeMap::new(),
            next_write: 0,
            working: 0,
            room_waiters: 0,
        }),
        ready: Condvar::new(),
        room: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let lock = || shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let stopped = Stopped(&shared.stop);
    let items = || shared.count.load(Ordering::Relaxed);

    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(count.max(1) as usize) {
            s.spawn(|| {
                let mut state = new_worker();
                let mut results = Vec::with_capacity(CLAIM as usize);
                loop {
                    let first = shared.next.fetch_add(CLAIM, Ordering::Relaxed);
                    if first >= items() {
                        return;
                    }
                    let end = first.saturating_add(CLAIM).min(items());
                    // Wait for room in the window, unless the writer waits for this very
                    // claim (then nothing else can move). Counted in results, not indices:
                    // a run of zero chunks is one result, and the worker past it must not
                    // wait for the chunk before it (14 ms of a text chunk on esxi8-min-32g).
                    {
                        let mut g = lock();
                        while g.done.len() as u64 + g.working >= window
                            && first > g.next_write
                            && first < items()
                            && !stopped.get()
                        {
                            g.room_waiters += 1;
                            g = shared.room.wait(g).unwrap_or_else(|p| p.into_inner());
                            g.room_waiters -= 1;
                        }
                        if first >= items() {
                            return;
                        }
                        g.working += 1;
                    }
                    if stopped.get() {
                        return;
                    }
                    let mut claim = Claim {
                        range: first..end,
                        next: &shared.next,
                        count: &shared.count,
                    };
                    work(&mut state, &mut claim, &stopped, &mut results);
                    if stopped.get() {
                        return;
                    }
                    let mut g = lock();
                    g.working -= 1;
                    let wake = results.iter().any(|(r, _)| r.start == g.next_write)
                        || items() <= g.next_write;
                    g.done
                        .extend(results.drain(..).map(|(r, item)| (r.start, (r.end, item))));
                    if wake {
                        shared.ready.notify_one();
                    }
                }
            });
        }

        // The writer: take every item that is ready, in order, then write them.
        let mut batch = Vec::with_capacity(window as usize);
        let r = (|| {
            let mut i = 0;
            while i < items() {
                {
                    let mut g = lock();
                    while !g.done.contains_key(&i) && i < items() {
                        g = shared.ready.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                    if !g.done.contains_key(&i) {
                        // The items ended at `i`.
                        break;
                    }
                    while let Some((end, c)) = g.done.remove(&i) {
                        batch.push(c);
                        i = end;
                    }
                    g.next_write = i;
                    if g.room_waiters > 0 {
                        shared.room.notify_all();
                    }
                }
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                for item in batch.drain(..) {
                    write(item?)?;
                }
                written(i);
            }
            Ok(())
        })();
        // Done or failed: workers still waiting (for room, or past a stream's end) leave.
        {
            let _g = lock();
            shared.stop.store(true, Ordering::Relaxed);
            shared.room.notify_all();
        }
        r
    })
}

/// Whether the writer stopped early: a worker gives up its claim when it is.
#[derive(Clone, Copy)]
pub struct Stopped<'a>(&'a AtomicBool);

impl Stopped<'_> {
    /// True once the writer stopped.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(count: u64, threads: usize, window: u64) -> Vec<u64> {
        let mut got = Vec::new();
        run(
            count,
            threads,
            window,
            &|| false,
            || (),
            |_, claim, _, out| out.extend(claim.range().map(|i| (i..i + 1, Ok(i * i)))),
            &mut |v| {
                got.push(v);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        got
    }

    #[test]
    fn items_arrive_in_order_whatever_the_threads() {
        let want: Vec<u64> = (0..1000).map(|i| i * i).collect();
        for threads in [1, 2, 3, 7] {
            assert_eq!(collect(1000, threads, window(threads, 1 << 20)), want);
        }
        assert!(collect(0, 2, 8).is_empty());
    }

    #[test]
    fn the_first_error_in_order_wins() {
        let r = run(
            100,
            3,
            window(3, 1),
            &|| false,
            || (),
            |_, claim, _, out: &mut Results<u64>| {
                for i in claim.range() {
                    let r = if i >= 37 {
                        Err(Error::Options(format!("item {i}")))
                    } else {
                        Ok(i)
                    };
                    let failed = r.is_err();
                    out.push((i..i + 1, r));
                    if failed {
                        break;
                    }
                }
            },
            &mut |_| Ok(()),
            &mut |_| {},
        );
        assert_eq!(r.unwrap_err().to_string(), "invalid options: item 37");
    }

    #[test]
    fn runs_are_claimed_and_written_as_one_item() {
        // Every index divisible by 1000 starts a run up to the next one; the others are
        // single items. The writer must see each run once, in order, whatever the threads.
        for threads in [1, 2, 3] {
            let mut got = Vec::new();
            let claims = AtomicU64::new(0);
            run(
                10_000,
                threads,
                window(threads, 1 << 20),
                &|| false,
                || (),
                |_, claim, _, out: &mut Results<(u64, u64)>| {
                    claims.fetch_add(1, Ordering::Relaxed);
                    let mut i = claim.range().start;
                    while i < claim.range().end {
                        if i % 1000 == 0 && claim.extend(i + 1000) {
                            out.push((i..i + 1000, Ok((i, i + 1000))));
                            i += 1000;
                        } else {
                            out.push((i..i + 1, Ok((i, i + 1))));
                            i += 1;
                        }
                    }
                },
                &mut |v| {
                    got.push(v);
                    Ok(())
                },
                &mut |_| {},
            )
            .unwrap();
            // Items tile 0..10000 in order.
            let mut at = 0;
            for &(a, b) in &got {
                assert_eq!(a, at, "{threads} threads");
                at = b;
            }
            assert_eq!(at, 10_000);
            if threads == 1 {
                // Alone, every run is extended: 10 claims.
                assert_eq!(got.len(), 10, "{got:?}");
                assert_eq!(claims.load(Ordering::Relaxed), 10);
            }
        }
    }

    /// Items the other worker finished, and how many when the slow item gave up waiting.
    struct Progress {
        count: AtomicU64,
        stalled_at: AtomicU64,
    }

    impl Default for Progress {
        fn default() -> Self {
            Self {
                count: AtomicU64::new(0),
                stalled_at: AtomicU64::new(u64::MAX),
            }
        }
    }

    impl Progress {
        fn assert_not_stalled(&self, who: &str) {
            let at = self.stalled_at.load(Ordering::Relaxed);
            assert!(at == u64::MAX, "{who} stopped after {at} items");
        }
    }

    /// The slow item: waits until `n` other items are done, or 10 s (then it goes on, so
    /// that the run ends, and records the stall for the test to fail on).
    fn wait_for(done: &Progress, n: u64) {
        let t = std::time::Instant::now();
        while done.count.load(Ordering::Relaxed) < n {
            if t.elapsed().as_secs() >= 10 {
                let at = done.count.load(Ordering::Relaxed);
                done.stalled_at.store(at, Ordering::Relaxed);
                return;
            }
            std::thread::yield_now();
        }
    }

    /// The other worker keeps going while one item is slow, up to the window: item 0
    /// waits until 100 later items are done (a chunk of text beside a run of stored
    /// module chunks), which two workers with 1 MiB chunks must allow.
    #[test]
    fn a_slow_item_holds_back_only_itself() {
        let done = Progress::default();
        let mut got = Vec::new();
        run(
            300,
            2,
            window(2, 1 << 20),
            &|| false,
            || (),
            |_, claim, _, out: &mut Results<u64>| {
                for i in claim.range() {
                    if i == 0 {
                        wait_for(&done, 100);
                    } else {
                        done.count.fetch_add(1, Ordering::Relaxed);
                    }
                    out.push((i..i + 1, Ok(i)));
                }
            },
            &mut |v| {
                got.push(v);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(got, (0..300).collect::<Vec<_>>());
        done.assert_not_stalled("the other worker");
    }

    /// A run claimed whole is one place in the window, however many indices it covers:
    /// the worker past a run of 5,000 zero chunks goes on while the chunk before the run
    /// is still being made.
    #[test]
    fn a_long_run_takes_one_place_in_the_window() {
        let done = Progress::default();
        let mut got = Vec::new();
        run(
            5_300,
            2,
            window(2, 1 << 20),
            &|| false,
            || (),
            |_, claim, _, out: &mut Results<u64>| {
                let i = claim.range().start;
                if i == 0 {
                    wait_for(&done, 100);
                    out.push((0..1, Ok(0)));
                } else if i == 1 && claim.extend(5_001) {
                    out.push((1..5_001, Ok(1)));
                } else {
                    if i > 5_000 {
                        done.count.fetch_add(1, Ordering::Relaxed);
                    }
                    out.extend(claim.range().map(|i| (i..i + 1, Ok(i))));
                }
            },
            &mut |v| {
                got.push(v);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        done.assert_not_stalled("the worker past the run");
        assert_eq!(got.len(), 2 + 299);
    }

    /// Fast workers and a slow writer: never more than the window (and the claim the
    /// writer waits for) made and not yet taken, plus the batch the writer took (at most
    /// as many).
    #[test]
    fn memory_is_bounded_by_the_window() {
        let (made, written, most) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        run(
            2_000,
            3,
            8,
            &|| false,
            || (),
            |_, claim, _, out: &mut Results<u64>| {
                let m = made.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(m - written.load(Ordering::SeqCst), Ordering::SeqCst);
                out.extend(claim.range().map(|i| (i..i + 1, Ok(i))));
            },
            &mut |_| {
                std::thread::sleep(std::time::Duration::from_micros(50));
                written.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        let most = most.load(Ordering::SeqCst);
        assert!(
            most <= 2 * (8 + 1),
            "{most} items in flight with a window of 8"
        );
    }

    #[test]
    fn windows_are_bounded() {
        assert_eq!(window(1, 1 << 20), 64);
        assert_eq!(window(2, 1 << 20), 128);
        assert_eq!(window(8, 1 << 20), 128);
        assert_eq!(window(2, 64 << 20), 2);
        assert_eq!(window(128, 64 << 20), 128);
    }
}
