//! The core's own speed on the bindings' batch workload: what the Python
//! and Node batch calls could reach with no binding cost at all (with the
//! allocator the packages use, mimalloc).
//!
//! `cargo run --release -p unistock --example batch_ceiling -- [N] [ROUNDS] [ten]`
//! (`ten`: the ten-line holds only, for `perf record`)
//!
//! The same shape as `benches/python/bench_holds.py` and
//! `benches/node/bench_holds.js`: 1,000 SKUs at one of two warehouses, a
//! channel over both, N holds per round (one-line holds 1,000 per
//! `hold_batch`, ten-line holds 100 per call), released after each round
//! and purged after a 1 s retention on a manual clock. Prints the best
//! round of each, in lines per second.
use std::sync::Arc;

// The allocator the Python and Node packages use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;
use unistock::*;

fn main() {
    // As the packages at load: free pages kept 10 s, not 1 s (what
    // `unistock::alloc::keep_freed_pages`, core/src/alloc.rs, does; that
    // module needs the `mimalloc` feature, which a plain `cargo run` of this
    // example does not turn on).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: before any other thread runs.
        unsafe { libmimalloc_sys::mi_option_set(15, 10_000) };
    }
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let n = args.next().unwrap_or(200_000);
    let rounds = args.next().unwrap_or(3);
    let ten_only = std::env::args().nth(3).as_deref() == Some("ten");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let e = Engine::with_config(Config {
        hold_retention_ms: 1_000,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::warehouse("wh-1")).unwrap();
    e.upsert_location(LocationSpec::warehouse("wh-2")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh-1", "wh-2"]))
        .unwrap();
    let skus: Vec<String> = (0..1000).map(|i| format!("sku-{i:05}")).collect();
    for s in &skus {
        e.receive(s, "wh-1", 1_000_000_000.into(), Note::default())
            .unwrap();
    }
    let one_ids: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
    let one: Vec<[HoldLine<'_>; 1]> = (0..n)
        .map(|i| [HoldLine::new(&skus[i % 1000], 1)])
        .collect();
    let ten_ids: Vec<String> = (0..n / 10).map(|i| format!("t{i}")).collect();
    let ten: Vec<Vec<HoldLine<'_>>> = (0..n / 10)
        .map(|i| {
            (0..10)
                .map(|j| HoldLine::new(&skus[(i * 10 + j) % 1000], 1))
                .collect()
        })
        .collect();
    let end_round = |ids: &[String]| {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        e.release_batch(&refs);
        clock.advance(2_000);
        e.expire_due(clock.now_ms());
    };
    let (mut best_one, mut best_ten) = (0f64, 0f64);
    for _ in 0..rounds {
        let t = Instant::now();
        for k in (0..n).step_by(1000).filter(|_| !ten_only) {
            let reqs: Vec<HoldRequest<'_>> = (k..(k + 1000).min(n))
                .map(|i| HoldRequest::new(&one_ids[i], "web", &one[i], 900_000))
                .collect();
            assert!(e.hold_batch(&reqs).iter().all(Result::is_ok));
        }
        best_one = best_one.max(n as f64 / t.elapsed().as_secs_f64());
        end_round(&one_ids);
        let t = Instant::now();
        for k in (0..ten.len()).step_by(100) {
            let reqs: Vec<HoldRequest<'_>> = (k..(k + 100).min(ten.len()))
                .map(|i| HoldRequest::new(&ten_ids[i], "web", &ten[i], 900_000))
                .collect();
            assert!(e.hold_batch(&reqs).iter().all(Result::is_ok));
        }
        best_ten = best_ten.max((ten.len() * 10) as f64 / t.elapsed().as_secs_f64());
        end_round(&ten_ids);
    }
    println!("core hold_batch, 1-line holds, 1000 per call: {best_one:>12.0} lines/s");
    println!("core hold_batch, 10-line holds, 100 per call: {best_ten:>12.0} lines/s");
}
