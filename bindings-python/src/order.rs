//! Orders: commits, till sales, fulfilment and cancellation (mirrors
//! `unistock::order`).

use crate::convert::{LineItems, Ms, PyQty, arg_err, id_in, seq_items};
use crate::engine::Engine;
use crate::errors::{exception, run, run_infallible, snake};
use crate::hold::{Part, parts_out};
use crate::records::record;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

record!(
    /// The result of committing a hold or ringing up a till sale.
    OrderReceipt {
        order: String,
        replayed: bool,
        allocations: Vec<Part>,
    }
);

record!(
    /// One allocation line of an order.
    OrderLineInfo {
        sku: String,
        location: String,
        allocated: PyQty,
        fulfilled: PyQty,
        cancelled: PyQty,
    }
);

record!(
    /// Units of an order still promised from an expected receipt at
    /// `location`, with the date promised and whether it is a preorder.
    Backorder {
        sku: String,
        location: String,
        qty: PyQty,
        promised_at: Ms,
        preorder: bool,
    }
);

record!(
    /// An order's state ('open', 'completed', 'cancelled') and lines;
    /// `reserved_until`: a click & reserve order's end of its time at the
    /// store (what is still allocated then is cancelled; None while units
    /// are still backordered).
    OrderInfo {
        id: String,
        channel: String,
        state: String,
        hold: Option<String>,
        created_at: Ms,
        lines: Vec<OrderLineInfo>,
        transfers: Vec<String>,
        backorders: Vec<Backorder>,
        reserved_until: Option<Ms>,
    }
);

fn receipt_out(e: &unistock::Engine, order: &str, r: unistock::OrderReceipt) -> OrderReceipt {
    OrderReceipt {
        order: order.to_string(),
        replayed: r.replayed,
        allocations: parts_out(e, &r.allocations),
    }
}

fn info_out(v: unistock::OrderView) -> OrderInfo {
    OrderInfo {
        id: v.id,
        channel: v.channel,
        state: snake(&v.state),
        hold: v.hold,
        created_at: Ms(v.created_at_ms),
        reserved_until: v.reserved_until_ms.map(Ms),
        transfers: v.transfers,
        backorders: v
            .backorders
            .into_iter()
            .map(|b| Backorder {
                sku: b.sku,
                location: b.location,
                qty: PyQty(b.qty),
                promised_at: Ms(b.promised_at_ms),
                preorder: b.preorder,
            })
            .collect(),
        lines: v
            .lines
            .into_iter()
            .map(
                |(sku, location, allocated, fulfilled, cancelled)| OrderLineInfo {
                    sku,
                    location,
                    allocated: PyQty(allocated),
                    fulfilled: PyQty(fulfilled),
                    cancelled: PyQty(cancelled),
                },
            )
            .collect(),
    }
}

#[pymethods]
impl Engine {
    /// Commits an active hold into an order: its reserved units become
    /// allocated under `order`. Idempotent on the order id.
    ///
    /// Locking: the hold's shard, the order's shard, then the stripes.
    fn commit(
        &self,
        py: Python<'_>,
        hold: &Bound<'_, PyAny>,
        order: &Bound<'_, PyAny>,
    ) -> PyResult<OrderReceipt> {
        let (hold, order) = (id_in(hold, "hold")?, id_in(order, "order")?);
        let e = &self.inner;
        run(py, || {
            e.commit(&hold, &order).map(|r| receipt_out(e, &order, r))
        })
    }

    /// Many commits: `pairs` is a list of `(hold, order)`; one item per pair,
    /// an `OrderReceipt` or the `UnistockError` (returned, not raised).
    ///
    /// Locking: per item, as `commit`.
    fn commit_batch<'py>(
        &self,
        py: Python<'py>,
        pairs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let pairs = seq_items(pairs, "pairs")?
            .iter()
            .map(|p| {
                let t = p
                    .cast::<PyTuple>()
                    .ok()
                    .filter(|t| t.len() == 2)
                    .ok_or_else(|| {
                        arg_err(py, "pairs", "each item must be a (hold, order) tuple")
                    })?;
                Ok((
                    id_in(&t.get_item(0)?, "hold")?,
                    id_in(&t.get_item(1)?, "order")?,
                ))
            })
            .collect::<PyResult<Vec<(String, String)>>>()?;
        let e = &self.inner;
        let results = run_infallible(py, || {
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(h, o)| (h.as_str(), o.as_str()))
                .collect();
            e.commit_batch(&refs)
                .into_iter()
                .zip(&pairs)
                .map(|(r, (_, o))| r.map(|r| receipt_out(e, o, r)))
                .collect::<Vec<_>>()
        })?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(v) => v.into_bound_py_any(py),
                Err(err) => exception(py, &err),
            })
            .collect()
    }

    /// A till sale: the channel sells at once (from the lines' locations, or
    /// the channel's locations in order), with the same availability check
    /// as a hold. `sale` is an order id and the idempotency key.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    fn till_sale(
        &self,
        py: Python<'_>,
        sale: &Bound<'_, PyAny>,
        channel: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
    ) -> PyResult<OrderReceipt> {
        let (sale, channel) = (id_in(sale, "sale")?, id_in(channel, "channel")?);
        let items = LineItems::new(lines)?;
        let ls = items.lines();
        let e = &self.inner;
        run(py, || {
            e.till_sale(&sale, &channel, &ls)
                .map(|r| receipt_out(e, &sale, r))
        })
    }

    /// Fulfils (ships, hands over) allocated units: on_hand and allocated
    /// go down. Lines may be partial; a line without a location takes the
    /// order's allocations of that SKU in order.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    fn fulfil(
        &self,
        py: Python<'_>,
        order: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
    ) -> PyResult<OrderInfo> {
        let order = id_in(order, "order")?;
        let items = LineItems::new(lines)?;
        let ls = items.lines();
        let e = &self.inner;
        run(py, || e.fulfil(&order, &ls)).map(info_out)
    }

    /// Cancels allocated units: they return to available stock.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    fn cancel(
        &self,
        py: Python<'_>,
        order: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
    ) -> PyResult<OrderInfo> {
        let order = id_in(order, "order")?;
        let items = LineItems::new(lines)?;
        let ls = items.lines();
        let e = &self.inner;
        run(py, || e.cancel(&order, &ls)).map(info_out)
    }

    /// Allocates an order's backordered units: first those that arrived
    /// with their expected receipt (set aside for backorders on arrival),
    /// then stock free at that location now. What is still not covered
    /// stays backordered.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    fn fill_backorders(&self, py: Python<'_>, order: &Bound<'_, PyAny>) -> PyResult<OrderInfo> {
        let order = id_in(order, "order")?;
        let e = &self.inner;
        run(py, || e.fill_backorders(&order)).map(info_out)
    }

    /// Cancels an order's open backorders.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    fn cancel_backorders(&self, py: Python<'_>, order: &Bound<'_, PyAny>) -> PyResult<OrderInfo> {
        let order = id_in(order, "order")?;
        let e = &self.inner;
        run(py, || e.cancel_backorders(&order)).map(info_out)
    }

    /// Cancels everything still open on an order: allocations and
    /// backorders.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    fn cancel_order(&self, py: Python<'_>, order: &Bound<'_, PyAny>) -> PyResult<OrderInfo> {
        let order = id_in(order, "order")?;
        let e = &self.inner;
        run(py, || e.cancel_order(&order)).map(info_out)
    }

    /// An order's state and lines.
    ///
    /// Locking: the order's shard.
    fn order_info(&self, py: Python<'_>, order: &Bound<'_, PyAny>) -> PyResult<OrderInfo> {
        let order = id_in(order, "order")?;
        let e = &self.inner;
        run(py, || e.order_info(&order)).map(info_out)
    }
}
