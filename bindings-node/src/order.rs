//! Orders: commits, till sales, fulfilment and cancellation (mirrors
//! `unistock::order`).

use crate::convert::{JsQty, JsTime, array_in, hold_lines, lines_in, str_in};
use crate::engine::Engine;
use crate::errors::{Outcome, arg, enum_name, outcome, wrap};
use crate::hold::{Part, parts_out};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// The result of committing a hold or ringing up a till sale.
#[napi(object, object_from_js = false)]
pub struct OrderReceipt {
    pub order: String,
    pub replayed: bool,
    pub allocations: Vec<Part>,
}

/// Units of an order still promised from an expected receipt.
#[napi(object, object_from_js = false)]
pub struct Backorder {
    pub sku: String,
    /// Where the receipt is expected.
    pub location: String,
    #[napi(ts_type = "Quantity")]
    pub qty: JsQty,
    /// The date promised to the customer.
    #[napi(ts_type = "Date")]
    pub promised_at: JsTime,
    /// Not in stock anywhere the channel sells from when ordered.
    pub preorder: bool,
}

/// One allocation line of an order.
#[napi(object, object_from_js = false)]
pub struct OrderLineInfo {
    pub sku: String,
    pub location: String,
    #[napi(ts_type = "Quantity")]
    pub allocated: JsQty,
    #[napi(ts_type = "Quantity")]
    pub fulfilled: JsQty,
    #[napi(ts_type = "Quantity")]
    pub cancelled: JsQty,
}

/// An order's state and lines.
#[napi(object, object_from_js = false)]
pub struct OrderInfo {
    pub id: String,
    pub channel: String,
    #[napi(ts_type = "'open' | 'completed' | 'cancelled'")]
    pub state: String,
    pub hold: Option<String>,
    #[napi(ts_type = "Date")]
    pub created_at: JsTime,
    pub lines: Vec<OrderLineInfo>,
    /// Click & collect transfers created for the order.
    pub transfers: Vec<String>,
    /// Units still promised from expected receipts.
    pub backorders: Vec<Backorder>,
    /// A click & reserve order: when its time at the store ends (what is
    /// still allocated then is cancelled; absent while units are still
    /// backordered).
    #[napi(ts_type = "Date")]
    pub reserved_until: Option<JsTime>,
}

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
        state: enum_name(&v.state),
        hold: v.hold,
        created_at: JsTime(v.created_at_ms),
        reserved_until: v.reserved_until_ms.map(JsTime),
        transfers: v.transfers,
        backorders: v
            .backorders
            .into_iter()
            .map(|b| Backorder {
                sku: b.sku,
                location: b.location,
                qty: JsQty(b.qty),
                promised_at: JsTime(b.promised_at_ms),
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
                    allocated: JsQty(allocated),
                    fulfilled: JsQty(fulfilled),
                    cancelled: JsQty(cancelled),
                },
            )
            .collect(),
    }
}

fn pairs_in(v: &Unknown<'_>) -> crate::errors::Core<Vec<(String, String)>> {
    array_in(v, "pairs")?
        .iter()
        .map(|p| {
            let t = array_in(p, "pairs")?;
            if t.len() != 2 {
                return Err(arg("pairs", "each item must be [hold, order]"));
            }
            Ok((str_in(&t[0], "hold")?, str_in(&t[1], "order")?))
        })
        .collect()
}

fn run_commit_batch(
    e: &unistock::Engine,
    pairs: &[(String, String)],
) -> Vec<Outcome<OrderReceipt>> {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(h, o)| (h.as_str(), o.as_str()))
        .collect();
    e.commit_batch(&refs)
        .into_iter()
        .zip(pairs)
        .map(|(r, (_, o))| outcome(r.map(|r| receipt_out(e, o, r))))
        .collect()
}

/// `commitBatchAsync`: the batch runs on the libuv thread pool.
pub struct CommitBatchTask {
    engine: std::sync::Arc<unistock::Engine>,
    pairs: Vec<(String, String)>,
}

impl Task for CommitBatchTask {
    type Output = Vec<Outcome<OrderReceipt>>;
    type JsValue = Vec<Outcome<OrderReceipt>>;
    fn compute(&mut self) -> Result<Self::Output> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_commit_batch(&self.engine, &self.pairs)
        }))
        .map_err(|_| Error::from_reason("internal error in unistock (panic)"))
    }
    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

#[napi]
impl Engine {
    /// Commits an active hold into an order: its reserved units become
    /// allocated under `order`. Idempotent on the order id.
    ///
    /// Locking: the hold's shard, the order's shard, then the stripes.
    #[napi(catch_unwind, ts_args_type = "hold: string, order: string")]
    pub fn commit(&self, env: Env, hold: Unknown<'_>, order: Unknown<'_>) -> Result<OrderReceipt> {
        wrap(&env, || {
            let (hold, order) = (str_in(&hold, "hold")?, str_in(&order, "order")?);
            let r = self.inner.commit(&hold, &order)?;
            Ok(receipt_out(&self.inner, &order, r))
        })
    }

    /// Many commits: `pairs` is an array of `[hold, order]`; one item per
    /// pair, the receipt or the `Error` (returned, not thrown).
    ///
    /// Locking: per item, as `commit`.
    #[napi(
        catch_unwind,
        ts_args_type = "pairs: Array<[string, string]>",
        ts_return_type = "Array<OrderReceipt | UnistockError>"
    )]
    pub fn commit_batch(&self, env: Env, pairs: Unknown<'_>) -> Result<Vec<Outcome<OrderReceipt>>> {
        wrap(&env, || {
            Ok(run_commit_batch(&self.inner, &pairs_in(&pairs)?))
        })
    }

    /// `commitBatch` off the main thread: resolves with the same array.
    #[napi(
        catch_unwind,
        ts_args_type = "pairs: Array<[string, string]>",
        ts_return_type = "Promise<Array<OrderReceipt | UnistockError>>"
    )]
    pub fn commit_batch_async(
        &self,
        env: Env,
        pairs: Unknown<'_>,
    ) -> Result<AsyncTask<CommitBatchTask>> {
        wrap(&env, || {
            Ok(AsyncTask::new(CommitBatchTask {
                engine: self.inner.clone(),
                pairs: pairs_in(&pairs)?,
            }))
        })
    }

    /// A till sale: the channel sells at once, with the same availability
    /// check as a hold. `sale` is an order id and the idempotency key.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    #[napi(
        catch_unwind,
        ts_args_type = "sale: string, channel: string, lines: Line[]"
    )]
    pub fn till_sale(
        &self,
        env: Env,
        sale: Unknown<'_>,
        channel: Unknown<'_>,
        lines: Unknown<'_>,
    ) -> Result<OrderReceipt> {
        wrap(&env, || {
            let (sale, channel) = (str_in(&sale, "sale")?, str_in(&channel, "channel")?);
            let lines = lines_in(&lines)?;
            let r = self.inner.till_sale(&sale, &channel, &hold_lines(&lines))?;
            Ok(receipt_out(&self.inner, &sale, r))
        })
    }

    /// Fulfils (ships, hands over) allocated units, partially too.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    #[napi(catch_unwind, ts_args_type = "order: string, lines: Line[]")]
    pub fn fulfil(&self, env: Env, order: Unknown<'_>, lines: Unknown<'_>) -> Result<OrderInfo> {
        wrap(&env, || {
            let order = str_in(&order, "order")?;
            let lines = lines_in(&lines)?;
            Ok(info_out(self.inner.fulfil(&order, &hold_lines(&lines))?))
        })
    }

    /// Cancels allocated units: they return to available stock.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    #[napi(catch_unwind, ts_args_type = "order: string, lines: Line[]")]
    pub fn cancel(&self, env: Env, order: Unknown<'_>, lines: Unknown<'_>) -> Result<OrderInfo> {
        wrap(&env, || {
            let order = str_in(&order, "order")?;
            let lines = lines_in(&lines)?;
            Ok(info_out(self.inner.cancel(&order, &hold_lines(&lines))?))
        })
    }

    /// Allocates an order's backordered units: first those that arrived
    /// with their expected receipt (set aside for backorders on arrival),
    /// then stock free at that location now. What is still not covered
    /// stays backordered.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    #[napi(catch_unwind, ts_args_type = "order: string")]
    pub fn fill_backorders(&self, env: Env, order: Unknown<'_>) -> Result<OrderInfo> {
        wrap(&env, || {
            Ok(info_out(
                self.inner.fill_backorders(&str_in(&order, "order")?)?,
            ))
        })
    }

    /// Cancels an order's open backorders.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    #[napi(catch_unwind, ts_args_type = "order: string")]
    pub fn cancel_backorders(&self, env: Env, order: Unknown<'_>) -> Result<OrderInfo> {
        wrap(&env, || {
            Ok(info_out(
                self.inner.cancel_backorders(&str_in(&order, "order")?)?,
            ))
        })
    }

    /// Cancels everything still open on an order: allocations and
    /// backorders.
    ///
    /// Locking: the order's shard, then the stripes of its SKUs.
    #[napi(catch_unwind, ts_args_type = "order: string")]
    pub fn cancel_order(&self, env: Env, order: Unknown<'_>) -> Result<OrderInfo> {
        wrap(&env, || {
            Ok(info_out(
                self.inner.cancel_order(&str_in(&order, "order")?)?,
            ))
        })
    }

    /// An order's state and lines.
    ///
    /// Locking: the order's shard.
    #[napi(catch_unwind, ts_args_type = "order: string")]
    pub fn order_info(&self, env: Env, order: Unknown<'_>) -> Result<OrderInfo> {
        wrap(&env, || {
            Ok(info_out(self.inner.order_info(&str_in(&order, "order")?)?))
        })
    }
}
