//! The reference model shared by the model-based test and the
//! deterministic simulation: a plain `BTreeMap` picture of three SKUs at
//! three locations on three channels, the operations both drive, how each
//! runs on the engine, and the check that the engine's levels and
//! availability equal the model's.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use unistock::*;

pub const SKUS: [&str; 3] = ["a", "b", "c"];
pub const LOCS: [&str; 3] = ["wh-1", "wh-2", "store-1"];
pub const HUGE: i64 = 1_000_000_000_000_001;

/// Channels: web sells from wh-1 then wh-2 with 1 unit of safety; market
/// from wh-1 with a cap of 2; till from store-1.
pub fn channels() -> Vec<(&'static str, Vec<usize>, i64, Option<i64>)> {
    vec![
        ("web", vec![0, 1], 1, None),
        ("market", vec![0], 0, Some(2)),
        ("till", vec![2], 0, None),
    ]
}

#[derive(Clone, Debug)]
pub enum Op {
    Receive(usize, usize, i64),
    Count(usize, usize, i64),
    WriteOff(usize, usize, i64),
    Hold {
        id: usize,
        chan: usize,
        lines: Vec<(usize, i64, Option<usize>)>,
        ttl: u64,
    },
    Release(usize),
    Commit(usize, usize),
    Fulfil(usize, usize, i64),
    Cancel(usize, usize, i64),
    TillSale(usize, usize, i64),
    Advance(u64),
    /// The clock set back (a host's clock corrected): holds already ended
    /// stay ended, the others wait for their expiry again.
    Rewind(u64),
    SnapshotRestore,
}

pub type Parts = Vec<(usize, usize, i64)>;
pub type Outcome = Result<Parts, &'static str>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L {
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    Active,
    Released,
    Expired,
    Committed(usize),
}

#[derive(Clone, Debug)]
pub struct MHold {
    pub chan: usize,
    pub lines: Vec<(usize, i64, Option<usize>)>,
    pub parts: Parts,
    pub state: St,
    pub expires: u64,
}

#[derive(Clone, Debug)]
pub struct MOrder {
    pub sale: Option<(usize, i64)>,
    /// (sku, loc, qty, fulfilled + cancelled)
    pub allocs: Vec<(usize, usize, i64, i64)>,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub now: u64,
    pub known: [bool; 3],
    pub levels: BTreeMap<(usize, usize), L>,
    pub holds: BTreeMap<usize, MHold>,
    pub orders: BTreeMap<usize, MOrder>,
    pub last: Option<Outcome>,
}

impl Model {
    pub fn lv(&mut self, s: usize, l: usize) -> &mut L {
        self.levels.entry((s, l)).or_default()
    }
    pub fn atp(&self, s: usize, l: usize) -> i64 {
        self.levels
            .get(&(s, l))
            .map_or(0, |x| x.on_hand - x.reserved - x.allocated)
    }
    pub fn avail(&self, c: usize, s: usize) -> i64 {
        let (_, locs, safety, cap) = &channels()[c];
        let raw: i64 = locs.iter().map(|&l| self.atp(s, l).max(0)).sum();
        let mut a = raw - safety;
        if let Some(cap) = cap {
            a = a.min(*cap);
        }
        a.max(0)
    }
    pub fn expire(&mut self) {
        let now = self.now;
        let due: Vec<usize> = self
            .holds
            .iter()
            .filter(|(_, h)| h.state == St::Active && h.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for id in due {
            self.end(id, St::Expired);
        }
    }
    pub fn end(&mut self, id: usize, st: St) {
        let parts = self.holds[&id].parts.clone();
        for (s, l, q) in parts {
            self.lv(s, l).reserved -= q;
        }
        self.holds.get_mut(&id).unwrap().state = st;
    }
    pub fn qty_ok(q: i64) -> Result<(), &'static str> {
        if q <= 0 || q > 1_000_000_000_000_000 {
            Err("E_INVALID_QUANTITY")
        } else {
            Ok(())
        }
    }

    pub fn apply(&mut self, op: &Op) -> Outcome {
        self.expire();
        match *op {
            Op::Receive(s, l, q) => {
                Self::qty_ok(q)?;
                if self.lv(s, l).on_hand + q > 1_000_000_000_000_000 {
                    return Err("E_INVALID_QUANTITY");
                }
                self.known[s] = true;
                self.lv(s, l).on_hand += q;
                Ok(vec![])
            }
            Op::Count(s, l, c) => {
                self.sku(s)?;
                if !(0..=1_000_000_000_000_000).contains(&c) {
                    return Err("E_INVALID_QUANTITY");
                }
                self.lv(s, l).on_hand = c;
                Ok(vec![])
            }
            Op::WriteOff(s, l, q) => {
                self.sku(s)?;
                Self::qty_ok(q)?;
                if q > self.lv(s, l).on_hand {
                    return Err("E_INSUFFICIENT_STOCK");
                }
                self.lv(s, l).on_hand -= q;
                Ok(vec![])
            }
            Op::Hold {
                id,
                chan,
                ref lines,
                ttl,
            } => self.hold(id, chan, lines, ttl),
            Op::Release(id) => {
                let h = self.holds.get(&id).ok_or("E_UNKNOWN_HOLD")?;
                match h.state {
                    St::Released => Ok(vec![]),
                    St::Active => {
                        self.end(id, St::Released);
                        Ok(vec![])
                    }
                    _ => Err("E_HOLD_NOT_ACTIVE"),
                }
            }
            Op::Commit(h, o) => {
                let hold = self.holds.get(&h).ok_or("E_UNKNOWN_HOLD")?.clone();
                match hold.state {
                    St::Committed(x) if x == o => {
                        return Ok(self.orders[&o]
                            .allocs
                            .iter()
                            .map(|a| (a.0, a.1, a.2))
                            .collect());
                    }
                    St::Committed(_) => return Err("E_ID_CONFLICT"),
                    St::Released | St::Expired => return Err("E_HOLD_NOT_ACTIVE"),
                    St::Active => {}
                }
                if self.orders.contains_key(&o) {
                    return Err("E_ID_CONFLICT");
                }
                for &(s, l, q) in &hold.parts {
                    self.lv(s, l).reserved -= q;
                    self.lv(s, l).allocated += q;
                }
                self.holds.get_mut(&h).unwrap().state = St::Committed(o);
                let allocs = hold.parts.iter().map(|&(s, l, q)| (s, l, q, 0)).collect();
                self.orders.insert(o, MOrder { sale: None, allocs });
                Ok(hold.parts)
            }
            Op::Fulfil(o, s, q) | Op::Cancel(o, s, q) => {
                let fulfil = matches!(op, Op::Fulfil(..));
                self.sku(s)?;
                Self::qty_ok(q)?;
                let order = self.orders.get(&o).ok_or("E_UNKNOWN_ORDER")?.clone();
                let mut plan = vec![];
                let mut left = q;
                for (i, a) in order.allocs.iter().enumerate() {
                    let open = a.2 - a.3;
                    if a.0 != s || open == 0 {
                        continue;
                    }
                    let take = open.min(left);
                    plan.push((i, take));
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
                if left > 0 {
                    return Err("E_EXCEEDS_OPEN_QUANTITY");
                }
                if fulfil {
                    // Two allocations at one place ship from one on-hand.
                    let mut ship = BTreeMap::new();
                    for &(i, take) in &plan {
                        let a = order.allocs[i];
                        *ship.entry((a.0, a.1)).or_insert(0) += take;
                    }
                    for ((s, l), n) in ship {
                        if self.lv(s, l).on_hand < n {
                            return Err("E_INSUFFICIENT_STOCK");
                        }
                    }
                }
                for &(i, take) in &plan {
                    let a = order.allocs[i];
                    if fulfil {
                        self.lv(a.0, a.1).on_hand -= take;
                    }
                    self.lv(a.0, a.1).allocated -= take;
                    self.orders.get_mut(&o).unwrap().allocs[i].3 += take;
                }
                Ok(vec![])
            }
            Op::TillSale(o, s, q) => {
                self.sku(s)?;
                Self::qty_ok(q)?;
                if let Some(order) = self.orders.get(&o) {
                    return match order.sale {
                        Some(x) if x == (s, q) => {
                            Ok(order.allocs.iter().map(|a| (a.0, a.1, a.2)).collect())
                        }
                        _ => Err("E_ID_CONFLICT"),
                    };
                }
                if q > self.avail(2, s).min(self.atp(s, 2)) {
                    return Err("E_INSUFFICIENT_STOCK");
                }
                self.lv(s, 2).on_hand -= q;
                self.orders.insert(
                    o,
                    MOrder {
                        sale: Some((s, q)),
                        allocs: vec![(s, 2, q, q)],
                    },
                );
                Ok(vec![(s, 2, q)])
            }
            Op::Advance(ms) => {
                self.now += ms;
                self.expire();
                Ok(vec![])
            }
            Op::Rewind(ms) => {
                self.now -= ms;
                Ok(vec![])
            }
            Op::SnapshotRestore => Ok(vec![]),
        }
    }

    pub fn sku(&self, s: usize) -> Result<(), &'static str> {
        if self.known[s] {
            Ok(())
        } else {
            Err("E_UNKNOWN_SKU")
        }
    }

    pub fn hold(
        &mut self,
        id: usize,
        chan: usize,
        lines: &[(usize, i64, Option<usize>)],
        ttl: u64,
    ) -> Outcome {
        if ttl == 0 {
            return Err("E_INVALID_ARGUMENT");
        }
        for &(s, q, _) in lines {
            self.sku(s)?;
            Self::qty_ok(q)?;
        }
        if let Some(h) = self.holds.get(&id) {
            return if h.chan == chan && h.lines == lines {
                Ok(h.parts.clone())
            } else {
                Err("E_ID_CONFLICT")
            };
        }
        let before = self.levels.clone();
        let mut parts = vec![];
        let (_, locs, ..) = channels()[chan].clone();
        for &(s, q, pin) in lines {
            let avail = self.avail(chan, s);
            match pin {
                Some(l) => {
                    if !locs.contains(&l) {
                        self.levels = before;
                        return Err("E_LOCATION_NOT_IN_CHANNEL");
                    }
                    if q > avail.min(self.atp(s, l)) {
                        self.levels = before;
                        return Err("E_INSUFFICIENT_STOCK");
                    }
                    self.lv(s, l).reserved += q;
                    parts.push((s, l, q));
                }
                None => {
                    if q > avail {
                        self.levels = before;
                        return Err("E_INSUFFICIENT_STOCK");
                    }
                    let mut left = q;
                    for &l in &locs {
                        let take = self.atp(s, l).min(left);
                        if take <= 0 {
                            continue;
                        }
                        self.lv(s, l).reserved += take;
                        parts.push((s, l, take));
                        left -= take;
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
        }
        self.holds.insert(
            id,
            MHold {
                chan,
                lines: lines.to_vec(),
                parts: parts.clone(),
                state: St::Active,
                expires: self.now + ttl,
            },
        );
        Ok(parts)
    }
}

/// The id of hold `i`.
pub fn hold_id(i: usize) -> String {
    format!("h{i}")
}

/// The id of order `i`.
pub fn order_id(i: usize) -> String {
    format!("o{i}")
}

/// The engine's settings: two stripes and two shards, so that SKUs share
/// stripes and holds share shards.
pub fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        ledger_retention: None,
        stripes: 2,
        shards: 2,
        ..Config::with_clock(clock.clone())
    }
}

/// The model's locations and channels, set up on `engine`.
pub fn setup(engine: &Engine) {
    for l in LOCS {
        engine.upsert_location(LocationSpec::warehouse(l)).unwrap();
    }
    for (name, locs, safety, cap) in channels() {
        let mut spec = ChannelSpec::new(name, locs.iter().map(|&l| LOCS[l])).safety_units(safety);
        if let Some(c) = cap {
            spec = spec.cap(Cap::Units(c));
        }
        engine.upsert_channel(spec).unwrap();
    }
}

/// Runs `op` on the engine (a snapshot and restore, through JSON, replaces
/// it); the outcome in the model's terms.
pub fn run(engine: &mut Engine, clock: &Arc<ManualClock>, op: &Op) -> Outcome {
    if let Op::SnapshotRestore = op {
        let json = serde_json::to_vec(&engine.snapshot()).unwrap();
        let snap: Snapshot = serde_json::from_slice(&json).unwrap();
        *engine = Engine::restore(snap, config(clock)).unwrap();
        return Ok(vec![]);
    }
    let e = &*engine;
    let parts = |ps: &[Part]| super::part_indices(e, ps, &SKUS, &LOCS);
    let unit = |r: Result<()>| r.map(|_| vec![]).map_err(|e| e.code());
    match *op {
        Op::Receive(s, l, q) => unit(
            e.receive(SKUS[s], LOCS[l], q.into(), Note::default())
                .map(drop),
        ),
        Op::Count(s, l, q) => unit(
            e.count(SKUS[s], LOCS[l], q.into(), Note::default())
                .map(drop),
        ),
        Op::WriteOff(s, l, q) => unit(
            e.write_off(SKUS[s], LOCS[l], q.into(), None, Note::default())
                .map(drop),
        ),
        Op::Hold {
            id,
            chan,
            ref lines,
            ttl,
        } => {
            let lines: Vec<HoldLine<'_>> = lines
                .iter()
                .map(|&(s, q, l)| {
                    let line = HoldLine::new(SKUS[s], q);
                    match l {
                        Some(l) => line.at(LOCS[l]),
                        None => line,
                    }
                })
                .collect();
            let chan = channels()[chan].0;
            e.hold(&HoldRequest::new(&hold_id(id), chan, &lines, ttl).bind_now())
                .map(|r| parts(&r.parts))
                .map_err(|e| e.code())
        }
        Op::Release(id) => unit(e.release(&hold_id(id))),
        Op::Commit(h, o) => e
            .commit(&hold_id(h), &order_id(o))
            .map(|r| parts(&r.allocations))
            .map_err(|e| e.code()),
        Op::Fulfil(o, s, q) => unit(
            e.fulfil(&order_id(o), &[OrderLine::new(SKUS[s], q)])
                .map(drop),
        ),
        Op::Cancel(o, s, q) => unit(
            e.cancel(&order_id(o), &[OrderLine::new(SKUS[s], q)])
                .map(drop),
        ),
        Op::TillSale(o, s, q) => e
            .till_sale(&order_id(o), "till", &[HoldLine::new(SKUS[s], q)])
            .map(|r| parts(&r.allocations))
            .map_err(|e| e.code()),
        Op::Advance(ms) => {
            clock.advance(ms);
            Ok(vec![])
        }
        Op::Rewind(ms) => {
            clock.set(clock.now_ms() - ms);
            Ok(vec![])
        }
        Op::SnapshotRestore => unreachable!("restored above"),
    }
}

/// The engine's levels of every SKU at every location, and its
/// availability on every channel, equal the model's (an unknown SKU is
/// unknown to both).
pub fn assert_state(e: &Engine, model: &Model, after: &dyn Debug) {
    for (s, sku) in SKUS.iter().enumerate() {
        if !model.known[s] {
            assert_eq!(
                e.availability("web", sku).unwrap_err().code(),
                "E_UNKNOWN_SKU",
                "{sku} after {after:?}"
            );
            continue;
        }
        for (l, loc) in LOCS.iter().enumerate() {
            let want = model.levels.get(&(s, l)).copied().unwrap_or_default();
            let lv = e.levels(sku, loc).unwrap();
            let got = L {
                on_hand: lv.on_hand.as_units().unwrap(),
                reserved: lv.reserved.as_units().unwrap(),
                allocated: lv.allocated.as_units().unwrap(),
            };
            assert_eq!(got, want, "levels of {sku}@{loc} after {after:?}");
        }
        for (c, (chan, ..)) in channels().iter().enumerate() {
            let got = e.availability(chan, sku).unwrap().as_units().unwrap();
            assert_eq!(
                got,
                model.avail(c, s),
                "availability of {sku} on {chan} after {after:?}"
            );
        }
    }
}
