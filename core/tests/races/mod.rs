//! The races both model checkers run (`tests/shuttle.rs`, `tests/loom.rs`):
//! each scenario builds an engine, races its threads and checks the
//! outcome, once per schedule the checker picks. Threads come from the
//! checker the crate is built for (`--cfg shuttle` or `--cfg loom`), whose
//! locks the engine then takes too (`src/sync.rs`).
//!
//! Scenarios: the last unit raced by `n` carts; crossed multi-line holds
//! (A+B against B+A: no deadlock, never a partial hold); a commit racing
//! the expiry sweep (the hold ends exactly once, either way); a retry
//! racing its original (one hold, the same answer twice).

#[cfg(loom)]
use loom::thread;
#[cfg(shuttle)]
use shuttle::thread;
use std::sync::Arc;
use unistock::*;

/// An engine with one warehouse and a web channel; `stock` units of each
/// SKU named. Few stripes and shards: a sweep locks each in turn, and
/// every lock is a point where the checker may switch threads (fewer
/// points, fewer schedules to search).
fn engine(clock: &Arc<ManualClock>, stock: &[(&str, i64)]) -> Arc<Engine> {
    engine_with(clock, stock, 2)
}

fn engine_with(clock: &Arc<ManualClock>, stock: &[(&str, i64)], shards: usize) -> Arc<Engine> {
    let e = Engine::with_config(Config {
        stripes: 4,
        shards,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::warehouse("w")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["w"])).unwrap();
    for &(sku, n) in stock {
        e.receive(sku, "w", n.into(), Note::default()).unwrap();
    }
    Arc::new(e)
}

fn hold(e: &Engine, id: &str, skus: &[&str], ttl_ms: u64) -> Result<HoldReceipt> {
    let lines: Vec<HoldLine<'_>> = skus.iter().map(|s| HoldLine::new(s, 1)).collect();
    e.hold(&HoldRequest::new(id, "web", &lines, ttl_ms).bind_now())
}

/// Runs `f(engine, i)` on `n` threads at once; their results in order.
fn race<T: Send + 'static>(
    e: &Arc<Engine>,
    n: usize,
    f: impl Fn(&Engine, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (e, f) = (e.clone(), f.clone());
            thread::spawn(move || f(&e, i))
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn reserved(e: &Engine, sku: &str) -> i64 {
    e.levels(sku, "w").unwrap().reserved.as_units().unwrap()
}

/// `carts` carts race for the last unit: exactly one gets it, the others
/// are refused for stock (and counted).
pub fn the_last_unit_goes_to_one_cart(carts: usize) {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = engine(&clock, &[("a", 1)]);
    let results = race(&e, carts, |e, i| hold(e, &format!("c{i}"), &["a"], 60_000));
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(Error::InsufficientStock { .. })),
            "{r:?}"
        );
    }
    assert_eq!(reserved(&e, "a"), 1);
    assert_eq!(e.kpis().holds_refused, carts as u64 - 1);
}

/// Carts holding the first `carts` (2 or 3) of A+B, B+A and C+B, one unit
/// of each SKU: no deadlock, and never a partial hold.
pub fn crossed_multi_line_holds_never_deadlock_or_hold_part(carts: usize) {
    let clock = Arc::new(ManualClock::new(1_000));
    // One unit each: every cart wants `b`. A hold locks its id's shard
    // around its stripes: with many shards the carts' ids fall in
    // different ones (the planted lock-order bug checks they do), so only
    // the stripes' order keeps them from deadlocking.
    let e = engine_with(&clock, &[("a", 1), ("b", 1), ("c", 1)], 1024);
    let orders: [&[&str]; 3] = [&["a", "b"], &["b", "a"], &["c", "b"]];
    let won = race(&e, carts, move |e, i| {
        hold(e, &format!("x{i}"), orders[i], 60_000).is_ok()
    });
    // `b` is in every cart: exactly one gets it, and with it all its other
    // lines; the others hold nothing.
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert_eq!(reserved(&e, "b"), 1);
    let a = i64::from(won[0] || won[1]);
    let c = i64::from(won.get(2) == Some(&true));
    assert_eq!((reserved(&e, "a"), reserved(&e, "c")), (a, c));
}

/// A commit races the expiry sweep of its hold: the hold ends exactly
/// once, as an order or as an expiry.
pub fn a_commit_racing_the_expiry_sweep_ends_the_hold_once() {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = engine(&clock, &[("a", 5)]);
    hold(&e, "h", &["a"], 100).unwrap();
    let buyer = {
        let e = e.clone();
        thread::spawn(move || e.commit("h", "o-1"))
    };
    let sweeper = {
        let (e, clock) = (e.clone(), clock.clone());
        thread::spawn(move || {
            clock.advance(100);
            e.expire_due(clock.now_ms())
        })
    };
    let committed = buyer.join().unwrap();
    let expired = sweeper.join().unwrap();
    let k = e.kpis();
    match &committed {
        Ok(_) => {
            assert_eq!((expired, k.holds_committed, k.holds_expired), (0, 1, 0));
            assert_eq!(e.levels("a", "w").unwrap().allocated, 1.into());
        }
        Err(Error::HoldNotActive { .. }) => {
            // Expired by the sweep, or by the commit's own sweep before the
            // sweeper got there.
            assert_eq!((k.holds_committed, k.holds_expired), (0, 1));
            assert_eq!(e.levels("a", "w").unwrap().allocated, 0.into());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reserved(&e, "a"), 0);
    assert_eq!(e.levels("a", "w").unwrap().on_hand, 5.into());
}

/// A retry races its original: one hold, and the same answer to both (one
/// of them a replay).
pub fn a_retry_racing_its_original_makes_one_hold() {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = engine(&clock, &[("a", 5)]);
    let receipts = race(&e, 2, |e, _| hold(e, "same", &["a"], 60_000).unwrap());
    let replays = receipts.iter().filter(|r| r.replayed).count();
    assert_eq!(replays, 1, "{receipts:?}");
    assert_eq!(receipts[0].parts, receipts[1].parts);
    assert_eq!(e.kpis().holds_created, 1);
    assert_eq!(reserved(&e, "a"), 1);
}
