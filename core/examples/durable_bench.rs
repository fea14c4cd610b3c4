//! Durable modes against the in-memory engine, in one run (compare the
//! ratios: this machine is shared and noisy).
//!
//! `cargo run --release -p unistock --example durable_bench -- [N] [SKUS] [DIR]`
//! N single-line hold+release pairs per mode (default 1,000,000) over SKUS
//! SKUs (default 10,000); DIR is where the journals go (default: a
//! temporary directory in the target directory, on the repository's disk).
//!
//! Prints: the machine's fsync latency; single-line hold+release pairs/s in
//! memory and in `none`, `interval` and `sync` mode; holds/s through
//! `hold_batch` (4,096 per batch) in memory, in `none` mode (the journal's
//! own cost, no fsync waited for) and durable in `sync` mode (group
//! commit); recovery speed (journal events replayed per second).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

static BATCH_SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(4_096);

fn batch() -> usize {
    BATCH_SIZE.load(std::sync::atomic::Ordering::Relaxed)
}

static SKUS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(10_000);

fn skus() -> usize {
    SKUS.load(std::sync::atomic::Ordering::Relaxed)
}
use unistock::*;

fn sku_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sku-{i:06}")).collect()
}

fn setup(e: &Engine) -> Vec<String> {
    e.upsert_location(LocationSpec::warehouse("wh-1")).unwrap();
    e.upsert_location(LocationSpec::warehouse("wh-2")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh-1", "wh-2"]))
        .unwrap();
    let names = sku_names(skus());
    for s in &names {
        e.receive(s, "wh-1", 1_000_000_000.into(), Note::default())
            .unwrap();
    }
    names
}

fn config() -> Config {
    Config {
        ledger_retention: Some(1 << 16),
        ..Config::default()
    }
}

/// Single-line hold+release pairs per second.
fn pairs(e: &Engine, names: &[String], ids: &[String], n: usize) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        let id = &ids[i % ids.len()];
        let lines = [HoldLine::new(&names[(i * 7919) % skus()], 1)];
        e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .unwrap();
        e.release(id).unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn fsync_latency_us(dir: &Path) -> (f64, f64) {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = [7u8; 4096];
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    std::fs::remove_file(&path).unwrap();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

fn open(dir: &Path, mode: Durability) -> Engine {
    let _ = std::fs::remove_dir_all(dir);
    Engine::open(
        dir,
        config(),
        DurableOptions {
            mode,
            snapshot_bytes: 0,
        },
    )
    .unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let skus: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    SKUS.store(skus, std::sync::atomic::Ordering::Relaxed);
    if let Some(b) = std::env::var("BATCH").ok().and_then(|b| b.parse().ok()) {
        BATCH_SIZE.store(b, std::sync::atomic::Ordering::Relaxed);
    }
    let root: PathBuf = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(format!("durable-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&root).unwrap();
    // Unique ids, so retried ids never short-cut (a hold id is kept for its
    // retention window after it ends).
    let ids: Vec<String> = (0..n.max(batch() * 64))
        .map(|i| format!("h{i:x}"))
        .collect();

    let (p50, p99) = fsync_latency_us(&root);
    println!("fsync (4 KiB write + fdatasync): p50 {p50:.0} us, p99 {p99:.0} us");

    let mem = Engine::with_config(config());
    let names = setup(&mem);
    let base = pairs(&mem, &names, &ids, n);
    println!("in memory:        {base:>10.0} hold+release pairs/s");
    drop(mem);

    let report = |label: &str, mode: Durability, n: usize| {
        let dir = root.join(label);
        let e = open(&dir, mode);
        let names = setup(&e);
        let r = pairs(&e, &names, &ids, n);
        e.flush().unwrap();
        println!(
            "{label:<17} {r:>10.0} hold+release pairs/s ({:.2}x in memory)",
            r / base
        );
        (dir, e.last_seq())
    };
    report("none:", Durability::None, n);
    let (interval_dir, events) = report("interval 100 ms:", Durability::Interval(100), n);
    report("sync:", Durability::Sync, (n / 200).max(500));

    // Sync mode through the batch call (one fsync per batch), against the
    // same batches in memory.
    let batches = (n / batch()).max(8);
    let mem = Engine::with_config(config());
    let names = setup(&mem);
    let in_memory = batch_holds(&mem, &names, &ids, batches);
    println!(
        "in memory, hold_batch of {}: {in_memory:>10.0} holds/s",
        batch()
    );
    drop(mem);
    // `none`: the journal's own cost, without waiting for the disk; `sync`:
    // durable, one fsync per batch.
    for (mode, name, what) in [
        (Durability::None, "none", "journaled"),
        (Durability::Sync, "sync", "durable"),
    ] {
        let e = open(&root.join(format!("{name}-batch")), mode);
        let names = setup(&e);
        let rate = batch_holds(&e, &names, &ids, batches);
        println!(
            "{name}, hold_batch of {}:      {rate:>10.0} {what} holds/s ({:.2}x in memory)",
            batch(),
            rate / in_memory
        );
    }

    // Two threads, each holding and releasing in batches: while one waits
    // for its fsync the other works (group commit across callers).
    let mem = Engine::with_config(config());
    let names = setup(&mem);
    let in_memory = batch_ops_2_threads(&mem, &names, &ids, batches);
    println!("in memory, 2 threads, hold_batch + release_batch: {in_memory:>10.0} ops/s");
    drop(mem);
    let dir = root.join("sync-batch-2");
    let e = open(&dir, Durability::Sync);
    let names = setup(&e);
    let durable = batch_ops_2_threads(&e, &names, &ids, batches);
    println!(
        "sync, 2 threads, hold_batch + release_batch:      {durable:>10.0} durable ops/s ({:.2}x in memory)",
        durable / in_memory
    );
    drop(e);

    // Recovery: reopen the interval run's directory (no snapshot: every
    // record is replayed).
    let t = Instant::now();
    let e = Engine::open(
        &interval_dir,
        config(),
        DurableOptions::mode(Durability::None),
    )
    .unwrap();
    let dt = t.elapsed().as_secs_f64();
    let r = e.recovery().unwrap();
    println!(
        "recovery: {} events ({} records) replayed in {:.0} ms ({:.0} ms to open, with the snapshot written after): {:.0} events/s ({events} expected)",
        r.events_replayed,
        r.records_replayed,
        r.micros as f64 / 1e3,
        dt * 1e3,
        r.events_replayed as f64 / (r.micros as f64 / 1e6)
    );
    // The pause a checkpoint imposes on writers: the longest hold+release
    // of a writer running through it (the state is copied under the locks,
    // then sorted, encoded and written without them).
    let t = Instant::now();
    let size = e.snapshot();
    let copy_and_sort = t.elapsed();
    drop(size);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (worst, checkpoint) = std::thread::scope(|sc| {
        let writer = sc.spawn(|| {
            let names = sku_names(skus);
            let mut worst = std::time::Duration::ZERO;
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("pause-{i}");
                let lines = [HoldLine::new(&names[(i * 7919) % skus], 1)];
                let t = Instant::now();
                e.hold(&HoldRequest::new(&id, "web", &lines, 900_000))
                    .unwrap();
                e.release(&id).unwrap();
                worst = worst.max(t.elapsed());
                i += 1;
            }
            worst
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t = Instant::now();
        e.checkpoint().unwrap();
        let checkpoint = t.elapsed();
        std::thread::sleep(std::time::Duration::from_millis(20));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (writer.join().unwrap(), checkpoint)
    });
    println!(
        "checkpoint: {:.0} ms in all; longest hold+release of a writer meanwhile {:.1} ms ({} SKUs, {} ledger events kept; a snapshot copy and sort alone {:.0} ms)",
        checkpoint.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        skus,
        config().ledger_retention.unwrap_or(0),
        copy_and_sort.as_secs_f64() * 1e3
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&root);
}

/// The single-line holds of batch `b`, spread over the SKUs.
fn batch_lines(names: &[String], b: usize) -> Vec<[HoldLine<'_>; 1]> {
    (0..batch())
        .map(|k| {
            [HoldLine::new(
                &names[((b * batch() + k) * 7919) % skus()],
                1,
            )]
        })
        .collect()
}

/// Holds per second through `hold_batch` (each batch released after, untimed).
fn batch_holds(e: &Engine, names: &[String], ids: &[String], batches: usize) -> f64 {
    let mut held = 0usize;
    let mut hold_time = 0.0;
    for b in 0..batches {
        let lines = batch_lines(names, b);
        let reqs: Vec<HoldRequest<'_>> = (0..batch())
            .map(|k| {
                HoldRequest::new(
                    &ids[(b * batch() + k) % ids.len()],
                    "web",
                    &lines[k],
                    900_000,
                )
            })
            .collect();
        let t = Instant::now();
        let rs = e.hold_batch(&reqs);
        hold_time += t.elapsed().as_secs_f64();
        held += rs.iter().filter(|r| r.is_ok()).count();
        let rel: Vec<&str> = reqs.iter().map(|r| r.id).collect();
        e.release_batch(&rel);
    }
    held as f64 / hold_time
}

/// Holds and releases per second (wall clock) from two threads, each
/// alternating `hold_batch` and `release_batch` on its own ids.
fn batch_ops_2_threads(e: &Engine, names: &[String], ids: &[String], batches: usize) -> f64 {
    let t = Instant::now();
    let ops: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                s.spawn(move || {
                    let mut ops = 0;
                    let half = ids.len() / 2;
                    for b in (w..batches).step_by(2) {
                        let lines = batch_lines(names, b);
                        let reqs: Vec<HoldRequest<'_>> = (0..batch())
                            .map(|k| {
                                let id = &ids[w * half + (b * batch() + k) % half];
                                HoldRequest::new(id, "web", &lines[k], 900_000)
                            })
                            .collect();
                        ops += e.hold_batch(&reqs).iter().filter(|r| r.is_ok()).count();
                        let rel: Vec<&str> = reqs.iter().map(|r| r.id).collect();
                        ops += e.release_batch(&rel).iter().filter(|r| r.is_ok()).count();
                    }
                    ops
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    ops as f64 / t.elapsed().as_secs_f64()
}
