//! Routing benchmarks: 5-line orders across 100 locations.
//!
//! Run: `cargo bench -p unistock --bench routing`. 100 warehouses spread
//! over France, 1,000 SKUs each stocked at 10 random locations; each plan
//! routes 5 random SKUs to a random address with nearest + fewest
//! shipments (greedy set cover beyond 16 candidates), with priority alone
//! and the default strategies (priority, nearest) for comparison, and
//! routed then placed (allocated; the placed orders are cancelled and
//! purged between batches of 10,000, untimed, so the order book stays
//! bounded as a shop's does).
//!
//! Pool holds: one SKU with 5 units at each of the 100 locations and 470
//! of its 500 units claimed by pool holds of three channels with
//! overlapping locations (web: all 100; app: the first 50; market: the
//! last 30), web's claims made first so that the greedy start leaves app
//! and market short and augmenting paths must move them. Measured: the
//! feasibility check for one new hold (the headroom question a hold asks:
//! `availability`), and a pool hold plus its release.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use unistock::*;

#[path = "common/routing_rig.rs"]
mod rig;
use rig::{LOCS, Lcg, rig_with};

fn rig() -> (Engine, Vec<String>) {
    rig_with(Config::default())
}

fn routing(c: &mut Criterion) {
    let (e, skus) = rig();
    let mut g = c.benchmark_group("route 5 lines / 100 locations");
    g.throughput(Throughput::Elements(1));
    for (label, strategies) in [
        (
            "nearest + fewest shipments",
            vec![RouteStrategy::FewestShipments, RouteStrategy::Nearest],
        ),
        ("priority", vec![RouteStrategy::Priority]),
        (
            "priority + nearest (the default)",
            RouteOptions::default().strategies,
        ),
    ] {
        let mut r = Lcg(11);
        g.bench_function(label, |b| {
            b.iter(|| {
                let lines = rig::lines(&mut r, &skus);
                let req = RouteRequest {
                    channel: "web",
                    fulfilment: rig::ship_to(&mut r),
                    lines: &lines,
                    options: RouteOptions {
                        strategies: strategies.clone(),
                        ..RouteOptions::default()
                    },
                };
                black_box(e.route(&req).unwrap())
            })
        });
    }
    // Route + place: every order is allocated (stock is ample: 10,000 units
    // of each SKU at each of its 10 locations). Between batches of 10,000
    // (untimed), the batch's orders are cancelled and purged once their
    // retention passes, as a shop's shipped orders are: the order book
    // stays at most one batch deep instead of growing by millions over the
    // run.
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let (e, skus) = rig_with(Config {
        order_retention_ms: 1_000,
        ..Config::with_clock(clock.clone())
    });
    let mut r = Lcg(13);
    let mut n = 0u64;
    let mut placed: Vec<String> = Vec::with_capacity(10_000);
    g.bench_function("route + place, nearest + fewest shipments", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let batch = (iters - done).min(10_000);
                let t = Instant::now();
                for _ in 0..batch {
                    n += 1;
                    let order = format!("o{n}");
                    let lines = rig::lines(&mut r, &skus);
                    let req = RouteRequest {
                        channel: "web",
                        fulfilment: rig::ship_to(&mut r),
                        lines: &lines,
                        options: RouteOptions {
                            strategies: vec![
                                RouteStrategy::FewestShipments,
                                RouteStrategy::Nearest,
                            ],
                            ..RouteOptions::default()
                        },
                    };
                    black_box(e.place(&order, &req).unwrap());
                    placed.push(order);
                }
                took += t.elapsed();
                done += batch;
                for o in placed.drain(..) {
                    e.cancel_order(&o).unwrap();
                }
                clock.advance(2_000);
                e.expire_due(clock.now_ms());
            }
            took
        })
    });
    g.finish();
}

fn pool(c: &mut Criterion) {
    let (e, _) = rig();
    let locs: Vec<String> = (0..LOCS).map(|i| format!("wh-{i:03}")).collect();
    e.upsert_channel(ChannelSpec::new("app", locs[..50].to_vec()))
        .unwrap();
    e.upsert_channel(ChannelSpec::new("market", locs[70..].to_vec()))
        .unwrap();
    for l in &locs {
        e.receive("pooled", l, 5.into(), Note::default()).unwrap();
    }
    let mut n = 0;
    for (chan, units) in [("web", 150), ("app", 200), ("market", 120)] {
        for _ in 0..units / 10 {
            n += 1;
            let lines = [HoldLine::new("pooled", 10)];
            e.hold(&HoldRequest::new(&format!("claim-{n}"), chan, &lines, 3_600_000).pool())
                .unwrap();
        }
    }
    assert_eq!(e.availability("web", "pooled").unwrap(), 30.into());
    let mut g = c.benchmark_group("pool holds / 100 locations, 3 channels");
    g.throughput(Throughput::Elements(1));
    g.bench_function("feasibility check for one new hold", |b| {
        b.iter(|| black_box(e.availability(black_box("app"), "pooled").unwrap()))
    });
    let lines = [HoldLine::new("pooled", 1)];
    let mut n = 0u64;
    g.bench_function("pool hold + release", |b| {
        b.iter(|| {
            n += 1;
            let id = format!("cart-{n}");
            e.hold(&HoldRequest::new(&id, "app", &lines, 60_000).pool())
                .unwrap();
            e.release(&id).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, routing, pool);
criterion_main!(benches);
