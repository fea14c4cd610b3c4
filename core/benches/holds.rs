//! Hot-path benchmarks, with a naive global `Mutex<HashMap>` doing the same
//! check-and-reserve in the same run as the baseline.
//!
//! Run: `cargo bench -p unistock --bench holds`. The uniform workload cycles
//! over 100,000 SKUs; every hold is followed by its release so stock stays
//! constant. Hold ids are unique, and ended holds are retained for
//! idempotency (the bench clock advances so that retention purges run).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::mpsc;
use unistock::*;

#[path = "common/holds_rig.rs"]
mod holds_rig;
use holds_rig::{Naive, stock_shop};

const SKUS: usize = 100_000;

struct Rig {
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    names: Vec<String>,
    ids: Vec<String>,
}

fn rig(skus: usize) -> Rig {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let config = Config {
        hold_retention_ms: 1_000,
        ..Config::with_clock(clock.clone())
    };
    let engine = Arc::new(Engine::with_config(config));
    let names = stock_shop(&engine, skus);
    let ids = (0..1 << 16).map(|i| format!("h{i:x}")).collect();
    Rig {
        engine,
        clock,
        names,
        ids,
    }
}

fn hold_release(r: &Rig, i: &mut u64, sku: &str) {
    let id = &r.ids[(*i & 0xffff) as usize];
    *i += 1;
    if *i & 0xffff == 0 {
        // A new round of ids: let the previous round's retention lapse.
        r.clock.advance(2_000);
    }
    let lines = [HoldLine::new(sku, 1)];
    black_box(
        r.engine
            .hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .unwrap(),
    );
    r.engine.release(id).unwrap();
}

fn single_thread(c: &mut Criterion) {
    let r = rig(SKUS);
    let naive = Naive::new(&r.names);
    let mut g = c.benchmark_group("hold+release/1 thread");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("unistock hot sku", |b| {
        b.iter(|| hold_release(&r, &mut i, &r.names[0]))
    });
    g.bench_function("naive mutex hot sku", |b| {
        b.iter(|| {
            assert!(naive.hold(&r.names[0], 1));
            naive.release(&r.names[0], 1);
        })
    });
    let mut k = 0usize;
    g.bench_function("unistock uniform 100k", |b| {
        b.iter(|| {
            k = (k + 7919) % SKUS;
            hold_release(&r, &mut i, &r.names[k]);
        })
    });
    g.bench_function("naive mutex uniform 100k", |b| {
        b.iter(|| {
            k = (k + 7919) % SKUS;
            assert!(naive.hold(&r.names[k], 1));
            naive.release(&r.names[k], 1);
        })
    });
    g.bench_function("unistock 5-line hold", |b| {
        b.iter(|| {
            k = (k + 7919) % (SKUS - 5);
            let id = &r.ids[(i & 0xffff) as usize];
            i += 1;
            if i & 0xffff == 0 {
                r.clock.advance(2_000);
            }
            let lines: [HoldLine<'_>; 5] =
                std::array::from_fn(|j| HoldLine::new(&r.names[k + j], 1));
            black_box(
                r.engine
                    .hold(&HoldRequest::new(id, "web", &lines, 900_000))
                    .unwrap(),
            );
            r.engine.release(id).unwrap();
        })
    });
    g.bench_function("unistock availability read", |b| {
        b.iter(|| {
            k = (k + 7919) % SKUS;
            black_box(r.engine.availability("web", &r.names[k]).unwrap())
        })
    });
    g.finish();
    // Every hold timed above was a new hold, not a replay of a retained id.
    let created = || r.engine.kpis().holds_created;
    assert_eq!(created(), i, "every single hold timed was a new hold");

    // Batches of 1,000 new holds over the 100,000 SKUs, as the uniform
    // single-line bench: every id is new (a reused id within the retention
    // window would be a replay, and the batch would time replays), checked
    // against the engine's count of holds created.
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(1000));
    let before = created();
    let mut n = 0usize;
    let mut batches = 0u64;
    g.bench_function("unistock hold_batch 1000 + release_batch", |b| {
        b.iter_batched(
            || {
                r.clock.advance(2_000);
                let items: Vec<_> = (n..n + 1000)
                    .map(|j| (format!("b{j:x}"), (j * 7919) % SKUS))
                    .collect();
                n += 1000;
                items
            },
            |items| {
                batches += 1;
                let lines: Vec<[HoldLine<'_>; 1]> = items
                    .iter()
                    .map(|(_, s)| [HoldLine::new(&r.names[*s], 1)])
                    .collect();
                let reqs: Vec<HoldRequest<'_>> = items
                    .iter()
                    .zip(&lines)
                    .map(|((id, _), l)| HoldRequest::new(id, "web", l, 900_000))
                    .collect();
                black_box(r.engine.hold_batch(&reqs));
                let ids: Vec<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
                black_box(r.engine.release_batch(&ids));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    assert_eq!(
        created() - before,
        batches * 1000,
        "every hold the batch bench timed was a new hold"
    );
}

/// A long-lived bench thread: where its samples are sent (iterations, and
/// whether to run the naive baseline), and its handle.
/// The thread returns how many holds it made.
type Worker = (mpsc::Sender<(u64, bool)>, std::thread::JoinHandle<u64>);

/// Two threads on the uniform workload: each `iter` is one hold+release per
/// thread, so elements = 2 per iteration. Each thread works exactly like the
/// single-thread bench (its own pool of 65,536 ids, reused once the clock
/// has let their retention lapse), so the ratio measures threading alone.
///
/// The two threads live for the whole group and are handed each sample's
/// iterations, as a server's threads live for its whole run: threads
/// spawned afresh for each short sample scaled worse (measured with
/// `examples/scaling_probe`: 1.31-1.36x one thread with a spawn per 20,000
/// pairs each, 1.53-1.69x with long-lived threads, in back-to-back runs).
fn two_threads(c: &mut Criterion) {
    let r = Arc::new(rig(SKUS));
    let naive = Arc::new(Naive::new(&r.names));
    let (done_tx, done) = mpsc::channel::<()>();
    let workers: Vec<Worker> = (0..2usize)
        .map(|t| {
            let (tx, rx) = mpsc::channel::<(u64, bool)>();
            let (r, naive, done_tx) = (r.clone(), naive.clone(), done_tx.clone());
            let ids: Vec<String> = (0..1 << 16).map(|i| format!("t{t}-{i:x}")).collect();
            let handle = std::thread::spawn(move || {
                let mut k = (t * 50_000) % SKUS;
                let mut i = 0u64;
                for (iters, use_naive) in rx {
                    for _ in 0..iters {
                        k = (k + 7919) % SKUS;
                        if use_naive {
                            assert!(naive.hold(&r.names[k], 1));
                            naive.release(&r.names[k], 1);
                            continue;
                        }
                        let id = &ids[(i & 0xffff) as usize];
                        i += 1;
                        if i & 0xffff == 0 {
                            r.clock.advance(2_000);
                        }
                        let lines = [HoldLine::new(&r.names[k], 1)];
                        black_box(
                            r.engine
                                .hold(&HoldRequest::new(id, "web", &lines, 900_000))
                                .unwrap(),
                        );
                        r.engine.release(id).unwrap();
                    }
                    done_tx.send(()).unwrap();
                }
                i
            });
            (tx, handle)
        })
        .collect();
    let mut g = c.benchmark_group("hold+release/2 threads");
    g.throughput(Throughput::Elements(2));
    for (label, use_naive) in [
        ("unistock uniform 100k", false),
        ("naive mutex uniform 100k", true),
    ] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                for (tx, _) in &workers {
                    tx.send((iters, use_naive)).unwrap();
                }
                let mut finished = 0;
                while finished < workers.len() {
                    match done.recv_timeout(std::time::Duration::from_secs(1)) {
                        Ok(()) => finished += 1,
                        // A thread that died (a failed hold) never answers.
                        Err(_) if workers.iter().any(|(_, h)| h.is_finished()) => {
                            panic!("a bench thread died")
                        }
                        Err(_) => {}
                    }
                }
                start.elapsed()
            })
        });
    }
    g.finish();
    let mut held = 0;
    for (tx, handle) in workers {
        drop(tx);
        held += handle.join().unwrap();
    }
    // Every hold timed was a new hold, not a replay of a retained id.
    assert_eq!(
        r.engine.kpis().holds_created,
        held,
        "every hold timed was new"
    );
}

criterion_group!(benches, single_thread, two_threads);
criterion_main!(benches);
