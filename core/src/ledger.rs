//! The ledger: every change is an event with a sequence number, a reason and
//! the host's reference. The stock state is exactly the fold of the ledger
//! (`fold`), which the tests check.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{Key, LocationId, SkuId};
use crate::qty::Qty;
use crate::stock::Condition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an event did. The level deltas each kind implies are in
/// [`EventKind::deltas`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Received,
    /// `qty` is the variance (counted - previous on_hand).
    Counted,
    WrittenOff,
    WrittenOffUnsellable(Condition),
    MarkedUnsellable(Condition),
    RestoredSellable(Condition),
    /// `qty` is the change of the safety level.
    SafetySet,
    Reserved,
    Released,
    Expired,
    /// Units held against a channel's pool (no location).
    PoolReserved,
    /// A pool hold's units released, or bound to locations when it became
    /// an order (no location).
    PoolReleased,
    /// A pool hold's units expired (no location).
    PoolExpired,
    /// Reserved units committed to an order.
    Allocated,
    /// Available units allocated to an order placed from a routing plan.
    Placed,
    Fulfilled,
    AllocationCancelled,
    TillSale,
    TransferDispatched,
    TransferInbound,
    TransferArrived,
    TransferCancelledInbound,
    TransferReturned,
    /// A click & collect transfer planned for an order (no level changes;
    /// the units stay allocated at the source until it is dispatched).
    TransferPlanned,
    /// A planned transfer cancelled before dispatch (no level changes).
    TransferCancelled,
    /// Units of an order promised from an expected receipt at a location
    /// (counted as backordered there until they are allocated).
    Backordered,
    /// An order's backordered units cancelled before they arrived.
    BackorderCancelled,
    /// Backordered units arrived with their receipt: allocated, set aside
    /// for the orders that wait for them.
    BackorderArrived,
    /// Arrived backordered units attributed to their order.
    BackorderFilled,
    /// An order's backordered units allocated from other stock.
    BackorderAllocated,
    /// An order's backordered units cancelled after they arrived (their
    /// allocation is released).
    BackorderCancelledArrived,
    /// `qty` is the change of the expected quantity.
    Expected,
    /// An expected receipt arrived or was cancelled.
    ExpectedArrived,
    /// Report only: `qty` units are promised beyond sellable stock.
    Shortage,
    HoldExtended,
    SkuDeclared,
    LocationChanged,
    ChannelChanged,
    /// An outside count applied as of an earlier time
    /// ([`crate::Engine::reconcile`]); `qty` is the variance, as a count's.
    Reconciled,
}

/// Level changes of one event, in the SKU's minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deltas {
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
    pub safety: i64,
    pub damaged: i64,
    pub quality_control: i64,
    pub in_transit: i64,
    pub incoming: i64,
    /// Units held against channel pools (the SKU's [`LocationId::POOL`]
    /// entry in a fold).
    pub pooled: i64,
    /// Incoming units promised to orders as backorders.
    pub backordered: i64,
    /// Backordered units that arrived (allocated), not yet attributed to
    /// their orders.
    pub backorder_arrived: i64,
}

impl EventKind {
    /// The level changes an event of this kind with quantity `q` implies.
    pub fn deltas(self, q: i64) -> Deltas {
        use EventKind::*;
        let mut d = Deltas::default();
        let cond = |d: &mut Deltas, c: Condition, v: i64| match c {
            Condition::Damaged => d.damaged += v,
            Condition::QualityControl => d.quality_control += v,
        };
        match self {
            Received | Counted | Reconciled | TransferArrived | TransferReturned => d.on_hand += q,
            WrittenOff | TillSale | TransferDispatched => d.on_hand -= q,
            WrittenOffUnsellable(c) => {
                d.on_hand -= q;
                cond(&mut d, c, -q);
            }
            MarkedUnsellable(c) => cond(&mut d, c, q),
            RestoredSellable(c) => cond(&mut d, c, -q),
            SafetySet => d.safety += q,
            Reserved => d.reserved += q,
            Released | Expired => d.reserved -= q,
            PoolReserved => d.pooled += q,
            PoolReleased | PoolExpired => d.pooled -= q,
            Allocated => {
                d.reserved -= q;
                d.allocated += q;
            }
            Fulfilled => {
                d.on_hand -= q;
                d.allocated -= q;
            }
            AllocationCancelled => d.allocated -= q,
            Placed => d.allocated += q,
            TransferInbound => d.in_transit += q,
            TransferCancelledInbound => d.in_transit -= q,
            Expected => d.incoming += q,
            ExpectedArrived => d.incoming -= q,
            Shortage | HoldExtended | SkuDeclared | LocationChanged | ChannelChanged
            | TransferPlanned | TransferCancelled => {}
            Backordered => d.backordered += q,
            BackorderCancelled => d.backordered -= q,
            BackorderArrived => {
                d.backordered -= q;
                d.allocated += q;
                d.backorder_arrived += q;
            }
            BackorderFilled => d.backorder_arrived -= q,
            BackorderAllocated => {
                d.backordered -= q;
                d.allocated += q;
            }
            BackorderCancelledArrived => {
                d.allocated -= q;
                d.backorder_arrived -= q;
            }
        }
        if self == TransferArrived {
            d.in_transit -= q;
        }
        d
    }

    pub(crate) fn default_reason(self) -> &'static str {
        use EventKind::*;
        match self {
            Received => "receipt",
            Counted => "count",
            Reconciled => "reconcile",
            WrittenOff | WrittenOffUnsellable(_) => "write_off",
            MarkedUnsellable(_) | RestoredSellable(_) => "condition",
            SafetySet => "safety",
            Reserved | Released | HoldExtended | PoolReserved | PoolReleased => "hold",
            Expired | PoolExpired => "expiry",
            Allocated | Fulfilled | AllocationCancelled | Placed => "order",
            TillSale => "till_sale",
            TransferDispatched
            | TransferInbound
            | TransferArrived
            | TransferCancelledInbound
            | TransferReturned
            | TransferPlanned
            | TransferCancelled => "transfer",
            Backordered
            | BackorderCancelled
            | BackorderArrived
            | BackorderFilled
            | BackorderAllocated
            | BackorderCancelledArrived => "backorder",
            Expected | ExpectedArrived => "expected",
            Shortage => "shortage",
            SkuDeclared | LocationChanged | ChannelChanged => "topology",
        }
    }
}

/// An event as the engine stores it (interned ids, minor units).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at_ms: u64,
    pub kind: EventKind,
    pub sku: Option<SkuId>,
    pub location: Option<LocationId>,
    /// Minor units of the SKU (see `EventKind` for the meaning per kind).
    pub qty: i64,
    pub reason: Key,
    pub reference: Key,
}

/// An event as hosts read it: names and exact quantities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub seq: u64,
    pub at_ms: u64,
    pub kind: EventKind,
    pub sku: Option<String>,
    pub location: Option<String>,
    pub qty: Qty,
    pub reason: String,
    pub reference: String,
}

/// Folded levels of one (SKU, location), in minor units.
pub type FoldedLevels = Deltas;

/// Folds events (in sequence order) into levels per (SKU, location).
pub fn fold<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> BTreeMap<(SkuId, LocationId), FoldedLevels> {
    let mut out: BTreeMap<(SkuId, LocationId), FoldedLevels> = BTreeMap::new();
    for e in events {
        let Some(sku) = e.sku else {
            continue;
        };
        let loc = e.location.unwrap_or(LocationId::POOL);
        let d = e.kind.deltas(e.qty);
        if d == Deltas::default() {
            continue;
        }
        let l = out.entry((sku, loc)).or_default();
        l.on_hand += d.on_hand;
        l.reserved += d.reserved;
        l.allocated += d.allocated;
        l.safety += d.safety;
        l.damaged += d.damaged;
        l.quality_control += d.quality_control;
        l.in_transit += d.in_transit;
        l.incoming += d.incoming;
        l.pooled += d.pooled;
        l.backordered += d.backordered;
        l.backorder_arrived += d.backorder_arrived;
    }
    out.retain(|_, l| *l != Deltas::default());
    out
}

impl Engine {
    /// Events with a sequence number above `after`, oldest first, at most
    /// `limit`. The log has no gaps: every event up to `last_seq()` is
    /// readable.
    ///
    /// Locking: the log, then the reason interner; then the SKU name table
    /// (and the SKU creation mutex when an event names a SKU whose creation
    /// is still finishing).
    pub fn events_since(&self, after: u64, limit: usize) -> Result<Vec<LedgerEntry>> {
        let raw = self.raw_events_since(after, limit)?;
        let topo = self.topo.load();
        let names = self
            .skus
            .all_covering(raw.iter().filter_map(|e| e.sku).max());
        Ok(raw
            .into_iter()
            .map(|e| {
                let scale = e.sku.map_or(0, |s| names[s.0 as usize].1);
                LedgerEntry {
                    seq: e.seq,
                    at_ms: e.at_ms,
                    kind: e.kind,
                    sku: e.sku.map(|s| names[s.0 as usize].0.to_string()),
                    location: e.location.map(|l| topo.location(l).key.to_string()),
                    qty: if e.kind == EventKind::SkuDeclared {
                        Qty::units(e.qty)
                    } else {
                        Qty::from_minor(e.qty, scale)
                    },
                    reason: e.reason.to_string(),
                    reference: e.reference.to_string(),
                }
            })
            .collect())
    }

    /// Like `events_since`, in the engine's own form.
    ///
    /// Locking: each stripe in turn, then the meta-log (no two at once),
    /// each with the reason interner.
    pub fn raw_events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let mut all = Vec::new();
        let mut floor = 0;
        for s in self.stripes.iter() {
            let g = s.0.lock();
            floor = floor.max(g.log.floor());
            g.log.read_into(after, &self.reasons, &mut all);
        }
        let meta = self.meta_log.lock();
        floor = floor.max(meta.floor());
        meta.read_into(after, &self.reasons, &mut all);
        drop(meta);
        finish_run(all, floor, after, limit)
    }

    /// Drops what retention no longer keeps from every slice of the log.
    /// A slice trims itself only when it starts a chunk, so a slice that
    /// stopped receiving events (a SKU's stripe after its flash sale, the
    /// meta-log after a catalogue import) would keep its old chunks, and
    /// the ledger would hold several times its retention. `expire_due` and
    /// `bulk_load` call this.
    ///
    /// Locking: each stripe in turn, then the meta-log (no two at once).
    pub(crate) fn trim_ledger(&self) {
        let keep = self.config.ledger_retention;
        if keep.is_none() {
            return;
        }
        let now = self.last_seq();
        for s in self.stripes.iter() {
            s.0.lock().log.trim(keep, now);
        }
        self.meta_log.lock().trim(keep, now);
    }

    /// Events the ledger keeps in memory, counting the empty room of each
    /// slice's last chunk (what retention is measured against in tests).
    ///
    /// Locking: each stripe in turn, then the meta-log (no two at once).
    #[doc(hidden)]
    pub fn ledger_capacity(&self) -> usize {
        let stripes: usize = self.stripes.iter().map(|s| s.0.lock().log.capacity()).sum();
        stripes + self.meta_log.lock().capacity()
    }

    /// Puts events read back from a snapshot into the slices they came
    /// from; every slice starts above `floor`.
    pub(crate) fn replay_events(&self, floor: u64, events: Vec<Event>) {
        let keep = self.config.ledger_retention;
        for e in events {
            let reason = if e.reason == e.kind.default_reason() {
                Reason::Default
            } else {
                self.reasons.intern(&e.reason)
            };
            let p = [Pending::new(
                e.at_ms,
                e.kind,
                e.sku,
                e.location,
                e.qty,
                reason,
                &e.reference,
            )];
            match e.sku {
                Some(sku)
                    if e.location.is_some()
                        || e.kind.deltas(1).pooled != 0
                        || e.kind == EventKind::SkuDeclared =>
                {
                    self.stripes[self.stripe_slot(sku).0]
                        .0
                        .lock()
                        .log
                        .append(e.seq, &p, keep)
                }
                _ => self.meta_log.lock().append(e.seq, &p, keep),
            }
        }
        for s in self.stripes.iter() {
            s.0.lock().log.set_floor(floor);
        }
        self.meta_log.lock().set_floor(floor);
    }

    /// Folds the retained ledger; equals the live levels when nothing was
    /// trimmed (`Config::ledger_retention: None`).
    pub fn fold_ledger(&self) -> Result<BTreeMap<(SkuId, LocationId), FoldedLevels>> {
        Ok(fold(&self.raw_events_since(0, usize::MAX)?))
    }

    /// Audits the engine: true when the retained ledger folds to exactly
    /// the live levels. Needs the whole ledger (`ledger_retention: None`);
    /// otherwise `LedgerTruncated`.
    ///
    /// Locking: as `fold_ledger`, then as `levels_as_folded`.
    pub fn verify_ledger(&self) -> Result<bool> {
        Ok(self.fold_ledger()? == self.levels_as_folded())
    }

    /// The live levels in the same form as [`fold`], for comparison.
    ///
    /// Locking: every stripe at once (a consistent cut).
    pub fn levels_as_folded(&self) -> BTreeMap<(SkuId, LocationId), FoldedLevels> {
        let guards = self.lock_all_stripes();
        let mut out = BTreeMap::new();
        for (stripe, g) in guards.iter().enumerate() {
            for (slot, stock) in g.skus.iter().enumerate() {
                let sku = SkuId(((slot as u32) << self.stripe_bits) | stripe as u32);
                for h in stock.locs.iter() {
                    let c = stock.cold(h.loc).cloned().unwrap_or_default();
                    let l = FoldedLevels {
                        on_hand: h.on_hand,
                        reserved: h.reserved,
                        allocated: h.allocated,
                        safety: h.safety(c.unsellable()),
                        damaged: c.damaged,
                        quality_control: c.quality_control,
                        in_transit: c.in_transit,
                        incoming: c.incoming,
                        pooled: 0,
                        backordered: c.backordered,
                        backorder_arrived: c.backorder_arrived,
                    };
                    if l != FoldedLevels::default() {
                        out.insert((sku, h.loc), l);
                    }
                }
                let pooled: i64 = stock.claims().iter().map(|p| p.1).sum();
                if pooled != 0 {
                    out.insert(
                        (sku, LocationId::POOL),
                        FoldedLevels {
                            pooled,
                            ..Default::default()
                        },
                    );
                }
                for c in stock.cold.iter() {
                    if stock.get(c.loc).is_none()
                        && (c.in_transit != 0
                            || c.incoming != 0
                            || c.backordered != 0
                            || c.backorder_arrived != 0)
                    {
                        out.insert(
                            (sku, c.loc),
                            FoldedLevels {
                                in_transit: c.in_transit,
                                incoming: c.incoming,
                                backordered: c.backordered,
                                backorder_arrived: c.backorder_arrived,
                                ..Default::default()
                            },
                        );
                    }
                }
            }
        }
        out
    }
}

/// Events as the engine keeps them: one 64-byte, copy-only record per
/// event (a cache line each, so two threads appending never share a line
/// and trimming reads nothing). References of up to 23 bytes are inline;
/// longer ones, and reasons past the interner's capacity, sit in a side
/// list keyed by sequence number.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Packed {
    seq: u64,
    at_ms: u64,
    qty: i64,
    sku: u32,
    loc: u32,
    kind: EventKind,
    reason: u16,
    reference: [u8; INLINE_REF + 1],
}

const INLINE_REF: usize = 23;
/// `reference[0]` when the reference is in the overflow list.
const REF_OVERFLOW: u8 = u8::MAX;
/// `reason` when the reason is the kind's default.
const REASON_DEFAULT: u16 = 0;
/// `reason` when the reason is in the overflow list.
const REASON_OVERFLOW: u16 = u16::MAX;
const NONE_ID: u32 = u32::MAX;

const _: () = assert!(std::mem::size_of::<Packed>() == 64);

/// A record on its own cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line(Packed);

impl Packed {
    const EMPTY: Packed = Packed {
        seq: 0,
        at_ms: 0,
        qty: 0,
        sku: NONE_ID,
        loc: NONE_ID,
        kind: EventKind::Received,
        reason: REASON_DEFAULT,
        reference: [0; INLINE_REF + 1],
    };
}

/// An event waiting in a transaction for its sequence number: already in
/// its packed form (72 bytes), with what does not fit boxed aside.
#[derive(Clone)]
pub(crate) struct Pending {
    rec: Packed,
    /// A reference longer than 23 bytes; a reason past the interner.
    extra: Option<Box<(Option<Key>, Option<Key>)>>,
}

impl Pending {
    #[inline]
    pub(crate) fn new(
        at_ms: u64,
        kind: EventKind,
        sku: Option<SkuId>,
        loc: Option<LocationId>,
        qty: i64,
        reason: Reason,
        reference: &str,
    ) -> Pending {
        Pending::noted(
            at_ms,
            kind,
            sku,
            loc,
            qty,
            &EventNote::new(reason, reference),
        )
    }

    /// An event with a note already packed (one note for the many events
    /// of a transaction, packed once).
    #[inline]
    pub(crate) fn noted(
        at_ms: u64,
        kind: EventKind,
        sku: Option<SkuId>,
        loc: Option<LocationId>,
        qty: i64,
        note: &EventNote,
    ) -> Pending {
        Pending {
            rec: Packed {
                seq: 0,
                at_ms,
                qty,
                sku: sku.map_or(NONE_ID, |s| s.0),
                loc: loc.map_or(NONE_ID, |l| l.0),
                kind,
                reason: note.reason,
                reference: note.reference,
            },
            extra: note.extra.clone(),
        }
    }
}

/// A note (reason and reference) in the packed form events carry.
pub(crate) struct EventNote {
    reason: u16,
    reference: [u8; INLINE_REF + 1],
    /// A reference longer than 23 bytes; a reason past the interner.
    extra: Option<Box<(Option<Key>, Option<Key>)>>,
}

impl EventNote {
    pub(crate) fn new(reason: Reason, reference: &str) -> EventNote {
        let mut extra = None;
        let reference = pack_ref(reference).unwrap_or_else(|| {
            extra = Some((Some(Key::new(reference)), None));
            let mut r = [0; INLINE_REF + 1];
            r[0] = REF_OVERFLOW;
            r
        });
        let reason = match reason {
            Reason::Default => REASON_DEFAULT,
            Reason::Interned(i) => i,
            Reason::Other(k) => {
                extra.get_or_insert((None, None)).1 = Some(k);
                REASON_OVERFLOW
            }
        };
        EventNote {
            reason,
            reference,
            extra: extra.map(Box::new),
        }
    }
}

/// A reason as an event carries it.
#[derive(Clone, Debug)]
pub(crate) enum Reason {
    Default,
    Interned(u16),
    Other(Key),
}

/// Interns the reasons hosts give (a handful in practice: "po", "damaged",
/// "cycle_count"). Past `u16::MAX - 1` distinct reasons, the rest are
/// stored with their events.
#[derive(Default)]
pub(crate) struct Reasons {
    inner: crate::sync::RwLock<(crate::ids::FastMap<Key, u16>, Vec<Key>)>,
}

impl Reasons {
    /// Locking: the interner (leaf); none for the empty reason.
    #[inline]
    pub(crate) fn intern(&self, reason: &str) -> Reason {
        if reason.is_empty() {
            return Reason::Default;
        }
        self.intern_named(reason)
    }

    fn intern_named(&self, reason: &str) -> Reason {
        if let Some(&i) = self.inner.read().0.get(reason) {
            return Reason::Interned(i);
        }
        let mut w = self.inner.write();
        if let Some(&i) = w.0.get(reason) {
            return Reason::Interned(i);
        }
        let next = w.1.len() + 1;
        if next >= REASON_OVERFLOW as usize {
            return Reason::Other(Key::new(reason));
        }
        w.1.push(Key::new(reason));
        w.0.insert(Key::new(reason), next as u16);
        Reason::Interned(next as u16)
    }

    fn name(&self, i: u16) -> Key {
        self.inner.read().1[i as usize - 1].clone()
    }
}

/// Records per chunk of a stripe's log.
const CHUNK: usize = 128;

/// A slice of the ledger: the events of one stripe (or the meta-events), in
/// ascending sequence order, in fixed-size chunks, so that appending never
/// moves retained events and trimming drops whole chunks without reading
/// the events in them. Sequence numbers come from the engine's counter,
/// taken inside the critical section that appends, so each slice is in
/// order; readers merge the slices.
pub(crate) struct Log {
    chunks: std::collections::VecDeque<Box<[Line]>>,
    /// Records in the last chunk.
    tail: usize,
    /// Highest sequence number dropped by retention (0: none).
    floor: u64,
    /// Long references and overflowing reasons, by sequence number.
    overflow: std::collections::VecDeque<(u64, bool, Key)>,
    spare: Option<Box<[Line]>>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            chunks: Default::default(),
            tail: CHUNK,
            floor: 0,
            overflow: Default::default(),
            spare: None,
        }
    }
}

impl Log {
    pub(crate) fn floor(&self) -> u64 {
        self.floor
    }

    /// Events kept, counting the empty room of the last chunk.
    pub(crate) fn capacity(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    pub(crate) fn set_floor(&mut self, floor: u64) {
        self.floor = self.floor.max(floor);
    }

    /// Appends events numbered `first..`. `keep` is the engine's retention,
    /// `last` the newest sequence number it knows of: chunks entirely older
    /// than `last - keep` are dropped when a new chunk starts.
    pub(crate) fn append(&mut self, first: u64, events: &[Pending], keep: Option<u64>) {
        for (i, p) in events.iter().enumerate() {
            let seq = first + i as u64;
            if let Some(extra) = &p.extra {
                if let Some(r) = &extra.0 {
                    self.overflow.push_back((seq, false, r.clone()));
                }
                if let Some(r) = &extra.1 {
                    self.overflow.push_back((seq, true, r.clone()));
                }
            }
            if self.tail == CHUNK {
                self.trim(keep, seq);
                let fresh = self
                    .spare
                    .take()
                    .unwrap_or_else(|| vec![Line(Packed::EMPTY); CHUNK].into_boxed_slice());
                self.chunks.push_back(fresh);
                self.tail = 0;
            }
            let last = self.chunks.back_mut().expect("a chunk with room");
            last[self.tail] = Line(Packed { seq, ..p.rec });
            self.tail += 1;
            // The next event's line starts loading now. Each stripe has a
            // log of its own, so a stripe's appends come far apart, too far
            // for the hardware to see them as a stream: without this, every
            // append waited for its line (the retention keeps the logs far
            // larger than the caches).
            match last.get(self.tail) {
                Some(next) => crate::prefetch::lines(next, 1),
                None => {
                    if let Some(spare) = &self.spare {
                        crate::prefetch::lines(&spare[0], 1);
                    }
                }
            }
        }
    }

    pub(crate) fn trim(&mut self, keep: Option<u64>, now_seq: u64) {
        let Some(keep) = keep else { return };
        while self.chunks.len() > 1 {
            let newest_of_first = self.chunks[0][CHUNK - 1].0.seq;
            if newest_of_first + keep > now_seq {
                break;
            }
            self.spare = self.chunks.pop_front();
            self.floor = self.floor.max(newest_of_first);
            while self
                .overflow
                .front()
                .is_some_and(|o| o.0 <= newest_of_first)
            {
                self.overflow.pop_front();
            }
        }
    }

    fn overflow(&self, seq: u64, reason: bool) -> Key {
        let start = self.overflow.partition_point(|o| o.0 < seq);
        self.overflow
            .range(start..)
            .take_while(|o| o.0 == seq)
            .find(|o| o.1 == reason)
            .map(|o| o.2.clone())
            .unwrap_or_default()
    }

    /// Appends the events after `after` (unpacked) to `out`, skipping the
    /// chunks entirely at or before it.
    pub(crate) fn read_into(&self, after: u64, reasons: &Reasons, out: &mut Vec<Event>) {
        let n = self.chunks.len();
        let skip = self
            .chunks
            .iter()
            .enumerate()
            .take_while(|(i, c)| {
                let len = if i + 1 == n { self.tail } else { CHUNK };
                len > 0 && c[len - 1].0.seq <= after
            })
            .count();
        for (i, c) in self.chunks.iter().enumerate().skip(skip) {
            let len = if i + 1 == n { self.tail } else { CHUNK };
            for p in c[..len].iter().filter(|p| p.0.seq > after) {
                out.push(self.unpack(&p.0, reasons));
            }
        }
    }

    fn unpack(&self, p: &Packed, reasons: &Reasons) -> Event {
        let reference = if p.reference[0] == REF_OVERFLOW {
            self.overflow(p.seq, false)
        } else {
            let len = p.reference[0] as usize;
            Key::new(std::str::from_utf8(&p.reference[1..1 + len]).expect("packed from a str"))
        };
        let reason = match p.reason {
            REASON_DEFAULT => Key::new_static(p.kind.default_reason()),
            REASON_OVERFLOW => self.overflow(p.seq, true),
            i => reasons.name(i),
        };
        Event {
            seq: p.seq,
            at_ms: p.at_ms,
            kind: p.kind,
            sku: (p.sku != NONE_ID).then_some(SkuId(p.sku)),
            location: (p.loc != NONE_ID).then_some(LocationId(p.loc)),
            qty: p.qty,
            reason,
            reference,
        }
    }
}

/// Events after `after` from several slices, merged into one gap-free run
/// of at most `limit`: an event numbered but not yet appended by another
/// thread ends the run, and the next read picks up from there.
#[cfg(test)]
fn merge_run<'a>(
    logs: impl IntoIterator<Item = &'a Log>,
    after: u64,
    limit: usize,
    reasons: &Reasons,
) -> Result<Vec<Event>> {
    let mut all = Vec::new();
    let mut floor = 0;
    for log in logs {
        floor = floor.max(log.floor());
        log.read_into(after, reasons, &mut all);
    }
    finish_run(all, floor, after, limit)
}

/// Sorts events gathered from the slices (whose highest floor is `floor`)
/// and keeps the gap-free run after `after`, at most `limit`.
pub(crate) fn finish_run(
    mut all: Vec<Event>,
    floor: u64,
    after: u64,
    limit: usize,
) -> Result<Vec<Event>> {
    if after < floor {
        return Err(Error::LedgerTruncated {
            requested: after,
            oldest: floor + 1,
        });
    }
    all.sort_unstable_by_key(|e| e.seq);
    let run = all
        .iter()
        .enumerate()
        .take_while(|(i, e)| e.seq == after + 1 + *i as u64)
        .count();
    all.truncate(run.min(limit));
    Ok(all)
}

fn pack_ref(r: &str) -> Option<[u8; INLINE_REF + 1]> {
    if r.len() > INLINE_REF {
        return None;
    }
    let mut out = [0; INLINE_REF + 1];
    out[0] = r.len() as u8;
    copy_short(&mut out[1..1 + r.len()], r.as_bytes());
    Some(out)
}

/// `dst.copy_from_slice(src)` for at most 24 bytes, in a few fixed-size
/// (overlapping) moves instead of a call to `memcpy` (hold ids are packed
/// into every hold's and release's event).
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    // Whole words read and written as integers: LLVM would merge byte-slice
    // copies of different constant sizes back into a `memcpy` call.
    fn word(dst: &mut [u8], src: &[u8], at: usize) {
        let w = u64::from_ne_bytes(src[at..at + 8].try_into().expect("8 bytes"));
        dst[at..at + 8].copy_from_slice(&w.to_ne_bytes());
    }
    fn half(dst: &mut [u8], src: &[u8], at: usize) {
        let w = u32::from_ne_bytes(src[at..at + 4].try_into().expect("4 bytes"));
        dst[at..at + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let n = src.len();
    debug_assert!(n == dst.len() && n <= 24);
    if n >= 8 {
        word(dst, src, 0);
        if n > 16 {
            word(dst, src, 8);
        }
        word(dst, src, n - 8);
    } else if n >= 4 {
        half(dst, src, 0);
        half(dst, src, n - 4);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(reference: &str, reason: Reason) -> Pending {
        Pending::new(
            7,
            EventKind::Received,
            Some(SkuId(3)),
            Some(LocationId(1)),
            5,
            reason,
            reference,
        )
    }

    /// Short (every length up to the inline limit and past it) and long
    /// references, default, interned and overflowing
    /// reasons all read back as written from two interleaved slices,
    /// across chunk boundaries and after older chunks are trimmed.
    #[test]
    fn logs_round_trip_references_and_reasons_across_trims() {
        let reasons = Reasons::default();
        let (mut a, mut b) = (Log::default(), Log::default());
        let long = "R".repeat(200);
        let keep = Some(300);
        let mut written = Vec::new();
        for seq in 1..=1000u64 {
            // Every length around the inline limit (23 bytes), each byte
            // telling its position: a misplaced or missing byte shows.
            let reference = if seq % 3 == 0 {
                format!("{long}{seq}")
            } else {
                (0..seq as usize % 26)
                    .map(|i| char::from(b'a' + ((seq as usize + 7 * i) % 26) as u8))
                    .collect()
            };
            let reason = match seq % 4 {
                0 => Reason::Default,
                1 => reasons.intern("po"),
                2 => Reason::Other(Key::new(format!("free text {seq}"))),
                _ => reasons.intern(""),
            };
            let log = if seq % 5 < 2 { &mut a } else { &mut b };
            log.append(seq, &[pending(&reference, reason.clone())], keep);
            let reason = match reason {
                Reason::Default => "receipt".to_string(),
                Reason::Interned(_) => "po".to_string(),
                Reason::Other(k) => k.to_string(),
            };
            written.push((reference, reason));
        }
        let floor = a.floor().max(b.floor());
        assert!(floor > 0, "retention trims");
        assert!(1000 - floor >= 300, "keeps at least the retention");
        let back = merge_run([&a, &b], floor, usize::MAX, &reasons).unwrap();
        assert_eq!(back.len() as u64, 1000 - floor);
        for e in &back {
            let (reference, reason) = &written[e.seq as usize - 1];
            assert_eq!(e.reference, reference.as_str(), "seq {}", e.seq);
            assert_eq!(e.reason, reason.as_str(), "seq {}", e.seq);
            assert_eq!(
                (e.sku, e.location, e.qty),
                (Some(SkuId(3)), Some(LocationId(1)), 5)
            );
        }
        assert!(matches!(
            merge_run([&a, &b], 0, 1, &reasons),
            Err(Error::LedgerTruncated { .. })
        ));
        assert_eq!(merge_run([&a, &b], 995, 2, &reasons).unwrap().len(), 2);
        assert!(merge_run([&a, &b], 1000, 10, &reasons).unwrap().is_empty());
        // An event numbered but not yet appended ends the run.
        let mut c = Log::default();
        c.append(1002, &[pending("late", Reason::Default)], keep);
        let run = merge_run([&a, &b, &c], 990, usize::MAX, &reasons).unwrap();
        assert_eq!(run.last().unwrap().seq, 1000);
    }
}
