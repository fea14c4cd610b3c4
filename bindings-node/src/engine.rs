//! `Engine`: construction, clock, settings, SKUs, KPIs and snapshots. The
//! other capabilities are in the module named after the core module they
//! mirror (stock, channel, hold, order, transfer, ledger, feed).

use crate::convert::{JsTime, date_in, field, int_in, is_nullish, ms_in, object_in, str_in};
use crate::errors::{Core, arg, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use unistock::{Config, SkuSpec};

/// A clock the host sets by hand (tests, simulations, replays).
#[napi]
pub struct ManualClock {
    pub(crate) inner: Arc<unistock::ManualClock>,
}

#[napi]
impl ManualClock {
    #[napi(constructor, catch_unwind, ts_args_type = "now: Date")]
    pub fn new(env: Env, now: Unknown<'_>) -> Result<Self> {
        wrap(&env, || {
            Ok(ManualClock {
                inner: Arc::new(unistock::ManualClock::new(date_in(&now, "now")?)),
            })
        })
    }

    /// The clock's time.
    #[napi(catch_unwind, ts_return_type = "Date")]
    pub fn now(&self) -> JsTime {
        JsTime(unistock::Clock::now_ms(&*self.inner))
    }

    /// Sets the time (it may go backwards: expiry then simply waits).
    #[napi(catch_unwind, ts_args_type = "now: Date")]
    pub fn set(&self, env: Env, now: Unknown<'_>) -> Result<()> {
        wrap(&env, || {
            self.inner.set(date_in(&now, "now")?);
            Ok(())
        })
    }

    /// Moves the time forward by `ms` milliseconds.
    #[napi(catch_unwind, ts_args_type = "ms: number")]
    pub fn advance(&self, env: Env, ms: Unknown<'_>) -> Result<()> {
        wrap(&env, || {
            self.inner.advance(ms_in(&ms, "ms")?);
            Ok(())
        })
    }
}

/// The inventory engine. Every method is synchronous and short; the batch
/// calls also have `...Async` variants that run off the main thread.
#[napi]
pub struct Engine {
    pub(crate) inner: Arc<unistock::Engine>,
    pub(crate) default_ttl_ms: u64,
}

/// Counters since the engine started (or since the snapshot it was
/// restored from). Counters are `bigint`.
#[napi(object, object_from_js = false)]
pub struct Kpis {
    pub holds_created: BigInt,
    pub holds_committed: BigInt,
    pub holds_released: BigInt,
    pub holds_expired: BigInt,
    pub holds_refused: BigInt,
    pub till_sales: BigInt,
    pub till_sales_refused: BigInt,
    pub counts: BigInt,
    /// Sum of |counted - expected| over all counts (a decimal string).
    pub count_variance_units: String,
    pub shortages: BigInt,
    pub shortage_units: String,
    pub transfers_dispatched: BigInt,
    pub transfers_received: BigInt,
    pub orders_placed: BigInt,
    pub orders_refused: BigInt,
    pub orders_split: BigInt,
    pub shipments: BigInt,
    /// Great-circle km of placed shipments, summed (a decimal string).
    pub shipping_km: String,
    pub units_ordered: String,
    pub units_placed: String,
    pub units_backordered: String,
    pub units_preordered: String,
    pub orders_backordered: BigInt,
    pub units_backorder_filled: String,
    pub reroutes: BigInt,
    pub oversells_prevented: BigInt,
    pub hold_conversion: Option<f64>,
    /// Units placed from stock over units ordered.
    pub fill_rate: Option<f64>,
    /// Split orders over placed orders.
    pub split_rate: Option<f64>,
    pub average_shipping_km: Option<f64>,
}

impl From<unistock::Kpis> for Kpis {
    fn from(k: unistock::Kpis) -> Self {
        let b = BigInt::from;
        Kpis {
            oversells_prevented: b(k.oversells_prevented()),
            hold_conversion: k.hold_conversion(),
            holds_created: b(k.holds_created),
            holds_committed: b(k.holds_committed),
            holds_released: b(k.holds_released),
            holds_expired: b(k.holds_expired),
            holds_refused: b(k.holds_refused),
            till_sales: b(k.till_sales),
            till_sales_refused: b(k.till_sales_refused),
            counts: b(k.counts),
            count_variance_units: crate::convert::decimal_out(k.count_variance_units),
            shortages: b(k.shortages),
            shortage_units: crate::convert::decimal_out(k.shortage_units),
            transfers_dispatched: b(k.transfers_dispatched),
            transfers_received: b(k.transfers_received),
            fill_rate: k.fill_rate(),
            split_rate: k.split_rate(),
            average_shipping_km: k.average_shipping_km(),
            orders_placed: b(k.orders_placed),
            orders_refused: b(k.orders_refused),
            orders_split: b(k.orders_split),
            shipments: b(k.shipments),
            shipping_km: crate::convert::decimal_out(k.shipping_km),
            units_ordered: crate::convert::decimal_out(k.units_ordered),
            units_placed: crate::convert::decimal_out(k.units_placed),
            units_backordered: crate::convert::decimal_out(k.units_backordered),
            units_preordered: crate::convert::decimal_out(k.units_preordered),
            orders_backordered: b(k.orders_backordered),
            units_backorder_filled: crate::convert::decimal_out(k.units_backorder_filled),
            reroutes: b(k.reroutes),
        }
    }
}

/// A SKU and its unit scale.
#[napi(object, object_from_js = false)]
pub struct SkuInfo {
    pub sku: String,
    pub unit_scale: u32,
}

pub(crate) fn settings(options: Option<&Unknown<'_>>) -> Core<(Config, u64)> {
    let mut config = Config::default();
    let mut default_ttl_ms = 15 * 60 * 1000;
    let Some(o) = options.filter(|o| !is_nullish(o)) else {
        return Ok((config, default_ttl_ms));
    };
    let o = object_in(o, "options")?;
    if let Some(c) = field(&o, "clock")? {
        // SAFETY: a ClassInstance checks the wrapped type before use.
        let clock = unsafe { c.cast::<ClassInstance<'_, ManualClock>>() }
            .map_err(|_| arg("clock", "must be a ManualClock"))?;
        config.clock = clock.inner.clone();
    }
    if let Some(v) = field(&o, "holdRetentionMs")? {
        config.hold_retention_ms = ms_in(&v, "holdRetentionMs")?;
    }
    if let Some(v) = field(&o, "orderRetentionMs")? {
        config.order_retention_ms = ms_in(&v, "orderRetentionMs")?;
    }
    if let Some(v) = field(&o, "transferRetentionMs")? {
        config.transfer_retention_ms = ms_in(&v, "transferRetentionMs")?;
    }
    if let Some(v) = field(&o, "maxTtlMs")? {
        config.max_ttl_ms = ms_in(&v, "maxTtlMs")?;
    }
    if let Some(v) = o
        .get::<Unknown<'_>>("ledgerRetention")
        .map_err(|e| arg("ledgerRetention", e.reason.clone()))?
    {
        config.ledger_retention = match crate::convert::is_nullish(&v) {
            true if v.get_type().ok() == Some(ValueType::Null) => None,
            true => config.ledger_retention,
            false => Some(ms_in(&v, "ledgerRetention")?),
        };
    }
    if let Some(v) = field(&o, "stripes")? {
        config.stripes = int_in(&v, "stripes", 1.0, 65536.0)? as usize;
    }
    if let Some(v) = field(&o, "maxLines")? {
        config.max_lines = int_in(&v, "maxLines", 1.0, 1e6)? as usize;
    }
    if let Some(v) = field(&o, "defaultTtlMs")? {
        default_ttl_ms = ms_in(&v, "defaultTtlMs")?;
    }
    if default_ttl_ms > config.max_ttl_ms {
        return Err(arg("defaultTtlMs", "must not exceed maxTtlMs"));
    }
    Ok((config, default_ttl_ms))
}

/// Engine settings; every field is optional. (Read by hand in `settings`,
/// which checks each one; this declaration gives the TypeScript shape.)
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `convert`
pub struct EngineOptions {
    #[napi(ts_type = "ManualClock")]
    pub clock: Option<Unknown<'static>>,
    /// TTL of holds created without one, in ms (default 15 minutes).
    pub default_ttl_ms: Option<f64>,
    /// How long ended holds are kept so that retries stay idempotent, in ms (default 24 h).
    pub hold_retention_ms: Option<f64>,
    /// How long a closed order (every allocation fulfilled or cancelled)
    /// or till sale stays readable and idempotent after it closed, in ms
    /// (default 7 days); then it is purged and its id is free.
    pub order_retention_ms: Option<f64>,
    /// How long an ended transfer (received in full, or cancelled) stays
    /// readable and idempotent after it ended, in ms (default 7 days); then
    /// it is purged and its id is free.
    pub transfer_retention_ms: Option<f64>,
    /// Longest hold TTL accepted, in ms (default 30 days).
    pub max_ttl_ms: Option<f64>,
    /// At least this many of the newest ledger events are kept in memory
    /// (older ones go 128 events of one stripe at a time); `null` keeps all
    /// (default 2^20).
    #[napi(ts_type = "number | null")]
    pub ledger_retention: Option<f64>,
    /// SKU lock stripes (default 256).
    pub stripes: Option<f64>,
    /// Most lines in one hold or sale (default 1000).
    pub max_lines: Option<f64>,
}

#[napi]
impl Engine {
    /// An empty engine.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "options?: EngineOptions | undefined | null"
    )]
    pub fn new(env: Env, options: Option<Unknown<'_>>) -> Result<Self> {
        wrap(&env, || {
            let (config, default_ttl_ms) = settings(options.as_ref())?;
            Ok(Engine {
                inner: Arc::new(unistock::Engine::with_config(config)),
                default_ttl_ms,
            })
        })
    }

    /// An engine rebuilt from `snapshot()` bytes, with these settings.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "data: Buffer, options?: EngineOptions | undefined | null"
    )]
    pub fn restore(env: Env, data: Unknown<'_>, options: Option<Unknown<'_>>) -> Result<Self> {
        wrap(&env, || {
            if !data.is_buffer().unwrap_or(false) {
                return Err(arg("data", "must be a Buffer from Engine.snapshot()"));
            }
            // SAFETY: checked to be a Buffer.
            let buf = unsafe { data.cast::<BufferSlice<'_>>() }
                .map_err(|e| arg("data", e.reason.clone()))?;
            let snapshot: unistock::Snapshot = serde_json::from_slice(&buf)
                .map_err(|e| arg("data", format!("not a unistock snapshot: {e}")))?;
            let (config, default_ttl_ms) = settings(options.as_ref())?;
            Ok(Engine {
                inner: Arc::new(unistock::Engine::restore(snapshot, config)?),
                default_ttl_ms,
            })
        })
    }

    /// The whole state as bytes (JSON), for `Engine.restore`.
    ///
    /// Locking: every stripe and table, one after the other in lock order.
    // The bytes are copied into a buffer V8 allocates (see
    // `f64_array_copied` in `fast.rs` for why not hand ours over).
    #[napi(catch_unwind)]
    pub fn snapshot<'e>(&self, env: &'e Env) -> Result<BufferSlice<'e>> {
        let snap = self.inner.snapshot();
        let bytes = serde_json::to_vec(&snap).map_err(|e| Error::from_reason(e.to_string()))?;
        BufferSlice::copy_from(env, bytes)
    }

    /// The engine's clock reading now.
    #[napi(catch_unwind, ts_return_type = "Date")]
    pub fn now(&self) -> JsTime {
        JsTime(self.inner.now_ms())
    }

    /// The last ledger sequence number assigned (0n before the first event).
    #[napi(getter, catch_unwind)]
    pub fn last_seq(&self) -> BigInt {
        BigInt::from(self.inner.last_seq())
    }

    /// The TTL of holds created without one, in milliseconds.
    #[napi(getter, catch_unwind)]
    pub fn default_ttl_ms(&self) -> f64 {
        self.default_ttl_ms as f64
    }

    /// Declares a SKU; `unitScale` is how many decimals its quantities may
    /// have (0 = whole units, up to 6).
    ///
    /// Locking: the SKU-creation mutex, then the SKU's stripe.
    #[napi(catch_unwind, ts_args_type = "sku: string, unitScale?: number")]
    pub fn declare_sku(
        &self,
        env: Env,
        sku: Unknown<'_>,
        unit_scale: Option<Unknown<'_>>,
    ) -> Result<()> {
        wrap(&env, || {
            let sku = str_in(&sku, "sku")?;
            let scale = match unit_scale.filter(|v| !is_nullish(v)) {
                Some(v) => int_in(&v, "unitScale", 0.0, 6.0)? as u8,
                None => 0,
            };
            self.inner
                .declare_sku(&sku, SkuSpec { unit_scale: scale })
                .map(|_| ())
        })
    }

    /// Known SKUs with their unit scales, in creation order.
    #[napi(catch_unwind)]
    pub fn skus(&self) -> Vec<SkuInfo> {
        self.inner
            .skus()
            .into_iter()
            .map(|(sku, s)| SkuInfo {
                sku,
                unit_scale: s as u32,
            })
            .collect()
    }

    /// The KPI counters.
    ///
    /// Locking: each stripe in turn.
    #[napi(catch_unwind)]
    pub fn kpis(&self) -> Kpis {
        self.inner.kpis().into()
    }
}

/// Panics inside the binding, so the tests can show that a panic surfaces as
/// a JS `Error` and never aborts the process.
#[napi(catch_unwind)]
pub fn debug_panic(env: Env) -> Result<()> {
    wrap(&env, || -> Core<()> {
        panic!("deliberate panic for the tests")
    })
}
