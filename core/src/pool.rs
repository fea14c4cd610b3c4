//! Pool holds and the guarantee that they can always be bound.
//!
//! A pool hold claims units of a SKU from a channel's pool without naming
//! locations: the claim is kept per (SKU, channel) and bound to locations
//! only when the hold is committed or its order placed. The engine keeps
//! one promise about these claims: **all of them, with every location-bound
//! hold and allocation, can be bound to eligible open locations at once.**
//! Nothing it grants breaks that.
//!
//! Whether claims can be bound is a transportation problem: channels with a
//! demand (their claims), locations with a supply (their available to
//! promise), an edge where a location is eligible for a channel. Hall's
//! theorem says it is feasible exactly when every set of channels claims
//! no more than the locations eligible for any of them hold together; the
//! engine decides it as a maximum flow (`Flow`): greedy first, then
//! augmenting paths (breadth-first, so each is shortest) until no unit can
//! move. Locations eligible for exactly the same claims are interchangeable,
//! so the flow runs between claims and *classes* of such locations (at most
//! 2^claims of them, usually a handful however many locations there are):
//! a path then moves a whole class's worth of units at once. Every check is a *headroom* question on that flow: how many more
//! units can a set of locations give (a new pool claim: the channel's
//! locations; a location-bound hold, sale or transfer: the one location)
//! without leaving any claim unbindable? Granting at most the headroom keeps
//! the unbindable amount (the *deficiency*, normally zero) from growing.
//!
//! Physical facts (a count, a write-off, damage, a location closing) are
//! never refused; when they leave claims unbindable the shortfall is
//! reported as a `Shortage` event on the SKU with no location.
//!
//! SKUs without pool claims never build a flow: every read and check takes
//! the plain path.

use crate::ids::{ChannelId, LocationId};
use crate::stock::SkuStock;
use crate::topology::Topology;
use smallvec::SmallVec;

/// Large enough to be "unlimited" for any quantity (at most 10^15 per
/// level, a few thousand levels), small enough never to overflow a sum.
const UNLIMITED: i64 = i64::MAX / 4;

/// Claims beyond this many channels on one SKU get one class per location
/// (the signature no longer fits a `u64`); still exact, just slower.
const SIGNATURE_ROWS: usize = 64;

/// A maximum flow of a SKU's pool claims into its locations, which can
/// answer headroom questions and take units out of locations while keeping
/// every claim that was bindable bound.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    /// Index into `locs` by location id (`u32::MAX`: not involved).
    slot: Vec<u32>,
    /// The locations involved: (id, units it can still give, its class).
    locs: SmallVec<[(LocationId, i64, u16); 16]>,
    /// Units each class can give (the sum over its locations).
    cap: SmallVec<[i64; 8]>,
    /// Units of claims routed to each class.
    used: SmallVec<[i64; 8]>,
    /// One row per claiming channel: the classes it may use.
    elig: SmallVec<[SmallVec<[u16; 8]>; 4]>,
    /// Per row and class, the most the row may route there (`UNLIMITED`
    /// but for a probe, which may only use part of a class).
    lim: Vec<i64>,
    /// Units of each row's claim not routed (the deficiency, by row).
    left: SmallVec<[i64; 4]>,
    /// `flow[row * classes + k]`: units of the row's claim in class k.
    flow: Vec<i64>,
    /// The claiming channels, by row.
    chans: SmallVec<[ChannelId; 4]>,
}

impl Flow {
    /// The flow of `stock`'s pool claims, or `None` when it has none.
    ///
    /// `credit` adds units back to locations (an order's own allocations
    /// about to be released); `demand_credit` removes units from a
    /// channel's claim (a pool hold about to be bound or released);
    /// `extra` are locations to include even if no claim may use them
    /// (those a question will be about, so that their credit counts).
    pub(crate) fn build(
        topo: &Topology,
        stock: &SkuStock,
        credit: &[(LocationId, i64)],
        demand_credit: Option<(ChannelId, i64)>,
        extra: &[LocationId],
    ) -> Option<Flow> {
        Self::build_with(topo, stock, credit, demand_credit, extra, true)
    }

    /// `build`, grouping locations into classes only when `classes` (the
    /// per-location flow is the reference the tests compare against).
    fn build_with(
        topo: &Topology,
        stock: &SkuStock,
        credit: &[(LocationId, i64)],
        demand_credit: Option<(ChannelId, i64)>,
        extra: &[LocationId],
        classes: bool,
    ) -> Option<Flow> {
        if !stock.has_pool() {
            return None;
        }
        let claims = stock.claims();
        let mut rows: SmallVec<[(ChannelId, i64); 4]> = SmallVec::new();
        for &(chan, qty) in &claims {
            let qty = match demand_credit {
                Some((c, q)) if c == chan => qty - q,
                _ => qty,
            };
            if qty > 0 {
                rows.push((chan, qty));
            }
        }
        if rows.is_empty() {
            return None;
        }
        let compress = classes && rows.len() <= SIGNATURE_ROWS;
        // Each involved location's signature: the rows that may use it.
        let mut slot = vec![u32::MAX; topo.locations.len()];
        let mut locs: SmallVec<[(LocationId, i64, u16); 16]> = SmallVec::new();
        let mut sigs: SmallVec<[u64; 16]> = SmallVec::new();
        let mut add = |loc: LocationId, bit: u64, slot: &mut Vec<u32>| {
            let i = slot[loc.0 as usize];
            if i == u32::MAX {
                slot[loc.0 as usize] = locs.len() as u32;
                locs.push((loc, 0, 0));
                sigs.push(bit);
            } else {
                sigs[i as usize] |= bit;
            }
        };
        for (r, &(chan, _)) in rows.iter().enumerate() {
            if let Some(channel) = topo.channel(chan) {
                for &loc in &channel.locations {
                    if !topo.is_closed(loc) {
                        add(loc, if compress { 1 << r } else { 0 }, &mut slot);
                    }
                }
            }
        }
        for &loc in extra {
            add(loc, 0, &mut slot);
        }
        // Capacities: one pass over the SKU's stocked locations.
        for ll in stock.locs.iter() {
            if let Some(&i) = slot.get(ll.loc.0 as usize).filter(|&&i| i != u32::MAX)
                && !topo.is_closed(ll.loc)
            {
                locs[i as usize].1 = ll.atp();
            }
        }
        for &(loc, q) in credit {
            if let Some(&i) = slot.get(loc.0 as usize).filter(|&&i| i != u32::MAX)
                && !topo.is_closed(loc)
            {
                locs[i as usize].1 += q;
            }
        }
        // Classes: locations with one signature (one per location when
        // the rows do not fit a signature).
        let mut class_sigs: SmallVec<[u64; 8]> = SmallVec::new();
        let mut cap: SmallVec<[i64; 8]> = SmallVec::new();
        for (i, l) in locs.iter_mut().enumerate() {
            l.1 = l.1.max(0);
            let k = if compress {
                match class_sigs.iter().position(|&c| c == sigs[i]) {
                    Some(k) => k,
                    None => {
                        class_sigs.push(sigs[i]);
                        cap.push(0);
                        cap.len() - 1
                    }
                }
            } else {
                cap.push(0);
                cap.len() - 1
            };
            l.2 = k as u16;
            cap[k] += l.1;
        }
        let classes = cap.len();
        let mut elig: SmallVec<[SmallVec<[u16; 8]>; 4]> = SmallVec::new();
        for (r, &(chan, _)) in rows.iter().enumerate() {
            let mut row: SmallVec<[u16; 8]> = SmallVec::new();
            if compress {
                for (k, &sig) in class_sigs.iter().enumerate() {
                    if sig & (1 << r) != 0 {
                        row.push(k as u16);
                    }
                }
            } else if let Some(channel) = topo.channel(chan) {
                for &loc in &channel.locations {
                    if !topo.is_closed(loc) {
                        row.push(locs[slot[loc.0 as usize] as usize].2);
                    }
                }
            }
            elig.push(row);
        }
        let mut f = Flow {
            slot,
            locs,
            used: SmallVec::from_elem(0, classes),
            cap,
            lim: vec![UNLIMITED; rows.len() * classes],
            flow: vec![0; rows.len() * classes],
            left: rows.iter().map(|r| r.1).collect(),
            chans: rows.iter().map(|r| r.0).collect(),
            elig,
        };
        // Greedy start, so that few augmenting paths are left to find: the
        // most constrained claims first (fewest eligible classes), each into
        // the least contested classes first (eligible for the fewest).
        let rows = f.chans.len();
        let mut contested: SmallVec<[u16; 16]> = SmallVec::from_elem(0, classes);
        for row in &f.elig {
            for &k in row {
                contested[k as usize] += 1;
            }
        }
        for row in f.elig.iter_mut() {
            row.sort_by_key(|&k| contested[k as usize]);
        }
        let mut order: SmallVec<[usize; 4]> = (0..rows).collect();
        order.sort_by_key(|&r| f.elig[r].len());
        for &r in &order {
            for i in 0..f.elig[r].len() {
                let k = f.elig[r][i] as usize;
                let t = f.left[r].min(f.cap[k] - f.used[k]);
                if t > 0 {
                    f.push(r, k, t);
                }
                if f.left[r] == 0 {
                    break;
                }
            }
        }
        for r in order {
            f.augment(r);
        }
        Some(f)
    }

    fn push(&mut self, r: usize, k: usize, t: i64) {
        let n = self.cap.len();
        self.flow[r * n + k] += t;
        self.used[k] += t;
        self.left[r] -= t;
    }

    /// Claimed units that cannot be bound (0 unless stock was lost).
    pub(crate) fn deficiency(&self) -> i64 {
        self.left.iter().sum()
    }

    /// Routes as much of row `r`'s unrouted claim as augmenting paths
    /// allow; returns how much moved.
    fn augment(&mut self, r: usize) -> i64 {
        let n = self.cap.len();
        let rows = self.chans.len();
        let mut moved = 0;
        // Breadth-first search over rows; `via[row]` is the class through
        // which a row was reached (its flow there can move), `from[k]` the
        // row that reached class k.
        let mut via: SmallVec<[u16; 8]> = SmallVec::from_elem(u16::MAX, rows);
        let mut from: SmallVec<[u16; 16]> = SmallVec::from_elem(u16::MAX, n);
        let mut queue: SmallVec<[u16; 8]> = SmallVec::new();
        while self.left[r] > 0 {
            via.iter_mut().for_each(|v| *v = u16::MAX);
            from.iter_mut().for_each(|v| *v = u16::MAX);
            queue.clear();
            queue.push(r as u16);
            via[r] = u16::MAX - 1;
            let mut end = None;
            let mut head = 0;
            'search: while head < queue.len() {
                let x = queue[head] as usize;
                head += 1;
                for &k in &self.elig[x] {
                    let k = k as usize;
                    if from[k] != u16::MAX || self.flow[x * n + k] >= self.lim[x * n + k] {
                        continue;
                    }
                    from[k] = x as u16;
                    if self.cap[k] > self.used[k] {
                        end = Some(k);
                        break 'search;
                    }
                    for y in 0..rows {
                        if via[y] == u16::MAX && self.flow[y * n + k] > 0 {
                            via[y] = k as u16;
                            queue.push(y as u16);
                        }
                    }
                }
            }
            let Some(end) = end else { break };
            // The bottleneck along the path back to `r`.
            let mut b = self.left[r].min(self.cap[end] - self.used[end]);
            let mut k = end;
            loop {
                let x = from[k] as usize;
                b = b.min(self.lim[x * n + k] - self.flow[x * n + k]);
                if x == r {
                    break;
                }
                let back = via[x] as usize;
                b = b.min(self.flow[x * n + back]);
                k = back;
            }
            // Shift it: each row on the path takes the next class and gives
            // up the one it was reached through.
            let mut k = end;
            self.used[end] += b;
            loop {
                let x = from[k] as usize;
                self.flow[x * n + k] += b;
                if x == r {
                    break;
                }
                let back = via[x] as usize;
                self.flow[x * n + back] -= b;
                k = back;
            }
            self.left[r] -= b;
            moved += b;
        }
        moved
    }

    /// A temporary row that may route up to `lims[i].1` into class
    /// `lims[i].0`, claiming up to `limit`; routes what it can and returns
    /// (its row, the units routed).
    fn probe(&mut self, lims: &[(u16, i64)], limit: i64) -> (usize, i64) {
        let n = self.cap.len();
        self.elig.push(lims.iter().map(|l| l.0).collect());
        self.left.push(limit);
        self.chans.push(ChannelId(u32::MAX));
        self.flow.extend(std::iter::repeat_n(0, n));
        let r = self.chans.len() - 1;
        self.lim.extend(std::iter::repeat_n(0, n));
        for &(k, l) in lims {
            self.lim[r * n + k as usize] = l;
        }
        for &(k, l) in lims {
            let k = k as usize;
            let t = self.left[r].min(self.cap[k] - self.used[k]).min(l);
            if t > 0 {
                self.push(r, k, t);
            }
        }
        self.augment(r);
        (r, limit - self.left[r])
    }

    /// Drops the temporary row `r` (the last), keeping what its flow took
    /// out of each class's capacity.
    fn settle_probe(&mut self, r: usize) {
        let n = self.cap.len();
        for k in 0..n {
            let t = self.flow[r * n + k];
            self.cap[k] -= t;
            self.used[k] -= t;
        }
        self.flow.truncate(r * n);
        self.lim.truncate(r * n);
        self.elig.pop();
        self.left.pop();
        self.chans.pop();
    }

    /// The index of `loc` in `locs`, if it is in the flow.
    #[inline]
    fn find(&self, loc: LocationId) -> Option<usize> {
        match self.slot.get(loc.0 as usize) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }

    /// Per class, how much of it `locs` hold.
    fn limits(&self, locs: &[LocationId]) -> SmallVec<[(u16, i64); 8]> {
        let mut out: SmallVec<[(u16, i64); 8]> = SmallVec::new();
        for &l in locs {
            let Some(i) = self.find(l) else { continue };
            let (_, c, k) = self.locs[i];
            match out.iter_mut().find(|x| x.0 == k) {
                Some(x) => x.1 += c,
                None => out.push((k, c)),
            }
        }
        out
    }

    /// How many more units `locs` can give together without leaving any
    /// claim unbindable. Locations outside the flow are not counted (the
    /// caller adds them, or named them in `extra`).
    pub(crate) fn headroom(&self, locs: &[LocationId]) -> i64 {
        let lims = self.limits(locs);
        if lims.iter().all(|l| l.1 == 0) {
            // Nothing there to give: no probe (and no copy of the flow).
            return 0;
        }
        let mut probe = self.clone();
        probe.probe(&lims, UNLIMITED).1
    }

    /// Takes up to `want` units out of `loc`, moving claims elsewhere as
    /// needed; returns how many it took (its headroom, at most `want`).
    pub(crate) fn take(&mut self, loc: LocationId, want: i64) -> i64 {
        let Some(i) = self.find(loc) else {
            return 0;
        };
        let (_, c, k) = self.locs[i];
        let (r, got) = self.probe(&[(k, c.min(want))], want);
        self.settle_probe(r);
        self.locs[i].1 -= got;
        got
    }

    /// Whether `loc` is in the flow.
    pub(crate) fn has(&self, loc: LocationId) -> bool {
        self.find(loc).is_some()
    }
}

/// Claimed units of the SKU that cannot be bound now (0 unless stock or
/// locations were lost).
pub(crate) fn deficiency(topo: &Topology, stock: &SkuStock) -> i64 {
    Flow::build(topo, stock, &[], None, &[]).map_or(0, |f| f.deficiency())
}

/// Where a headroom question is about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Set<'a> {
    /// A channel's (open) locations.
    Channel(&'a crate::channel::Channel),
    /// One location.
    Location(LocationId),
}

impl Set<'_> {
    fn contains(&self, loc: LocationId) -> bool {
        match self {
            Set::Channel(c) => c.contains(loc),
            Set::Location(l) => *l == loc,
        }
    }

    fn locations(&self) -> &[LocationId] {
        match self {
            Set::Channel(c) => &c.locations,
            Set::Location(l) => std::slice::from_ref(l),
        }
    }
}

/// How many units `set` can give now without leaving any pool claim of
/// the SKU unbindable (its available to promise when there are none).
pub(crate) fn spare(topo: &Topology, stock: &SkuStock, set: Set<'_>) -> i64 {
    if let Some(h) = single_claim(topo, stock, set) {
        return h;
    }
    let flow = Flow::build(topo, stock, &[], None, set.locations());
    headroom_at(topo, stock, flow.as_ref(), set.locations())
}

/// The headroom of `set` in closed form when the SKU has no claims or the
/// claims of one channel only (the usual case: one web shop's carts), in
/// one pass over the SKU's stocked locations and no allocation. With one
/// claim of P units eligible at E and the base flow F0 = min(P, cap(E)),
/// a probe at T can add x while both cap(E u T) >= F0 + x and
/// P + cap(T) >= F0 + x (Hall's condition for the two demands).
fn single_claim(topo: &Topology, stock: &SkuStock, set: Set<'_>) -> Option<i64> {
    let (chan, p) = if !stock.has_pool() {
        (None, 0)
    } else {
        let (chan, p) = stock.single_claim()?;
        (Some(topo.channel(chan)?), p)
    };
    let (mut cap_t, mut cap_e, mut cap_e_not_t) = (0i64, 0i64, 0i64);
    for l in stock.locs.iter() {
        if topo.is_closed(l.loc) {
            continue;
        }
        let c = l.atp().max(0);
        let in_t = set.contains(l.loc);
        let in_e = chan.is_some_and(|e| e.contains(l.loc));
        if in_t {
            cap_t += c;
        }
        if in_e {
            cap_e += c;
            if !in_t {
                cap_e_not_t += c;
            }
        }
    }
    let f0 = p.min(cap_e);
    Some((cap_t + cap_e_not_t - f0).min(cap_t + p - f0).max(0))
}

/// Available units of one SKU at a set of locations, for a reader that
/// does not care about pool claims or one that must respect them.
pub(crate) fn headroom_at(
    topo: &Topology,
    stock: &SkuStock,
    flow: Option<&Flow>,
    locs: &[LocationId],
) -> i64 {
    let outside: i64 = locs
        .iter()
        .filter(|&&l| !topo.is_closed(l) && flow.is_none_or(|f| !f.has(l)))
        .map(|&l| stock.atp(l).max(0))
        .sum();
    outside.saturating_add(flow.map_or(0, |f| f.headroom(locs)))
}

#[cfg(test)]
mod tests {
    use super::Flow;
    use crate::*;

    /// Grouping locations into classes answers exactly as the flow over
    /// single locations does: every channel's headroom and every
    /// location's, before and after taking units out.
    #[test]
    fn classes_answer_as_single_locations_do() {
        let mut seed = 0x9e37_79b9_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let chans: [(&str, &[&str]); 4] = [
            ("web", &["a", "b", "c", "d", "e"]),
            ("app", &["a", "c"]),
            ("market", &["b", "d"]),
            ("kiosk", &["c", "d", "e"]),
        ];
        for round in 0..200 {
            let e = Engine::new();
            for l in ["a", "b", "c", "d", "e"] {
                e.upsert_location(LocationSpec::warehouse(l)).unwrap();
                e.receive("x", l, Qty::units(next(6) as i64 + 1), Note::default())
                    .unwrap();
            }
            for (c, locs) in chans {
                e.upsert_channel(ChannelSpec::new(c, locs.iter().copied()))
                    .unwrap();
            }
            for h in 0..6 {
                let lines = [HoldLine::new("x", next(4) as i64 + 1)];
                let chan = chans[next(4) as usize].0;
                let _ = e.hold(&HoldRequest::new(&format!("h{h}"), chan, &lines, 60_000).pool());
            }
            let topo = e.topo.load();
            let (id, _) = e.sku_id("x").unwrap();
            e.read_stock(id, |stock| {
                let a = Flow::build_with(&topo, stock, &[], None, &[], true);
                let b = Flow::build_with(&topo, stock, &[], None, &[], false);
                let (Some(mut a), Some(mut b)) = (a, b) else {
                    return;
                };
                assert_eq!(a.deficiency(), b.deficiency(), "round {round}");
                for l in 0..5u32 {
                    let loc = LocationId(l);
                    assert_eq!(a.headroom(&[loc]), b.headroom(&[loc]), "round {round}");
                }
                for (c, _) in chans {
                    let ch = topo.channel(topo.channel_id(c).unwrap()).unwrap();
                    assert_eq!(
                        a.headroom(&ch.locations),
                        b.headroom(&ch.locations),
                        "round {round} {c}"
                    );
                }
                let loc = LocationId(next(5) as u32);
                let want = next(4) as i64 + 1;
                assert_eq!(a.take(loc, want), b.take(loc, want), "round {round}");
                for l in 0..5u32 {
                    let loc = LocationId(l);
                    assert_eq!(a.headroom(&[loc]), b.headroom(&[loc]), "round {round}");
                }
            });
        }
    }
}
