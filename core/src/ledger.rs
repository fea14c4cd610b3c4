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
    /// `limit`. Only a gap-free run is returned: an event still being
    /// written by another thread ends the run, and the next call picks up
    /// from there.
    ///
    /// Locking: each stripe in turn, then the meta-ledger (no two at once).
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
    pub fn raw_events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let mut all = Vec::new();
        let mut floor = 0;
        let mut take = |q: &std::collections::VecDeque<Event>, f: u64, all: &mut Vec<Event>| {
            floor = floor.max(f);
            let start = q.partition_point(|e| e.seq <= after);
            all.extend(q.range(start..).cloned());
        };
        for s in self.stripes.iter() {
            let g = s.0.lock();
            take(&g.ledger, g.floor, &mut all);
        }
        let meta = self.meta_ledger.lock();
        take(&meta.0, meta.1, &mut all);
        drop(meta);
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
