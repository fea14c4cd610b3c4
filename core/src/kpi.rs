//! KPI counters. Each stripe keeps its own (updated under the stripe lock it
//! already holds, so counting costs no extra synchronisation); `Engine::kpis`
//! sums them.

use crate::engine::Engine;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Counters since the engine started (or since the snapshot it was restored from).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kpis {
    pub holds_created: u64,
    pub holds_committed: u64,
    pub holds_released: u64,
    pub holds_expired: u64,
    /// Holds refused for lack of stock: oversells prevented.
    pub holds_refused: u64,
    pub till_sales: u64,
    /// Till sales refused for lack of stock.
    pub till_sales_refused: u64,
    pub counts: u64,
    /// Sum of |counted - expected| over all counts, in units.
    pub count_variance_units: Decimal,
    /// Counts, write-offs or condition changes that revealed promised units
    /// beyond the sellable ones.
    pub shortages: u64,
    pub shortage_units: Decimal,
    pub transfers_dispatched: u64,
    pub transfers_received: u64,
    /// Orders placed from a routing plan.
    pub orders_placed: u64,
    /// Orders refused by routing or placing (no stock, no route).
    pub orders_refused: u64,
    /// Placed orders that ship from more than one location.
    pub orders_split: u64,
    /// Shipments from stock of placed orders.
    pub shipments: u64,
    /// Great-circle km of those shipments, summed (metre precision).
    pub shipping_km: Decimal,
    /// Units ordered in placed orders, and of them allocated from stock
    /// and backordered against expected receipts.
    pub units_ordered: Decimal,
    pub units_placed: Decimal,
    pub units_backordered: Decimal,
    /// Of the backordered units, those of SKUs not in stock anywhere the
    /// channel sells from (preorders).
    #[serde(default)]
    pub units_preordered: Decimal,
    /// Placed orders with at least one backordered or preordered line.
    #[serde(default)]
    pub orders_backordered: u64,
    /// Backordered units later allocated from stock (`fill_backorders`).
    #[serde(default)]
    pub units_backorder_filled: Decimal,
    /// Orders re-routed.
    pub reroutes: u64,
}

impl Kpis {
    /// Adds `o` field by field, touching only the fields `o` changes (a
    /// transaction usually moves one counter, so a stripe's counters stay
    /// mostly unread).
    pub(crate) fn add(&mut self, o: &Kpis) {
        macro_rules! add {
            ($($f:ident),*) => {$(
                if o.$f != 0 {
                    self.$f += o.$f;
                }
            )*};
        }
        add!(
            holds_created,
            holds_committed,
            holds_released,
            holds_expired,
            holds_refused,
            till_sales,
            till_sales_refused,
            counts,
            shortages,
            transfers_dispatched,
            transfers_received,
            orders_placed,
            orders_refused,
            orders_split,
            shipments,
            orders_backordered,
            reroutes
        );
        for (mine, theirs) in [
            (&mut self.shipping_km, &o.shipping_km),
            (&mut self.units_ordered, &o.units_ordered),
            (&mut self.units_placed, &o.units_placed),
            (&mut self.units_backordered, &o.units_backordered),
            (&mut self.units_preordered, &o.units_preordered),
            (&mut self.units_backorder_filled, &o.units_backorder_filled),
        ] {
            if !theirs.is_zero() {
                *mine += *theirs;
            }
        }
        if !o.count_variance_units.is_zero() {
            self.count_variance_units += o.count_variance_units;
        }
        if !o.shortage_units.is_zero() {
            self.shortage_units += o.shortage_units;
        }
    }

    /// Requests refused because they would have oversold.
    pub fn oversells_prevented(&self) -> u64 {
        self.holds_refused + self.till_sales_refused
    }

    /// Units placed from stock over units ordered (`None` before the first
    /// placed order).
    pub fn fill_rate(&self) -> Option<f64> {
        (!self.units_ordered.is_zero())
            .then(|| f64::try_from(self.units_placed / self.units_ordered).unwrap_or(0.0))
    }

    /// Split orders over placed orders.
    pub fn split_rate(&self) -> Option<f64> {
        (self.orders_placed > 0).then(|| self.orders_split as f64 / self.orders_placed as f64)
    }

    /// Average km per shipment.
    pub fn average_shipping_km(&self) -> Option<f64> {
        (self.shipments > 0)
            .then(|| f64::try_from(self.shipping_km).unwrap_or(0.0) / self.shipments as f64)
    }

    /// Committed holds over created holds (`None` before the first hold).
    pub fn hold_conversion(&self) -> Option<f64> {
        (self.holds_created > 0).then(|| self.holds_committed as f64 / self.holds_created as f64)
    }
}

/// A transaction's KPI counts, added to its stripe's `Kpis` when it ends.
/// The counters of holds and till sales sit inline (the hot path touches
/// one of them); the rest, which routing, counts and transfers move, are
/// boxed on first use, so a hold's transaction stays small and cheap to
/// start and flush.
#[derive(Default)]
pub(crate) struct TxnKpis {
    pub holds_created: u64,
    pub holds_committed: u64,
    pub holds_released: u64,
    pub holds_expired: u64,
    pub holds_refused: u64,
    pub till_sales: u64,
    pub till_sales_refused: u64,
    pub orders_refused: u64,
    rest: Option<Box<Kpis>>,
}

impl TxnKpis {
    /// The other counters (allocated on first use).
    pub(crate) fn more(&mut self) -> &mut Kpis {
        self.rest.get_or_insert_with(Default::default)
    }

    /// Adds the counts to `k` and zeroes them.
    #[inline]
    pub(crate) fn flush_into(&mut self, k: &mut Kpis) {
        // Unconditional adds: cheaper than testing eight fields first.
        k.holds_created += self.holds_created;
        k.holds_committed += self.holds_committed;
        k.holds_released += self.holds_released;
        k.holds_expired += self.holds_expired;
        k.holds_refused += self.holds_refused;
        k.till_sales += self.till_sales;
        k.till_sales_refused += self.till_sales_refused;
        k.orders_refused += self.orders_refused;
        if let Some(rest) = self.rest.take() {
            k.add(&rest);
        }
        *self = TxnKpis::default();
    }
}

impl Engine {
    /// The KPI counters.
    ///
    /// Locking: each stripe in turn, briefly (not a consistent cut across stripes).
    pub fn kpis(&self) -> Kpis {
        let mut k = Kpis::default();
        for s in self.stripes.iter() {
            k.add(&s.0.lock().kpi);
        }
        k
    }
}
