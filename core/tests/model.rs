//! Model-based test: random sequences of operations run against the engine
//! and against a plain reference model; every result and the whole state
//! must agree after every step, and the ledger must fold to the state.
//!
//! `PROPTEST_CASES` sets the number of sequences (CI runs the default; the
//! long run is `scripts/model-long.sh`).

mod common;

use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use std::collections::BTreeMap;
use std::sync::Arc;
use unistock::*;

const SKUS: [&str; 3] = ["a", "b", "c"];
const LOCS: [&str; 3] = ["wh-1", "wh-2", "store-1"];
const HOLD_IDS: [&str; 4] = ["h0", "h1", "h2", "h3"];
const ORDER_IDS: [&str; 4] = ["o0", "o1", "o2", "o3"];
const HUGE: i64 = 1_000_000_000_000_001;

/// Channels: web sells from wh-1 then wh-2 with 1 unit of safety; market
/// from wh-1 with a cap of 2; till from store-1.
fn channels() -> Vec<(&'static str, Vec<usize>, i64, Option<i64>)> {
    vec![
        ("web", vec![0, 1], 1, None),
        ("market", vec![0], 0, Some(2)),
        ("till", vec![2], 0, None),
    ]
}

#[derive(Clone, Debug)]
enum Op {
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

type Parts = Vec<(usize, usize, i64)>;
type Outcome = Result<Parts, &'static str>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct L {
    on_hand: i64,
    reserved: i64,
    allocated: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Active,
    Released,
    Expired,
    Committed(usize),
}

#[derive(Clone, Debug)]
struct MHold {
    chan: usize,
    lines: Vec<(usize, i64, Option<usize>)>,
    parts: Parts,
    state: St,
    expires: u64,
}

#[derive(Clone, Debug)]
struct MOrder {
    sale: Option<(usize, i64)>,
    /// (sku, loc, qty, fulfilled + cancelled)
    allocs: Vec<(usize, usize, i64, i64)>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    now: u64,
    known: [bool; 3],
    levels: BTreeMap<(usize, usize), L>,
    holds: BTreeMap<usize, MHold>,
    orders: BTreeMap<usize, MOrder>,
    last: Option<Outcome>,
}

impl Model {
    fn lv(&mut self, s: usize, l: usize) -> &mut L {
        self.levels.entry((s, l)).or_default()
    }
    fn atp(&self, s: usize, l: usize) -> i64 {
        self.levels
            .get(&(s, l))
            .map_or(0, |x| x.on_hand - x.reserved - x.allocated)
    }
    fn avail(&self, c: usize, s: usize) -> i64 {
        let (_, locs, safety, cap) = &channels()[c];
        let raw: i64 = locs.iter().map(|&l| self.atp(s, l).max(0)).sum();
        let mut a = raw - safety;
        if let Some(cap) = cap {
            a = a.min(*cap);
        }
        a.max(0)
    }
    fn expire(&mut self) {
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
    fn end(&mut self, id: usize, st: St) {
        let parts = self.holds[&id].parts.clone();
        for (s, l, q) in parts {
            self.lv(s, l).reserved -= q;
        }
        self.holds.get_mut(&id).unwrap().state = st;
    }
    fn qty_ok(q: i64) -> Result<(), &'static str> {
        if q <= 0 || q > 1_000_000_000_000_000 {
            Err("E_INVALID_QUANTITY")
        } else {
            Ok(())
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
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
                    for &(i, take) in &plan {
                        let a = order.allocs[i];
                        if self.lv(a.0, a.1).on_hand < take {
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

    fn sku(&self, s: usize) -> Result<(), &'static str> {
        if self.known[s] {
            Ok(())
        } else {
            Err("E_UNKNOWN_SKU")
        }
    }

    fn hold(
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

fn qty() -> impl Strategy<Value = i64> {
    prop_oneof![6 => 1i64..=4, 2 => Just(0i64), 1 => Just(-1i64), 1 => Just(HUGE), 2 => 5i64..=12]
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now: common::T0,
            ..Model::default()
        })
        .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Op> {
        let sku = 0..SKUS.len();
        let loc = 0..LOCS.len();
        let line = (
            0..SKUS.len(),
            qty(),
            prop::option::weighted(0.3, 0..LOCS.len()),
        );
        prop_oneof![
            4 => (sku.clone(), loc.clone(), qty()).prop_map(|(s, l, q)| Op::Receive(s, l, q)),
            1 => (sku.clone(), loc.clone(), prop_oneof![0i64..=6, Just(-1)]).prop_map(|(s, l, q)| Op::Count(s, l, q)),
            1 => (sku.clone(), loc.clone(), qty()).prop_map(|(s, l, q)| Op::WriteOff(s, l, q)),
            6 => (0..HOLD_IDS.len(), 0usize..2, prop::collection::vec(line, 1..=3), prop_oneof![1 => Just(0u64), 8 => Just(60_000u64), 4 => Just(1_000u64)])
                .prop_map(|(id, chan, lines, ttl)| Op::Hold { id, chan, lines, ttl }),
            2 => (0..HOLD_IDS.len()).prop_map(Op::Release),
            3 => (0..HOLD_IDS.len(), 0..ORDER_IDS.len()).prop_map(|(h, o)| Op::Commit(h, o)),
            2 => (0..ORDER_IDS.len(), sku.clone(), qty()).prop_map(|(o, s, q)| Op::Fulfil(o, s, q)),
            1 => (0..ORDER_IDS.len(), sku.clone(), qty()).prop_map(|(o, s, q)| Op::Cancel(o, s, q)),
            2 => (0..ORDER_IDS.len(), sku, qty()).prop_map(|(o, s, q)| Op::TillSale(o, s, q)),
            2 => prop_oneof![Just(500u64), Just(1_000u64), Just(30_000u64), Just(60_000u64)].prop_map(Op::Advance),
            1 => prop_oneof![Just(500u64), Just(30_000u64)].prop_map(Op::Rewind),
            1 => Just(Op::SnapshotRestore),
        ]
        .boxed()
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        let out = state.apply(op);
        state.last = Some(out);
        state
    }
}

struct Sut {
    engine: Engine,
    clock: Arc<ManualClock>,
}

fn new_config(clock: &Arc<ManualClock>) -> Config {
    Config {
        ledger_retention: None,
        stripes: 2,
        shards: 2,
        ..Config::with_clock(clock.clone())
    }
}

impl Sut {
    fn run(&mut self, op: &Op) -> Outcome {
        let e = &self.engine;
        let parts = |ps: &[Part]| common::part_indices(e, ps, &SKUS, &LOCS);
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
                e.hold(&HoldRequest::new(HOLD_IDS[id], chan, &lines, ttl).bind_now())
                    .map(|r| parts(&r.parts))
                    .map_err(|e| e.code())
            }
            Op::Release(id) => unit(e.release(HOLD_IDS[id])),
            Op::Commit(h, o) => e
                .commit(HOLD_IDS[h], ORDER_IDS[o])
                .map(|r| parts(&r.allocations))
                .map_err(|e| e.code()),
            Op::Fulfil(o, s, q) => unit(
                e.fulfil(ORDER_IDS[o], &[OrderLine::new(SKUS[s], q)])
                    .map(drop),
            ),
            Op::Cancel(o, s, q) => unit(
                e.cancel(ORDER_IDS[o], &[OrderLine::new(SKUS[s], q)])
                    .map(drop),
            ),
            Op::TillSale(o, s, q) => e
                .till_sale(ORDER_IDS[o], "till", &[HoldLine::new(SKUS[s], q)])
                .map(|r| parts(&r.allocations))
                .map_err(|e| e.code()),
            Op::Advance(ms) => {
                self.clock.advance(ms);
                Ok(vec![])
            }
            Op::Rewind(ms) => {
                self.clock.set(self.clock.now_ms() - ms);
                Ok(vec![])
            }
            Op::SnapshotRestore => {
                let json = serde_json::to_vec(&e.snapshot()).unwrap();
                let snap: Snapshot = serde_json::from_slice(&json).unwrap();
                self.engine = Engine::restore(snap, new_config(&self.clock)).unwrap();
                Ok(vec![])
            }
        }
    }
}

struct EngineVsModel;

impl StateMachineTest for EngineVsModel {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(model: &Model) -> Sut {
        let clock = Arc::new(ManualClock::new(model.now));
        let engine = Engine::with_config(new_config(&clock));
        for l in LOCS {
            engine.upsert_location(LocationSpec::warehouse(l)).unwrap();
        }
        for (name, locs, safety, cap) in channels() {
            let mut spec =
                ChannelSpec::new(name, locs.iter().map(|&l| LOCS[l])).safety_units(safety);
            if let Some(c) = cap {
                spec = spec.cap(Cap::Units(c));
            }
            engine.upsert_channel(spec).unwrap();
        }
        Sut { engine, clock }
    }

    fn apply(mut sut: Sut, model: &Model, op: Op) -> Sut {
        let got = sut.run(&op);
        assert_eq!(Some(&got), model.last.as_ref(), "result of {op:?}");
        let e = &sut.engine;
        for (s, sku) in SKUS.iter().enumerate() {
            if !model.known[s] {
                assert_eq!(
                    e.availability("web", sku).unwrap_err().code(),
                    "E_UNKNOWN_SKU"
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
                assert_eq!(got, want, "levels of {sku}@{loc} after {op:?}");
            }
            for (c, (chan, ..)) in channels().iter().enumerate() {
                let got = e.availability(chan, sku).unwrap().as_units().unwrap();
                assert_eq!(
                    got,
                    model.avail(c, s),
                    "availability of {sku} on {chan} after {op:?}"
                );
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, _: &Model) {
        common::assert_ledger_folds(&sut.engine);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn engine_matches_the_reference_model(sequential 1..48 => EngineVsModel);
}
