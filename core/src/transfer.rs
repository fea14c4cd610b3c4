//! Transfers between locations: dispatch moves units out of the source's
//! on_hand into the destination's in_transit; receipt lands them in the
//! destination's on_hand; cancellation returns what is still in transit.
//!
//! # Click & collect transfers
//!
//! Placing an order whose plan sends units to the pickup store by transfer
//! creates one *planned* transfer per line (id `<order>/<n>`), linked to
//! the order; the units stay allocated to the order at the source. The host
//! dispatches it with the same content when the source picks: the order's
//! units leave the source (its line there counts them as fulfilled) and
//! travel to the store; receipt lands them at the store already allocated
//! to the order (a new line there), so no walk-in customer can buy them,
//! and the order is handed over with `fulfil` at the store. Cancelling a
//! planned transfer leaves the units allocated at the source; cancelling
//! one in transit returns them to the source, still allocated to the
//! order. A re-route cancels the order's planned transfers.

use crate::durable::rec::Rec;
use crate::engine::{Engine, Field, Note, Txn};
use crate::error::{Error, IdKind, Result};
use crate::ids::{FastMap, Key, LocationId, SkuId, check_id};
use crate::ledger::EventKind;
use crate::qty::Qty;
use serde::{Deserialize, Serialize};

/// Where a transfer is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Created for a click & collect order, not yet dispatched.
    Planned,
    InTransit,
    Received,
    Cancelled,
}

/// A transfer as hosts read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub id: String,
    pub sku: String,
    pub from: String,
    pub to: String,
    pub qty: Qty,
    pub received: Qty,
    pub state: TransferState,
    /// The click & collect order it was planned for.
    pub order: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TransferRec {
    pub sku: SkuId,
    pub scale: u8,
    pub from: LocationId,
    pub to: LocationId,
    pub qty: i64,
    pub received: i64,
    pub state: TransferState,
    /// The click & collect order it was planned for.
    #[serde(default)]
    pub order: Option<Key>,
    /// When it was received in full or cancelled (see
    /// [`crate::Config::transfer_retention_ms`]).
    #[serde(default)]
    pub ended_ms: Option<u64>,
}

impl TransferRec {
    fn ended(&self) -> bool {
        matches!(
            self.state,
            TransferState::Received | TransferState::Cancelled
        )
    }
}

#[derive(Default)]
pub(crate) struct TransferTable {
    pub map: FastMap<Key, TransferRec>,
    /// Ended transfers by purge time (FIFO: retention is one constant).
    purges: std::collections::VecDeque<(u64, Key)>,
}

impl TransferTable {
    /// Ends a transfer (received in full, or cancelled) at `now`: it is kept
    /// for `retention`, then purged. Returns the purge time.
    fn end(&mut self, id: &str, state: TransferState, now: u64, retention: u64) -> Option<u64> {
        let rec = self.map.get_mut(id)?;
        rec.state = state;
        rec.ended_ms = Some(now);
        Some(self.queue_purge(Key::new(id), now, retention))
    }

    /// Queues the purge of a transfer ended at `ended_ms`; returns when it is
    /// due. Purges must be queued in ending order.
    pub(crate) fn queue_purge(&mut self, id: Key, ended_ms: u64, retention: u64) -> u64 {
        let due = ended_ms.saturating_add(retention);
        self.purges.push_back((due, id));
        due
    }

    /// Purges the ended transfers due at `now`; returns the next purge time.
    pub(crate) fn purge_due(&mut self, now: u64) -> Option<u64> {
        while let Some((due, id)) = self.purges.front() {
            if *due > now {
                return Some(*due);
            }
            if self.map.get(id).is_some_and(TransferRec::ended) {
                self.map.remove(id);
            }
            self.purges.pop_front();
        }
        None
    }

    /// Drops the transfers of purged orders that are still planned: a
    /// closed order has no open allocation left for them to carry, so they
    /// can never be dispatched. (Nothing moved; no event.)
    pub(crate) fn drop_planned(&mut self, ids: &[Key]) {
        for id in ids {
            if self
                .map
                .get(id)
                .is_some_and(|r| r.state == TransferState::Planned)
            {
                self.map.remove(id);
            }
        }
    }

    /// Puts restored transfers back, the ended ones in the purge queue in
    /// ending order (a snapshot from before ending times were kept: ended
    /// at `now`). Returns the earliest purge time.
    pub(crate) fn restore(
        &mut self,
        transfers: impl IntoIterator<Item = (Key, TransferRec)>,
        now: u64,
        retention: u64,
    ) -> Option<u64> {
        let mut ended: Vec<(u64, Key)> = Vec::new();
        for (key, mut rec) in transfers {
            if rec.ended() {
                let at = *rec.ended_ms.get_or_insert(now);
                ended.push((at, key.clone()));
            }
            self.map.insert(key, rec);
        }
        ended.sort_unstable();
        let first = ended.first().map(|(at, _)| at.saturating_add(retention));
        for (at, key) in ended {
            self.queue_purge(key, at, retention);
        }
        first
    }

    /// A transfer that is still in transit.
    fn open(&mut self, id: &str) -> Result<&mut TransferRec> {
        let rec = self.map.get_mut(id).ok_or_else(|| Error::UnknownTransfer {
            transfer: id.to_string(),
        })?;
        if rec.state != TransferState::InTransit {
            return Err(Error::TransferNotOpen {
                transfer: id.to_string(),
            });
        }
        Ok(rec)
    }
}

/// Transfers take the transfer table's mutex, then the SKU's stripe.
impl Engine {
    /// Dispatches `qty` of `sku` from `from` to `to`. The id is the
    /// idempotency key: the same content returns the transfer again.
    pub fn dispatch_transfer(
        &self,
        id: &str,
        sku: &str,
        from: &str,
        to: &str,
        qty: Qty,
    ) -> Result<TransferView> {
        check_id("transfer", id)?;
        let (sid, scale) = self.sku_id(sku)?;
        let (f, t) = (self.location_id(from)?, self.location_id(to)?);
        if f == t {
            return Err(Error::arg("to", "must differ from `from`"));
        }
        let q = qty
            .to_positive_minor(scale)
            .map_err(|p| Error::qty(sku, qty, p))?;
        let now = self.now_and_sweep();
        let mut table = self.transfers.lock();
        if let Some(rec) = table.map.get(id) {
            return if (rec.sku, rec.from, rec.to, rec.qty) == (sid, f, t, q) {
                if rec.state == TransferState::Planned {
                    return self.dispatch_planned(&mut table, id, (sku, from, to, qty), now);
                }
                Ok(self.transfer_view(id, rec))
            } else {
                Err(Error::IdConflict {
                    kind: IdKind::Transfer,
                    id: id.to_string(),
                })
            };
        }
        let mut txn = Txn::begin(self, &[sid], now);
        let stock = txn.stock(sid);
        let mut atp = stock.atp(f);
        let topo = self.topo.load();
        if q <= atp && stock.has_pool() && !topo.is_closed(f) {
            // Pool holds may need these units: only what they can spare.
            atp = crate::pool::spare(&topo, stock, crate::pool::Set::Location(f));
        }
        if q > atp {
            return Err(txn.fail(self.insufficient(sid, Some(f), None, q, atp, scale)));
        }
        let note = Note {
            reason: "",
            reference: Some(id),
        };
        txn.adjust(sid, f, Field::OnHand, -q);
        txn.event(EventKind::TransferDispatched, sid, f, q, note);
        txn.adjust(sid, t, Field::InTransit, q);
        txn.event(EventKind::TransferInbound, sid, t, q, note);
        txn.kpi().more().transfers_dispatched += 1;
        let rec = TransferRec {
            sku: sid,
            scale,
            from: f,
            to: t,
            qty: q,
            received: 0,
            state: TransferState::InTransit,
            order: None,
            ended_ms: None,
        };
        let view = self.transfer_view(id, &rec);
        table.map.insert(Key::new(id), rec);
        drop(table);
        self.finish(
            txn,
            &Rec::Dispatch {
                id,
                sku,
                from,
                to,
                qty,
            },
        );
        self.durable(Ok(view))
    }

    /// Receives a transfer at its destination: all that is still in
    /// transit, or `qty` of it.
    pub fn receive_transfer(&self, id: &str, qty: Option<Qty>) -> Result<TransferView> {
        let now = self.now_and_sweep();
        let mut table = self.transfers.lock();
        let rec = table.open(id)?;
        let left = rec.qty - rec.received;
        let q = match qty {
            None => left,
            Some(qty) => {
                let name = self.skus.name(rec.sku);
                let q = qty
                    .to_positive_minor(rec.scale)
                    .map_err(|p| Error::qty(&name, qty, p))?;
                if q > left {
                    return Err(Error::ExceedsOpenQuantity {
                        kind: IdKind::Transfer,
                        id: id.to_string(),
                        sku: name.to_string(),
                        requested: qty,
                        remaining: Qty::from_minor(left, rec.scale),
                    });
                }
                q
            }
        };
        // An order's units land allocated to it.
        let mut oshard = rec
            .order
            .as_ref()
            .map(|o| self.orders[self.order_shard(o)].0.lock());
        let mut txn = Txn::begin(self, &[rec.sku], now);
        let note = Note {
            reason: "",
            reference: Some(id),
        };
        txn.adjust(rec.sku, rec.to, Field::InTransit, -q);
        txn.adjust(rec.sku, rec.to, Field::OnHand, q);
        txn.event(EventKind::TransferArrived, rec.sku, rec.to, q, note);
        if let (Some(order), Some(shard)) = (&rec.order, oshard.as_mut()) {
            let orec = shard.rec_mut(order)?;
            txn.adjust(rec.sku, rec.to, Field::Allocated, q);
            txn.event(EventKind::Placed, rec.sku, rec.to, q, note);
            orec.in_transit -= q;
            orec.add_allocation(rec.sku, rec.to, q, rec.scale);
        }
        rec.received += q;
        let received = rec.received == rec.qty;
        if received {
            rec.state = TransferState::Received;
            txn.kpi().more().transfers_received += 1;
        }
        let view = self.transfer_view(id, rec);
        if received {
            self.transfer_ended(&mut table, id, TransferState::Received, now);
        }
        drop(oshard);
        drop(table);
        self.finish(txn, &Rec::ReceiveTransfer { id, qty });
        self.durable(Ok(view))
    }

    /// Cancels a transfer: what is still in transit returns to the source.
    pub fn cancel_transfer(&self, id: &str) -> Result<TransferView> {
        let now = self.now_and_sweep();
        let mut table = self.transfers.lock();
        if let Some(rec) = table.map.get_mut(id)
            && rec.state == TransferState::Planned
        {
            // Nothing moved yet: the units stay allocated at the source.
            let mut txn = Txn::begin(self, &[rec.sku], now);
            let note = Note {
                reason: "",
                reference: Some(id),
            };
            txn.event(
                EventKind::TransferCancelled,
                rec.sku,
                rec.from,
                rec.qty,
                note,
            );
            rec.state = TransferState::Cancelled;
            let view = self.transfer_view(id, rec);
            self.transfer_ended(&mut table, id, TransferState::Cancelled, now);
            drop(table);
            self.finish(txn, &Rec::CancelTransfer { id });
            return self.durable(Ok(view));
        }
        let rec = table.open(id)?;
        let left = rec.qty - rec.received;
        // An order's units return to the source still allocated to it.
        let mut oshard = rec
            .order
            .as_ref()
            .map(|o| self.orders[self.order_shard(o)].0.lock());
        let mut txn = Txn::begin(self, &[rec.sku], now);
        let note = Note {
            reason: "",
            reference: Some(id),
        };
        if let (Some(order), Some(shard)) = (&rec.order, oshard.as_mut()) {
            let orec = shard.rec_mut(order)?;
            txn.adjust(rec.sku, rec.from, Field::Allocated, left);
            txn.event(EventKind::Placed, rec.sku, rec.from, left, note);
            orec.in_transit -= left;
            orec.add_allocation(rec.sku, rec.from, left, rec.scale);
        }
        txn.adjust(rec.sku, rec.to, Field::InTransit, -left);
        txn.event(
            EventKind::TransferCancelledInbound,
            rec.sku,
            rec.to,
            left,
            note,
        );
        txn.adjust(rec.sku, rec.from, Field::OnHand, left);
        txn.event(EventKind::TransferReturned, rec.sku, rec.from, left, note);
        rec.state = TransferState::Cancelled;
        let view = self.transfer_view(id, rec);
        self.transfer_ended(&mut table, id, TransferState::Cancelled, now);
        drop(oshard);
        drop(table);
        self.finish(txn, &Rec::CancelTransfer { id });
        self.durable(Ok(view))
    }

    /// Dispatches a planned click & collect transfer: the order's units at
    /// the source leave (its line there counts them as fulfilled) and go
    /// in transit to the pickup store.
    ///
    /// Locking: (the transfer table, held by the caller), the order's
    /// shard, the SKU's stripe.
    fn dispatch_planned(
        &self,
        table: &mut TransferTable,
        id: &str,
        (sku, from, to, qty): (&str, &str, &str, Qty),
        now: u64,
    ) -> Result<TransferView> {
        let rec = table.map.get_mut(id).expect("the caller found it");
        let order = rec
            .order
            .clone()
            .expect("planned transfers belong to an order");
        let mut shard = self.orders[self.order_shard(&order)].0.lock();
        let orec = shard.rec_mut(&order)?;
        let open: i64 = orec
            .allocs
            .iter()
            .filter(|a| a.part.sku == rec.sku && a.part.loc == rec.from)
            .map(|a| a.part.qty - a.fulfilled - a.cancelled)
            .sum();
        if open < rec.qty {
            return Err(Error::ExceedsOpenQuantity {
                kind: IdKind::Order,
                id: order.to_string(),
                sku: sku.to_string(),
                requested: qty,
                remaining: Qty::from_minor(open, rec.scale),
            });
        }
        let mut txn = Txn::begin(self, &[rec.sku], now);
        let on_hand = txn.stock(rec.sku).get(rec.from).map_or(0, |l| l.on_hand);
        if on_hand < rec.qty {
            let e = self.insufficient(rec.sku, Some(rec.from), None, rec.qty, on_hand, rec.scale);
            return Err(txn.fail(e));
        }
        let note = Note {
            reason: "transfer",
            reference: Some(id),
        };
        txn.adjust(rec.sku, rec.from, Field::OnHand, -rec.qty);
        txn.adjust(rec.sku, rec.from, Field::Allocated, -rec.qty);
        txn.event(EventKind::Fulfilled, rec.sku, rec.from, rec.qty, note);
        txn.adjust(rec.sku, rec.to, Field::InTransit, rec.qty);
        txn.event(EventKind::TransferInbound, rec.sku, rec.to, rec.qty, note);
        txn.kpi().more().transfers_dispatched += 1;
        let mut left = rec.qty;
        for a in orec
            .allocs
            .iter_mut()
            .filter(|a| a.part.sku == rec.sku && a.part.loc == rec.from)
        {
            let take = (a.part.qty - a.fulfilled - a.cancelled).min(left);
            a.fulfilled += take;
            left -= take;
        }
        orec.in_transit += rec.qty;
        rec.state = TransferState::InTransit;
        let view = self.transfer_view(id, rec);
        drop(shard);
        self.finish(
            txn,
            &Rec::Dispatch {
                id,
                sku,
                from,
                to,
                qty,
            },
        );
        self.durable(Ok(view))
    }

    /// Creates the planned transfers of a placed plan's click & collect
    /// shipments (one per line, ids `<order>/<n>`) and their events.
    /// Called with the transfer table and the order's shard locked, inside
    /// the placement's transaction.
    pub(crate) fn plan_transfers(
        &self,
        table: &mut TransferTable,
        txn: &mut Txn<'_>,
        order: &str,
        orec: &mut crate::order::OrderRec,
        parts: &[(LocationId, LocationId, SkuId, i64, u8)],
    ) {
        for &(from, to, sku, qty, scale) in parts {
            let mut n = orec.transfers.len() + 1;
            let id = loop {
                let id = format!("{order}/{n}");
                if !table.map.contains_key(id.as_str()) {
                    break id;
                }
                n += 1;
            };
            let note = Note {
                reason: "",
                reference: Some(&id),
            };
            txn.event(EventKind::TransferPlanned, sku, from, qty, note);
            table.map.insert(
                Key::new(&id),
                TransferRec {
                    sku,
                    scale,
                    from,
                    to,
                    qty,
                    received: 0,
                    state: TransferState::Planned,
                    order: Some(Key::new(order)),
                    ended_ms: None,
                },
            );
            orec.transfers.push(Key::new(&id));
        }
    }

    /// Cancels an order's planned transfers (a re-route replaces them).
    pub(crate) fn cancel_planned_transfers(
        &self,
        table: &mut TransferTable,
        txn: &mut Txn<'_>,
        orec: &crate::order::OrderRec,
    ) {
        for id in &orec.transfers {
            if let Some(rec) = table.map.get_mut(id.as_str())
                && rec.state == TransferState::Planned
            {
                let note = Note {
                    reason: "reroute",
                    reference: Some(id),
                };
                txn.event(
                    EventKind::TransferCancelled,
                    rec.sku,
                    rec.from,
                    rec.qty,
                    note,
                );
                self.transfer_ended(table, id, TransferState::Cancelled, txn.now());
            }
        }
    }

    /// Ends a transfer (its table locked) and has the sweep purge it once
    /// `Config::transfer_retention_ms` has passed.
    fn transfer_ended(&self, table: &mut TransferTable, id: &str, state: TransferState, now: u64) {
        if let Some(due) = table.end(id, state, now, self.config.transfer_retention_ms) {
            self.note_due(due);
        }
    }

    /// A transfer's state (an ended one until its retention has passed).
    ///
    /// Locking: the transfer table.
    pub fn transfer_info(&self, id: &str) -> Result<TransferView> {
        self.now_and_sweep();
        let table = self.transfers.lock();
        let rec = table.map.get(id).ok_or_else(|| Error::UnknownTransfer {
            transfer: id.to_string(),
        })?;
        Ok(self.transfer_view(id, rec))
    }

    fn transfer_view(&self, id: &str, rec: &TransferRec) -> TransferView {
        let topo = self.topo.load();
        TransferView {
            id: id.to_string(),
            sku: self.skus.name(rec.sku).to_string(),
            from: topo.location(rec.from).key.to_string(),
            to: topo.location(rec.to).key.to_string(),
            qty: Qty::from_minor(rec.qty, rec.scale),
            received: Qty::from_minor(rec.received, rec.scale),
            state: rec.state,
            order: rec.order.as_ref().map(|o| o.to_string()),
        }
    }
}
