//! How the cost grows: single-thread hold+release throughput and channel
//! availability read latency at 10^3, 10^5 and 10^7 stock records, with 1,
//! 10 and 100 locations per channel (records = SKUs x locations), each
//! loaded through `bulk_load`. Prints a Markdown table.
//!
//! `cargo run --release -p unistock --example scale_table -- [MAX_RECORDS] [OPS]`
//! (defaults 10,000,000 and 200,000).

use std::time::Instant;
use unistock::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let max: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let ops: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    println!(
        "| stock records | locations per channel | SKUs | load records/s | hold+release pairs/s | availability read p50 ns | p99 ns |"
    );
    println!("|---|---|---|---|---|---|---|");
    for records in [1_000usize, 100_000, 10_000_000] {
        if records > max {
            continue;
        }
        for locs in [1usize, 10, 100] {
            let skus = records / locs;
            let e = Engine::new();
            let loc_names: Vec<String> = (0..locs).map(|i| format!("loc-{i:03}")).collect();
            for l in &loc_names {
                e.upsert_location(LocationSpec::warehouse(l)).unwrap();
            }
            e.upsert_channel(ChannelSpec::new("web", loc_names.clone()))
                .unwrap();
            let names: Vec<String> = (0..skus).map(|i| format!("sku-{i:08}")).collect();
            let input: Vec<LoadRecord<'_>> = names
                .iter()
                .flat_map(|s| {
                    loc_names.iter().map(move |l| LoadRecord {
                        sku: s,
                        location: l,
                        qty: 1_000_000.into(),
                    })
                })
                .collect();
            let t = Instant::now();
            e.bulk_load(&input, Note::reason("load"), &mut |_, _| {})
                .unwrap();
            let load = input.len() as f64 / t.elapsed().as_secs_f64();
            drop(input);
            let ids: Vec<String> = (0..ops).map(|i| format!("h{i:x}")).collect();
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as usize
            };
            let t = Instant::now();
            for id in &ids {
                let lines = [HoldLine::new(&names[next() % skus], 1)];
                e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
                    .unwrap();
                e.release(id).unwrap();
            }
            let holds = ops as f64 / t.elapsed().as_secs_f64();
            let mut lat: Vec<u64> = (0..ops.min(100_000))
                .map(|_| {
                    let sku = &names[next() % skus];
                    let t = Instant::now();
                    std::hint::black_box(e.availability("web", sku).unwrap());
                    t.elapsed().as_nanos() as u64
                })
                .collect();
            lat.sort_unstable();
            println!(
                "| {records} | {locs} | {skus} | {load:.0} | {holds:.0} | {} | {} |",
                lat[lat.len() / 2],
                lat[lat.len() * 99 / 100]
            );
        }
    }
}
