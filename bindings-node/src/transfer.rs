//! Transfers between locations (mirrors `unistock::transfer`).

use crate::convert::{JsQty, opt_qty_in, qty_in, str_in};
use crate::engine::Engine;
use crate::errors::{enum_name, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// A transfer's state and amounts.
#[napi(object, object_from_js = false)]
pub struct TransferInfo {
    pub id: String,
    pub sku: String,
    pub from_location: String,
    pub to_location: String,
    #[napi(ts_type = "Quantity")]
    pub qty: JsQty,
    #[napi(ts_type = "Quantity")]
    pub received: JsQty,
    #[napi(ts_type = "'planned' | 'in_transit' | 'received' | 'cancelled'")]
    pub state: String,
    /// The click & collect order it was planned for.
    pub order: Option<String>,
}

fn info_out(v: unistock::TransferView) -> TransferInfo {
    TransferInfo {
        id: v.id,
        sku: v.sku,
        from_location: v.from,
        to_location: v.to,
        qty: JsQty(v.qty),
        received: JsQty(v.received),
        state: enum_name(&v.state),
        order: v.order,
    }
}

#[napi]
impl Engine {
    /// Dispatches units from `fromLocation`'s on_hand into `toLocation`'s
    /// in_transit. The id makes it idempotent.
    ///
    /// Locking: the transfer table, then the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, sku: string, fromLocation: string, toLocation: string, qty: Quantity"
    )]
    pub fn dispatch_transfer(
        &self,
        env: Env,
        id: Unknown<'_>,
        sku: Unknown<'_>,
        from_location: Unknown<'_>,
        to_location: Unknown<'_>,
        qty: Unknown<'_>,
    ) -> Result<TransferInfo> {
        wrap(&env, || {
            let (id, sku) = (str_in(&id, "id")?, str_in(&sku, "sku")?);
            let (from, to) = (
                str_in(&from_location, "fromLocation")?,
                str_in(&to_location, "toLocation")?,
            );
            let qty = qty_in(&qty, &sku)?;
            Ok(info_out(
                self.inner.dispatch_transfer(&id, &sku, &from, &to, qty)?,
            ))
        })
    }

    /// Receives a transfer: all that is still in transit, or `qty` of it.
    ///
    /// Locking: the transfer table, then the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, qty?: Quantity | undefined | null"
    )]
    pub fn receive_transfer(
        &self,
        env: Env,
        id: Unknown<'_>,
        qty: Option<Unknown<'_>>,
    ) -> Result<TransferInfo> {
        wrap(&env, || {
            let id = str_in(&id, "id")?;
            let qty = opt_qty_in(qty.as_ref(), &id)?;
            Ok(info_out(self.inner.receive_transfer(&id, qty)?))
        })
    }

    /// Cancels a transfer: what is still in transit returns to the source.
    ///
    /// Locking: the transfer table, then the SKU's stripe.
    #[napi(catch_unwind, ts_args_type = "id: string")]
    pub fn cancel_transfer(&self, env: Env, id: Unknown<'_>) -> Result<TransferInfo> {
        wrap(&env, || {
            Ok(info_out(self.inner.cancel_transfer(&str_in(&id, "id")?)?))
        })
    }

    /// A transfer's state.
    ///
    /// Locking: the transfer table.
    #[napi(catch_unwind, ts_args_type = "id: string")]
    pub fn transfer_info(&self, env: Env, id: Unknown<'_>) -> Result<TransferInfo> {
        wrap(&env, || {
            Ok(info_out(self.inner.transfer_info(&str_in(&id, "id")?)?))
        })
    }
}
