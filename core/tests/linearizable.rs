//! Linearizable stress: real threads hammer a hot SKU and two cold ones with
//! holds, retries, releases, commits, till sales and receipts, and every
//! result must be one a single-threaded reference model gives when the
//! calls run one at a time in the ledger's sequence order.
//!
//! Each call that changes stock is placed at the first sequence number of
//! its events (numbered inside the critical section of the stripes it
//! locks, so two calls on a common SKU never interleave their numbers) and
//! replayed there through the model: its result must be the engine's. A
//! call that changes nothing (a refused hold or sale, a replayed hold, a
//! release again, a commit of a released hold) must be the model's answer,
//! changing nothing, in some state the ledger went through while the call
//! ran (between `last_seq()` read before it and after it). At the end the
//! engine's levels equal the model's and the ledger folds to them.
//!
//! `UNISTOCK_STRESS` scales the calls per thread and `UNISTOCK_LIN_THREADS`
//! sets the threads (CI runs the defaults, 1,500 calls on 6 threads;
//! `scripts/stress.sh` adds a run on 64).

mod common;
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;
use unistock::*;

const SKUS: [&str; 3] = ["hot", "cold-1", "cold-2"];
const LOCS: [&str; 3] = ["wh-1", "wh-2", "store-1"];
/// Channels: web sells from wh-1, wh-2 then store-1 and keeps 1 unit back;
/// market from wh-1, capped at 2 units; till from store-1.
const CHANNELS: [(&str, &[usize], i64, Option<i64>); 3] = [
    ("web", &[0, 1, 2], 1, None),
    ("market", &[0], 0, Some(2)),
    ("till", &[2], 0, None),
];
/// Starting stock per SKU at wh-1, wh-2, store-1: the hot SKU runs out
/// often, the cold ones now and then.
const START: [[i64; 3]; 3] = [[4, 3, 2], [20, 10, 6], [30, 0, 8]];
fn threads() -> usize {
    common::env_or("UNISTOCK_LIN_THREADS", 6)
}

fn calls_per_thread() -> usize {
    1_500 * common::env_or::<usize>("UNISTOCK_STRESS", 1)
}

/// (SKU, location, units), by index into `SKUS` and `LOCS`.
type Parts = Vec<(usize, usize, i64)>;
type Outcome = Result<Parts, &'static str>;

#[derive(Clone, Debug)]
enum Op {
    Hold {
        id: String,
        chan: usize,
        lines: Vec<(usize, i64, Option<usize>)>,
    },
    Release(String),
    Commit(String, String),
    TillSale(String, usize, i64),
    Receive(String, usize, usize, i64),
}

impl Op {
    /// The key of the ledger events this call writes: their reference and
    /// whether they are a release (a release's events carry its hold's id).
    fn key(&self) -> (String, bool) {
        match self {
            Op::Hold { id, .. } => (id.clone(), false),
            Op::Release(id) => (id.clone(), true),
            Op::Commit(_, order) => (order.clone(), false),
            Op::TillSale(sale, ..) => (sale.clone(), false),
            Op::Receive(reference, ..) => (reference.clone(), false),
        }
    }
}

/// One call as a thread saw it: `last_seq()` before and after, and what
/// it answered.
struct Call {
    op: Op,
    before: u64,
    after: u64,
    got: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Active,
    Released,
    Committed,
}

struct MHold {
    chan: usize,
    lines: Vec<(usize, i64, Option<usize>)>,
    parts: Parts,
    state: St,
}

/// What a call changes in the model.
enum Effect {
    None,
    /// Units on hand added (or taken, when negative) at a SKU's location.
    OnHand(usize, usize, i64),
    NewHold(String, MHold),
    EndHold(String, St),
}

struct Model {
    /// (on hand, reserved, allocated) per SKU and location.
    levels: [[(i64, i64, i64); 3]; 3],
    holds: HashMap<String, MHold>,
}

impl Model {
    fn atp(&self, s: usize, l: usize) -> i64 {
        let (h, r, a) = self.levels[s][l];
        h - r - a
    }
    fn avail(&self, c: usize, s: usize) -> i64 {
        let (_, locs, safety, cap) = CHANNELS[c];
        let raw: i64 = locs.iter().map(|&l| self.atp(s, l).max(0)).sum();
        let a = raw - safety;
        cap.map_or(a, |cap| a.min(cap)).max(0)
    }

    /// The call's answer and what it changes, without changing anything.
    fn decide(&self, op: &Op) -> (Outcome, Effect) {
        match op {
            Op::Hold { id, chan, lines } => {
                if let Some(h) = self.holds.get(id) {
                    return if h.chan == *chan && &h.lines == lines {
                        (Ok(h.parts.clone()), Effect::None)
                    } else {
                        (Err("E_ID_CONFLICT"), Effect::None)
                    };
                }
                // Lines name distinct SKUs, so each is decided on its own.
                let mut parts = vec![];
                for &(s, q, pin) in lines {
                    match pin {
                        Some(l) => {
                            if q > self.avail(*chan, s).min(self.atp(s, l)) {
                                return (Err("E_INSUFFICIENT_STOCK"), Effect::None);
                            }
                            parts.push((s, l, q));
                        }
                        None => {
                            if q > self.avail(*chan, s) {
                                return (Err("E_INSUFFICIENT_STOCK"), Effect::None);
                            }
                            let mut left = q;
                            for &l in CHANNELS[*chan].1 {
                                let take = self.atp(s, l).min(left);
                                if take > 0 {
                                    parts.push((s, l, take));
                                    left -= take;
                                }
                                if left == 0 {
                                    break;
                                }
                            }
                        }
                    }
                }
                let rec = MHold {
                    chan: *chan,
                    lines: lines.clone(),
                    parts: parts.clone(),
                    state: St::Active,
                };
                (Ok(parts), Effect::NewHold(id.clone(), rec))
            }
            Op::Release(id) => match self.holds.get(id).map(|h| h.state) {
                None => (Err("E_UNKNOWN_HOLD"), Effect::None),
                Some(St::Released) => (Ok(vec![]), Effect::None),
                Some(St::Active) => (Ok(vec![]), Effect::EndHold(id.clone(), St::Released)),
                Some(St::Committed) => (Err("E_HOLD_NOT_ACTIVE"), Effect::None),
            },
            // Every commit names a new order: a committed hold's conflicts.
            Op::Commit(id, _) => match self.holds.get(id) {
                None => (Err("E_UNKNOWN_HOLD"), Effect::None),
                Some(h) => match h.state {
                    St::Active => (
                        Ok(h.parts.clone()),
                        Effect::EndHold(id.clone(), St::Committed),
                    ),
                    St::Committed => (Err("E_ID_CONFLICT"), Effect::None),
                    St::Released => (Err("E_HOLD_NOT_ACTIVE"), Effect::None),
                },
            },
            Op::TillSale(_, s, q) => {
                if *q > self.avail(2, *s).min(self.atp(*s, 2)) {
                    (Err("E_INSUFFICIENT_STOCK"), Effect::None)
                } else {
                    (Ok(vec![(*s, 2, *q)]), Effect::OnHand(*s, 2, -q))
                }
            }
            Op::Receive(_, s, l, q) => (Ok(vec![]), Effect::OnHand(*s, *l, *q)),
        }
    }

    fn apply(&mut self, effect: Effect) {
        let add = |m: &mut Model, (s, l, h, r, a): (usize, usize, i64, i64, i64)| {
            let x = &mut m.levels[s][l];
            *x = (x.0 + h, x.1 + r, x.2 + a);
        };
        match effect {
            Effect::None => {}
            Effect::OnHand(s, l, h) => add(self, (s, l, h, 0, 0)),
            Effect::NewHold(id, h) => {
                for &(s, l, q) in &h.parts {
                    add(self, (s, l, 0, q, 0));
                }
                self.holds.insert(id, h);
            }
            Effect::EndHold(id, st) => {
                let h = self.holds.get_mut(&id).expect("a known hold");
                h.state = st;
                let parts = h.parts.clone();
                for (s, l, q) in parts {
                    let allocated = if st == St::Committed { q } else { 0 };
                    add(self, (s, l, 0, -q, allocated));
                }
            }
        }
    }
}

fn shop() -> Engine {
    // A clock that stands still: no hold expires during the run.
    let clock = Arc::new(ManualClock::new(common::T0));
    let engine = Engine::with_config(Config {
        ledger_retention: None,
        stripes: 2,
        ..Config::with_clock(clock)
    });
    for l in LOCS {
        engine.upsert_location(LocationSpec::warehouse(l)).unwrap();
    }
    for (name, locs, safety, cap) in CHANNELS {
        let mut spec = ChannelSpec::new(name, locs.iter().map(|&l| LOCS[l])).safety_units(safety);
        if let Some(c) = cap {
            spec = spec.cap(Cap::Units(c));
        }
        engine.upsert_channel(spec).unwrap();
    }
    for (s, sku) in SKUS.iter().enumerate() {
        for (l, loc) in LOCS.iter().enumerate() {
            if START[s][l] > 0 {
                engine
                    .receive(sku, loc, START[s][l].into(), Note::default())
                    .unwrap();
            }
        }
    }
    engine
}

/// A thread's calls: mostly holds, its granted holds released, committed
/// or retried now and then, till sales and receipts.
fn worker(e: &Engine, t: usize, n: usize) -> Vec<Call> {
    let mut rng = common::Rng(0x5eed_0000 + t as u64);
    let mut calls = Vec::with_capacity(n);
    // This thread's granted holds, as it asked for them.
    let mut mine: Vec<Op> = vec![];
    let parts = |ps: &[Part]| common::part_indices(e, ps, &SKUS, &LOCS);
    for k in 0..n {
        let roll = rng.below(20);
        let op = match roll {
            0..=7 => {
                let first = if rng.below(3) == 0 {
                    1 + rng.below(2) as usize
                } else {
                    0
                };
                let chan = if rng.below(4) == 0 { 1 } else { 0 };
                let mut lines = vec![(first, 1 + rng.below(3) as i64, None)];
                if rng.below(3) == 0 {
                    let other = (first + 1 + rng.below(2) as usize) % 3;
                    lines.push((other, 1 + rng.below(2) as i64, None));
                }
                if rng.below(5) == 0 {
                    let locs = CHANNELS[chan].1;
                    lines[0].2 = Some(locs[rng.below(locs.len() as u64) as usize]);
                }
                Op::Hold {
                    id: format!("h{t}.{k}"),
                    chan,
                    lines,
                }
            }
            8..=12 if !mine.is_empty() => {
                Op::Release(mine[rng.below(mine.len() as u64) as usize].key().0)
            }
            13 if !mine.is_empty() => Op::Commit(
                mine[rng.below(mine.len() as u64) as usize].key().0,
                format!("o{t}.{k}"),
            ),
            14 if !mine.is_empty() => mine[rng.below(mine.len() as u64) as usize].clone(),
            15..=16 => Op::TillSale(
                format!("s{t}.{k}"),
                rng.below(3) as usize,
                1 + rng.below(2) as i64,
            ),
            _ => Op::Receive(
                format!("r{t}.{k}"),
                rng.below(3) as usize,
                rng.below(3) as usize,
                1 + rng.below(4) as i64,
            ),
        };
        let before = e.last_seq();
        let got = match &op {
            Op::Hold { id, chan, lines } => {
                let lines: Vec<HoldLine<'_>> = lines
                    .iter()
                    .map(|&(s, q, l)| {
                        let line = HoldLine::new(SKUS[s], q);
                        l.map_or(line, |l| line.at(LOCS[l]))
                    })
                    .collect();
                let req = HoldRequest::new(id, CHANNELS[*chan].0, &lines, 3_600_000).bind_now();
                e.hold(&req).map(|r| parts(&r.parts))
            }
            Op::Release(id) => e.release(id).map(|()| vec![]),
            Op::Commit(id, order) => e.commit(id, order).map(|r| parts(&r.allocations)),
            Op::TillSale(sale, s, q) => e
                .till_sale(sale, "till", &[HoldLine::new(SKUS[*s], *q)])
                .map(|r| parts(&r.allocations)),
            Op::Receive(reference, s, l, q) => e
                .receive(SKUS[*s], LOCS[*l], (*q).into(), Note::new("", reference))
                .map(|_| vec![]),
        };
        let after = e.last_seq();
        // Only granted holds are released, committed or retried: a retry
        // of a refused hold would be a new hold under the same reference.
        // (A granted retry is in `mine` already.)
        if roll <= 7 && got.is_ok() {
            mine.push(op.clone());
        }
        calls.push(Call {
            op,
            before,
            after,
            got: got.map_err(|x| x.code()),
        });
    }
    calls
}

/// Checks the threads' calls against the model; panics with
/// the first call no sequential order explains.
fn check(e: &Engine, start: u64, calls: Vec<Call>) {
    // The first sequence number of each call's events (after the setup's).
    let mut first: HashMap<(String, bool), u64> = HashMap::new();
    let mut after = start;
    loop {
        let batch = e.events_since(after, 10_000).unwrap();
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for ev in &batch {
            let key = (ev.reference.clone(), ev.kind == EventKind::Released);
            first.entry(key).or_insert(ev.seq);
        }
    }
    let mut changing: Vec<(u64, Call)> = vec![];
    let mut still: Vec<Call> = vec![];
    for c in calls {
        match first.remove(&c.op.key()) {
            Some(seq) => {
                assert!(
                    c.before < seq && seq <= c.after,
                    "{:?} numbered {seq}, outside the call ({}..={})",
                    c.op,
                    c.before,
                    c.after
                );
                changing.push((seq, c));
            }
            None => still.push(c),
        }
    }
    assert!(first.is_empty(), "events no call explains: {first:?}");
    changing.sort_by_key(|(seq, _)| *seq);
    still.sort_by_key(|c| c.before);

    let mut model = Model {
        levels: START.map(|r| r.map(|h| (h, 0, 0))),
        holds: HashMap::new(),
    };
    let mut waiting: Vec<Call> = vec![];
    let mut next_still = still.into_iter().peekable();
    let mut from = start;
    for i in 0..=changing.len() {
        // The model is now the state the ledger was in from `from` up to
        // the next changing call's number.
        let until = changing.get(i).map_or(u64::MAX, |(seq, _)| seq - 1);
        while let Some(c) = next_still.next_if(|c| c.before <= until) {
            waiting.push(c);
        }
        waiting.retain(|c| {
            let (want, effect) = model.decide(&c.op);
            let explained = c.after >= from && want == c.got && matches!(effect, Effect::None);
            assert!(
                explained || c.after > until,
                "{:?} answered {:?}, which no state during the call gives (last seen: {want:?})",
                c.op,
                c.got
            );
            !explained
        });
        if let Some((seq, c)) = changing.get(i) {
            let (want, effect) = model.decide(&c.op);
            assert_eq!(c.got, want, "{:?} at seq {seq}", c.op);
            assert!(
                !matches!(effect, Effect::None),
                "{:?} wrote events but changes nothing in the model",
                c.op
            );
            model.apply(effect);
            from = *seq;
        }
    }
    assert!(waiting.is_empty());
    for (s, sku) in SKUS.iter().enumerate() {
        for (l, loc) in LOCS.iter().enumerate() {
            let lv = e.levels(sku, loc).unwrap();
            let got = (
                lv.on_hand.as_units().unwrap(),
                lv.reserved.as_units().unwrap(),
                lv.allocated.as_units().unwrap(),
            );
            assert_eq!(got, model.levels[s][l], "levels of {sku} at {loc}");
        }
    }
    common::assert_ledger_folds(e);
}

#[test]
fn every_result_is_the_models_in_ledger_order() {
    let e = Arc::new(shop());
    let start = e.last_seq();
    let (n, threads) = (calls_per_thread(), threads());
    let go = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (e, go) = (e.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                worker(&e, t, n)
            })
        })
        .collect();
    let calls: Vec<Call> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("worker panicked"))
        .collect();
    // Both outcomes must be common, or the run proves little.
    let refused = calls
        .iter()
        .filter(|c| c.got == Err("E_INSUFFICIENT_STOCK"))
        .count();
    let granted = calls
        .iter()
        .filter(|c| matches!(c.op, Op::Hold { .. }) && c.got.is_ok())
        .count();
    assert!(refused > calls.len() / 50, "{refused} refusals");
    assert!(granted > calls.len() / 10, "{granted} holds granted");
    check(&e, start, calls);
}
