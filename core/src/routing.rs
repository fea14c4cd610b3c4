//! Routing (sourcing): where an order is fulfilled from.
//!
//! [`Engine::route`] is a pure function of the current state: it reads the
//! stock of the order's SKUs (one consistent cut, taken with their stripes
//! locked together) and returns a [`Plan`]: which locations ship which
//! lines, the cost, distance and promised date of each shipment, and an
//! explanation (every candidate location with its scores, or the reason it
//! was excluded). It changes nothing.
//!
//! # Candidates
//!
//! Only the channel's eligible, open locations with the capability the
//! fulfilment needs take part: `Ship` needs `ships`; `ClickAndCollect`
//! takes the pickup store itself (it needs `pickup`) or any location that
//! ships, whose units then travel to the store by transfer; `ClickAndReserve`
//! and `TillSale` take the named store only. With
//! [`RouteStrategy::CapacityAware`], a location that has taken as many
//! orders today (UTC days of the engine's clock) as its daily order capacity
//! drops out, and placing re-checks the count under the lock that keeps it
//! ([`Engine::location_load`] reads it). Every placement and every commit
//! counts one order at each location it allocates from, whatever the
//! strategies.
//!
//! # Strategies
//!
//! Candidates are ranked by the strategies in the order given (the first
//! that tells two candidates apart decides; the location id breaks ties):
//! `Priority` (higher first), `Nearest` (great-circle distance to the
//! destination), `LowestCost` (per shipment, plus per unit for what it can
//! send, plus per km), `StockBalancing` (most units of the order's SKUs
//! first), a host's [`Scorer`] (higher first). `FewestShipments`, wherever it appears,
//! first minimises the number of shipments (exactly, by search, up to
//! [`EXACT_CANDIDATES`] candidates; greedily by coverage beyond), and the
//! ranking then chooses among the smallest solutions and orders them.
//!
//! # Shortfalls
//!
//! Units no candidate has (or the channel may not sell, after its buffers)
//! are backordered against expected receipts when `allow_backorder` (the
//! shipment carries the receipt's date), left unfilled when
//! `allow_partial`, and otherwise make the route fail with
//! `InsufficientStock` (or `NoRoute` when the constraints, not the stock,
//! are what fails).

use crate::engine::{Engine, Txn};
use crate::error::{Error, Result};
use crate::hold::HoldLine;
use crate::ids::{Key, LocationId, SkuId};
use crate::location::Location;
use crate::qty::Qty;
use crate::topology::Topology;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::sync::Arc;

/// How the customer gets the order.
#[derive(Clone, Debug, PartialEq)]
pub enum Fulfilment {
    /// Parcel to an address.
    Ship { lat: f64, lon: f64, country: String },
    /// Picked up at a store; sourced there or transferred there.
    ClickAndCollect { store: String },
    /// Kept aside at a store for `hours`, paid there; that store's stock
    /// only. A placed order's time at the store ends `hours` after it was
    /// placed or re-routed, or after its last backorder was filled or
    /// cancelled ([`crate::OrderView::reserved_until_ms`]); what
    /// it still has allocated then is cancelled at that time, by the first
    /// operation (or [`Engine::expire_due`]) after it.
    ClickAndReserve { store: String, hours: u32 },
    /// Rung up at a store's till; that store's stock only.
    TillSale { store: String },
}

/// A host's own ranking criterion: higher scores rank first.
///
/// Called once per candidate after the stock has been read and every lock
/// dropped, so it may call back into the engine (what it reads then may be
/// newer than the cut the plan is made from).
pub trait Scorer: Send + Sync + std::fmt::Debug {
    /// The score of shipping `candidate`'s units for this order.
    fn score(&self, candidate: &CandidateView) -> f64;
}

/// One ranking criterion or constraint; see the module docs.
#[derive(Clone, Debug)]
pub enum RouteStrategy {
    Priority,
    Nearest,
    LowestCost,
    FewestShipments,
    StockBalancing,
    CapacityAware,
    Custom(Arc<dyn Scorer>),
    /// The host's scorer number `n`, given to [`Engine::route_with`] (how
    /// the Python and Node packages pass host callables).
    Host(u32),
}

impl PartialEq for RouteStrategy {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RouteStrategy::Custom(a), RouteStrategy::Custom(b)) => Arc::ptr_eq(a, b),
            (RouteStrategy::Host(a), RouteStrategy::Host(b)) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl RouteStrategy {
    /// Whether it ranks candidates by a value of each (fewest shipments
    /// chooses among covers and capacity-aware excludes; neither ranks).
    fn ranks(&self) -> bool {
        !matches!(
            self,
            RouteStrategy::FewestShipments | RouteStrategy::CapacityAware
        )
    }

    /// The strategy's name as the bindings spell it.
    pub fn name(&self) -> &'static str {
        match self {
            RouteStrategy::Priority => "priority",
            RouteStrategy::Nearest => "nearest",
            RouteStrategy::LowestCost => "lowest_cost",
            RouteStrategy::FewestShipments => "fewest_shipments",
            RouteStrategy::StockBalancing => "stock_balancing",
            RouteStrategy::CapacityAware => "capacity_aware",
            RouteStrategy::Custom(_) | RouteStrategy::Host(_) => "custom",
        }
    }

    /// Parses a built-in strategy's name.
    pub fn parse(name: &str) -> Option<RouteStrategy> {
        Some(match name {
            "priority" => RouteStrategy::Priority,
            "nearest" => RouteStrategy::Nearest,
            "lowest_cost" => RouteStrategy::LowestCost,
            "fewest_shipments" => RouteStrategy::FewestShipments,
            "stock_balancing" => RouteStrategy::StockBalancing,
            "capacity_aware" => RouteStrategy::CapacityAware,
            _ => return None,
        })
    }
}

/// Constraints and strategies of one routing request.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteOptions {
    /// Ranking, in order (see the module docs).
    pub strategies: Vec<RouteStrategy>,
    /// May the order ship from more than one location.
    pub allow_split: bool,
    /// At most this many shipments (`None`: no limit).
    pub max_shipments: Option<usize>,
    /// May the plan leave units unfilled.
    pub allow_partial: bool,
    /// May the plan promise units from expected receipts.
    pub allow_backorder: bool,
    /// Added to a shipment's cost per km of great-circle distance.
    pub cost_per_km: Decimal,
    /// Days a transfer to a pickup store takes.
    pub transfer_days: u32,
    /// How many ranked candidates the plan lists (besides the excluded
    /// ones and every one that ships).
    pub explain: usize,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            strategies: vec![RouteStrategy::Priority, RouteStrategy::Nearest],
            allow_split: true,
            max_shipments: None,
            allow_partial: false,
            allow_backorder: false,
            cost_per_km: Decimal::ZERO,
            transfer_days: 2,
            explain: 10,
        }
    }
}

/// An order to route.
#[derive(Clone, Debug)]
pub struct RouteRequest<'a> {
    pub channel: &'a str,
    pub fulfilment: Fulfilment,
    /// SKUs and quantities (a line's location, if any, is ignored: routing
    /// chooses). Lines of the same SKU are added up.
    pub lines: &'a [HoldLine<'a>],
    pub options: RouteOptions,
}

/// A SKU and a quantity in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLine {
    pub sku: Key,
    pub qty: Qty,
}

/// What one location sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub location: Key,
    pub lines: Vec<PlanLine>,
    /// Great-circle km from the location to the destination.
    pub distance_km: f64,
    /// Per shipment + per unit + per km.
    pub cost: Decimal,
    /// When the customer can have it: now for stock that ships, plus the
    /// transfer days for a pickup elsewhere, or an expected receipt's date.
    pub promised_at_ms: u64,
    /// Units come from an expected receipt, not from stock.
    pub backorder: bool,
    /// A backorder of a SKU not in stock anywhere the channel sells from.
    #[serde(default)]
    pub preorder: bool,
    /// Click & collect from another location: a transfer to this store.
    pub transfer_to: Option<Key>,
    /// Why this location (its rank and the criterion that decided).
    pub why: String,
}

/// A candidate location as the explanation shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateView {
    pub location: Key,
    /// 1 = best; 0 when excluded.
    pub rank: usize,
    /// Why it could not take part.
    pub excluded: Option<String>,
    pub priority: i32,
    pub distance_km: f64,
    /// Of the order's units, how many it has (capped at what is ordered).
    pub units_available: Qty,
    /// The cost of sending what it has.
    pub cost: Decimal,
    /// The host scorer's score, when one is used.
    pub custom_score: Option<f64>,
}

/// The result of routing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub shipments: Vec<Shipment>,
    /// Units left out (only with `allow_partial`).
    pub unfilled: Vec<PlanLine>,
    pub total_cost: Decimal,
    /// The best-ranked candidates (`RouteOptions::explain` of them, and
    /// every one that ships), then the excluded ones with why.
    pub candidates: Vec<CandidateView>,
}

impl Plan {
    /// More than one shipment.
    pub fn split(&self) -> bool {
        self.shipments.len() > 1
    }
}

/// A day, for daily order capacities (UTC days of the engine's clock).
const DAY_MS: u64 = 86_400_000;

/// How busy a location is today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationLoad {
    pub location: String,
    /// Start of the (UTC) day counted.
    pub day_start_ms: u64,
    /// Orders placed (or committed from holds) with units from here today.
    pub orders_today: u32,
    /// The location's daily order capacity (`None`: unlimited).
    pub capacity: Option<u32>,
}

/// Exact fewest-shipments search up to this many candidates.
pub const EXACT_CANDIDATES: usize = 16;

const EARTH_KM: f64 = 6371.0088;

struct Line {
    sku: SkuId,
    scale: u8,
    name: Key,
    /// Ordered, minor units.
    want: i64,
    /// What the channel may sell (after buffers), minor units.
    sellable: i64,
}

/// Why a location cannot take part (worded only when the plan shows it).
#[derive(Clone, Copy, Debug)]
enum Excluded {
    Closed,
    AtCapacity(u32),
    DoesNotShip,
    NoPickup,
    CannotSend,
    NamedStoreOnly,
    NoReservations,
    OwnStoreOnly,
}

impl Excluded {
    fn text(self) -> String {
        match self {
            Excluded::Closed => "closed".to_string(),
            Excluded::AtCapacity(cap) => {
                format!("at its daily order capacity ({cap} orders today)")
            }
            Excluded::DoesNotShip => "does not ship".to_string(),
            Excluded::NoPickup => "the pickup store does not offer pickup".to_string(),
            Excluded::CannotSend => "cannot send units to the pickup store".to_string(),
            Excluded::NamedStoreOnly => "click & reserve uses the named store only".to_string(),
            Excluded::NoReservations => "the store does not take reservations".to_string(),
            Excluded::OwnStoreOnly => "a till sale uses its own store only".to_string(),
        }
    }
}

/// What a route keeps of each candidate (no borrow, so the buffers of one
/// route serve the next: see [`Scratch`]).
#[derive(Clone, Copy)]
struct Slot {
    loc: LocationId,
    /// Rank of the host's id among all locations (breaks ties).
    name_rank: u32,
    /// The squared straight-line distance through the earth on the unit
    /// sphere: ranks like the great-circle distance, for three
    /// multiplications and no root.
    chord2: f64,
    /// Ships to the pickup store by transfer.
    transfer: bool,
    excluded: Option<Excluded>,
}

/// A candidate with its location.
struct Cand<'t> {
    loc: LocationId,
    location: &'t Location,
    chord2: f64,
    transfer: bool,
    excluded: Option<Excluded>,
}

impl Cand<'_> {
    /// Great-circle km to the destination, from the chord.
    fn distance_km(&self) -> f64 {
        2.0 * EARTH_KM * (self.chord2.sqrt() / 2.0).min(1.0).asin()
    }
}

/// No row: the candidate has none of the order's lines.
const NO_ROW: u32 = u32::MAX;

/// The buffers of one route, kept per thread for the next one: a route
/// over a hundred locations would otherwise allocate (and free) a dozen
/// kilobytes, which costs more than the routing when many small
/// allocations live around them (an order book).
#[derive(Default)]
struct Scratch {
    list: Vec<Slot>,
    row: Vec<u32>,
    rows: Vec<i64>,
    owners: Vec<u32>,
    keys: Vec<u128>,
    key_of: Vec<u128>,
    values: Vec<f64>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Scratch {
    /// This thread's buffers (a route re-entered from a host scorer finds
    /// none and allocates its own).
    fn take() -> Scratch {
        SCRATCH.with(std::cell::Cell::take)
    }

    /// Gives the buffers back to this thread.
    fn recycle(mut self, cands: Cands<'_>, rk: Ranking) {
        self.list = cands.list;
        self.row = cands.row;
        self.rows = cands.rows;
        self.owners = cands.owners;
        self.keys = rk.keys;
        self.key_of = rk.key_of;
        self.values = rk.values;
        SCRATCH.with(|s| s.set(self));
    }
}

/// The candidates of one route: every location of the channel, in channel
/// order. Only those with units of some line get a row of units (ATP, at
/// least 0, one per line); the others share a row of zeros, so a route
/// over many locations touches few.
struct Cands<'t> {
    topo: &'t Topology,
    list: Vec<Slot>,
    /// Lines per row.
    width: usize,
    /// Each candidate's row in `rows`, or [`NO_ROW`].
    row: Vec<u32>,
    rows: Vec<i64>,
    /// The candidate of each row.
    owners: Vec<u32>,
    zeros: SmallVec<[i64; 8]>,
    /// Expected receipts per candidate and line: (due, qty), by due date
    /// (filled only when backorders are allowed).
    expected: Vec<Vec<Vec<(u64, i64)>>>,
    /// The host's and custom scorers' scores per candidate, in strategy
    /// order (filled only when there are such strategies).
    custom: Vec<Vec<f64>>,
}

impl<'t> Cands<'t> {
    /// Candidates over the buffers of `scratch` (taken; see
    /// [`Scratch::recycle`]).
    fn new(topo: &'t Topology, n: usize, width: usize, scratch: &mut Scratch) -> Self {
        let mut list = std::mem::take(&mut scratch.list);
        list.clear();
        list.reserve(n);
        let mut row = std::mem::take(&mut scratch.row);
        row.clear();
        row.resize(n, NO_ROW);
        let mut rows = std::mem::take(&mut scratch.rows);
        rows.clear();
        let mut owners = std::mem::take(&mut scratch.owners);
        owners.clear();
        Cands {
            topo,
            list,
            width,
            row,
            rows,
            owners,
            zeros: SmallVec::from_elem(0, width),
            expected: Vec::new(),
            custom: Vec::new(),
        }
    }

    fn cand(&self, i: usize) -> Cand<'t> {
        let s = &self.list[i];
        Cand {
            loc: s.loc,
            location: self.topo.location(s.loc),
            chord2: s.chord2,
            transfer: s.transfer,
            excluded: s.excluded,
        }
    }

    /// Room for `rows` rows.
    fn reserve(&mut self, rows: usize) {
        self.rows.reserve(rows * self.width);
        self.owners.reserve(rows);
    }

    fn stock(&self, i: usize) -> &[i64] {
        match self.row[i] {
            NO_ROW => &self.zeros,
            r => &self.rows[r as usize * self.width..(r as usize + 1) * self.width],
        }
    }

    /// Sets candidate `i`'s units of line `li`.
    fn set(&mut self, i: usize, li: usize, units: i64) {
        if self.row[i] == NO_ROW {
            if units == 0 {
                return;
            }
            self.row[i] = self.owners.len() as u32;
            self.owners.push(i as u32);
            self.rows.resize(self.rows.len() + self.width, 0);
        }
        self.rows[self.row[i] as usize * self.width + li] = units;
    }

    fn custom(&self, i: usize) -> &[f64] {
        self.custom.get(i).map_or(&[], Vec::as_slice)
    }

    /// Of each line, what candidate `i` can send (capped at the order).
    fn units(&self, i: usize, lines: &[Line]) -> SmallVec<[i64; 8]> {
        units(self.stock(i), lines)
    }

    /// Eligible candidates with some of `need`, in no order.
    fn useful(&self, need: &[i64]) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.owners.len());
        out.extend(
            self.owners
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| self.list[i].excluded.is_none() && coverage(self.stock(i), need) > 0),
        );
        out
    }
}

impl Engine {
    /// Plans where an order would be fulfilled from, with the reasons;
    /// changes nothing. See the module docs.
    ///
    /// Locking: the stripes of the order's SKUs together (ascending), for
    /// one consistent read; they are dropped before any [`Scorer`] runs.
    pub fn route(&self, req: &RouteRequest<'_>) -> Result<Plan> {
        self.route_with(req, &mut |_, _| Ok(0.0))
    }

    /// [`Engine::route`] with host scorers: each [`RouteStrategy::Host`]`(n)`
    /// is scored by `host(n, candidate)`, called on the caller's thread
    /// after every lock is dropped. An error from it ends the route.
    ///
    /// Locking: as `route`.
    pub fn route_with(
        &self,
        req: &RouteRequest<'_>,
        host: &mut dyn FnMut(u32, &CandidateView) -> Result<f64>,
    ) -> Result<Plan> {
        self.route_inner(req, host, &[])
    }

    /// Routing where `credit` units (an order's own allocations about to be
    /// released by a re-route, or a hold's own units about to become the
    /// order) count as available at their locations; credit at
    /// [`LocationId::POOL`] is the request channel's own pool claim.
    fn route_inner(
        &self,
        req: &RouteRequest<'_>,
        host: &mut dyn FnMut(u32, &CandidateView) -> Result<f64>,
        credit: &[(SkuId, LocationId, i64)],
    ) -> Result<Plan> {
        let now = self.now_and_sweep();
        let topo = self.topo.load();
        let chan = topo
            .channel_id(req.channel)
            .ok_or_else(|| Error::UnknownChannel {
                channel: req.channel.to_string(),
            })?;
        let channel = topo.channel(chan).expect("id from this topology");
        let opts = &req.options;
        if opts.max_shipments == Some(0) {
            return Err(Error::arg("max_shipments", "must be at least 1"));
        }
        if opts.cost_per_km < Decimal::ZERO {
            return Err(Error::arg("cost_per_km", "must not be negative"));
        }
        if req.lines.is_empty() || req.lines.len() > self.config.max_lines {
            return Err(Error::arg(
                "lines",
                format!("must have 1..={} lines", self.config.max_lines),
            ));
        }
        let (dest, store) = self.destination(&topo, &req.fulfilment)?;

        let mut lines: Vec<Line> = Vec::with_capacity(req.lines.len());
        for l in req.lines {
            let (sku, scale) = self.sku_id(l.sku)?;
            let want = l
                .qty
                .to_positive_minor(scale)
                .map_err(|p| Error::qty(l.sku, l.qty, p))?;
            match lines.iter_mut().find(|x| x.sku == sku) {
                Some(x) => {
                    x.want = x.want.checked_add(want).ok_or_else(|| {
                        Error::arg("lines", format!("the quantities of `{}` overflow", l.sku))
                    })?
                }
                None => lines.push(Line {
                    sku,
                    scale,
                    name: Key::new(l.sku),
                    want,
                    sellable: 0,
                }),
            }
        }
        let skus: SmallVec<[SkuId; 4]> = lines.iter().map(|l| l.sku).collect();

        // One consistent read of every line's stock.
        let txn = Txn::begin(self, &skus, now);
        let capacity_aware = opts.strategies.contains(&RouteStrategy::CapacityAware);
        let day = now / DAY_MS;
        let picks = capacity_aware.then(|| self.picks.lock());
        let n = channel.locations.len();
        let mut scratch = Scratch::take();
        let mut cands = Cands::new(&topo, n, lines.len(), &mut scratch);
        // Candidate index by location id: candidates are the channel's
        // locations in order.
        let slot = topo.chan_slots(chan);
        let q = crate::location::unit_vector(dest.0, dest.1);
        for &loc in &channel.locations {
            let location = topo.location(loc);
            let today = picks.as_ref().map(|p| match p.get(loc.0 as usize) {
                Some(&(d, n)) if d == day => n,
                _ => 0,
            });
            let (transfer, excluded) = eligibility(&req.fulfilment, location, loc, store, today);
            let p = topo.unit(loc);
            let chord2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2);
            cands.list.push(Slot {
                loc,
                name_rank: topo.name_rank(loc),
                chord2,
                transfer,
                excluded,
            });
        }
        drop(picks);
        if opts.allow_backorder {
            cands.expected = (0..n).map(|_| Vec::with_capacity(lines.len())).collect();
        }
        // Walk each SKU's stocked locations (a few) rather than every
        // candidate: the channel's raw availability and each candidate's
        // units in one pass. A SKU with pool claims gives each location
        // what the claims can spare, and keeps its flow for the plan.
        let mut flows: Vec<Option<crate::pool::Flow>> = Vec::with_capacity(lines.len());
        let stocked: usize = lines.iter().map(|l| txn.stock(l.sku).locs.len()).sum();
        cands.reserve(stocked.min(n));
        for (li, l) in lines.iter_mut().enumerate() {
            let stock = txn.stock(l.sku);
            let flow = pool_flow(&topo, stock, l.sku, chan, credit, &channel.locations);
            if let Some(flow) = &flow {
                let raw = crate::pool::headroom_at(&topo, stock, Some(flow), &channel.locations);
                for (i, &loc) in channel.locations.iter().enumerate() {
                    cands.set(
                        i,
                        li,
                        crate::pool::headroom_at(&topo, stock, Some(flow), &[loc]),
                    );
                }
                l.sellable = channel.buffered(raw, l.scale);
            }
            let pooled = flow.is_some();
            flows.push(flow);
            let mut raw: i64 = 0;
            for ll in stock.locs.iter().filter(|_| !pooled) {
                let Some(&i) = slot.get(ll.loc.0 as usize).filter(|&&i| i != u32::MAX) else {
                    continue;
                };
                let own: i64 = credit
                    .iter()
                    .filter(|c| c.0 == l.sku && c.1 == ll.loc)
                    .map(|c| c.2)
                    .sum();
                let atp = (ll.atp() + own).max(0);
                if !topo.is_closed(ll.loc) {
                    raw = raw.saturating_add(atp);
                }
                cands.set(i as usize, li, atp);
            }
            if !pooled {
                l.sellable = channel.buffered(raw, l.scale);
            }
            if opts.allow_backorder {
                for (i, &loc) in channel.locations.iter().enumerate() {
                    let cold = stock.cold(loc);
                    let mut e: Vec<(u64, i64)> = cold
                        .map(|x| x.expected.iter().map(|x| (x.due_ms, x.qty)).collect())
                        .unwrap_or_default();
                    e.sort_unstable();
                    // Units already promised to other orders come out of
                    // the earliest receipts.
                    let mut promised = cold.map_or(0, |x| x.backordered);
                    for r in e.iter_mut() {
                        let t = promised.min(r.1);
                        r.1 -= t;
                        promised -= t;
                    }
                    e.retain(|r| r.1 > 0);
                    cands.expected[i].push(e);
                }
            }
        }
        txn.abandon();

        if opts
            .strategies
            .iter()
            .any(|s| matches!(s, RouteStrategy::Custom(_) | RouteStrategy::Host(_)))
        {
            let views: Vec<CandidateView> = (0..n)
                .map(|i| view(&cands, i, &lines, opts, 0, None))
                .collect();
            cands.custom = vec![Vec::new(); n];
            for s in &opts.strategies {
                for (i, v) in views.iter().enumerate() {
                    let score = match s {
                        RouteStrategy::Custom(scorer) => scorer.score(v),
                        RouteStrategy::Host(n) => host(*n, v)?,
                        _ => continue,
                    };
                    if score.is_nan() {
                        return Err(Error::arg("strategies", "a scorer returned NaN"));
                    }
                    cands.custom[i].push(score);
                }
            }
        }
        let store_name = store.map(|s| topo.location(s).key.to_string());
        let mut rk = Ranking::new(&cands, &lines, opts, &mut scratch);
        let plan = plan(
            now,
            lines,
            &cands,
            &mut rk,
            flows,
            opts,
            store_name.as_deref(),
        );
        scratch.recycle(cands, rk);
        plan
    }

    /// The destination's coordinates, and the named store if any.
    fn destination(
        &self,
        topo: &Topology,
        f: &Fulfilment,
    ) -> Result<((f64, f64), Option<LocationId>)> {
        match f {
            Fulfilment::Ship { lat, lon, .. } => {
                if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon) {
                    return Err(Error::arg("destination", "lat/lon out of range"));
                }
                Ok(((*lat, *lon), None))
            }
            Fulfilment::ClickAndCollect { store }
            | Fulfilment::ClickAndReserve { store, .. }
            | Fulfilment::TillSale { store } => {
                let id = topo
                    .location_id(store)
                    .ok_or_else(|| Error::UnknownLocation {
                        location: store.clone(),
                    })?;
                let spec = &topo.location(id).spec;
                if let Fulfilment::ClickAndReserve { hours: 0, .. } = f {
                    return Err(Error::arg("hours", "must be at least 1"));
                }
                Ok(((spec.lat, spec.lon), Some(id)))
            }
        }
    }
}

/// Candidate `i` as the explanation shows it.
fn view(
    cands: &Cands<'_>,
    i: usize,
    lines: &[Line],
    opts: &RouteOptions,
    rank: usize,
    custom: Option<f64>,
) -> CandidateView {
    let c = &cands.cand(i);
    // Whole units (the usual case) are added up without the units' row or
    // a decimal normalisation: an explanation shows ten views per plan,
    // and this is 5% of a route (A/B measured).
    let (units, n) = if lines.iter().all(|l| l.scale == 0) {
        let sum: i64 = cands
            .stock(i)
            .iter()
            .zip(lines)
            .map(|(s, l)| (*s).min(l.want))
            .sum();
        (Qty::from_minor(sum, 0), Decimal::from(sum))
    } else {
        let n = sum_decimal(&cands.units(i, lines), lines);
        (Qty::from_decimal(n), n)
    };
    CandidateView {
        location: c.location.key.clone(),
        rank,
        excluded: c.excluded.map(Excluded::text),
        priority: c.location.spec.priority,
        distance_km: c.distance_km(),
        units_available: units,
        cost: cost_of(c, n, opts),
        custom_score: custom,
    }
}

/// Whether a location can serve this fulfilment: (by transfer, excluded why).
fn eligibility(
    f: &Fulfilment,
    location: &Location,
    loc: LocationId,
    store: Option<LocationId>,
    orders_today: Option<u32>,
) -> (bool, Option<Excluded>) {
    let caps = location.spec.capabilities;
    let mut transfer = false;
    let full = match (orders_today, location.spec.daily_capacity) {
        (Some(n), Some(cap)) if n >= cap => Some(cap),
        _ => None,
    };
    let why = if location.closed {
        Some(Excluded::Closed)
    } else if let Some(cap) = full {
        Some(Excluded::AtCapacity(cap))
    } else {
        match f {
            Fulfilment::Ship { .. } if !caps.ships => Some(Excluded::DoesNotShip),
            Fulfilment::Ship { .. } => None,
            Fulfilment::ClickAndCollect { .. } if Some(loc) == store => {
                (!caps.pickup).then_some(Excluded::NoPickup)
            }
            Fulfilment::ClickAndCollect { .. } if caps.ships => {
                transfer = true;
                None
            }
            Fulfilment::ClickAndCollect { .. } => Some(Excluded::CannotSend),
            Fulfilment::ClickAndReserve { .. } if Some(loc) != store => {
                Some(Excluded::NamedStoreOnly)
            }
            Fulfilment::ClickAndReserve { .. } => {
                (!caps.store_reservation).then_some(Excluded::NoReservations)
            }
            Fulfilment::TillSale { .. } => (Some(loc) != store).then_some(Excluded::OwnStoreOnly),
        }
    };
    (transfer, why)
}

/// Of each line, what `stock` can send (capped at the order).
fn units(stock: &[i64], lines: &[Line]) -> SmallVec<[i64; 8]> {
    stock
        .iter()
        .zip(lines)
        .map(|(s, l)| (*s).min(l.want))
        .collect()
}

/// Units of several lines added up: whole units as integers, lines of other
/// scales as decimals.
fn sum_decimal(units: &[i64], lines: &[Line]) -> Decimal {
    if lines.iter().all(|l| l.scale == 0) {
        return Decimal::from(units.iter().sum::<i64>());
    }
    units
        .iter()
        .zip(lines)
        .map(|(u, l)| Qty::from_minor(*u, l.scale).to_decimal())
        .sum()
}

fn shipment_cost(c: &Cand<'_>, units: &[i64], lines: &[Line], opts: &RouteOptions) -> Decimal {
    cost_of(c, sum_decimal(units, lines), opts)
}

/// Per shipment + per unit for `n` units + per km.
fn cost_of(c: &Cand<'_>, n: Decimal, opts: &RouteOptions) -> Decimal {
    let spec = &c.location.spec;
    let km = if opts.cost_per_km.is_zero() {
        Decimal::ZERO
    } else {
        // Whole metres, exactly.
        Decimal::new((c.distance_km() * 1000.0).round() as i64, 3)
    };
    spec.cost_per_shipment + spec.cost_per_unit * n + opts.cost_per_km * km
}

/// The ranking key of a candidate into `out`: one number per ranking
/// strategy, lower first.
fn key_into(
    c: &Cand<'_>,
    stock: &[i64],
    custom: &[f64],
    lines: &[Line],
    opts: &RouteOptions,
    out: &mut [f64],
) {
    let mut custom = custom.iter();
    let mut k = 0;
    for s in &opts.strategies {
        let v = match s {
            RouteStrategy::Priority => -(c.location.spec.priority as f64),
            RouteStrategy::Nearest => c.chord2,
            RouteStrategy::LowestCost => {
                let cost = shipment_cost(c, &units(stock, lines), lines, opts);
                cost.try_into().unwrap_or(f64::MAX)
            }
            RouteStrategy::StockBalancing => -stock.iter().map(|&s| s as f64).sum::<f64>(),
            RouteStrategy::Custom(_) | RouteStrategy::Host(_) => custom.next().map_or(0.0, |s| -s),
            RouteStrategy::FewestShipments | RouteStrategy::CapacityAware => continue,
        };
        out[k] = v;
        k += 1;
    }
}

/// `x` as a u64 that sorts as `f64::total_cmp` sorts `x`.
fn total_order_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

fn cmp_keys(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            std::cmp::Ordering::Equal => continue,
            o => return o,
        }
    }
    std::cmp::Ordering::Equal
}

/// Which criterion put `a` ahead of `b`, for the explanation.
fn deciding(a: &[f64], b: &[f64], opts: &RouteOptions) -> &'static str {
    let mut names = opts.strategies.iter().filter(|s| s.ranks());
    for (x, y) in a.iter().zip(b) {
        let name = names.next().map_or("order", RouteStrategy::name);
        if x != y {
            return name;
        }
    }
    "location id (a tie on every strategy)"
}

/// The flow of a SKU's pool claims with an order's own units credited
/// (`None` when the SKU has no pool claims).
fn pool_flow(
    topo: &Topology,
    stock: &crate::stock::SkuStock,
    sku: SkuId,
    chan: crate::ids::ChannelId,
    credit: &[(SkuId, LocationId, i64)],
    extra: &[LocationId],
) -> Option<crate::pool::Flow> {
    if !stock.has_pool() {
        return None;
    }
    let locs: SmallVec<[(LocationId, i64); 4]> = credit
        .iter()
        .filter(|c| c.0 == sku && c.1 != LocationId::POOL)
        .map(|c| (c.1, c.2))
        .collect();
    let pooled: i64 = credit
        .iter()
        .filter(|c| c.0 == sku && c.1 == LocationId::POOL)
        .map(|c| c.2)
        .sum();
    crate::pool::Flow::build(topo, stock, &locs, Some((chan, pooled)), extra)
}

/// The ranking of the eligible candidates: each has a unique key (lower
/// ranks first; the low 32 bits are its index), so any subset is put in
/// rank order by sorting its keys, and a route sorts only what it shows
/// and what it searches, not every location of the channel.
struct Ranking {
    /// The eligible candidates' keys, in no order.
    keys: Vec<u128>,
    /// Each candidate's key (excluded ones: `u128::MAX`).
    key_of: Vec<u128>,
    /// The strategies' values, `nk` per candidate (for the explanation's
    /// deciding criterion).
    values: Vec<f64>,
    nk: usize,
    /// The bits of a key that hold its candidate's index.
    mask: u128,
}

impl Ranking {
    /// The ranking, over the buffers of `scratch` (taken).
    fn new(
        cands: &Cands<'_>,
        lines: &[Line],
        opts: &RouteOptions,
        scratch: &mut Scratch,
    ) -> Ranking {
        let nk = opts.strategies.iter().filter(|s| s.ranks()).count();
        let n = cands.list.len();
        let mut values = std::mem::take(&mut scratch.values);
        values.clear();
        values.resize(n * nk, 0.0);
        let pack = |hi: u64, lo: u32, i: usize| (hi as u128) << 64 | (lo as u128) << 32 | i as u128;
        let mut key_of = std::mem::take(&mut scratch.key_of);
        key_of.clear();
        key_of.resize(n, u128::MAX);
        let mut keys = std::mem::take(&mut scratch.keys);
        keys.clear();
        keys.reserve(n);
        if nk <= 1 {
            // One key (the usual case): its bits in the same total order
            // as `f64::total_cmp`, then the id's rank, then the index.
            let nearest = nk == 1 && opts.strategies.contains(&RouteStrategy::Nearest);
            for (i, c) in cands.list.iter().enumerate() {
                if c.excluded.is_some() {
                    continue;
                }
                let hi = if nearest {
                    values[i] = c.chord2;
                    total_order_bits(c.chord2)
                } else if nk == 1 {
                    let out = &mut values[i..i + 1];
                    key_into(
                        &cands.cand(i),
                        cands.stock(i),
                        cands.custom(i),
                        lines,
                        opts,
                        out,
                    );
                    total_order_bits(out[0])
                } else {
                    0
                };
                let k = pack(hi, c.name_rank, i);
                key_of[i] = k;
                keys.push(k);
            }
            return Ranking {
                keys,
                key_of,
                values,
                nk,
                mask: u32::MAX as u128,
            };
        }
        let first_priority = opts
            .strategies
            .iter()
            .find(|s| s.ranks())
            .is_some_and(|s| *s == RouteStrategy::Priority);
        if nk == 2 && first_priority && n <= 1 << 16 && cands.topo.locations.len() <= 1 << 16 {
            // Priority then one more key (the default: priority, nearest):
            // the priority in 32 bits (higher first), the other key's 64,
            // then the id's rank and the index in 16 bits each. One pass,
            // no sort.
            let nearest = opts.strategies.contains(&RouteStrategy::Nearest);
            for (i, c) in cands.list.iter().enumerate() {
                if c.excluded.is_some() {
                    continue;
                }
                let cand = cands.cand(i);
                let out = &mut values[i * 2..i * 2 + 2];
                if nearest {
                    out[0] = -(cand.location.spec.priority as f64);
                    out[1] = c.chord2;
                } else {
                    key_into(&cand, cands.stock(i), cands.custom(i), lines, opts, out);
                }
                let prio = (i32::MAX as i64 - cand.location.spec.priority as i64) as u32;
                let k = (prio as u128) << 96
                    | (total_order_bits(out[1]) as u128) << 32
                    | (c.name_rank as u128) << 16
                    | i as u128;
                key_of[i] = k;
                keys.push(k);
            }
            return Ranking {
                keys,
                key_of,
                values,
                nk,
                mask: u16::MAX as u128,
            };
        }
        // Several keys: sort once; the position is the key.
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for (i, c) in cands.list.iter().enumerate() {
            if c.excluded.is_none() {
                order.push(i);
                let out = &mut values[i * nk..(i + 1) * nk];
                key_into(
                    &cands.cand(i),
                    cands.stock(i),
                    cands.custom(i),
                    lines,
                    opts,
                    out,
                );
            }
        }
        let row = |i: usize| &values[i * nk..(i + 1) * nk];
        if nk == 2 {
            let mut sortable: Vec<(u64, u64, u32, u32)> = order
                .iter()
                .map(|&i| {
                    let k = row(i);
                    (
                        total_order_bits(k[0]),
                        total_order_bits(k[1]),
                        cands.list[i].name_rank,
                        i as u32,
                    )
                })
                .collect();
            sortable.sort_unstable();
            order.clear();
            order.extend(sortable.iter().map(|x| x.3 as usize));
        } else {
            order.sort_unstable_by(|&a, &b| {
                cmp_keys(row(a), row(b))
                    .then_with(|| cands.list[a].name_rank.cmp(&cands.list[b].name_rank))
            });
        }
        for (pos, &i) in order.iter().enumerate() {
            let k = pack(0, pos as u32, i);
            key_of[i] = k;
            keys.push(k);
        }
        Ranking {
            keys,
            key_of,
            values,
            nk,
            mask: u32::MAX as u128,
        }
    }

    /// The candidate a key stands for.
    fn index(&self, key: u128) -> usize {
        (key & self.mask) as usize
    }

    /// The eligible candidates, in no order.
    fn eligible(&self) -> impl Iterator<Item = usize> + '_ {
        self.keys.iter().map(|&k| self.index(k))
    }

    fn key(&self, i: usize) -> u128 {
        self.key_of[i]
    }

    /// Candidate `i`'s rank among the eligible ones (1 = best) and the
    /// candidate ranked right after it, in one pass.
    fn place(&self, i: usize) -> (usize, Option<usize>) {
        let k = self.key_of[i];
        let mut ahead = 0;
        let mut next = u128::MAX;
        // Branch-free: the keys come in no order, so a branch on them
        // would mispredict about every other time.
        for &x in &self.keys {
            ahead += usize::from(x < k);
            let above = if x > k { x } else { u128::MAX };
            next = next.min(above);
        }
        (1 + ahead, (next != u128::MAX).then(|| self.index(next)))
    }

    /// `subset` in rank order.
    fn sort(&self, subset: &mut [usize]) {
        subset.sort_unstable_by_key(|&i| self.key_of[i]);
    }

    /// The best `m` candidates, in rank order (may reorder `keys`, which
    /// are kept in no order).
    fn top(&mut self, m: usize) -> Vec<usize> {
        let m = m.min(self.keys.len());
        if m == 0 {
            return Vec::new();
        }
        if m < self.keys.len() {
            self.keys.select_nth_unstable(m - 1);
        }
        let best = &mut self.keys[..m];
        best.sort_unstable();
        best.iter().map(|&k| (k & self.mask) as usize).collect()
    }

    fn values(&self, i: usize) -> &[f64] {
        &self.values[i * self.nk..(i + 1) * self.nk]
    }
}

fn plan(
    now: u64,
    lines: Vec<Line>,
    cands: &Cands<'_>,
    rk: &mut Ranking,
    mut flows: Vec<Option<crate::pool::Flow>>,
    opts: &RouteOptions,
    store: Option<&str>,
) -> Result<Plan> {
    let max_ship = opts.max_shipments.unwrap_or(usize::MAX);
    let fewest = opts.strategies.contains(&RouteStrategy::FewestShipments);

    // What stock can fill: the ordered units, within what the channel sells.
    let need: SmallVec<[i64; 8]> = lines.iter().map(|l| l.want.min(l.sellable)).collect();
    let chosen: Vec<usize> = if !opts.allow_split {
        // The best-ranked candidate that has it all.
        let full = rk
            .keys
            .iter()
            .copied()
            .filter(|&k| covers(cands.stock(rk.index(k)), &need))
            .min()
            .map(|k| rk.index(k));
        match full {
            Some(i) => vec![i],
            None if opts.allow_partial || opts.allow_backorder => {
                // The candidate that has the most of the order, by rank.
                let best = rk
                    .keys
                    .iter()
                    .copied()
                    .max_by_key(|&k| {
                        let i = rk.index(k);
                        (coverage(cands.stock(i), &need), std::cmp::Reverse(k))
                    })
                    .map(|k| rk.index(k));
                best.into_iter().collect()
            }
            None => Vec::new(),
        }
    } else if fewest {
        // A candidate with none of what is needed is in no smallest cover.
        fewest_shipments(cands, rk, cands.useful(&need), &need, max_ship)
    } else {
        // In rank order, the locations that still add something, up to
        // the most shipments allowed.
        let mut useful = cands.useful(&need);
        rk.sort(&mut useful);
        let mut left = need.clone();
        let mut used = Vec::new();
        for &i in &useful {
            if used.len() == max_ship || left.iter().all(|&l| l == 0) {
                break;
            }
            let mut adds = false;
            for (l, s) in left.iter_mut().zip(cands.stock(i)) {
                let t = (*s).min(*l);
                adds |= t > 0;
                *l -= t;
            }
            if adds {
                used.push(i);
            }
        }
        used
    };

    // Fill from the chosen locations in rank order.
    let mut left = need.clone();
    let mut shipments = Vec::with_capacity(chosen.len());
    let mut total_cost = Decimal::ZERO;
    let mut chosen_sorted = chosen.clone();
    rk.sort(&mut chosen_sorted);
    for &i in &chosen_sorted {
        let c = &cands.cand(i);
        let take: SmallVec<[i64; 8]> = cands
            .stock(i)
            .iter()
            .zip(&left)
            .zip(flows.iter_mut())
            .map(|((s, l), flow)| match flow {
                // Pool claims must stay bindable with every location taken.
                Some(f) if f.has(c.loc) => f.take(c.loc, (*s).min(*l)),
                _ => (*s).min(*l),
            })
            .collect();
        if take.iter().all(|&t| t == 0) {
            continue;
        }
        for (l, t) in left.iter_mut().zip(&take) {
            *l -= t;
        }
        let cost = shipment_cost(c, &take, &lines, opts);
        total_cost += cost;
        // Why this location over the next one in the ranking.
        let (rank, runner_up) = rk.place(i);
        let why = explain(
            c,
            rank,
            runner_up.map(|j| (cands.cand(j), rk.values(i), rk.values(j))),
            opts,
            fewest,
            chosen.len(),
        );
        shipments.push(shipment(
            now, c, &take, &lines, cost, why, opts, None, store,
        ));
    }

    // Whatever stock could not fill: the channel's buffers, or no location.
    let mut short: SmallVec<[i64; 8]> = lines
        .iter()
        .zip(&need)
        .zip(&left)
        .map(|((l, n), left)| l.want - n + left)
        .collect();
    if short.iter().any(|&s| s > 0) && opts.allow_backorder {
        for (li, s) in short.iter_mut().enumerate() {
            if *s == 0 {
                continue;
            }
            // The earliest expected receipt among the eligible candidates
            // that covers the shortfall (the better rank on the same day).
            let mut best: Option<(u64, u128)> = None;
            for i in rk.eligible() {
                let mut got = 0;
                for &(due, qty) in &cands.expected[i][li] {
                    got += qty;
                    if got >= *s {
                        if best.is_none_or(|b| (due, rk.key(i)) < b) {
                            best = Some((due, rk.key(i)));
                        }
                        break;
                    }
                }
            }
            if let Some((due, k)) = best {
                let i = rk.index(k);
                let mut take: SmallVec<[i64; 8]> = SmallVec::from_elem(0, lines.len());
                take[li] = *s;
                let c = &cands.cand(i);
                let cost = shipment_cost(c, &take, &lines, opts);
                total_cost += cost;
                let preorder = rk.eligible().all(|i| cands.stock(i)[li] == 0);
                let why = format!(
                    "{}: the earliest expected receipt covering {} of `{}` is here",
                    if preorder { "preorder" } else { "backorder" },
                    Qty::from_minor(*s, lines[li].scale),
                    lines[li].name
                );
                let mut sent = shipment(now, c, &take, &lines, cost, why, opts, Some(due), store);
                sent.preorder = preorder;
                shipments.push(sent);
                *s = 0;
            }
        }
    }
    if let Some(li) = short.iter().position(|&s| s > 0)
        && !opts.allow_partial
    {
        let l = &lines[li];
        if !opts.allow_split && rk.eligible().any(|i| cands.stock(i).iter().any(|&s| s > 0)) {
            return Err(Error::NoRoute {
                reason: "no single location has every line and the order may not be split"
                    .to_string(),
            });
        }
        if opts.allow_split && opts.max_shipments.is_some() && chosen.len() >= max_ship {
            return Err(Error::NoRoute {
                reason: format!(
                    "the order needs more than {max_ship} shipment(s) and may not have more"
                ),
            });
        }
        if rk.keys.is_empty() {
            return Err(Error::NoRoute {
                reason: "no eligible location can fulfil this order (see the candidates)"
                    .to_string(),
            });
        }
        let have: i64 = rk
            .eligible()
            .map(|i| cands.stock(i)[li])
            .sum::<i64>()
            .min(l.sellable);
        return Err(Error::InsufficientStock {
            sku: l.name.to_string(),
            location: None,
            channel: None,
            requested: Qty::from_minor(l.want, l.scale),
            available: Qty::from_minor(have, l.scale),
        });
    }
    let unfilled = lines
        .iter()
        .zip(&short)
        .filter(|(_, s)| **s > 0)
        .map(|(l, s)| PlanLine {
            sku: l.name.clone(),
            qty: Qty::from_minor(*s, l.scale),
        })
        .collect();
    // The explanation: the best `explain` ranked candidates (and every one
    // that ships, wherever it ranks) in rank order, then the excluded ones
    // in channel order.
    let m = opts.explain.max(chosen.len());
    let top = rk.top(m);
    let mut below: Vec<usize> = chosen
        .iter()
        .copied()
        .filter(|i| !top.contains(i))
        .collect();
    rk.sort(&mut below);
    let scored = opts
        .strategies
        .iter()
        .any(|s| matches!(s, RouteStrategy::Custom(_) | RouteStrategy::Host(_)));
    let custom = |i: usize| cands.custom(i).first().copied().filter(|_| scored);
    let mut candidates: Vec<CandidateView> = Vec::with_capacity(top.len() + below.len());
    for (pos, &i) in top.iter().enumerate() {
        candidates.push(view(cands, i, &lines, opts, pos + 1, custom(i)));
    }
    for &i in &below {
        candidates.push(view(cands, i, &lines, opts, rk.place(i).0, custom(i)));
    }
    for (i, c) in cands.list.iter().enumerate() {
        if c.excluded.is_some() {
            candidates.push(view(cands, i, &lines, opts, 0, custom(i)));
        }
    }
    Ok(Plan {
        shipments,
        unfilled,
        total_cost,
        candidates,
    })
}

fn covers(stock: &[i64], need: &[i64]) -> bool {
    stock.iter().zip(need).all(|(s, n)| s >= n)
}

fn coverage(stock: &[i64], need: &[i64]) -> i64 {
    stock.iter().zip(need).map(|(s, n)| (*s).min(*n)).sum()
}

/// The fewest of the `useful` candidates that together cover `need`,
/// best-ranked among the smallest: exact search over subsets by size for
/// up to [`EXACT_CANDIDATES`] candidates, set-cover greedy beyond. When
/// nothing covers it, the greedy choice (it fills the most).
fn fewest_shipments(
    cands: &Cands<'_>,
    rk: &Ranking,
    mut useful: Vec<usize>,
    need: &[i64],
    max: usize,
) -> Vec<usize> {
    let n = useful.len();
    if n <= EXACT_CANDIDATES {
        rk.sort(&mut useful);
        for k in 1..=n.min(max) {
            // Subsets of size k in lexicographic order of rank: the first
            // that covers is the best-ranked among the smallest.
            let mut idx: Vec<usize> = (0..k).collect();
            loop {
                let covered = (0..need.len()).all(|li| {
                    idx.iter().map(|&p| cands.stock(useful[p])[li]).sum::<i64>() >= need[li]
                });
                if covered {
                    return idx.iter().map(|&p| useful[p]).collect();
                }
                if !next_combination(&mut idx, n) {
                    break;
                }
            }
        }
    }
    // Greedy: the candidate covering most of what is left, the better
    // rank breaking ties.
    // Ties go by key, so the order of `useful` does not matter, and a
    // candidate that adds nothing any more leaves it for good.
    let mut left: SmallVec<[i64; 8]> = need.iter().copied().collect();
    let mut out = Vec::new();
    while out.len() < max && left.iter().any(|&l| l > 0) {
        let mut best: Option<(usize, i64, u128)> = None;
        let mut p = 0;
        while p < useful.len() {
            let i = useful[p];
            let gain = coverage(cands.stock(i), &left);
            if gain == 0 {
                useful.swap_remove(p);
                continue;
            }
            let key = rk.key(i);
            if best.is_none_or(|(_, g, k)| gain > g || gain == g && key < k) {
                best = Some((p, gain, key));
            }
            p += 1;
        }
        let Some((p, _, _)) = best else { break };
        let i = useful.swap_remove(p);
        for (l, s) in left.iter_mut().zip(cands.stock(i)) {
            *l -= (*s).min(*l);
        }
        out.push(i);
    }
    out
}

/// Advances `idx` (k ascending positions below `n`) to the next
/// combination in lexicographic order; false after the last.
fn next_combination(idx: &mut [usize], n: usize) -> bool {
    let k = idx.len();
    for i in (0..k).rev() {
        if idx[i] < n - k + i {
            idx[i] += 1;
            for j in i + 1..k {
                idx[j] = idx[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

fn explain(
    c: &Cand<'_>,
    rank: usize,
    runner_up: Option<(Cand<'_>, &[f64], &[f64])>,
    opts: &RouteOptions,
    fewest: bool,
    shipments: usize,
) -> String {
    let mut why = String::with_capacity(160);
    why.push_str("ranked #");
    push_number(&mut why, rank);
    if fewest {
        why.push_str("; part of the fewest shipments that cover the order (");
        push_number(&mut why, shipments);
        why.push(')');
    }
    if let Some((r, mine, theirs)) = runner_up {
        why.push_str("; ahead of `");
        why.push_str(&r.location.key);
        why.push_str("` on ");
        why.push_str(deciding(mine, theirs, opts));
    }
    if c.transfer {
        why.push_str("; sent to the pickup store by transfer");
    }
    why
}

/// `n` in decimal, without the formatting machinery (explanations are
/// written for every shipment of every plan).
fn push_number(out: &mut String, n: usize) {
    out.push_str(decimal_digits(n as u64, &mut [0; 20]));
}

/// `n` in decimal digits, written at the end of `buf`.
fn decimal_digits(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

#[allow(clippy::too_many_arguments)]
fn shipment(
    now: u64,
    c: &Cand<'_>,
    take: &[i64],
    lines: &[Line],
    cost: Decimal,
    why: String,
    opts: &RouteOptions,
    due: Option<u64>,
    store: Option<&str>,
) -> Shipment {
    let transfer_ms = if c.transfer {
        opts.transfer_days as u64 * 86_400_000
    } else {
        0
    };
    Shipment {
        location: c.location.key.clone(),
        lines: lines
            .iter()
            .zip(take)
            .filter(|(_, t)| **t > 0)
            .map(|(l, t)| PlanLine {
                sku: l.name.clone(),
                qty: Qty::from_minor(*t, l.scale),
            })
            .collect(),
        distance_km: c.distance_km(),
        cost,
        promised_at_ms: due.unwrap_or(now).max(now).saturating_add(transfer_ms),
        backorder: due.is_some(),
        preorder: false,
        transfer_to: c.transfer.then(|| Key::new(store.unwrap_or_default())),
        why,
    }
}

/// A plan kept with the order placed from it (returned again on a retry).
/// Plans never hold NaN (scores are checked), so equality is total.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlanRec(pub Plan);

impl Eq for PlanRec {}

/// The result of placing an order from a routing plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// True when this is the original result returned again for a retry.
    pub replayed: bool,
    /// What was allocated: the plan's shipments from stock.
    pub allocations: SmallVec<[crate::hold::Part; 2]>,
    /// The plan the order was placed from (backorders and unfilled units
    /// are in it, not in the allocations).
    pub plan: Plan,
}

/// A stable digest of a placement request: a retry is recognised by it.
fn request_digest(req: &RouteRequest<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::ids::StableHasher::default();
    req.channel.hash(&mut h);
    match &req.fulfilment {
        Fulfilment::Ship { lat, lon, country } => {
            (0u8, lat.to_bits(), lon.to_bits(), country).hash(&mut h)
        }
        Fulfilment::ClickAndCollect { store } => (1u8, store).hash(&mut h),
        Fulfilment::ClickAndReserve { store, hours } => (2u8, store, hours).hash(&mut h),
        Fulfilment::TillSale { store } => (3u8, store).hash(&mut h),
    }
    for l in req.lines {
        l.sku.hash(&mut h);
        // As the normalised decimal's text (whole units without
        // formatting or allocating).
        match l.qty.as_units().filter(|&u| u >= 0) {
            Some(u) => decimal_digits(u as u64, &mut [0; 20]).hash(&mut h),
            None => l.qty.to_decimal().normalize().to_string().hash(&mut h),
        }
    }
    let o = &req.options;
    for s in &o.strategies {
        match s {
            RouteStrategy::Host(n) => (s.name(), *n).hash(&mut h),
            _ => s.name().hash(&mut h),
        }
    }
    (
        o.allow_split,
        o.max_shipments,
        o.allow_partial,
        o.allow_backorder,
        o.cost_per_km.normalize().to_string(),
        o.transfer_days,
    )
        .hash(&mut h);
    h.finish()
}

impl Engine {
    /// Places an order: routes it and allocates the plan's shipments from
    /// stock atomically, re-checking every one under the locks. If stock
    /// moved since the plan was made, it plans once more; if that plan
    /// does not hold either, nothing changes and the error says what no
    /// longer fits. The order id is the idempotency key (shared with
    /// commits and till sales): the same request returns the original
    /// result, another one is an `IdConflict`.
    ///
    /// Backordered and unfilled units stay in the returned plan and are not
    /// allocated; a click & collect shipment by transfer is allocated at its
    /// source and creates a planned transfer to the pickup store (see
    /// [`crate::transfer`]), which the host dispatches when the source
    /// picks. A plan with nothing to allocate from stock is refused
    /// (`NoRoute`).
    ///
    /// Locking: as `route`; then the order's shard, then the stripes of
    /// the order's SKUs (ascending).
    pub fn place(&self, order: &str, req: &RouteRequest<'_>) -> Result<Placed> {
        self.place_with(order, req, &mut |_, _| Ok(0.0))
    }

    /// [`Engine::place`] with host scorers (see [`Engine::route_with`]).
    ///
    /// Locking: as `place`.
    pub fn place_with(
        &self,
        order: &str,
        req: &RouteRequest<'_>,
        host: &mut dyn FnMut(u32, &CandidateView) -> Result<f64>,
    ) -> Result<Placed> {
        crate::ids::check_id("order", order)?;
        // Closed orders past their retention are gone before the id is
        // looked up.
        self.now_and_sweep();
        let digest = request_digest(req);
        if let Some(found) = self.placed_again(order, digest)? {
            return Ok(found);
        }
        let mut last_err = None;
        for _attempt in 0..2 {
            let attempt = self.route_with(req, host).and_then(|plan| {
                self.apply_plan(order, digest, req, plan, reserve_hours(&req.fulfilment))
            });
            match attempt {
                Ok(Ok(placed)) => return self.durable(Ok(placed)),
                Ok(Err(e)) => last_err = Some(e),
                Err(e) => {
                    if matches!(e, Error::InsufficientStock { .. } | Error::NoRoute { .. }) {
                        self.count_refused();
                    }
                    return self.durable(Err(e));
                }
            }
        }
        self.count_refused();
        self.durable(Err(last_err.expect("two attempts failed")))
    }

    /// Counts an order refused for lack of stock or of a route.
    ///
    /// Locking: the first stripe (its KPI counters), briefly.
    fn count_refused(&self) {
        let mut s = self.stripes[0].0.lock();
        s.kpi.orders_refused += 1;
        self.journal_unordered(&crate::durable::rec::Rec::Refused {
            holds: 0,
            till_sales: 0,
            orders: 1,
        });
    }

    /// The original result when `order` was already placed with this
    /// request; `IdConflict` when the id was used otherwise.
    fn placed_again(&self, order: &str, digest: u64) -> Result<Option<Placed>> {
        let shard = self.orders[self.order_shard(order)].0.lock();
        let Some(rec) = shard.map.get(order) else {
            return Ok(None);
        };
        match &rec.origin {
            crate::order::Origin::Routed(d, plan, _) if *d == digest => Ok(Some(Placed {
                replayed: true,
                allocations: rec.allocs.iter().map(|a| a.part.public()).collect(),
                plan: plan.0.clone(),
            })),
            _ => Err(Error::IdConflict {
                kind: crate::error::IdKind::Order,
                id: order.to_string(),
            }),
        }
    }

    /// Allocates `plan` if it still holds: `Ok(Ok(placed))`, or
    /// `Ok(Err(why))` when stock moved (the caller may plan again).
    /// `reserve_hours`: a click & reserve order's time at the store.
    pub(crate) fn apply_plan(
        &self,
        order: &str,
        digest: u64,
        req: &RouteRequest<'_>,
        plan: Plan,
        reserve_hours: Option<u32>,
    ) -> Result<std::result::Result<Placed, Error>> {
        let now = self.now_and_sweep();
        let topo = self.topo.load();
        let chan = topo
            .channel_id(req.channel)
            .ok_or_else(|| Error::UnknownChannel {
                channel: req.channel.to_string(),
            })?;
        let parts = self.plan_parts(&topo, &plan)?;
        let backorders = self.plan_backorders(&topo, &plan)?;
        let moves = self.transfer_parts(&topo, &plan)?;
        // The transfer table comes before the order's shard.
        let mut transfers = (!moves.is_empty()).then(|| self.transfers.lock());
        let mut shard = self.orders[self.order_shard(order)].0.lock();
        if shard.map.contains_key(order) {
            drop(shard);
            drop(transfers);
            return match self.placed_again(order, digest)? {
                Some(p) => Ok(Ok(p)),
                None => Err(Error::UnknownOrder {
                    order: order.to_string(),
                }),
            };
        }
        let mut skus: SmallVec<[SkuId; 4]> = parts.iter().map(|p| p.sku).collect();
        skus.extend(backorders.iter().map(|b| b.sku));
        let enforce = req
            .options
            .strategies
            .contains(&RouteStrategy::CapacityAware);
        let txn = Txn::begin(self, &skus, now);
        let mut txn = match self.vet(txn, &topo, chan, &parts, &[], &parts, enforce) {
            Ok(txn) => txn,
            Err(err) => return Ok(Err(err)),
        };
        count_placed(
            txn.kpi().more(),
            &plan,
            req.lines.iter().map(|l| l.qty.to_decimal()).sum(),
        );
        let origin = crate::order::Origin::Routed(digest, Box::new(PlanRec(plan.clone())), None);
        let new = NewOrder {
            order,
            chan,
            origin,
            parts: &parts,
            backorders,
            moves: &moves,
        };
        let mut rec = self.book_order(&mut txn, transfers.as_deref_mut(), new);
        let changes = txn.commit(&crate::durable::rec::Rec::Place {
            order,
            digest,
            channel: req.channel,
            lines: std::borrow::Cow::Borrowed(req.lines),
            plan: std::borrow::Cow::Borrowed(&plan),
            reserve_hours,
        });
        let allocations = parts.iter().map(|p| p.public()).collect();
        self.set_reservation(order, &mut rec, now, reserve_hours);
        shard.map.insert(crate::ids::Key::new(order), rec);
        self.order_touched(&mut shard, order, now);
        drop(shard);
        drop(transfers);
        self.publish(changes);
        Ok(Ok(Placed {
            replayed: false,
            allocations,
            plan,
        }))
    }
}

/// What a hold looks like to a placement: its channel, its parts, and
/// whether (and into which order) it was committed.
struct HoldSeen {
    channel: String,
    state: crate::HoldState,
    order: Option<String>,
    parts: SmallVec<[crate::hold::PartRec; 1]>,
}

impl Engine {
    /// Places an order from an active hold: the hold's units are routed
    /// with `fulfilment` and `options` (counting the hold's own units as
    /// available: its location-bound units where they are, its pool claim
    /// wherever the channel sells), and in one transaction the hold ends as
    /// committed and the plan's shipments are allocated. This is where a
    /// pool hold is bound to locations. The plan is re-checked under the
    /// locks; if stock moved, it plans once more; if that does not hold
    /// either, nothing changes (the hold stays active) and the error says
    /// why. Retrying with the same hold, order and request returns the
    /// original result; another order id for a committed hold, or an order
    /// id already used, is an `IdConflict`.
    ///
    /// Locking: the hold's shard (read); as `route`; then the hold's shard,
    /// the order's shard and the stripes of the SKUs (ascending).
    pub fn place_hold(
        &self,
        hold: &str,
        order: &str,
        fulfilment: Fulfilment,
        options: RouteOptions,
    ) -> Result<Placed> {
        self.place_hold_with(hold, order, fulfilment, options, &mut |_, _| Ok(0.0))
    }

    /// [`Engine::place_hold`] with host scorers (see [`Engine::route_with`]).
    ///
    /// Locking: as `place_hold`.
    pub fn place_hold_with(
        &self,
        hold: &str,
        order: &str,
        fulfilment: Fulfilment,
        options: RouteOptions,
        host: &mut dyn FnMut(u32, &CandidateView) -> Result<f64>,
    ) -> Result<Placed> {
        crate::ids::check_id("hold", hold)?;
        crate::ids::check_id("order", order)?;
        self.now_and_sweep();
        let mut last_err = None;
        for _attempt in 0..2 {
            let seen = self.hold_seen(hold)?;
            let lines = self.hold_lines(&seen.parts);
            let line_refs: Vec<HoldLine<'_>> =
                lines.iter().map(|(s, q)| HoldLine::new(s, *q)).collect();
            let req = RouteRequest {
                channel: &seen.channel,
                fulfilment: fulfilment.clone(),
                lines: &line_refs,
                options: options.clone(),
            };
            let digest = hold_digest(hold, &req);
            match seen.state {
                crate::HoldState::Active => {}
                crate::HoldState::Committed if seen.order.as_deref() == Some(order) => {
                    return match self.placed_again(order, digest)? {
                        Some(found) => Ok(found),
                        None => Err(Error::UnknownOrder {
                            order: order.to_string(),
                        }),
                    };
                }
                crate::HoldState::Committed => {
                    return Err(Error::IdConflict {
                        kind: crate::error::IdKind::Hold,
                        id: hold.to_string(),
                    });
                }
                state => {
                    return Err(Error::HoldNotActive {
                        hold: hold.to_string(),
                        state,
                    });
                }
            }
            let credit: Vec<(SkuId, LocationId, i64)> =
                seen.parts.iter().map(|p| (p.sku, p.loc, p.qty)).collect();
            let plan = match self.route_inner(&req, host, &credit) {
                Ok(plan) => plan,
                Err(e) => {
                    if matches!(e, Error::InsufficientStock { .. } | Error::NoRoute { .. }) {
                        self.count_refused();
                    }
                    return self.durable(Err(e));
                }
            };
            let enforce = options.strategies.contains(&RouteStrategy::CapacityAware);
            let hours = reserve_hours(&fulfilment);
            match self.apply_hold_plan(hold, order, digest, plan, enforce, hours)? {
                Ok(placed) => return self.durable(Ok(placed)),
                Err(e) => last_err = Some(e),
            }
        }
        self.count_refused();
        self.durable(Err(last_err.expect("two attempts failed")))
    }

    /// A hold's channel, state, order and parts.
    ///
    /// Locking: the hold's shard.
    fn hold_seen(&self, hold: &str) -> Result<HoldSeen> {
        let now = self.now_ms();
        let h = crate::hold::IdHash::new(hold);
        let mut shard = self.holds[h.shard(self.holds.len())].0.lock();
        let slot = shard.find(&h).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        let mut expired = Vec::new();
        // A hold past its expiry ends here (and is reported as expired).
        let _ = self.check_active(&mut shard, slot, hold, now, &mut expired);
        let rec = shard.rec(slot);
        let seen = HoldSeen {
            channel: self.channel_label(rec.channel),
            state: rec.state,
            order: rec.order.as_ref().map(|o| o.to_string()),
            parts: rec.parts.clone(),
        };
        drop(shard);
        self.publish(expired);
        Ok(seen)
    }

    /// A hold's parts as order lines: one per SKU, in first-seen order.
    fn hold_lines(&self, parts: &[crate::hold::PartRec]) -> Vec<(String, Qty)> {
        let mut per_sku: Vec<(SkuId, i64, u8)> = Vec::new();
        for p in parts {
            match per_sku.iter_mut().find(|x| x.0 == p.sku) {
                Some(x) => x.1 += p.qty,
                None => per_sku.push((p.sku, p.qty, p.scale)),
            }
        }
        per_sku
            .into_iter()
            .map(|(s, q, scale)| (self.skus.name(s).to_string(), Qty::from_minor(q, scale)))
            .collect()
    }

    /// Ends `hold` as committed into `order` and allocates `plan`, if the
    /// hold is still active and the plan still holds: `Ok(Err(why))` when
    /// stock moved (the caller may plan again). Recovery replays placements
    /// from holds this way.
    pub(crate) fn apply_hold_plan(
        &self,
        hold: &str,
        order: &str,
        digest: u64,
        plan: Plan,
        enforce: bool,
        reserve_hours: Option<u32>,
    ) -> Result<std::result::Result<Placed, Error>> {
        let now = self.now_and_sweep();
        let topo = self.topo.load();
        let parts = self.plan_parts(&topo, &plan)?;
        let backorders = self.plan_backorders(&topo, &plan)?;
        let moves = self.transfer_parts(&topo, &plan)?;
        // The transfer table comes before the hold's shard.
        let mut transfers = (!moves.is_empty()).then(|| self.transfers.lock());
        let h = crate::hold::IdHash::new(hold);
        let mut hguard = self.holds[h.shard(self.holds.len())].0.lock();
        let hshard = &mut *hguard;
        let slot = hshard.find(&h).ok_or_else(|| Error::UnknownHold {
            hold: hold.to_string(),
        })?;
        let mut expired = Vec::new();
        if let Err(e) = self.check_active(hshard, slot, hold, now, &mut expired) {
            drop(hguard);
            self.publish(expired);
            return Err(e);
        }
        let mut oshard = self.orders[self.order_shard(order)].0.lock();
        if oshard.map.contains_key(order) {
            return Err(Error::IdConflict {
                kind: crate::error::IdKind::Order,
                id: order.to_string(),
            });
        }
        let rec = hshard.rec(slot);
        let chan = rec.channel;
        let held = rec.parts.clone();
        let credit: Vec<(SkuId, LocationId, i64)> =
            held.iter().map(|p| (p.sku, p.loc, p.qty)).collect();
        let mut skus: SmallVec<[SkuId; 4]> = parts.iter().map(|p| p.sku).collect();
        skus.extend(held.iter().map(|p| p.sku));
        skus.extend(backorders.iter().map(|b| b.sku));
        let txn = Txn::begin(self, &skus, now);
        let mut txn = match self.vet(txn, &topo, chan, &parts, &credit, &parts, enforce) {
            Ok(txn) => txn,
            Err(err) => return Ok(Err(err)),
        };
        let note = crate::Note {
            reason: "",
            reference: Some(order),
        };
        let mut ordered = Decimal::ZERO;
        for p in &held {
            ordered += Qty::from_minor(p.qty, p.scale).to_decimal();
            if p.pooled() {
                txn.adjust_pool(p.sku, chan, -p.qty);
                txn.pool_event(crate::EventKind::PoolReleased, p.sku, p.qty, note);
            } else {
                txn.adjust(p.sku, p.loc, crate::engine::Field::Reserved, -p.qty);
                txn.event(crate::EventKind::Released, p.sku, p.loc, p.qty, note);
            }
        }
        txn.kpi().holds_committed += 1;
        count_placed(txn.kpi().more(), &plan, ordered);
        let origin = crate::order::Origin::Routed(
            digest,
            Box::new(PlanRec(plan.clone())),
            Some(crate::ids::Key::new(hold)),
        );
        let new = NewOrder {
            order,
            chan,
            origin,
            parts: &parts,
            backorders,
            moves: &moves,
        };
        let mut order_rec = self.book_order(&mut txn, transfers.as_deref_mut(), new);
        let changes = txn.commit(&crate::durable::rec::Rec::PlaceHold {
            hold,
            order,
            digest,
            plan: std::borrow::Cow::Borrowed(&plan),
            reserve_hours,
        });
        self.set_reservation(order, &mut order_rec, now, reserve_hours);
        oshard.map.insert(crate::ids::Key::new(order), order_rec);
        self.order_touched(&mut oshard, order, now);
        drop(oshard);
        drop(transfers);
        // The order id first: ending the record looks at what it owns.
        hshard.rec_mut(slot).order = Some(crate::ids::Key::new(order));
        self.finish_record(hshard, slot, crate::HoldState::Committed, now);
        drop(hguard);
        self.publish(changes);
        Ok(Ok(Placed {
            replayed: false,
            allocations: parts.iter().map(|p| p.public()).collect(),
            plan,
        }))
    }
}

/// A click & reserve order's hours at the store.
fn reserve_hours(f: &Fulfilment) -> Option<u32> {
    match f {
        Fulfilment::ClickAndReserve { hours, .. } => Some(*hours),
        _ => None,
    }
}

/// The digest of a placement from a hold: the hold's id and the request.
fn hold_digest(hold: &str, req: &RouteRequest<'_>) -> u64 {
    let mut h = crate::ids::StableHasher(request_digest(req));
    std::hash::Hash::hash(hold, &mut h);
    std::hash::Hasher::finish(&h)
}

impl Engine {
    /// Re-routes an open order (the customer changed the address or the
    /// method, or a store cannot pick): its open units are planned again
    /// with `fulfilment` and `options`, counting its own allocations as
    /// available, and the new allocation is swapped in atomically (the old
    /// one released, the new one taken, in one transaction). If no plan is
    /// possible, the old allocation stays and the error says why. What was
    /// already fulfilled or cancelled stays on the order as it was.
    ///
    /// Locking: as `route`; then the order's shard and the stripes of its
    /// SKUs.
    pub fn reroute(
        &self,
        order: &str,
        fulfilment: Fulfilment,
        options: RouteOptions,
    ) -> Result<Placed> {
        self.reroute_with(order, fulfilment, options, &mut |_, _| Ok(0.0))
    }

    /// [`Engine::reroute`] with host scorers (see [`Engine::route_with`]).
    ///
    /// Locking: as `reroute`.
    pub fn reroute_with(
        &self,
        order: &str,
        fulfilment: Fulfilment,
        options: RouteOptions,
        host: &mut dyn FnMut(u32, &CandidateView) -> Result<f64>,
    ) -> Result<Placed> {
        crate::ids::check_id("order", order)?;
        let mut last_err = None;
        for _attempt in 0..2 {
            let (channel, open) = self.open_allocations(order)?;
            if open.is_empty() {
                return Err(Error::NoRoute {
                    reason: format!("order `{order}` has nothing open to re-route"),
                });
            }
            // The open units, per SKU, are what to route.
            let mut per_sku: Vec<(String, i64, u8)> = Vec::new();
            for p in &open {
                match per_sku
                    .iter_mut()
                    .find(|x| x.0 == self.skus.name(p.sku).as_str())
                {
                    Some(x) => x.1 += p.qty,
                    None => per_sku.push((self.skus.name(p.sku).to_string(), p.qty, p.scale)),
                }
            }
            let lines: Vec<HoldLine<'_>> = per_sku
                .iter()
                .map(|(s, q, scale)| HoldLine::new(s, Qty::from_minor(*q, *scale)))
                .collect();
            let req = RouteRequest {
                channel: &channel,
                fulfilment: fulfilment.clone(),
                lines: &lines,
                options: options.clone(),
            };
            let credit: Vec<(SkuId, LocationId, i64)> =
                open.iter().map(|p| (p.sku, p.loc, p.qty)).collect();
            let plan = self.route_inner(&req, host, &credit)?;
            let enforce = options.strategies.contains(&RouteStrategy::CapacityAware);
            let hours = reserve_hours(&fulfilment);
            match self.swap_plan(order, &open, &credit, plan, enforce, hours)? {
                Ok(placed) => return self.durable(Ok(placed)),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("two attempts failed"))
    }

    /// Swaps an order's open allocations for `plan` (recovery replays
    /// re-routes this way).
    pub(crate) fn reroute_to(
        &self,
        order: &str,
        plan: Plan,
        reserve_hours: Option<u32>,
    ) -> Result<std::result::Result<Placed, Error>> {
        let (_, open) = self.open_allocations(order)?;
        let credit: Vec<(SkuId, LocationId, i64)> =
            open.iter().map(|p| (p.sku, p.loc, p.qty)).collect();
        self.swap_plan(order, &open, &credit, plan, false, reserve_hours)
    }

    /// The order's channel and its open allocations (quantity = open).
    fn open_allocations(
        &self,
        order: &str,
    ) -> Result<(String, SmallVec<[crate::hold::PartRec; 2]>)> {
        let shard = self.orders[self.order_shard(order)].0.lock();
        let rec = shard.map.get(order).ok_or_else(|| Error::UnknownOrder {
            order: order.to_string(),
        })?;
        let channel = self.channel_label(rec.channel);
        let open = rec
            .allocs
            .iter()
            .filter(|a| a.part.qty - a.fulfilled - a.cancelled > 0)
            .map(|a| crate::hold::PartRec {
                qty: a.part.qty - a.fulfilled - a.cancelled,
                ..a.part
            })
            .collect();
        Ok((channel, open))
    }

    /// Swaps `open` for `plan`'s stock shipments if the order is unchanged
    /// and the plan still holds: `Ok(Err(why))` when stock moved.
    fn swap_plan(
        &self,
        order: &str,
        open: &[crate::hold::PartRec],
        credit: &[(SkuId, LocationId, i64)],
        plan: Plan,
        enforce: bool,
        reserve_hours: Option<u32>,
    ) -> Result<std::result::Result<Placed, Error>> {
        let now = self.now_and_sweep();
        let topo = self.topo.load();
        let parts = self.plan_parts(&topo, &plan)?;
        let backorders = self.plan_backorders(&topo, &plan)?;
        let moves = self.transfer_parts(&topo, &plan)?;
        // The transfer table comes before the order's shard (the order's
        // planned transfers are replaced).
        let mut transfers = self.transfers.lock();
        let mut shard = self.orders[self.order_shard(order)].0.lock();
        let rec = shard.rec_mut(order)?;
        let still: SmallVec<[crate::hold::PartRec; 2]> = rec
            .allocs
            .iter()
            .filter(|a| a.part.qty - a.fulfilled - a.cancelled > 0)
            .map(|a| crate::hold::PartRec {
                qty: a.part.qty - a.fulfilled - a.cancelled,
                ..a.part
            })
            .collect();
        if still.as_slice() != open {
            return Ok(Err(Error::NoRoute {
                reason: format!("order `{order}` changed while it was being re-routed"),
            }));
        }
        let chan = rec.channel;
        let mut skus: SmallVec<[SkuId; 4]> = parts.iter().map(|p| p.sku).collect();
        skus.extend(open.iter().map(|p| p.sku));
        skus.extend(backorders.iter().map(|b| b.sku));
        // Locations the order already had are not picking a new order.
        let new: SmallVec<[crate::hold::PartRec; 2]> = parts
            .iter()
            .filter(|p| !open.iter().any(|o| o.loc == p.loc))
            .copied()
            .collect();
        let txn = Txn::begin(self, &skus, now);
        let mut txn = match self.vet(txn, &topo, chan, &parts, credit, &new, enforce) {
            Ok(txn) => txn,
            Err(err) => return Ok(Err(err)),
        };
        let note = crate::Note {
            reason: "reroute",
            reference: Some(order),
        };
        for p in open {
            txn.adjust(p.sku, p.loc, crate::engine::Field::Allocated, -p.qty);
            txn.event(
                crate::EventKind::AllocationCancelled,
                p.sku,
                p.loc,
                p.qty,
                note,
            );
        }
        book_plan(&mut txn, &parts, &backorders, note);
        txn.kpi().more().reroutes += 1;
        self.cancel_planned_transfers(&mut transfers, &mut txn, rec);
        self.plan_transfers(&mut transfers, &mut txn, order, rec, &moves);
        let changes = txn.commit(&crate::durable::rec::Rec::Reroute {
            order,
            plan: std::borrow::Cow::Borrowed(&plan),
            reserve_hours,
        });
        // What was fulfilled or cancelled stays; the open part is replaced.
        for a in rec.allocs.iter_mut() {
            a.part.qty = a.fulfilled + a.cancelled;
        }
        rec.allocs.retain(|a| a.part.qty > 0);
        rec.allocs
            .extend(parts.iter().map(|&part| crate::order::AllocRec::new(part)));
        rec.backorders.extend(backorders);
        if let crate::order::Origin::Routed(_, kept, _) = &mut rec.origin {
            **kept = PlanRec(plan.clone());
        }
        // A new method, a new time at the store (or none).
        self.set_reservation(order, rec, now, reserve_hours);
        let allocations = parts.iter().map(|p| p.public()).collect();
        self.order_touched(&mut shard, order, now);
        drop(shard);
        drop(transfers);
        self.publish(changes);
        Ok(Ok(Placed {
            replayed: false,
            allocations,
            plan,
        }))
    }
}

/// A location's id by the host's id.
fn location_id(topo: &Topology, name: &str) -> Result<LocationId> {
    topo.location_id(name)
        .ok_or_else(|| Error::UnknownLocation {
            location: name.to_string(),
        })
}

/// Applies a placed plan inside `txn`: its stock parts allocated, its
/// backordered lines counted against their receipts.
fn book_plan(
    txn: &mut Txn<'_>,
    parts: &[crate::hold::PartRec],
    backorders: &[crate::order::BackorderRec],
    note: crate::Note<'_>,
) {
    for p in parts {
        txn.adjust(p.sku, p.loc, crate::engine::Field::Allocated, p.qty);
        txn.event(crate::EventKind::Placed, p.sku, p.loc, p.qty, note);
    }
    for b in backorders {
        txn.adjust(b.sku, b.loc, crate::engine::Field::Backordered, b.qty);
        txn.event(crate::EventKind::Backordered, b.sku, b.loc, b.qty, note);
    }
}

/// A placed plan's new order, for [`Engine::book_order`].
struct NewOrder<'a> {
    order: &'a str,
    chan: crate::ids::ChannelId,
    origin: crate::order::Origin,
    parts: &'a [crate::hold::PartRec],
    backorders: Vec<crate::order::BackorderRec>,
    moves: &'a [(LocationId, LocationId, SkuId, i64, u8)],
}

impl Engine {
    /// Vets a plan under the locks of `txn`: every part still fits
    /// (`recheck`, with `credit` given back in the same transaction), then
    /// the daily capacities of the locations in `counted` (`count_orders`).
    /// A refusal abandons the transaction.
    #[allow(clippy::too_many_arguments)]
    fn vet<'e>(
        &self,
        txn: Txn<'e>,
        topo: &Topology,
        chan: crate::ids::ChannelId,
        parts: &[crate::hold::PartRec],
        credit: &[(SkuId, LocationId, i64)],
        counted: &[crate::hold::PartRec],
        enforce: bool,
    ) -> std::result::Result<Txn<'e>, Error> {
        let refused = match self.recheck(&txn, topo, chan, parts, credit) {
            Some(err) => Err(err),
            None => self.count_orders(topo, counted, txn.now(), enforce),
        };
        match refused {
            Ok(()) => Ok(txn),
            Err(err) => {
                txn.abandon();
                Err(err)
            }
        }
    }

    /// Books a vetted plan as a new order inside `txn`: its allocations and
    /// backorders, and the order's record with the click & collect
    /// transfers it plans (`transfers`: the table, locked, when it plans
    /// any).
    fn book_order(
        &self,
        txn: &mut Txn<'_>,
        transfers: Option<&mut crate::transfer::TransferTable>,
        new: NewOrder<'_>,
    ) -> crate::order::OrderRec {
        let note = crate::Note {
            reason: "",
            reference: Some(new.order),
        };
        book_plan(txn, new.parts, &new.backorders, note);
        let mut rec =
            crate::order::OrderRec::new(new.chan, new.origin, txn.now(), new.parts, new.backorders);
        if let Some(table) = transfers {
            self.plan_transfers(table, txn, new.order, &mut rec, new.moves);
        }
        rec
    }
}

/// The routing KPIs of one placed order.
fn count_placed(k: &mut crate::Kpis, plan: &Plan, ordered: Decimal) {
    let stock: Vec<&Shipment> = plan.shipments.iter().filter(|s| !s.backorder).collect();
    k.orders_placed += 1;
    k.orders_split += (stock.len() > 1) as u64;
    k.shipments += stock.len() as u64;
    for s in &stock {
        k.shipping_km += Decimal::new((s.distance_km * 1000.0).round() as i64, 3);
        for l in &s.lines {
            k.units_placed += l.qty.to_decimal();
        }
    }
    for s in plan.shipments.iter().filter(|s| s.backorder) {
        for l in &s.lines {
            k.units_backordered += l.qty.to_decimal();
            if s.preorder {
                k.units_preordered += l.qty.to_decimal();
            }
        }
    }
    k.orders_backordered += plan.shipments.iter().any(|s| s.backorder) as u64;
    k.units_ordered += ordered;
}

impl Engine {
    /// Counts one order at each distinct location of `parts` on the day of
    /// `now`. With `enforce`, a location already at its daily capacity
    /// refuses the whole order (nothing is counted).
    ///
    /// Locking: the order-count table (a leaf lock).
    pub(crate) fn count_orders(
        &self,
        topo: &Topology,
        parts: &[crate::hold::PartRec],
        now: u64,
        enforce: bool,
    ) -> std::result::Result<(), Error> {
        let day = now / DAY_MS;
        let mut locs: SmallVec<[LocationId; 4]> = parts
            .iter()
            .filter(|p| !p.pooled())
            .map(|p| p.loc)
            .collect();
        locs.sort_unstable();
        locs.dedup();
        let Some(&max) = locs.last() else {
            return Ok(());
        };
        let mut picks = self.picks.lock();
        if picks.len() <= max.0 as usize {
            picks.resize(max.0 as usize + 1, (0, 0));
        }
        let today = |p: (u64, u32)| if p.0 == day { p.1 } else { 0 };
        if enforce {
            for &loc in &locs {
                if let Some(cap) = topo.location(loc).spec.daily_capacity
                    && today(picks[loc.0 as usize]) >= cap
                {
                    return Err(Error::NoRoute {
                        reason: format!(
                            "`{}` reached its daily order capacity ({cap})",
                            topo.location(loc).key
                        ),
                    });
                }
            }
        }
        for loc in locs {
            let p = &mut picks[loc.0 as usize];
            *p = (day, today(*p) + 1);
        }
        Ok(())
    }

    /// How many orders `location` has taken today against its daily
    /// capacity (the count capacity-aware routing uses).
    ///
    /// Locking: the order-count table.
    pub fn location_load(&self, location: &str) -> Result<LocationLoad> {
        let loc = self.location_id(location)?;
        let now = self.now_ms();
        let day = now / DAY_MS;
        let orders_today = match self.picks.lock().get(loc.0 as usize) {
            Some(&(d, n)) if d == day => n,
            _ => 0,
        };
        Ok(LocationLoad {
            location: location.to_string(),
            day_start_ms: day * DAY_MS,
            orders_today,
            capacity: self.topo.load().location(loc).spec.daily_capacity,
        })
    }

    /// A shipment's location and lines in the engine's terms: (location,
    /// [(sku, minor units, scale)]).
    #[allow(clippy::type_complexity)]
    fn resolve_shipment(
        &self,
        topo: &Topology,
        s: &Shipment,
    ) -> Result<(LocationId, SmallVec<[(SkuId, i64, u8); 4]>)> {
        let loc = location_id(topo, &s.location)?;
        let mut lines = SmallVec::new();
        for l in &s.lines {
            let (sku, scale) = self.sku_id(&l.sku)?;
            let qty = l
                .qty
                .to_positive_minor(scale)
                .map_err(|p| Error::qty(&l.sku, l.qty, p))?;
            lines.push((sku, qty, scale));
        }
        Ok((loc, lines))
    }

    /// The plan's click & collect shipments by transfer, per line: (from,
    /// to, sku, minor units, scale).
    #[allow(clippy::type_complexity)]
    fn transfer_parts(
        &self,
        topo: &Topology,
        plan: &Plan,
    ) -> Result<SmallVec<[(LocationId, LocationId, SkuId, i64, u8); 2]>> {
        let mut out = SmallVec::new();
        for s in plan.shipments.iter().filter(|s| !s.backorder) {
            let Some(to) = &s.transfer_to else { continue };
            let to = location_id(topo, to)?;
            let (from, lines) = self.resolve_shipment(topo, s)?;
            out.extend(
                lines
                    .into_iter()
                    .map(|(sku, qty, scale)| (from, to, sku, qty, scale)),
            );
        }
        Ok(out)
    }

    /// The plan's shipments from stock as parts (ids, minor units); a plan
    /// with none is refused.
    fn plan_parts(
        &self,
        topo: &Topology,
        plan: &Plan,
    ) -> Result<SmallVec<[crate::hold::PartRec; 2]>> {
        let mut parts = SmallVec::new();
        for s in plan.shipments.iter().filter(|s| !s.backorder) {
            let (loc, lines) = self.resolve_shipment(topo, s)?;
            parts.extend(
                lines
                    .into_iter()
                    .map(|(sku, qty, scale)| crate::hold::PartRec {
                        sku,
                        loc,
                        qty,
                        scale,
                    }),
            );
        }
        if parts.is_empty() && !plan.shipments.iter().any(|s| s.backorder) {
            return Err(Error::NoRoute {
                reason: "nothing to allocate from stock or promise from an expected receipt"
                    .to_string(),
            });
        }
        Ok(parts)
    }

    /// The plan's backordered lines, as the order keeps them.
    fn plan_backorders(
        &self,
        topo: &Topology,
        plan: &Plan,
    ) -> Result<Vec<crate::order::BackorderRec>> {
        let mut out = Vec::new();
        for s in plan.shipments.iter().filter(|s| s.backorder) {
            let (loc, lines) = self.resolve_shipment(topo, s)?;
            out.extend(
                lines
                    .into_iter()
                    .map(|(sku, qty, scale)| crate::order::BackorderRec {
                        sku,
                        loc,
                        qty,
                        scale,
                        due_ms: s.promised_at_ms,
                        preorder: s.preorder,
                        filled: 0,
                        cancelled: 0,
                    }),
            );
        }
        Ok(out)
    }

    /// Under the transaction's locks: does every part still fit its open
    /// location, every SKU's total what the channel may sell, and every pool
    /// claim stay bindable with all of them taken? `credit` (an order's own
    /// allocations or a hold's own units, released in the same transaction;
    /// at [`LocationId::POOL`], the channel's own pool claim) counts as
    /// available. The first misfit, as an error.
    fn recheck(
        &self,
        txn: &Txn<'_>,
        topo: &Topology,
        chan: crate::ids::ChannelId,
        parts: &[crate::hold::PartRec],
        credit: &[(SkuId, LocationId, i64)],
    ) -> Option<Error> {
        let Some(channel) = topo.channel(chan) else {
            return Some(Error::UnknownChannel {
                channel: self.channel_label(chan),
            });
        };
        let own = |sku: SkuId, loc: Option<LocationId>| -> i64 {
            credit
                .iter()
                .filter(|c| c.0 == sku && c.1 != LocationId::POOL && loc.is_none_or(|l| l == c.1))
                .map(|c| c.2)
                .sum()
        };
        // Per SKU: its pool flow (if it has claims) and what the channel
        // may sell of it, both as of before this transaction.
        let mut flows: Vec<(SkuId, Option<crate::pool::Flow>, i64)> =
            Vec::with_capacity(parts.len());
        for p in parts {
            let total: i64 = parts.iter().filter(|x| x.sku == p.sku).map(|x| x.qty).sum();
            let stock = txn.stock(p.sku);
            let i = match flows.iter().position(|f| f.0 == p.sku) {
                Some(i) => i,
                None => {
                    let flow = if !stock.has_pool() {
                        None
                    } else {
                        let mut extra: SmallVec<[LocationId; 8]> =
                            channel.locations.iter().copied().collect();
                        extra.extend(parts.iter().filter(|x| x.sku == p.sku).map(|x| x.loc));
                        pool_flow(topo, stock, p.sku, chan, credit, &extra)
                    };
                    let raw = match &flow {
                        Some(f) => {
                            crate::pool::headroom_at(topo, stock, Some(f), &channel.locations)
                        }
                        // No claims left once the order's own are
                        // credited: the plain sum.
                        None => channel.raw_sum(topo, stock) + own(p.sku, None),
                    };
                    flows.push((p.sku, flow, channel.buffered(raw, stock.scale)));
                    flows.len() - 1
                }
            };
            let sellable = flows[i].2;
            let mut at = stock.atp(p.loc) + own(p.sku, Some(p.loc));
            // With pool claims, what the location can spare once the
            // parts before this one are taken.
            if let Some(f) = flows[i].1.as_mut().filter(|f| f.has(p.loc)) {
                at = at.min(f.take(p.loc, p.qty));
            }
            if p.qty > at || total > sellable || topo.is_closed(p.loc) {
                return Some(self.insufficient(
                    p.sku,
                    Some(p.loc),
                    Some(chan),
                    p.qty,
                    at.min(sellable),
                    p.scale,
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placement digests are kept in journals and snapshots: the
    /// allocation-free hashing of whole quantities must give what hashing
    /// their text always gave.
    #[test]
    fn request_digest_hashes_quantities_as_their_normalised_text() {
        use std::hash::{Hash, Hasher};
        let reference = |req: &RouteRequest<'_>| {
            let mut h = crate::ids::StableHasher::default();
            req.channel.hash(&mut h);
            if let Fulfilment::Ship { lat, lon, country } = &req.fulfilment {
                (0u8, lat.to_bits(), lon.to_bits(), country).hash(&mut h);
            }
            for l in req.lines {
                (l.sku, l.qty.to_decimal().normalize().to_string()).hash(&mut h);
            }
            let o = &req.options;
            for s in &o.strategies {
                s.name().hash(&mut h);
            }
            (
                o.allow_split,
                o.max_shipments,
                o.allow_partial,
                o.allow_backorder,
                o.cost_per_km.normalize().to_string(),
                o.transfer_days,
            )
                .hash(&mut h);
            h.finish()
        };
        let quantities: Vec<Qty> = vec![
            1.into(),
            10.into(),
            1_000_000_007.into(),
            i64::MAX.into(),
            Qty::from(Decimal::new(25, 1)),
            Qty::from(Decimal::new(300, 2)),
            Qty::from(-4),
        ];
        for q in quantities {
            let lines = [HoldLine::new("tee", q), HoldLine::new("cap", 3)];
            let req = RouteRequest {
                channel: "web",
                fulfilment: Fulfilment::Ship {
                    lat: 48.85,
                    lon: 2.35,
                    country: "FR".into(),
                },
                lines: &lines,
                options: RouteOptions::default(),
            };
            assert_eq!(request_digest(&req), reference(&req), "{q:?}");
        }
    }
}
