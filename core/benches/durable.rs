//! Journal modes against the in-memory engine, in the same run.
//!
//! Run: `cargo bench -p unistock --bench durable`. Single-line hold+release
//! over 10,000 SKUs in memory and in the `none` and `interval` modes; and
//! `hold_batch` of 1,024 single-line holds (each batch then released) in
//! memory and in `sync` mode, where each batch call waits for one fsync.
//! The journals live in `target/` (the repository's disk); the clock is a
//! `ManualClock` advanced so that the retention of ended hold ids purges.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::PathBuf;
use std::sync::Arc;
use unistock::*;

const SKUS: usize = 10_000;
const BATCH: usize = 1_024;

struct Rig {
    engine: Engine,
    clock: Arc<ManualClock>,
    names: Vec<String>,
    ids: Vec<String>,
    dir: Option<PathBuf>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn rig(mode: Option<Durability>) -> Rig {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let config = Config {
        hold_retention_ms: 1_000,
        ledger_retention: Some(1 << 16),
        ..Config::with_clock(clock.clone())
    };
    let (engine, dir) = match mode {
        None => (Engine::with_config(config), None),
        Some(mode) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target")
                .join(format!("bench-durable-{}-{mode:?}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let e = Engine::open(
                &dir,
                config,
                DurableOptions {
                    mode,
                    snapshot_bytes: 64 << 20,
                },
            )
            .unwrap();
            (e, Some(dir))
        }
    };
    engine
        .upsert_location(LocationSpec::warehouse("wh-1"))
        .unwrap();
    engine
        .upsert_channel(ChannelSpec::new("web", ["wh-1"]))
        .unwrap();
    let names: Vec<String> = (0..SKUS).map(|i| format!("sku-{i:05}")).collect();
    for n in &names {
        engine
            .receive(n, "wh-1", 1_000_000_000.into(), Note::default())
            .unwrap();
    }
    let ids = (0..1 << 16).map(|i| format!("h{i:x}")).collect();
    Rig {
        engine,
        clock,
        names,
        ids,
        dir,
    }
}

fn single(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable/hold+release");
    g.throughput(Throughput::Elements(1));
    for (label, mode) in [
        ("memory", None),
        ("none", Some(Durability::None)),
        ("interval-100ms", Some(Durability::Interval(100))),
    ] {
        let r = rig(mode);
        let mut i = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                if i & 0xffff == 0xffff {
                    r.clock.advance(2_000);
                }
                let id = &r.ids[i & 0xffff];
                let lines = [HoldLine::new(&r.names[(i * 7919) % SKUS], 1)];
                r.engine
                    .hold(&HoldRequest::new(id, "web", &lines, 900_000))
                    .unwrap();
                r.engine.release(id).unwrap();
                i += 1;
            })
        });
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable/hold_batch-1024");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    for (label, mode) in [("memory", None), ("sync", Some(Durability::Sync))] {
        let r = rig(mode);
        let mut round = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                r.clock.advance(2_000);
                let lines: Vec<[HoldLine<'_>; 1]> = (0..BATCH)
                    .map(|k| {
                        [HoldLine::new(
                            &r.names[((round * BATCH + k) * 7919) % SKUS],
                            1,
                        )]
                    })
                    .collect();
                let reqs: Vec<HoldRequest<'_>> = (0..BATCH)
                    .map(|k| {
                        HoldRequest::new(
                            &r.ids[(round * BATCH + k) & 0xffff],
                            "web",
                            &lines[k],
                            900_000,
                        )
                    })
                    .collect();
                for res in r.engine.hold_batch(&reqs) {
                    res.unwrap();
                }
                let ids: Vec<&str> = reqs.iter().map(|q| q.id).collect();
                r.engine.release_batch(&ids);
                round += 1;
            })
        });
    }
    g.finish();
}

criterion_group!(benches, single, batch);
criterion_main!(benches);
