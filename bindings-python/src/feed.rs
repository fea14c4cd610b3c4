//! The change feed (mirrors `unistock::feed`): Python callables called with
//! a list of `Change` after every engine lock is released, on the thread
//! that made the change. A callback may call back into the engine.

use crate::convert::PyQty;
use crate::engine::Engine;
use crate::errors::{run, run_infallible};
use crate::ledger::{LedgerEntry, entry_out};
use crate::records::record;
use crate::stock::Levels;
use pyo3::prelude::*;
use unistock::Change as CoreChange;

record!(
    /// A derived change. `kind`: 'stock_changed' (sku, location, levels),
    /// 'availability_changed' (channel, sku, before, after),
    /// 'out_of_stock' or 'back_in_stock' (channel, sku).
    Change {
        kind: String,
        seq: u64,
        sku: String,
        location: Option<String>,
        channel: Option<String>,
        levels: Option<Levels>,
        before: Option<PyQty>,
        after: Option<PyQty>,
    }
);

fn change_out(c: &CoreChange) -> Change {
    Change {
        kind: c.kind().to_string(),
        seq: c.seq(),
        sku: c.sku().to_string(),
        location: c.location().map(str::to_string),
        channel: c.channel().map(str::to_string),
        levels: c.levels().map(Into::into),
        before: c.before_after().map(|(b, _)| PyQty(b)),
        after: c.before_after().map(|(_, a)| PyQty(a)),
    }
}

/// A subscription, for `Engine.unsubscribe`.
#[pyclass(frozen, module = "unistock")]
pub struct Subscription {
    id: unistock::SubscriptionId,
}

#[pymethods]
impl Subscription {
    fn __repr__(&self) -> String {
        format!("Subscription({:?})", self.id)
    }
}

#[pymethods]
impl Engine {
    /// Calls `callback(changes)` with the derived changes of every later
    /// mutation (only derived while someone is subscribed), with no engine
    /// lock held; the callback may call back into the engine. An exception
    /// in the callback is reported through `sys.unraisablehook`: the change
    /// stands, the caller gets its result and later changes are still
    /// delivered.
    ///
    /// Locking: the subscriber list (write), briefly.
    fn subscribe(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<Subscription> {
        if !callback.bind(py).is_callable() {
            return Err(crate::convert::arg_err(py, "callback", "must be callable"));
        }
        let e = &self.inner;
        let id = run_infallible(py, || {
            e.subscribe(move |changes: &[CoreChange]| {
                Python::attach(|py| {
                    let list: Vec<Change> = changes.iter().map(change_out).collect();
                    if let Err(err) = callback.call1(py, (list,)) {
                        err.write_unraisable(py, Some(callback.bind(py)));
                    }
                })
            })
        })?;
        Ok(Subscription { id })
    }

    /// A resumable feed of the ledger: calls `callback(entries)` with every
    /// ledger entry after sequence number `after` (the last one the host
    /// processed; 0 for all), oldest first and without gaps: first those
    /// already in the ledger (before this returns), then each later
    /// mutation's once it is acknowledged (in 'sync' mode: durable). After
    /// a restart the entries come back from the snapshot and the replayed
    /// journal, so storing the last `seq` processed resumes exactly there.
    /// Raises `LedgerTruncatedError` when the ledger no longer holds `after`.
    /// An exception in the callback is reported as `subscribe`'s are, and
    /// the batch it raised on counts as delivered: a subscriber that must
    /// not lose entries stores the last `seq` it finished and, after a
    /// failure, subscribes again from there.
    ///
    /// Locking: as `events_since`, per delivery; the subscriber list, briefly.
    fn subscribe_from(
        &self,
        py: Python<'_>,
        after: u64,
        callback: Py<PyAny>,
    ) -> PyResult<Subscription> {
        if !callback.bind(py).is_callable() {
            return Err(crate::convert::arg_err(py, "callback", "must be callable"));
        }
        let e = &self.inner;
        let id = run(py, || {
            e.subscribe_from(after, move |entries: &[unistock::LedgerEntry]| {
                Python::attach(|py| {
                    let list: Vec<LedgerEntry> = entries.iter().cloned().map(entry_out).collect();
                    if let Err(err) = callback.call1(py, (list,)) {
                        err.write_unraisable(py, Some(callback.bind(py)));
                    }
                })
            })
        })?;
        Ok(Subscription { id })
    }

    /// Stops a subscription; False when it was already stopped.
    ///
    /// Locking: the subscriber list (write), briefly.
    fn unsubscribe(
        &self,
        py: Python<'_>,
        subscription: &Bound<'_, Subscription>,
    ) -> PyResult<bool> {
        let id = subscription.get().id;
        let e = &self.inner;
        run_infallible(py, || e.unsubscribe(id))
    }
}
