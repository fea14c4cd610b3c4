//! The ledger (mirrors `unistock::ledger`).

use crate::convert::{JsQty, JsTime, int_in, is_nullish};
use crate::engine::Engine;
use crate::errors::{enum_name, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use unistock::EventKind;

/// One ledger event. `kind` is e.g. `'received'`, `'reserved'`,
/// `'till_sale'`, or `'marked_unsellable:damaged'` for kinds that carry a
/// condition.
#[napi(object, object_from_js = false)]
pub struct LedgerEntry {
    pub seq: BigInt,
    #[napi(ts_type = "Date")]
    pub at: JsTime,
    pub kind: String,
    pub sku: Option<String>,
    pub location: Option<String>,
    #[napi(ts_type = "Quantity")]
    pub qty: JsQty,
    pub reason: String,
    pub reference: String,
}

pub(crate) fn entry_out(v: unistock::LedgerEntry) -> LedgerEntry {
    LedgerEntry {
        seq: BigInt::from(v.seq),
        at: JsTime(v.at_ms),
        kind: kind_name(v.kind),
        sku: v.sku,
        location: v.location,
        qty: JsQty(v.qty),
        reason: v.reason,
        reference: v.reference,
    }
}

pub(crate) fn kind_name(k: EventKind) -> String {
    match k {
        EventKind::WrittenOffUnsellable(c) => format!("written_off_unsellable:{}", enum_name(&c)),
        EventKind::MarkedUnsellable(c) => format!("marked_unsellable:{}", enum_name(&c)),
        EventKind::RestoredSellable(c) => format!("restored_sellable:{}", enum_name(&c)),
        other => enum_name(&other),
    }
}

#[napi]
impl Engine {
    /// Events with a sequence number above `after`, oldest first, at most
    /// `limit` (default 1000). Only a gap-free run is returned; call again
    /// from the last `seq`. Throws `E_LEDGER_TRUNCATED` when events after
    /// `after` are no longer retained.
    ///
    /// Locking: each stripe in turn, then the meta-ledger.
    #[napi(
        catch_unwind,
        ts_args_type = "after?: bigint | number | undefined | null, limit?: number | undefined | null"
    )]
    pub fn events_since(
        &self,
        env: Env,
        after: Option<Unknown<'_>>,
        limit: Option<Unknown<'_>>,
    ) -> Result<Vec<LedgerEntry>> {
        wrap(&env, || {
            let after = match after.filter(|v| !is_nullish(v)) {
                None => 0,
                Some(v) => crate::convert::seq_in(&v, "after")?,
            };
            let limit = match limit.filter(|v| !is_nullish(v)) {
                None => 1000,
                Some(v) => int_in(&v, "limit", 1.0, 1e9)? as usize,
            };
            Ok(self
                .inner
                .events_since(after, limit)?
                .into_iter()
                .map(entry_out)
                .collect())
        })
    }

    /// Audits the engine: true when the ledger folds to exactly the live
    /// levels. Needs the whole ledger (`ledgerRetention: null`).
    ///
    /// Locking: each stripe in turn, then every stripe at once.
    #[napi(catch_unwind)]
    pub fn verify_ledger(&self, env: Env) -> Result<bool> {
        wrap(&env, || self.inner.verify_ledger())
    }
}
