//! Real threads against the engine: no oversell on a hot SKU, no deadlock
//! and no partial state for crossed multi-line holds, units conserved.
//! `UNISTOCK_STRESS` scales the rounds (CI runs the default).

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;
use unistock::*;

fn scale() -> u64 {
    env_or("UNISTOCK_STRESS", 1)
}

/// Joins all threads or fails the test as a deadlock after `secs`.
fn join_or_deadlock(handles: Vec<thread::JoinHandle<()>>, secs: u64) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for h in handles {
            h.join().expect("worker panicked");
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("threads did not finish: deadlock");
}

#[test]
fn hot_sku_grants_exactly_the_stock() {
    let (e, _) = shop();
    let e = Arc::new(e);
    let stock = 1_000 * scale() as i64;
    receive(&e, "hot", "wh-1", stock);
    let granted = Arc::new(AtomicI64::new(0));
    let bound = Arc::new(AtomicI64::new(0));
    let threads = 8;
    let handles = (0..threads)
        .map(|t| {
            let (e, granted, bound) = (e.clone(), granted.clone(), bound.clone());
            thread::spawn(move || {
                let lines = [HoldLine::new("hot", 1)];
                for i in 0..(stock / 4) {
                    let id = format!("t{t}-{i}");
                    // Half the threads bind at once, half claim the pool.
                    let mut req = HoldRequest::new(&id, "web", &lines, 60_000);
                    if t % 2 == 0 {
                        req = req.bind_now();
                    }
                    match e.hold(&req) {
                        Ok(_) => {
                            granted.fetch_add(1, Ordering::Relaxed);
                            if t % 2 == 0 {
                                bound.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(err) => assert_eq!(err.code(), "E_INSUFFICIENT_STOCK"),
                    }
                }
            })
        })
        .collect();
    join_or_deadlock(handles, 120);
    assert_eq!(
        granted.load(Ordering::Relaxed),
        stock,
        "exactly the stock is granted"
    );
    let bound = bound.load(Ordering::Relaxed);
    assert_eq!(e.levels("hot", "wh-1").unwrap().reserved, bound.into());
    assert_eq!(e.availability("web", "hot").unwrap(), 0.into());
    let pooled: i64 = e
        .levels_as_folded()
        .iter()
        .filter(|(k, _)| k.1 == LocationId::POOL)
        .map(|(_, l)| l.pooled)
        .sum();
    assert_eq!(bound + pooled, stock, "every unit bound or claimed once");
    let k = e.kpis();
    assert_eq!(k.holds_created as i64, stock);
    assert_eq!(k.holds_refused as i64, threads * stock / 4 - stock);
    assert_ledger_folds(&e);
}

#[test]
fn crossed_multi_line_holds_never_deadlock_or_show_partial_state() {
    let clock = Arc::new(ManualClock::new(T0));
    // Many stripes so that A and B surely live in different ones.
    let e = Arc::new(Engine::with_config(Config {
        stripes: 64,
        ledger_retention: None,
        ..Config::with_clock(clock)
    }));
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh"])).unwrap();
    receive(&e, "A", "wh", 3);
    receive(&e, "B", "wh", 3);
    let (a, b) = (e.sku_id("A").unwrap().0, e.sku_id("B").unwrap().0);
    assert_ne!(a.index() % 64, b.index() % 64);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = 3_000 * scale();
    let mut handles: Vec<thread::JoinHandle<()>> = (0..4)
        .map(|t| {
            let e = e.clone();
            thread::spawn(move || {
                let ab = [HoldLine::new("A", 1), HoldLine::new("B", 1)];
                let ba = [HoldLine::new("B", 1), HoldLine::new("A", 1)];
                for i in 0..rounds {
                    let id = format!("t{t}-{i}");
                    let lines = if t % 2 == 0 { &ab } else { &ba };
                    if e.hold(&HoldRequest::new(&id, "web", lines, 60_000)).is_ok() {
                        e.release(&id).unwrap();
                    }
                }
            })
        })
        .collect();
    let observer = {
        let (e, stop) = (e.clone(), stop.clone());
        thread::spawn(move || {
            let mut cuts = 0u64;
            while !stop.load(Ordering::Relaxed) || cuts == 0 {
                let cut = e.levels_as_folded();
                let res = |sku| {
                    cut.iter()
                        .filter(|((s, _), _)| *s == sku)
                        .map(|(_, l)| l.reserved)
                        .sum::<i64>()
                };
                assert_eq!(res(a), res(b), "a hold was visible on one SKU only");
                assert!(res(a) <= 3);
                cuts += 1;
            }
        })
    };
    let workers = std::mem::take(&mut handles);
    join_or_deadlock(workers, 120);
    stop.store(true, Ordering::Relaxed);
    observer.join().unwrap();
    assert_eq!(e.levels("A", "wh").unwrap().reserved, 0.into());
    assert_ledger_folds(&e);
}

#[test]
fn units_are_conserved_under_mixed_load() {
    let (e, _) = shop();
    let e = Arc::new(e);
    let skus = ["s0", "s1", "s2", "s3", "s4"];
    for s in skus {
        receive(&e, s, "wh-1", 50);
        receive(&e, s, "store-1", 20);
    }
    let received = Arc::new(AtomicI64::new(350));
    let shipped = Arc::new(AtomicI64::new(0));
    let seq_orders = Arc::new(AtomicU64::new(0));
    let rounds = 2_000 * scale();
    let handles = (0..6)
        .map(|t| {
            let (e, received, shipped, seq_orders) = (
                e.clone(),
                received.clone(),
                shipped.clone(),
                seq_orders.clone(),
            );
            thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for i in 0..rounds {
                    let s1 = skus[(next() % 5) as usize];
                    let s2 = skus[(next() % 5) as usize];
                    let id = format!("t{t}-{i}");
                    match next() % 6 {
                        0 => {
                            e.receive(s1, "wh-1", 2.into(), Note::default()).unwrap();
                            received.fetch_add(2, Ordering::Relaxed);
                        }
                        1 => {
                            if e.till_sale(&id, "till:store-1", &[HoldLine::new(s1, 1)])
                                .is_ok()
                            {
                                shipped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            let lines = [HoldLine::new(s1, 1), HoldLine::new(s2, 2)];
                            if e.hold(&HoldRequest::new(&id, "web", &lines, 60_000))
                                .is_err()
                            {
                                continue;
                            }
                            if next() % 3 == 0 {
                                e.release(&id).unwrap();
                                continue;
                            }
                            let order = format!("o{}", seq_orders.fetch_add(1, Ordering::Relaxed));
                            e.commit(&id, &order).unwrap();
                            if next() % 4 == 0 {
                                e.cancel_order(&order).unwrap();
                            } else {
                                e.fulfil(&order, &[OrderLine::new(s1, 1)]).unwrap();
                                e.fulfil(&order, &[OrderLine::new(s2, 2)]).unwrap();
                                shipped.fetch_add(3, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    join_or_deadlock(handles, 300);
    let on_hand: i64 = skus
        .iter()
        .flat_map(|s| {
            ["wh-1", "wh-2", "store-1"].map(|l| e.levels(s, l).unwrap().on_hand.as_units().unwrap())
        })
        .sum();
    assert_eq!(
        on_hand,
        received.load(Ordering::Relaxed) - shipped.load(Ordering::Relaxed),
        "units conserved"
    );
    for s in skus {
        for l in ["wh-1", "wh-2", "store-1"] {
            let lv = e.levels(s, l).unwrap();
            assert_eq!((lv.reserved, lv.allocated), (0.into(), 0.into()), "{s}@{l}");
        }
    }
    assert_ledger_folds(&e);
}

/// A reader of the ledger sees a SKU's declaration the moment it is
/// numbered, a moment before the SKU's name is listed: the read must wait
/// for the name, never fail or panic on it.
#[test]
fn ledger_readers_see_skus_declared_meanwhile_by_name() {
    let e = Arc::new(Engine::new());
    let n = 20_000 * scale() as usize;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (e, done) = (e.clone(), done.clone());
        thread::spawn(move || {
            let mut seen = 0usize;
            while !done.load(Ordering::Acquire) {
                let last = e.last_seq();
                for ev in e.events_since(last.saturating_sub(4), 4).unwrap() {
                    if ev.kind == EventKind::SkuDeclared {
                        assert!(ev.sku.as_deref().is_some_and(|s| s.starts_with("s-")));
                        seen += 1;
                    }
                }
            }
            seen
        })
    };
    for i in 0..n {
        e.declare_sku(&format!("s-{i}"), SkuSpec::default())
            .unwrap();
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0, "the reader saw declarations");
}
