//! Orders: allocations committed from holds, till sales, and their
//! fulfilment (ship, pick-up) and cancellation.

use crate::durable::rec::Rec;
use crate::engine::{Engine, Field, Note, Txn};
use crate::error::{Error, IdKind, Result};
use crate::hold::{HoldLine, HoldState, Lines, Part, PartRec, shard_index};
use crate::ids::{ChannelId, FastMap, Key, LocationId, SkuId, check_id};
use crate::ledger::EventKind;
use crate::qty::Qty;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Some units are still allocated.
    Open,
    /// Nothing left open and at least one unit fulfilled.
    Completed,
    /// Everything was cancelled.
    Cancelled,
}

/// One allocation line of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub part: Part,
    pub fulfilled: Qty,
    pub cancelled: Qty,
}

impl Allocation {
    /// Units still allocated (neither fulfilled nor cancelled).
    pub fn open(&self) -> Qty {
        let s =
            self.part.qty.to_decimal() - self.fulfilled.to_decimal() - self.cancelled.to_decimal();
        Qty::from_decimal(s)
    }
}

/// The result of committing a hold or ringing up a till sale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderReceipt {
    /// True when this is the original result returned again for a retry.
    pub replayed: bool,
    pub allocations: SmallVec<[Part; 2]>,
}

/// An order as hosts read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: String,
    pub channel: String,
    pub state: OrderState,
    /// The hold it was committed from; `None` for a till sale.
    pub hold: Option<String>,
    pub created_at_ms: u64,
    /// (sku, location, allocated, fulfilled, cancelled). Units sent to the
    /// pickup store by a click & collect transfer count as fulfilled at
    /// their source when they leave, and as a new line at the store when
    /// they arrive.
    pub lines: Vec<(String, String, Qty, Qty, Qty)>,
    /// Click & collect transfers created for the order (see
    /// [`Engine::transfer_info`]).
    pub transfers: Vec<String>,
    /// Units still promised from expected receipts ([`Engine::fill_backorders`]
    /// allocates them once they arrive).
    pub backorders: Vec<Backorder>,
    /// A click & reserve order: when its time at the store ends (placed
    /// or re-routed as `Fulfilment::ClickAndReserve { hours, .. }`: that
    /// many hours later, or, when some units were backordered, that many
    /// hours after the last backorder was filled or cancelled; `None`
    /// until then). What is still allocated then is cancelled, at that
    /// time, by the first sweep after it (see [`Engine::expire_due`]): the
    /// units go back on sale.
    #[serde(default)]
    pub reserved_until_ms: Option<u64>,
}

/// A quantity of a SKU to fulfil or cancel; without a location, it is
/// taken from the order's allocations of that SKU in order. The same shape
/// as a hold line (`OrderLine::new(sku, qty).at(location)`).
pub type OrderLine<'a> = HoldLine<'a>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Origin {
    Hold(Key),
    TillSale(Lines),
    /// Placed from a routing plan: the request's digest, the plan, and
    /// the hold it was placed from, if any.
    Routed(u64, Box<crate::routing::PlanRec>, Option<Key>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AllocRec {
    pub part: PartRec,
    pub fulfilled: i64,
    pub cancelled: i64,
}

impl AllocRec {
    /// An allocation of `part`, nothing fulfilled or cancelled yet.
    pub(crate) fn new(part: PartRec) -> AllocRec {
        AllocRec {
            part,
            fulfilled: 0,
            cancelled: 0,
        }
    }

    fn open(&self) -> i64 {
        self.part.qty - self.fulfilled - self.cancelled
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OrderRec {
    pub channel: ChannelId,
    pub origin: Origin,
    pub created_ms: u64,
    pub allocs: SmallVec<[AllocRec; 2]>,
    /// Click & collect transfers created for the order, in creation order.
    #[serde(default)]
    pub transfers: Vec<Key>,
    /// Units on their way to the pickup store by those transfers.
    #[serde(default)]
    pub in_transit: i64,
    /// Units promised from expected receipts, allocated when they arrive.
    #[serde(default)]
    pub backorders: Vec<BackorderRec>,
    /// When the order closed (see [`crate::Config::order_retention_ms`]).
    #[serde(default)]
    pub closed_ms: Option<u64>,
    /// A click & reserve order: its hours at the store, which start once
    /// none of its units is still backordered, and when they end (both
    /// kept in snapshots in their own list, `Snapshot::reservations`).
    #[serde(skip)]
    pub reserve_hours: Option<u32>,
    #[serde(skip)]
    pub reserved_until: Option<u64>,
}

/// Units of an order promised from an expected receipt at a location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BackorderRec {
    pub sku: SkuId,
    pub loc: LocationId,
    pub qty: i64,
    pub scale: u8,
    pub due_ms: u64,
    pub preorder: bool,
    pub filled: i64,
    pub cancelled: i64,
}

impl BackorderRec {
    fn open(&self) -> i64 {
        self.qty - self.filled - self.cancelled
    }
}

/// Units of an order still promised from an expected receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backorder {
    pub sku: String,
    /// Where the receipt is expected.
    pub location: String,
    /// Units still to allocate (ordered minus filled and cancelled).
    pub qty: Qty,
    /// The date promised to the customer.
    pub promised_at_ms: u64,
    /// Not in stock anywhere the channel sells from when ordered.
    pub preorder: bool,
}

impl OrderRec {
    /// A new order allocated as `parts` (nothing fulfilled or cancelled).
    pub(crate) fn new(
        channel: ChannelId,
        origin: Origin,
        created_ms: u64,
        parts: &[PartRec],
        backorders: Vec<BackorderRec>,
    ) -> OrderRec {
        OrderRec {
            channel,
            origin,
            created_ms,
            allocs: parts.iter().map(|&part| AllocRec::new(part)).collect(),
            transfers: Vec::new(),
            in_transit: 0,
            backorders,
            closed_ms: None,
            reserve_hours: None,
            reserved_until: None,
        }
    }

    /// The SKUs of the order's open backorders.
    fn open_backorder_skus(&self) -> SmallVec<[SkuId; 4]> {
        self.backorders
            .iter()
            .filter(|b| b.open() > 0)
            .map(|b| b.sku)
            .collect()
    }

    /// Adds `qty` to the order's allocation of `sku` at `loc` (a new line
    /// when it has none there).
    pub(crate) fn add_allocation(&mut self, sku: SkuId, loc: LocationId, qty: i64, scale: u8) {
        match self
            .allocs
            .iter_mut()
            .find(|a| a.part.sku == sku && a.part.loc == loc)
        {
            Some(a) => a.part.qty += qty,
            None => self.allocs.push(AllocRec::new(PartRec {
                sku,
                loc,
                qty,
                scale,
            })),
        }
    }

    fn receipt(&self, replayed: bool) -> OrderReceipt {
        OrderReceipt {
            replayed,
            allocations: self.allocs.iter().map(|a| a.part.public()).collect(),
        }
    }
    /// Not yet closed (see [`crate::Config::order_retention_ms`]).
    pub(crate) fn is_open(&self) -> bool {
        self.state() == OrderState::Open
    }

    fn state(&self) -> OrderState {
        if self.in_transit > 0
            || self.allocs.iter().any(|a| a.open() > 0)
            || self.backorders.iter().any(|b| b.open() > 0)
        {
            OrderState::Open
        } else if self.allocs.iter().any(|a| a.fulfilled > 0) {
            OrderState::Completed
        } else {
            OrderState::Cancelled
        }
    }
}

#[derive(Default)]
pub(crate) struct OrderShard {
    pub map: FastMap<Key, OrderRec>,
    /// Closed orders by purge time (FIFO: retention is one constant).
    pub purges: std::collections::VecDeque<(u64, Key)>,
}

impl OrderShard {
    /// Notes that `order` may have closed at `now`: a closed order gets its
    /// closing time and a place in the purge queue. Returns its purge time
    /// when it closed just now.
    pub(crate) fn closing(&mut self, order: &str, now: u64, retention: u64) -> Option<u64> {
        let rec = self.map.get_mut(order)?;
        if rec.closed_ms.is_some() || rec.state() == OrderState::Open {
            return None;
        }
        rec.closed_ms = Some(now);
        Some(self.queue_purge(Key::new(order), now, retention))
    }

    /// Queues the purge of an order closed at `closed_ms`; returns when it
    /// is due. The queue stays in closing order: orders close at the time
    /// of the change, except a click & reserve order ended by a sweep, at
    /// the (earlier) end of its time at the store.
    pub(crate) fn queue_purge(&mut self, order: Key, closed_ms: u64, retention: u64) -> u64 {
        let due = closed_ms.saturating_add(retention);
        let at = self.purges.partition_point(|(d, _)| *d <= due);
        self.purges.insert(at, (due, order));
        due
    }

    /// Purges the closed orders due at `now`, adding their transfers to
    /// `transfers`; returns the next purge time.
    pub(crate) fn purge_due(&mut self, now: u64, transfers: &mut Vec<Key>) -> Option<u64> {
        while let Some((due, key)) = self.purges.front() {
            if *due > now {
                return Some(*due);
            }
            if self.map.get(key).is_some_and(|r| r.closed_ms.is_some())
                && let Some(rec) = self.map.remove(key)
            {
                transfers.extend(rec.transfers);
            }
            self.purges.pop_front();
        }
        None
    }

    /// The order's record, or `UnknownOrder`.
    pub(crate) fn rec_mut(&mut self, order: &str) -> Result<&mut OrderRec> {
        self.map.get_mut(order).ok_or_else(|| Error::UnknownOrder {
            order: order.to_string(),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Settle {
    Fulfil,
    Cancel,
}

impl Engine {
    /// Commits an active hold into an order: its reserved units become
    /// allocated under `order`. Retrying with the same hold and order
    /// returns the original receipt; a committed hold with another order
    /// id, or an order id already used, is an `IdConflict`.
    ///
    /// Locking: the hold's shard, the order's shard, then the SKU stripes.
    pub fn commit(&self, hold: &str, order: &str) -> Result<OrderReceipt> {
        let now = self.now_and_sweep();
        self.durable(self.commit_at(hold, order, now))
    }

    /// Many commits, one result per (hold, order) pair.
    ///
    /// Locking: per item, as `commit`.
    pub fn commit_batch(&self, pairs: &[(&str, &str)]) -> Vec<Result<OrderReceipt>> {
        let now = self.now_and_sweep();
        self.durable_batch(
            pairs
                .iter()
                .map(|(h, o)| self.commit_at(h, o, now))
                .collect(),
        )
    }

    fn commit_at(&self, hold: &str, order: &str, now: u64) -> Result<OrderReceipt> {
        check_id("hold", hold)?;
        check_id("order", order)?;
        let hh = crate::hold::IdHash::new(hold);
        let mut hguard = self.holds[hh.shard(self.holds.len())].0.lock();
        let hshard = &mut *hguard;
        let slot = hshard.find(&hh).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        let rec = hshard.rec(slot);
        match rec.state {
            HoldState::Committed if rec.order.as_deref() == Some(order) => {
                let oshard = self.orders[self.order_shard(order)].0.lock();
                if let Some(o) = oshard.map.get(order) {
                    return Ok(o.receipt(true));
                }
                return Err(Error::UnknownOrder {
                    order: order.to_string(),
                });
            }
            HoldState::Committed => {
                return Err(Error::IdConflict {
                    kind: IdKind::Hold,
                    id: hold.to_string(),
                });
            }
            _ => {}
        }
        let mut expired = Vec::new();
        if let Err(e) = self.check_active(hshard, slot, hold, now, &mut expired) {
            drop(hguard);
            self.publish(expired);
            return Err(e);
        }
        let mut oshard = self.orders[self.order_shard(order)].0.lock();
        if oshard.map.contains_key(order) {
            return Err(Error::IdConflict {
                kind: IdKind::Order,
                id: order.to_string(),
            });
        }
        let rec = hshard.rec(slot);
        let skus: SmallVec<[SkuId; 4]> = rec.parts.iter().map(|p| p.sku).collect();
        let mut txn = Txn::begin(self, &skus, now);
        let note = Note {
            reason: "",
            reference: Some(order),
        };
        // The parts' events share the note: packed once.
        let packed = txn.note(note);
        let mut parts: SmallVec<[PartRec; 1]> = SmallVec::new();
        let topo = self.topo.load();
        for p in &rec.parts {
            if !p.pooled() {
                txn.adjust(p.sku, p.loc, Field::Reserved, -p.qty);
                txn.adjust(p.sku, p.loc, Field::Allocated, p.qty);
                txn.event_noted(EventKind::Allocated, p.sku, p.loc, p.qty, &packed);
                parts.push(*p);
                continue;
            }
            // A pool hold is bound now: its claim goes, and the units are
            // allocated from the channel's locations in order, leaving the
            // other claims bindable.
            txn.adjust_pool(p.sku, rec.channel, -p.qty);
            txn.pool_event_noted(EventKind::PoolReleased, p.sku, p.qty, &packed);
            let line = crate::hold::ReqLine {
                sku: p.sku,
                loc: None,
                qty: p.qty,
                scale: p.scale,
            };
            let bound =
                self.bind_in_order(&mut txn, &topo, rec.channel, &line, EventKind::Placed, note);
            let got: i64 = bound.iter().map(|b| b.qty).sum();
            if got != p.qty {
                // Only a loss of stock (a count, a write-off, a closed
                // location) can leave a claim unbindable.
                let e = self.insufficient(p.sku, None, Some(rec.channel), p.qty, got, p.scale);
                return Err(txn.fail(e));
            }
            parts.extend(bound);
        }
        txn.kpi().holds_committed += 1;
        // The order counts against the locations' daily capacities.
        let _ = self.count_orders(&topo, &parts, now, false);
        let changes = txn.commit(&Rec::Commit { hold, order });
        let order_rec = OrderRec::new(
            rec.channel,
            Origin::Hold(Key::new(hold)),
            now,
            &parts,
            Vec::new(),
        );
        let receipt = order_rec.receipt(false);
        oshard.map.insert(Key::new(order), order_rec);
        self.order_touched(&mut oshard, order, now);
        drop(oshard);
        // The order id first: ending the record looks at what it owns.
        hshard.rec_mut(slot).order = Some(Key::new(order));
        self.finish_record(hshard, slot, HoldState::Committed, now);
        drop(hguard);
        self.publish(changes);
        Ok(receipt)
    }

    /// Rings up a till sale: the units leave on_hand at once, from the
    /// line's location or else the channel's first open location, after the
    /// same availability checks as a hold. `sale` is the idempotency key
    /// (it shares the order id space).
    ///
    /// Locking: the order's shard, then the SKU stripes (ascending).
    pub fn till_sale(
        &self,
        sale: &str,
        channel: &str,
        lines: &[HoldLine<'_>],
    ) -> Result<OrderReceipt> {
        self.durable(self.till_sale_at(sale, channel, lines))
    }

    fn till_sale_at(
        &self,
        sale: &str,
        channel: &str,
        lines: &[HoldLine<'_>],
    ) -> Result<OrderReceipt> {
        let now = self.now_and_sweep();
        check_id("sale", sale)?;
        let topo = self.topo.load();
        let chan = topo
            .channel_id(channel)
            .ok_or_else(|| Error::UnknownChannel {
                channel: channel.to_string(),
            })?;
        let host_lines = lines;
        let lines = self.resolve_lines(&topo, lines)?;
        drop(topo);
        let mut oshard = self.orders[self.order_shard(sale)].0.lock();
        if let Some(o) = oshard.map.get(sale) {
            return match &o.origin {
                Origin::TillSale(l) if *l == lines && o.channel == chan => Ok(o.receipt(true)),
                _ => Err(Error::IdConflict {
                    kind: IdKind::Order,
                    id: sale.to_string(),
                }),
            };
        }
        let skus: SmallVec<[SkuId; 4]> = lines.iter().map(|l| l.sku).collect();
        let mut txn = Txn::begin(self, &skus, now);
        let topo = self.topo.load();
        let note = Note {
            reason: "",
            reference: Some(sale),
        };
        let mut allocs = SmallVec::new();
        for l in &lines {
            let res = (|| {
                let channel = topo.channel(chan).ok_or_else(|| Error::UnknownChannel {
                    channel: channel.to_string(),
                })?;
                let loc = match l.loc {
                    Some(loc) => loc,
                    // The first open location; with all of them closed (a
                    // till's store closed), the first is what is closed.
                    None => *channel
                        .locations
                        .iter()
                        .find(|&&loc| !topo.is_closed(loc))
                        .or(channel.locations.first())
                        .ok_or_else(|| {
                            Error::arg(
                                "lines",
                                format!(
                                    "channel `{channel}` has no location to sell from",
                                    channel = channel.key
                                ),
                            )
                        })?,
                };
                self.check_fits_at(&txn, &topo, chan, l, loc)?;
                Ok(loc)
            })();
            let loc = match res {
                Ok(loc) => loc,
                Err(e) => {
                    if matches!(e, Error::InsufficientStock { .. }) {
                        txn.kpi().till_sales_refused += 1;
                    }
                    return Err(txn.fail(e));
                }
            };
            txn.adjust(l.sku, loc, Field::OnHand, -l.qty);
            txn.event(EventKind::TillSale, l.sku, loc, l.qty, note);
            let part = PartRec {
                sku: l.sku,
                loc,
                qty: l.qty,
                scale: l.scale,
            };
            allocs.push(AllocRec {
                part,
                fulfilled: l.qty,
                cancelled: 0,
            });
        }
        txn.kpi().till_sales += 1;
        let changes = txn.commit(&Rec::TillSale {
            sale,
            channel,
            lines: Cow::Borrowed(host_lines),
        });
        let rec = OrderRec {
            channel: chan,
            transfers: Vec::new(),
            backorders: Vec::new(),
            in_transit: 0,
            origin: Origin::TillSale(lines),
            created_ms: now,
            allocs,
            closed_ms: None,
            reserve_hours: None,
            reserved_until: None,
        };
        let receipt = rec.receipt(false);
        oshard.map.insert(Key::new(sale), rec);
        self.order_touched(&mut oshard, sale, now);
        drop(oshard);
        self.publish(changes);
        Ok(receipt)
    }

    /// Ships or hands over allocated units: on_hand and allocated go down.
    /// All lines or none.
    ///
    /// Locking: the order's shard, then the SKU stripes (ascending).
    pub fn fulfil(&self, order: &str, lines: &[OrderLine<'_>]) -> Result<OrderView> {
        self.settle(order, lines, Settle::Fulfil)
    }

    /// Cancels allocated units: they become available again. All lines or none.
    ///
    /// Locking: the order's shard, then the SKU stripes (ascending).
    pub fn cancel(&self, order: &str, lines: &[OrderLine<'_>]) -> Result<OrderView> {
        self.settle(order, lines, Settle::Cancel)
    }

    /// Allocates an order's backordered units, each at the location it was
    /// promised from: first units that arrived with an expected receipt
    /// (set aside for backorders on arrival, so nobody else could take
    /// them), then stock free there now, as far as its available to promise
    /// (less what pool holds need) and the channel's availability allow.
    /// Units still not covered stay backordered. Returns the order.
    ///
    /// Locking: the order's shard, then the SKU stripes (ascending).
    pub fn fill_backorders(&self, order: &str) -> Result<OrderView> {
        check_id("order", order)?;
        let now = self.now_and_sweep();
        let mut shard = self.orders[self.order_shard(order)].0.lock();
        let rec = shard.rec_mut(order)?;
        let skus = rec.open_backorder_skus();
        if skus.is_empty() {
            return Ok(self.order_view(order, rec));
        }
        let topo = self.topo.load();
        let mut txn = Txn::begin(self, &skus, now);
        let note = Note {
            reason: "backorder",
            reference: Some(order),
        };
        let mut filled: SmallVec<[(usize, i64); 2]> = SmallVec::new();
        for (i, b) in rec.backorders.iter().enumerate() {
            if b.open() == 0 {
                continue;
            }
            // Units that arrived for backorders first (already allocated),
            // then stock that is free now.
            let arrived = txn
                .stock(b.sku)
                .cold(b.loc)
                .map_or(0, |c| c.backorder_arrived)
                .min(b.open());
            if arrived > 0 {
                txn.adjust(b.sku, b.loc, Field::BackorderArrived, -arrived);
                txn.event(EventKind::BackorderFilled, b.sku, b.loc, arrived, note);
            }
            let mut take = 0;
            if b.open() > arrived && !topo.is_closed(b.loc) {
                let stock = txn.stock(b.sku);
                let mut can = crate::pool::spare(&topo, stock, crate::pool::Set::Location(b.loc));
                if let Some(ch) = topo.channel(rec.channel) {
                    can = can.min(ch.available(&topo, stock));
                }
                take = (b.open() - arrived).min(can).max(0);
                if take > 0 {
                    txn.adjust(b.sku, b.loc, Field::Allocated, take);
                    txn.adjust(b.sku, b.loc, Field::Backordered, -take);
                    txn.event(EventKind::BackorderAllocated, b.sku, b.loc, take, note);
                }
            }
            if arrived + take > 0 {
                txn.kpi().more().units_backorder_filled +=
                    Qty::from_minor(arrived + take, b.scale).to_decimal();
                filled.push((i, arrived + take));
            }
        }
        if filled.is_empty() {
            txn.abandon();
            return Ok(self.order_view(order, rec));
        }
        let changes = txn.commit(&Rec::FillBackorders { order });
        for (i, take) in filled {
            let b = &mut rec.backorders[i];
            b.filled += take;
            let (sku, loc, scale) = (b.sku, b.loc, b.scale);
            rec.add_allocation(sku, loc, take, scale);
        }
        self.start_reservation(order, rec, now);
        let view = self.order_view(order, rec);
        self.order_touched(&mut shard, order, now);
        drop(shard);
        self.publish(changes);
        self.durable(Ok(view))
    }

    /// Cancels an order's open backorders: promises against receipts still
    /// incoming are dropped, units that arrived for them are released.
    ///
    /// Locking: the order's shard, then the SKU stripes (ascending).
    pub fn cancel_backorders(&self, order: &str) -> Result<OrderView> {
        check_id("order", order)?;
        let now = self.now_and_sweep();
        let mut shard = self.orders[self.order_shard(order)].0.lock();
        let rec = shard.rec_mut(order)?;
        let skus = rec.open_backorder_skus();
        if skus.is_empty() {
            return Ok(self.order_view(order, rec));
        }
        let mut txn = Txn::begin(self, &skus, now);
        let note = Note {
            reason: "",
            reference: Some(order),
        };
        for b in rec.backorders.iter().filter(|b| b.open() > 0) {
            // What is still incoming first; the rest arrived and was set
            // aside (allocated) for backorders: release it.
            let promised = txn.stock(b.sku).cold(b.loc).map_or(0, |c| c.backordered);
            let incoming = b.open().min(promised);
            if incoming > 0 {
                txn.adjust(b.sku, b.loc, Field::Backordered, -incoming);
                txn.event(EventKind::BackorderCancelled, b.sku, b.loc, incoming, note);
            }
            let arrived = b.open() - incoming;
            if arrived > 0 {
                txn.adjust(b.sku, b.loc, Field::Allocated, -arrived);
                txn.adjust(b.sku, b.loc, Field::BackorderArrived, -arrived);
                txn.event(
                    EventKind::BackorderCancelledArrived,
                    b.sku,
                    b.loc,
                    arrived,
                    note,
                );
            }
        }
        let changes = txn.commit(&Rec::CancelBackorders { order });
        for b in rec.backorders.iter_mut() {
            b.cancelled += b.open();
        }
        self.start_reservation(order, rec, now);
        let view = self.order_view(order, rec);
        self.order_touched(&mut shard, order, now);
        drop(shard);
        self.publish(changes);
        self.durable(Ok(view))
    }

    /// Cancels everything still open on an order: its allocations and its
    /// backorders.
    ///
    /// Locking: as `cancel`, then as `cancel_backorders`.
    pub fn cancel_order(&self, order: &str) -> Result<OrderView> {
        let view = self.order_info(order)?;
        if !view.backorders.is_empty() {
            self.cancel_backorders(order)?;
        }
        let view = self.order_info(order)?;
        let lines: Vec<(String, String, Qty)> = view
            .lines
            .iter()
            .filter_map(|(s, l, a, f, c)| {
                let open = Qty::from_decimal(a.to_decimal() - f.to_decimal() - c.to_decimal());
                (!open.is_zero()).then(|| (s.clone(), l.clone(), open))
            })
            .collect();
        if lines.is_empty() {
            return Ok(view);
        }
        let refs: Vec<OrderLine<'_>> = lines
            .iter()
            .map(|(s, l, q)| OrderLine::new(s, *q).at(l))
            .collect();
        self.cancel(order, &refs)
    }

    /// An order's state and lines (a closed order until its retention
    /// passes: `Config::order_retention_ms`).
    ///
    /// Locking: the order's shard (after a sweep when one is due).
    pub fn order_info(&self, order: &str) -> Result<OrderView> {
        self.now_and_sweep();
        let shard = self.orders[self.order_shard(order)].0.lock();
        let rec = shard.map.get(order).ok_or_else(|| Error::UnknownOrder {
            order: order.to_string(),
        })?;
        Ok(self.order_view(order, rec))
    }

    fn order_view(&self, id: &str, rec: &OrderRec) -> OrderView {
        let topo = self.topo.load();
        OrderView {
            id: id.to_string(),
            channel: topo
                .channel(rec.channel)
                .map(|c| c.key.to_string())
                .unwrap_or_default(),
            state: rec.state(),
            hold: match &rec.origin {
                Origin::Hold(h) | Origin::Routed(_, _, Some(h)) => Some(h.to_string()),
                Origin::TillSale(_) | Origin::Routed(_, _, None) => None,
            },
            created_at_ms: rec.created_ms,
            reserved_until_ms: rec.reserved_until,
            transfers: rec.transfers.iter().map(|t| t.to_string()).collect(),
            backorders: rec
                .backorders
                .iter()
                .filter(|b| b.open() > 0)
                .map(|b| Backorder {
                    sku: self.skus.name(b.sku).to_string(),
                    location: topo.location(b.loc).key.to_string(),
                    qty: Qty::from_minor(b.open(), b.scale),
                    promised_at_ms: b.due_ms,
                    preorder: b.preorder,
                })
                .collect(),
            lines: rec
                .allocs
                .iter()
                .map(|a| {
                    let q = |m| Qty::from_minor(m, a.part.scale);
                    (
                        self.skus.name(a.part.sku).to_string(),
                        topo.location(a.part.loc).key.to_string(),
                        q(a.part.qty),
                        q(a.fulfilled),
                        q(a.cancelled),
                    )
                })
                .collect(),
        }
    }

    /// Sets how long a click & reserve order's units stay at the store
    /// (`hours`; `None`: not a click & reserve order, or no longer one
    /// after a re-route) and starts that time now, unless units are still
    /// backordered ([`Engine::start_reservation`] starts it once none is).
    pub(crate) fn set_reservation(
        &self,
        order: &str,
        rec: &mut OrderRec,
        now: u64,
        hours: Option<u32>,
    ) {
        rec.reserve_hours = hours;
        rec.reserved_until = None;
        self.start_reservation(order, rec, now);
    }

    /// Starts a click & reserve order's time at the store at `now`, if it
    /// waits for it (nothing backordered any more), and queues its end.
    pub(crate) fn start_reservation(&self, order: &str, rec: &mut OrderRec, now: u64) {
        let Some(hours) = rec.reserve_hours else {
            return;
        };
        if rec.reserved_until.is_some() || rec.backorders.iter().any(|b| b.open() > 0) {
            return;
        }
        let until = now.saturating_add(u64::from(hours) * 3_600_000);
        rec.reserved_until = Some(until);
        self.queue_reservation(Key::new(order), until);
    }

    pub(crate) fn queue_reservation(&self, order: Key, until: u64) {
        self.reservations
            .lock()
            .push(std::cmp::Reverse((until, order)));
        self.note_due(until);
    }

    /// The click & reserve orders whose time at the store ended by `now`,
    /// taken off the queue, and when the next one ends. The sweep ends
    /// them ([`Engine::end_reservation`]) once it has released its locks.
    ///
    /// Locking: the reservation queue (a leaf), briefly.
    pub(crate) fn due_reservations(&self, now: u64) -> (Vec<(Key, u64)>, Option<u64>) {
        let mut queue = self.reservations.lock();
        let mut due = Vec::new();
        while let Some(std::cmp::Reverse((until, _))) = queue.peek() {
            if *until > now {
                return (due, Some(*until));
            }
            let std::cmp::Reverse((until, order)) = queue.pop().expect("peeked");
            due.push((order, until));
        }
        (due, None)
    }

    /// Ends a click & reserve order's time at the store: what is still
    /// allocated is cancelled as of `until` (events `allocation_cancelled`,
    /// reason `expiry`). Nothing happens when the order was re-routed to
    /// another time or method since, was purged, or has nothing open.
    /// `replay`: recovery applies the journal's record, whose order was
    /// due when it was written. Returns whether the order was busy (the
    /// caller queues it again).
    ///
    /// Locking: the order's shard (try-lock: the sweep runs at the start of
    /// operations, which may hold it), then the stripes of its SKUs
    /// (ascending).
    pub(crate) fn end_reservation(&self, order: &str, until: u64, replay: bool) -> bool {
        let shard = &self.orders[self.order_shard(order)].0;
        let mut shard = if replay {
            shard.lock()
        } else {
            match shard.try_lock() {
                Some(g) => g,
                None => return true,
            }
        };
        let Some(rec) = shard.map.get_mut(order) else {
            return false;
        };
        if !replay && rec.reserved_until != Some(until) {
            return false;
        }
        let open: SmallVec<[(usize, i64); 2]> = rec
            .allocs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.open() > 0)
            .map(|(i, a)| (i, a.open()))
            .collect();
        if open.is_empty() {
            return false;
        }
        let record = Rec::EndReservation { order };
        let changes = self
            .settle_plan(order, rec, &open, Settle::Cancel, "expiry", until, &record)
            .expect("a cancellation checks nothing");
        self.order_touched(&mut shard, order, until);
        drop(shard);
        self.publish(changes);
        false
    }

    /// Fulfils or cancels `plan` ((allocation index, units)) of `order`'s
    /// allocations in one transaction at `now`, its events noted with
    /// `reason` (empty: the kind's default) and journaled as `record`, then
    /// counts them on the order. A fulfilment needs the units on hand.
    ///
    /// Locking: the stripes of the planned SKUs (ascending); the caller
    /// holds the order's shard.
    #[allow(clippy::too_many_arguments)]
    fn settle_plan(
        &self,
        order: &str,
        rec: &mut OrderRec,
        plan: &[(usize, i64)],
        how: Settle,
        reason: &str,
        now: u64,
        record: &Rec<'_>,
    ) -> Result<Vec<crate::feed::Change>> {
        let skus: SmallVec<[SkuId; 4]> =
            plan.iter().map(|&(i, _)| rec.allocs[i].part.sku).collect();
        let mut txn = Txn::begin(self, &skus, now);
        let note = txn.note(Note {
            reason,
            reference: Some(order),
        });
        for &(i, take) in plan {
            let p = rec.allocs[i].part;
            if how == Settle::Fulfil {
                let on_hand = txn.stock(p.sku).get(p.loc).map_or(0, |l| l.on_hand);
                if on_hand < take {
                    return Err(txn.fail(self.insufficient(
                        p.sku,
                        Some(p.loc),
                        None,
                        take,
                        on_hand,
                        p.scale,
                    )));
                }
                txn.adjust(p.sku, p.loc, Field::OnHand, -take);
            }
            txn.adjust(p.sku, p.loc, Field::Allocated, -take);
            let kind = if how == Settle::Fulfil {
                EventKind::Fulfilled
            } else {
                EventKind::AllocationCancelled
            };
            txn.event_noted(kind, p.sku, p.loc, take, &note);
        }
        let changes = txn.commit(record);
        for &(i, take) in plan {
            match how {
                Settle::Fulfil => rec.allocs[i].fulfilled += take,
                Settle::Cancel => rec.allocs[i].cancelled += take,
            }
        }
        Ok(changes)
    }

    pub(crate) fn order_shard(&self, id: &str) -> usize {
        shard_index(id, self.orders.len())
    }

    /// After a change to `order` (its shard locked): if it closed, it is
    /// kept for the retention window and then purged by the sweep.
    pub(crate) fn order_touched(&self, shard: &mut OrderShard, order: &str, now: u64) {
        if let Some(due) = shard.closing(order, now, self.config.order_retention_ms) {
            self.note_due(due);
        }
    }

    fn settle(&self, order: &str, lines: &[OrderLine<'_>], how: Settle) -> Result<OrderView> {
        let now = self.now_and_sweep();
        check_id("order", order)?;
        let topo = self.topo.load();
        let resolved = self.resolve_lines(&topo, lines)?;
        drop(topo);
        let mut shard = self.orders[self.order_shard(order)].0.lock();
        let rec = shard.rec_mut(order)?;
        // Plan on a copy of the open quantities, so repeated lines add up
        // and nothing changes unless every line fits.
        let mut open: SmallVec<[i64; 4]> = rec.allocs.iter().map(AllocRec::open).collect();
        let mut plan: SmallVec<[(usize, i64); 4]> = SmallVec::new();
        for (r, l) in resolved.iter().zip(lines) {
            let (sku, loc, q) = (r.sku, r.loc, r.qty);
            let mut left = q;
            for (i, a) in rec.allocs.iter().enumerate() {
                if a.part.sku != sku || loc.is_some_and(|loc| loc != a.part.loc) || open[i] == 0 {
                    continue;
                }
                let take = open[i].min(left);
                open[i] -= take;
                left -= take;
                plan.push((i, take));
                if left == 0 {
                    break;
                }
            }
            if left > 0 {
                let scale = rec
                    .allocs
                    .iter()
                    .find(|a| a.part.sku == sku)
                    .map_or(0, |a| a.part.scale);
                return Err(Error::ExceedsOpenQuantity {
                    kind: IdKind::Order,
                    id: order.to_string(),
                    sku: l.sku.to_string(),
                    requested: l.qty,
                    remaining: Qty::from_minor(q - left, scale),
                });
            }
        }
        let record = Rec::Settle {
            fulfil: how == Settle::Fulfil,
            order,
            lines: Cow::Borrowed(lines),
        };
        let changes = self.settle_plan(order, rec, &plan, how, "", now, &record)?;
        let view = self.order_view(order, rec);
        self.order_touched(&mut shard, order, now);
        drop(shard);
        self.publish(changes);
        self.durable(Ok(view))
    }
}
