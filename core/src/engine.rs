//! The engine: state, lock striping and the transaction helper every
//! mutation goes through.
//!
//! # Locking
//!
//! State is split so that unrelated work never meets a lock:
//! * stock is striped by SKU (`stripes`, one `parking_lot::Mutex` each; a SKU
//!   lives in stripe `id % stripes`), and each stripe carries its own KPI
//!   counters and its own slice of the ledger (64-byte records in chunks);
//!   a transaction numbers its events and appends them to its first
//!   stripe's slice before it unlocks, so each slice is in sequence order;
//! * holds and orders live in sharded tables keyed by the host's id;
//! * the topology (locations, channels) is an immutable snapshot swapped
//!   atomically while every stripe is locked, so any operation holding a
//!   stripe sees one consistent topology.
//!
//! Locks are always taken in this order, and released before any call into
//! host code (subscribers):
//! 1. the sweep lock (expiry only);
//! 2. the topology writer, the transfer table, or the SKU-creation mutex;
//! 3. one hold shard; 4. one order shard;
//! 5. SKU stripes, in ascending stripe order;
//! 6. the meta-log, the reason interner, the SKU name table, the
//!    subscriber list, the journal buffer, the daily order counts (leaf
//!    locks).
//!
//! A durable engine appends each transaction's journal record to the
//! journal buffer inside the critical section that numbered it; callers
//! wait for durability (`sync` mode) only after every lock is released.

use crate::clock::{Clock, SystemClock};
use crate::durable::rec::Rec;
use crate::durable::{DurableOptions, Journal, Recovery, Storage};
use crate::error::{Error, Result};
use crate::feed::{Change, Feed};
use crate::hold::HoldShard;
use crate::ids::{ChannelId, Key, LocationId, SkuId};
use crate::kpi::{Kpis, TxnKpis};
use crate::ledger::{EventKind, EventNote, Log, Pending, Reason, Reasons};
use crate::order::OrderShard;
use crate::qty::Qty;
use crate::sku::{SkuRegistry, SkuSpec};
use crate::stock::SkuStock;
use crate::sync::{Mutex, MutexGuard};
use crate::topology::Topology;
use crate::transfer::TransferTable;
use arc_swap::ArcSwap;
use smallvec::SmallVec;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// Engine settings.
#[derive(Clone)]
pub struct Config {
    /// Number of SKU lock stripes (rounded up to a power of two).
    pub stripes: usize,
    /// Number of shards of the hold and order tables (power of two).
    pub shards: usize,
    /// How long ended holds are kept so that retries stay idempotent.
    pub hold_retention_ms: u64,
    /// How long a closed order (every allocation fulfilled or cancelled,
    /// no open backorder, nothing in transit) is kept after it closed:
    /// readable, and a retried placement returns it. Then it is purged and
    /// its id may be used again. Open orders are kept until they close.
    pub order_retention_ms: u64,
    /// How long an ended transfer (received in full, or cancelled) is kept
    /// after it ended: readable, and a retried dispatch returns it. Then it
    /// is purged and its id may be used again. Transfers still planned or
    /// in transit are kept until they end.
    pub transfer_retention_ms: u64,
    /// At least this many of the newest ledger events are kept in memory;
    /// older ones are dropped a chunk at a time (128 events of one stripe),
    /// so up to two chunks per stripe more are kept (`None`: all). A stripe
    /// drops its old chunks as it appends; one that went quiet does at the
    /// next `expire_due` or `bulk_load`.
    pub ledger_retention: Option<u64>,
    /// Longest hold TTL accepted.
    pub max_ttl_ms: u64,
    /// Most lines in one hold or sale.
    pub max_lines: usize,
    /// The source of "now".
    pub clock: Arc<dyn Clock>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stripes: 256,
            shards: 64,
            hold_retention_ms: 24 * 3600 * 1000,
            order_retention_ms: 7 * 24 * 3600 * 1000,
            transfer_retention_ms: 7 * 24 * 3600 * 1000,
            ledger_retention: Some(1 << 20),
            max_ttl_ms: 30 * 24 * 3600 * 1000,
            max_lines: 1000,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Config {
    /// Default settings with another clock.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Config {
            clock,
            ..Config::default()
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("stripes", &self.stripes)
            .field("shards", &self.shards)
            .field("hold_retention_ms", &self.hold_retention_ms)
            .field("order_retention_ms", &self.order_retention_ms)
            .field("transfer_retention_ms", &self.transfer_retention_ms)
            .field("ledger_retention", &self.ledger_retention)
            .field("max_ttl_ms", &self.max_ttl_ms)
            .field("max_lines", &self.max_lines)
            .finish_non_exhaustive()
    }
}

/// Why a movement happened and the host's reference for it (purchase order,
/// count id, order id). Both end up in the ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Note<'a> {
    pub reason: &'a str,
    pub reference: Option<&'a str>,
}

impl<'a> Note<'a> {
    /// A reason and a reference.
    pub fn new(reason: &'a str, reference: &'a str) -> Self {
        Note {
            reason,
            reference: Some(reference),
        }
    }
    /// A reason alone.
    pub fn reason(reason: &'a str) -> Self {
        Note {
            reason,
            reference: None,
        }
    }
}

/// A level that a transaction can change (and undo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    OnHand,
    Reserved,
    Allocated,
    Safety,
    Damaged,
    QualityControl,
    InTransit,
    Incoming,
    /// A channel's pool claim (the location slot carries the channel id).
    Pool,
    /// Incoming units promised to orders as backorders.
    Backordered,
    /// Backordered units that arrived, not yet attributed to their orders.
    BackorderArrived,
}

/// Keeps hot locks on their own cache lines.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub T);

/// One lock stripe: the stock of its SKUs, its KPIs, its slice of the ledger.
#[derive(Default)]
pub(crate) struct Stripe {
    pub skus: Vec<SkuStock>,
    pub kpi: Kpis,
    pub log: Log,
    /// The working lists of the transaction holding this stripe as its
    /// first (lowest) lock; empty between transactions.
    scratch: Scratch,
}

impl Stripe {
    /// Puts a new SKU's stock at `slot`, growing the table to it.
    fn place(&mut self, slot: usize, stock: SkuStock) {
        if self.skus.len() <= slot {
            self.skus.resize_with(slot + 1, SkuStock::default);
        }
        self.skus[slot] = stock;
    }
}

/// A transaction's events waiting for their sequence numbers, and its level
/// changes, to undo on rollback. They live in the transaction's first
/// stripe, not in the transaction: they keep their capacity from one
/// transaction to the next, and a transaction stays small enough to pass
/// around without copying buffers.
#[derive(Default)]
pub(crate) struct Scratch {
    pending: Vec<Pending>,
    undo: Vec<(SkuId, LocationId, Field, i64)>,
    kpi: TxnKpis,
}

/// Where a SKU's stock is inside a [`Txn`]: its stripe's guard and its
/// slot ([`Txn::locate`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StockAt {
    guard: usize,
    slot: usize,
}

/// The inventory engine. Share it between threads with an `Arc`; every
/// method takes `&self`.
pub struct Engine {
    pub(crate) config: Config,
    pub(crate) skus: SkuRegistry,
    pub(crate) topo: ArcSwap<Topology>,
    pub(crate) topo_write: Mutex<()>,
    /// Bumped after every topology swap (with every stripe locked): a
    /// topology loaded before locking a stripe is still current when this
    /// has not moved.
    pub(crate) topo_gen: AtomicU64,
    pub(crate) stripes: Box<[Padded<Mutex<Stripe>>]>,
    /// Per stripe, where its stock records are and how many (as
    /// `index_at` for hold ids), set under the stripe's lock whenever they
    /// move: read without the lock, only to prefetch a record.
    pub(crate) stock_at: Box<[(AtomicPtr<SkuStock>, AtomicU32)]>,
    pub(crate) stripe_bits: u32,
    pub(crate) holds: Box<[Padded<Mutex<HoldShard>>]>,
    /// Per hold shard, the shape of its id index (`TagIndex::shape`), set
    /// under the shard's lock when it changes: read without the lock, only
    /// to prefetch an id's index line before the lock is taken (a stale
    /// shape prefetches a wrong line, nothing worse).
    pub(crate) index_at: Box<[(AtomicPtr<u64>, AtomicU32)]>,
    pub(crate) orders: Box<[Padded<Mutex<OrderShard>>]>,
    pub(crate) transfers: Mutex<TransferTable>,
    /// The last sequence number assigned: written by every mutation, so on
    /// a line of its own (sharing one would make the other cores re-read
    /// the fields every hold reads).
    pub(crate) seq: Padded<AtomicU64>,
    /// Events that touch no stock (topology, hold extensions).
    pub(crate) meta_log: Mutex<Log>,
    pub(crate) reasons: Reasons,
    pub(crate) next_due_ms: AtomicU64,
    pub(crate) sweep_lock: Mutex<()>,
    /// Per location id: (UTC day, orders taken that day), for daily
    /// order capacities (a leaf lock).
    pub(crate) picks: Mutex<Vec<(u64, u32)>>,
    /// Click & reserve orders by the end of their time at the store
    /// (`OrderRec::reserved_until`), for the sweep; an entry whose order
    /// was re-routed or purged since is skipped (a leaf lock).
    pub(crate) reservations: Mutex<std::collections::BinaryHeap<std::cmp::Reverse<(u64, Key)>>>,
    pub(crate) feed: Feed,
    /// The journal of a durable engine (`Engine::open`).
    pub(crate) journal: Option<Arc<Journal>>,
    pub(crate) storage: Option<Arc<dyn Storage>>,
    pub(crate) durable_options: DurableOptions,
    pub(crate) recovery: Option<Recovery>,
    /// Recovery is replaying the journal: sweeps purge but do not expire
    /// (expiries are records of their own).
    pub(crate) replaying: bool,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("skus", &self.skus.len())
            .field("last_seq", &self.last_seq())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    /// An empty engine with default settings and the system clock.
    pub fn new() -> Self {
        Engine::with_config(Config::default())
    }

    /// An empty engine with these settings.
    pub fn with_config(mut config: Config) -> Self {
        config.stripes = config.stripes.clamp(1, 1 << 16).next_power_of_two();
        config.shards = config.shards.clamp(1, 1 << 16).next_power_of_two();
        let stripes = (0..config.stripes)
            .map(|_| Padded(Mutex::new(Stripe::default())))
            .collect();
        let index_at = (0..config.shards)
            .map(|_| (AtomicPtr::new(std::ptr::null_mut()), Default::default()))
            .collect();
        let stock_at = (0..config.stripes)
            .map(|_| (AtomicPtr::new(std::ptr::null_mut()), Default::default()))
            .collect();
        let holds = (0..config.shards)
            .map(|_| Padded(Mutex::new(HoldShard::default())))
            .collect();
        let orders = (0..config.shards)
            .map(|_| Padded(Mutex::new(OrderShard::default())))
            .collect();
        Engine {
            stripe_bits: config.stripes.trailing_zeros(),
            config,
            skus: SkuRegistry::new(),
            topo: ArcSwap::from_pointee(Topology::default()),
            topo_write: Mutex::new(()),
            topo_gen: AtomicU64::new(0),
            stripes,
            stock_at,
            holds,
            index_at,
            orders,
            transfers: Mutex::new(TransferTable::default()),
            seq: Padded(AtomicU64::new(0)),
            meta_log: Mutex::new(Log::default()),
            reasons: Reasons::default(),
            next_due_ms: AtomicU64::new(u64::MAX),
            sweep_lock: Mutex::new(()),
            picks: Mutex::new(Vec::new()),
            reservations: Mutex::default(),
            feed: Feed::default(),
            journal: None,
            storage: None,
            durable_options: DurableOptions::default(),
            recovery: None,
            replaying: false,
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine's clock reading now.
    pub fn now_ms(&self) -> u64 {
        self.config.clock.now_ms()
    }

    /// The last sequence number assigned (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        self.seq.0.load(Ordering::Acquire)
    }

    /// The id and unit scale of a known SKU.
    pub fn sku_id(&self, sku: &str) -> Result<(SkuId, u8)> {
        self.skus.lookup().id(sku)
    }

    /// The host's id of an interned SKU.
    pub fn sku_name(&self, id: SkuId) -> String {
        self.skus.name(id).to_string()
    }

    /// The id of a known location.
    pub fn location_id(&self, location: &str) -> Result<LocationId> {
        self.topo
            .load()
            .location_id(location)
            .ok_or_else(|| Error::UnknownLocation {
                location: location.to_string(),
            })
    }

    /// The host's id of an interned location.
    pub fn location_name(&self, id: LocationId) -> String {
        self.topo.load().location(id).key.to_string()
    }

    /// The id of a known channel.
    pub fn channel_id(&self, channel: &str) -> Result<ChannelId> {
        self.topo
            .load()
            .channel_id(channel)
            .ok_or_else(|| Error::UnknownChannel {
                channel: channel.to_string(),
            })
    }

    /// Known SKUs with their unit scales, in id order.
    pub fn skus(&self) -> Vec<(String, u8)> {
        self.skus
            .all()
            .into_iter()
            .map(|(k, s)| (k.to_string(), s))
            .collect()
    }

    pub(crate) fn create_sku(&self, sku: &str, spec: SkuSpec) -> Result<((SkuId, u8), bool)> {
        // The declaration is numbered under the creation mutex, so that
        // SKU ids follow sequence order (recovery gives the same ids).
        self.skus
            .get_or_create(sku, spec, |id, scale| self.declare_stock(id, scale, sku))
    }

    /// Creates the SKUs of `skus` not known yet (whole units; names
    /// already checked), room for their stock made in each stripe at once;
    /// returns how many it created.
    ///
    /// Locking: each stripe in turn; then the SKU registry's creation
    /// mutex, and per SKU its stripe.
    pub(crate) fn create_skus(&self, skus: &[&str]) -> Result<u64> {
        let per_stripe = skus.len() / self.stripes.len() + 1;
        for (i, s) in self.stripes.iter().enumerate() {
            let mut s = s.0.lock();
            s.skus.reserve_exact(per_stripe);
            self.note_stock_shape(i, &s);
        }
        self.skus
            .create_many(skus, 0, |id, scale, sku| self.declare_stock(id, scale, sku))
    }

    /// Stores a new SKU's stock record (creation and restore).
    ///
    /// Locking: the SKU's stripe.
    pub(crate) fn place_stock(&self, id: SkuId, stock: SkuStock) {
        let (stripe, slot) = self.stripe_slot(id);
        let mut s = self.stripes[stripe].0.lock();
        s.place(slot, stock);
        self.note_stock_shape(stripe, &s);
    }

    /// Publishes where stripe `i`'s stock records are now, for
    /// `prefetch_stock`. Called with the stripe locked, after they may
    /// have moved.
    #[inline]
    fn note_stock_shape(&self, i: usize, s: &Stripe) {
        let (at, len) = &self.stock_at[i];
        at.store(s.skus.as_ptr().cast_mut(), Ordering::Relaxed);
        len.store(s.skus.len() as u32, Ordering::Relaxed);
    }

    /// Starts loading a SKU's stock record (its first two lines) without
    /// the stripe's lock, where the stripe last said its records are.
    ///
    /// Locking: none.
    #[inline]
    pub(crate) fn prefetch_stock(&self, id: SkuId) {
        let (stripe, slot) = self.stripe_slot(id);
        let (at, len) = &self.stock_at[stripe];
        if slot < len.load(Ordering::Relaxed) as usize {
            crate::prefetch::lines(
                at.load(Ordering::Relaxed).cast_const().wrapping_add(slot),
                2,
            );
        }
    }

    /// Creates a SKU's empty stock record and appends its declaration to
    /// the log of the SKU's stripe, not the meta-log: a log trims only when
    /// it appends, so a million declarations in the meta-log would stay
    /// there, past the retention, once declaring stopped.
    ///
    /// Locking: the SKU's stripe.
    fn declare_stock(&self, id: SkuId, scale: u8, sku: &str) {
        let now = self.config.clock.now_ms();
        let event = Pending::new(
            now,
            EventKind::SkuDeclared,
            Some(id),
            None,
            scale as i64,
            Reason::Default,
            sku,
        );
        let (stripe, slot) = self.stripe_slot(id);
        let mut s = self.stripes[stripe].0.lock();
        s.place(slot, SkuStock::new(scale));
        self.note_stock_shape(stripe, &s);
        let seq = self.seq.0.fetch_add(1, Ordering::AcqRel) + 1;
        s.log.append(
            seq,
            std::slice::from_ref(&event),
            self.config.ledger_retention,
        );
        if let Some(j) = &self.journal {
            j.append(seq, seq, now, &Rec::DeclareSku { sku, scale });
        }
    }

    #[inline]
    pub(crate) fn stripe_slot(&self, id: SkuId) -> (usize, usize) {
        let mask = (1u32 << self.stripe_bits) - 1;
        ((id.0 & mask) as usize, (id.0 >> self.stripe_bits) as usize)
    }

    /// The current time, after ending every hold that is due by then: an
    /// expired hold never blocks stock, whether or not a sweep has run.
    #[inline]
    pub(crate) fn now_and_sweep(&self) -> u64 {
        let now = self.config.clock.now_ms();
        if now >= self.next_due_ms.load(Ordering::Acquire) {
            self.sweep(now);
        }
        now
    }

    /// Runs `f` on a SKU's stock under its stripe lock.
    pub(crate) fn read_stock<T>(&self, id: SkuId, f: impl FnOnce(&SkuStock) -> T) -> T {
        let (stripe, slot) = self.stripe_slot(id);
        let g = self.stripes[stripe].0.lock();
        f(&g.skus[slot])
    }

    pub(crate) fn lock_all_stripes(&self) -> Vec<MutexGuard<'_, Stripe>> {
        self.stripes.iter().map(|s| s.0.lock()).collect()
    }

    /// Commits a transaction and delivers its changes to subscribers.
    pub(crate) fn finish(&self, txn: Txn<'_>, rec: &Rec<'_>) {
        let changes = txn.commit(rec);
        self.publish(changes);
    }

    pub(crate) fn insufficient(
        &self,
        sku: SkuId,
        location: Option<LocationId>,
        channel: Option<ChannelId>,
        requested: i64,
        available: i64,
        scale: u8,
    ) -> Error {
        let topo = self.topo.load();
        Error::InsufficientStock {
            sku: self.skus.name(sku).to_string(),
            location: location.map(|l| topo.location(l).key.to_string()),
            channel: channel
                .and_then(|c| topo.channel(c))
                .map(|c| c.key.to_string()),
            requested: Qty::from_minor(requested, scale),
            available: Qty::from_minor(available.max(0), scale),
        }
    }

    /// Appends an event that touches no stock (topology, hold extension).
    pub(crate) fn meta_event(
        &self,
        kind: EventKind,
        sku: Option<u32>,
        loc: Option<LocationId>,
        qty: i64,
        reference: &str,
        rec: &Rec<'_>,
    ) {
        let now = self.config.clock.now_ms();
        let event = Pending::new(
            now,
            kind,
            sku.map(SkuId),
            loc,
            qty,
            Reason::Default,
            reference,
        );
        let mut log = self.meta_log.lock();
        let seq = self.seq.0.fetch_add(1, Ordering::AcqRel) + 1;
        log.append(
            seq,
            std::slice::from_ref(&event),
            self.config.ledger_retention,
        );
        if let Some(j) = &self.journal {
            j.append(seq, seq, now, rec);
        }
    }
}

/// Per SKU, what each channel could sell before a transaction.
type ChannelAvail = (SkuId, Vec<(ChannelId, i64)>);

/// A mutation in progress: the stripes of its SKUs are locked (ascending),
/// level changes are applied at once and remembered for rollback; events
/// wait in the first stripe's [`Scratch`] and `commit` numbers and appends
/// them to the log inside the critical section.
pub(crate) struct Txn<'e> {
    eng: &'e Engine,
    guards: SmallVec<[(usize, MutexGuard<'e, Stripe>); 4]>,
    now: u64,
    /// The working lists of a transaction that locks no stripe.
    own: Option<Box<Scratch>>,
    before: Option<Vec<ChannelAvail>>,
}

impl<'e> Txn<'e> {
    /// Locks the stripes of `skus` in ascending order.
    #[inline(always)]
    pub(crate) fn begin(eng: &'e Engine, skus: &[SkuId], now: u64) -> Txn<'e> {
        let mut txn = Txn::new(eng, now);
        if let [one] = skus {
            let i = eng.stripe_slot(*one).0;
            txn.guards.push((i, eng.stripes[i].0.lock()));
        } else {
            let mut idx: SmallVec<[usize; 16]> = SmallVec::new();
            for &s in skus {
                idx.push(eng.stripe_slot(s).0);
            }
            idx.sort_unstable();
            idx.dedup();
            txn.guards.reserve_exact(idx.len());
            for i in idx {
                txn.guards.push((i, eng.stripes[i].0.lock()));
            }
        }
        if eng.feed.is_active() {
            txn.capture_before(skus);
        }
        txn
    }

    /// Remembers the channel availabilities of `skus` before the change,
    /// for the change feed's derived events.
    #[cold]
    fn capture_before(&mut self, skus: &[SkuId]) {
        let topo = self.eng.topo.load();
        let mut distinct: SmallVec<[SkuId; 4]> = skus.into();
        distinct.sort_unstable();
        distinct.dedup();
        self.before = Some(
            distinct
                .iter()
                .map(|&s| (s, topo.channel_availabilities(self.stock(s))))
                .collect(),
        );
    }

    /// Locks every stripe (snapshots, topology changes).
    pub(crate) fn begin_all(eng: &'e Engine, now: u64) -> Txn<'e> {
        let mut txn = Txn::new(eng, now);
        txn.guards
            .extend(eng.stripes.iter().enumerate().map(|(i, s)| (i, s.0.lock())));
        txn
    }

    #[inline(always)]
    fn new(eng: &'e Engine, now: u64) -> Txn<'e> {
        Txn {
            eng,
            guards: SmallVec::new(),
            now,
            own: None,
            before: None,
        }
    }

    /// The working lists: the first stripe's (or the transaction's own).
    #[inline]
    fn scratch(&mut self) -> &mut Scratch {
        match self.guards.first_mut() {
            Some((_, g)) => &mut g.scratch,
            None => self.own.get_or_insert_with(Default::default),
        }
    }

    /// The working lists, if any were used.
    #[inline]
    fn scratch_ref(&self) -> Option<&Scratch> {
        match self.guards.first() {
            Some((_, g)) => Some(&g.scratch),
            None => self.own.as_deref(),
        }
    }

    #[inline]
    fn undo_list(&self) -> &[(SkuId, LocationId, Field, i64)] {
        self.scratch_ref().map_or(&[], |s| &s.undo)
    }

    #[inline]
    fn is_clean(&self) -> bool {
        self.scratch_ref()
            .is_none_or(|s| s.undo.is_empty() && s.pending.is_empty())
    }

    /// The transaction's KPI counts (added to its first stripe's at the end).
    #[inline]
    pub(crate) fn kpi(&mut self) -> &mut TxnKpis {
        &mut self.scratch().kpi
    }

    /// The transaction's time.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    #[inline]
    fn guard_index(&self, stripe: usize) -> usize {
        self.guards
            .iter()
            .position(|(i, _)| *i == stripe)
            .expect("SKU's stripe is locked by this transaction")
    }

    #[inline]
    pub(crate) fn stock(&self, sku: SkuId) -> &SkuStock {
        self.stock_at(self.locate(sku))
    }

    /// Where `sku`'s stock is in this transaction: found once for a
    /// line's several reads and changes (the guard is a search).
    #[inline]
    pub(crate) fn locate(&self, sku: SkuId) -> StockAt {
        let (stripe, slot) = self.eng.stripe_slot(sku);
        StockAt {
            guard: self.guard_index(stripe),
            slot,
        }
    }

    /// The stock [`Txn::locate`] found.
    #[inline]
    pub(crate) fn stock_at(&self, at: StockAt) -> &SkuStock {
        &self.guards[at.guard].1.skus[at.slot]
    }

    /// The ledger slice of a SKU's stripe (locked by this transaction).
    pub(crate) fn log_of(&self, sku: SkuId) -> &Log {
        let (stripe, _) = self.eng.stripe_slot(sku);
        &self.guards[self.guard_index(stripe)].1.log
    }

    #[inline]
    pub(crate) fn stock_mut(&mut self, sku: SkuId) -> &mut SkuStock {
        self.stock_at_mut(self.locate(sku))
    }

    /// The stock [`Txn::locate`] found, to change.
    #[inline]
    fn stock_at_mut(&mut self, at: StockAt) -> &mut SkuStock {
        &mut self.guards[at.guard].1.skus[at.slot]
    }

    /// Changes a level and remembers how to undo it.
    #[inline]
    pub(crate) fn adjust(&mut self, sku: SkuId, loc: LocationId, field: Field, delta: i64) {
        self.adjust_at(self.locate(sku), sku, loc, field, delta);
    }

    /// [`Txn::adjust`] of the stock at `at` (`sku`'s, from
    /// [`Txn::locate`]).
    #[inline]
    pub(crate) fn adjust_at(
        &mut self,
        at: StockAt,
        sku: SkuId,
        loc: LocationId,
        field: Field,
        delta: i64,
    ) {
        self.stock_at_mut(at).adjust(loc, field, delta);
        self.scratch().undo.push((sku, loc, field, delta));
    }

    /// Changes a channel's pool claim on a SKU and remembers how to undo it.
    #[inline]
    pub(crate) fn adjust_pool(&mut self, sku: SkuId, chan: ChannelId, delta: i64) {
        self.adjust_pool_at(self.locate(sku), sku, chan, delta);
    }

    /// [`Txn::adjust_pool`] of the stock at `at` (`sku`'s).
    #[inline]
    pub(crate) fn adjust_pool_at(&mut self, at: StockAt, sku: SkuId, chan: ChannelId, delta: i64) {
        self.adjust_at(at, sku, LocationId(chan.0), Field::Pool, delta);
    }

    /// Queues a ledger event; it is numbered at commit.
    #[inline]
    pub(crate) fn event(
        &mut self,
        kind: EventKind,
        sku: SkuId,
        loc: LocationId,
        qty: i64,
        note: crate::Note<'_>,
    ) {
        let note = self.note(note);
        self.event_noted(kind, sku, loc, qty, &note);
    }

    /// Queues a ledger event on a SKU's pool (no location).
    pub(crate) fn pool_event(
        &mut self,
        kind: EventKind,
        sku: SkuId,
        qty: i64,
        note: crate::Note<'_>,
    ) {
        let note = self.note(note);
        self.pool_event_noted(kind, sku, qty, &note);
    }

    /// A note packed for `event_noted`: for the many events of one
    /// transaction with one note, packed once.
    pub(crate) fn note(&self, note: crate::Note<'_>) -> EventNote {
        EventNote::new(
            self.eng.reasons.intern(note.reason),
            note.reference.unwrap_or_default(),
        )
    }

    /// `event` with a packed note.
    #[inline]
    pub(crate) fn event_noted(
        &mut self,
        kind: EventKind,
        sku: SkuId,
        loc: LocationId,
        qty: i64,
        note: &EventNote,
    ) {
        let now = self.now;
        self.scratch()
            .pending
            .push(Pending::noted(now, kind, Some(sku), Some(loc), qty, note));
    }

    /// `pool_event` with a packed note.
    #[inline]
    pub(crate) fn pool_event_noted(
        &mut self,
        kind: EventKind,
        sku: SkuId,
        qty: i64,
        note: &EventNote,
    ) {
        let now = self.now;
        self.scratch()
            .pending
            .push(Pending::noted(now, kind, Some(sku), None, qty, note));
    }

    /// Records a pool shortage of `short` units on `sku` (event with no
    /// location + KPI).
    pub(crate) fn record_pool_shortage(&mut self, sku: SkuId, short: i64, note: crate::Note<'_>) {
        let scale = self.stock(sku).scale;
        self.pool_event(EventKind::Shortage, sku, short, note);
        let k = self.kpi().more();
        k.shortages += 1;
        k.shortage_units += Qty::from_minor(short, scale).to_decimal();
    }

    /// Every SKU with pool claims among the locked stripes (all of them
    /// for a transaction from `begin_all`).
    pub(crate) fn pooled_skus(&self) -> Vec<SkuId> {
        let bits = self.eng.stripe_bits;
        let mut out = Vec::new();
        for (stripe, g) in &self.guards {
            for (slot, stock) in g.skus.iter().enumerate() {
                if stock.has_pool() {
                    out.push(SkuId(((slot as u32) << bits) | *stripe as u32));
                }
            }
        }
        out
    }

    /// Reports (event with no location + KPI) pool claims of `sku` that can
    /// no longer be bound to any location; returns the shortfall.
    pub(crate) fn report_pool_shortage(&mut self, sku: SkuId, note: crate::Note<'_>) -> i64 {
        let short = crate::pool::deficiency(&self.eng.topo.load(), self.stock(sku));
        if short > 0 {
            self.record_pool_shortage(sku, short, note);
        }
        short
    }

    fn drop_pending(&mut self) {
        self.scratch().pending.clear();
    }

    /// Reports (event + KPI) promised units beyond what is physically
    /// sellable at (sku, loc), and pool claims of the SKU that can no longer
    /// be bound; returns the shortfall.
    pub(crate) fn report_shortage(
        &mut self,
        sku: SkuId,
        loc: LocationId,
        note: crate::Note<'_>,
    ) -> i64 {
        let short = self.stock(sku).shortage(loc);
        if short > 0 {
            let scale = self.stock(sku).scale;
            self.event(EventKind::Shortage, sku, loc, short, note);
            let k = self.kpi().more();
            k.shortages += 1;
            k.shortage_units += Qty::from_minor(short, scale).to_decimal();
        }
        if !self.stock(sku).has_pool() {
            short
        } else {
            short + self.report_pool_shortage(sku, note)
        }
    }

    /// Undoes every level change (KPI counts such as refusals are kept) and
    /// returns `err`, so that call sites read `return Err(txn.fail(e))`.
    pub(crate) fn fail(mut self, err: Error) -> Error {
        self.rollback();
        err
    }

    pub(crate) fn rollback(&mut self) {
        while let Some((sku, loc, field, delta)) = self.scratch().undo.pop() {
            self.stock_mut(sku).adjust(loc, field, -delta);
        }
        self.drop_pending();
        let k = &self.scratch().kpi;
        let refused = (k.holds_refused, k.till_sales_refused, k.orders_refused);
        if refused.0 + refused.1 + refused.2 > 0 {
            self.eng.journal_unordered(&Rec::Refused {
                holds: refused.0,
                till_sales: refused.1,
                orders: refused.2,
            });
        }
        self.flush_kpi();
    }

    /// Releases the locks of a read-only transaction.
    pub(crate) fn abandon(mut self) {
        self.scratch().undo.clear();
        self.drop_pending();
    }

    fn flush_kpi(&mut self) {
        match self.guards.first_mut() {
            Some((_, g)) => {
                let g = &mut **g;
                g.scratch.kpi.flush_into(&mut g.kpi);
            }
            None => self.own = None,
        }
    }

    /// Numbers and appends the events (inside the critical section), then
    /// releases the locks. Returns the derived changes for subscribers.
    pub(crate) fn commit(self, rec: &Rec<'_>) -> Vec<Change> {
        self.commit_journaled(|j, first, last, now| j.append(first, last, now, rec))
    }

    /// `commit` with the journal record built only when there is a
    /// journal (the hot paths: an in-memory engine neither builds nor
    /// drops one).
    #[inline(always)]
    pub(crate) fn commit_lazy<'r>(self, rec: impl FnOnce() -> Rec<'r>) -> Vec<Change> {
        self.commit_journaled(|j, first, last, now| j.append(first, last, now, &rec()))
    }

    /// `commit`, with `journal(j, first, last, now)` appending the record
    /// when there is a journal and the transaction has events.
    #[inline(always)]
    fn commit_journaled(mut self, journal: impl FnOnce(&Journal, u64, u64, u64)) -> Vec<Change> {
        let eng = self.eng;
        let n = self.scratch().pending.len() as u64;
        let first = if n == 0 {
            eng.seq.0.load(Ordering::Acquire)
        } else {
            let first = eng.seq.0.fetch_add(n, Ordering::AcqRel) + 1;
            let g = &mut *self.guards[0].1;
            g.log
                .append(first, &g.scratch.pending, eng.config.ledger_retention);
            g.scratch.pending.clear();
            if let Some(j) = &eng.journal {
                journal(j, first, first + n - 1, self.now);
            }
            first
        };
        self.flush_kpi();
        let changes = match self.before.take() {
            Some(before) => self.derive_changes(before, first),
            None => Vec::new(),
        };
        self.scratch().undo.clear();
        changes
    }

    fn derive_changes(
        &self,
        before: Vec<(SkuId, Vec<(ChannelId, i64)>)>,
        first_seq: u64,
    ) -> Vec<Change> {
        let eng = self.eng;
        let topo = eng.topo.load();
        let mut out = Vec::new();
        let mut touched: SmallVec<[(SkuId, LocationId); 4]> = SmallVec::new();
        for &(sku, loc, field, _) in self.undo_list() {
            if field != Field::Pool && !touched.contains(&(sku, loc)) {
                touched.push((sku, loc));
            }
        }
        for (sku, loc) in touched {
            out.push(Change::StockChanged {
                seq: first_seq,
                sku: eng.skus.name(sku).to_string(),
                location: topo.location(loc).key.to_string(),
                levels: self.stock(sku).levels(loc),
            });
        }
        for (sku, chans) in before {
            let stock = self.stock(sku);
            let after = topo.channel_availabilities(stock);
            for ((chan, b), (_, a)) in chans.iter().zip(after.iter()) {
                if a == b {
                    continue;
                }
                let channel = topo
                    .channel(*chan)
                    .map(|c| c.key.to_string())
                    .unwrap_or_default();
                let sku_name = eng.skus.name(sku).to_string();
                let q = |m: i64| Qty::from_minor(m, stock.scale);
                out.push(Change::AvailabilityChanged {
                    seq: first_seq,
                    channel: channel.clone(),
                    sku: sku_name.clone(),
                    before: q(*b),
                    after: q(*a),
                });
                if *b > 0 && *a == 0 {
                    out.push(Change::OutOfStock {
                        seq: first_seq,
                        channel,
                        sku: sku_name,
                    });
                } else if *b == 0 && *a > 0 {
                    out.push(Change::BackInStock {
                        seq: first_seq,
                        channel,
                        sku: sku_name,
                    });
                }
            }
        }
        out
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        // A transaction dropped without commit (an early `?`) must not leave
        // half-applied levels behind.
        if !self.is_clean() {
            self.rollback();
        } else if let Some((_, g)) = self.guards.first_mut() {
            // Counts of a transaction neither committed nor rolled back are
            // dropped with it, not left for the stripe's next one.
            g.scratch.kpi = TxnKpis::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    /// Every stripe's published record shape (`stock_at`) is where its
    /// records are, after each way SKUs come: a receipt, a bulk load and a
    /// restore (a stale one would only make the prefetches miss, so only
    /// this test would notice).
    fn assert_shapes_current(e: &Engine) {
        for (i, s) in e.stripes.iter().enumerate() {
            let s = s.0.lock();
            let (at, len) = &e.stock_at[i];
            assert_eq!(
                at.load(std::sync::atomic::Ordering::Relaxed).cast_const(),
                s.skus.as_ptr(),
                "stripe {i}"
            );
            assert_eq!(
                len.load(std::sync::atomic::Ordering::Relaxed) as usize,
                s.skus.len(),
                "stripe {i}"
            );
        }
    }

    #[test]
    fn stock_shapes_follow_the_records() {
        let e = Engine::with_config(Config {
            stripes: 4,
            ..Config::default()
        });
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        for i in 0..300 {
            e.receive(&format!("r{i}"), "wh", 5.into(), Note::default())
                .unwrap();
        }
        assert_shapes_current(&e);
        let names: Vec<String> = (0..3000).map(|i| format!("b{i}")).collect();
        let records: Vec<LoadRecord<'_>> = names
            .iter()
            .map(|s| LoadRecord {
                sku: s,
                location: "wh",
                qty: 1.into(),
            })
            .collect();
        e.bulk_load(&records, Note::default(), &mut |_, _| {})
            .unwrap();
        assert_shapes_current(&e);
        let restored = Engine::restore(
            e.snapshot(),
            Config {
                stripes: 4,
                ..Config::default()
            },
        )
        .unwrap();
        assert_shapes_current(&restored);
    }
}
