//! A tight hold+release loop for `perf record`.
//!
//! `cargo run --release -p unistock --example profile_holds -- N SKUS`
//! (defaults: 2,000,000 iterations over 1 hot SKU). `RET` sets the ledger
//! retention in events (unset: the default; `RET=none` keeps all), `IDS`
//! the number of hold ids cycled (default 65,536), `DIR` a directory to
//! journal to in mode `none` (unset: in memory; a fresh directory each run).
use std::sync::Arc;
use unistock::*;

#[path = "../benches/common/holds_rig.rs"]
mod holds_rig;
use holds_rig::stock_shop;
fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let skus: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let config = Config {
        hold_retention_ms: 1_000,
        ledger_retention: std::env::var("RET")
            .ok()
            .map_or(Config::default().ledger_retention, |s| s.parse().ok()),
        ..Config::with_clock(clock.clone())
    };
    let e = match std::env::var_os("DIR") {
        None => Engine::with_config(config),
        Some(dir) => {
            let _ = std::fs::remove_dir_all(&dir);
            let opts = DurableOptions {
                mode: Durability::None,
                snapshot_bytes: 0,
            };
            Engine::open(&dir, config, opts).unwrap()
        }
    };
    let names = stock_shop(&e, skus);
    let nids: usize = std::env::var("IDS")
        .ok()
        .map_or(1 << 16, |s| s.parse().unwrap());
    let ids: Vec<String> = (0..nids).map(|i| format!("h{i:x}")).collect();
    let t = std::time::Instant::now();
    for i in 0..n {
        if i % nids as u64 == nids as u64 - 1 {
            clock.advance(2_000);
        }
        let id = &ids[(i % nids as u64) as usize];
        let lines = [HoldLine::new(&names[(i as usize * 7919) % skus], 1)];
        e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .unwrap();
        e.release(id).unwrap();
    }
    let dt = t.elapsed();
    println!(
        "{n} hold+release over {skus} SKUs in {dt:?}: {:.0} ns each",
        dt.as_nanos() as f64 / n as f64
    );
}
