//! Where two threads lose against one: single-line hold+release pairs/s
//! over 100,000 SKUs from one thread, from two threads on the same SKUs (as
//! in the criterion bench), and from two threads on disjoint stripes (even
//! SKU ids for one thread, odd for the other, so they share no stripe lock
//! and no stock record, only the engine's global state and hold shards).
//!
//! `cargo run --release -p unistock --example scaling_probe -- [PAIRS] [ROUNDS] [CHUNK]`
//! (defaults 2,000,000 pairs per thread and 3 rounds; the modes alternate
//! within each round, compare ratios within a round). With CHUNK the two
//! threads are spawned afresh for every CHUNK pairs each, as a criterion
//! sample that spawns its threads does: 20,000 pairs (about 25 ms) gave
//! 1.31-1.36x one thread where long-lived threads gave 1.53-1.69x (likely
//! the scheduler leaving a new thread on its parent's core for a while; not
//! traced). With `SAMPLED=1` set, each round also runs two long-lived
//! threads handed samples of 1,000, 10,000 and 100,000 pairs each over a
//! channel, as the criterion bench does.
use std::sync::Arc;
use std::time::Instant;
use unistock::*;

#[path = "../benches/common/holds_rig.rs"]
mod holds_rig;
use holds_rig::stock_shop;

const SKUS: usize = 100_000;

fn rig() -> (Arc<Engine>, Arc<ManualClock>, Vec<String>) {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let config = Config {
        hold_retention_ms: 1_000,
        ..Config::with_clock(clock.clone())
    };
    let e = Arc::new(Engine::with_config(config));
    let names = stock_shop(&e, SKUS);
    (e, clock, names)
}

/// `n` pairs, each on SKU `pick(k)` where `k` strides over all SKUs as in
/// the criterion bench.
fn run(
    e: &Engine,
    clock: &ManualClock,
    names: &[String],
    ids: &[String],
    n: usize,
    pick: impl Fn(usize) -> usize,
) {
    let mut k = 0usize;
    for i in 0..n {
        k = (k + 7919) % SKUS;
        let id = &ids[i & 0xffff];
        if i & 0xffff == 0xffff {
            clock.advance(2_000);
        }
        let lines = [HoldLine::new(&names[pick(k)], 1)];
        e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .unwrap();
        e.release(id).unwrap();
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let n = args.next().unwrap_or(2_000_000);
    let rounds = args.next().unwrap_or(3);
    // Pairs per thread per spawn (default: all of them in one spawn).
    let chunk = args.next().unwrap_or(n);
    let (e, clock, names) = rig();
    let pools: Vec<Vec<String>> = (0..2)
        .map(|t| (0..1 << 16).map(|i| format!("t{t}-{i:x}")).collect())
        .collect();
    // Warm up: every SKU and id touched once.
    run(&e, &clock, &names, &pools[0], 1 << 17, |k| k);
    for round in 0..rounds {
        clock.advance(2_000);
        let t = Instant::now();
        run(&e, &clock, &names, &pools[0], n, |k| k);
        let one = n as f64 / t.elapsed().as_secs_f64();
        let two = |disjoint: bool| {
            clock.advance(2_000);
            let t = Instant::now();
            for _ in 0..n / chunk {
                clock.advance(2_000);
                std::thread::scope(|s| {
                    for (th, ids) in pools.iter().enumerate() {
                        let (e, clock, names) = (&e, &clock, &names);
                        s.spawn(move || {
                            if disjoint {
                                run(e, clock, names, ids, chunk, |k| (k & !1) | th)
                            } else {
                                run(e, clock, names, ids, chunk, |k| (k + th * 50_000) % SKUS)
                            }
                        });
                    }
                });
            }
            2.0 * n as f64 / t.elapsed().as_secs_f64()
        };
        if std::env::var_os("SAMPLED").is_some() {
            for size in [1_000, 10_000, 100_000] {
                let r = sampled(&e, &clock, &names, &pools, size, n);
                println!("  sampled {size:>7}: {r:>9.0} pairs/s ({:.2}x)", r / one);
            }
        }
        let shared = two(false);
        let disjoint = two(true);
        println!(
            "round {round}: 1 thread {one:>9.0} pairs/s; 2 threads shared SKUs {shared:>9.0} ({:.2}x); disjoint stripes {disjoint:>9.0} ({:.2}x)",
            shared / one,
            disjoint / one
        );
    }
}

/// Long-lived workers handed samples of `size` pairs each over a channel,
/// as the criterion bench does; pairs/s over `total` pairs per thread.
fn sampled(
    e: &Engine,
    clock: &ManualClock,
    names: &[String],
    pools: &[Vec<String>],
    size: usize,
    total: usize,
) -> f64 {
    use std::sync::mpsc;
    let (done_tx, done) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let txs: Vec<mpsc::Sender<usize>> = pools
            .iter()
            .enumerate()
            .map(|(th, ids)| {
                let (tx, rx) = mpsc::channel::<usize>();
                let done_tx = done_tx.clone();
                s.spawn(move || {
                    let mut base = 0usize;
                    for n in rx {
                        let mut k = (base * 7919 + th * 50_000) % SKUS;
                        for j in 0..n {
                            k = (k + 7919) % SKUS;
                            let i = base + j;
                            let id = &ids[i & 0xffff];
                            if i & 0xffff == 0xffff {
                                clock.advance(2_000);
                            }
                            let lines = [HoldLine::new(&names[k], 1)];
                            e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
                                .unwrap();
                            e.release(id).unwrap();
                        }
                        base += n;
                        done_tx.send(()).unwrap();
                    }
                });
                tx
            })
            .collect();
        clock.advance(2_000);
        let t = Instant::now();
        for _ in 0..total / size {
            for tx in &txs {
                tx.send(size).unwrap();
            }
            for _ in &txs {
                done.recv().unwrap();
            }
        }
        let rate = 2.0 * (total / size * size) as f64 / t.elapsed().as_secs_f64();
        drop(txs);
        rate
    })
}
