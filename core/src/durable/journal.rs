//! The journal writer: records are appended to a shared buffer inside the
//! critical section that numbered them; one flusher thread writes the
//! buffer to the current segment and fsyncs it (group commit: every caller
//! waiting at that moment is acknowledged by the same fsync).
//!
//! A caller in `sync` mode is acknowledged once every sequence number up
//! to the last one it could have seen is durable: records may reach the
//! buffer out of sequence order across stripes, so the flusher tracks the
//! longest gap-free prefix and only that counts as durable. Recovery replays
//! that same prefix.

use super::rec::{Put, Rec};
use super::storage::{Segment, Storage};
use super::{Durability, segment_name};
use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The first bytes of every segment.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"UNSTJ001";
/// Record header: payload length (u32) and its crc32c (u32).
pub(crate) const HEADER: usize = 8;
/// A buffer this full wakes the flusher to write it (not fsync it) while
/// the writers go on.
const EAGER_WRITE: usize = 64 << 10;
/// Longest record payload accepted when reading.
pub(crate) const MAX_RECORD: usize = 64 << 20;

pub(crate) struct Journal {
    mode: Durability,
    storage: Arc<dyn Storage>,
    st: Mutex<State>,
    /// Wakes the flusher.
    work: Condvar,
    /// Wakes callers waiting for durability.
    flushed: Condvar,
    /// Every sequence number up to this one is written (and, except in
    /// `none` mode, fsynced).
    durable: AtomicU64,
    failed: AtomicBool,
    /// Bytes appended since the last snapshot (for the size threshold).
    pub(crate) since_snapshot: AtomicU64,
    pub(crate) snapshotting: AtomicBool,
    pub(crate) checkpoint_lock: Mutex<()>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("mode", &self.mode)
            .field("durable", &self.durable.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct State {
    buf: Vec<u8>,
    spare: Vec<u8>,
    /// The segment `buf` belongs to.
    segment: u64,
    /// Buffers of earlier segments not yet written.
    sealed: Vec<(u64, Vec<u8>)>,
    /// Every sequence number below this one is in a buffer.
    next: u64,
    /// Ranges that arrived ahead of `next`.
    early: BinaryHeap<Reverse<(u64, u64)>>,
    /// Someone waits for a flush.
    waiting: bool,
    /// The flusher sleeps with nothing to write or fsync, without a
    /// timeout: the next append wakes it.
    idle: bool,
    stop: bool,
    error: Option<String>,
    /// Bytes appended since the journal started (records without sequence
    /// numbers are waited for by bytes).
    appended: u64,
    /// Bytes of that count known fsynced.
    synced: u64,
}

impl Journal {
    /// Starts the flusher; new records go to segment `segment`; `last_seq`
    /// is the last sequence number already durable.
    pub(crate) fn start(
        storage: Arc<dyn Storage>,
        mode: Durability,
        segment: u64,
        last_seq: u64,
    ) -> Arc<Journal> {
        let j = Arc::new(Journal {
            mode,
            storage,
            st: Mutex::new(State {
                buf: Vec::with_capacity(1 << 16),
                spare: Vec::with_capacity(1 << 16),
                segment,
                sealed: Vec::new(),
                next: last_seq + 1,
                early: BinaryHeap::new(),
                waiting: false,
                idle: false,
                stop: false,
                error: None,
                appended: 0,
                synced: 0,
            }),
            work: Condvar::new(),
            flushed: Condvar::new(),
            durable: AtomicU64::new(last_seq),
            failed: AtomicBool::new(false),
            since_snapshot: AtomicU64::new(0),
            snapshotting: AtomicBool::new(false),
            checkpoint_lock: Mutex::new(()),
            thread: Mutex::new(None),
        });
        let flusher = j.clone();
        let handle = std::thread::Builder::new()
            .name("unistock-journal".into())
            .spawn(move || flusher.run())
            .expect("spawn the journal thread");
        *j.thread.lock() = Some(handle);
        j
    }

    pub(crate) fn mode(&self) -> Durability {
        self.mode
    }

    /// Appends a record for sequence numbers `first..=last` (0, 0: a record
    /// without sequence numbers). Called inside the numbering critical
    /// section.
    pub(crate) fn append(&self, first: u64, last: u64, at_ms: u64, rec: &Rec<'_>) {
        let mut st = self.st.lock();
        let start = st.buf.len();
        st.buf.extend_from_slice(&[0; HEADER]);
        st.buf.u64(first);
        st.buf.u64(last);
        st.buf.u64(at_ms);
        rec.encode(&mut st.buf);
        let len = st.buf.len() - start - HEADER;
        // The checksum is left for the flusher (`seal`), off this thread and
        // outside the lock.
        st.buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
        if first != 0 {
            if first == st.next {
                st.next = last + 1;
                while let Some(&Reverse((f, l))) = st.early.peek() {
                    if f != st.next {
                        break;
                    }
                    st.early.pop();
                    st.next = l + 1;
                }
            } else {
                st.early.push(Reverse((first, last)));
            }
        }
        st.appended += (len + HEADER) as u64;
        let eager = st.buf.len() >= EAGER_WRITE && st.buf.len() - len - HEADER < EAGER_WRITE;
        let wake = eager || std::mem::take(&mut st.idle);
        drop(st);
        if wake {
            self.work.notify_one();
        }
        self.since_snapshot
            .fetch_add((len + HEADER) as u64, Ordering::Relaxed);
    }

    /// The error every mutation returns once a write or fsync failed, or
    /// once the engine was closed.
    pub(crate) fn check(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            let st = self.st.lock();
            return Err(Error::Storage {
                detail: st
                    .error
                    .clone()
                    .unwrap_or_else(|| "the engine is closed".into()),
            });
        }
        Ok(())
    }

    /// Returns once every sequence number up to `seq` is durable (in
    /// `sync` mode; the other modes return at once).
    pub(crate) fn ack(&self, seq: u64) -> Result<()> {
        self.check()?;
        if self.mode != Durability::Sync {
            return Ok(());
        }
        self.wait(seq)
    }

    /// In `sync` mode, returns once everything appended so far is durable,
    /// records without sequence numbers included (a refused request's
    /// counters); the other modes return at once.
    pub(crate) fn ack_all(&self) -> Result<()> {
        self.check()?;
        if self.mode != Durability::Sync {
            return Ok(());
        }
        self.wait_all()
    }

    /// Returns once everything appended so far is written (and fsynced
    /// unless the mode is `none`), records without sequence numbers
    /// included, whatever the mode.
    pub(crate) fn wait_all(&self) -> Result<()> {
        let mut st = self.st.lock();
        let target = st.appended;
        loop {
            if let Some(e) = &st.error {
                return Err(Error::Storage { detail: e.clone() });
            }
            if st.synced >= target {
                return Ok(());
            }
            if st.stop {
                return Err(Error::Storage {
                    detail: "the journal is closed".into(),
                });
            }
            st.waiting = true;
            self.work.notify_one();
            self.flushed.wait(&mut st);
        }
    }

    /// Returns once every sequence number up to `seq` is written (and
    /// fsynced unless the mode is `none`), whatever the mode.
    pub(crate) fn wait(&self, seq: u64) -> Result<()> {
        if self.durable.load(Ordering::Acquire) >= seq {
            return self.check();
        }
        let mut st = self.st.lock();
        loop {
            if let Some(e) = &st.error {
                return Err(Error::Storage { detail: e.clone() });
            }
            if self.durable.load(Ordering::Acquire) >= seq {
                return Ok(());
            }
            if st.stop {
                return Err(Error::Storage {
                    detail: "the journal is closed".into(),
                });
            }
            st.waiting = true;
            self.work.notify_one();
            self.flushed.wait(&mut st);
        }
    }

    /// Starts a new segment: what was appended so far belongs to the old
    /// one. Called with every stripe locked (a snapshot's cut); returns the
    /// new segment's number.
    pub(crate) fn rotate(&self) -> u64 {
        let mut st = self.st.lock();
        let buf = std::mem::take(&mut st.buf);
        let seg = st.segment;
        st.sealed.push((seg, buf));
        st.segment += 1;
        self.since_snapshot.store(0, Ordering::Relaxed);
        st.segment
    }

    /// The failed write or fsync that stopped the journal, if one did.
    pub(crate) fn storage_error(&self) -> Option<Error> {
        let st = self.st.lock();
        st.error.clone().map(|detail| Error::Storage { detail })
    }

    /// Flushes what is buffered, stops the flusher and waits for it.
    pub(crate) fn close(&self) {
        {
            let mut st = self.st.lock();
            st.stop = true;
            self.work.notify_one();
        }
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.failed.store(true, Ordering::Release);
    }

    fn period(&self) -> Duration {
        match self.mode {
            Durability::Sync => Duration::from_millis(50),
            Durability::Interval(ms) => Duration::from_millis(ms.max(1)),
            Durability::None => Duration::from_millis(1),
        }
    }

    fn run(self: Arc<Self>) {
        let mut file: Option<(u64, Box<dyn Segment>)> = None;
        let period = self.period();
        let fsync_mode = self.mode != Durability::None;
        // Written but not yet fsynced: the sequence number it reaches.
        let mut unsynced: Option<(u64, u64)> = None;
        let mut last_sync = std::time::Instant::now();
        loop {
            let mut st = self.st.lock();
            if !st.waiting && !st.stop && st.buf.len() < EAGER_WRITE {
                if st.buf.is_empty() && st.sealed.is_empty() && unsynced.is_none() {
                    // Nothing to write or fsync: sleep until an append, a
                    // waiter or `close` (an idle engine costs no wakeups
                    // and no fsyncs; it used to wake every period).
                    st.idle = true;
                    self.work.wait(&mut st);
                    st.idle = false;
                } else {
                    let _ = self.work.wait_for(&mut st, period);
                }
            }
            let stop = st.stop;
            // fsync when someone waits, when closing, and every period;
            // a full buffer is only written (on this core, while the
            // writers go on), and fsynced with the next.
            let sync = st.waiting || stop || last_sync.elapsed() >= period || !fsync_mode;
            let sealed = std::mem::take(&mut st.sealed);
            let spare = std::mem::take(&mut st.spare);
            let mut buf = std::mem::replace(&mut st.buf, spare);
            let seg = st.segment;
            let prefix = st.next - 1;
            let bytes = st.appended;
            if sync {
                st.waiting = false;
            }
            drop(st);
            let mut result = self.write(&mut file, sealed, seg, &mut buf);
            if result.is_ok() {
                unsynced = Some((prefix, bytes));
                if sync {
                    if fsync_mode && let Some((_, f)) = file.as_mut() {
                        result = f.sync();
                    }
                    last_sync = std::time::Instant::now();
                }
            }
            let mut st = self.st.lock();
            buf.clear();
            st.spare = buf;
            match result {
                Ok(()) if sync => {
                    if let Some((p, b)) = unsynced.take() {
                        self.durable.store(p, Ordering::Release);
                        st.synced = b;
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    st.error = Some(format!("journal write failed: {e}"));
                    self.failed.store(true, Ordering::Release);
                }
            }
            self.flushed.notify_all();
            if stop || st.error.is_some() {
                st.stop = true;
                return;
            }
        }
    }

    fn write(
        &self,
        file: &mut Option<(u64, Box<dyn Segment>)>,
        mut sealed: Vec<(u64, Vec<u8>)>,
        seg: u64,
        buf: &mut [u8],
    ) -> std::io::Result<()> {
        let fsync = self.mode != Durability::None;
        for (s, bytes) in sealed
            .iter_mut()
            .map(|(s, b)| (*s, b.as_mut_slice()))
            .chain([(seg, buf)])
        {
            seal(bytes);
            if bytes.is_empty() && file.as_ref().is_some_and(|(f, _)| *f == s) {
                continue;
            }
            if file.as_ref().is_none_or(|(f, _)| *f != s) {
                if let Some((_, mut old)) = file.take()
                    && fsync
                {
                    old.sync()?;
                }
                let mut f = self.storage.append(&segment_name(s))?;
                f.write(SEGMENT_MAGIC)?;
                *file = Some((s, f));
            }
            if !bytes.is_empty() {
                file.as_mut().expect("opened above").1.write(bytes)?;
            }
        }
        Ok(())
    }
}

/// Fills in the checksum of every record in `bytes` (whole records, as
/// `append` wrote them with the checksum left zero).
fn seal(bytes: &mut [u8]) {
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let body = at + HEADER..at + HEADER + len;
        let crc = crc32c::crc32c(&bytes[body.clone()]);
        bytes[at + 4..at + HEADER].copy_from_slice(&crc.to_le_bytes());
        at = body.end;
    }
    debug_assert_eq!(at, bytes.len(), "whole records");
}
