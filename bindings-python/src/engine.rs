//! `unistock.Engine`: construction, clock, settings, SKUs, KPIs and
//! snapshots. The other capabilities are in the module named after the core
//! module they mirror (stock, channel, hold, order, transfer, ledger, feed).

use crate::convert::{Ms, PyDecimal, arg_err, id_in, time_in, ttl_in};
use crate::errors::{run, run_infallible};
use crate::records::record;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;
use unistock::{Config, ManualClock as CoreClock, SkuSpec};

/// A clock the host sets by hand (tests, simulations, replays).
#[pyclass(frozen, module = "unistock")]
pub struct ManualClock {
    pub(crate) inner: Arc<CoreClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    fn new(now: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(ManualClock {
            inner: Arc::new(CoreClock::new(time_in(now, "now")?)),
        })
    }
    /// The clock's time.
    fn now(&self) -> Ms {
        Ms(unistock::Clock::now_ms(&*self.inner))
    }
    /// Sets the time (it may go backwards: expiry then simply waits).
    fn set(&self, now: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set(time_in(now, "now")?);
        Ok(())
    }
    /// Moves the time forward.
    fn advance(&self, by: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.advance(ttl_in(by, "by")?);
        Ok(())
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ManualClock({})",
            self.now().into_pyobject(py)?.repr()?
        ))
    }
}

/// The inventory engine. Thread-safe: share one between threads; every
/// method releases the GIL while it runs.
#[pyclass(frozen, module = "unistock")]
pub struct Engine {
    pub(crate) inner: Arc<unistock::Engine>,
    pub(crate) default_ttl_ms: u64,
}

pub(crate) struct Settings {
    pub config: Config,
    pub default_ttl_ms: u64,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn settings(
    clock: Option<&Bound<'_, ManualClock>>,
    default_ttl: Option<&Bound<'_, PyAny>>,
    hold_retention: Option<&Bound<'_, PyAny>>,
    order_retention: Option<&Bound<'_, PyAny>>,
    transfer_retention: Option<&Bound<'_, PyAny>>,
    max_ttl: Option<&Bound<'_, PyAny>>,
    ledger_retention: Option<&Bound<'_, PyAny>>,
    stripes: usize,
    max_lines: usize,
) -> PyResult<Settings> {
    let mut config = match clock {
        Some(c) => Config::with_clock(c.get().inner.clone()),
        None => Config::default(),
    };
    config.stripes = stripes;
    config.max_lines = max_lines;
    if let Some(v) = hold_retention {
        config.hold_retention_ms = ttl_in(v, "hold_retention")?;
    }
    if let Some(v) = order_retention {
        config.order_retention_ms = ttl_in(v, "order_retention")?;
    }
    if let Some(v) = transfer_retention {
        config.transfer_retention_ms = ttl_in(v, "transfer_retention")?;
    }
    if let Some(v) = max_ttl {
        config.max_ttl_ms = ttl_in(v, "max_ttl")?;
    }
    if let Some(v) = ledger_retention {
        config.ledger_retention = if v.is_none() {
            None
        } else {
            let n: u64 = v.extract().map_err(|_| {
                arg_err(v.py(), "ledger_retention", "must be a positive int or None")
            })?;
            Some(n.max(1))
        };
    }
    let default_ttl_ms = match default_ttl {
        Some(v) => ttl_in(v, "default_ttl")?,
        None => 15 * 60 * 1000,
    };
    if default_ttl_ms > config.max_ttl_ms {
        return Err(arg_err(
            default_ttl.expect("set").py(),
            "default_ttl",
            "must not exceed max_ttl",
        ));
    }
    Ok(Settings {
        config,
        default_ttl_ms,
    })
}

record!(
    /// Counters since the engine started (or since the snapshot it was
    /// restored from).
    Kpis {
        holds_created: u64,
        holds_committed: u64,
        holds_released: u64,
        holds_expired: u64,
        holds_refused: u64,
        till_sales: u64,
        till_sales_refused: u64,
        counts: u64,
        count_variance_units: PyDecimal,
        shortages: u64,
        shortage_units: PyDecimal,
        transfers_dispatched: u64,
        transfers_received: u64,
        orders_placed: u64,
        orders_refused: u64,
        orders_split: u64,
        shipments: u64,
        shipping_km: PyDecimal,
        units_ordered: PyDecimal,
        units_placed: PyDecimal,
        units_backordered: PyDecimal,
        units_preordered: PyDecimal,
        orders_backordered: u64,
        units_backorder_filled: PyDecimal,
        reroutes: u64,
        oversells_prevented: u64,
        hold_conversion: Option<f64>,
        fill_rate: Option<f64>,
        split_rate: Option<f64>,
        average_shipping_km: Option<f64>,
    }
);

impl From<unistock::Kpis> for Kpis {
    fn from(k: unistock::Kpis) -> Self {
        Kpis {
            oversells_prevented: k.oversells_prevented(),
            hold_conversion: k.hold_conversion(),
            holds_created: k.holds_created,
            holds_committed: k.holds_committed,
            holds_released: k.holds_released,
            holds_expired: k.holds_expired,
            holds_refused: k.holds_refused,
            till_sales: k.till_sales,
            till_sales_refused: k.till_sales_refused,
            counts: k.counts,
            count_variance_units: PyDecimal(k.count_variance_units),
            shortages: k.shortages,
            shortage_units: PyDecimal(k.shortage_units),
            transfers_dispatched: k.transfers_dispatched,
            transfers_received: k.transfers_received,
            fill_rate: k.fill_rate(),
            split_rate: k.split_rate(),
            average_shipping_km: k.average_shipping_km(),
            orders_placed: k.orders_placed,
            orders_refused: k.orders_refused,
            orders_split: k.orders_split,
            shipments: k.shipments,
            shipping_km: PyDecimal(k.shipping_km),
            units_ordered: PyDecimal(k.units_ordered),
            units_placed: PyDecimal(k.units_placed),
            units_backordered: PyDecimal(k.units_backordered),
            units_preordered: PyDecimal(k.units_preordered),
            orders_backordered: k.orders_backordered,
            units_backorder_filled: PyDecimal(k.units_backorder_filled),
            reroutes: k.reroutes,
        }
    }
}

#[pymethods]
impl Engine {
    /// An empty engine. `clock`: a `ManualClock` (default: the system
    /// clock). `default_ttl`: the TTL of holds created without one.
    /// `hold_retention` / `order_retention` / `transfer_retention`: how long
    /// ended holds, closed orders and ended transfers stay readable and
    /// idempotent (default 24 h / 7 days / 7 days).
    #[new]
    #[pyo3(signature = (*, clock=None, default_ttl=None, hold_retention=None, order_retention=None, transfer_retention=None, max_ttl=None, ledger_retention=None, stripes=256, max_lines=1000))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        clock: Option<&Bound<'_, ManualClock>>,
        default_ttl: Option<&Bound<'_, PyAny>>,
        hold_retention: Option<&Bound<'_, PyAny>>,
        order_retention: Option<&Bound<'_, PyAny>>,
        transfer_retention: Option<&Bound<'_, PyAny>>,
        max_ttl: Option<&Bound<'_, PyAny>>,
        ledger_retention: Option<&Bound<'_, PyAny>>,
        stripes: usize,
        max_lines: usize,
    ) -> PyResult<Self> {
        let s = settings(
            clock,
            default_ttl,
            hold_retention,
            order_retention,
            transfer_retention,
            max_ttl,
            ledger_retention,
            stripes,
            max_lines,
        )?;
        Ok(Engine {
            inner: Arc::new(unistock::Engine::with_config(s.config)),
            default_ttl_ms: s.default_ttl_ms,
        })
    }

    /// An engine rebuilt from `snapshot()` bytes, with these settings.
    #[staticmethod]
    #[pyo3(signature = (data, *, clock=None, default_ttl=None, hold_retention=None, order_retention=None, transfer_retention=None, max_ttl=None, ledger_retention=None, stripes=256, max_lines=1000))]
    #[allow(clippy::too_many_arguments)]
    fn restore(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
        default_ttl: Option<&Bound<'_, PyAny>>,
        hold_retention: Option<&Bound<'_, PyAny>>,
        order_retention: Option<&Bound<'_, PyAny>>,
        transfer_retention: Option<&Bound<'_, PyAny>>,
        max_ttl: Option<&Bound<'_, PyAny>>,
        ledger_retention: Option<&Bound<'_, PyAny>>,
        stripes: usize,
        max_lines: usize,
    ) -> PyResult<Self> {
        let bytes = data
            .cast::<PyBytes>()
            .map_err(|_| arg_err(py, "data", "must be bytes from Engine.snapshot()"))?
            .as_bytes()
            .to_vec();
        let s = settings(
            clock,
            default_ttl,
            hold_retention,
            order_retention,
            transfer_retention,
            max_ttl,
            ledger_retention,
            stripes,
            max_lines,
        )?;
        let snapshot: unistock::Snapshot = serde_json::from_slice(&bytes)
            .map_err(|e| arg_err(py, "data", format!("not a unistock snapshot: {e}")))?;
        let config = s.config;
        let engine = run(py, move || unistock::Engine::restore(snapshot, config))?;
        Ok(Engine {
            inner: Arc::new(engine),
            default_ttl_ms: s.default_ttl_ms,
        })
    }

    /// The whole state as bytes (JSON), for `Engine.restore`.
    ///
    /// Locking: every stripe and table, one after the other in lock order.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let e = &self.inner;
        let snap = run_infallible(py, || e.snapshot())?;
        let bytes =
            serde_json::to_vec(&snap).map_err(|err| arg_err(py, "snapshot", err.to_string()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The engine's clock reading now.
    fn now(&self) -> Ms {
        Ms(self.inner.now_ms())
    }

    /// The TTL of holds created without one.
    #[getter]
    fn default_ttl_ms(&self) -> u64 {
        self.default_ttl_ms
    }

    /// The last ledger sequence number assigned (0 before the first event).
    #[getter]
    fn last_seq(&self) -> u64 {
        self.inner.last_seq()
    }

    /// Declares a SKU; `unit_scale` is how many decimals its quantities
    /// may have (0 = whole units, up to 6). Declaring again with the same
    /// scale is a no-op; another scale is an `IdConflictError`.
    ///
    /// Locking: the SKU-creation mutex, then the SKU's stripe.
    #[pyo3(signature = (sku, *, unit_scale=None))]
    fn declare_sku(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        unit_scale: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let sku = id_in(sku, "sku")?;
        let scale: u8 = match unit_scale {
            None => 0,
            Some(v) if v.is_instance_of::<pyo3::types::PyBool>() => {
                return Err(arg_err(py, "unit_scale", "must be an int 0..=6"));
            }
            Some(v) => v
                .extract()
                .map_err(|_| arg_err(py, "unit_scale", "must be an int 0..=6"))?,
        };
        let e = &self.inner;
        run(py, || {
            e.declare_sku(&sku, SkuSpec { unit_scale: scale })
                .map(|_| ())
        })
    }

    /// Known SKUs with their unit scales, in creation order.
    fn skus(&self, py: Python<'_>) -> PyResult<Vec<(String, u8)>> {
        let e = &self.inner;
        run_infallible(py, || e.skus())
    }

    /// The KPI counters.
    ///
    /// Locking: each stripe in turn.
    fn kpis(&self, py: Python<'_>) -> PyResult<Kpis> {
        let e = &self.inner;
        Ok(run_infallible(py, || e.kpis())?.into())
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(skus={}, last_seq={})",
            self.inner.skus().len(),
            self.inner.last_seq()
        )
    }
}
