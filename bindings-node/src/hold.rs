//! Holds: carts, checkouts, click & reserve (mirrors `unistock::hold`).

use crate::convert::{
    JsQty, JsTime, OwnedLine, array_in, bool_in, field, hold_lines, is_nullish, lines_in, ms_in,
    object_in, str_in, strs_in,
};
use crate::engine::Engine;
use crate::errors::{Core, Outcome, arg, outcome, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use unistock::HoldRequest;

/// Units held or allocated at one location (`location: null`: held
/// against the channel's pool).
#[napi(object, object_from_js = false)]
pub struct Part {
    pub sku: String,
    #[napi(ts_type = "string | null")]
    pub location: Option<String>,
    #[napi(ts_type = "Quantity")]
    pub qty: JsQty,
}

/// What a granted hold holds. `replayed` is true when a retry with the same
/// id and content got the original result back.
#[napi(object, object_from_js = false)]
pub struct HoldReceipt {
    pub hold: String,
    #[napi(ts_type = "Date")]
    pub expires_at: JsTime,
    pub replayed: bool,
    pub parts: Vec<Part>,
}

/// A hold's state and parts.
#[napi(object, object_from_js = false)]
pub struct HoldInfo {
    pub id: String,
    pub channel: String,
    #[napi(ts_type = "'active' | 'committed' | 'released' | 'expired'")]
    pub state: String,
    #[napi(ts_type = "Date")]
    pub created_at: JsTime,
    #[napi(ts_type = "Date")]
    pub expires_at: JsTime,
    #[napi(ts_type = "Date")]
    pub ended_at: Option<JsTime>,
    pub order: Option<String>,
    pub parts: Vec<Part>,
}

/// One line: `[sku, qty]`, `[sku, qty, location]` or this object.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `convert`
pub struct LineInput {
    pub sku: String,
    #[napi(ts_type = "number | string")]
    pub qty: String,
    pub location: Option<String>,
}

/// One request of `holdBatch`.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `convert`
pub struct HoldRequestInput {
    pub id: String,
    pub channel: String,
    #[napi(ts_type = "Line[]")]
    pub lines: Vec<LineInput>,
    pub ttl_ms: Option<f64>,
    /// A pool hold (the default; see `hold`).
    pub pool: Option<bool>,
}

/// Options of `hold`.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field
pub struct HoldOptions {
    /// Lines without a location claim units from the channel's pool (a
    /// part with `location: null`), bound to locations only when the hold
    /// becomes an order; the engine guarantees every pool claim can still
    /// be bound. The default; `false` binds them at once, from the
    /// channel's locations in order.
    pub pool: Option<bool>,
}

pub(crate) fn parts_out(e: &unistock::Engine, parts: &[unistock::Part]) -> Vec<Part> {
    parts
        .iter()
        .map(|p| Part {
            sku: e.sku_name(p.sku),
            location: p.location.map(|l| e.location_name(l)),
            qty: JsQty(p.qty),
        })
        .collect()
}

pub(crate) fn receipt_out(
    e: &unistock::Engine,
    hold: &str,
    r: unistock::HoldReceipt,
) -> HoldReceipt {
    HoldReceipt {
        hold: hold.to_string(),
        expires_at: JsTime(r.expires_at_ms),
        replayed: r.replayed,
        parts: parts_out(e, &r.parts),
    }
}

pub(crate) struct OwnedHold {
    pub id: String,
    pub channel: String,
    pub lines: Vec<OwnedLine>,
    pub ttl_ms: u64,
    pub pool: bool,
}

/// The `pool` option: a boolean, `true` (a pool hold) when absent.
fn pool_in(v: Option<Unknown<'_>>) -> Core<bool> {
    match v {
        Some(v) if !is_nullish(&v) => bool_in(&v, "pool"),
        _ => Ok(true),
    }
}

impl Engine {
    fn ttl_or_default(&self, ttl: Option<&Unknown<'_>>) -> Core<u64> {
        match ttl.filter(|t| !is_nullish(t)) {
            Some(t) => ms_in(t, "ttlMs"),
            None => Ok(self.default_ttl_ms),
        }
    }

    fn hold_requests_in(&self, v: &Unknown<'_>) -> Core<Vec<OwnedHold>> {
        array_in(v, "requests")?
            .iter()
            .map(|r| {
                let o = object_in(r, "requests")?;
                let get = |k: &'static str| field(&o, k)?.ok_or_else(|| arg(k, "is required"));
                Ok(OwnedHold {
                    id: str_in(&get("id")?, "id")?,
                    channel: str_in(&get("channel")?, "channel")?,
                    lines: lines_in(&get("lines")?)?,
                    ttl_ms: self.ttl_or_default(field(&o, "ttlMs")?.as_ref())?,
                    pool: pool_in(field(&o, "pool")?)?,
                })
            })
            .collect()
    }
}

/// One core `hold_batch` of owned requests.
fn run_hold_batch(e: &unistock::Engine, reqs: &[OwnedHold]) -> Vec<Outcome<HoldReceipt>> {
    let lines: Vec<Vec<unistock::HoldLine<'_>>> =
        reqs.iter().map(|r| hold_lines(&r.lines)).collect();
    let core: Vec<HoldRequest<'_>> = reqs
        .iter()
        .zip(&lines)
        .map(|(r, l)| {
            let mut req = HoldRequest::new(&r.id, &r.channel, l, r.ttl_ms);
            req.pool = r.pool;
            req
        })
        .collect();
    e.hold_batch(&core)
        .into_iter()
        .zip(reqs)
        .map(|(res, r)| outcome(res.map(|rec| receipt_out(e, &r.id, rec))))
        .collect()
}

/// `holdBatchAsync`: the batch runs on the libuv thread pool.
pub struct HoldBatchTask {
    engine: Arc<unistock::Engine>,
    reqs: Vec<OwnedHold>,
}

impl Task for HoldBatchTask {
    type Output = Vec<Outcome<HoldReceipt>>;
    type JsValue = Vec<Outcome<HoldReceipt>>;
    fn compute(&mut self) -> Result<Self::Output> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_hold_batch(&self.engine, &self.reqs)
        }))
        .map_err(|_| Error::from_reason("internal error in unistock (panic)"))
    }
    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// `releaseBatchAsync`.
pub struct ReleaseBatchTask {
    engine: Arc<unistock::Engine>,
    ids: Vec<String>,
}

impl Task for ReleaseBatchTask {
    type Output = Vec<Outcome<Null>>;
    type JsValue = Vec<Outcome<Null>>;
    fn compute(&mut self) -> Result<Self::Output> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let refs: Vec<&str> = self.ids.iter().map(String::as_str).collect();
            self.engine
                .release_batch(&refs)
                .into_iter()
                .map(|r| outcome(r.map(|()| Null)))
                .collect()
        }))
        .map_err(|_| Error::from_reason("internal error in unistock (panic)"))
    }
    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

#[napi]
impl Engine {
    /// Holds stock for a cart or checkout: all lines or none. `id` is the
    /// idempotency key: the same id with the same content returns the
    /// original receipt (`replayed: true`), other content throws
    /// `E_ID_CONFLICT`. `ttlMs` defaults to the engine's `defaultTtlMs`.
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs (ascending).
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, channel: string, lines: Line[], ttlMs?: number | undefined | null, options?: HoldOptions | undefined | null"
    )]
    pub fn hold(
        &self,
        env: Env,
        id: Unknown<'_>,
        channel: Unknown<'_>,
        lines: Unknown<'_>,
        ttl_ms: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<HoldReceipt> {
        wrap(&env, || {
            let id = str_in(&id, "id")?;
            let channel = str_in(&channel, "channel")?;
            let lines = lines_in(&lines)?;
            let ttl = self.ttl_or_default(ttl_ms.as_ref())?;
            let pool = match options {
                Some(o) if !is_nullish(&o) => pool_in(field(&object_in(&o, "options")?, "pool")?)?,
                _ => true,
            };
            let ls = hold_lines(&lines);
            let mut req = HoldRequest::new(&id, &channel, &ls, ttl);
            req.pool = pool;
            let r = self.inner.hold(&req)?;
            Ok(receipt_out(&self.inner, &id, r))
        })
    }

    /// Many holds in one call; one item per request, in order: the receipt,
    /// or the `Error` that refused it (returned, not thrown). A malformed
    /// request throws before anything is held.
    ///
    /// Locking: per item, as `hold`.
    #[napi(
        catch_unwind,
        ts_args_type = "requests: HoldRequestInput[]",
        ts_return_type = "Array<HoldReceipt | UnistockError>"
    )]
    pub fn hold_batch(&self, env: Env, requests: Unknown<'_>) -> Result<Vec<Outcome<HoldReceipt>>> {
        wrap(&env, || {
            let reqs = self.hold_requests_in(&requests)?;
            Ok(run_hold_batch(&self.inner, &reqs))
        })
    }

    /// `holdBatch` off the main thread: resolves with the same array.
    #[napi(
        catch_unwind,
        ts_args_type = "requests: HoldRequestInput[]",
        ts_return_type = "Promise<Array<HoldReceipt | UnistockError>>"
    )]
    pub fn hold_batch_async(
        &self,
        env: Env,
        requests: Unknown<'_>,
    ) -> Result<AsyncTask<HoldBatchTask>> {
        wrap(&env, || {
            Ok(AsyncTask::new(HoldBatchTask {
                engine: self.inner.clone(),
                reqs: self.hold_requests_in(&requests)?,
            }))
        })
    }

    /// Releases an active hold; its units become available again.
    /// Releasing a released hold succeeds again (retries are safe).
    ///
    /// Locking: the hold's shard, then the stripes of its SKUs.
    #[napi(catch_unwind, ts_args_type = "id: string")]
    pub fn release(&self, env: Env, id: Unknown<'_>) -> Result<()> {
        wrap(&env, || self.inner.release(&str_in(&id, "id")?))
    }

    /// Many releases: one item per id, `null` or the `Error`.
    ///
    /// Locking: per item, as `release`.
    #[napi(
        catch_unwind,
        ts_args_type = "ids: string[]",
        ts_return_type = "Array<null | UnistockError>"
    )]
    pub fn release_batch(&self, env: Env, ids: Unknown<'_>) -> Result<Vec<Outcome<Null>>> {
        wrap(&env, || {
            let ids = strs_in(&ids, "ids")?;
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            Ok(self
                .inner
                .release_batch(&refs)
                .into_iter()
                .map(|r| outcome(r.map(|()| Null)))
                .collect())
        })
    }

    /// `releaseBatch` off the main thread.
    #[napi(
        catch_unwind,
        ts_args_type = "ids: string[]",
        ts_return_type = "Promise<Array<null | UnistockError>>"
    )]
    pub fn release_batch_async(
        &self,
        env: Env,
        ids: Unknown<'_>,
    ) -> Result<AsyncTask<ReleaseBatchTask>> {
        wrap(&env, || {
            Ok(AsyncTask::new(ReleaseBatchTask {
                engine: self.inner.clone(),
                ids: strs_in(&ids, "ids")?,
            }))
        })
    }

    /// Sets an active hold to expire `ttlMs` from now; returns the new expiry.
    ///
    /// Locking: the hold's shard, then the meta-ledger.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, ttlMs: number",
        ts_return_type = "Date"
    )]
    pub fn extend_hold(&self, env: Env, id: Unknown<'_>, ttl_ms: Unknown<'_>) -> Result<JsTime> {
        wrap(&env, || {
            let id = str_in(&id, "id")?;
            let ttl = ms_in(&ttl_ms, "ttlMs")?;
            Ok(JsTime(self.inner.extend_hold(&id, ttl)?))
        })
    }

    /// A hold's state and parts.
    ///
    /// Locking: the hold's shard.
    #[napi(catch_unwind, ts_args_type = "id: string")]
    pub fn hold_info(&self, env: Env, id: Unknown<'_>) -> Result<HoldInfo> {
        wrap(&env, || {
            let v = self.inner.hold_info(&str_in(&id, "id")?)?;
            Ok(HoldInfo {
                id: v.id,
                channel: v.channel,
                state: v.state.to_string(),
                created_at: JsTime(v.created_at_ms),
                expires_at: JsTime(v.expires_at_ms),
                ended_at: v.ended_at_ms.map(JsTime),
                order: v.order,
                parts: v
                    .parts
                    .into_iter()
                    .map(|(sku, location, qty)| Part {
                        sku,
                        location,
                        qty: JsQty(qty),
                    })
                    .collect(),
            })
        })
    }

    /// Ends every active hold due by `now` (default: the engine's clock);
    /// returns how many expired.
    ///
    /// Locking: the sweep lock, then each hold shard in turn with the
    /// stripes of the holds it ends.
    #[napi(catch_unwind, ts_args_type = "now?: Date | undefined | null")]
    pub fn expire_due(&self, env: Env, now: Option<Unknown<'_>>) -> Result<u32> {
        wrap(&env, || {
            let now = match now.filter(|n| !is_nullish(n)) {
                Some(n) => crate::convert::date_in(&n, "now")?,
                None => self.inner.now_ms(),
            };
            Ok(self.inner.expire_due(now) as u32)
        })
    }
}
