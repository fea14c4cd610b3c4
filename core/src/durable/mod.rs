//! Durability: an engine opened on a directory keeps every acknowledged
//! mutation in an append-only journal, takes snapshots that let it drop
//! the journal before them, and recovers on open.
//!
//! # Files
//!
//! * `journal-<n>.log`: segments of the journal. A segment starts with
//!   `UNSTJ001`; each record is `len: u32, crc32c: u32` followed by `len`
//!   bytes: `first_seq: u64, last_seq: u64, at_ms: u64` and the mutation
//!   (see `rec`). Records without sequence numbers (counters of refused
//!   requests) have `first_seq = 0`.
//! * `snapshot-<n>.bin`: the whole state at the moment segment `n` was
//!   started (`UNSTS001`, `crc32c: u32`, `len: u64`, then bincode). It
//!   replaces every segment below `n`, which are then deleted.
//! * `LOCK`: held (advisory lock) while an engine has the directory open.
//!
//! # Modes
//!
//! * [`Durability::Sync`]: a mutation returns once its record is fsynced.
//!   Concurrent callers, and the items of a batch call, share one fsync
//!   (group commit).
//! * [`Durability::Interval`]: records are written and fsynced every `ms`;
//!   a machine crash loses at most that window (a killed process loses at
//!   most what was not yet written, also at most that window).
//! * [`Durability::None`]: records are written to the OS every millisecond
//!   and never fsynced: a killed process loses at most a millisecond, a
//!   machine crash loses what the OS had not written.
//!
//! # Recovery
//!
//! The newest snapshot is loaded and the journal records after it are
//! replayed in sequence order through the same code that made them, with
//! the clock set to each record's time; each must yield exactly the
//! sequence numbers it had (else `Corrupt`). An incomplete or damaged last
//! record of the last segment is a torn tail: it is dropped and reported;
//! so are segments after the last one with records that are shorter than
//! their header (started, and lost to a power loss). Damage anywhere else
//! is `Corrupt` with the file and offset. Records after
//! a gap in the sequence were never acknowledged (acknowledgement waits for
//! the gap-free prefix) and are dropped and reported. After replay a fresh
//! snapshot replaces the old files when anything was replayed, and holds
//! that expired while the engine was down are expired with their expiry
//! time.

mod journal;
pub(crate) mod rec;
pub mod storage;

use crate::clock::Clock;
use crate::engine::{Config, Engine, Note};
use crate::error::{Error, Result};
use crate::hold::{HoldRequest, IdHash, PreSkus, Tables};
use crate::routing::{Fulfilment, RouteOptions, RouteRequest};
use crate::sku::SkuSpec;
use crate::snapshot::Snapshot;
pub(crate) use journal::Journal;
use rec::{Reader, Rec, StockOp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
pub use storage::{DirStorage, MemStorage, Segment, Storage};

/// When a mutation counts as durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Returned after fsync (group commit).
    Sync,
    /// Fsynced every this many milliseconds.
    Interval(u64),
    /// Written to the OS, never fsynced.
    None,
}

impl Durability {
    /// Parses `sync`, `none`, `interval` (100 ms) or `interval:<ms>`.
    pub fn parse(s: &str) -> Option<Durability> {
        match s {
            "sync" => Some(Durability::Sync),
            "none" => Some(Durability::None),
            "interval" => Some(Durability::Interval(100)),
            _ => s
                .strip_prefix("interval:")
                .and_then(|ms| ms.parse().ok())
                .filter(|ms| *ms > 0)
                .map(Durability::Interval),
        }
    }
}

/// Settings of a durable engine.
#[derive(Clone, Debug)]
pub struct DurableOptions {
    pub mode: Durability,
    /// A snapshot is taken once the journal has grown by this many bytes
    /// since the last one (0: only on demand).
    pub snapshot_bytes: u64,
}

impl Default for DurableOptions {
    fn default() -> Self {
        DurableOptions {
            mode: Durability::Sync,
            snapshot_bytes: 256 << 20,
        }
    }
}

impl DurableOptions {
    /// Default settings with this mode.
    pub fn mode(mode: Durability) -> Self {
        DurableOptions {
            mode,
            ..DurableOptions::default()
        }
    }
}

/// What recovery found and did when the engine was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The sequence number of the snapshot loaded (0: none).
    pub snapshot_seq: u64,
    /// Journal records replayed.
    pub records_replayed: u64,
    /// Ledger events those records produced.
    pub events_replayed: u64,
    /// A torn last record that was dropped: file and offset.
    pub torn_tail: Option<(String, u64)>,
    /// Records after a gap in the sequence (never acknowledged), dropped.
    pub records_dropped: u64,
    /// Holds that expired while the engine was down.
    pub expired_on_open: usize,
    /// Time spent reading the files, loading the snapshot and replaying, in
    /// microseconds (not the snapshot written after).
    pub micros: u64,
}

pub(crate) fn segment_name(n: u64) -> String {
    format!("journal-{n:020}.log")
}

fn snapshot_name(n: u64) -> String {
    format!("snapshot-{n:020}.bin")
}

fn parse_name(name: &str) -> Option<(bool, u64)> {
    if let Some(n) = name
        .strip_prefix("journal-")
        .and_then(|r| r.strip_suffix(".log"))
    {
        return n.parse().ok().map(|n| (false, n));
    }
    name.strip_prefix("snapshot-")
        .and_then(|r| r.strip_suffix(".bin"))
        .and_then(|n| n.parse().ok())
        .map(|n| (true, n))
}

const SNAPSHOT_MAGIC: &[u8; 8] = b"UNSTS001";

/// A snapshot in its file form.
pub fn encode_snapshot(snap: &Snapshot) -> Vec<u8> {
    let body = bincode::serialize(snap).expect("snapshots serialize");
    let mut out = Vec::with_capacity(body.len() + 20);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads a snapshot file; `Corrupt` (naming `file`) when it is damaged.
pub fn decode_snapshot(bytes: &[u8], file: &str) -> Result<Snapshot> {
    let corrupt = |offset: u64, detail: &str| Error::Corrupt {
        file: file.to_string(),
        offset,
        detail: detail.to_string(),
    };
    if bytes.len() < 20 || &bytes[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt(0, "not a unistock snapshot"));
    }
    let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let body = &bytes[20..];
    if body.len() as u64 != len {
        return Err(corrupt(12, "length does not match the file"));
    }
    if crc32c::crc32c(body) != crc {
        return Err(corrupt(20, "checksum mismatch"));
    }
    crate::snapshot::from_bincode(body).map_err(|e| corrupt(20, &format!("cannot decode: {e}")))
}

/// Refusals that move a KPI counter (journaled without a sequence number).
fn is_counted_refusal(e: &Error) -> bool {
    matches!(e, Error::InsufficientStock { .. } | Error::NoRoute { .. })
}

/// A clock that recovery can pin to a record's time.
pub(crate) struct ReplayClock {
    inner: Arc<dyn Clock>,
    pinned: AtomicU64,
}

impl Clock for ReplayClock {
    #[inline]
    fn now_ms(&self) -> u64 {
        match self.pinned.load(Ordering::Relaxed) {
            u64::MAX => self.inner.now_ms(),
            t => t,
        }
    }
}

/// A record read back from a segment.
#[derive(Clone)]
struct Raw {
    file: usize,
    offset: u64,
    first: u64,
    last: u64,
    at_ms: u64,
    /// The record after its sequence range and time, in the piece it was
    /// read from.
    body: std::ops::Range<usize>,
}

/// Recovery's prefetch distance, in records: a hold's id's index line and
/// the stock records of its SKUs found ahead ([`Pre`]) start loading twice
/// this many records before it is replayed, as do the SKU table entries of
/// the others; their stock records, once those entries are in, this many.
const AHEAD: usize = 2;

/// A record as recovery's reading thread passes it on: where it is, its
/// decoding (an error is reported only if the record is replayed) and what
/// the reading thread worked out ahead for its replay.
#[derive(Clone)]
struct Parsed<'a> {
    raw: Raw,
    rec: std::result::Result<Rec<'a>, String>,
    pre: Pre,
}

/// Worked out ahead by recovery's reading thread, off the replaying one:
/// the hash of a hold's or hold-ending record's id, and a hold's SKUs as
/// the SKU table the reading thread last loaded has them.
#[derive(Clone, Default)]
struct Pre {
    hash: Option<u64>,
    skus: PreSkus,
}

impl Pre {
    fn of(rec: &Rec<'_>, skus: &crate::sku::SkuLookup<'_>) -> Pre {
        match rec {
            Rec::Hold { id, lines, .. } => Pre {
                hash: Some(IdHash::new(id).hash),
                skus: lines.iter().map(|l| skus.get_fast(l.sku)).collect(),
            },
            Rec::Release { hold }
            | Rec::Expire { hold }
            | Rec::Extend { hold, .. }
            | Rec::Commit { hold, .. } => Pre {
                hash: Some(IdHash::new(hold).hash),
                skus: PreSkus::new(),
            },
            _ => Pre::default(),
        }
    }

    /// `id`, hashed (here or ahead).
    fn id<'i>(&self, id: &'i str) -> IdHash<'i> {
        match self.hash {
            Some(hash) => IdHash { id, hash },
            None => IdHash::new(id),
        }
    }
}

/// What recovery's reading thread passes on.
enum Read<'a> {
    Records(Vec<Parsed<'a>>),
    /// The last segment (by index) ends in a torn record at this offset.
    Torn(usize, u64),
}

/// Records per batch the reading thread sends.
const READ_BATCH: usize = 1024;

/// How much of a segment recovery's reading thread asks for at a time: the
/// replay starts once the first piece is in, instead of once the whole
/// journal is (about 120 ms for 150 MB here, a wait as long as an eighth
/// of the replay).
const PIECE: usize = 4 << 20;

/// The pieces of the journal read so far, each at a fixed address while
/// the chain lives (the records read from them borrow them): a chain of
/// links after an empty first one, grown at its end through a shared
/// reference.
#[derive(Default)]
struct Pieces {
    bytes: OnceLock<Vec<u8>>,
    next: OnceLock<Box<Pieces>>,
}

impl Pieces {
    /// Keeps `bytes` in the link after `self` (`self` is the chain's last
    /// link); returns that link and the bytes.
    fn push(&self, bytes: Vec<u8>) -> (&Pieces, &[u8]) {
        let link = self.next.get_or_init(Box::default);
        let kept = link.bytes.get_or_init(|| bytes);
        (link, kept)
    }
}

impl Drop for Pieces {
    /// One link at a time: a long journal's chain would overflow the stack
    /// dropped recursively.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut link) = next {
            next = link.next.take();
        }
    }
}

/// Recovery's reading thread: reads each segment a piece at a time into
/// `pieces`, checks and decodes its records, works out what it can ahead
/// of their replay (see [`Pre`]; `skus` is reloaded for each batch, so
/// that it has the SKUs replayed meanwhile) and sends them on in batches;
/// a failure is sent as the last message. Stops early when the replaying
/// side has gone (it failed).
fn read_segments<'a>(
    storage: &dyn Storage,
    segments: &[u64],
    names: &[String],
    pieces: &'a Pieces,
    skus: &crate::sku::SkuRegistry,
    tx: &std::sync::mpsc::SyncSender<Result<Read<'a>>>,
) {
    let fail = |e: Error| {
        let _ = tx.send(Err(e));
    };
    let mut sizes = Vec::with_capacity(segments.len());
    for (i, &n) in segments.iter().enumerate() {
        match storage.size(&segment_name(n)) {
            Ok(size) => sizes.push(size),
            Err(e) => {
                return fail(Error::Storage {
                    detail: format!("cannot read {}: {e}", names[i]),
                });
            }
        }
    }
    // The journal ends with the last segment that has more than its
    // header: segments started after it that a crash left shorter (created,
    // none of their bytes on disk: `none` mode fsyncs nothing, and a
    // checkpoint that failed leaves the segment it started) are part of the
    // torn tail, not damage in the middle.
    let ends = sizes
        .iter()
        .rposition(|&size| size > journal::SEGMENT_MAGIC.len() as u64)
        .unwrap_or(0);
    let mut batch = Vec::with_capacity(READ_BATCH);
    let mut lookup = skus.lookup();
    let mut tail = pieces;
    for (i, &n) in segments.iter().enumerate() {
        let name = segment_name(n);
        let last = i >= ends;
        let mut gone = false;
        // File offsets: read so far, and where the piece being parsed
        // starts (with the record the last one ended in).
        let (mut read, mut start) = (0u64, 0u64);
        let mut carried: &[u8] = &[];
        let torn = loop {
            let want = PIECE.min((sizes[i] - read) as usize);
            let mut buf = Vec::with_capacity(carried.len() + want);
            buf.extend_from_slice(carried);
            let got = match storage.read_at(&name, read, want, &mut buf) {
                Ok(got) => got,
                Err(e) => {
                    return fail(Error::Storage {
                        detail: format!("cannot read {}: {e}", names[i]),
                    });
                }
            };
            read += got as u64;
            // A file that ends before its listed size ends there.
            let at_end = read >= sizes[i] || got == 0;
            let piece;
            (tail, piece) = tail.push(buf);
            let parsed = parse_piece(piece, start, at_end, i, &names[i], last, |raw| {
                if gone {
                    return;
                }
                let rec = Reader::new(&piece[raw.body.clone()]).rec();
                let pre = rec
                    .as_ref()
                    .map_or_else(|_| Pre::default(), |r| Pre::of(r, &lookup));
                batch.push(Parsed { raw, rec, pre });
                if batch.len() == READ_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                    gone = tx.send(Ok(Read::Records(full))).is_err();
                    lookup = skus.lookup();
                }
            });
            if gone {
                return;
            }
            match parsed {
                Ok(Cut::End(torn)) => break torn,
                Ok(Cut::At(at)) => {
                    carried = &piece[at..];
                    start += at as u64;
                }
                Err(e) => return fail(e),
            }
        };
        if let Some(at) = torn {
            // Sent after the records before the tear.
            let full = std::mem::take(&mut batch);
            if tx.send(Ok(Read::Records(full))).is_err() {
                return;
            }
            let _ = tx.send(Ok(Read::Torn(i, at)));
            // Nothing of the journal comes after a tear.
            return;
        }
    }
    let _ = tx.send(Ok(Read::Records(batch)));
}

/// Where a piece of a segment ended for [`parse_piece`].
enum Cut {
    /// It was the segment's last: `Some(offset)` when it ends in a torn
    /// record that starts there.
    End(Option<u64>),
    /// Inside the record that starts at this index of the piece (or, at
    /// its length, between records): the next piece starts with the rest.
    At(usize),
}

/// Splits a piece of a segment into records. `start`: its offset in the
/// segment; `at_end`: the segment ends with it; `last`: the newest
/// segment, whose final record may be torn.
fn parse_piece(
    bytes: &[u8],
    start: u64,
    at_end: bool,
    file: usize,
    name: &str,
    last: bool,
    mut emit: impl FnMut(Raw),
) -> Result<Cut> {
    let corrupt = |pos: usize, detail: &str| Error::Corrupt {
        file: name.to_string(),
        offset: start + pos as u64,
        detail: detail.to_string(),
    };
    let torn = |pos: usize| Ok(Cut::End(Some(start + pos as u64)));
    let mut pos = 0;
    if start == 0 {
        if bytes.len() < journal::SEGMENT_MAGIC.len() {
            return if !at_end {
                Ok(Cut::At(0))
            } else if last {
                torn(0)
            } else {
                Err(corrupt(0, "segment shorter than its header"))
            };
        }
        if &bytes[..8] != journal::SEGMENT_MAGIC {
            return Err(corrupt(0, "not a unistock journal segment"));
        }
        pos = 8;
    }
    while pos < bytes.len() {
        let rest = bytes.len() - pos;
        if rest < journal::HEADER {
            return if !at_end {
                Ok(Cut::At(pos))
            } else if last {
                torn(pos)
            } else {
                Err(corrupt(pos, "record header cut short"))
            };
        }
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4"));
        let end = pos + journal::HEADER + len;
        if end > bytes.len() {
            return if !at_end {
                Ok(Cut::At(pos))
            } else if last && len <= journal::MAX_RECORD {
                torn(pos)
            } else {
                Err(corrupt(pos, "record runs past the end of the segment"))
            };
        }
        let payload = &bytes[pos + journal::HEADER..end];
        if crc32c::crc32c(payload) != crc {
            return if last && at_end && end == bytes.len() {
                torn(pos)
            } else {
                Err(corrupt(pos, "record checksum mismatch"))
            };
        }
        if len < 24 {
            return Err(corrupt(pos, "record too short"));
        }
        let mut r = Reader::new(payload);
        let (first, last_seq, at_ms) = (
            r.u64().expect("24 bytes"),
            r.u64().expect("24 bytes"),
            r.u64().expect("24 bytes"),
        );
        if first > last_seq || (first == 0) != (last_seq == 0) {
            return Err(corrupt(pos, "record has a bad sequence range"));
        }
        emit(Raw {
            file,
            offset: start + pos as u64,
            first,
            last: last_seq,
            at_ms,
            body: pos + journal::HEADER + 24..end,
        });
        pos = end;
    }
    Ok(if at_end { Cut::End(None) } else { Cut::At(pos) })
}

impl Engine {
    /// Opens (or creates) a durable engine on a directory: recovers its
    /// state and keeps the journal there from now on. A second engine on
    /// the same directory, in this process or another, gets `Locked`.
    pub fn open(
        dir: impl AsRef<std::path::Path>,
        config: Config,
        options: DurableOptions,
    ) -> Result<Engine> {
        let path = dir.as_ref().display().to_string();
        let storage = DirStorage::new(dir).map_err(|e| Error::Storage {
            detail: format!("cannot use {path}: {e}"),
        })?;
        Engine::open_storage(Arc::new(storage), config, options)
    }

    /// [`Engine::open`] on any storage (a [`MemStorage`] in tests).
    pub fn open_storage(
        storage: Arc<dyn Storage>,
        mut config: Config,
        options: DurableOptions,
    ) -> Result<Engine> {
        let started = Instant::now();
        let io = |what: &str, e: std::io::Error| Error::Storage {
            detail: format!("{what}: {e}"),
        };
        storage.lock().map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked {
                    path: storage.describe(storage::LOCK_FILE),
                }
            } else {
                io("cannot lock", e)
            }
        })?;
        let mut snapshots = Vec::new();
        let mut segments = Vec::new();
        for name in storage.list().map_err(|e| io("cannot list", e))? {
            match parse_name(&name) {
                Some((true, n)) => snapshots.push(n),
                Some((false, n)) => segments.push(n),
                None => {}
            }
        }
        snapshots.sort_unstable();
        segments.sort_unstable();
        let clock = Arc::new(ReplayClock {
            inner: config.clock.clone(),
            pinned: AtomicU64::new(u64::MAX),
        });
        config.clock = clock.clone();
        let base = snapshots.last().copied().unwrap_or(0);
        let mut eng = match snapshots.last() {
            Some(&n) => {
                let name = snapshot_name(n);
                let bytes = storage.read(&name).map_err(|e| io("cannot read", e))?;
                Engine::restore(decode_snapshot(&bytes, &storage.describe(&name))?, config)?
            }
            None => Engine::with_config(config),
        };
        let mut report = Recovery {
            snapshot_seq: eng.last_seq(),
            ..Recovery::default()
        };
        segments.retain(|&n| n >= base);
        let names: Vec<String> = segments
            .iter()
            .map(|&n| storage.describe(&segment_name(n)))
            .collect();
        let pieces = Pieces::default();
        eng.replaying = true;
        // A second thread reads the segments, checks and decodes their
        // records and passes them on in batches while this one replays
        // them, in sequence order: a record that comes before its
        // predecessor (writers append in the order they reach the journal,
        // not in sequence order) waits in `parked` until it is next.
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel(8);
            let (storage, segments, names, pieces) = (&storage, &segments, &names, &pieces);
            let skus = &eng.skus;
            scope.spawn(move || read_segments(&**storage, segments, names, pieces, skus, &tx));
            let mut tables = Tables::new(&eng);
            let mut parked = std::collections::BTreeMap::new();
            let mut unordered = Vec::new();
            for batch in rx {
                let batch = match batch? {
                    Read::Records(batch) => batch,
                    Read::Torn(file, at) => {
                        report.torn_tail = Some((names[file].clone(), at));
                        continue;
                    }
                };
                for (k, p) in batch.iter().enumerate() {
                    // What replaying a record reads starts loading before
                    // it comes, so that the misses overlap the records in
                    // between: `2 * AHEAD` records on, its hold id's index
                    // line and the stock records of the SKUs found ahead
                    // (else their SKU entries); `AHEAD` records on, once
                    // those entries are in, the other stock records.
                    if let Some(Parsed {
                        rec: Ok(rec), pre, ..
                    }) = batch.get(k + 2 * AHEAD)
                    {
                        eng.prefetch_rec(rec, pre, &tables);
                    }
                    if let Some(Parsed {
                        rec: Ok(Rec::Hold { lines, .. }),
                        pre,
                        ..
                    }) = batch.get(k + AHEAD)
                    {
                        eng.prefetch_hold_stock(lines, &pre.skus, &tables);
                    }
                    if p.raw.first == 0 {
                        unordered.push(p.clone());
                        continue;
                    }
                    let seq = eng.last_seq();
                    if p.raw.last <= seq {
                        continue;
                    }
                    if p.raw.first != seq + 1 {
                        parked.insert(p.raw.first, p.clone());
                        continue;
                    }
                    eng.replay_ordered(p, names, &clock, &mut tables)?;
                    report.records_replayed += 1;
                    while let Some(next) = parked.first_entry() {
                        let seq = eng.last_seq();
                        if next.get().raw.last <= seq {
                            next.remove();
                        } else if next.get().raw.first == seq + 1 {
                            eng.replay_ordered(&next.remove(), names, &clock, &mut tables)?;
                            report.records_replayed += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            // Records after a gap were never acknowledged (an
            // acknowledgement waits for everything before it).
            report.records_dropped = parked.len() as u64;
            for p in &unordered {
                let rec = p.rec.as_ref().map_err(|detail| Error::Corrupt {
                    file: names[p.raw.file].clone(),
                    offset: p.raw.offset,
                    detail: detail.clone(),
                })?;
                eng.replay(rec, &p.pre, &mut tables)?;
                report.records_replayed += 1;
            }
            Ok(())
        })?;
        report.events_replayed = eng.last_seq() - report.snapshot_seq;
        report.micros = started.elapsed().as_micros() as u64;
        clock.pinned.store(u64::MAX, Ordering::Relaxed);
        eng.replaying = false;
        let next_segment = segments.last().map_or(base, |n| n + 1).max(base);
        eng.journal = Some(Journal::start(
            storage.clone(),
            options.mode,
            next_segment,
            eng.last_seq(),
        ));
        eng.storage = Some(storage);
        eng.durable_options = options;
        if report.records_replayed > 0 || report.torn_tail.is_some() || report.records_dropped > 0 {
            eng.checkpoint()?;
        }
        // Everything due while the engine was down, at its own time.
        eng.next_due_ms.store(0, Ordering::Release);
        report.expired_on_open = eng.sweep(eng.now_ms());
        eng.recovery = Some(report);
        Ok(eng)
    }

    /// What recovery did when this engine was opened (`None`: in-memory).
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The durability mode (`None`: an in-memory engine).
    pub fn durability(&self) -> Option<Durability> {
        self.journal.as_ref().map(|j| j.mode())
    }

    /// Writes a snapshot and deletes the journal before it. Writers pause
    /// while the state is copied (as for `snapshot`), not while it is
    /// written. Returns the snapshot's sequence number.
    ///
    /// Locking: the checkpoint mutex; then as `snapshot`, with the journal
    /// buffer's mutex inside.
    pub fn checkpoint(&self) -> Result<u64> {
        let (Some(j), Some(storage)) = (&self.journal, &self.storage) else {
            return Err(Error::arg("engine", "not durable: open it on a directory"));
        };
        let _one = j.checkpoint_lock.lock();
        let (snap, segment) = self.snapshot_cut(|| j.rotate());
        // The older segments must be fully written before they go.
        j.wait(snap.seq())?;
        let name = snapshot_name(segment);
        storage
            .write_atomic(&name, &encode_snapshot(&snap))
            .map_err(|e| Error::Storage {
                detail: format!("cannot write {}: {e}", storage.describe(&name)),
            })?;
        for old in storage.list().map_err(|e| Error::Storage {
            detail: format!("cannot list: {e}"),
        })? {
            if let Some((_, n)) = parse_name(&old)
                && n < segment
            {
                storage.remove(&old).map_err(|e| Error::Storage {
                    detail: format!("cannot remove {}: {e}", storage.describe(&old)),
                })?;
            }
        }
        Ok(snap.seq())
    }

    /// Flushes the journal, stops its thread and releases the directory's
    /// lock (dropping the engine does the same). Later mutations still
    /// change the in-memory state but fail with `Storage`: reopen instead.
    /// A no-op in memory.
    pub fn close(&self) -> Result<()> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        // The flusher writes (and fsyncs) everything appended as it stops;
        // a write or fsync that failed, then or before, is the answer (it
        // used to be `Ok` once the journal had failed: acknowledged
        // `interval` and `none` changes were lost without a word).
        j.close();
        if let Some(s) = &self.storage {
            s.unlock();
        }
        j.storage_error().map_or(Ok(()), Err)
    }

    /// Waits until everything done so far is durable (written and fsynced;
    /// in `none` mode, written). A no-op in memory.
    pub fn flush(&self) -> Result<()> {
        match &self.journal {
            // By bytes, not sequence numbers: a refused request's counters
            // have none.
            Some(j) => j.wait_all(),
            None => Ok(()),
        }
    }

    /// Acknowledges a mutation: in `sync` mode, waits for its record (and
    /// everything before it) to be durable. Takes a snapshot when the
    /// journal has grown past the threshold. Then feeds ledger subscribers.
    /// Every public mutation ends here, with no engine lock held.
    /// A refusal for lack of stock or of a route is counted (a KPI) and
    /// waits until that count is durable too.
    #[inline]
    pub(crate) fn durable<T>(&self, r: Result<T>) -> Result<T> {
        match r {
            Ok(v) => {
                self.acknowledge()?;
                Ok(v)
            }
            Err(e) => {
                if let Some(j) = &self.journal
                    && is_counted_refusal(&e)
                {
                    j.ack_all()?;
                }
                Err(e)
            }
        }
    }

    /// `durable` for a batch: one wait for all items; when it fails, every
    /// item that succeeded gets the error.
    pub(crate) fn durable_batch<T>(&self, mut rs: Vec<Result<T>>) -> Vec<Result<T>> {
        let refused = rs
            .iter()
            .any(|r| r.as_ref().err().is_some_and(is_counted_refusal));
        let acked = self.acknowledge().and_then(|()| match &self.journal {
            Some(j) if refused => j.ack_all(),
            _ => Ok(()),
        });
        if let Err(e) = acked {
            for r in rs.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e.clone());
            }
        }
        rs
    }

    #[inline]
    fn acknowledge(&self) -> Result<()> {
        if self.journal.is_none() && !self.feed.ledger_active() {
            return Ok(());
        }
        self.acknowledge_slow()
    }

    fn acknowledge_slow(&self) -> Result<()> {
        if let Some(j) = &self.journal {
            j.ack(self.last_seq())?;
            self.maybe_checkpoint(j)?;
        }
        if self.feed.ledger_active() {
            self.publish_ledger();
        }
        Ok(())
    }

    fn maybe_checkpoint(&self, j: &Journal) -> Result<()> {
        let limit = self.durable_options.snapshot_bytes;
        if limit == 0 || j.since_snapshot.load(Ordering::Relaxed) < limit {
            return Ok(());
        }
        if j.snapshotting.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let r = self.checkpoint().map(|_| ());
        j.snapshotting.store(false, Ordering::Release);
        r
    }

    /// Journals a record without sequence numbers (refusal counters).
    pub(crate) fn journal_unordered(&self, rec: &Rec<'_>) {
        if let Some(j) = &self.journal {
            j.append(0, 0, 0, rec);
        }
    }

    /// Starts loading what replaying `rec` reads first (see `hold_batch`),
    /// with what was worked out `pre`.
    ///
    /// Locking: none.
    fn prefetch_rec(&self, rec: &Rec<'_>, pre: &Pre, tables: &Tables<'_>) {
        match rec {
            Rec::Hold { id, lines, .. } => {
                self.prefetch_hold(lines, &pre.id(id), &pre.skus, tables)
            }
            Rec::Release { hold }
            | Rec::Expire { hold }
            | Rec::Extend { hold, .. }
            | Rec::Commit { hold, .. } => self.prefetch_id(&pre.id(hold)),
            _ => {}
        }
    }

    /// Replays a record that has a sequence range (the next one) at its
    /// own time; checks that it gave the sequence numbers the journal has.
    fn replay_ordered<'e>(
        &'e self,
        p: &Parsed<'_>,
        names: &[String],
        clock: &ReplayClock,
        tables: &mut Tables<'e>,
    ) -> Result<()> {
        let r = &p.raw;
        clock.pinned.store(r.at_ms, Ordering::Relaxed);
        let diverged = |detail: String| Error::Corrupt {
            file: names[r.file].clone(),
            offset: r.offset,
            detail,
        };
        let rec = p
            .rec
            .as_ref()
            .map_err(|e| diverged(format!("bad record: {e}")))?;
        self.replay(rec, &p.pre, tables)
            .map_err(|e| diverged(format!("replay failed: {e}")))?;
        if self.last_seq() != r.last {
            return Err(diverged(format!(
                "replay gave sequence numbers up to {} where the journal has {}..={}",
                self.last_seq(),
                r.first,
                r.last
            )));
        }
        Ok(())
    }

    /// Does a journal record again (recovery), with what was worked out
    /// `pre`. `tables`: kept across holds, reloaded after any record but a
    /// hold's or one ending it (such a record may have added SKUs).
    fn replay<'e>(&'e self, rec: &Rec<'_>, pre: &Pre, tables: &mut Tables<'e>) -> Result<()> {
        let done = self.redo(rec, pre, tables);
        match rec {
            Rec::Hold { .. }
            | Rec::Release { .. }
            | Rec::Expire { .. }
            | Rec::Extend { .. }
            | Rec::Commit { .. } => {}
            _ => *tables = Tables::new(self),
        }
        done
    }

    fn redo<'e>(&'e self, rec: &Rec<'_>, pre: &Pre, tables: &mut Tables<'e>) -> Result<()> {
        match rec {
            Rec::DeclareSku { sku, scale } => {
                self.declare_sku(sku, SkuSpec { unit_scale: *scale })?;
            }
            Rec::Stock {
                op,
                sku,
                loc,
                qty,
                reason,
                reference,
            } => {
                let note = Note {
                    reason,
                    reference: *reference,
                };
                match *op {
                    StockOp::Receive => self.receive(sku, loc, *qty, note).map(drop)?,
                    StockOp::Count => self.count(sku, loc, *qty, note).map(drop)?,
                    StockOp::WriteOff(c) => self.write_off(sku, loc, *qty, c, note).map(drop)?,
                    StockOp::MarkUnsellable(c) => {
                        self.mark_unsellable(sku, loc, *qty, c, note).map(drop)?
                    }
                    StockOp::RestoreSellable(c) => {
                        self.restore_sellable(sku, loc, *qty, c, note).map(drop)?
                    }
                    StockOp::SetSafety => self.set_safety(sku, loc, *qty, note).map(drop)?,
                }
            }
            Rec::Reconcile {
                sku,
                loc,
                qty,
                as_of_ms,
                reason,
                reference,
            } => {
                let note = Note {
                    reason,
                    reference: *reference,
                };
                self.reconcile_to(sku, loc, *qty, *as_of_ms, note)?;
            }
            Rec::ExpectReceipt {
                sku,
                loc,
                qty,
                due_ms,
                reference,
            } => {
                self.expect_receipt(sku, loc, *qty, *due_ms, reference)?;
            }
            Rec::CancelExpected {
                sku,
                loc,
                reference,
            } => {
                self.cancel_expected(sku, loc, reference)?;
            }
            Rec::Hold {
                id,
                channel,
                ttl_ms,
                lines,
                pool,
            } => {
                let mut req = HoldRequest::new(id, channel, lines, *ttl_ms);
                req.pool = *pool;
                self.hold_with(&req, &pre.id(id), &pre.skus, tables)?;
            }
            Rec::Release { hold } => self.release_hashed(&pre.id(hold))?,
            Rec::Expire { hold } => self.expire_hold(hold)?,
            Rec::Extend { hold, ttl_ms } => {
                self.extend_hold(hold, *ttl_ms)?;
            }
            Rec::Commit { hold, order } => {
                self.commit(hold, order)?;
            }
            Rec::TillSale {
                sale,
                channel,
                lines,
            } => {
                self.till_sale(sale, channel, lines)?;
            }
            Rec::Settle {
                fulfil,
                order,
                lines,
            } => {
                if *fulfil {
                    self.fulfil(order, lines)?;
                } else {
                    self.cancel(order, lines)?;
                }
            }
            Rec::Dispatch {
                id,
                sku,
                from,
                to,
                qty,
            } => {
                self.dispatch_transfer(id, sku, from, to, *qty)?;
            }
            Rec::ReceiveTransfer { id, qty } => {
                self.receive_transfer(id, *qty)?;
            }
            Rec::CancelTransfer { id } => {
                self.cancel_transfer(id)?;
            }
            Rec::UpsertLocation(spec) => {
                self.upsert_location(spec.as_ref().clone())?;
            }
            Rec::SetClosed { loc, closed } => self.set_location_closed(loc, *closed)?,
            Rec::UpsertChannel(spec) => {
                self.upsert_channel(spec.as_ref().clone())?;
            }
            Rec::RemoveFromChannel { channel, loc } => {
                self.remove_location_from_channel(channel, loc)?
            }
            Rec::Place {
                order,
                digest,
                channel,
                lines,
                plan,
                reserve_hours,
            } => {
                let req = RouteRequest {
                    channel,
                    fulfilment: Fulfilment::ClickAndCollect {
                        store: String::new(),
                    },
                    lines,
                    options: RouteOptions::default(),
                };
                self.apply_plan(order, *digest, &req, plan.as_ref().clone(), *reserve_hours)??;
            }
            Rec::FillBackorders { order } => {
                self.fill_backorders(order)?;
            }
            Rec::PoolShortage { reference, items } => {
                let ids = items
                    .iter()
                    .map(|(sku, q)| Ok((self.sku_id(sku)?.0, *q)))
                    .collect::<Result<Vec<_>>>()?;
                let skus: Vec<crate::SkuId> = ids.iter().map(|x| x.0).collect();
                let mut txn = crate::engine::Txn::begin(self, &skus, self.now_ms());
                let note = Note {
                    reason: "",
                    reference: Some(reference),
                };
                for (sku, q) in ids {
                    txn.record_pool_shortage(sku, q, note);
                }
                self.finish(txn, rec);
            }
            Rec::CancelBackorders { order } => {
                self.cancel_backorders(order)?;
            }
            Rec::PlaceHold {
                hold,
                order,
                digest,
                plan,
                reserve_hours,
            } => {
                let plan = plan.as_ref().clone();
                self.apply_hold_plan(hold, order, *digest, plan, false, *reserve_hours)??;
            }
            Rec::Reroute {
                order,
                plan,
                reserve_hours,
            } => {
                self.reroute_to(order, plan.as_ref().clone(), *reserve_hours)??;
            }
            Rec::EndReservation { order } => {
                self.end_reservation(order, self.now_ms(), true);
            }
            Rec::BulkLoad {
                reason,
                reference,
                items,
            } => {
                let mut group = Vec::with_capacity(items.len());
                for (sku, loc, qty) in items.iter() {
                    let (id, scale) = self.sku_id(sku)?;
                    let q = qty
                        .to_positive_minor(scale)
                        .map_err(|p| Error::qty(sku, *qty, p))?;
                    group.push((id, self.location_id(loc)?, q));
                }
                let stripe = group
                    .first()
                    .map(|g| self.stripe_slot(g.0).0)
                    .ok_or_else(|| Error::arg("items", "an empty bulk load record"))?;
                if group.iter().any(|g| self.stripe_slot(g.0).0 != stripe) {
                    return Err(Error::arg("items", "a bulk load record spans stripes"));
                }
                let note = Note {
                    reason,
                    reference: *reference,
                };
                self.load_group(stripe, &group, note, self.now_ms(), rec)?;
            }
            Rec::Refused {
                holds,
                till_sales,
                orders,
            } => {
                let mut s = self.stripes[0].0.lock();
                s.kpi.holds_refused += holds;
                s.kpi.till_sales_refused += till_sales;
                s.kpi.orders_refused += orders;
            }
        }
        Ok(())
    }
}
