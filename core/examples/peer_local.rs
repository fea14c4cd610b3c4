//! The in-process side of the peer comparison (`benches/peer/peer.py`):
//! unistock in memory and a naive global `Mutex<HashMap>` running the same
//! workloads as Redis and PostgreSQL, with `clients` threads.
//!
//! `cargo run --release -p unistock --example peer_local -- SYSTEM WORKLOAD CLIENTS OPS`
//! SYSTEM: unistock (in memory) | unistock-sync (durable, each hold
//! fsynced before it returns; concurrent clients share fsyncs) |
//! unistock-sync-batch (durable, each client sends `hold_batch` calls of
//! 512 holds; a hold's latency is its batch's) | unistock-interval (fsync
//! every 100 ms) | naive; WORKLOAD: w1 (hot SKU) | w2 (100,000 uniform
//! SKUs) | w3 (5 random SKUs, all or nothing) | check (10,000 units, 20,000
//! one-unit attempts spread over the clients). Prints one JSON line.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use unistock::*;

const SKUS: usize = 100_000;
const PLENTY: i64 = 1_000_000_000;

/// Holds per `hold_batch` call in `unistock-sync-batch`.
const BATCH: usize = 512;

trait System: Send + Sync {
    /// Holds one unit of each SKU, all or nothing; true when granted.
    fn hold(&self, id: &str, skus: &[&str]) -> bool;
    /// Holds this many requests per call (1: one `hold` per request).
    fn batch(&self) -> usize {
        1
    }
    /// Several holds in one call; how many were granted.
    fn hold_batch(&self, reqs: &[(String, smallvec::SmallVec<[&str; 5]>)]) -> u64 {
        reqs.iter().filter(|(id, skus)| self.hold(id, skus)).count() as u64
    }
}

struct Unistock(Engine, usize);

impl System for Unistock {
    fn hold(&self, id: &str, skus: &[&str]) -> bool {
        let lines: smallvec::SmallVec<[HoldLine<'_>; 5]> =
            skus.iter().map(|s| HoldLine::new(s, 1)).collect();
        self.0
            .hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .is_ok()
    }
    fn batch(&self) -> usize {
        self.1
    }
    fn hold_batch(&self, reqs: &[(String, smallvec::SmallVec<[&str; 5]>)]) -> u64 {
        let lines: Vec<smallvec::SmallVec<[HoldLine<'_>; 5]>> = reqs
            .iter()
            .map(|(_, skus)| skus.iter().map(|s| HoldLine::new(s, 1)).collect())
            .collect();
        let hr: Vec<HoldRequest<'_>> = reqs
            .iter()
            .zip(&lines)
            .map(|((id, _), l)| HoldRequest::new(id, "web", l, 900_000))
            .collect();
        self.0.hold_batch(&hr).iter().filter(|r| r.is_ok()).count() as u64
    }
}

/// A durable engine in a fresh directory, loaded without fsyncs and then
/// reopened in `mode`.
fn durable(names: &[String], stock: i64, mode: Durability, dir: &std::path::Path) -> Engine {
    let _ = std::fs::remove_dir_all(dir);
    let e = Engine::open(
        dir,
        Config::default(),
        DurableOptions::mode(Durability::None),
    )
    .unwrap();
    load(&e, names, stock);
    e.checkpoint().unwrap();
    drop(e);
    Engine::open(dir, Config::default(), DurableOptions::mode(mode)).unwrap()
}

fn load(e: &Engine, names: &[String], stock: i64) {
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh"])).unwrap();
    for n in names {
        e.receive(n, "wh", stock.into(), Note::default()).unwrap();
    }
}

struct Naive(Mutex<HashMap<String, (i64, i64)>>);

impl System for Naive {
    fn hold(&self, _id: &str, skus: &[&str]) -> bool {
        let mut m = self.0.lock();
        if skus.iter().any(|s| {
            let e = m[*s];
            e.0 - e.1 < 1
        }) {
            return false;
        }
        for s in skus {
            m.get_mut(*s).expect("loaded").1 += 1;
        }
        true
    }
}

fn build(system: &str, names: &[String], stock: i64) -> Arc<dyn System> {
    match system {
        "unistock" => {
            let e = Engine::new();
            load(&e, names, stock);
            Arc::new(Unistock(e, 1))
        }
        "unistock-sync" | "unistock-sync-batch" | "unistock-interval" => {
            let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target")
                .join(format!("peer-{system}-{}", std::process::id()));
            let (mode, batch) = match system {
                "unistock-sync" => (Durability::Sync, 1),
                "unistock-sync-batch" => (Durability::Sync, BATCH),
                _ => (Durability::Interval(100), 1),
            };
            let e = durable(names, stock, mode, &dir);
            Arc::new(Unistock(e, batch))
        }
        "naive" => Arc::new(Naive(Mutex::new(
            names.iter().map(|n| (n.clone(), (stock, 0))).collect(),
        ))),
        other => panic!("unknown system {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [system, workload, clients, ops] = &args[..] else {
        eprintln!("usage: peer_local SYSTEM WORKLOAD CLIENTS OPS");
        std::process::exit(2);
    };
    let clients: usize = clients.parse().expect("clients");
    let mut ops: usize = ops.parse().expect("ops per client");
    let (names, stock): (Vec<String>, i64) = match workload.as_str() {
        "w1" => (vec!["sku-0".into()], PLENTY),
        "check" => {
            ops = 20_000 / clients;
            (vec!["sku-0".into()], 10_000)
        }
        _ => ((0..SKUS).map(|i| format!("sku-{i}")).collect(), PLENTY),
    };
    let sys = build(system, &names, stock);
    let granted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let lat: Vec<Vec<u32>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..clients)
            .map(|c| {
                let (sys, names, granted, workload) = (&sys, &names, &granted, workload.as_str());
                s.spawn(move || {
                    let mut r: u64 = 0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1);
                    let mut next = move || {
                        r ^= r << 13;
                        r ^= r >> 7;
                        r ^= r << 17;
                        r
                    };
                    let mut lat = Vec::with_capacity(ops);
                    let per_call = sys.batch();
                    let mut pending: Vec<(String, smallvec::SmallVec<[&str; 5]>)> =
                        Vec::with_capacity(per_call);
                    for i in 0..ops {
                        let id = format!("c{c}-{i}");
                        let pick = |x: u64| names[(x % names.len() as u64) as usize].as_str();
                        let mut skus: smallvec::SmallVec<[&str; 5]> = smallvec::SmallVec::new();
                        match workload {
                            "w3" => {
                                while skus.len() < 5 {
                                    let s = pick(next());
                                    if !skus.contains(&s) {
                                        skus.push(s);
                                    }
                                }
                            }
                            _ => skus.push(pick(next())),
                        }
                        if per_call == 1 {
                            let t = Instant::now();
                            if sys.hold(&id, &skus) {
                                granted.fetch_add(1, Ordering::Relaxed);
                            }
                            lat.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                            continue;
                        }
                        pending.push((id, skus));
                        if pending.len() == per_call || i + 1 == ops {
                            let t = Instant::now();
                            granted.fetch_add(sys.hold_batch(&pending), Ordering::Relaxed);
                            let took = t.elapsed().as_nanos().min(u32::MAX as u128) as u32;
                            lat.extend(std::iter::repeat_n(took, pending.len()));
                            pending.clear();
                        }
                    }
                    lat
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    drop(sys);
    if system.starts_with("unistock-") {
        let _ = std::fs::remove_dir_all(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target")
                .join(format!("peer-{system}-{}", std::process::id())),
        );
    }
    let mut all: Vec<u32> = lat.into_iter().flatten().collect();
    all.sort_unstable();
    let q = |p: f64| all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "{{\"system\": \"{system}\", \"workload\": \"{workload}\", \"clients\": {clients}, \"ops\": {}, \"granted\": {}, \"secs\": {secs:.6}, \"ops_per_s\": {:.1}, \"p50_us\": {:.3}, \"p99_us\": {:.3}}}",
        all.len(),
        granted.load(Ordering::Relaxed),
        all.len() as f64 / secs,
        q(0.5),
        q(0.99)
    );
}
