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
//! engine decides it as a maximum flow ([`Flow`]): greedy first, then
//! augmenting paths (breadth-first, so each is shortest) until no unit can
//! move. Every check is a *headroom* question on that flow: how many more
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

/// A maximum flow of a SKU's pool claims into its locations, which can
/// answer headroom questions and take units out of locations while keeping
/// every claim that was bindable bound.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    /// The locations involved (eligible for a claim, or asked about).
    locs: SmallVec<[LocationId; 16]>,
    /// Units each location can give (available to promise, 0 when closed).
    cap: SmallVec<[i64; 16]>,
    /// Units of claims routed to each location.
    used: SmallVec<[i64; 16]>,
    /// One row per claiming channel: its eligible locations (indices).
    elig: SmallVec<[SmallVec<[u16; 16]>; 4]>,
    /// Units of each row's claim not routed (the deficiency, by row).
    left: SmallVec<[i64; 4]>,
    /// `flow[row * n + j]`: units of the row's claim routed to location j.
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
    /// (those a question will be about).
    pub(crate) fn build(
        topo: &Topology,
        stock: &SkuStock,
        credit: &[(LocationId, i64)],
        demand_credit: Option<(ChannelId, i64)>,
        extra: &[LocationId],
    ) -> Option<Flow> {
        let claims = stock.cold.pool();
        if claims.is_empty() {
            return None;
        }
        let mut f = Flow {
            locs: SmallVec::new(),
            cap: SmallVec::new(),
            used: SmallVec::new(),
            elig: SmallVec::new(),
            left: SmallVec::new(),
            flow: Vec::new(),
            chans: SmallVec::new(),
        };
        for &(chan, qty) in claims {
            let qty = match demand_credit {
                Some((c, q)) if c == chan => qty - q,
                _ => qty,
            };
            if qty <= 0 {
                continue;
            }
            let mut row: SmallVec<[u16; 16]> = SmallVec::new();
            if let Some(channel) = topo.channel(chan) {
                for &loc in &channel.locations {
                    if !topo.is_closed(loc) {
                        row.push(f.index(topo, stock, credit, loc));
                    }
                }
            }
            f.elig.push(row);
            f.left.push(qty);
            f.chans.push(chan);
        }
        if f.chans.is_empty() {
            return None;
        }
        for &loc in extra {
            f.index(topo, stock, credit, loc);
        }
        let n = f.locs.len();
        f.flow = vec![0; f.chans.len() * n];
        // Greedy: each claim in the channel's order, where there is room.
        for r in 0..f.chans.len() {
            for k in 0..f.elig[r].len() {
                let j = f.elig[r][k] as usize;
                let t = f.left[r].min(f.cap[j] - f.used[j]);
                if t > 0 {
                    f.push(r, j, t);
                }
                if f.left[r] == 0 {
                    break;
                }
            }
        }
        for r in 0..f.chans.len() {
            f.augment(r);
        }
        Some(f)
    }

    /// The index of `loc`, added with its capacity when new.
    fn index(
        &mut self,
        topo: &Topology,
        stock: &SkuStock,
        credit: &[(LocationId, i64)],
        loc: LocationId,
    ) -> u16 {
        if let Some(j) = self.locs.iter().position(|&l| l == loc) {
            return j as u16;
        }
        let cap = if topo.is_closed(loc) {
            0
        } else {
            let own: i64 = credit.iter().filter(|c| c.0 == loc).map(|c| c.1).sum();
            (stock.atp(loc) + own).max(0)
        };
        self.locs.push(loc);
        self.cap.push(cap);
        self.used.push(0);
        (self.locs.len() - 1) as u16
    }

    fn push(&mut self, r: usize, j: usize, t: i64) {
        let n = self.locs.len();
        self.flow[r * n + j] += t;
        self.used[j] += t;
        self.left[r] -= t;
    }

    /// Claimed units that cannot be bound (0 unless stock was lost).
    pub(crate) fn deficiency(&self) -> i64 {
        self.left.iter().sum()
    }

    /// Routes as much of row `r`'s unrouted claim as augmenting paths
    /// allow; returns how much moved.
    fn augment(&mut self, r: usize) -> i64 {
        let n = self.locs.len();
        let rows = self.chans.len();
        let mut moved = 0;
        // Breadth-first search over rows; `via[row]` is the location
        // through which a row was reached (its flow there can move),
        // `from[j]` the row that reached location j.
        let mut via: SmallVec<[u16; 8]> = SmallVec::from_elem(u16::MAX, rows);
        let mut from: SmallVec<[u16; 32]> = SmallVec::from_elem(u16::MAX, n);
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
                for &j in &self.elig[x] {
                    let j = j as usize;
                    if from[j] != u16::MAX {
                        continue;
                    }
                    from[j] = x as u16;
                    if self.cap[j] > self.used[j] {
                        end = Some(j);
                        break 'search;
                    }
                    for y in 0..rows {
                        if via[y] == u16::MAX && self.flow[y * n + j] > 0 {
                            via[y] = j as u16;
                            queue.push(y as u16);
                        }
                    }
                }
            }
            let Some(end) = end else { break };
            // The bottleneck along the path back to `r`.
            let mut b = self.left[r].min(self.cap[end] - self.used[end]);
            let mut j = end;
            loop {
                let x = from[j] as usize;
                if x == r {
                    break;
                }
                let back = via[x] as usize;
                b = b.min(self.flow[x * n + back]);
                j = back;
            }
            // Shift it: each row on the path takes the next location and
            // gives up the one it was reached through.
            let mut j = end;
            self.used[end] += b;
            loop {
                let x = from[j] as usize;
                self.flow[x * n + j] += b;
                if x == r {
                    break;
                }
                let back = via[x] as usize;
                self.flow[x * n + back] -= b;
                j = back;
            }
            self.left[r] -= b;
            moved += b;
        }
        moved
    }

    /// A temporary row eligible at `locs` claiming up to `limit`; routes
    /// what it can and returns (its row, the units routed).
    fn probe(&mut self, locs: &[u16], limit: i64) -> (usize, i64) {
        let n = self.locs.len();
        self.elig.push(locs.iter().copied().collect());
        self.left.push(limit);
        self.chans.push(ChannelId(u32::MAX));
        self.flow.extend(std::iter::repeat_n(0, n));
        let r = self.chans.len() - 1;
        for &j in locs {
            let j = j as usize;
            let t = self.left[r].min(self.cap[j] - self.used[j]);
            if t > 0 {
                self.push(r, j, t);
            }
        }
        self.augment(r);
        (r, limit - self.left[r])
    }

    /// Drops the temporary row `r` (the last), keeping what its flow took
    /// out of each location's capacity.
    fn settle_probe(&mut self, r: usize) {
        let n = self.locs.len();
        for j in 0..n {
            let t = self.flow[r * n + j];
            self.cap[j] -= t;
            self.used[j] -= t;
        }
        self.flow.truncate(r * n);
        self.elig.pop();
        self.left.pop();
        self.chans.pop();
    }

    fn indices(&self, locs: &[LocationId]) -> SmallVec<[u16; 16]> {
        locs.iter()
            .filter_map(|l| self.locs.iter().position(|x| x == l))
            .map(|j| j as u16)
            .collect()
    }

    /// How many more units `locs` can give together without leaving any
    /// claim unbindable. Locations outside the flow are not counted (the
    /// caller adds them, or named them in `extra`).
    pub(crate) fn headroom(&self, locs: &[LocationId]) -> i64 {
        let idx = self.indices(locs);
        let mut probe = self.clone();
        probe.probe(&idx, UNLIMITED).1
    }

    /// Takes up to `want` units out of `loc`, moving claims elsewhere as
    /// needed; returns how many it took (its headroom, at most `want`).
    pub(crate) fn take(&mut self, loc: LocationId, want: i64) -> i64 {
        let Some(j) = self.locs.iter().position(|&l| l == loc) else {
            return 0;
        };
        let (r, got) = self.probe(&[j as u16], want);
        self.settle_probe(r);
        got
    }

    /// Whether `loc` is in the flow.
    pub(crate) fn has(&self, loc: LocationId) -> bool {
        self.locs.contains(&loc)
    }
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
