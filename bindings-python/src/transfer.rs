//! Transfers between locations (mirrors `unistock::transfer`).

use crate::convert::{PyQty, id_in, opt_qty_in, qty_in};
use crate::engine::Engine;
use crate::errors::{run, snake};
use crate::records::record;
use pyo3::prelude::*;

record!(
    /// A transfer's state ('planned', 'in_transit', 'received',
    /// 'cancelled'), its amounts, and the click & collect `order` it was
    /// planned for.
    TransferInfo {
        id: String,
        sku: String,
        from_location: String,
        to_location: String,
        qty: PyQty,
        received: PyQty,
        state: String,
        order: Option<String>,
    }
);

fn info_out(v: unistock::TransferView) -> TransferInfo {
    TransferInfo {
        id: v.id,
        sku: v.sku,
        from_location: v.from,
        to_location: v.to,
        qty: PyQty(v.qty),
        received: PyQty(v.received),
        state: snake(&v.state),
        order: v.order,
    }
}

#[pymethods]
impl Engine {
    /// Dispatches units from `from_location`'s on_hand into
    /// `to_location`'s in_transit. The id makes it idempotent.
    ///
    /// Locking: the transfer table, then the SKU's stripe.
    fn dispatch_transfer(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        sku: &Bound<'_, PyAny>,
        from_location: &Bound<'_, PyAny>,
        to_location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
    ) -> PyResult<TransferInfo> {
        let (id, sku) = (id_in(id, "id")?, id_in(sku, "sku")?);
        let (from, to) = (
            id_in(from_location, "from_location")?,
            id_in(to_location, "to_location")?,
        );
        let qty = qty_in(qty, &sku)?;
        let e = &self.inner;
        run(py, || e.dispatch_transfer(&id, &sku, &from, &to, qty)).map(info_out)
    }

    /// Receives a transfer at its destination: all that is still in
    /// transit, or `qty` of it (the rest stays in transit).
    ///
    /// Locking: the transfer table, then the SKU's stripe.
    #[pyo3(signature = (id, qty=None))]
    fn receive_transfer(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        qty: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TransferInfo> {
        let id = id_in(id, "id")?;
        let qty = opt_qty_in(qty, &id)?;
        let e = &self.inner;
        run(py, || e.receive_transfer(&id, qty)).map(info_out)
    }

    /// Cancels a transfer: what is still in transit returns to the source.
    ///
    /// Locking: the transfer table, then the SKU's stripe.
    fn cancel_transfer(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<TransferInfo> {
        let id = id_in(id, "id")?;
        let e = &self.inner;
        run(py, || e.cancel_transfer(&id)).map(info_out)
    }

    /// A transfer's state.
    ///
    /// Locking: the transfer table.
    fn transfer_info(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<TransferInfo> {
        let id = id_in(id, "id")?;
        let e = &self.inner;
        run(py, || e.transfer_info(&id)).map(info_out)
    }
}
