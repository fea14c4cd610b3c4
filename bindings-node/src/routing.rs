//! Routing (mirrors `unistock::routing`): `engine.route` plans where an
//! order would ship from, with its reasons, and changes nothing.

use crate::convert::{
    JsQty, JsTime, array_in, bool_in, decimal_in, decimal_out, field, float_in, hold_lines, int_in,
    lines_in, object_in, str_in,
};
use crate::engine::Engine;
use crate::errors::{Core, arg, wrap};
use crate::hold::{Part, parts_out};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use unistock::{Error as CoreError, Fulfilment, RouteOptions, RouteRequest, RouteStrategy};

/// A SKU and a quantity in a plan.
#[napi(object, object_from_js = false)]
pub struct PlanLine {
    pub sku: String,
    #[napi(ts_type = "Quantity")]
    pub qty: JsQty,
}

/// What one location sends.
#[napi(object, object_from_js = false)]
pub struct Shipment {
    pub location: String,
    pub lines: Vec<PlanLine>,
    /// Great-circle km to the destination.
    pub distance_km: f64,
    /// Per shipment + per unit + per km, a decimal string.
    pub cost: String,
    /// When the customer can have it.
    #[napi(ts_type = "Date")]
    pub promised_at: JsTime,
    /// Promised from an expected receipt, not from stock.
    pub backorder: bool,
    /// A backorder of a SKU not in stock anywhere the channel sells from.
    pub preorder: bool,
    /// Click & collect from elsewhere: the store a transfer goes to.
    pub transfer_to: Option<String>,
    /// Why this location.
    pub why: String,
}

/// A location routing considered: `rank` 1 is best, 0 is excluded (see
/// `excluded` for why).
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct Candidate {
    pub location: String,
    pub rank: u32,
    pub excluded: Option<String>,
    pub priority: i32,
    pub distance_km: f64,
    #[napi(ts_type = "Quantity")]
    pub units_available: JsQty,
    pub cost: String,
    pub custom_score: Option<f64>,
}

/// An order placed from a routing plan: what was allocated (the plan's
/// shipments from stock) and the plan itself.
#[napi(object, object_from_js = false)]
pub struct Placement {
    pub order: String,
    pub replayed: bool,
    pub allocations: Vec<Part>,
    pub plan: Plan,
}

/// How busy a location is today: the orders it took since `dayStart`
/// (UTC) against its daily `capacity` (`null`: unlimited), the count
/// capacity-aware routing uses.
#[napi(object, object_from_js = false)]
pub struct LocationLoad {
    pub location: String,
    #[napi(ts_type = "Date")]
    pub day_start: JsTime,
    pub orders_today: u32,
    #[napi(ts_type = "number | null")]
    pub capacity: Option<u32>,
}

/// A routing plan.
#[napi(object, object_from_js = false)]
pub struct Plan {
    pub shipments: Vec<Shipment>,
    /// Units left out (with `allowPartial`).
    pub unfilled: Vec<PlanLine>,
    pub total_cost: String,
    /// Every location considered, ranked, and the excluded ones with why.
    pub candidates: Vec<Candidate>,
}

fn candidate_out(c: &unistock::CandidateView) -> Candidate {
    Candidate {
        location: c.location.to_string(),
        rank: c.rank as u32,
        excluded: c.excluded.clone(),
        priority: c.priority,
        distance_km: c.distance_km,
        units_available: JsQty(c.units_available),
        cost: decimal_out(c.cost),
        custom_score: c.custom_score,
    }
}

fn lines_out(lines: Vec<unistock::PlanLine>) -> Vec<PlanLine> {
    lines
        .into_iter()
        .map(|l| PlanLine {
            sku: l.sku.to_string(),
            qty: JsQty(l.qty),
        })
        .collect()
}

fn placement_out(e: &unistock::Engine, order: &str, placed: unistock::Placed) -> Placement {
    Placement {
        allocations: parts_out(e, &placed.allocations),
        order: order.to_string(),
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
                cost: decimal_out(s.cost),
                promised_at: JsTime(s.promised_at_ms),
                backorder: s.backorder,
                preorder: s.preorder,
                transfer_to: s.transfer_to.map(|t| t.to_string()),
                why: s.why,
            })
            .collect(),
        unfilled: lines_out(p.unfilled),
        total_cost: decimal_out(p.total_cost),
        candidates: p.candidates.iter().map(candidate_out).collect(),
    }
}

type Scorer<'e> = Function<'e, Candidate, Unknown<'e>>;

/// The options object: exactly one fulfilment, then the strategies (names
/// or functions) and constraints.
fn options_in<'e>(v: &Unknown<'e>) -> Core<(Fulfilment, RouteOptions, Vec<Scorer<'e>>)> {
    let o = object_in(v, "options")?;
    let ship_to = field(&o, "shipTo")?;
    let collect_at = field(&o, "collectAt")?;
    let reserve_at = field(&o, "reserveAt")?;
    let till = field(&o, "till")?;
    let given = [&ship_to, &collect_at, &reserve_at, &till]
        .iter()
        .filter(|x| x.is_some())
        .count();
    if given != 1 {
        return Err(arg(
            "fulfilment",
            "give exactly one of shipTo, collectAt, reserveAt, till",
        ));
    }
    let fulfilment = if let Some(s) = ship_to {
        let s = object_in(&s, "shipTo")?;
        let need = |name| field(&s, name)?.ok_or_else(|| arg("shipTo", "needs lat, lon, country"));
        Fulfilment::Ship {
            lat: float_in(&need("lat")?, "shipTo")?,
            lon: float_in(&need("lon")?, "shipTo")?,
            country: str_in(&need("country")?, "shipTo")?,
        }
    } else if let Some(s) = collect_at {
        Fulfilment::ClickAndCollect {
            store: str_in(&s, "collectAt")?,
        }
    } else if let Some(s) = reserve_at {
        let hours = match field(&o, "reserveHours")? {
            Some(h) => int_in(&h, "reserveHours", 0.0, u32::MAX as f64)? as u32,
            None => 24,
        };
        Fulfilment::ClickAndReserve {
            store: str_in(&s, "reserveAt")?,
            hours,
        }
    } else {
        Fulfilment::TillSale {
            store: str_in(&till.expect("one was given"), "till")?,
        }
    };
    let mut opts = RouteOptions::default();
    let mut scorers = Vec::new();
    if let Some(list) = field(&o, "strategies")? {
        opts.strategies.clear();
        for item in array_in(&list, "strategies")? {
            match item.get_type().ok() {
                Some(ValueType::String) => {
                    let name = str_in(&item, "strategies")?;
                    let s = RouteStrategy::parse(&name)
                        .ok_or_else(|| arg("strategies", format!("unknown strategy '{name}'")))?;
                    opts.strategies.push(s);
                }
                Some(ValueType::Function) => {
                    // SAFETY: checked to be a function.
                    let f = unsafe { item.cast::<Scorer<'e>>() }
                        .map_err(|e| arg("strategies", e.reason.clone()))?;
                    opts.strategies
                        .push(RouteStrategy::Host(scorers.len() as u32));
                    scorers.push(f);
                }
                _ => {
                    return Err(arg(
                        "strategies",
                        "each must be a strategy name or a function",
                    ));
                }
            }
        }
    }
    if let Some(v) = field(&o, "allowSplit")? {
        opts.allow_split = bool_in(&v, "allowSplit")?;
    }
    if let Some(v) = field(&o, "allowPartial")? {
        opts.allow_partial = bool_in(&v, "allowPartial")?;
    }
    if let Some(v) = field(&o, "allowBackorder")? {
        opts.allow_backorder = bool_in(&v, "allowBackorder")?;
    }
    if let Some(v) = field(&o, "maxShipments")? {
        opts.max_shipments = Some(int_in(&v, "maxShipments", 0.0, 1e9)? as usize);
    }
    if let Some(v) = field(&o, "costPerKm")? {
        opts.cost_per_km = decimal_in(&v, "costPerKm")?;
    }
    if let Some(v) = field(&o, "transferDays")? {
        opts.transfer_days = int_in(&v, "transferDays", 0.0, 36_500.0)? as u32;
    }
    Ok((fulfilment, opts, scorers))
}

#[napi]
impl Engine {
    /// Plans where an order would be fulfilled from; changes nothing.
    ///
    /// Give exactly one of `shipTo: { lat, lon, country }`, `collectAt`
    /// (from the store, or sent there by transfer), `reserveAt` (with
    /// `reserveHours`; that store only) or `till`. `strategies` rank the
    /// candidates in order: 'priority', 'nearest', 'lowest_cost',
    /// 'fewest_shipments', 'stock_balancing', 'capacity_aware', or a
    /// function `(candidate) => number` (higher ranks first), called with
    /// no engine lock held; what it throws comes out of `route`. Throws
    /// `E_INSUFFICIENT_STOCK` for a shortfall (unless `allowPartial` or
    /// `allowBackorder`) and `E_NO_ROUTE` when the constraints leave no plan.
    ///
    /// Locking: the stripes of the order's SKUs together, dropped before
    /// any scorer runs.
    #[napi(
        catch_unwind,
        ts_args_type = "channel: string, lines: Line[], options: RouteOptions"
    )]
    pub fn route(
        &self,
        env: Env,
        channel: Unknown<'_>,
        lines: Unknown<'_>,
        options: Unknown<'_>,
    ) -> Result<Plan> {
        let (channel, lines, (fulfilment, opts, scorers)) = wrap(&env, || {
            Ok((
                str_in(&channel, "channel")?,
                lines_in(&lines)?,
                options_in(&options)?,
            ))
        })?;
        let hold = hold_lines(&lines);
        let req = RouteRequest {
            channel: &channel,
            fulfilment,
            lines: &hold,
            options: opts,
        };
        let result = with_scorers(&scorers, |host| self.inner.route_with(&req, host))?;
        wrap(&env, || Ok(plan_out(result?)))
    }

    /// Places `order`: routes it (same arguments as `route`) and allocates
    /// the plan's shipments from stock atomically, re-checked under the
    /// locks; if stock moved since the plan, it plans once more, and
    /// otherwise throws with nothing changed. The order id is the
    /// idempotency key (the same request returns the original placement,
    /// `replayed: true`; another one throws `E_ID_CONFLICT`). Backordered
    /// and unfilled units stay in the plan, not in the allocations; the
    /// order is then fulfilled or cancelled like any other. A click & reserve
    /// order (`reserveAt`) keeps its units at the store for `reserveHours`
    /// (24 unless given; from when nothing is backordered any more;
    /// `OrderInfo.reservedUntil`): what is not picked up by then is
    /// cancelled at that time, by the first operation or
    /// `expireDue` after it. `reroute` gives it new hours.
    ///
    /// Locking: as `route`; then the order's shard and the SKUs' stripes.
    #[napi(
        catch_unwind,
        ts_args_type = "order: string, channel: string, lines: Line[], options: RouteOptions"
    )]
    pub fn place(
        &self,
        env: Env,
        order: Unknown<'_>,
        channel: Unknown<'_>,
        lines: Unknown<'_>,
        options: Unknown<'_>,
    ) -> Result<Placement> {
        let (order, channel, lines, (fulfilment, opts, scorers)) = wrap(&env, || {
            Ok((
                str_in(&order, "order")?,
                str_in(&channel, "channel")?,
                lines_in(&lines)?,
                options_in(&options)?,
            ))
        })?;
        let hold = hold_lines(&lines);
        let req = RouteRequest {
            channel: &channel,
            fulfilment,
            lines: &hold,
            options: opts,
        };
        let result = with_scorers(&scorers, |host| self.inner.place_with(&order, &req, host))?;
        wrap(&env, || Ok(placement_out(&self.inner, &order, result?)))
    }

    /// How many orders `location` took today against its daily capacity.
    ///
    /// Locking: the daily order counts.
    #[napi(catch_unwind, ts_args_type = "location: string")]
    pub fn location_load(&self, env: Env, location: Unknown<'_>) -> Result<LocationLoad> {
        wrap(&env, || {
            let l = self.inner.location_load(&str_in(&location, "location")?)?;
            Ok(LocationLoad {
                location: l.location,
                day_start: JsTime(l.day_start_ms),
                orders_today: l.orders_today,
                capacity: l.capacity,
            })
        })
    }

    /// Places `order` from the active hold `hold`: the hold's units are
    /// routed with `options` (as for `route`; channel and lines are the
    /// hold's), counting the hold's own units as available, and in one
    /// transaction the hold ends as committed and the plan is allocated.
    /// This is where a pool hold is bound to locations. Re-checked under
    /// the locks and planned once more if stock moved; otherwise throws with
    /// nothing changed (the hold stays active). Retrying with the same hold,
    /// order and options returns the original placement (`replayed: true`).
    ///
    /// Locking: the hold's shard; as `route`; then the hold's shard, the
    /// order's shard and the SKUs' stripes.
    #[napi(
        catch_unwind,
        ts_args_type = "hold: string, order: string, options: RouteOptions"
    )]
    pub fn place_hold(
        &self,
        env: Env,
        hold: Unknown<'_>,
        order: Unknown<'_>,
        options: Unknown<'_>,
    ) -> Result<Placement> {
        let (hold, order, (fulfilment, opts, scorers)) = wrap(&env, || {
            Ok((
                str_in(&hold, "hold")?,
                str_in(&order, "order")?,
                options_in(&options)?,
            ))
        })?;
        let result = with_scorers(&scorers, |host| {
            self.inner
                .place_hold_with(&hold, &order, fulfilment, opts, host)
        })?;
        wrap(&env, || Ok(placement_out(&self.inner, &order, result?)))
    }

    /// Re-routes an open order (a new address or method, or a store that
    /// cannot pick): its open units are planned again with `options` (as for
    /// `route`; channel and lines are the order's), its own allocations
    /// counting as available, and the new allocation is swapped in
    /// atomically. If no plan is possible the old allocation stays and the
    /// error says why.
    ///
    /// Locking: as `route`; then the order's shard and the SKUs' stripes.
    #[napi(catch_unwind, ts_args_type = "order: string, options: RouteOptions")]
    pub fn reroute(&self, env: Env, order: Unknown<'_>, options: Unknown<'_>) -> Result<Placement> {
        let (order, (fulfilment, opts, scorers)) = wrap(&env, || {
            Ok((str_in(&order, "order")?, options_in(&options)?))
        })?;
        let result = with_scorers(&scorers, |host| {
            self.inner.reroute_with(&order, fulfilment, opts, host)
        })?;
        wrap(&env, || Ok(placement_out(&self.inner, &order, result?)))
    }
}

/// Runs `f`, scoring with the host's functions on this thread (no engine
/// lock is held while they run). What a function throws stays pending and
/// is what JS sees; otherwise the core result comes back for `wrap`.
fn with_scorers<T>(
    scorers: &[Scorer<'_>],
    f: impl FnOnce(
        &mut dyn FnMut(u32, &unistock::CandidateView) -> unistock::Result<f64>,
    ) -> unistock::Result<T>,
) -> Result<unistock::Result<T>> {
    let mut thrown: Option<Error> = None;
    let result = f(&mut |n, view| {
        let out = scorers[n as usize].call(candidate_out(view)).map_err(|e| {
            thrown = Some(e);
            CoreError::NoRoute {
                reason: "a scorer threw".into(),
            }
        })?;
        float_in(&out, "strategies")
    });
    match thrown {
        Some(e) => Err(e),
        None => Ok(result),
    }
}
