//! Holds: carts, checkouts, click & reserve (mirrors `unistock::hold`).

use crate::convert::{
    LineItems, Ms, PyQty, Span, arg_err, cast_fast, id_in, id_ref, ids_in, opt_id_in, qty_in,
    seq_items, time_in, ttl_in, untrack,
};
use crate::engine::Engine;
use crate::errors::{exception, run, run_infallible};
use crate::records::record;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use std::sync::Arc;
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
    /// Units held or allocated at one location (`location=None`: held
    /// against the channel's pool).
    Part {
        sku: String,
        location: Option<String>,
        qty: PyQty,
    }
);

/// What a granted hold holds. `replayed` is True when a retry with the
/// same id and content got the original result back. Names are looked up
/// when `parts` is read, so a receipt nobody inspects costs no strings.
/// Batches make and drop them by the thousand: a free list keeps that many
/// for reuse instead of allocating each anew.
#[pyclass(frozen, module = "unistock", freelist = 1024)]
pub struct HoldReceipt {
    hold: Py<PyString>,
    expires_at_ms: u64,
    replayed: bool,
    core_parts: smallvec::SmallVec<[unistock::Part; 2]>,
    engine: Arc<unistock::Engine>,
}

#[pymethods]
impl HoldReceipt {
    #[getter]
    fn hold(&self, py: Python<'_>) -> Py<PyString> {
        self.hold.clone_ref(py)
    }
    #[getter]
    fn expires_at(&self) -> Ms {
        Ms(self.expires_at_ms)
    }
    #[getter]
    fn replayed(&self) -> bool {
        self.replayed
    }
    #[getter]
    fn parts(&self) -> Vec<Part> {
        parts_out(&self.engine, &self.core_parts)
    }
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.cast::<HoldReceipt>() else {
            return Ok(false);
        };
        let o = o.get();
        Ok(self.hold.bind(py).as_any().eq(o.hold.bind(py))?
            && self.expires_at_ms == o.expires_at_ms
            && self.replayed == o.replayed
            && self.parts() == o.parts())
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "HoldReceipt(hold={}, expires_at={}, replayed={}, parts={})",
            self.hold.bind(py).repr()?,
            self.expires_at().into_pyobject(py)?.repr()?,
            if self.replayed { "True" } else { "False" },
            self.parts().into_bound_py_any(py)?.repr()?
        ))
    }
}

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
            location: p.location.map(|l| e.location_name(l)),
            qty: PyQty(p.qty),
        })
        .collect()
}

fn receipt_out(
    e: &Arc<unistock::Engine>,
    hold: Py<PyString>,
    r: unistock::HoldReceipt,
) -> HoldReceipt {
    HoldReceipt {
        hold,
        expires_at_ms: r.expires_at_ms,
        replayed: r.replayed,
        core_parts: r.parts,
        engine: e.clone(),
    }
}

/// The `pool` flag: a bool, `True` (a pool hold) when not given.
fn pool_in(v: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    v.filter(|v| !v.is_none())
        .map_or(Ok(true), |v| crate::channel::bool_in(v, "pool"))
}

/// One `hold_batch` request; its text and lines are in the call's
/// [`LineItems`].
struct RequestItems<'py> {
    /// Kept for the receipt.
    id: Bound<'py, PyString>,
    id_text: Span,
    channel: Span,
    /// How many lines, read after the previous request's.
    lines: usize,
    ttl_ms: u64,
}

impl Engine {
    fn ttl_or_default(&self, ttl: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        match ttl {
            Some(t) if !t.is_none() => ttl_in(t, "ttl"),
            _ => Ok(self.default_ttl_ms),
        }
    }

    /// Reads one `hold_batch` request, its text and lines into `text`.
    fn hold_request_in<'py>(
        &self,
        item: &Bound<'py, PyAny>,
        text: &mut LineItems<'py>,
    ) -> PyResult<RequestItems<'py>> {
        let py = item.py();
        let t = cast_fast::<PyTuple>(item).map_err(|_| {
            arg_err(
                py,
                "requests",
                "each request must be a tuple (id, channel, lines) or (id, channel, lines, ttl)",
            )
        })?;
        if !(3..=4).contains(&t.len()) {
            return Err(arg_err(
                py,
                "requests",
                "each request must be (id, channel, lines) or (id, channel, lines, ttl)",
            ));
        }
        let ttl = if t.len() == 4 {
            Some(t.get_item(3)?)
        } else {
            None
        };
        let id = t.get_item(0)?;
        let lines = t.get_borrowed_item(2)?;
        let id_text = text.push_text(id_ref(&id, "id")?);
        let channel = t.get_borrowed_item(1)?;
        let channel = text.push_text(id_ref(&channel, "channel")?);
        Ok(RequestItems {
            // SAFETY: `id_ref` found a `str` just above.
            id: unsafe { id.cast_into_unchecked::<PyString>() },
            id_text,
            channel,
            lines: text.read(&lines)?,
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
    /// Lines without a location claim units from the channel's pool (a
    /// part with `location=None`), bound to locations only when the hold
    /// becomes an order; the engine guarantees every pool claim can still
    /// be bound. `pool=False` binds them at once, from the channel's
    /// locations in order.
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs (ascending).
    #[pyo3(signature = (id, channel, lines, ttl=None, *, pool=None))]
    fn hold<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
        channel: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
        pool: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, HoldReceipt>> {
        let id_text = id_ref(id, "id")?;
        let channel = id_ref(channel, "channel")?;
        let items = LineItems::new(lines)?;
        let ls = items.lines();
        let ttl_ms = self.ttl_or_default(ttl)?;
        let pool = pool_in(pool)?;
        let e = &self.inner;
        let r = run(py, || {
            let mut req = HoldRequest::new(id_text, channel, &ls, ttl_ms);
            req.pool = pool;
            e.hold(&req)
        })?;
        let id = id.cast::<PyString>()?.clone().unbind();
        Ok(untrack(Bound::new(py, receipt_out(e, id, r))?))
    }

    /// Many holds in one call: `requests` is a list of `(id, channel,
    /// lines)` or `(id, channel, lines, ttl)` tuples. Returns one item per
    /// request, in order: a `HoldReceipt`, or the `UnistockError` that
    /// refused it (returned, not raised). Each hold is atomic on its own.
    /// A malformed request raises before anything is held. `pool=False`
    /// binds every request's lines at once (see `hold`).
    ///
    /// Locking: per item, as `hold`.
    #[pyo3(signature = (requests, *, pool=None))]
    fn hold_batch<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        pool: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let pool = pool_in(pool)?;
        let items = seq_items(requests, "requests")?;
        // Every request's text and lines in one buffer (none per request).
        let mut text = LineItems::default();
        let mut reqs = Vec::with_capacity(items.len());
        for r in &items {
            reqs.push(self.hold_request_in(r, &mut text)?);
            if reqs.len() == 1 {
                // Room for the rest, guessed from the first (a batch's
                // carts are often alike): the buffers grow once, if at all.
                text.reserve(reqs[0].lines * (items.len() - 1));
            }
        }
        let lines = text.lines();
        let mut rest = &lines[..];
        let core = reqs
            .iter()
            .map(|r| {
                let (l, after) = rest.split_at(r.lines);
                rest = after;
                let mut req =
                    HoldRequest::new(text.str(r.id_text), text.str(r.channel), l, r.ttl_ms);
                req.pool = pool;
                req
            })
            .collect::<Vec<_>>();
        let e = &self.inner;
        let results = run_infallible(py, || e.hold_batch(&core))?;
        results
            .into_iter()
            .zip(&reqs)
            .map(|(r, req)| match r {
                Ok(receipt) => Ok(untrack(Bound::new(
                    py,
                    receipt_out(e, req.id.clone().unbind(), receipt),
                )?)
                .into_any()),
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
