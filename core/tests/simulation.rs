//! Deterministic simulation: one seed drives a durable engine through a
//! long run of the model's operations mixed with clock jumps (forwards and
//! back), commits at the very millisecond their hold expires, retries of
//! acknowledged requests, flushes, checkpoints, clean restarts, power losses
//! (only fsynced bytes survive), kills (every written byte survives) and
//! storage that fails its Nth write or fsync.
//!
//! An auditor holds the reference model and every acknowledged state since
//! the last point the durability mode promises to keep. Each result must be
//! the model's. After a crash it accepts a *set* of states: any acknowledged
//! state from that point on, or the one the call in flight would have made,
//! each with what a call cut between its records leaves (holds swept, a new
//! SKU declared before its receipt); the reopened engine must equal one of
//! them exactly (its whole snapshot, with holds due by then expired), and
//! the model rolls back to it. A retried request that survived returns its
//! original result.
//!
//! `UNISTOCK_SIM_SEEDS` sets how many seeds run (CI: 48, 300 steps each);
//! `UNISTOCK_SIM_SEED` runs one seed again (with `UNISTOCK_SIM_TRACE=1`,
//! printing each step); a failure names its seed.
//! The recovered prefix in `interval` (2 ms) and `none` modes depends on
//! the flusher thread's timing, so a seed replays the same operations but
//! may cut the journal elsewhere; every cut is audited the same way.

mod common;

use common::refmodel::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use unistock::durable::MemStorage;
use unistock::*;

const STEPS: usize = 300;
const HOLDS: usize = 8;
const ORDERS: usize = 8;

/// One step of the run: an operation of the model, or something that
/// happens to the engine, its clock or its storage.
#[derive(Clone, Debug)]
enum Step {
    Model(Op),
    /// An acknowledged hold, commit or till sale sent again.
    Retry,
    /// The clock set to `delta` ms from an active hold's expiry, then the
    /// hold committed.
    CommitAtExpiry {
        delta: i64,
        order: usize,
    },
    Flush,
    Checkpoint,
    Restart,
    PowerLoss,
    Kill,
    /// The storage fails its `n`th write (or fsync) from now on.
    Fault {
        fsync: bool,
        n: u64,
    },
}

/// An acknowledged state: the model and the engine's snapshot after a
/// call, and what the first records of the next call do (a crash may keep
/// them without the rest): its sweep, at its time, and a SKU it declares.
struct Entry {
    model: Model,
    snap: Snapshot,
    next_at: Option<u64>,
    declares: Option<usize>,
}

impl Entry {
    fn new(model: Model, snap: Snapshot) -> Entry {
        Entry {
            model,
            snap,
            next_at: None,
            declares: None,
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    steps: usize,
    crashes: usize,
    lost_acknowledged: usize,
    in_flight_kept: usize,
    in_flight_lost: usize,
    faults_hit: usize,
    retries_kept: usize,
    retries_lost: usize,
    expiry_commits: [usize; 2],
    cut_mid_call: usize,
}

struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    mode: Durability,
    clock: Arc<ManualClock>,
    storage: MemStorage,
    engine: Engine,
    model: Model,
    history: Vec<Entry>,
    /// The first entry a kill, and a power loss, may go back to.
    floor_kill: usize,
    floor_power: usize,
    /// Acknowledged holds, commits and till sales: the history entry they
    /// made, the request and its result.
    acked: Vec<(usize, Op, Outcome)>,
    /// Acknowledged requests a crash lost (as the mode allows): their
    /// clients send them again, as new.
    lost: Vec<Op>,
    stats: Stats,
}

fn open(storage: &MemStorage, clock: &Arc<ManualClock>, mode: Durability) -> Result<Engine> {
    common::open_mem_with(storage, config(clock), mode)
}

fn qty(rng: &mut ChaCha8Rng) -> i64 {
    match rng.random_range(0..12) {
        0..6 => rng.random_range(1..=4),
        6..8 => 0,
        8 => -1,
        9 => HUGE,
        _ => rng.random_range(5..=12),
    }
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mode = match rng.random_range(0..4) {
            0 => Durability::Sync,
            1 => Durability::Interval(2),
            // Never on its own within a run: only flushes and checkpoints
            // make changes durable, at points the seed decides.
            2 => Durability::Interval(3_600_000),
            _ => Durability::None,
        };
        let clock = Arc::new(ManualClock::new(common::T0));
        let storage = MemStorage::new();
        let engine = open(&storage, &clock, mode).unwrap();
        setup(&engine);
        engine.checkpoint().unwrap();
        let model = Model {
            now: common::T0,
            ..Model::default()
        };
        let history = vec![Entry::new(model.clone(), engine.snapshot())];
        Sim {
            seed,
            rng,
            mode,
            clock,
            storage,
            engine,
            model,
            history,
            floor_kill: 0,
            floor_power: 0,
            acked: Vec::new(),
            lost: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn step(&mut self) -> Step {
        let r = &mut self.rng;
        let sku = r.random_range(0..SKUS.len());
        let loc = r.random_range(0..LOCS.len());
        match r.random_range(0..100) {
            0..12 => Step::Model(Op::Receive(sku, loc, qty(r))),
            12..15 => Step::Model(Op::Count(sku, loc, r.random_range(-1..=6))),
            15..18 => Step::Model(Op::WriteOff(sku, loc, qty(r))),
            18..38 => {
                let lines = (0..r.random_range(1..=3))
                    .map(|_| {
                        let pin = r.random_bool(0.3).then(|| r.random_range(0..LOCS.len()));
                        (r.random_range(0..SKUS.len()), qty(r), pin)
                    })
                    .collect();
                let ttl = [0, 1_000, 1_000, 60_000, 60_000, 60_000][r.random_range(0..6)];
                Step::Model(Op::Hold {
                    id: r.random_range(0..HOLDS),
                    chan: r.random_range(0..2),
                    lines,
                    ttl,
                })
            }
            38..44 => Step::Model(Op::Release(r.random_range(0..HOLDS))),
            44..52 => Step::Model(Op::Commit(
                r.random_range(0..HOLDS),
                r.random_range(0..ORDERS),
            )),
            52..58 => Step::Model(Op::Fulfil(r.random_range(0..ORDERS), sku, qty(r))),
            58..61 => Step::Model(Op::Cancel(r.random_range(0..ORDERS), sku, qty(r))),
            61..66 => Step::Model(Op::TillSale(r.random_range(0..ORDERS), sku, qty(r))),
            66..72 => Step::Model(Op::Advance([1, 500, 1_000, 30_000][r.random_range(0..4)])),
            72..75 => Step::Model(Op::Rewind([1, 500, 30_000][r.random_range(0..3)])),
            75..80 => Step::Retry,
            80..85 => Step::CommitAtExpiry {
                delta: r.random_range(-1..=1),
                order: r.random_range(0..ORDERS),
            },
            85..88 => Step::Flush,
            88..90 => Step::Checkpoint,
            90..92 => Step::Restart,
            92..95 => Step::PowerLoss,
            95..98 => Step::Kill,
            _ => Step::Fault {
                fsync: r.random_bool(0.5),
                n: r.random_range(1..4),
            },
        }
    }

    fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        panic!(
            "seed {} ({:?}), step {}: {what}\nreplay: UNISTOCK_SIM_SEED={} cargo test -p unistock --test simulation",
            self.seed, self.mode, self.stats.steps, self.seed
        );
    }

    fn top(&self) -> usize {
        self.history.len() - 1
    }

    /// Runs one operation on the engine and the model. `Err(())` when the
    /// storage failed under it (the call is in flight: the caller crashes).
    fn call(&mut self, op: &Op) -> std::result::Result<Outcome, ()> {
        let mut next = self.model.clone();
        let want = next.apply(op);
        let mut got = run(&mut self.engine, &self.clock, op);
        let at = self.clock.now_ms();
        let top = self.history.last_mut().unwrap();
        top.next_at = Some(at);
        top.declares = match *op {
            Op::Receive(s, ..) if !top.model.known[s] => Some(s),
            _ => None,
        };
        if let Op::Advance(_) = op {
            // The host's sweeper sees the time pass (as the model does: a
            // hold due is ended, and stays ended if the clock goes back).
            self.engine.expire_due(at);
            if self.engine.flush().is_err() && self.mode == Durability::Sync {
                got = Err("E_STORAGE");
            }
        }
        if got == Err("E_STORAGE") {
            self.crash_in_flight(Some(op), next);
            return Err(());
        }
        if got != want {
            self.fail(format_args!("{op:?} gave {got:?}, the model {want:?}"));
        }
        self.model = next;
        self.history
            .push(Entry::new(self.model.clone(), self.engine.snapshot()));
        if self.mode == Durability::Sync {
            self.floor_kill = self.top();
            self.floor_power = self.top();
        }
        if got.is_ok() && matches!(op, Op::Hold { .. } | Op::Commit(..) | Op::TillSale(..)) {
            self.acked.push((self.top(), op.clone(), got.clone()));
        }
        Ok(got)
    }

    /// The storage failed under a call: the process dies (a kill or a power
    /// loss), and the call's own state is a candidate too.
    fn crash_in_flight(&mut self, op: Option<&Op>, model_after: Model) {
        self.stats.faults_hit += 1;
        let mut in_flight = Entry::new(model_after, self.engine.snapshot());
        in_flight.next_at = self.history.last().unwrap().next_at;
        let power = self.rng.random_bool(0.5);
        self.crash(power, Some(in_flight));
        // Its client never heard back and sends it again.
        if let Some(op @ (Op::Hold { .. } | Op::Commit(..) | Op::TillSale(..))) = op {
            let _ = self.call(op);
        }
    }

    /// What an engine restored from `snap` holds after the first records
    /// of the next call (its sweep at `at`, a SKU it `declare`s), and then
    /// after an open now (which expires what is due).
    fn candidate(
        &self,
        snap: &Snapshot,
        at: Option<u64>,
        declare: Option<usize>,
    ) -> (Snapshot, Snapshot) {
        let now = self.clock.now_ms();
        let clock = Arc::new(ManualClock::new(at.unwrap_or(now)));
        let e = Engine::restore(snap.clone(), config(&clock)).unwrap();
        if let Some(t) = at {
            e.expire_due(t);
        }
        if let Some(s) = declare {
            e.declare_sku(SKUS[s], SkuSpec::default()).unwrap();
        }
        let before_open = e.snapshot();
        clock.set(now);
        e.expire_due(now);
        (before_open, e.snapshot())
    }

    /// The process dies; the engine reopens on what storage keeps, and must
    /// equal one of the states the auditor allows: an acknowledged state
    /// from the floor up, or the call in flight; each as it is or with the
    /// first records of the call after it.
    fn crash(&mut self, power: bool, in_flight: Option<Entry>) {
        self.stats.crashes += 1;
        let kept = if power {
            self.storage.crashed()
        } else {
            self.storage.killed()
        };
        // The dead engine closes onto storage nothing reads again.
        self.storage = kept;
        let engine = match open(&self.storage, &self.clock, self.mode) {
            Ok(e) => e,
            Err(err) => {
                let files: Vec<(String, usize)> = self
                    .storage
                    .names()
                    .into_iter()
                    .map(|n| {
                        let len = self.storage.bytes(&n).len();
                        (n, len)
                    })
                    .collect();
                self.fail(format_args!("reopen after a crash: {err}; files {files:?}"))
            }
        };
        self.engine = engine;
        let got = self.engine.snapshot();
        // What the open recovered, before it expired what was due: the
        // snapshot it wrote, or the one it loaded with nothing to replay.
        let pre = self.latest_snapshot();
        let floor = if power {
            self.floor_power
        } else {
            self.floor_kill
        };
        let now = self.clock.now_ms();
        let top = self.top();
        let mut tried = 0;
        // In flight first, then the latest acknowledged state down.
        for (keep, entry, flying) in in_flight.iter().map(|e| (top + 1, e, true)).chain(
            (floor..=top)
                .rev()
                .map(|k| (k + 1, &self.history[k], false)),
        ) {
            if entry.snap.seq() > got.seq() {
                continue;
            }
            let mut variants = vec![(None, None)];
            if entry.next_at.is_some() {
                variants.push((entry.next_at, None));
                if entry.declares.is_some() {
                    variants.push((entry.next_at, entry.declares));
                }
            }
            for (at, declare) in variants {
                tried += 1;
                let (before_open, after) = self.candidate(&entry.snap, at, declare);
                if after != got {
                    continue;
                }
                let mut model = entry.model.clone();
                if let Some(t) = at {
                    model.now = t;
                    model.expire();
                }
                if let Some(s) = declare {
                    model.known[s] = true;
                }
                // The open wrote `pre`: this state, or one on the way to it
                // (a sweep of several holds cut short; the open ended the
                // rest at the same time).
                let moved = flying || before_open != entry.snap || before_open != pre;
                let before = moved.then(|| Entry {
                    next_at: Some(now),
                    ..Entry::new(self.model_of(&pre, &model), pre.clone())
                });
                if at.is_some() {
                    self.stats.cut_mid_call += 1;
                }
                if flying {
                    self.stats.in_flight_kept += 1;
                } else {
                    self.stats.in_flight_lost += in_flight.is_some() as usize;
                    self.stats.lost_acknowledged += top + 1 - keep;
                }
                model.now = now;
                model.expire();
                return self.recovered(keep, before, model, got);
            }
        }
        self.fail(format_args!(
            "after a {} the engine (seq {}) equals none of the {tried} states the mode allows: acknowledged entries {floor}..={top} (seqs {}..={}){}",
            if power { "power loss" } else { "kill" },
            got.seq(),
            self.history[floor].snap.seq(),
            self.history[top].snap.seq(),
            if in_flight.is_some() {
                ", or the call in flight"
            } else {
                ""
            }
        ));
    }

    /// The model of `snap`, a state on the way to `model`'s: holds `model`
    /// has expired that `snap` still has active (a sweep the crash cut
    /// short) are active again. Its levels must be `snap`'s.
    fn model_of(&self, snap: &Snapshot, model: &Model) -> Model {
        // A clock at 0 expires nothing as the state is read.
        let e = Engine::restore(snap.clone(), config(&Arc::new(ManualClock::new(0)))).unwrap();
        let mut m = model.clone();
        for (&id, h) in &model.holds {
            let active = e
                .hold_info(&hold_id(id))
                .is_ok_and(|v| v.state == HoldState::Active);
            if h.state == St::Expired && active {
                m.holds.get_mut(&id).unwrap().state = St::Active;
                for &(s, l, q) in &h.parts {
                    m.lv(s, l).reserved += q;
                }
            }
        }
        assert_state(&e, &m, &"the state the open wrote");
        m
    }

    fn latest_snapshot(&self) -> Snapshot {
        let name = self
            .storage
            .names()
            .into_iter()
            .filter(|n| n.starts_with("snapshot-"))
            .max()
            .expect("a snapshot: the first is written at setup");
        unistock::durable::decode_snapshot(&self.storage.bytes(&name), &name).unwrap()
    }

    /// The reopened engine went back to the state after the first `keep`
    /// entries, or to `before` (a call cut after its first records, or the
    /// call in flight), and then expired what was due (`model`, `snap`):
    /// later acknowledgements are forgotten (their clients send them
    /// again), and the state before the open's expiries is the new floor
    /// (the open wrote a snapshot of it; the expiries are its own records).
    fn recovered(&mut self, keep: usize, before: Option<Entry>, model: Model, snap: Snapshot) {
        self.history.truncate(keep);
        let (kept, lost) = std::mem::take(&mut self.acked)
            .into_iter()
            .partition(|(i, ..)| *i < keep);
        self.acked = kept;
        self.lost.extend(lost.into_iter().map(|(_, op, _)| op));
        match before {
            Some(before) => self.history.push(before),
            None => {
                let open = self.history.last_mut().unwrap();
                open.next_at = Some(self.clock.now_ms());
                open.declares = None;
            }
        }
        self.floor_kill = self.top();
        self.floor_power = self.top();
        self.model = model;
        self.history.push(Entry::new(self.model.clone(), snap));
        assert_state(&self.engine, &self.model, &"recovery");
        self.retry_some(3);
        for _ in 0..2 {
            let Some(op) = self.lost.pop() else { break };
            if self.call(&op).is_err() {
                return;
            }
            self.stats.retries_lost += 1;
        }
    }

    /// Sends up to `n` acknowledged requests again: each that survived
    /// returns its original result.
    fn retry_some(&mut self, n: usize) {
        for _ in 0..n {
            if self.acked.is_empty() {
                return;
            }
            let (_, op, first) = self.acked[self.rng.random_range(0..self.acked.len())].clone();
            match self.call(&op) {
                Ok(got) if got != first => self.fail(format_args!(
                    "retry of {op:?} gave {got:?}, first {first:?}"
                )),
                Ok(_) => self.stats.retries_kept += 1,
                Err(()) => return,
            }
        }
    }

    fn run_step(&mut self, step: Step) {
        match step {
            Step::Model(op) => {
                let _ = self.call(&op);
            }
            Step::Retry => self.retry_some(1),
            Step::CommitAtExpiry { delta, order } => {
                let active: Vec<(usize, u64)> = self
                    .model
                    .holds
                    .iter()
                    .filter(|(_, h)| h.state == St::Active)
                    .map(|(id, h)| (*id, h.expires))
                    .collect();
                if active.is_empty() {
                    return;
                }
                let (hold, expires) = active[self.rng.random_range(0..active.len())];
                let to = expires.saturating_add_signed(delta);
                let now = self.clock.now_ms();
                let jump = if to >= now {
                    Op::Advance(to - now)
                } else {
                    Op::Rewind(now - to)
                };
                if self.call(&jump).is_err() {
                    return;
                }
                if let Ok(got) = self.call(&Op::Commit(hold, order)) {
                    // The model decided; this only counts both sides seen.
                    let refused = got == Err("E_HOLD_NOT_ACTIVE");
                    self.stats.expiry_commits[refused as usize] += 1;
                }
            }
            Step::Flush => match self.engine.flush() {
                Ok(()) => {
                    self.floor_kill = self.top();
                    if self.mode != Durability::None {
                        self.floor_power = self.top();
                    }
                }
                Err(_) => self.crash_in_flight(None, self.model.clone()),
            },
            Step::Checkpoint => match self.engine.checkpoint() {
                Ok(_) => {
                    self.floor_kill = self.top();
                    self.floor_power = self.top();
                }
                Err(_) => self.crash_in_flight(None, self.model.clone()),
            },
            Step::Restart => {
                if let Err(err) = self.engine.close() {
                    // The storage failed under the close's flush.
                    assert_eq!(err.code(), "E_STORAGE");
                    return self.crash_in_flight(None, self.model.clone());
                }
                self.floor_kill = self.top();
                if self.mode != Durability::None {
                    self.floor_power = self.top();
                }
                self.crash(false, None);
            }
            Step::PowerLoss => self.crash(true, None),
            Step::Kill => self.crash(false, None),
            Step::Fault { fsync, n } => {
                if fsync {
                    self.storage.fail_sync_after(n);
                } else {
                    self.storage.fail_write_after(n);
                }
            }
        }
    }

    fn run(mut self, steps: usize) -> Stats {
        for _ in 0..steps {
            self.stats.steps += 1;
            let step = self.step();
            if std::env::var("UNISTOCK_SIM_TRACE").is_ok() {
                eprintln!(
                    "step {} {step:?} top {} floors {}/{} seq {}",
                    self.stats.steps,
                    self.top(),
                    self.floor_kill,
                    self.floor_power,
                    self.engine.last_seq()
                );
            }
            self.run_step(step);
            if self.history.len() > 64 {
                // Entries below both floors can never be recovered to.
                let keep = self.floor_kill.min(self.floor_power);
                self.history.drain(..keep);
                self.floor_kill -= keep;
                self.floor_power -= keep;
                self.acked
                    .iter_mut()
                    .for_each(|(i, ..)| *i = i.saturating_sub(keep));
            }
        }
        assert_state(&self.engine, &self.model, &"the end");
        common::assert_ledger_folds(&self.engine);
        self.stats
    }
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn every_crash_recovers_to_a_state_the_mode_allows() {
    let seeds: Vec<u64> = match env("UNISTOCK_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (1..=env("UNISTOCK_SIM_SEEDS").unwrap_or(48)).collect(),
    };
    let mut total = Stats::default();
    for &seed in &seeds {
        let run = std::panic::catch_unwind(|| Sim::new(seed).run(STEPS));
        let s = run.unwrap_or_else(|_| {
            panic!("seed {seed} failed (above); replay: UNISTOCK_SIM_SEED={seed} cargo test -p unistock --test simulation")
        });
        total.steps += s.steps;
        total.crashes += s.crashes;
        total.lost_acknowledged += s.lost_acknowledged;
        total.in_flight_kept += s.in_flight_kept;
        total.in_flight_lost += s.in_flight_lost;
        total.faults_hit += s.faults_hit;
        total.retries_kept += s.retries_kept;
        total.retries_lost += s.retries_lost;
        total.cut_mid_call += s.cut_mid_call;
        for i in 0..2 {
            total.expiry_commits[i] += s.expiry_commits[i];
        }
    }
    eprintln!("{} seeds: {total:?}", seeds.len());
    if seeds.len() >= 48 {
        // The run reached what it exists to reach.
        assert!(total.crashes > 100, "{total:?}");
        assert!(total.lost_acknowledged > 0, "{total:?}");
        assert!(
            total.in_flight_kept > 0 && total.in_flight_lost > 0,
            "{total:?}"
        );
        assert!(
            total.retries_kept > 50 && total.retries_lost > 0,
            "{total:?}"
        );
        assert!(total.expiry_commits.iter().all(|&n| n > 10), "{total:?}");
    }
}
