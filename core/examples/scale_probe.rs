//! How much memory a stock record takes and how fast records load.
//!
//! `cargo run --release -p unistock --example scale_probe -- SKUS LOCATIONS`
//! (defaults 1,000,000 x 10). Prints records/s and resident bytes per record.
use std::time::Instant;
use unistock::*;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let skus = args.next().unwrap_or(1_000_000);
    let locs = args.next().unwrap_or(10);
    let e = Engine::new();
    let names: Vec<String> = (0..locs).map(|i| format!("wh-{i:02}")).collect();
    for n in &names {
        e.upsert_location(LocationSpec::warehouse(n)).unwrap();
    }
    e.upsert_channel(ChannelSpec::new("web", names.clone()))
        .unwrap();
    let sku_names: Vec<String> = (0..skus).map(|i| format!("sku-{i:07}")).collect();
    let before = rss_bytes();
    let t = Instant::now();
    for s in &sku_names {
        for n in &names {
            e.receive(s, n, 10.into(), Note::default()).unwrap();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let after = rss_bytes();
    let records = (skus * locs) as f64;
    println!(
        "{records} records in {secs:.2}s: {:.0} records/s; resident {:.1} bytes per record (ledger retention included)",
        records / secs,
        (after - before) as f64 / records
    );
}
