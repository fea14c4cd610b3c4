//! How much memory a stock record takes and how fast records load, through
//! `Engine::bulk_load` (with a progress bar on stderr) and, for comparison,
//! one `receive` per record.
//!
//! `cargo run --release -p unistock --example scale_probe -- SKUS LOCATIONS [receive]`
//! (defaults 1,000,000 x 10). Prints records/s and resident bytes per record
//! (the engine's default ledger retention, 2^20 events, included).
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
    let one_by_one = std::env::args().nth(3).as_deref() == Some("receive");
    // Measured before the input is built and after it is dropped: what is
    // left is the engine's.
    let before = rss_bytes();
    let records: Vec<LoadRecord<'_>> = if one_by_one {
        Vec::new()
    } else {
        sku_names
            .iter()
            .flat_map(|s| {
                names.iter().map(move |n| LoadRecord {
                    sku: s,
                    location: n,
                    qty: 10.into(),
                })
            })
            .collect()
    };
    let t = Instant::now();
    if one_by_one {
        for s in &sku_names {
            for n in &names {
                e.receive(s, n, 10.into(), Note::default()).unwrap();
            }
        }
    } else {
        let mut shown = 0;
        e.bulk_load(
            &records,
            Note::reason("opening_stock"),
            &mut |done, total| {
                let pct = done * 100 / total;
                if pct >= shown + 5 || done == total {
                    shown = pct;
                    let bar = "#".repeat((pct / 5) as usize);
                    eprint!("\rloading [{bar:<20}] {pct:>3}% {done}/{total}");
                    if done == total {
                        eprintln!();
                    }
                }
            },
        )
        .unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    drop(records);
    let after = rss_bytes();
    let records = (skus * locs) as f64;
    println!(
        "{} {records} records in {secs:.2}s: {:.0} records/s; resident {:.1} bytes per record (ledger retention included)",
        if one_by_one { "receive:" } else { "bulk_load:" },
        records / secs,
        (after.saturating_sub(before)) as f64 / records
    );
}
