//! Recovery speed alone: `recovery_probe DIR N [LINES]` writes N
//! hold+release pairs over 10,000 SKUs into a fresh journal in DIR (mode
//! `none`), each hold of LINES lines (1 unless given; each line is an event
//! when held and one when released); `recovery_probe DIR` then times a
//! reopen (run it under callgrind to see the replay) and one more
//! checkpoint, like the one the open ends with. Reopen a copy each time:
//! the open compacts the journal.
//!
//! Built with `--features mimalloc`, it runs on the allocator the Python
//! and Node packages ship, set up as they set it up.
use std::time::Instant;
use unistock::*;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    #[cfg(feature = "mimalloc")]
    unistock::alloc::keep_freed_pages();
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let width: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let config = || Config {
        ledger_retention: Some(1 << 16),
        ..Config::default()
    };
    let opts = || DurableOptions {
        mode: Durability::None,
        snapshot_bytes: 0,
    };
    if !dir.exists() {
        let e = Engine::open(&dir, config(), opts()).unwrap();
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.upsert_channel(ChannelSpec::new("web", ["wh"])).unwrap();
        let names: Vec<String> = (0..10_000).map(|i| format!("sku-{i:05}")).collect();
        for s in &names {
            e.receive(s, "wh", 1_000_000_000.into(), Note::default())
                .unwrap();
        }
        e.checkpoint().unwrap();
        for i in 0..n {
            let id = format!("h{i:x}");
            let lines: Vec<HoldLine> = (0..width)
                .map(|k| HoldLine::new(&names[((i * width + k) * 7919) % names.len()], 1))
                .collect();
            e.hold(&HoldRequest::new(&id, "web", &lines, 3_600_000))
                .unwrap();
            e.release(&id).unwrap();
        }
        return;
    }
    let t = Instant::now();
    let e = Engine::open(&dir, config(), opts()).unwrap();
    let r = e.recovery().unwrap();
    println!(
        "{} events in {:.0} ms of replay ({:.0} ms to open): {:.0} events/s",
        r.events_replayed,
        r.micros as f64 / 1e3,
        t.elapsed().as_secs_f64() * 1e3,
        r.events_replayed as f64 / (r.micros as f64 / 1e6)
    );
    // What the checkpoint at the end of the open cost, timed again: one
    // more snapshot of the same state.
    let t = Instant::now();
    e.checkpoint().unwrap();
    println!(
        "a checkpoint of that state: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    std::mem::forget(e); // keep the journal as it is for the next run
}
