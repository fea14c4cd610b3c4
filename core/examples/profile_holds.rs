//! A tight hold+release loop on one hot SKU, for `perf record`.
use std::sync::Arc;
use unistock::*;
fn main() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let e = Engine::with_config(Config {
        hold_retention_ms: 1_000,
        ledger_retention: std::env::var("RET").ok().map(|s| s.parse().unwrap()),
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::warehouse("wh-1")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh-1"])).unwrap();
    e.receive("hot", "wh-1", 1_000_000.into(), Note::default())
        .unwrap();
    let ids: Vec<String> = (0..1 << 16).map(|i| format!("h{i:x}")).collect();
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let t = std::time::Instant::now();
    for i in 0..n {
        if i & 0xffff == 0xffff {
            clock.advance(2_000);
        }
        let id = &ids[(i & 0xffff) as usize];
        let lines = [HoldLine::new("hot", 1)];
        e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .unwrap();
        e.release(id).unwrap();
    }
    let dt = t.elapsed();
    println!(
        "{n} hold+release in {dt:?}: {:.0} ns each",
        dt.as_nanos() as f64 / n as f64
    );
}
