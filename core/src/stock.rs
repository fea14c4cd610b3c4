//! Stock levels per (SKU, location) and the movements that change them.

use crate::durable::rec::{Rec, StockOp};
use crate::engine::{Engine, Field, Note, Txn};
use crate::error::{Error, Result};
use crate::ids::{ChannelId, Key, LocationId, SkuId};
use crate::ledger::EventKind;
use crate::loclist::LocList;
use crate::qty::{MAX_MINOR, Qty};
use crate::sku::SkuSpec;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Why units are not sellable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Damaged goods.
    Damaged,
    /// Waiting for quality control.
    QualityControl,
}

/// Every level of one SKU at one location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Levels {
    pub on_hand: Qty,
    /// Short holds: carts, checkouts, click & reserve.
    pub reserved: Qty,
    /// Committed to orders, not yet shipped or picked up.
    pub allocated: Qty,
    pub safety: Qty,
    pub damaged: Qty,
    pub quality_control: Qty,
    /// `damaged + quality_control`.
    pub unsellable: Qty,
    /// Units dispatched from elsewhere towards this location.
    pub in_transit: Qty,
    /// Expected receipts not yet received.
    pub incoming: Qty,
    /// Of the incoming units, those already promised to orders as
    /// backorders (allocated to them as they arrive).
    pub backordered: Qty,
    /// Available to promise: on_hand - reserved - allocated - safety -
    /// unsellable, never below zero.
    pub available: Qty,
}

/// The outcome of a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountReport {
    /// Counted minus the previous on_hand (negative when units went missing).
    pub variance: Qty,
    /// Units promised (reserved + allocated) beyond what is physically
    /// sellable after the count; zero when none.
    pub shortage: Qty,
    pub levels: Levels,
}

/// The outcome of [`Engine::reconcile`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// On_hand changes in the ledger after the count's time (receipts,
    /// sales, fulfilments, transfers...; not other counts), replayed on top.
    pub changes_after: Qty,
    /// The count applied (`counted + changes_after`) and its variance; when
    /// `superseded`, the levels as they are, with no variance and no
    /// shortage reported (nothing was counted).
    pub report: CountReport,
    /// A newer observation of this SKU and location was already applied (a
    /// count after the count's time, or a reconciliation as of a later
    /// time), so this one changed nothing.
    #[serde(default)]
    pub superseded: bool,
}

/// An expected receipt (purchase order, ASN) at a location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub reference: Key,
    pub qty: i64,
    pub due_ms: u64,
}

/// The hot levels of one SKU at one location (40 bytes). Safety stock and
/// unsellable units are one hot level, `blocked`: a hold only needs their
/// sum; the unsellable conditions are in the cold record, and safety is the
/// difference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LocLevels {
    pub loc: LocationId,
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
    /// `safety + damaged + quality_control`.
    pub blocked: i64,
}

const _: () = assert!(std::mem::size_of::<LocLevels>() == 40);

impl LocLevels {
    pub(crate) fn new(loc: LocationId) -> Self {
        LocLevels {
            loc,
            ..Default::default()
        }
    }
    /// Available to promise; may be negative inside (a shortage).
    #[inline]
    pub fn atp(&self) -> i64 {
        self.on_hand - self.reserved - self.allocated - self.blocked
    }

    /// Safety stock, given the location's `unsellable` units (damaged and
    /// quality control): `blocked` holds both.
    #[inline]
    pub(crate) fn safety(&self, unsellable: i64) -> i64 {
        self.blocked - unsellable
    }
}

/// How a snapshot writes the hot levels of a location: the shape they had
/// before safety and unsellable units shared one hot level, so snapshots
/// keep one format.
#[derive(Serialize, Deserialize)]
struct WireLevels {
    loc: LocationId,
    on_hand: i64,
    reserved: i64,
    allocated: i64,
    safety: i64,
    unsellable: i64,
}

/// Rarely used levels, kept out of the hot record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ColdLevels {
    pub loc: LocationId,
    pub damaged: i64,
    pub quality_control: i64,
    pub in_transit: i64,
    pub incoming: i64,
    #[serde(default)]
    pub backordered: i64,
    /// Backordered units that arrived, allocated but not yet attributed to
    /// their orders (`fill_backorders` does that).
    #[serde(default)]
    pub backorder_arrived: i64,
    pub expected: Vec<Expected>,
    /// The latest "as of" time a reconciliation applied here (0: none).
    /// Snapshots carry it in their own list (`Snapshot::observed`), so this
    /// record keeps the shape older snapshots have.
    #[serde(skip)]
    pub observed_ms: u64,
}

impl ColdLevels {
    /// Damaged and quality-control units.
    pub(crate) fn unsellable(&self) -> i64 {
        self.damaged + self.quality_control
    }
}

/// The cold part of a SKU: one pointer while it has none. Once a SKU has
/// had pool claims the box stays (a cart per second would otherwise
/// allocate and free it each time); equality ignores the difference.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "ColdData", into = "ColdData")]
#[allow(clippy::box_collection)] // one word in the hot record instead of three
pub(crate) struct Cold(Option<Box<ColdData>>);

/// Rare levels per location, and the SKU's pool claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ColdData {
    pub levels: Vec<ColdLevels>,
    /// Units held against a channel's pool, not yet bound to a location:
    /// (channel, minor units), one entry per channel with a claim.
    pub pool: Vec<(ChannelId, i64)>,
}

impl PartialEq for Cold {
    fn eq(&self, o: &Cold) -> bool {
        **self == **o && self.pool() == o.pool()
    }
}

impl Eq for Cold {}

impl From<ColdData> for Cold {
    fn from(v: ColdData) -> Self {
        Cold((!v.levels.is_empty() || !v.pool.is_empty()).then(|| Box::new(v)))
    }
}

impl From<Cold> for ColdData {
    fn from(c: Cold) -> Self {
        c.0.map(|b| *b).unwrap_or_default()
    }
}

impl std::ops::Deref for Cold {
    type Target = [ColdLevels];
    fn deref(&self) -> &[ColdLevels] {
        self.0.as_deref().map_or(&[], |v| v.levels.as_slice())
    }
}

impl Cold {
    fn vec_mut(&mut self) -> &mut Vec<ColdLevels> {
        &mut self.0.get_or_insert_with(Box::default).levels
    }

    /// Pool claims beyond a SKU's first (see `SkuStock::pool_chan`).
    #[inline]
    pub(crate) fn pool(&self) -> &[(ChannelId, i64)] {
        self.0.as_deref().map_or(&[], |v| v.pool.as_slice())
    }

    /// Removes and returns one of the extra claims.
    fn take_pool(&mut self) -> Option<(ChannelId, i64)> {
        self.0.as_deref_mut().and_then(|v| v.pool.pop())
    }

    /// Changes a channel's pool claim; an entry that drops to zero goes.
    pub(crate) fn adjust_pool(&mut self, chan: ChannelId, delta: i64) {
        let data = self.0.get_or_insert_with(Box::default);
        match data.pool.iter().position(|(c, _)| *c == chan) {
            Some(i) => {
                data.pool[i].1 += delta;
                if data.pool[i].1 == 0 {
                    data.pool.swap_remove(i);
                }
            }
            None => data.pool.push((chan, delta)),
        }
    }
}

/// All stock of one SKU, guarded by its stripe's lock: 128 bytes, aligned
/// to them, so a SKU stocked at one or two locations never straddles more
/// than two cache lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "WireIn")]
#[repr(align(128))]
pub(crate) struct SkuStock {
    pub scale: u8,
    /// The first channel's pool claim, kept with the hot levels (most
    /// SKUs are claimed by one channel, or none: `u32::MAX`) so that a
    /// hold need not read the cold record; more channels' claims live
    /// there (`pool_more`). When this is empty, so is the cold list.
    pub pool_chan: u32,
    pub pool_qty: i64,
    pub pool_more: bool,
    /// Sorted by location id; a SKU stocked at one or two locations keeps
    /// them inline (no pointer to chase on the hot path).
    pub locs: LocList,
    pub cold: Cold,
}

const _: () = assert!(std::mem::size_of::<SkuStock>() == 128);

fn no_channel() -> u32 {
    u32::MAX
}

/// A SKU's record as a snapshot reads it (the field order is the format).
#[derive(Deserialize)]
#[serde(rename = "SkuStock")]
struct WireIn {
    scale: u8,
    #[serde(default = "no_channel")]
    pool_chan: u32,
    #[serde(default)]
    pool_qty: i64,
    #[serde(default)]
    pool_more: bool,
    locs: Vec<WireLevels>,
    cold: Cold,
}

/// A SKU's record as a snapshot writes it.
#[derive(Serialize)]
#[serde(rename = "SkuStock")]
struct WireOut<'a> {
    scale: u8,
    pool_chan: u32,
    pool_qty: i64,
    pool_more: bool,
    locs: WireLocs<'a>,
    cold: &'a Cold,
}

struct WireLocs<'a>(&'a SkuStock);

impl Serialize for WireLocs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let stock = self.0;
        s.collect_seq(stock.locs.iter().map(|l| {
            let unsellable = stock.unsellable(l.loc);
            WireLevels {
                loc: l.loc,
                on_hand: l.on_hand,
                reserved: l.reserved,
                allocated: l.allocated,
                safety: l.safety(unsellable),
                unsellable,
            }
        }))
    }
}

impl Serialize for SkuStock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        WireOut {
            scale: self.scale,
            pool_chan: self.pool_chan,
            pool_qty: self.pool_qty,
            pool_more: self.pool_more,
            locs: WireLocs(self),
            cold: &self.cold,
        }
        .serialize(s)
    }
}

impl From<WireIn> for SkuStock {
    fn from(w: WireIn) -> Self {
        let mut levels: Vec<LocLevels> = w
            .locs
            .into_iter()
            .map(|l| LocLevels {
                loc: l.loc,
                on_hand: l.on_hand,
                reserved: l.reserved,
                allocated: l.allocated,
                blocked: l.safety + l.unsellable,
            })
            .collect();
        levels.sort_by_key(|l| l.loc);
        levels.dedup_by_key(|l| l.loc);
        SkuStock {
            scale: w.scale,
            pool_chan: w.pool_chan,
            pool_qty: w.pool_qty,
            pool_more: w.pool_more,
            locs: LocList::from_sorted(levels),
            cold: w.cold,
        }
    }
}

impl SkuStock {
    pub(crate) fn new(scale: u8) -> Self {
        SkuStock {
            scale,
            pool_chan: u32::MAX,
            pool_qty: 0,
            pool_more: false,
            locs: LocList::default(),
            cold: Cold::default(),
        }
    }

    /// Whether the SKU has pool claims (without reading the cold record).
    #[inline]
    pub(crate) fn has_pool(&self) -> bool {
        self.pool_chan != u32::MAX
    }

    /// The claim when exactly one channel has one (without reading the
    /// cold record).
    #[inline]
    pub(crate) fn single_claim(&self) -> Option<(ChannelId, i64)> {
        (self.has_pool() && !self.pool_more).then_some((ChannelId(self.pool_chan), self.pool_qty))
    }

    /// The pool claims per channel.
    pub(crate) fn claims(&self) -> smallvec::SmallVec<[(ChannelId, i64); 4]> {
        let mut out = smallvec::SmallVec::new();
        if self.has_pool() {
            out.push((ChannelId(self.pool_chan), self.pool_qty));
            if self.pool_more {
                out.extend_from_slice(self.cold.pool());
            }
        }
        out
    }

    /// Changes a channel's claim, keeping the first one inline.
    fn adjust_claim(&mut self, chan: ChannelId, delta: i64) {
        if self.pool_chan == chan.0 {
            self.pool_qty += delta;
            if self.pool_qty == 0 {
                // Another channel's claim moves in, if there is one.
                match self.cold.take_pool() {
                    Some((c, q)) => {
                        self.pool_chan = c.0;
                        self.pool_qty = q;
                    }
                    None => self.pool_chan = u32::MAX,
                }
            }
        } else if !self.has_pool() {
            self.pool_chan = chan.0;
            self.pool_qty = delta;
        } else {
            self.cold.adjust_pool(chan, delta);
        }
        self.pool_more = self.has_pool() && !self.cold.pool().is_empty();
    }

    #[inline]
    pub(crate) fn get(&self, loc: LocationId) -> Option<&LocLevels> {
        self.locs.get(loc)
    }

    #[inline]
    pub(crate) fn atp(&self, loc: LocationId) -> i64 {
        self.get(loc).map_or(0, LocLevels::atp)
    }

    #[inline]
    pub(crate) fn entry(&mut self, loc: LocationId) -> &mut LocLevels {
        self.locs.entry(loc)
    }

    /// Damaged and quality-control units at `loc` (cold).
    pub(crate) fn unsellable(&self, loc: LocationId) -> i64 {
        self.cold(loc).map_or(0, ColdLevels::unsellable)
    }

    /// On_hand less the unsellable units at `loc`.
    pub(crate) fn sellable_on_hand(&self, loc: LocationId) -> i64 {
        self.get(loc).map_or(0, |l| l.on_hand) - self.unsellable(loc)
    }

    /// Safety stock at `loc`.
    pub(crate) fn safety(&self, loc: LocationId) -> i64 {
        self.get(loc).map_or(0, |l| l.blocked) - self.unsellable(loc)
    }

    /// Promised units beyond what is physically sellable at `loc`.
    pub(crate) fn shortage(&self, loc: LocationId) -> i64 {
        self.get(loc).map_or(0, |l| {
            (l.reserved + l.allocated - (l.on_hand - self.unsellable(loc))).max(0)
        })
    }

    pub(crate) fn cold(&self, loc: LocationId) -> Option<&ColdLevels> {
        self.cold.iter().find(|c| c.loc == loc)
    }

    pub(crate) fn cold_entry(&mut self, loc: LocationId) -> &mut ColdLevels {
        let cold = self.cold.vec_mut();
        match cold.iter().position(|c| c.loc == loc) {
            Some(i) => &mut cold[i],
            None => {
                cold.push(ColdLevels {
                    loc,
                    ..Default::default()
                });
                cold.last_mut().expect("just pushed")
            }
        }
    }

    pub(crate) fn adjust(&mut self, loc: LocationId, field: Field, delta: i64) {
        match field {
            Field::OnHand => self.entry(loc).on_hand += delta,
            Field::Reserved => self.entry(loc).reserved += delta,
            Field::Allocated => self.entry(loc).allocated += delta,
            Field::Safety => self.entry(loc).blocked += delta,
            Field::Damaged => {
                self.entry(loc).blocked += delta;
                self.cold_entry(loc).damaged += delta;
            }
            Field::QualityControl => {
                self.entry(loc).blocked += delta;
                self.cold_entry(loc).quality_control += delta;
            }
            Field::InTransit => self.cold_entry(loc).in_transit += delta,
            Field::Incoming => self.cold_entry(loc).incoming += delta,
            Field::Backordered => self.cold_entry(loc).backordered += delta,
            Field::BackorderArrived => self.cold_entry(loc).backorder_arrived += delta,
            // The channel's id rides in the location slot (see `Txn::adjust_pool`).
            Field::Pool => self.adjust_claim(ChannelId(loc.0), delta),
        }
    }

    pub(crate) fn levels(&self, loc: LocationId) -> Levels {
        let h = self
            .get(loc)
            .copied()
            .unwrap_or_else(|| LocLevels::new(loc));
        let c = self.cold(loc).cloned().unwrap_or_default();
        let q = |m: i64| Qty::from_minor(m, self.scale);
        Levels {
            on_hand: q(h.on_hand),
            reserved: q(h.reserved),
            allocated: q(h.allocated),
            safety: q(h.safety(c.unsellable())),
            damaged: q(c.damaged),
            quality_control: q(c.quality_control),
            unsellable: q(c.unsellable()),
            in_transit: q(c.in_transit),
            incoming: q(c.incoming),
            backordered: q(c.backordered),
            available: q(h.atp().max(0)),
        }
    }
}

impl Condition {
    pub(crate) fn field(self) -> Field {
        match self {
            Condition::Damaged => Field::Damaged,
            Condition::QualityControl => Field::QualityControl,
        }
    }
    fn level(self, c: Option<&ColdLevels>) -> i64 {
        c.map_or(0, |c| match self {
            Condition::Damaged => c.damaged,
            Condition::QualityControl => c.quality_control,
        })
    }
}

/// Stock movements. Each takes the stripe lock of its one SKU and no other
/// engine lock; none calls host code while holding it.
impl Engine {
    /// Declares a SKU with its unit scale. Declaring again with the same
    /// spec is a no-op; with another spec, an `IdConflict`.
    ///
    /// Locking: the SKU registry's creation mutex, then the SKU's stripe.
    pub fn declare_sku(&self, sku: &str, spec: SkuSpec) -> Result<SkuId> {
        let ((id, scale), _) = self.create_sku(sku, spec)?;
        if scale != spec.unit_scale {
            return Err(Error::IdConflict {
                kind: crate::error::IdKind::Sku,
                id: sku.to_string(),
            });
        }
        self.durable(Ok(id))
    }

    /// Adds received units to on_hand. Creates an unknown SKU (whole units).
    /// When `note.reference` names an expected receipt of this SKU at this
    /// location, that expectation is reduced by what arrived.
    ///
    /// Locking: the SKU's stripe (and the registry's creation mutex for a new SKU).
    pub fn receive(&self, sku: &str, location: &str, qty: Qty, note: Note<'_>) -> Result<Levels> {
        let loc = self.location_id(location)?;
        let (id, scale) = match self.skus.get(sku) {
            Some(found) => found,
            None => {
                qty.to_positive_minor(0)
                    .map_err(|p| Error::qty(sku, qty, p))?;
                self.create_sku(sku, SkuSpec::default())?.0
            }
        };
        let q = qty
            .to_positive_minor(scale)
            .map_err(|p| Error::qty(sku, qty, p))?;
        let now = self.now_and_sweep();
        let mut txn = Txn::begin(self, &[id], now);
        let stock = txn.stock(id);
        if stock.get(loc).map_or(0, |l| l.on_hand) + q > MAX_MINOR {
            return Err(txn.fail(Error::qty(sku, qty, crate::QtyProblem::Overflow)));
        }
        txn.adjust(id, loc, Field::OnHand, q);
        txn.event(EventKind::Received, id, loc, q, note);
        if let Some(reference) = note.reference.filter(|r| !r.is_empty()) {
            let expected = txn.stock_mut(id).cold_entry(loc);
            if let Some(i) = expected
                .expected
                .iter()
                .position(|e| e.reference == reference)
            {
                let done = expected.expected[i].qty.min(q);
                expected.expected[i].qty -= done;
                if expected.expected[i].qty == 0 {
                    expected.expected.remove(i);
                }
                txn.adjust(id, loc, Field::Incoming, -done);
                txn.event(EventKind::ExpectedArrived, id, loc, done, note);
                // Units promised to backorders beyond what is still
                // incoming are here now: set them aside for those orders
                // (allocated) before anyone else can take them.
                let (promised, incoming) = txn
                    .stock(id)
                    .cold(loc)
                    .map_or((0, 0), |c| (c.backordered, c.incoming));
                let arrived = (promised - incoming).min(done);
                if arrived > 0 {
                    txn.adjust(id, loc, Field::Backordered, -arrived);
                    txn.adjust(id, loc, Field::Allocated, arrived);
                    txn.adjust(id, loc, Field::BackorderArrived, arrived);
                    txn.event(EventKind::BackorderArrived, id, loc, arrived, note);
                }
            }
        }
        let rec = Rec::stock(StockOp::Receive, sku, location, qty, note);
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Sets on_hand to a counted quantity (all physical units, sellable or
    /// not), reports the variance and any shortage against promises.
    ///
    /// Locking: the SKU's stripe.
    pub fn count(
        &self,
        sku: &str,
        location: &str,
        counted: Qty,
        note: Note<'_>,
    ) -> Result<CountReport> {
        let (txn, id, scale, loc, c) =
            self.begin_movement(sku, location, counted, Amount::NonNegative)?;
        self.count_in(txn, (sku, location, id, scale, loc), c, note, None)
    }

    /// Applies an outside count (an ERP's or a store's) taken "as of"
    /// `as_of_ms`: on_hand is set to `counted` as of that time, and the
    /// ledger's on_hand changes at this SKU and location after it (sales,
    /// receipts, fulfilments that the count could not have seen) are
    /// replayed on top. The variance against what the engine had is
    /// reported like a count's (a `reconciled` ledger event, the count
    /// KPIs). This is how a shop whose ERP owns the counts keeps holds on.
    ///
    /// The newest observation wins. A count made after `as_of_ms` (with
    /// [`Engine::count`]) or a reconciliation as of a later time has
    /// already told the engine more than this count can, so this one
    /// changes nothing and says so (`superseded`). Reconciliations as of
    /// an earlier time are replaced, not added to: their variances are not
    /// among the changes replayed. So a retried reconciliation (the same
    /// count, the same time) changes nothing the second time, and a
    /// corrected one (the same time, another count) replaces the first.
    /// An `as_of_ms` after the engine's clock is taken as now.
    ///
    /// The ledger must still hold everything after `as_of_ms` at this SKU's
    /// stripe (`Config::ledger_retention`), else `InvalidArgument`.
    ///
    /// Locking: the SKU's stripe (its slice of the ledger is read under it).
    pub fn reconcile(
        &self,
        sku: &str,
        location: &str,
        counted: Qty,
        as_of_ms: u64,
        note: Note<'_>,
    ) -> Result<Reconciliation> {
        let (txn, id, scale, loc, c) =
            self.begin_movement(sku, location, counted, Amount::NonNegative)?;
        let as_of_ms = as_of_ms.min(txn.now());
        let mut events = Vec::new();
        let log = txn.log_of(id);
        log.read_into(0, &self.reasons, &mut events);
        if log.floor() > 0 && events.first().is_none_or(|e| e.at_ms > as_of_ms) {
            return Err(txn.fail(Error::arg(
                "as_of_ms",
                "older than the ledger this engine still holds for this SKU",
            )));
        }
        let mut after = 0i64;
        let mut counted_since = false;
        for e in &events {
            if e.at_ms <= as_of_ms || e.sku != Some(id) || e.location != Some(loc) {
                continue;
            }
            match e.kind {
                EventKind::Counted => counted_since = true,
                // As of `as_of_ms` or earlier (else `observed_ms` says so
                // below): this count replaces it.
                EventKind::Reconciled => {}
                kind => after += kind.deltas(e.qty).on_hand,
            }
        }
        let observed = txn.stock(id).cold(loc).map_or(0, |c| c.observed_ms);
        if counted_since || observed > as_of_ms {
            let levels = txn.stock(id).levels(loc);
            return Ok(Reconciliation {
                changes_after: Qty::from_minor(after, scale),
                report: CountReport {
                    variance: Qty::from_minor(0, scale),
                    shortage: Qty::from_minor(0, scale),
                    levels,
                },
                superseded: true,
            });
        }
        let target = c + after;
        if target < 0 {
            return Err(txn.fail(Error::arg(
                "counted",
                "fewer units than left since `as_of_ms`: the count cannot be right",
            )));
        }
        let report = self.count_in(
            txn,
            (sku, location, id, scale, loc),
            target,
            note,
            Some(as_of_ms),
        )?;
        Ok(Reconciliation {
            changes_after: Qty::from_minor(after, scale),
            report,
            superseded: false,
        })
    }

    /// Replays a journaled reconciliation: on_hand set to `target`, as of
    /// `as_of_ms`.
    ///
    /// Locking: the SKU's stripe.
    pub(crate) fn reconcile_to(
        &self,
        sku: &str,
        location: &str,
        target: Qty,
        as_of_ms: u64,
        note: Note<'_>,
    ) -> Result<CountReport> {
        let (txn, id, scale, loc, c) =
            self.begin_movement(sku, location, target, Amount::NonNegative)?;
        self.count_in(
            txn,
            (sku, location, id, scale, loc),
            c,
            note,
            Some(as_of_ms),
        )
    }

    /// The body of a count to `c` minor units; of a reconciliation when
    /// `as_of_ms` is given.
    fn count_in(
        &self,
        mut txn: Txn<'_>,
        (sku, location, id, scale, loc): (&str, &str, SkuId, u8, LocationId),
        c: i64,
        note: Note<'_>,
        as_of_ms: Option<u64>,
    ) -> Result<CountReport> {
        let before = txn.stock(id).get(loc).copied().unwrap_or_default();
        if c < txn.stock(id).unsellable(loc) {
            return Err(txn.fail(Error::arg(
                "counted",
                "below the units held as unsellable; restore or write those off first",
            )));
        }
        let variance = c - before.on_hand;
        if variance != 0 {
            txn.adjust(id, loc, Field::OnHand, variance);
        }
        let kind = match as_of_ms {
            None => EventKind::Counted,
            Some(_) => EventKind::Reconciled,
        };
        txn.event(kind, id, loc, variance, note);
        let k = txn.kpi().more();
        k.counts += 1;
        k.count_variance_units += Qty::from_minor(variance.abs(), scale).to_decimal();
        let shortage = txn.report_shortage(id, loc, note);
        let report = CountReport {
            variance: Qty::from_minor(variance, scale),
            shortage: Qty::from_minor(shortage, scale),
            levels: txn.stock(id).levels(loc),
        };
        let qty = Qty::from_minor(c, scale);
        let rec = match as_of_ms {
            None => Rec::stock(StockOp::Count, sku, location, qty, note),
            Some(as_of_ms) => {
                // Nothing fails from here on: this needs no undo entry.
                let cold = txn.stock_mut(id).cold_entry(loc);
                cold.observed_ms = cold.observed_ms.max(as_of_ms);
                Rec::Reconcile {
                    sku,
                    loc: location,
                    qty,
                    as_of_ms,
                    reason: note.reason,
                    reference: note.reference,
                }
            }
        };
        self.finish(txn, &rec);
        self.durable(Ok(report))
    }

    /// Removes units from on_hand: sellable ones (`from: None`) or units
    /// held in an unsellable condition.
    ///
    /// Locking: the SKU's stripe.
    pub fn write_off(
        &self,
        sku: &str,
        location: &str,
        qty: Qty,
        from: Option<Condition>,
        note: Note<'_>,
    ) -> Result<Levels> {
        let (mut txn, id, scale, loc, q) =
            self.begin_movement(sku, location, qty, Amount::Positive)?;
        let stock = txn.stock(id);
        let have = match from {
            None => stock.sellable_on_hand(loc),
            Some(c) => c.level(stock.cold(loc)),
        };
        if q > have {
            return Err(txn.fail(self.insufficient(id, Some(loc), None, q, have, scale)));
        }
        txn.adjust(id, loc, Field::OnHand, -q);
        match from {
            None => txn.event(EventKind::WrittenOff, id, loc, q, note),
            Some(c) => {
                txn.adjust(id, loc, c.field(), -q);
                txn.event(EventKind::WrittenOffUnsellable(c), id, loc, q, note);
            }
        }
        txn.report_shortage(id, loc, note);
        let rec = Rec::stock(StockOp::WriteOff(from), sku, location, qty, note);
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Moves sellable units into an unsellable condition (damaged, QC).
    ///
    /// Locking: the SKU's stripe.
    pub fn mark_unsellable(
        &self,
        sku: &str,
        location: &str,
        qty: Qty,
        condition: Condition,
        note: Note<'_>,
    ) -> Result<Levels> {
        let (mut txn, id, scale, loc, q) =
            self.begin_movement(sku, location, qty, Amount::Positive)?;
        let have = txn.stock(id).sellable_on_hand(loc);
        if q > have {
            return Err(txn.fail(self.insufficient(id, Some(loc), None, q, have, scale)));
        }
        txn.adjust(id, loc, condition.field(), q);
        txn.event(EventKind::MarkedUnsellable(condition), id, loc, q, note);
        txn.report_shortage(id, loc, note);
        let rec = Rec::stock(StockOp::MarkUnsellable(condition), sku, location, qty, note);
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Moves units from an unsellable condition back to sellable.
    ///
    /// Locking: the SKU's stripe.
    pub fn restore_sellable(
        &self,
        sku: &str,
        location: &str,
        qty: Qty,
        condition: Condition,
        note: Note<'_>,
    ) -> Result<Levels> {
        let (mut txn, id, scale, loc, q) =
            self.begin_movement(sku, location, qty, Amount::Positive)?;
        let have = condition.level(txn.stock(id).cold(loc));
        if q > have {
            return Err(txn.fail(self.insufficient(id, Some(loc), None, q, have, scale)));
        }
        txn.adjust(id, loc, condition.field(), -q);
        txn.event(EventKind::RestoredSellable(condition), id, loc, q, note);
        let rec = Rec::stock(
            StockOp::RestoreSellable(condition),
            sku,
            location,
            qty,
            note,
        );
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Sets the safety stock of a SKU at a location (absolute).
    ///
    /// Locking: the SKU's stripe.
    pub fn set_safety(
        &self,
        sku: &str,
        location: &str,
        qty: Qty,
        note: Note<'_>,
    ) -> Result<Levels> {
        let (mut txn, id, _, loc, q) =
            self.begin_movement(sku, location, qty, Amount::NonNegative)?;
        let delta = q - txn.stock(id).safety(loc);
        txn.adjust(id, loc, Field::Safety, delta);
        txn.event(EventKind::SafetySet, id, loc, delta, note);
        let rec = Rec::stock(StockOp::SetSafety, sku, location, qty, note);
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Records an expected receipt (purchase order, ASN) due at `due_ms`.
    /// Expecting again under the same reference replaces quantity and date.
    ///
    /// Locking: the SKU's stripe.
    pub fn expect_receipt(
        &self,
        sku: &str,
        location: &str,
        qty: Qty,
        due_ms: u64,
        reference: &str,
    ) -> Result<Levels> {
        crate::ids::check_id("reference", reference)?;
        let (mut txn, id, _, loc, q) = self.begin_movement(sku, location, qty, Amount::Positive)?;
        let cold = txn.stock_mut(id).cold_entry(loc);
        let old = match cold.expected.iter_mut().find(|e| e.reference == reference) {
            Some(e) => {
                let old = e.qty;
                (e.qty, e.due_ms) = (q, due_ms);
                old
            }
            None => {
                cold.expected.push(Expected {
                    reference: Key::new(reference),
                    qty: q,
                    due_ms,
                });
                0
            }
        };
        txn.adjust(id, loc, Field::Incoming, q - old);
        txn.event(
            EventKind::Expected,
            id,
            loc,
            q - old,
            Note::new("expected", reference),
        );
        let rec = Rec::ExpectReceipt {
            sku,
            loc: location,
            qty,
            due_ms,
            reference,
        };
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Drops an expected receipt.
    ///
    /// Locking: the SKU's stripe.
    pub fn cancel_expected(&self, sku: &str, location: &str, reference: &str) -> Result<Levels> {
        let (id, _, loc) = self.sku_and_location(sku, location)?;
        let now = self.now_and_sweep();
        let mut txn = Txn::begin(self, &[id], now);
        let cold = txn.stock_mut(id).cold_entry(loc);
        let Some(i) = cold.expected.iter().position(|e| e.reference == reference) else {
            return Err(txn.fail(Error::arg(
                "reference",
                format!("no expected receipt `{reference}`"),
            )));
        };
        let q = cold.expected.remove(i).qty;
        txn.adjust(id, loc, Field::Incoming, -q);
        txn.event(
            EventKind::ExpectedArrived,
            id,
            loc,
            q,
            Note::new("expected_cancelled", reference),
        );
        let rec = Rec::CancelExpected {
            sku,
            loc: location,
            reference,
        };
        self.durable(Ok(self.finish_levels(txn, id, loc, &rec)))
    }

    /// Expected receipts of a SKU at a location, soonest first.
    ///
    /// Locking: the SKU's stripe.
    pub fn expected_receipts(&self, sku: &str, location: &str) -> Result<Vec<(String, Qty, u64)>> {
        let (id, scale, loc) = self.sku_and_location(sku, location)?;
        let txn = Txn::begin(self, &[id], 0);
        let mut out: Vec<_> = txn
            .stock(id)
            .cold(loc)
            .map(|c| {
                c.expected
                    .iter()
                    .map(|e| {
                        (
                            e.reference.to_string(),
                            Qty::from_minor(e.qty, scale),
                            e.due_ms,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        txn.abandon();
        out.sort_by_key(|e| e.2);
        Ok(out)
    }

    /// Every level of a SKU at a location.
    ///
    /// Locking: the SKU's stripe.
    pub fn levels(&self, sku: &str, location: &str) -> Result<Levels> {
        let (id, _, loc) = self.sku_and_location(sku, location)?;
        self.now_and_sweep();
        Ok(self.read_stock(id, |s| s.levels(loc)))
    }

    /// Available to promise of a SKU at a location.
    ///
    /// Locking: the SKU's stripe.
    pub fn atp(&self, sku: &str, location: &str) -> Result<Qty> {
        self.levels(sku, location).map(|l| l.available)
    }

    /// The common start of a stock movement: SKU and location resolved,
    /// the quantity in the SKU's minor units, expiries due by now ended,
    /// and the SKU's stripe locked.
    fn begin_movement(
        &self,
        sku: &str,
        location: &str,
        qty: Qty,
        amount: Amount,
    ) -> Result<(Txn<'_>, SkuId, u8, LocationId, i64)> {
        let (id, scale, loc) = self.sku_and_location(sku, location)?;
        let q = match amount {
            Amount::Positive => qty.to_positive_minor(scale),
            Amount::NonNegative => qty.to_nonneg_minor(scale),
        }
        .map_err(|p| Error::qty(sku, qty, p))?;
        let now = self.now_and_sweep();
        Ok((Txn::begin(self, &[id], now), id, scale, loc, q))
    }

    fn sku_and_location(&self, sku: &str, location: &str) -> Result<(SkuId, u8, LocationId)> {
        let (id, scale) = self.sku_id(sku)?;
        Ok((id, scale, self.location_id(location)?))
    }

    fn finish_levels(&self, txn: Txn<'_>, id: SkuId, loc: LocationId, rec: &Rec<'_>) -> Levels {
        let levels = txn.stock(id).levels(loc);
        self.finish(txn, rec);
        levels
    }
}

/// Whether a movement's quantity must be positive or may be zero.
#[derive(Clone, Copy)]
enum Amount {
    Positive,
    NonNegative,
}

/// One record of a bulk load: `qty` units of `sku` received at `location`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadRecord<'a> {
    pub sku: &'a str,
    pub location: &'a str,
    pub qty: Qty,
}

/// What a bulk load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Records applied.
    pub records: u64,
    /// SKUs the load created (whole units).
    pub skus_created: u64,
}

/// Records applied per step of a bulk load (progress is reported after each).
const LOAD_CHUNK: usize = 1 << 16;

/// A resolved record: SKU, location, minor units.
type LoadItem = (SkuId, LocationId, i64);

impl Engine {
    /// Receives many records at once (an initial load, a nightly feed):
    /// each adds `qty` to on_hand at its (SKU, location) and is a
    /// `received` ledger event with `note`, like `receive`. Unknown SKUs are
    /// created (whole units). Every record is checked first (known
    /// locations, quantities the SKU can take): a bad one fails the call
    /// with nothing changed. Records are then applied in steps of 65,536,
    /// each SKU's records under its stripe's lock; `progress(done, total)`
    /// is called after each step with no lock held. Only a sum beyond the
    /// engine's quantity limit can fail a step once started: the steps
    /// before it stay applied (`progress` said how many). Change-feed
    /// subscribers are not called for a bulk load; ledger subscribers
    /// (`subscribe_from`) get its entries.
    ///
    /// Locking: the SKU-creation mutex per new SKU; then per step, each
    /// stripe it touches in turn (one at a time); at the end each stripe in
    /// turn and the meta-log, to trim the ledger to its retention.
    pub fn bulk_load(
        &self,
        records: &[LoadRecord<'_>],
        note: Note<'_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<LoadReport> {
        let topo = self.topo.load();
        let lookup = self.skus.lookup();
        let mut locs: crate::ids::FastMap<&str, LocationId> = Default::default();
        let mut new_skus: Vec<&str> = Vec::new();
        // Records come grouped by SKU as a rule: look each run up once.
        let mut last: Option<(&str, u8)> = None;
        for r in records {
            if !locs.contains_key(r.location) {
                let id = topo
                    .location_id(r.location)
                    .ok_or_else(|| Error::UnknownLocation {
                        location: r.location.to_string(),
                    })?;
                locs.insert(r.location, id);
            }
            let scale = match last {
                Some((sku, scale)) if sku == r.sku => scale,
                _ => {
                    let scale = match lookup.get(r.sku) {
                        Some((_, scale)) => scale,
                        None => {
                            crate::ids::check_id("sku", r.sku)?;
                            new_skus.push(r.sku); // repeats are created once
                            0
                        }
                    };
                    last = Some((r.sku, scale));
                    scale
                }
            };
            r.qty
                .to_positive_minor(scale)
                .map_err(|p| Error::qty(r.sku, r.qty, p))?;
        }
        drop((topo, lookup));
        let created = self.create_skus(&new_skus)?;
        let total = records.len() as u64;
        let mut done = 0u64;
        let now = self.now_and_sweep();
        let mut items: Vec<(usize, LoadItem, u32)> =
            Vec::with_capacity(LOAD_CHUNK.min(records.len()));
        for chunk in records.chunks(LOAD_CHUNK) {
            items.clear();
            let lookup = self.skus.lookup();
            let mut last: Option<(&str, SkuId, u8)> = None;
            for (i, r) in chunk.iter().enumerate() {
                let (sku, scale) = match last {
                    Some((name, id, scale)) if name == r.sku => (id, scale),
                    _ => {
                        let (id, scale) = lookup.id(r.sku)?;
                        last = Some((r.sku, id, scale));
                        (id, scale)
                    }
                };
                let q = r
                    .qty
                    .to_positive_minor(scale)
                    .map_err(|p| Error::qty(r.sku, r.qty, p))?;
                let stripe = self.stripe_slot(sku).0;
                items.push((stripe, (sku, locs[r.location], q), i as u32));
            }
            // Each stripe once per step; records keep their order within it.
            items.sort_by_key(|x| x.0);
            let mut start = 0;
            while start < items.len() {
                let stripe = items[start].0;
                let end = start + items[start..].partition_point(|x| x.0 == stripe);
                let group: Vec<LoadItem> = items[start..end].iter().map(|x| x.1).collect();
                let journal: Vec<(&str, &str, Qty)> = if self.journal.is_some() {
                    items[start..end]
                        .iter()
                        .map(|x| {
                            let r = &chunk[x.2 as usize];
                            (r.sku, r.location, r.qty)
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                self.load_group(
                    stripe,
                    &group,
                    note,
                    now,
                    &Rec::BulkLoad {
                        reason: note.reason,
                        reference: note.reference,
                        items: Cow::Owned(journal),
                    },
                )?;
                start = end;
            }
            done += chunk.len() as u64;
            self.durable(Ok(()))?;
            progress(done, total);
        }
        // A load often lands in stripes that then go quiet for a while.
        self.trim_ledger();
        Ok(LoadReport {
            records: done,
            skus_created: created,
        })
    }

    /// Applies one stripe's records of a bulk load step (and replays them).
    ///
    /// Locking: the stripe.
    pub(crate) fn load_group(
        &self,
        stripe: usize,
        group: &[LoadItem],
        note: Note<'_>,
        now: u64,
        rec: &Rec<'_>,
    ) -> Result<()> {
        let reason = self.reasons.intern(note.reason);
        let reference = note.reference.unwrap_or_default();
        let mut g = self.stripes[stripe].0.lock();
        // Room for a SKU's new locations is made once, of the exact size
        // (`entry` grows a spilled list by one: a realloc per location).
        let mut k = 0;
        while k < group.len() {
            let sku = group[k].0;
            let run = &group[k..k + group[k..].iter().take_while(|x| x.0 == sku).count()];
            let stock = &mut g.skus[self.stripe_slot(sku).1];
            stock.locs.add_all(run.iter().map(|x| x.1));
            k += run.len();
        }
        for (k, &(sku, loc, q)) in group.iter().enumerate() {
            let slot = self.stripe_slot(sku).1;
            if g.skus[slot].get(loc).map_or(0, |l| l.on_hand) + q > MAX_MINOR {
                for &(sku, loc, q) in group[..k].iter() {
                    let slot = self.stripe_slot(sku).1;
                    g.skus[slot].entry(loc).on_hand -= q;
                }
                return Err(Error::qty(
                    &self.skus.name(sku),
                    Qty::from_minor(q, g.skus[slot].scale),
                    crate::QtyProblem::Overflow,
                ));
            }
            g.skus[slot].entry(loc).on_hand += q;
        }
        let events: Vec<crate::ledger::Pending> = group
            .iter()
            .map(|&(sku, loc, q)| {
                crate::ledger::Pending::new(
                    now,
                    EventKind::Received,
                    Some(sku),
                    Some(loc),
                    q,
                    reason.clone(),
                    reference,
                )
            })
            .collect();
        let n = events.len() as u64;
        let first = self.seq.0.fetch_add(n, std::sync::atomic::Ordering::AcqRel) + 1;
        g.log.append(first, &events, self.config.ledger_retention);
        if let Some(j) = &self.journal {
            j.append(first, first + n - 1, now, rec);
        }
        Ok(())
    }
}
