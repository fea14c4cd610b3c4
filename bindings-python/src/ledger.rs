//! The ledger (mirrors `unistock::ledger`).

use crate::convert::{Ms, PyQty};
use crate::engine::Engine;
use crate::errors::{run, snake};
use crate::records::record;
use pyo3::prelude::*;
use unistock::EventKind;

record!(
    /// One ledger event: what changed, by how much, why, and the host's
    /// reference. `kind` is e.g. 'received', 'reserved', 'till_sale', or
    /// 'marked_unsellable:damaged' for kinds that carry a condition.
    LedgerEntry {
        seq: u64,
        at: Ms,
        kind: String,
        sku: Option<String>,
        location: Option<String>,
        qty: PyQty,
        reason: String,
        reference: String,
    }
);

pub(crate) fn entry_out(v: unistock::LedgerEntry) -> LedgerEntry {
    LedgerEntry {
        seq: v.seq,
        at: Ms(v.at_ms),
        kind: kind_name(v.kind),
        sku: v.sku,
        location: v.location,
        qty: PyQty(v.qty),
        reason: v.reason,
        reference: v.reference,
    }
}

pub(crate) fn kind_name(k: EventKind) -> String {
    match k {
        EventKind::WrittenOffUnsellable(c) => format!("written_off_unsellable:{}", snake(&c)),
        EventKind::MarkedUnsellable(c) => format!("marked_unsellable:{}", snake(&c)),
        EventKind::RestoredSellable(c) => format!("restored_sellable:{}", snake(&c)),
        other => snake(&other),
    }
}

#[pymethods]
impl Engine {
    /// Events with a sequence number above `after`, oldest first, at most
    /// `limit`. Only a gap-free run is returned; call again from the last
    /// `seq` to continue. Raises `LedgerTruncatedError` when events after
    /// `after` are no longer retained.
    ///
    /// Locking: each stripe in turn, then the meta-ledger.
    #[pyo3(signature = (after=0, limit=1000))]
    fn events_since(&self, py: Python<'_>, after: u64, limit: usize) -> PyResult<Vec<LedgerEntry>> {
        let e = &self.inner;
        Ok(run(py, || e.events_since(after, limit))?
            .into_iter()
            .map(entry_out)
            .collect())
    }

    /// Audits the engine: True when the ledger folds to exactly the live
    /// levels. Needs the whole ledger (`ledger_retention=None`), else
    /// raises `LedgerTruncatedError`.
    ///
    /// Locking: each stripe in turn, then every stripe at once.
    fn verify_ledger(&self, py: Python<'_>) -> PyResult<bool> {
        let e = &self.inner;
        run(py, || e.verify_ledger())
    }
}
