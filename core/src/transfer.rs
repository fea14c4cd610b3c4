//! Transfers between locations: dispatch moves units out of the source's
//! on_hand into the destination's in_transit; receipt lands them in the
//! destination's on_hand; cancellation returns what is still in transit.

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
}

#[derive(Default)]
pub(crate) struct TransferTable {
    pub map: FastMap<Key, TransferRec>,
}

impl TransferTable {
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
        if q <= atp && !stock.cold.pool().is_empty() && !topo.is_closed(f) {
            // Pool holds may need these units: only what they can spare.
            let flow = crate::pool::Flow::build(&topo, stock, &[], None, &[f]);
            atp = crate::pool::headroom_at(&topo, stock, flow.as_ref(), &[f]);
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
        txn.kpi.transfers_dispatched += 1;
        let rec = TransferRec {
            sku: sid,
            scale,
            from: f,
            to: t,
            qty: q,
            received: 0,
            state: TransferState::InTransit,
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
                        order: id.to_string(),
                        sku: name.to_string(),
                        requested: qty,
                        remaining: Qty::from_minor(left, rec.scale),
                    });
                }
                q
            }
        };
        let mut txn = Txn::begin(self, &[rec.sku], now);
        txn.adjust(rec.sku, rec.to, Field::InTransit, -q);
        txn.adjust(rec.sku, rec.to, Field::OnHand, q);
        txn.event(
            EventKind::TransferArrived,
            rec.sku,
            rec.to,
            q,
            Note {
                reason: "",
                reference: Some(id),
            },
        );
        rec.received += q;
        if rec.received == rec.qty {
            rec.state = TransferState::Received;
            txn.kpi.transfers_received += 1;
        }
        let view = self.transfer_view(id, rec);
        drop(table);
        self.finish(txn, &Rec::ReceiveTransfer { id, qty });
        self.durable(Ok(view))
    }

    /// Cancels a transfer: what is still in transit returns to the source.
    pub fn cancel_transfer(&self, id: &str) -> Result<TransferView> {
        let now = self.now_and_sweep();
        let mut table = self.transfers.lock();
        let rec = table.open(id)?;
        let left = rec.qty - rec.received;
        let mut txn = Txn::begin(self, &[rec.sku], now);
        let note = Note {
            reason: "",
            reference: Some(id),
        };
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
        drop(table);
        self.finish(txn, &Rec::CancelTransfer { id });
        self.durable(Ok(view))
    }

    /// A transfer's state.
    pub fn transfer_info(&self, id: &str) -> Result<TransferView> {
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
        }
    }
}
