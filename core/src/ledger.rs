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
    /// Reserved units committed to an order.
    Allocated,
    Fulfilled,
    AllocationCancelled,
    TillSale,
    TransferDispatched,
    TransferInbound,
    TransferArrived,
    TransferCancelledInbound,
    TransferReturned,
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
            Received | Counted | TransferArrived | TransferReturned => d.on_hand += q,
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
            Allocated => {
                d.reserved -= q;
                d.allocated += q;
            }
            Fulfilled => {
                d.on_hand -= q;
                d.allocated -= q;
            }
            AllocationCancelled => d.allocated -= q,
            TransferInbound => d.in_transit += q,
            TransferCancelledInbound => d.in_transit -= q,
            Expected => d.incoming += q,
            ExpectedArrived => d.incoming -= q,
            Shortage | HoldExtended | SkuDeclared | LocationChanged | ChannelChanged => {}
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
            WrittenOff | WrittenOffUnsellable(_) => "write_off",
            MarkedUnsellable(_) | RestoredSellable(_) => "condition",
            SafetySet => "safety",
            Reserved | Released | HoldExtended => "hold",
            Expired => "expiry",
            Allocated | Fulfilled | AllocationCancelled => "order",
            TillSale => "till_sale",
            TransferDispatched
            | TransferInbound
            | TransferArrived
            | TransferCancelledInbound
            | TransferReturned => "transfer",
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
        let (Some(sku), Some(loc)) = (e.sku, e.location) else {
            continue;
        };
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
    }
    out.retain(|_, l| *l != Deltas::default());
    out
}

impl Engine {
    /// Events with a sequence number above `after`, oldest first, at most
    /// `limit`. The log has no gaps: every event up to `last_seq()` is
    /// readable.
    ///
    /// Locking: the log, then the reason interner; then the SKU name table.
    pub fn events_since(&self, after: u64, limit: usize) -> Result<Vec<LedgerEntry>> {
        let raw = self.raw_events_since(after, limit)?;
        let topo = self.topo.load();
        let names = self.skus.all();
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
    /// Locking: the log, then the reason interner.
    pub fn raw_events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.log.0.lock().read(after, limit, &self.reasons)
    }

    /// Appends events read back from a snapshot: they must continue the
    /// log without a gap.
    pub(crate) fn replay_events(&self, floor: u64, events: Vec<Event>) -> Result<()> {
        let mut log = self.log.0.lock();
        log.reset_to(floor);
        for e in events {
            if e.seq != log.last_seq() + 1 {
                return Err(Error::arg(
                    "snapshot",
                    format!("ledger has a gap before event {}", e.seq),
                ));
            }
            let reason = if e.reason == e.kind.default_reason() {
                Reason::Default
            } else {
                self.reasons.intern(&e.reason)
            };
            log.append(&[Pending {
                at_ms: e.at_ms,
                kind: e.kind,
                sku: e.sku,
                loc: e.location,
                qty: e.qty,
                reason,
                reference: e.reference,
            }]);
        }
        self.seq
            .store(log.last_seq(), std::sync::atomic::Ordering::Release);
        Ok(())
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
                for h in &stock.locs {
                    let c = stock.cold(h.loc).cloned().unwrap_or_default();
                    let l = FoldedLevels {
                        on_hand: h.on_hand,
                        reserved: h.reserved,
                        allocated: h.allocated,
                        safety: h.safety,
                        damaged: c.damaged,
                        quality_control: c.quality_control,
                        in_transit: c.in_transit,
                        incoming: c.incoming,
                    };
                    if l != FoldedLevels::default() {
                        out.insert((sku, h.loc), l);
                    }
                }
                for c in &stock.cold {
                    if stock.get(c.loc).is_none() && (c.in_transit != 0 || c.incoming != 0) {
                        out.insert(
                            (sku, c.loc),
                            FoldedLevels {
                                in_transit: c.in_transit,
                                incoming: c.incoming,
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
#[repr(C, align(64))]
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

/// An event waiting in a transaction for its sequence number.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub at_ms: u64,
    pub kind: EventKind,
    pub sku: Option<SkuId>,
    pub loc: Option<LocationId>,
    pub qty: i64,
    pub reason: Reason,
    pub reference: Key,
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
    inner: parking_lot::RwLock<(crate::ids::FastMap<Key, u16>, Vec<Key>)>,
}

impl Reasons {
    /// Locking: the interner (leaf).
    pub(crate) fn intern(&self, reason: &str) -> Reason {
        if reason.is_empty() {
            return Reason::Default;
        }
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

/// Events per chunk of the log (with the default retention).
const CHUNK: usize = 4096;

/// The ledger: every event in sequence order, in fixed-size chunks, so that
/// appending never moves retained events and trimming drops whole chunks.
/// Sequence numbers are assigned here, under its lock, so the log has no
/// gaps and readers never wait for a write in flight.
pub(crate) struct Log {
    chunks: std::collections::VecDeque<Box<[Packed]>>,
    chunk: usize,
    /// Sequence number of the first record of `chunks[0]`.
    first_seq: u64,
    /// The last sequence number assigned.
    last_seq: u64,
    /// Highest sequence number dropped by retention (0: none).
    floor: u64,
    /// Long references and overflowing reasons, by sequence number.
    overflow: std::collections::VecDeque<(u64, bool, Key)>,
    spare: Option<Box<[Packed]>>,
    keep: Option<u64>,
}

impl Log {
    pub(crate) fn new(keep: Option<u64>) -> Self {
        // Small retentions (tests) get small chunks, so trimming shows.
        let chunk = keep.map_or(CHUNK, |k| {
            (k.clamp(16, CHUNK as u64) as usize).next_power_of_two()
        });
        Log {
            chunks: Default::default(),
            chunk,
            first_seq: 1,
            last_seq: 0,
            floor: 0,
            overflow: Default::default(),
            spare: None,
            keep,
        }
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub(crate) fn floor(&self) -> u64 {
        self.floor
    }

    /// Starts an empty log after `floor` (restore): the next event gets
    /// `floor + 1`.
    pub(crate) fn reset_to(&mut self, floor: u64) {
        let keep = self.keep;
        *self = Log::new(keep);
        self.floor = floor;
        self.first_seq = floor + 1;
        self.last_seq = floor;
    }

    /// Appends events, numbering them; returns the first number.
    pub(crate) fn append(&mut self, events: &[Pending]) -> u64 {
        let first = self.last_seq + 1;
        for p in events {
            let seq = self.last_seq + 1;
            let reference = match pack_ref(&p.reference) {
                Some(r) => r,
                None => {
                    self.overflow.push_back((seq, false, p.reference.clone()));
                    let mut r = [0; INLINE_REF + 1];
                    r[0] = REF_OVERFLOW;
                    r
                }
            };
            let reason = match &p.reason {
                Reason::Default => REASON_DEFAULT,
                Reason::Interned(i) => *i,
                Reason::Other(k) => {
                    self.overflow.push_back((seq, true, k.clone()));
                    REASON_OVERFLOW
                }
            };
            self.push(Packed {
                seq,
                at_ms: p.at_ms,
                qty: p.qty,
                sku: p.sku.map_or(NONE_ID, |s| s.0),
                loc: p.loc.map_or(NONE_ID, |l| l.0),
                kind: p.kind,
                reason,
                reference,
            });
        }
        self.trim();
        first
    }

    fn push(&mut self, rec: Packed) {
        let idx = (rec.seq - self.first_seq) as usize;
        if idx / self.chunk == self.chunks.len() {
            let fresh = self
                .spare
                .take()
                .unwrap_or_else(|| vec![Packed::EMPTY; self.chunk].into_boxed_slice());
            self.chunks.push_back(fresh);
        }
        self.chunks[idx / self.chunk][idx % self.chunk] = rec;
        self.last_seq = rec.seq;
    }

    fn trim(&mut self) {
        let Some(keep) = self.keep else { return };
        while self.chunks.len() > 1 {
            let last_of_first = self.first_seq + self.chunk as u64 - 1;
            if last_of_first + keep > self.last_seq {
                break;
            }
            self.spare = self.chunks.pop_front();
            self.floor = last_of_first;
            self.first_seq = last_of_first + 1;
            while self.overflow.front().is_some_and(|o| o.0 <= last_of_first) {
                self.overflow.pop_front();
            }
        }
    }

    fn get(&self, seq: u64) -> &Packed {
        let idx = (seq - self.first_seq) as usize;
        &self.chunks[idx / self.chunk][idx % self.chunk]
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

    /// Events after `after`, at most `limit`, unpacked.
    pub(crate) fn read(&self, after: u64, limit: usize, reasons: &Reasons) -> Result<Vec<Event>> {
        if after < self.floor {
            return Err(Error::LedgerTruncated {
                requested: after,
                oldest: self.floor + 1,
            });
        }
        let end = self
            .last_seq
            .min(after.saturating_add(limit.min(usize::MAX - 1) as u64));
        Ok(((after + 1)..=end)
            .map(|seq| self.unpack(self.get(seq), reasons))
            .collect())
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

fn pack_ref(r: &str) -> Option<[u8; INLINE_REF + 1]> {
    if r.len() > INLINE_REF {
        return None;
    }
    let mut out = [0; INLINE_REF + 1];
    out[0] = r.len() as u8;
    out[1..1 + r.len()].copy_from_slice(r.as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(reference: &str, reason: Reason) -> Pending {
        Pending {
            at_ms: 7,
            kind: EventKind::Received,
            sku: Some(SkuId(3)),
            loc: Some(LocationId(1)),
            qty: 5,
            reason,
            reference: Key::new(reference),
        }
    }

    /// Short and long references, default, interned and overflowing
    /// reasons all read back as written, across chunk boundaries and
    /// after the chunks before them are trimmed.
    #[test]
    fn log_round_trips_references_and_reasons_across_trims() {
        let reasons = Reasons::default();
        let mut log = Log::new(Some(20));
        let long = "R".repeat(200);
        let mut written = Vec::new();
        for i in 0..100u64 {
            let reference = if i % 3 == 0 {
                format!("{long}{i}")
            } else {
                format!("h{i}")
            };
            let reason = match i % 4 {
                0 => Reason::Default,
                1 => reasons.intern("po"),
                2 => Reason::Other(Key::new(format!("free text {i}"))),
                _ => reasons.intern(""),
            };
            let seq = log.append(&[pending(&reference, reason.clone())]);
            assert_eq!(seq, i + 1);
            let reason = match reason {
                Reason::Default => "receipt".to_string(),
                Reason::Interned(_) => "po".to_string(),
                Reason::Other(k) => k.to_string(),
            };
            written.push((reference, reason));
        }
        assert!(log.floor() > 0, "retention trims");
        assert!(100 - log.floor() >= 20, "keeps at least the retention");
        let back = log.read(log.floor(), usize::MAX, &reasons).unwrap();
        assert_eq!(back.len() as u64, 100 - log.floor());
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
            log.read(0, 1, &reasons),
            Err(Error::LedgerTruncated { .. })
        ));
        assert_eq!(log.read(95, 2, &reasons).unwrap().len(), 2);
        assert!(log.read(100, 10, &reasons).unwrap().is_empty());
    }
}
