//! Routing (mirrors `unistock::routing`): `Engine.route` plans where an
//! order would ship from, with its reasons, and changes nothing.

use crate::channel::{bool_in, float_in, int_in};
use crate::convert::{LineItems, Ms, PyDecimal, PyQty, arg_err, decimal_in, id_in, seq_items};
use crate::engine::Engine;
use crate::errors::run;
use crate::hold::{Part, parts_out};
use crate::records::record;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::Mutex;
use unistock::{Error, Fulfilment, RouteOptions, RouteRequest, RouteStrategy};

record!(
    /// What one location sends: `lines` as (sku, qty) pairs, the
    /// great-circle `distance_km` to the destination, the exact `cost`, the
    /// `promised_at` date, whether it is a `backorder` against an expected
    /// receipt, the store a click & collect transfer goes to, and `why`.
    Shipment {
        location: String,
        lines: Vec<(String, PyQty)>,
        distance_km: f64,
        cost: PyDecimal,
        promised_at: Ms,
        backorder: bool,
        preorder: bool,
        transfer_to: Option<String>,
        why: String,
    }
);

record!(
    /// A location routing considered: its `rank` (1 = best, 0 = excluded,
    /// with the reason in `excluded`) and its scores.
    Candidate {
        location: String,
        rank: usize,
        excluded: Option<String>,
        priority: i32,
        distance_km: f64,
        units_available: PyQty,
        cost: PyDecimal,
        custom_score: Option<f64>,
    }
);

record!(
    /// An order placed from a routing plan: what was `allocations` (the
    /// plan's shipments from stock) and the `plan` itself.
    Placement {
        order: String,
        replayed: bool,
        allocations: Vec<Part>,
        plan: Plan,
    }
);

record!(
    /// How busy a location is today: the orders it took since
    /// `day_start` (UTC) against its daily `capacity` (`None`: unlimited),
    /// the count capacity-aware routing uses.
    LocationLoad {
        location: String,
        day_start: Ms,
        orders_today: u32,
        capacity: Option<u32>,
    }
);

record!(
    /// A routing plan: the shipments, what is left `unfilled` (with
    /// `allow_partial`), the `total_cost` and every candidate, ranked.
    Plan {
        shipments: Vec<Shipment>,
        unfilled: Vec<(String, PyQty)>,
        total_cost: PyDecimal,
        candidates: Vec<Candidate>,
    }
);

fn candidate_out(c: unistock::CandidateView) -> Candidate {
    Candidate {
        location: c.location.to_string(),
        rank: c.rank,
        excluded: c.excluded,
        priority: c.priority,
        distance_km: c.distance_km,
        units_available: PyQty(c.units_available),
        cost: PyDecimal(c.cost),
        custom_score: c.custom_score,
    }
}

fn lines_out(lines: Vec<unistock::PlanLine>) -> Vec<(String, PyQty)> {
    lines
        .into_iter()
        .map(|l| (l.sku.to_string(), PyQty(l.qty)))
        .collect()
}

fn placement_out(e: &unistock::Engine, order: String, placed: unistock::Placed) -> Placement {
    Placement {
        allocations: parts_out(e, &placed.allocations),
        order,
        replayed: placed.replayed,
        plan: plan_out(placed.plan),
    }
}

fn plan_out(p: unistock::Plan) -> Plan {
    Plan {
        shipments: p
            .shipments
            .into_iter()
            .map(|s| Shipment {
                location: s.location.to_string(),
                lines: lines_out(s.lines),
                distance_km: s.distance_km,
                cost: PyDecimal(s.cost),
                promised_at: Ms(s.promised_at_ms),
                backorder: s.backorder,
                preorder: s.preorder,
                transfer_to: s.transfer_to.map(|t| t.to_string()),
                why: s.why,
            })
            .collect(),
        unfilled: lines_out(p.unfilled),
        total_cost: PyDecimal(p.total_cost),
        candidates: p.candidates.into_iter().map(candidate_out).collect(),
    }
}

/// Exactly one of the four ways to fulfil.
fn fulfilment_in(
    py: Python<'_>,
    ship_to: Option<&Bound<'_, PyAny>>,
    collect_at: Option<&Bound<'_, PyAny>>,
    reserve_at: Option<&Bound<'_, PyAny>>,
    reserve_hours: Option<&Bound<'_, PyAny>>,
    till: Option<&Bound<'_, PyAny>>,
) -> PyResult<Fulfilment> {
    let given = [ship_to, collect_at, reserve_at, till]
        .iter()
        .filter(|x| x.is_some_and(|v| !v.is_none()))
        .count();
    if given != 1 {
        return Err(arg_err(
            py,
            "fulfilment",
            "give exactly one of ship_to, collect_at, reserve_at, till",
        ));
    }
    if let Some(v) = ship_to.filter(|v| !v.is_none()) {
        let items = seq_items(v, "ship_to")?;
        if items.len() != 3 {
            return Err(arg_err(py, "ship_to", "must be (lat, lon, country)"));
        }
        return Ok(Fulfilment::Ship {
            lat: float_in(&items[0], "ship_to")?,
            lon: float_in(&items[1], "ship_to")?,
            country: id_in(&items[2], "ship_to")?,
        });
    }
    if let Some(v) = collect_at.filter(|v| !v.is_none()) {
        return Ok(Fulfilment::ClickAndCollect {
            store: id_in(v, "collect_at")?,
        });
    }
    if let Some(v) = reserve_at.filter(|v| !v.is_none()) {
        let hours = match reserve_hours {
            Some(h) if !h.is_none() => int_in(h, "reserve_hours")?,
            _ => 24,
        };
        return Ok(Fulfilment::ClickAndReserve {
            store: id_in(v, "reserve_at")?,
            hours,
        });
    }
    let store = till.map(|v| id_in(v, "till")).transpose()?;
    Ok(Fulfilment::TillSale {
        store: store.expect("one was given"),
    })
}

/// The routing arguments `route`, `place` and `reroute` take, checked.
struct RouteArgs {
    fulfilment: Fulfilment,
    options: RouteOptions,
    scorers: Vec<Py<PyAny>>,
}

#[allow(clippy::too_many_arguments)]
fn route_args(
    py: Python<'_>,
    ship_to: Option<&Bound<'_, PyAny>>,
    collect_at: Option<&Bound<'_, PyAny>>,
    reserve_at: Option<&Bound<'_, PyAny>>,
    reserve_hours: Option<&Bound<'_, PyAny>>,
    till: Option<&Bound<'_, PyAny>>,
    strategies: Option<&Bound<'_, PyAny>>,
    allow_split: Option<&Bound<'_, PyAny>>,
    max_shipments: Option<&Bound<'_, PyAny>>,
    allow_partial: Option<&Bound<'_, PyAny>>,
    allow_backorder: Option<&Bound<'_, PyAny>>,
    cost_per_km: Option<&Bound<'_, PyAny>>,
    transfer_days: Option<&Bound<'_, PyAny>>,
) -> PyResult<RouteArgs> {
    let fulfilment = fulfilment_in(py, ship_to, collect_at, reserve_at, reserve_hours, till)?;
    let mut options = RouteOptions::default();
    let mut scorers: Vec<Py<PyAny>> = Vec::new();
    if let Some(v) = strategies.filter(|v| !v.is_none()) {
        options.strategies.clear();
        for item in seq_items(v, "strategies")? {
            if let Ok(name) = item.cast::<PyString>() {
                let name = name.to_cow()?;
                let s = RouteStrategy::parse(&name).ok_or_else(|| {
                    arg_err(py, "strategies", format!("unknown strategy '{name}'"))
                })?;
                options.strategies.push(s);
            } else if item.is_callable() {
                options
                    .strategies
                    .push(RouteStrategy::Host(scorers.len() as u32));
                scorers.push(item.unbind());
            } else {
                return Err(arg_err(
                    py,
                    "strategies",
                    "each must be a strategy name or a callable",
                ));
            }
        }
    }
    let flag = |v: Option<&Bound<'_, PyAny>>, f: &'static str, d: bool| {
        v.filter(|v| !v.is_none()).map_or(Ok(d), |v| bool_in(v, f))
    };
    options.allow_split = flag(allow_split, "allow_split", true)?;
    options.allow_partial = flag(allow_partial, "allow_partial", false)?;
    options.allow_backorder = flag(allow_backorder, "allow_backorder", false)?;
    if let Some(v) = max_shipments.filter(|v| !v.is_none()) {
        options.max_shipments = Some(int_in(v, "max_shipments")?);
    }
    if let Some(v) = cost_per_km.filter(|v| !v.is_none()) {
        options.cost_per_km = decimal_in(v, "cost_per_km")?;
    }
    if let Some(v) = transfer_days.filter(|v| !v.is_none()) {
        options.transfer_days = int_in(v, "transfer_days")?;
    }
    Ok(RouteArgs {
        fulfilment,
        options,
        scorers,
    })
}

/// Runs `f` with the GIL released, scoring with the host's callables (each
/// call takes the GIL back; no engine lock is held). A callable's own
/// exception is what Python sees.
fn with_scorers<T: Send>(
    py: Python<'_>,
    scorers: &[Py<PyAny>],
    f: impl FnOnce(
        &mut dyn FnMut(u32, &unistock::CandidateView) -> unistock::Result<f64>,
    ) -> unistock::Result<T>
    + Send,
) -> PyResult<T> {
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let result = run(py, || {
        f(&mut |n, view| {
            Python::attach(|py| {
                let score = scorers[n as usize]
                    .call1(py, (candidate_out(view.clone()),))
                    .and_then(|s| float_in(s.bind(py), "strategies"));
                score.map_err(|err| {
                    *raised.lock().expect("not poisoned") = Some(err);
                    Error::NoRoute {
                        reason: "a scorer raised".into(),
                    }
                })
            })
        })
    });
    match (result, raised.into_inner().expect("not poisoned")) {
        (_, Some(err)) => Err(err),
        (r, None) => r,
    }
}

#[pymethods]
impl Engine {
    /// Plans where an order would be fulfilled from; changes nothing.
    ///
    /// Give exactly one of `ship_to=(lat, lon, country)`, `collect_at=store`
    /// (from the store, or sent there by transfer), `reserve_at=store` (with
    /// `reserve_hours`, that store only) or `till=store`. `strategies` rank
    /// the candidates in order: 'priority', 'nearest', 'lowest_cost',
    /// 'fewest_shipments', 'stock_balancing', 'capacity_aware', or a
    /// callable `f(candidate) -> float` (higher ranks first) called with no
    /// engine lock held. Raises `InsufficientStockError` for a shortfall
    /// (unless `allow_partial` or `allow_backorder`) and `NoRouteError` when
    /// the constraints leave no plan.
    ///
    /// Locking: the stripes of the order's SKUs together, dropped before
    /// any scorer runs.
    #[pyo3(signature = (channel, lines, *, ship_to=None, collect_at=None, reserve_at=None, reserve_hours=None, till=None, strategies=None, allow_split=None, max_shipments=None, allow_partial=None, allow_backorder=None, cost_per_km=None, transfer_days=None))]
    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
        ship_to: Option<&Bound<'_, PyAny>>,
        collect_at: Option<&Bound<'_, PyAny>>,
        reserve_at: Option<&Bound<'_, PyAny>>,
        reserve_hours: Option<&Bound<'_, PyAny>>,
        till: Option<&Bound<'_, PyAny>>,
        strategies: Option<&Bound<'_, PyAny>>,
        allow_split: Option<&Bound<'_, PyAny>>,
        max_shipments: Option<&Bound<'_, PyAny>>,
        allow_partial: Option<&Bound<'_, PyAny>>,
        allow_backorder: Option<&Bound<'_, PyAny>>,
        cost_per_km: Option<&Bound<'_, PyAny>>,
        transfer_days: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Plan> {
        let channel = id_in(channel, "channel")?;
        let a = route_args(
            py,
            ship_to,
            collect_at,
            reserve_at,
            reserve_hours,
            till,
            strategies,
            allow_split,
            max_shipments,
            allow_partial,
            allow_backorder,
            cost_per_km,
            transfer_days,
        )?;
        let items = LineItems::new(lines)?;
        let ls = items.lines();
        let req = RouteRequest {
            channel: &channel,
            fulfilment: a.fulfilment,
            lines: &ls,
            options: a.options,
        };
        let e = &self.inner;
        with_scorers(py, &a.scorers, |host| e.route_with(&req, host)).map(plan_out)
    }

    /// Places `order`: routes it (same arguments as `route`) and allocates
    /// the plan's shipments from stock atomically, re-checked under the
    /// locks; if stock moved since the plan, it plans once more, and
    /// otherwise raises with nothing changed. The order id is the
    /// idempotency key (the same request returns the original placement,
    /// `replayed=True`; another one raises `IdConflictError`). Backordered
    /// and unfilled units stay in the plan, not in the allocations; the
    /// order is then fulfilled or cancelled like any other. A click & reserve
    /// order (`reserve_at`) keeps its units at the store for `reserve_hours`
    /// (24 unless given; from when nothing is backordered any more;
    /// `OrderInfo.reserved_until`): what is not picked up by then is
    /// cancelled at that time, by the first operation or
    /// `expire_due` after it. `reroute` gives it new hours.
    ///
    /// Locking: as `route`; then the order's shard and the SKUs' stripes.
    #[pyo3(signature = (order, channel, lines, *, ship_to=None, collect_at=None, reserve_at=None, reserve_hours=None, till=None, strategies=None, allow_split=None, max_shipments=None, allow_partial=None, allow_backorder=None, cost_per_km=None, transfer_days=None))]
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        py: Python<'_>,
        order: &Bound<'_, PyAny>,
        channel: &Bound<'_, PyAny>,
        lines: &Bound<'_, PyAny>,
        ship_to: Option<&Bound<'_, PyAny>>,
        collect_at: Option<&Bound<'_, PyAny>>,
        reserve_at: Option<&Bound<'_, PyAny>>,
        reserve_hours: Option<&Bound<'_, PyAny>>,
        till: Option<&Bound<'_, PyAny>>,
        strategies: Option<&Bound<'_, PyAny>>,
        allow_split: Option<&Bound<'_, PyAny>>,
        max_shipments: Option<&Bound<'_, PyAny>>,
        allow_partial: Option<&Bound<'_, PyAny>>,
        allow_backorder: Option<&Bound<'_, PyAny>>,
        cost_per_km: Option<&Bound<'_, PyAny>>,
        transfer_days: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Placement> {
        let order = id_in(order, "order")?;
        let channel = id_in(channel, "channel")?;
        let a = route_args(
            py,
            ship_to,
            collect_at,
            reserve_at,
            reserve_hours,
            till,
            strategies,
            allow_split,
            max_shipments,
            allow_partial,
            allow_backorder,
            cost_per_km,
            transfer_days,
        )?;
        let items = LineItems::new(lines)?;
        let ls = items.lines();
        let req = RouteRequest {
            channel: &channel,
            fulfilment: a.fulfilment,
            lines: &ls,
            options: a.options,
        };
        let e = &self.inner;
        let placed = with_scorers(py, &a.scorers, |host| e.place_with(&order, &req, host))?;
        Ok(placement_out(e, order, placed))
    }

    /// How many orders `location` took today against its daily capacity.
    ///
    /// Locking: the daily order counts.
    fn location_load(&self, py: Python<'_>, location: &Bound<'_, PyAny>) -> PyResult<LocationLoad> {
        let location = id_in(location, "location")?;
        let e = &self.inner;
        let l = run(py, || e.location_load(&location))?;
        Ok(LocationLoad {
            location: l.location,
            day_start: Ms(l.day_start_ms),
            orders_today: l.orders_today,
            capacity: l.capacity,
        })
    }

    /// Places `order` from the active hold `hold`: the hold's units are
    /// routed with these arguments (as for `route`, without channel and
    /// lines: they are the hold's), counting the hold's own units as
    /// available, and in one transaction the hold ends as committed and the
    /// plan is allocated. This is where a pool hold is bound to locations.
    /// Re-checked under the locks and planned once more if stock moved;
    /// otherwise raises with nothing changed (the hold stays active).
    /// Retrying with the same hold, order and arguments returns the
    /// original placement (`replayed=True`).
    ///
    /// Locking: the hold's shard; as `route`; then the hold's shard, the
    /// order's shard and the SKUs' stripes.
    #[pyo3(signature = (hold, order, *, ship_to=None, collect_at=None, reserve_at=None, reserve_hours=None, till=None, strategies=None, allow_split=None, max_shipments=None, allow_partial=None, allow_backorder=None, cost_per_km=None, transfer_days=None))]
    #[allow(clippy::too_many_arguments)]
    fn place_hold(
        &self,
        py: Python<'_>,
        hold: &Bound<'_, PyAny>,
        order: &Bound<'_, PyAny>,
        ship_to: Option<&Bound<'_, PyAny>>,
        collect_at: Option<&Bound<'_, PyAny>>,
        reserve_at: Option<&Bound<'_, PyAny>>,
        reserve_hours: Option<&Bound<'_, PyAny>>,
        till: Option<&Bound<'_, PyAny>>,
        strategies: Option<&Bound<'_, PyAny>>,
        allow_split: Option<&Bound<'_, PyAny>>,
        max_shipments: Option<&Bound<'_, PyAny>>,
        allow_partial: Option<&Bound<'_, PyAny>>,
        allow_backorder: Option<&Bound<'_, PyAny>>,
        cost_per_km: Option<&Bound<'_, PyAny>>,
        transfer_days: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Placement> {
        let hold = id_in(hold, "hold")?;
        let order = id_in(order, "order")?;
        let a = route_args(
            py,
            ship_to,
            collect_at,
            reserve_at,
            reserve_hours,
            till,
            strategies,
            allow_split,
            max_shipments,
            allow_partial,
            allow_backorder,
            cost_per_km,
            transfer_days,
        )?;
        let e = &self.inner;
        let (f, o) = (a.fulfilment, a.options);
        let placed = with_scorers(py, &a.scorers, |host| {
            e.place_hold_with(&hold, &order, f, o, host)
        })?;
        Ok(placement_out(e, order, placed))
    }

    /// Re-routes an open order (a new address or method, or a store that
    /// cannot pick): its open units are planned again with these arguments
    /// (as for `route`, without channel and lines: they are the order's),
    /// its own allocations counting as available, and the new allocation is
    /// swapped in atomically. If no plan is possible the old allocation
    /// stays and the error says why.
    ///
    /// Locking: as `route`; then the order's shard and the SKUs' stripes.
    #[pyo3(signature = (order, *, ship_to=None, collect_at=None, reserve_at=None, reserve_hours=None, till=None, strategies=None, allow_split=None, max_shipments=None, allow_partial=None, allow_backorder=None, cost_per_km=None, transfer_days=None))]
    #[allow(clippy::too_many_arguments)]
    fn reroute(
        &self,
        py: Python<'_>,
        order: &Bound<'_, PyAny>,
        ship_to: Option<&Bound<'_, PyAny>>,
        collect_at: Option<&Bound<'_, PyAny>>,
        reserve_at: Option<&Bound<'_, PyAny>>,
        reserve_hours: Option<&Bound<'_, PyAny>>,
        till: Option<&Bound<'_, PyAny>>,
        strategies: Option<&Bound<'_, PyAny>>,
        allow_split: Option<&Bound<'_, PyAny>>,
        max_shipments: Option<&Bound<'_, PyAny>>,
        allow_partial: Option<&Bound<'_, PyAny>>,
        allow_backorder: Option<&Bound<'_, PyAny>>,
        cost_per_km: Option<&Bound<'_, PyAny>>,
        transfer_days: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Placement> {
        let order = id_in(order, "order")?;
        let a = route_args(
            py,
            ship_to,
            collect_at,
            reserve_at,
            reserve_hours,
            till,
            strategies,
            allow_split,
            max_shipments,
            allow_partial,
            allow_backorder,
            cost_per_km,
            transfer_days,
        )?;
        let e = &self.inner;
        let (f, o) = (a.fulfilment, a.options);
        let placed = with_scorers(py, &a.scorers, |host| e.reroute_with(&order, f, o, host))?;
        Ok(placement_out(e, order, placed))
    }
}
