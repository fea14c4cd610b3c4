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
            transfers_received
        );
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

    /// Committed holds over created holds (`None` before the first hold).
    pub fn hold_conversion(&self) -> Option<f64> {
        (self.holds_created > 0).then(|| self.holds_committed as f64 / self.holds_created as f64)
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
