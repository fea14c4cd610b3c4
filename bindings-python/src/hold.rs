//! Holds: carts, checkouts, click & reserve (mirrors `unistock::hold`).

use crate::convert::{
    Ms, OwnedLine, PyQty, arg_err, hold_lines, id_in, ids_in, lines_in, opt_id_in, qty_in,
    seq_items, time_in, ttl_in,
};
use crate::engine::Engine;
use crate::errors::{exception, run, run_infallible};
use crate::records::record;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use unistock::HoldRequest;

/// One line of a hold, till sale or order change: a SKU, a quantity and
/// optionally the location it must come from. A tuple `(sku, qty)` or
/// `(sku, qty, location)` works as well.
#[pyclass(frozen, eq, module = "unistock", get_all)]
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub sku: String,
    pub qty: PyQty,
    pub location: Option<String>,
}

#[pymethods]
impl Line {
    #[new]
    #[pyo3(signature = (sku, qty, location=None))]
    fn new(
        sku: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        location: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let sku = id_in(sku, "sku")?;
        let qty = PyQty(qty_in(qty, &sku)?);
        Ok(Line {
            sku,
            qty,
            location: opt_id_in(location, "location")?,
        })
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let qty = self.qty.into_bound_py_any(py)?.repr()?;
        let sku = self.sku.clone().into_bound_py_any(py)?.repr()?;
        Ok(match &self.location {
            Some(l) => format!(
                "Line({sku}, {qty}, {})",
                l.clone().into_bound_py_any(py)?.repr()?
            ),
            None => format!("Line({sku}, {qty})"),
        })
    }
}

record!(
    /// Units held or allocated at one location.
    Part {
        sku: String,
        location: String,
        qty: PyQty,
    }
);

record!(
    /// What a granted hold holds. `replayed` is True when a retry with the
    /// same id and content got the original result back.
    HoldReceipt {
        hold: String,
        expires_at: Ms,
        replayed: bool,
        parts: Vec<Part>,
    }
);

record!(
    /// A hold's state ('active', 'committed', 'released', 'expired') and parts.
    HoldInfo {
        id: String,
        channel: String,
        state: String,
        created_at: Ms,
        expires_at: Ms,
        ended_at: Option<Ms>,
        order: Option<String>,
        parts: Vec<Part>,
    }
);

pub(crate) fn parts_out(e: &unistock::Engine, parts: &[unistock::Part]) -> Vec<Part> {
    parts
        .iter()
        .map(|p| Part {
            sku: e.sku_name(p.sku),
            location: e.location_name(p.location),
            qty: PyQty(p.qty),
        })
        .collect()
}

fn receipt_out(e: &unistock::Engine, hold: &str, r: unistock::HoldReceipt) -> HoldReceipt {
    HoldReceipt {
        hold: hold.to_string(),
        expires_at: Ms(r.expires_at_ms),
        replayed: r.replayed,
        parts: parts_out(e, &r.parts),
    }
}

struct OwnedHold {
    id: String,
    channel: String,
    lines: Vec<OwnedLine>,
    ttl_ms: u64,
}

impl Engine {
    fn ttl_or_default(&self, ttl: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        match ttl {
            Some(t) if !t.is_none() => ttl_in(t, "ttl"),
            _ => Ok(self.default_ttl_ms),
        }
    }

    fn hold_request_in(&self, item: &Bound<'_, PyAny>) -> PyResult<OwnedHold> {
        let t = item.cast::<PyTuple>().map_err(|_| {
            arg_err(
                item.py(),
                "requests",
                "each request must be a tuple (id, channel, lines) or (id, channel, lines, ttl)",
            )
        })?;
        if !(3..=4).contains(&t.len()) {
            return Err(arg_err(
                item.py(),
                "requests",
                "each request must be (id, channel, lines) or (id, channel, lines, ttl)",
            ));
        }
        let ttl = if t.len() == 4 {
            Some(t.get_item(3)?)
        } else {
            None
        };
        Ok(OwnedHold {
            id: id_in(&t.get_item(0)?, "id")?,
            channel: id_in(&t.get_item(1)?, "channel")?,
            lines: lines_in(&t.get_item(2)?)?,
            ttl_ms: self.ttl_or_default(ttl.as_ref())?,
        })
    }
}

#[pymethods]
impl Engine {
    /// Holds stock for a cart or checkout: all lines or none. `id` is the
    /// idempotency key: the same id with the same content returns the
    /// original receipt (`replayed=True`), with other content raises
    /// `IdConflictError`. `ttl` defaults to the engine's `default_ttl`.
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs (ascending).
    #[pyo3(signature = (id, channel, lines, ttl=None))]
    fn hold(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        channel: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<HoldReceipt> {
        let id = id_in(id, "id")?;
        let channel = id_in(channel, "channel")?;
        let lines = lines_in(lines)?;
        let ttl_ms = self.ttl_or_default(ttl)?;
        let e = &self.inner;
        run(py, || {
            let ls = hold_lines(&lines);
            e.hold(&HoldRequest::new(&id, &channel, &ls, ttl_ms))
                .map(|r| receipt_out(e, &id, r))
        })
    }

    /// Many holds in one call: `requests` is a list of `(id, channel,
    /// lines)` or `(id, channel, lines, ttl)` tuples. Returns one item per
    /// request, in order: a `HoldReceipt`, or the `UnistockError` that
    /// refused it (returned, not raised). Each hold is atomic on its own.
    /// A malformed request raises before anything is held.
    ///
    /// Locking: per item, as `hold`.
    fn hold_batch<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let reqs = seq_items(requests, "requests")?
            .iter()
            .map(|r| self.hold_request_in(r))
            .collect::<PyResult<Vec<_>>>()?;
        let e = &self.inner;
        let results = run_infallible(py, || {
            let lines: Vec<Vec<unistock::HoldLine<'_>>> =
                reqs.iter().map(|r| hold_lines(&r.lines)).collect();
            let core: Vec<HoldRequest<'_>> = reqs
                .iter()
                .zip(&lines)
                .map(|(r, l)| HoldRequest::new(&r.id, &r.channel, l, r.ttl_ms))
                .collect();
            e.hold_batch(&core)
                .into_iter()
                .zip(&reqs)
                .map(|(res, r)| res.map(|rec| receipt_out(e, &r.id, rec)))
                .collect::<Vec<_>>()
        })?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(receipt) => receipt.into_bound_py_any(py),
                Err(err) => exception(py, &err),
            })
            .collect()
    }

    /// Releases an active hold; its units become available again. Releasing
    /// a released hold succeeds again (retries are safe).
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs.
    fn release(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = id_in(id, "id")?;
        let e = &self.inner;
        run(py, || e.release(&id))
    }

    /// Many releases: one item per id, `None` or the `UnistockError`.
    ///
    /// Locking: per item, as `release`.
    fn release_batch<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let ids = ids_in(ids, "ids")?;
        let e = &self.inner;
        let results = run_infallible(py, || {
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            e.release_batch(&refs)
        })?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(()) => Ok(py.None().into_bound(py)),
                Err(err) => exception(py, &err),
            })
            .collect()
    }

    /// Sets an active hold to expire `ttl` from now; returns the new expiry.
    ///
    /// Locking: the hold's shard, then the meta-ledger.
    fn extend_hold(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        ttl: &Bound<'_, PyAny>,
    ) -> PyResult<Ms> {
        let id = id_in(id, "id")?;
        let ttl = ttl_in(ttl, "ttl")?;
        let e = &self.inner;
        run(py, || e.extend_hold(&id, ttl)).map(Ms)
    }

    /// A hold's state and parts.
    ///
    /// Locking: the hold's shard.
    fn hold_info(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<HoldInfo> {
        let id = id_in(id, "id")?;
        let e = &self.inner;
        let v = run(py, || e.hold_info(&id))?;
        Ok(HoldInfo {
            id: v.id,
            channel: v.channel,
            state: v.state.to_string(),
            created_at: Ms(v.created_at_ms),
            expires_at: Ms(v.expires_at_ms),
            ended_at: v.ended_at_ms.map(Ms),
            order: v.order,
            parts: v
                .parts
                .into_iter()
                .map(|(sku, location, qty)| Part {
                    sku,
                    location,
                    qty: PyQty(qty),
                })
                .collect(),
        })
    }

    /// Ends every active hold due by `now` (default: the engine's clock) and
    /// returns how many expired. Operations already treat due holds as
    /// expired; call this to make expiries (and their events) happen on time.
    ///
    /// Locking: the sweep lock, then each hold shard in turn with the
    /// stripes of the holds it ends.
    #[pyo3(signature = (now=None))]
    fn expire_due(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let now = match now {
            Some(t) if !t.is_none() => time_in(t, "now")?,
            _ => self.inner.now_ms(),
        };
        let e = &self.inner;
        run_infallible(py, || e.expire_due(now))
    }
}
