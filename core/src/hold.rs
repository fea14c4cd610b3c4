//! Holds (reservations): carts, checkouts, click & reserve.
//!
//! A hold claims units for a channel until it expires, is released, or is
//! committed into an order. All lines are held or none. The host's hold id
//! is the idempotency key: the same id with the same channel and lines
//! returns the original receipt (`replayed: true`); with other content, an
//! `IdConflict`. Ended holds are kept for `Config::hold_retention_ms` so that
//! retries stay idempotent, then purged.
//!
//! # Status precedence
//!
//! A hold request is checked in this order; the first failing check is the
//! result (the same order applies to every item of `hold_batch`):
//! 1. `InvalidArgument`: empty or over-long id, TTL of 0 or above the
//!    maximum, no lines or too many;
//! 2. `UnknownChannel`; 3. `UnknownSku`; 4. `UnknownLocation` (per line, in order);
//! 5. `InvalidQuantity` (zero, negative, too many decimals, too large);
//! 6. replay of an existing id (`Ok`, `replayed: true`) or `IdConflict`;
//! 7. `LocationNotInChannel`, `LocationClosed` (pinned lines);
//! 8. `InsufficientStock` (the first line that does not fit).

use crate::durable::rec::Rec;
use crate::engine::{Engine, Field, Note, Txn};
use crate::error::{Error, IdKind, Result};
use crate::feed::Change;
use crate::ids::{ChannelId, Key, LocationId, SkuId, check_id};
use crate::ledger::EventKind;
use crate::qty::Qty;
use crate::tagindex::TagIndex;
use crate::topology::Topology;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;

/// Where a hold is in its life. Every hold ends exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Active,
    Committed,
    Released,
    Expired,
}

impl std::fmt::Display for HoldState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HoldState::Active => "active",
            HoldState::Committed => "committed",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        })
    }
}

/// One line of a hold or till sale: a SKU, a quantity and optionally the
/// location it must come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldLine<'a> {
    pub sku: &'a str,
    pub qty: Qty,
    pub location: Option<&'a str>,
}

impl<'a> HoldLine<'a> {
    /// A line filled from the channel's locations in order.
    pub fn new(sku: &'a str, qty: impl Into<Qty>) -> Self {
        HoldLine {
            sku,
            qty: qty.into(),
            location: None,
        }
    }
    /// Pins the line to one location (click & reserve, a till).
    pub fn at(mut self, location: &'a str) -> Self {
        self.location = Some(location);
        self
    }
}

/// A request to hold stock.
#[derive(Clone, Copy, Debug)]
pub struct HoldRequest<'a> {
    /// The host's id, also the idempotency key.
    pub id: &'a str,
    pub channel: &'a str,
    pub lines: &'a [HoldLine<'a>],
    /// Time to live from now, in milliseconds.
    pub ttl_ms: u64,
    /// Lines without a location claim units from the channel's pool and
    /// are bound to locations only when the hold becomes an order (see
    /// [`crate::pool`]); the default. `false` ([`HoldRequest::bind_now`])
    /// binds them at once, from the channel's locations in order.
    pub pool: bool,
}

impl<'a> HoldRequest<'a> {
    /// A hold request.
    pub fn new(id: &'a str, channel: &'a str, lines: &'a [HoldLine<'a>], ttl_ms: u64) -> Self {
        HoldRequest {
            id,
            channel,
            lines,
            ttl_ms,
            pool: true,
        }
    }

    /// Holds the lines without a location against the channel's pool (the
    /// default).
    pub fn pool(mut self) -> Self {
        self.pool = true;
        self
    }

    /// Binds the lines without a location at once, from the channel's
    /// locations in order (still leaving every pool claim bindable), for a
    /// host that must show where a cart's units are.
    pub fn bind_now(mut self) -> Self {
        self.pool = false;
        self
    }
}

/// Units held (or allocated) at one location, or held against the
/// channel's pool (`location: None`, pool holds only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub sku: SkuId,
    pub location: Option<LocationId>,
    pub qty: Qty,
}

/// What a granted hold holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldReceipt {
    pub expires_at_ms: u64,
    /// True when this is the original result returned again for a retry.
    pub replayed: bool,
    pub parts: SmallVec<[Part; 2]>,
}

/// A hold as hosts read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    pub id: String,
    pub channel: String,
    pub state: HoldState,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub order: Option<String>,
    /// (sku, location, quantity); the location is `None` for units held
    /// against the channel's pool.
    pub parts: Vec<(String, Option<String>, Qty)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReqLine {
    pub sku: SkuId,
    pub loc: Option<LocationId>,
    pub qty: i64,
    pub scale: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartRec {
    pub sku: SkuId,
    pub loc: LocationId,
    pub qty: i64,
    pub scale: u8,
}

impl PartRec {
    /// Units held against the channel's pool, not at a location.
    #[inline]
    pub(crate) fn pooled(&self) -> bool {
        self.loc == LocationId::POOL
    }

    pub(crate) fn public(&self) -> Part {
        Part {
            sku: self.sku,
            location: (self.loc != LocationId::POOL).then_some(self.loc),
            qty: Qty::from_minor(self.qty, self.scale),
        }
    }
}

pub(crate) type Lines = SmallVec<[ReqLine; 2]>;
/// Most holds take one SKU at one location: one part inline.
pub(crate) type Parts = SmallVec<[PartRec; 1]>;

/// A stable 64-bit digest of a hold request (channel and resolved lines):
/// a retry is recognised by it, so the record need not keep the lines. Ids
/// survive snapshot and restore, so the digest does too.
///
/// Each line's two words are folded into one with a 128-bit multiply
/// ([`fold_mul`](crate::ids::fold_mul)), independently of the other lines,
/// so the CPU overlaps them; the running digest then takes the lines in
/// order with one more multiply each. That is about 5 cycles of latency a
/// line, where three chained splitmix rounds a line (snapshot format 1)
/// took about 36, a tenth of a ten-line hold's time.
pub(crate) fn fingerprint(chan: ChannelId, pool: bool, lines: &[ReqLine]) -> u64 {
    use crate::ids::fold_mul;
    let mut h = crate::ids::StableHasher::default();
    h.mix((chan.0 as u64) << 32 | (pool as u64) << 31 | lines.len() as u64);
    let mut acc = h.0;
    for l in lines {
        let ids = (l.sku.0 as u64) << 32 | l.loc.map_or(u32::MAX, |x| x.0) as u64;
        // A line's quantity is positive and below 2^50 (`MAX_MINOR`), so
        // the scale fits in the byte below it.
        let amount = (l.qty as u64) << 8 | l.scale as u64;
        let line = fold_mul(ids ^ 0xa076_1d64_78bd_642f, amount ^ 0xe703_7ed1_a0b4_28db);
        acc = fold_mul(acc ^ line, 0x8ebc_6af0_9c88_c6e3);
    }
    h.mix(acc);
    h.0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HoldRec {
    pub channel: ChannelId,
    pub state: HoldState,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub ended_ms: u64,
    /// [`fingerprint`] of the request, to tell a retry from a conflict.
    pub request: u64,
    pub parts: Parts,
    pub order: Option<Key>,
}

impl HoldRec {
    fn receipt(&self, replayed: bool) -> HoldReceipt {
        let mut parts = SmallVec::new();
        if self.parts.len() > parts.inline_size() {
            // Sized once from the exact length, not grown per part.
            parts.reserve_exact(self.parts.len());
        }
        // Pushed one by one: `collect` costs a hold of one or two parts
        // more than the parts themselves (its reservation path).
        for p in &self.parts {
            parts.push(p.public());
        }
        HoldReceipt {
            expires_at_ms: self.expires_ms,
            replayed,
            parts,
        }
    }
}

/// One shard of the hold table: records in a slab (slots are reused once a
/// record is purged), an index from the host's id, the expiry queue of
/// active holds, and the purge queue of ended ones (FIFO: retention is one
/// constant, so purge times arrive in order unless the clock went back,
/// which only delays a purge).
///
/// The expiry queue ([`Expiries`]) has lazy deletion: ending or extending a
/// hold leaves its old entry behind, and an entry counts only while its slot
/// still holds an active hold due at exactly that time. Stale entries are
/// dropped when they reach the front, and the queue is compacted to the live
/// entries once they outnumber the active holds, so it stays within a
/// constant factor of the active holds however many are released early.
#[derive(Default)]
pub(crate) struct HoldShard {
    /// Slot numbers by the low 32 bits of the id's hash: a lookup reads a
    /// slot only when those match, and growing the index reads no slot.
    index: TagIndex,
    slots: Slab,
    free: Vec<u32>,
    expiries: Expiries,
    active: usize,
    /// Ended holds by purge time: (time, slot with [`OWNS_HEAP`], index
    /// tag), so that a purge takes the slot off the index without reading
    /// the slot, and knows whether its record has memory to give back.
    purges: VecDeque<(u64, u32, u32)>,
}

/// Two cache lines exactly: a hold written to a recycled slot touches two
/// lines, which the adjacent-line prefetcher fetches together.
#[repr(align(64))]
pub(crate) struct Slot {
    hash: u64,
    key: Key,
    rec: HoldRec,
}

const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 128);

/// Slots per chunk of a [`Slab`] (64 KiB of slots).
const CHUNK_BITS: u32 = 9;
const CHUNK: usize = 1 << CHUNK_BITS;
const FIRST_CHUNK: usize = 8;

/// A shard's slots, in chunks that never move: growing allocates one more
/// chunk instead of copying every slot into a larger array under the
/// shard's lock (a pause that grew with the shard, and twice the memory
/// while it lasted), and the slot the next new hold takes is allocated
/// before that hold comes, so it can be prefetched like a recycled one.
/// The first chunk starts at `FIRST_CHUNK` slots and doubles up to
/// `CHUNK` (copying at most 256 slots), so that an engine with few holds
/// does not take 64 KiB per shard.
///
/// A purged slot keeps its old record until a new hold overwrites it (the
/// overwrite drops it), so that a purge touches only the index and the
/// slab's bitmap of live slots, not the cold slot: records are read only
/// through the index, the expiry queue (which checks the record is active,
/// and a purged one never is) and [`Slab::iter`], which skips dead slots.
/// A record that owns heap memory (an id or order id past 23 bytes, the
/// parts of a hold of several lines) is dropped at its purge instead, so
/// that a dead slot never keeps memory beyond its own 128 bytes.
#[derive(Default)]
struct Slab {
    chunks: Vec<Box<[Option<Slot>]>>,
    /// Bit `i` is set while slot `i` holds a record that is not purged.
    live: Vec<u64>,
    len: u32,
}

/// A slot number as (chunk, place in the chunk).
#[inline]
fn chunk_of(i: u32) -> (usize, usize) {
    ((i >> CHUNK_BITS) as usize, i as usize & (CHUNK - 1))
}

impl Slab {
    #[inline]
    fn get(&self, i: u32) -> &Option<Slot> {
        let (c, k) = chunk_of(i);
        &self.chunks[c][k]
    }
    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut Option<Slot> {
        let (c, k) = chunk_of(i);
        &mut self.chunks[c][k]
    }
    /// A new empty slot at the end.
    fn push(&mut self) -> u32 {
        let (c, k) = chunk_of(self.len);
        if c == self.chunks.len() {
            let size = if c == 0 { FIRST_CHUNK } else { CHUNK };
            self.chunks.push((0..size).map(|_| None).collect());
        } else if k == self.chunks[c].len() {
            // The first chunk, full below CHUNK: doubled.
            let mut grown = std::mem::take(&mut self.chunks[c]).into_vec();
            grown.resize_with((2 * k).min(CHUNK), || None);
            self.chunks[c] = grown.into_boxed_slice();
        }
        if self.len as usize / 64 == self.live.len() {
            self.live.push(0);
        }
        self.len += 1;
        self.len - 1
    }
    #[inline]
    fn set_live(&mut self, i: u32, live: bool) {
        let (w, b) = (i as usize / 64, 1u64 << (i % 64));
        if live {
            self.live[w] |= b;
        } else {
            self.live[w] &= !b;
        }
    }
    #[inline]
    fn is_live(&self, i: u32) -> bool {
        self.live[i as usize / 64] & (1 << (i % 64)) != 0
    }
    /// The slot the next `push` returns, when it is allocated.
    #[inline]
    fn upcoming(&self) -> Option<&Option<Slot>> {
        let (c, k) = chunk_of(self.len);
        self.chunks.get(c).and_then(|chunk| chunk.get(k))
    }
    /// The live records, in slot order.
    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .take(self.len as usize)
            .enumerate()
            .filter(|&(i, _)| self.is_live(i as u32))
            .filter_map(|(_, x)| x.as_ref())
    }
}

/// How many of a hold's lines have their SKU entries prefetched: enough for
/// the carts most holds are, few enough that a large order does not evict
/// what it prefetched before it reads it.
const PREFETCH_LINES: usize = 4;

impl HoldShard {
    #[inline]
    pub fn find(&self, id: &IdHash<'_>) -> Option<u32> {
        let slots = &self.slots;
        let tag = id.hash as u32;
        self.index.find(tag, |slot| {
            slots
                .get(slot)
                .as_ref()
                .is_some_and(|x| x.key.as_str() == id.id)
        })
    }
    #[inline]
    fn slot(&self, slot: u32) -> &Slot {
        self.slots.get(slot).as_ref().expect("live slot")
    }
    #[inline]
    pub fn rec(&self, slot: u32) -> &HoldRec {
        &self.slot(slot).rec
    }
    #[inline]
    pub fn rec_mut(&mut self, slot: u32) -> &mut HoldRec {
        &mut self.slots.get_mut(slot).as_mut().expect("live slot").rec
    }
    pub fn key(&self, slot: u32) -> &Key {
        &self.slot(slot).key
    }
    /// Stores a record; an active one is queued for expiry, an ended one
    /// for purging at `purge_at`.
    pub fn insert(&mut self, id: &IdHash<'_>, rec: HoldRec, purge_at: u64) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => self.slots.push(),
        };
        let key = Key::new(id.id);
        if rec.state == HoldState::Active {
            self.push_expiry(rec.expires_ms, slot);
            self.active += 1;
        } else {
            let entry = purge_entry(slot, owns_heap(&key, &rec));
            self.purges.push_back((purge_at, entry, id.hash as u32));
        }
        self.index.insert(id.hash as u32, slot);
        self.slots.set_live(slot, true);
        *self.slots.get_mut(slot) = Some(Slot {
            hash: id.hash,
            key,
            rec,
        });
        slot
    }
    /// As [`TagIndex::shape`].
    pub fn index_shape(&self) -> (*const u64, u32) {
        self.index.shape()
    }
    /// Prefetches the slot the next insert fills, so that its cache miss
    /// is under way while the caller does other work.
    #[inline]
    pub fn warm_free(&self) {
        let next = match self.free.last() {
            Some(&s) => Some(self.slots.get(s)),
            None => self.slots.upcoming(),
        };
        if let Some(slot) = next {
            crate::prefetch::lines(slot, 2);
        }
    }
    pub fn set_expiry(&mut self, slot: u32, expires_ms: u64) {
        self.rec_mut(slot).expires_ms = expires_ms;
        self.push_expiry(expires_ms, slot);
    }
    /// Takes an ended hold off the expiry queue and onto the purge queue.
    pub fn mark_ended(&mut self, slot: u32, purge_at: u64) {
        self.active -= 1;
        // A hold ended soon after it was made (a cart bought or emptied
        // at once) is usually still the newest entry of the queue: taking
        // it off now saves the read of its cold slot that dropping a stale
        // entry at the front, or compacting, would cost later.
        let x = self.slot(slot);
        let (due, tag) = (x.rec.expires_ms, x.hash as u32);
        let entry = purge_entry(slot, owns_heap(&x.key, &x.rec));
        self.expiries.forget_newest(due, slot);
        self.purges.push_back((purge_at, entry, tag));
    }
    fn push_expiry(&mut self, due: u64, slot: u32) {
        if self.expiries.len() >= 2 * self.active + 1024 {
            let slots = &self.slots;
            self.expiries
                .retain(|due, slot| is_due_entry(slots, due, slot));
        }
        self.expiries.push(due, slot);
    }
    /// True when the queue entry (due, slot) still stands for an active hold.
    fn is_due_entry(&self, due: u64, slot: u32) -> bool {
        is_due_entry(&self.slots, due, slot)
    }
    /// Forgets the record of a purge queue entry (see [`purge_entry`]),
    /// stored under `tag`, reading it only when it owns heap memory (see
    /// [`Slab`]).
    fn purge(&mut self, entry: u32, tag: u32) {
        let slot = entry & !OWNS_HEAP;
        if self.slots.is_live(slot) {
            self.slots.set_live(slot, false);
            self.index.remove(tag, slot);
            if entry & OWNS_HEAP != 0 {
                *self.slots.get_mut(slot) = None;
            }
            self.free.push(slot);
        }
    }
    /// The earliest live expiry (stale entries on top are dropped).
    fn first_expiry(&mut self) -> Option<(u64, u32)> {
        while let Some((due, slot)) = self.expiries.peek() {
            if self.is_due_entry(due, slot) {
                return Some((due, slot));
            }
            self.expiries.pop();
        }
        None
    }
    pub fn records(&self) -> impl Iterator<Item = (&Key, &HoldRec)> {
        self.slots.iter().map(|x| (&x.key, &x.rec))
    }
}

/// Marks a purge queue entry whose record owns heap memory (slot numbers
/// stay below it: a shard of 2^31 slots would take 256 GiB).
const OWNS_HEAP: u32 = 1 << 31;

/// A purge queue's slot: `slot`, with [`OWNS_HEAP`] when `owns`.
#[inline]
fn purge_entry(slot: u32, owns: bool) -> u32 {
    debug_assert!(slot < OWNS_HEAP);
    if owns { slot | OWNS_HEAP } else { slot }
}

/// True when a record with this id owns memory on the heap (the commit
/// sets a committed hold's order id before it marks the hold ended).
#[inline]
fn owns_heap(key: &Key, rec: &HoldRec) -> bool {
    key.is_heap_allocated()
        || rec.parts.spilled()
        || rec.order.as_ref().is_some_and(Key::is_heap_allocated)
}

fn is_due_entry(slots: &Slab, due: u64, slot: u32) -> bool {
    matches!(slots.get(slot), Some(x) if x.rec.state == HoldState::Active && x.rec.expires_ms == due)
}

/// A min-queue of (due, slot) for times that mostly arrive in order (now +
/// a TTL that rarely changes): entries at or after the last one go to the
/// back of an ordered run (a hot, sequential append), the others into a
/// heap; the minimum is the smaller of the two fronts.
#[derive(Default)]
pub(crate) struct Expiries {
    run: VecDeque<(u64, u32)>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
}

impl Expiries {
    pub fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }
    #[inline]
    pub fn push(&mut self, due: u64, slot: u32) {
        match self.run.back() {
            Some(&back) if (due, slot) < back => self.heap.push(Reverse((due, slot))),
            _ => self.run.push_back((due, slot)),
        }
    }
    pub fn peek(&self) -> Option<(u64, u32)> {
        match (self.run.front(), self.heap.peek()) {
            (Some(&r), Some(&Reverse(h))) => Some(r.min(h)),
            (Some(&r), None) => Some(r),
            (None, Some(&Reverse(h))) => Some(h),
            (None, None) => None,
        }
    }
    /// Removes the minimum.
    pub fn pop(&mut self) {
        match (self.run.front(), self.heap.peek()) {
            (Some(&r), Some(&Reverse(h))) if h < r => {
                self.heap.pop();
            }
            (Some(_), _) => {
                self.run.pop_front();
            }
            (None, _) => {
                self.heap.pop();
            }
        }
    }
    /// Removes (due, slot) if it is the newest entry of the ordered run
    /// (otherwise it stays, to be dropped lazily as stale).
    #[inline]
    pub fn forget_newest(&mut self, due: u64, slot: u32) {
        if self.run.back() == Some(&(due, slot)) {
            self.run.pop_back();
        }
    }
    /// Keeps the entries `keep` accepts (allocations are kept).
    pub fn retain(&mut self, mut keep: impl FnMut(u64, u32) -> bool) {
        self.run.retain(|&(d, s)| keep(d, s));
        self.heap.retain(|&Reverse((d, s))| keep(d, s));
    }
}

/// A host id with its hash, computed once: the shard is taken from bits
/// 32.. of the hash and the shard's table uses the low bits and the top 7,
/// so the two never correlate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHash<'a> {
    pub id: &'a str,
    pub hash: u64,
}

impl<'a> IdHash<'a> {
    #[inline]
    pub(crate) fn new(id: &'a str) -> Self {
        IdHash {
            id,
            hash: foldhash::fast::FixedState::default().hash_one(id),
        }
    }
    #[inline]
    pub(crate) fn shard(&self, shards: usize) -> usize {
        ((self.hash >> 32) as usize) & (shards - 1)
    }
}

pub(crate) fn shard_index(id: &str, shards: usize) -> usize {
    IdHash::new(id).shard(shards)
}

/// What a hold reads before locking anything, loaded once per call (a
/// batch shares it): the topology with its generation, and the SKU table.
pub(crate) struct Tables<'e> {
    topo_gen: u64,
    topo: arc_swap::Guard<std::sync::Arc<Topology>>,
    skus: crate::sku::SkuLookup<'e>,
    /// The resolved lines of the hold at hand (reused across a batch, so
    /// that holds of many lines allocate once per batch, not per hold).
    lines: Lines,
}

/// A hold's SKUs (id and unit scale), one per line, as recovery's reading
/// thread found them ahead of the replay (`None`: not found there, looked
/// up at the replay). A SKU's id and unit scale never change once it
/// exists, so an early answer stays right.
pub(crate) type PreSkus = SmallVec<[Option<(SkuId, u8)>; 2]>;

/// Line `i`'s SKU, when `pre` (see [`PreSkus`]) has it.
#[inline(always)]
fn known_ahead(pre: &[Option<(SkuId, u8)>], i: usize) -> Option<(SkuId, u8)> {
    pre.get(i).copied().flatten()
}

impl<'e> Tables<'e> {
    #[inline]
    pub(crate) fn new(eng: &'e Engine) -> Tables<'e> {
        // The generation first: a swap in between makes the next hold
        // reload (harmless), never keep a stale topology.
        let topo_gen = eng.topo_gen.load(Ordering::Acquire);
        Tables {
            topo_gen,
            topo: eng.topo.load(),
            skus: eng.skus.lookup(),
            lines: Lines::new(),
        }
    }
}

impl Engine {
    /// Holds stock for a cart or checkout. See the module docs for the
    /// order in which outcomes are decided.
    ///
    /// Locking: the hold's shard (and under it, for a SKU created since
    /// the SKU table was last rebuilt, the registry's delta mutex, a leaf),
    /// then the stripes of its SKUs (ascending).
    pub fn hold(&self, req: &HoldRequest<'_>) -> Result<HoldReceipt> {
        let now = self.now_and_sweep();
        let mut tables = Tables::new(self);
        let h = IdHash::new(req.id);
        self.prefetch_hold(req.lines, &h, &[], &tables);
        self.durable(self.hold_at(req, &h, &[], now, &mut tables))
    }

    /// Many holds, one result per request, in order. Each hold is atomic on
    /// its own; one refused hold does not affect the others.
    ///
    /// Locking: per item, as `hold`.
    pub fn hold_batch(&self, reqs: &[HoldRequest<'_>]) -> Vec<Result<HoldReceipt>> {
        let now = self.now_and_sweep();
        // The topology and the SKU table are loaded once for the batch (each
        // hold still sees a topology change made meanwhile).
        let mut tables = Tables::new(self);
        // Each id hashed once, for its prefetch and its hold.
        let ids: Vec<IdHash<'_>> = reqs.iter().map(|r| IdHash::new(r.id)).collect();
        for (r, h) in reqs.iter().zip(&ids).take(2) {
            self.prefetch_hold(r.lines, h, &[], &tables);
        }
        self.durable_batch(
            reqs.iter()
                .zip(&ids)
                .enumerate()
                .map(|(i, (r, h))| {
                    // Two holds ahead, the id's index line and the lines'
                    // SKU entries start loading: their misses overlap this
                    // hold's work instead of stalling the next one.
                    if let (Some(ahead), Some(ah)) = (reqs.get(i + 2), ids.get(i + 2)) {
                        self.prefetch_hold(ahead.lines, ah, &[], &tables);
                    }
                    self.hold_at(r, h, &[], now, &mut tables)
                })
                .collect(),
        )
    }

    /// Publishes shard `si`'s index shape for [`Engine::prefetch_hold`]
    /// when it changed (the index grew). Called with the shard locked.
    #[inline]
    fn note_index_shape(&self, si: usize, shard: &HoldShard) {
        let (entries, bits) = shard.index_shape();
        let (at, at_bits) = &self.index_at[si];
        if at.load(Ordering::Relaxed).cast_const() != entries {
            at.store(entries.cast_mut(), Ordering::Relaxed);
            at_bits.store(bits, Ordering::Relaxed);
        }
    }

    /// Starts loading what `hold_at` will read first for a hold of `lines`
    /// (the first few): the index line of its id (`h`: the id, hashed),
    /// the stock records of the lines whose SKUs are known already (`pre`,
    /// see [`PreSkus`]; empty but in recovery) and the SKU table entries of
    /// the others. Called before the hold's shard is locked: a lock's
    /// atomic waits for the loads before it, not for prefetches.
    ///
    /// Locking: none.
    #[inline(always)]
    pub(crate) fn prefetch_hold(
        &self,
        lines: &[HoldLine<'_>],
        h: &IdHash<'_>,
        pre: &[Option<(SkuId, u8)>],
        tables: &Tables<'_>,
    ) {
        self.prefetch_id(h);
        for (i, l) in lines.iter().enumerate().take(PREFETCH_LINES) {
            match known_ahead(pre, i) {
                Some((id, _)) => self.prefetch_stock(id),
                None => tables.skus.prefetch(l.sku),
            }
        }
    }

    /// The second stage of `prefetch_hold` in recovery, once the SKU table
    /// entries it started loading are in: the stock records of the lines
    /// whose SKUs were not known ahead.
    ///
    /// Locking: none (a SKU created since `tables` were loaded is skipped).
    pub(crate) fn prefetch_hold_stock(
        &self,
        lines: &[HoldLine<'_>],
        pre: &[Option<(SkuId, u8)>],
        tables: &Tables<'_>,
    ) {
        for (i, l) in lines.iter().enumerate().take(PREFETCH_LINES) {
            if known_ahead(pre, i).is_some() {
                continue;
            }
            if let Some((id, _)) = tables.skus.get_fast(l.sku) {
                self.prefetch_stock(id);
            }
        }
    }

    /// `hold` with the caller's tables, the id hashed (`h`) and the SKUs
    /// found ahead (`pre`, see [`PreSkus`]): recovery keeps one set of
    /// tables across the records it replays (`hold_at` reloads them after a
    /// topology change; a SKU created since they were loaded is found the
    /// slow way).
    ///
    /// Locking: as `hold`.
    pub(crate) fn hold_with<'e>(
        &'e self,
        req: &HoldRequest<'_>,
        h: &IdHash<'_>,
        pre: &[Option<(SkuId, u8)>],
        tables: &mut Tables<'e>,
    ) -> Result<HoldReceipt> {
        let now = self.now_and_sweep();
        self.durable(self.hold_at(req, h, pre, now, tables))
    }

    /// Starts loading the line of a hold id's index that a lookup of the
    /// id reads first (`h`: the id, hashed).
    ///
    /// Locking: none.
    #[inline]
    pub(crate) fn prefetch_id(&self, h: &IdHash<'_>) {
        let (at, bits) = &self.index_at[h.shard(self.holds.len())];
        crate::tagindex::prefetch_at(
            at.load(Ordering::Relaxed),
            bits.load(Ordering::Relaxed),
            h.hash as u32,
        );
    }

    /// Releases an active hold; its units become available again. Releasing
    /// a released hold succeeds again (retries are safe).
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs.
    pub fn release(&self, hold: &str) -> Result<()> {
        self.release_hashed(&IdHash::new(hold))
    }

    /// `release` of an id already hashed (recovery).
    ///
    /// Locking: as `release`.
    pub(crate) fn release_hashed(&self, h: &IdHash<'_>) -> Result<()> {
        let now = self.now_and_sweep();
        self.durable(self.release_at(h, now))
    }

    /// Many releases, one result per id.
    ///
    /// Locking: per item, as `release`.
    pub fn release_batch(&self, holds: &[&str]) -> Vec<Result<()>> {
        let now = self.now_and_sweep();
        let ids: Vec<IdHash<'_>> = holds.iter().map(|h| IdHash::new(h)).collect();
        self.durable_batch(
            ids.iter()
                .enumerate()
                .map(|(i, h)| {
                    // As in `hold_batch`: two ahead, the id's index line.
                    if let Some(ahead) = ids.get(i + 2) {
                        self.prefetch_id(ahead);
                    }
                    self.release_at(h, now)
                })
                .collect(),
        )
    }

    /// Sets an active hold to expire `ttl_ms` from now; returns the new expiry.
    ///
    /// Locking: the hold's shard, then the meta-ledger.
    pub fn extend_hold(&self, hold: &str, ttl_ms: u64) -> Result<u64> {
        let now = self.now_and_sweep();
        check_id("hold", hold)?;
        self.check_ttl(ttl_ms)?;
        let h = IdHash::new(hold);
        let mut shard = self.holds[h.shard(self.holds.len())].0.lock();
        let slot = shard.find(&h).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        let rec = shard.rec(slot);
        if rec.state != HoldState::Active || rec.expires_ms <= now {
            let state = if rec.state == HoldState::Active {
                HoldState::Expired
            } else {
                rec.state
            };
            return Err(Error::HoldNotActive {
                hold: hold.to_string(),
                state,
            });
        }
        let expires = now.saturating_add(ttl_ms);
        shard.set_expiry(slot, expires);
        self.meta_event(
            EventKind::HoldExtended,
            None,
            None,
            ttl_ms as i64,
            hold,
            &Rec::Extend { hold, ttl_ms },
        );
        drop(shard);
        self.note_due(expires);
        self.durable(Ok(expires))
    }

    /// A hold's state and parts.
    ///
    /// Locking: the hold's shard.
    pub fn hold_info(&self, hold: &str) -> Result<HoldView> {
        let now = self.now_and_sweep();
        let _ = now;
        let h = IdHash::new(hold);
        let shard = self.holds[h.shard(self.holds.len())].0.lock();
        let slot = shard.find(&h).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        let rec = shard.rec(slot);
        let topo = self.topo.load();
        Ok(HoldView {
            id: hold.to_string(),
            channel: topo
                .channel(rec.channel)
                .map(|c| c.key.to_string())
                .unwrap_or_default(),
            state: rec.state,
            created_at_ms: rec.created_ms,
            expires_at_ms: rec.expires_ms,
            ended_at_ms: (rec.state != HoldState::Active).then_some(rec.ended_ms),
            order: rec.order.as_ref().map(|o| o.to_string()),
            parts: rec
                .parts
                .iter()
                .map(|p| {
                    (
                        self.skus.name(p.sku).to_string(),
                        (!p.pooled()).then(|| topo.location(p.loc).key.to_string()),
                        p.public().qty,
                    )
                })
                .collect(),
        })
    }

    /// Ends every active hold whose expiry is at or before `now_ms` and
    /// every click & reserve order's time at the store that ended by then
    /// (what it still has allocated is cancelled), and purges ended holds,
    /// closed orders and ended transfers past their retention, and ledger
    /// events past `ledger_retention` from slices of the ledger that no
    /// longer append. Returns how many holds expired. Operations call this
    /// themselves whenever something is due, so a host only needs it to
    /// make expiries (and their events) happen on time.
    ///
    /// Locking: the sweep lock, then each hold shard in turn with the
    /// stripes of the holds it ends, then the transfer table and with it
    /// each order shard in turn (a table or shard busy elsewhere is skipped
    /// until a later sweep), then the reservation queue; after the sweep
    /// lock, each ended reservation's order shard (skipped while busy) with
    /// its stripes; then each stripe in turn and the meta-log.
    pub fn expire_due(&self, now_ms: u64) -> usize {
        let n = self.sweep(now_ms);
        self.trim_ledger();
        // The expiries are not the caller's to acknowledge; a storage
        // failure surfaces on the next mutation.
        let _ = self.durable(Ok(()));
        n
    }

    /// Expires one active hold now (recovery replays expiries this way).
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs.
    pub(crate) fn expire_hold(&self, hold: &str) -> Result<()> {
        let now = self.now_ms();
        let h = IdHash::new(hold);
        let mut shard = self.holds[h.shard(self.holds.len())].0.lock();
        let slot = shard.find(&h).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        if shard.rec(slot).state != HoldState::Active {
            return Err(Error::HoldNotActive {
                hold: hold.to_string(),
                state: shard.rec(slot).state,
            });
        }
        let changes = self.end_hold(&mut shard, slot, HoldState::Expired, now);
        drop(shard);
        self.publish(changes);
        Ok(())
    }

    pub(crate) fn sweep(&self, now: u64) -> usize {
        let guard = self.sweep_lock.lock();
        let start = self.next_due_ms.load(Ordering::Acquire);
        let (mut min_due, mut expired, mut changes) = (u64::MAX, 0, Vec::new());
        for shard in self.holds.iter() {
            let mut sh = shard.0.lock();
            // While recovery replays, expiries come from the journal.
            while let Some((due, slot)) = sh.first_expiry().filter(|_| !self.replaying) {
                if due > now {
                    min_due = min_due.min(due);
                    break;
                }
                sh.expiries.pop();
                // Ended at its expiry time, whenever the sweep runs (after
                // a restart, holds due while the engine was down).
                changes.extend(self.end_hold(&mut sh, slot, HoldState::Expired, due));
                expired += 1;
            }
            while let Some(&(due, entry, tag)) = sh.purges.front() {
                if due > now {
                    min_due = min_due.min(due);
                    break;
                }
                sh.purges.pop_front();
                sh.purge(entry, tag);
            }
        }
        // The transfer table comes before the order shards (a purged
        // order's planned transfers go with it). A table or shard busy
        // elsewhere is purged on a later sweep, and no lock is ever waited
        // for with the sweep lock held.
        match self.transfers.try_lock() {
            Some(mut table) => {
                let mut planned = Vec::new();
                for shard in self.orders.iter() {
                    match shard.0.try_lock() {
                        Some(mut sh) => {
                            if let Some(due) = sh.purge_due(now, &mut planned) {
                                min_due = min_due.min(due);
                            }
                        }
                        None => min_due = min_due.min(now.saturating_add(1)),
                    }
                }
                table.drop_planned(&planned);
                if let Some(due) = table.purge_due(now) {
                    min_due = min_due.min(due);
                }
            }
            None => min_due = min_due.min(now.saturating_add(1)),
        }
        // Click & reserve orders whose time at the store is up: ended below,
        // once the sweep lock is released (while recovery replays, their
        // ends are records of their own).
        let reservations = if self.replaying {
            Vec::new()
        } else {
            let (due, next) = self.due_reservations(now);
            if let Some(next) = next {
                min_due = min_due.min(next);
            }
            due
        };
        if self
            .next_due_ms
            .compare_exchange(start, min_due, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            self.next_due_ms.fetch_min(min_due, Ordering::AcqRel);
        }
        drop(guard);
        self.publish(changes);
        for (order, until) in reservations {
            if self.end_reservation(&order, until, false) {
                // Busy (perhaps with the caller itself): queued again, and
                // already due, so the next operation's sweep retries it.
                self.queue_reservation(order, until);
            }
        }
        expired
    }

    pub(crate) fn note_due(&self, due: u64) {
        // Most holds are due after the earliest one already noted: a plain
        // load spares the shared cache line a write.
        if due < self.next_due_ms.load(Ordering::Acquire) {
            self.next_due_ms.fetch_min(due, Ordering::AcqRel);
        }
    }

    pub(crate) fn check_ttl(&self, ttl_ms: u64) -> Result<()> {
        if ttl_ms == 0 || ttl_ms > self.config.max_ttl_ms {
            return Err(Error::arg(
                "ttl_ms",
                format!("must be 1..={}", self.config.max_ttl_ms),
            ));
        }
        Ok(())
    }

    /// Resolves and validates lines (steps 3-5 of the precedence).
    pub(crate) fn resolve_lines(&self, topo: &Topology, lines: &[HoldLine<'_>]) -> Result<Lines> {
        let mut out = Lines::new();
        self.resolve_lines_in(topo, &self.skus.lookup(), &[], lines, &mut out)?;
        Ok(out)
    }

    /// `pre`: the lines' SKUs where already known (see [`PreSkus`]).
    fn resolve_lines_in(
        &self,
        topo: &Topology,
        skus: &crate::sku::SkuLookup<'_>,
        pre: &[Option<(SkuId, u8)>],
        lines: &[HoldLine<'_>],
        out: &mut Lines,
    ) -> Result<()> {
        if lines.is_empty() || lines.len() > self.config.max_lines {
            return Err(Error::arg(
                "lines",
                format!("must have 1..={} lines", self.config.max_lines),
            ));
        }
        out.clear();
        for (i, l) in lines.iter().enumerate() {
            let (sku, scale) = match known_ahead(pre, i) {
                Some(found) => found,
                None => skus.id(l.sku)?,
            };
            let loc = match l.location {
                Some(n) => Some(topo.location_id(n).ok_or_else(|| Error::UnknownLocation {
                    location: n.to_string(),
                })?),
                None => None,
            };
            let qty = l
                .qty
                .to_positive_minor(scale)
                .map_err(|p| Error::qty(l.sku, l.qty, p))?;
            out.push(ReqLine {
                sku,
                loc,
                qty,
                scale,
            });
        }
        Ok(())
    }

    /// `h`: `req.id`, hashed; `pre`: its lines' SKUs where already known
    /// (see [`PreSkus`]; empty but in recovery).
    fn hold_at<'e>(
        &'e self,
        req: &HoldRequest<'_>,
        h: &IdHash<'_>,
        pre: &[Option<(SkuId, u8)>],
        now: u64,
        tables: &mut Tables<'e>,
    ) -> Result<HoldReceipt> {
        check_id("hold", req.id)?;
        self.check_ttl(req.ttl_ms)?;
        let topo_gen = self.topo_gen.load(Ordering::Acquire);
        if topo_gen != tables.topo_gen {
            *tables = Tables::new(self);
        }
        let chan = tables
            .topo
            .channel_id(req.channel)
            .ok_or_else(|| Error::UnknownChannel {
                channel: req.channel.to_string(),
            })?;
        let si = h.shard(self.holds.len());
        let mut shard = self.holds[si].0.lock();
        // The id's index line, the slot a new hold fills and the lines' SKU
        // entries (the caller prefetched them: `prefetch_hold`) are
        // independent cache misses: started together, they overlap (an
        // atomic in between would serialize them). The lines are checked
        // before the id, as before.
        shard.warm_free();
        let found = shard.find(h);
        self.resolve_lines_in(
            &tables.topo,
            &tables.skus,
            pre,
            req.lines,
            &mut tables.lines,
        )?;
        let lines = &tables.lines[..];
        // The lines' stock records start loading now, as soon as their SKU
        // ids are known: their misses overlap the id check and the stripe
        // locking instead of stalling `reserve`.
        for l in lines.iter().take(PREFETCH_LINES) {
            self.prefetch_stock(l.sku);
        }
        // Work that needs no stock record, done while the records load.
        let request = fingerprint(chan, req.pool, lines);
        if let Some(slot) = found {
            let rec = shard.rec(slot);
            return if rec.channel == chan && rec.request == request {
                Ok(rec.receipt(true))
            } else {
                Err(Error::IdConflict {
                    kind: IdKind::Hold,
                    id: req.id.to_string(),
                })
            };
        }
        let mut skus: SmallVec<[SkuId; 16]> = SmallVec::new();
        for l in lines {
            skus.push(l.sku);
        }
        let mut txn = Txn::begin(self, &skus, now);
        let reloaded;
        let topo: &Topology = if self.topo_gen.load(Ordering::Acquire) != tables.topo_gen {
            reloaded = self.topo.load();
            &reloaded
        } else {
            &tables.topo
        };
        let parts = match self.reserve(
            &mut txn,
            topo,
            chan,
            lines,
            req.pool,
            Note {
                reason: "",
                reference: Some(req.id),
            },
        ) {
            Ok(parts) => parts,
            Err(e) => {
                if matches!(e, Error::InsufficientStock { .. }) {
                    txn.kpi().holds_refused += 1;
                }
                return Err(txn.fail(e));
            }
        };
        txn.kpi().holds_created += 1;
        let changes = txn.commit_lazy(|| Rec::Hold {
            id: req.id,
            channel: req.channel,
            ttl_ms: req.ttl_ms,
            lines: Cow::Borrowed(req.lines),
            pool: req.pool,
        });
        let expires = now.saturating_add(req.ttl_ms);
        let rec = HoldRec {
            channel: chan,
            state: HoldState::Active,
            created_ms: now,
            expires_ms: expires,
            ended_ms: 0,
            request,
            parts,
            order: None,
        };
        let receipt = rec.receipt(false);
        shard.insert(h, rec, 0);
        self.note_index_shape(si, &shard);
        drop(shard);
        self.note_due(expires);
        self.publish(changes);
        Ok(receipt)
    }

    /// Checks and applies the lines of a hold inside `txn`. Lines without
    /// a location claim the channel's pool when `pool`, and are otherwise
    /// bound at once to the channel's locations in order.
    pub(crate) fn reserve(
        &self,
        txn: &mut Txn<'_>,
        topo: &Topology,
        chan: ChannelId,
        lines: &[ReqLine],
        pool: bool,
        note: Note<'_>,
    ) -> Result<Parts> {
        let channel = topo.channel(chan).ok_or_else(|| Error::UnknownChannel {
            channel: self.channel_label(chan),
        })?;
        // One allocation for a hold of many lines, not one per doubling.
        let mut parts = Parts::with_capacity(lines.len());
        // The lines' events share the note: packed once.
        let packed = txn.note(note);
        for l in lines {
            match l.loc {
                Some(loc) => {
                    self.check_fits_at(txn, topo, chan, l, loc)?;
                    txn.adjust(l.sku, loc, Field::Reserved, l.qty);
                    txn.event_noted(EventKind::Reserved, l.sku, loc, l.qty, &packed);
                    parts.push(PartRec {
                        sku: l.sku,
                        loc,
                        qty: l.qty,
                        scale: l.scale,
                    });
                }
                None => {
                    let at = txn.locate(l.sku);
                    let avail = channel.available(topo, txn.stock_at(at));
                    if l.qty > avail {
                        return Err(self.insufficient(
                            l.sku,
                            None,
                            Some(chan),
                            l.qty,
                            avail,
                            l.scale,
                        ));
                    }
                    if pool {
                        txn.adjust_pool_at(at, l.sku, chan, l.qty);
                        txn.pool_event_noted(EventKind::PoolReserved, l.sku, l.qty, &packed);
                        parts.push(PartRec {
                            sku: l.sku,
                            loc: LocationId::POOL,
                            qty: l.qty,
                            scale: l.scale,
                        });
                        continue;
                    }
                    let bound = self.bind_in_order(txn, topo, chan, l, EventKind::Reserved, note);
                    if bound.iter().map(|p| p.qty).sum::<i64>() != l.qty {
                        // Pool claims elsewhere need some of these units.
                        return Err(self.insufficient(
                            l.sku,
                            None,
                            Some(chan),
                            l.qty,
                            bound.iter().map(|p| p.qty).sum(),
                            l.scale,
                        ));
                    }
                    parts.extend(bound);
                }
            }
        }
        Ok(parts)
    }

    /// Takes up to `l.qty` units of `l.sku` from the channel's open
    /// locations in order (reserved for a hold, or allocated for an order,
    /// by `kind`), leaving every pool claim bindable; returns the parts.
    pub(crate) fn bind_in_order(
        &self,
        txn: &mut Txn<'_>,
        topo: &Topology,
        chan: ChannelId,
        l: &ReqLine,
        kind: EventKind,
        note: Note<'_>,
    ) -> Parts {
        let mut parts = Parts::new();
        let Some(channel) = topo.channel(chan) else {
            return parts;
        };
        let mut flow = crate::pool::Flow::build(topo, txn.stock(l.sku), &[], None, &[]);
        let field = if kind == EventKind::Reserved {
            Field::Reserved
        } else {
            Field::Allocated
        };
        let mut left = l.qty;
        // One pass binds everything unless pool claims had to move; a unit
        // a later take freed is picked up by the next pass.
        let mut passes = 0;
        while left > 0 && passes < 3 {
            passes += 1;
            let before = left;
            self.bind_pass(
                txn,
                topo,
                channel,
                l,
                kind,
                note,
                (&mut flow, field),
                &mut left,
                &mut parts,
            );
            if left == before {
                break;
            }
        }
        parts
    }

    #[allow(clippy::too_many_arguments)]
    fn bind_pass(
        &self,
        txn: &mut Txn<'_>,
        topo: &Topology,
        channel: &crate::channel::Channel,
        l: &ReqLine,
        kind: EventKind,
        note: Note<'_>,
        (flow, field): (&mut Option<crate::pool::Flow>, Field),
        left: &mut i64,
        parts: &mut Parts,
    ) {
        for &loc in &channel.locations {
            if *left == 0 {
                break;
            }
            if topo.is_closed(loc) {
                continue;
            }
            let mut take = txn.stock(l.sku).atp(loc).min(*left);
            if take <= 0 {
                continue;
            }
            if let Some(f) = flow.as_mut().filter(|f| f.has(loc)) {
                take = f.take(loc, take);
                if take == 0 {
                    continue;
                }
            }
            txn.adjust(l.sku, loc, field, take);
            txn.event(kind, l.sku, loc, take, note);
            match parts.iter_mut().find(|p| p.loc == loc) {
                Some(p) => p.qty += take,
                None => parts.push(PartRec {
                    sku: l.sku,
                    loc,
                    qty: take,
                    scale: l.scale,
                }),
            }
            *left -= take;
        }
    }

    /// Checks that `chan` may sell the line's quantity at `loc` now: the
    /// location is eligible and open, and the quantity fits the location's
    /// ATP (less what pool claims need from it) and the channel's
    /// availability.
    pub(crate) fn check_fits_at(
        &self,
        txn: &Txn<'_>,
        topo: &Topology,
        chan: ChannelId,
        l: &ReqLine,
        loc: LocationId,
    ) -> Result<()> {
        self.check_sellable_at(topo, chan, loc)?;
        let channel = topo
            .channel(chan)
            .expect("check_sellable_at found the channel");
        let stock = txn.stock(l.sku);
        let mut can = channel.available(topo, stock).min(stock.atp(loc));
        if can >= l.qty && stock.has_pool() {
            can = can.min(crate::pool::spare(
                topo,
                stock,
                crate::pool::Set::Location(loc),
            ));
        }
        if l.qty > can {
            return Err(self.insufficient(l.sku, Some(loc), Some(chan), l.qty, can, l.scale));
        }
        Ok(())
    }

    pub(crate) fn check_sellable_at(
        &self,
        topo: &Topology,
        chan: ChannelId,
        loc: LocationId,
    ) -> Result<()> {
        let channel = topo.channel(chan).ok_or_else(|| Error::UnknownChannel {
            channel: self.channel_label(chan),
        })?;
        if !channel.contains(loc) {
            return Err(Error::LocationNotInChannel {
                channel: channel.key.to_string(),
                location: topo.location(loc).key.to_string(),
            });
        }
        if topo.is_closed(loc) {
            return Err(Error::LocationClosed {
                location: topo.location(loc).key.to_string(),
            });
        }
        Ok(())
    }

    pub(crate) fn channel_label(&self, chan: ChannelId) -> String {
        self.topo
            .load()
            .channel(chan)
            .map_or_else(|| format!("#{}", chan.0), |c| c.key.to_string())
    }

    /// `h`: the hold's id, hashed.
    fn release_at(&self, h: &IdHash<'_>, now: u64) -> Result<()> {
        let hold = h.id;
        check_id("hold", hold)?;
        let mut shard = self.holds[h.shard(self.holds.len())].0.lock();
        let slot = shard.find(h).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        let rec = shard.rec(slot);
        if rec.state == HoldState::Released {
            return Ok(());
        }
        let mut expired = Vec::new();
        if let Err(e) = self.check_active(&mut shard, slot, hold, now, &mut expired) {
            drop(shard);
            self.publish(expired);
            return Err(e);
        }
        let changes = self.end_hold(&mut shard, slot, HoldState::Released, now);
        drop(shard);
        self.publish(changes);
        Ok(())
    }

    /// Ok when the hold is active and not yet due. A due hold is expired
    /// here; its changes go to `expired`, for the caller to publish once it
    /// has dropped the shard lock.
    pub(crate) fn check_active(
        &self,
        shard: &mut HoldShard,
        slot: u32,
        hold: &str,
        now: u64,
        expired: &mut Vec<Change>,
    ) -> Result<()> {
        let rec = shard.rec(slot);
        let state = match rec.state {
            HoldState::Active if rec.expires_ms > now => return Ok(()),
            HoldState::Active => {
                *expired = self.end_hold(shard, slot, HoldState::Expired, now);
                HoldState::Expired
            }
            state => state,
        };
        Err(Error::HoldNotActive {
            hold: hold.to_string(),
            state,
        })
    }

    /// Ends an active hold as released or expired: its reserved units return.
    /// The caller holds the shard lock and publishes the changes after
    /// dropping it.
    pub(crate) fn end_hold(
        &self,
        shard: &mut HoldShard,
        slot: u32,
        state: HoldState,
        now: u64,
    ) -> Vec<Change> {
        let rec = shard.rec(slot);
        assert_eq!(rec.state, HoldState::Active, "a hold ends exactly once");
        let mut skus: SmallVec<[SkuId; 16]> = SmallVec::new();
        for p in &rec.parts {
            skus.push(p.sku);
        }
        let mut txn = Txn::begin(self, &skus, now);
        let kind = if state == HoldState::Expired {
            EventKind::Expired
        } else {
            EventKind::Released
        };
        let key = shard.key(slot);
        let note = txn.note(Note {
            reason: "",
            reference: Some(key),
        });
        for p in &rec.parts {
            if p.pooled() {
                txn.adjust_pool(p.sku, rec.channel, -p.qty);
                let kind = if state == HoldState::Expired {
                    EventKind::PoolExpired
                } else {
                    EventKind::PoolReleased
                };
                txn.pool_event_noted(kind, p.sku, p.qty, &note);
                continue;
            }
            txn.adjust(p.sku, p.loc, Field::Reserved, -p.qty);
            txn.event_noted(kind, p.sku, p.loc, p.qty, &note);
        }
        match state {
            HoldState::Expired => txn.kpi().holds_expired += 1,
            _ => txn.kpi().holds_released += 1,
        }
        let changes = txn.commit_lazy(|| match state {
            HoldState::Expired => Rec::Expire { hold: key.as_str() },
            _ => Rec::Release { hold: key.as_str() },
        });
        self.finish_record(shard, slot, state, now);
        changes
    }

    /// Marks a record ended and schedules its purge.
    pub(crate) fn finish_record(
        &self,
        shard: &mut HoldShard,
        slot: u32,
        state: HoldState,
        now: u64,
    ) {
        let purge_at = now.saturating_add(self.config.hold_retention_ms);
        shard.mark_ended(slot, purge_at);
        let rec = shard.rec_mut(slot);
        rec.state = state;
        rec.ended_ms = now;
        self.note_due(purge_at);
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use std::sync::Arc;

    /// A retry is told from a changed request by the digest alone: every
    /// field of every line, the lines' order, the channel and the pool flag
    /// change it, and the same request gives the same digest every time.
    #[test]
    fn the_request_digest_sees_every_field() {
        use crate::hold::{ReqLine, fingerprint};
        use crate::ids::{ChannelId, LocationId, SkuId};
        let line = |sku, loc: Option<u32>, qty, scale| ReqLine {
            sku: SkuId(sku),
            loc: loc.map(LocationId),
            qty,
            scale,
        };
        let base = [line(1, None, 2, 0), line(7, Some(3), 5, 2)];
        let d = |chan, pool, lines: &[ReqLine]| fingerprint(ChannelId(chan), pool, lines);
        let digest = d(0, true, &base);
        assert_eq!(digest, d(0, true, &base.clone()));
        let mut changed = vec![
            d(1, true, &base),
            d(0, false, &base),
            d(0, true, &[base[1], base[0]]),
            d(0, true, &base[..1]),
            d(0, true, &[base[0], base[1], base[1]]),
        ];
        for i in 0..2 {
            for edit in 0..5 {
                let mut lines = base;
                let l = &mut lines[i];
                match edit {
                    0 => l.sku.0 += 1,
                    1 => l.loc = Some(LocationId(l.loc.map_or(0, |x| x.0 + 1))),
                    2 => {
                        l.loc = if l.loc.is_some() {
                            None
                        } else {
                            Some(LocationId(9))
                        }
                    }
                    3 => l.qty += 1,
                    _ => l.scale += 1,
                }
                changed.push(d(0, true, &lines));
            }
        }
        for (i, other) in changed.iter().enumerate() {
            assert_ne!(*other, digest, "change {i}");
        }
        // Largest quantity and scale: still told apart from their neighbours.
        let big = |qty, scale| d(0, true, &[line(1, None, qty, scale)]);
        let max = crate::qty::MAX_MINOR;
        assert_ne!(big(max, 9), big(max - 1, 9));
        assert_ne!(big(max, 9), big(max, 8));
    }

    /// Holds released long before their expiry leave stale queue entries;
    /// the queue must stay within a constant factor of the active holds,
    /// and a hold extended back and forth must still expire exactly once.
    /// The expiry queue pops in (due, slot) order whatever order pushes
    /// come in, and compaction keeps exactly what it is told to.
    /// A shard's slots span several chunks: every hold is found in its own
    /// slot across the chunk boundaries, purged slots are reused before a
    /// new chunk is taken, and the records are the live holds exactly.
    #[test]
    fn shard_slots_span_chunks_and_recycle() {
        use crate::hold::{CHUNK, HoldRec, HoldShard, HoldState, IdHash};
        let rec = |state| HoldRec {
            channel: crate::ids::ChannelId(0),
            state,
            created_ms: 0,
            expires_ms: 1_000,
            ended_ms: 0,
            request: 0,
            parts: Default::default(),
            order: None,
        };
        let ids: Vec<String> = (0..3 * CHUNK + 7).map(|i| format!("h{i}")).collect();
        let mut shard = HoldShard::default();
        let mut slot_of = Vec::new();
        for id in &ids {
            slot_of.push(shard.insert(&IdHash::new(id), rec(HoldState::Released), 0));
        }
        assert_eq!(slot_of, (0..ids.len() as u32).collect::<Vec<_>>());
        for (id, &slot) in ids.iter().zip(&slot_of) {
            assert_eq!(shard.find(&IdHash::new(id)), Some(slot), "{id}");
        }
        // Every third one purged, then as many new holds: they take the
        // purged slots, not new ones.
        let purged: Vec<u32> = slot_of.iter().copied().step_by(3).collect();
        for &slot in &purged {
            shard.purge(slot, IdHash::new(&ids[slot as usize]).hash as u32);
        }
        // A purged record stays in its slot until the slot is reused, but
        // is neither found nor listed.
        for (i, id) in ids.iter().enumerate() {
            let found = shard.find(&IdHash::new(id));
            assert_eq!(found.is_none(), i % 3 == 0, "{id}");
        }
        assert_eq!(shard.records().count(), ids.len() - purged.len());
        let fresh: Vec<String> = (0..purged.len()).map(|i| format!("n{i}")).collect();
        let mut reused: Vec<u32> = fresh
            .iter()
            .map(|id| shard.insert(&IdHash::new(id), rec(HoldState::Active), 0))
            .collect();
        reused.sort_unstable();
        assert_eq!(reused, purged);
        assert_eq!(shard.slots.len as usize, ids.len());
        let mut live: Vec<&str> = shard.records().map(|(k, _)| k.as_str()).collect();
        live.sort_unstable();
        let mut want: Vec<&str> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, id)| id.as_str())
            .chain(fresh.iter().map(String::as_str))
            .collect();
        want.sort_unstable();
        assert_eq!(live, want);
        for (i, id) in ids.iter().enumerate() {
            let found = shard.find(&IdHash::new(id));
            assert_eq!(found.is_some(), i % 3 != 0, "{id}");
        }
        for id in &fresh {
            let slot = shard.find(&IdHash::new(id)).expect("fresh hold");
            assert_eq!(shard.rec(slot).state, HoldState::Active);
        }
    }

    /// A shard with few holds keeps a small first chunk, doubled as it
    /// fills, and finds every hold across the doublings.
    #[test]
    fn few_holds_take_a_small_chunk() {
        use crate::hold::{CHUNK, FIRST_CHUNK, HoldRec, HoldShard, HoldState, IdHash};
        let mut shard = HoldShard::default();
        let rec = || HoldRec {
            channel: crate::ids::ChannelId(0),
            state: HoldState::Released,
            created_ms: 0,
            expires_ms: 0,
            ended_ms: 0,
            request: 0,
            parts: Default::default(),
            order: None,
        };
        let ids: Vec<String> = (0..CHUNK + 1).map(|i| format!("h{i}")).collect();
        let mut sizes = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            shard.insert(&IdHash::new(id), rec(), 0);
            let first = shard.slots.chunks[0].len();
            if sizes.last() != Some(&first) {
                sizes.push(first);
            }
            if n == 2 {
                assert_eq!(shard.slots.chunks.len(), 1);
                assert_eq!(first, FIRST_CHUNK);
            }
        }
        assert_eq!(sizes, [8, 16, 32, 64, 128, 256, 512]);
        assert_eq!(shard.slots.chunks.len(), 2);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(shard.find(&IdHash::new(id)), Some(i as u32), "{id}");
        }
    }

    #[test]
    fn expiry_queue_pops_in_order() {
        let mut q = crate::hold::Expiries::default();
        let dues = [50u64, 60, 55, 70, 10, 70, 65, 5, 80];
        for (i, d) in dues.iter().enumerate() {
            q.push(*d, i as u32);
        }
        q.retain(|d, _| d != 65);
        let mut out = Vec::new();
        while let Some(x) = q.peek() {
            out.push(x);
            q.pop();
        }
        let mut want: Vec<(u64, u32)> = dues
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, i as u32))
            .filter(|x| x.0 != 65)
            .collect();
        want.sort();
        assert_eq!(out, want);
        assert_eq!(q.len(), 0);
    }

    /// An engine with one hold shard, a warehouse `w` with 10 units of `s`
    /// and a channel `web`, on a manual clock at 1,000 ms.
    fn one_shard_engine() -> (Engine, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_000));
        let e = Engine::with_config(Config {
            shards: 1,
            ..Config::with_clock(clock.clone())
        });
        e.upsert_location(LocationSpec::warehouse("w")).unwrap();
        e.upsert_channel(ChannelSpec::new("web", ["w"])).unwrap();
        e.receive("s", "w", 10.into(), Note::default()).unwrap();
        (e, clock)
    }

    /// A purge reads a record only when it owns heap memory, and drops it
    /// then: a dead slot keeps a short one-line record until reuse, never
    /// a long id's, a long order id's or a multi-line hold's memory.
    #[test]
    fn a_purge_gives_back_heap_memory_at_once() {
        use crate::hold::IdHash;
        let (e, clock) = one_shard_engine();
        e.receive("t", "w", 10.into(), Note::default()).unwrap();
        let long = "a-hold-id-longer-than-twenty-three-bytes";
        let one = [HoldLine::new("s", 1)];
        let two = [HoldLine::new("s", 1), HoldLine::new("t", 1)];
        for (id, lines) in [
            ("short", &one[..]),
            (long, &one),
            ("pair", &two),
            ("sold", &one),
        ] {
            e.hold(&HoldRequest::new(id, "web", lines, 60_000).bind_now())
                .unwrap();
        }
        e.commit("sold", "an-order-id-longer-than-twenty-three-bytes")
            .unwrap();
        for id in ["short", long, "pair"] {
            e.release(id).unwrap();
        }
        let slots: Vec<u32> = ["short", long, "pair", "sold"]
            .iter()
            .map(|id| e.holds[0].0.lock().find(&IdHash::new(id)).unwrap())
            .collect();
        clock.advance(e.config().hold_retention_ms + 1);
        e.expire_due(clock.now_ms());
        let shard = e.holds[0].0.lock();
        assert_eq!(shard.records().count(), 0);
        let kept: Vec<bool> = slots
            .iter()
            .map(|&i| shard.slots.get(i).is_some())
            .collect();
        assert_eq!(kept, [true, false, false, false]);
    }

    /// A hold ended while it is the newest in the expiry queue leaves no
    /// stale entry behind; ending an older one never takes the newest
    /// hold's entry with it.
    #[test]
    fn ending_the_newest_hold_drops_only_its_entry() {
        let (e, clock) = one_shard_engine();
        let lines = [HoldLine::new("s", 1)];
        let hold = |id: &str, ttl| {
            e.hold(&HoldRequest::new(id, "web", &lines, ttl)).unwrap();
        };
        let queued = || e.holds[0].0.lock().expiries.len();
        for i in 0..100 {
            hold(&format!("c{i}"), 60_000);
            e.release(&format!("c{i}")).unwrap();
        }
        assert_eq!(queued(), 0, "a cart emptied at once left its entry");
        hold("a", 1_000);
        hold("b", 2_000);
        e.release("a").unwrap();
        assert_eq!(queued(), 2, "an older hold's entry stays, lazily stale");
        hold("c", 3_000);
        e.commit("c", "o-1").unwrap();
        assert_eq!(queued(), 2, "the committed newest hold left no entry");
        clock.advance(2_000);
        assert_eq!(e.expire_due(clock.now_ms()), 1);
        assert_eq!(e.hold_info("b").unwrap().state, HoldState::Expired);
    }

    #[test]
    fn expiry_queue_stays_bounded_and_expires_once() {
        let (e, clock) = one_shard_engine();
        let lines = [HoldLine::new("s", 1)];
        // Each hold is released once the next one is made, so that it is
        // not the newest entry and leaves a stale one behind.
        for i in 0..20_000 {
            let id = format!("h{i}");
            e.hold(&HoldRequest::new(&id, "web", &lines, 60_000))
                .unwrap();
            if i > 0 {
                e.release(&format!("h{}", i - 1)).unwrap();
            }
        }
        e.release("h19999").unwrap();
        let queued = e.holds[0].0.lock().expiries.len();
        assert!(queued <= 1024 + 2, "stale expiry entries pile up: {queued}");

        e.hold(&HoldRequest::new("x", "web", &lines, 1_000))
            .unwrap();
        e.extend_hold("x", 5_000).unwrap();
        e.extend_hold("x", 1_000).unwrap();
        clock.advance(1_000);
        assert_eq!(e.expire_due(clock.now_ms()), 1);
        clock.advance(10_000);
        assert_eq!(e.expire_due(clock.now_ms()), 0);
        assert_eq!(e.hold_info("x").unwrap().state, HoldState::Expired);
        assert_eq!(e.kpis().holds_expired, 1);
    }
}
