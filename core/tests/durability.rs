//! Durability: recovery gives exactly the acknowledged state, whatever
//! happens to the storage (the journal crash-point harness), and the
//! directory behaves as a host expects (lock, snapshots, expiry while down).

mod common;

use std::sync::Arc;
use unistock::durable::{self, MemStorage};
use unistock::*;

const WEB: &str = "web";

fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        ledger_retention: None,
        ..Config::with_clock(clock.clone())
    }
}

fn open_mem(storage: &MemStorage, clock: &Arc<ManualClock>, mode: Durability) -> Result<Engine> {
    common::open_mem_with(storage, config(clock), mode)
}

/// One step of the scripted day; every step succeeds on a fresh engine.
fn step(e: &Engine, i: usize) -> Result<()> {
    let h = format!("h{i}");
    let o = format!("o{i}");
    match i {
        0 => {
            e.upsert_location(LocationSpec::warehouse("wh").at(52.0, 13.0))?;
            Ok(())
        }
        1 => {
            e.upsert_location(LocationSpec::store("st").at(52.5, 13.4))?;
            Ok(())
        }
        2 => e
            .upsert_channel(ChannelSpec::new(WEB, ["wh", "st"]))
            .map(drop),
        3 => e
            .receive("tee", "wh", 50.into(), Note::new("po", "PO-1"))
            .map(drop),
        4 => e
            .receive("tee", "st", 5.into(), Note::reason("po"))
            .map(drop),
        5 => e.declare_sku("rope", SkuSpec { unit_scale: 2 }).map(drop),
        6 => e
            .receive(
                "rope",
                "wh",
                Qty::from_decimal("12.50".parse().unwrap()),
                Note::reason("po"),
            )
            .map(drop),
        7 => e
            .expect_receipt("tee", "wh", 20.into(), 99_000, "PO-2")
            .map(drop),
        8 => e
            .dispatch_transfer("t1", "tee", "wh", "st", 3.into())
            .map(drop),
        9 => e.receive_transfer("t1", Some(2.into())).map(drop),
        10 => e
            .set_safety("tee", "st", 1.into(), Note::default())
            .map(drop),
        11 => e
            .count("tee", "wh", 46.into(), Note::new("count", "C-1"))
            .map(drop),
        12 => e
            .mark_unsellable("tee", "wh", 1.into(), Condition::Damaged, Note::default())
            .map(drop),
        13 => e.set_location_closed("st", true),
        14 => e.set_location_closed("st", false),
        15 => {
            let lines = [HoldLine::new("tee", 1), HoldLine::new("tee", 1).at("st")];
            e.till_sale("sale-1", WEB, &lines).map(drop)
        }
        16 => {
            let req = RouteRequest {
                channel: WEB,
                fulfilment: Fulfilment::Ship {
                    lat: 52.4,
                    lon: 13.3,
                    country: "DE".into(),
                },
                lines: &[HoldLine::new("tee", 2)],
                options: RouteOptions::default(),
            };
            e.place("placed-1", &req).map(drop)
        }
        17 => e
            .reroute(
                "placed-1",
                Fulfilment::ClickAndCollect { store: "st".into() },
                RouteOptions::default(),
            )
            .map(drop),
        _ => match (i - 18) % 5 {
            0 => {
                let lines = [HoldLine::new("tee", 1)];
                e.hold(&HoldRequest::new(&h, WEB, &lines, 60_000)).map(drop)
            }
            1 => {
                let lines = [HoldLine::new(
                    "rope",
                    Qty::from_decimal("0.25".parse().unwrap()),
                )];
                e.hold(&HoldRequest::new(&h, WEB, &lines, 60_000)).map(drop)
            }
            2 => e.commit(&format!("h{}", i - 2), &o).map(drop),
            3 => e.release(&format!("h{}", i - 2)),
            _ => e
                .fulfil(&format!("o{}", i - 2), &[OrderLine::new("tee", 1)])
                .map(drop),
        },
    }
}

const STEPS: usize = 40;

/// The SKU a step creates by receiving it (a change of its own, numbered
/// before the receipt: it may survive a crash that the receipt does not).
fn creates_sku(i: usize) -> Option<&'static str> {
    (i == 3).then_some("tee")
}

/// The reference: an in-memory engine's snapshot after each step, and for
/// steps that create a SKU, the state with just that SKU declared.
fn model() -> (Vec<Snapshot>, Vec<Option<Snapshot>>) {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = Engine::with_config(config(&clock));
    let mut out = vec![e.snapshot()];
    let mut mids = Vec::new();
    for i in 0..STEPS {
        clock.set(1_000 + i as u64 * 10);
        mids.push(creates_sku(i).map(|sku| {
            e.declare_sku(sku, SkuSpec::default()).unwrap();
            e.snapshot()
        }));
        step(&e, i).unwrap_or_else(|err| panic!("step {i}: {err}"));
        out.push(e.snapshot());
    }
    (out, mids)
}

fn model_states() -> Vec<Snapshot> {
    model().0
}

/// Runs the day on a durable engine until a step fails; returns how many
/// steps were acknowledged.
fn run_durable(e: &Engine, clock: &ManualClock) -> usize {
    for i in 0..STEPS {
        clock.set(1_000 + i as u64 * 10);
        if step(e, i).is_err() {
            return i;
        }
    }
    STEPS
}

/// A storage with the journal of the whole scripted day (`sync` mode), its
/// engine gone.
fn journaled_day() -> MemStorage {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(run_durable(&e, &clock), STEPS);
    drop(e);
    storage
}

fn reopened(storage: &MemStorage) -> Result<Snapshot> {
    let clock = Arc::new(ManualClock::new(1_000 + STEPS as u64 * 10));
    let e = open_mem(storage, &clock, Durability::Sync)?;
    let s = e.snapshot();
    Ok(s)
}

#[test]
fn a_reopened_engine_has_exactly_the_state_it_had() {
    let model = model_states();
    for mode in [Durability::Sync, Durability::Interval(5), Durability::None] {
        let storage = MemStorage::new();
        let clock = Arc::new(ManualClock::new(1_000));
        let e = open_mem(&storage, &clock, mode).unwrap();
        assert_eq!(run_durable(&e, &clock), STEPS);
        assert_eq!(e.snapshot(), model[STEPS]);
        drop(e);
        let again = reopened(&storage).unwrap();
        assert_eq!(again, model[STEPS], "{mode:?}");
    }
}

/// A storage of the host's own that implements only what `Storage`
/// requires: recovery reads its journal through the trait's default
/// `size` and `read_at` (whole-file reads, sliced).
#[derive(Debug)]
struct OnlyRequired(MemStorage);

impl durable::Storage for OnlyRequired {
    fn lock(&self) -> std::io::Result<()> {
        self.0.lock()
    }
    fn unlock(&self) {
        self.0.unlock()
    }
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.0.list()
    }
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        self.0.read(name)
    }
    fn append(&self, name: &str) -> std::io::Result<Box<dyn durable::Segment>> {
        self.0.append(name)
    }
    fn write_atomic(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_atomic(name, bytes)
    }
    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.0.remove(name)
    }
    fn describe(&self, name: &str) -> String {
        self.0.describe(name)
    }
}

#[test]
fn a_storage_with_only_the_required_methods_recovers_the_same_state() {
    let model = model_states();
    let storage = journaled_day();
    let clock = Arc::new(ManualClock::new(1_000 + STEPS as u64 * 10));
    let e = Engine::open_storage(
        Arc::new(OnlyRequired(storage.killed())),
        config(&clock),
        DurableOptions {
            mode: Durability::Sync,
            snapshot_bytes: 0,
        },
    )
    .unwrap();
    assert!(e.recovery().unwrap().records_replayed > 0);
    assert_eq!(e.snapshot(), model[STEPS]);
}

/// An idle durable engine leaves its storage alone: once what it did is
/// durable, nothing is written or fsynced until it does more (its flusher
/// used to wake every period and fsync the unchanged file, in `sync` mode
/// every 50 ms), and the next change still reaches the storage by itself
/// in `interval` and `none` modes (no `flush`, no waiting caller).
#[test]
fn an_idle_engine_leaves_its_storage_alone_until_the_next_change() {
    for mode in [Durability::Sync, Durability::Interval(5), Durability::None] {
        let storage = MemStorage::new();
        let clock = Arc::new(ManualClock::new(1_000));
        let e = open_mem(&storage, &clock, mode).unwrap();
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.receive("sku", "wh", 5.into(), Note::default()).unwrap();
        e.flush().unwrap();
        let idle = storage.counts();
        // Four periods of `sync` mode's flusher, forty of `interval(5)`.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(
            storage.counts(),
            idle,
            "{mode:?}: (writes, fsyncs) while idle"
        );
        e.receive("sku", "wh", 1.into(), Note::default()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while storage.counts().0 == idle.0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(
            storage.counts().0 > idle.0,
            "{mode:?}: the next change was never written"
        );
    }
}

#[test]
fn a_directory_is_locked_and_survives_snapshots_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let opts = DurableOptions::mode(Durability::Sync);
    let e = Engine::open(dir.path(), config(&clock), opts.clone()).unwrap();
    match Engine::open(dir.path(), config(&clock), opts.clone()) {
        Err(err) => {
            assert!(matches!(err, Error::Locked { .. }), "{err}");
            assert_eq!(err.code(), "E_LOCKED");
        }
        Ok(_) => panic!("a second engine opened a locked directory"),
    }
    for i in 0..20 {
        clock.set(1_000 + i as u64 * 10);
        step(&e, i).unwrap();
    }
    let seq = e.checkpoint().unwrap();
    assert_eq!(seq, e.last_seq());
    for i in 20..STEPS {
        clock.set(1_000 + i as u64 * 10);
        step(&e, i).unwrap();
    }
    let before = e.snapshot();
    drop(e);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("snapshot-")).count(),
        1,
        "{names:?}"
    );
    let e = Engine::open(dir.path(), config(&clock), opts).unwrap();
    assert_eq!(e.snapshot(), before);
    let r = e.recovery().unwrap();
    assert_eq!(r.snapshot_seq, seq);
    assert!(r.records_replayed > 0);
    assert_eq!(r.events_replayed, before.seq() - seq);
    assert_eq!(r.torn_tail, None);
    // Idempotency survives the restart: retries return the originals.
    let lines = [HoldLine::new("tee", 1)];
    let again = e
        .hold(&HoldRequest::new("h18", WEB, &lines, 60_000))
        .unwrap();
    assert!(again.replayed);
    assert!(e.commit("h18", "o20").unwrap().replayed);
    assert!(matches!(
        e.hold(&HoldRequest::new(
            "h18",
            WEB,
            &[HoldLine::new("tee", 2)],
            60_000
        )),
        Err(Error::IdConflict { .. })
    ));
}

/// `flush` makes everything done so far durable, a refused request's
/// counters too (their records carry no sequence number: `flush` used to
/// wait for the last sequence number only, and a power loss right after it
/// could lose the refusal). Found by the deterministic simulation.
#[test]
fn a_flush_keeps_the_counters_of_refused_requests() {
    for mode in [Durability::Interval(3_600_000), Durability::None] {
        let storage = MemStorage::new();
        let clock = Arc::new(ManualClock::new(1_000));
        let e = open_mem(&storage, &clock, mode).unwrap();
        e.upsert_location(LocationSpec::store("st")).unwrap();
        e.upsert_channel(ChannelSpec::new(WEB, ["st"])).unwrap();
        e.receive("tee", "st", 1.into(), Note::default()).unwrap();
        e.flush().unwrap();
        let err = e
            .till_sale("sale-1", WEB, &[HoldLine::new("tee", 2)])
            .unwrap_err();
        assert_eq!(err.code(), "E_INSUFFICIENT_STOCK");
        e.flush().unwrap();
        assert_eq!(e.kpis().till_sales_refused, 1);
        let after = if mode == Durability::None {
            storage.killed()
        } else {
            storage.crashed()
        };
        let again = open_mem(&after, &clock, mode).unwrap();
        assert_eq!(again.kpis().till_sales_refused, 1, "{mode:?}");
    }
}

/// `close` reports a write that failed, before it or as it flushed: in
/// `interval` and `none` modes the changes acknowledged since were lost,
/// and the host must hear of it (it used to return `Ok` once the journal
/// had failed). Found by the deterministic simulation.
#[test]
fn close_reports_a_failed_write() {
    for mode in [Durability::Interval(3_600_000), Durability::None] {
        for wait in [false, true] {
            let storage = MemStorage::new();
            let clock = Arc::new(ManualClock::new(1_000));
            let e = open_mem(&storage, &clock, mode).unwrap();
            e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
            e.receive("tee", "wh", 1.into(), Note::default()).unwrap();
            e.flush().unwrap();
            storage.fail_write_after(1);
            // Acknowledged at once (not durable in these modes), unless the
            // flusher, woken by it, failed first (`none` mode writes within
            // a millisecond): then it reports the failure itself.
            if let Err(err) = e.receive("tee", "wh", 1.into(), Note::default()) {
                assert_eq!(err.code(), "E_STORAGE", "{mode:?} {wait}");
            }
            if wait {
                // The flusher fails before the close (in `none` mode).
                let _ = e.flush();
            }
            let err = e.close().unwrap_err();
            assert_eq!(err.code(), "E_STORAGE", "{mode:?} {wait}");
            let again = open_mem(&storage.killed(), &clock, mode).unwrap();
            let on_hand = again.levels("tee", "wh").unwrap().on_hand;
            assert_eq!(on_hand.as_units(), Some(1), "{mode:?} {wait}");
        }
    }
}

/// A checkpoint that fails after starting its new segment, then a power
/// loss in `none` mode (nothing fsynced): both the old segment and the new
/// one are empty on disk. That is a torn tail, not damage in the middle
/// (it was `Corrupt`: "segment shorter than its header"), and the engine
/// opens on its last snapshot. Found by the deterministic simulation.
#[test]
fn empty_segments_left_by_a_power_loss_are_a_torn_tail() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = open_mem(&storage, &clock, Durability::None).unwrap();
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    e.receive("tee", "wh", 5.into(), Note::default()).unwrap();
    e.checkpoint().unwrap();
    let kept = e.snapshot();
    e.receive("tee", "wh", 1.into(), Note::default()).unwrap();
    storage.fail_sync_after(1);
    assert_eq!(e.checkpoint().unwrap_err().code(), "E_STORAGE");
    // The journal goes on (`none` mode fsyncs nothing) in the new segment.
    e.receive("tee", "wh", 1.into(), Note::default()).unwrap();
    e.flush().unwrap();
    let segments = |s: &MemStorage| -> Vec<String> {
        s.names()
            .into_iter()
            .filter(|n| n.starts_with("journal-"))
            .collect()
    };
    let after = storage.crashed();
    let sizes: Vec<usize> = segments(&after)
        .iter()
        .map(|n| after.bytes(n).len())
        .collect();
    assert_eq!(sizes, [0, 0], "two segments, neither on disk");
    let again = open_mem(&after, &clock, Durability::None).unwrap();
    assert_eq!(again.snapshot(), kept);
    assert!(again.recovery().unwrap().torn_tail.is_some());
    // A short segment before one with records is still damage.
    let killed = storage.killed();
    let names = segments(&killed);
    assert!(killed.bytes(&names[1]).len() > 8, "records in the second");
    killed.set_bytes(&names[0], vec![]);
    let err = open_mem(&killed, &clock, Durability::None).unwrap_err();
    assert_eq!(err.code(), "E_CORRUPT", "{err}");
}

#[test]
fn holds_due_while_the_engine_was_down_expire_at_their_own_time() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    for i in 0..5 {
        step(&e, i).unwrap();
    }
    let lines = [HoldLine::new("tee", 2)];
    e.hold(&HoldRequest::new("cart", WEB, &lines, 5_000))
        .unwrap();
    drop(e);
    clock.set(60_000);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.recovery().unwrap().expired_on_open, 1);
    let v = e.hold_info("cart").unwrap();
    assert_eq!(v.state, HoldState::Expired);
    assert_eq!(v.ended_at_ms, Some(6_000));
    assert_eq!(e.availability(WEB, "tee").unwrap(), 55.into());
    // The expiry itself is durable.
    drop(e);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.recovery().unwrap().expired_on_open, 0);
    assert_eq!(e.hold_info("cart").unwrap().state, HoldState::Expired);
}

/// The last segment's records: (offset, length including the header).
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos, 8 + len));
        pos += 8 + len;
    }
    out
}

fn last_segment(storage: &MemStorage) -> String {
    storage
        .names()
        .into_iter()
        .filter(|n| n.starts_with("journal-"))
        .max()
        .unwrap()
}

/// Recovery reads the journal a piece at a time, and a storage's reads may
/// hand back fewer bytes than asked for: records then span pieces, cut
/// anywhere. These limits (one byte; a few; `MemStorage`'s own; none)
/// cut them everywhere.
const READ_LIMITS: [usize; 4] = [1, 13, 509, usize::MAX];

#[test]
fn a_torn_tail_is_cut_at_every_byte_of_the_last_record() {
    let model = model_states();
    let storage = journaled_day();
    let seg = last_segment(&storage);
    let full = storage.bytes(&seg);
    let &(start, len) = records(&full).last().unwrap();
    assert_eq!(start + len, full.len());
    for (cut, limit) in (start..=full.len()).flat_map(|c| READ_LIMITS.map(|l| (c, l))) {
        let s = storage.killed();
        s.set_read_limit(limit);
        s.set_bytes(&seg, full[..cut].to_vec());
        let clock = Arc::new(ManualClock::new(1_000 + STEPS as u64 * 10));
        let e = open_mem(&s, &clock, Durability::Sync).unwrap();
        let r = e.recovery().unwrap().clone();
        let want = if cut == full.len() { STEPS } else { STEPS - 1 };
        assert_eq!(e.snapshot(), model[want], "cut at {cut}, reads of {limit}");
        assert_eq!(
            r.torn_tail.is_some(),
            cut != start && cut != full.len(),
            "cut at {cut}, reads of {limit}: {r:?}"
        );
        // The cut is repaired: the next open finds a clean directory.
        drop(e);
        let e = open_mem(&s, &clock, Durability::Sync).unwrap();
        assert_eq!(e.recovery().unwrap().torn_tail, None);
        assert_eq!(e.snapshot(), model[want]);
    }
}

#[test]
fn damage_in_the_middle_is_a_typed_error_naming_file_and_offset() {
    let storage = journaled_day();
    let seg = last_segment(&storage);
    let full = storage.bytes(&seg);
    let recs = records(&full);
    for &(start, len) in &recs[..recs.len() - 1] {
        for byte in [
            start,
            start + 5,
            start + 8,
            start + len / 2,
            start + len - 1,
        ] {
            let s = storage.killed();
            s.set_read_limit(READ_LIMITS[byte % READ_LIMITS.len()]);
            let mut bad = full.clone();
            bad[byte] ^= 0x10;
            s.set_bytes(&seg, bad);
            let clock = Arc::new(ManualClock::new(1_000));
            match open_mem(&s, &clock, Durability::Sync) {
                Err(Error::Corrupt { file, offset, .. }) => {
                    assert!(file.contains(&seg), "{file}");
                    assert_eq!(offset, start as u64, "flip at {byte}");
                }
                Err(other) => panic!("flip at {byte}: {other}"),
                Ok(_) => panic!("flip at {byte} went unnoticed"),
            }
        }
    }
    // A damaged snapshot is an error too, not an empty engine.
    let s = storage.killed();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = open_mem(&s, &clock, Durability::Sync).unwrap();
    e.checkpoint().unwrap();
    drop(e);
    let snap = s
        .names()
        .into_iter()
        .find(|n| n.starts_with("snapshot-"))
        .unwrap();
    let mut bytes = s.bytes(&snap);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    s.set_bytes(&snap, bytes);
    assert!(matches!(
        open_mem(&s.killed(), &clock, Durability::Sync),
        Err(Error::Corrupt { .. })
    ));
}

/// Fails the Nth write or fsync for every N the day needs: after a power
/// loss (only fsynced bytes kept) or a kill (written bytes kept), recovery
/// equals the model at the last acknowledged step, or one step later (the
/// step in flight when the storage failed).
#[test]
fn storage_faults_never_lose_an_acknowledged_step() {
    let (model, mids) = model();
    let mut checked = 0;
    for fail_sync in [true, false] {
        for n in 1..=(STEPS as u64 + 2) {
            let storage = MemStorage::new();
            if fail_sync {
                storage.fail_sync_after(n);
            } else {
                storage.fail_write_after(n);
            }
            let clock = Arc::new(ManualClock::new(1_000));
            let acked = match open_mem(&storage, &clock, Durability::Sync) {
                Ok(e) => {
                    let acked = run_durable(&e, &clock);
                    if acked < STEPS {
                        // Once storage failed, nothing more is acknowledged.
                        let err = e
                            .receive("tee", "wh", 1.into(), Note::default())
                            .unwrap_err();
                        assert_eq!(err.code(), "E_STORAGE", "{err}");
                    }
                    acked
                }
                Err(err) => {
                    assert_eq!(err.code(), "E_STORAGE", "{err}");
                    0
                }
            };
            for after in [storage.crashed(), storage.killed()] {
                let got = reopened(&after).unwrap();
                let ok = got == model[acked]
                    || (acked < STEPS
                        && (got == model[acked + 1] || mids[acked].as_ref() == Some(&got)));
                if !ok && std::env::var("DEBUG_DIFF").is_ok() {
                    let (a, b) = (format!("{got:?}"), format!("{:?}", model[acked + 1]));
                    let i = a
                        .bytes()
                        .zip(b.bytes())
                        .position(|(x, y)| x != y)
                        .unwrap_or(0);
                    eprintln!(
                        "got  {}\nwant {}",
                        &a[i.saturating_sub(300)..(i + 200).min(a.len())],
                        &b[i.saturating_sub(300)..(i + 200).min(b.len())]
                    );
                }
                assert!(
                    ok,
                    "fail {} #{n}: acked {acked}, recovered seq {}",
                    if fail_sync { "fsync" } else { "write" },
                    got.seq()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
}

/// Threads racing holds, commits, releases, till sales and expiries (real
/// clock, TTLs of a few milliseconds) on a few hot SKUs: records reach the
/// journal out of sequence order across stripes, refusals are counted, and
/// sweeps expire holds concurrently. The reopened engine equals the closed one.
#[test]
fn concurrent_mutations_replay_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || Config {
        ledger_retention: None,
        stripes: 4,
        ..Config::default()
    };
    for mode in [Durability::Sync, Durability::None] {
        let e = Arc::new(Engine::open(dir.path(), cfg(), DurableOptions::mode(mode)).unwrap());
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.upsert_location(LocationSpec::store("st")).unwrap();
        e.upsert_channel(ChannelSpec::new(WEB, ["wh", "st"]))
            .unwrap();
        for s in 0..6 {
            e.receive(&format!("s{s}"), "wh", 40.into(), Note::default())
                .unwrap();
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15u64 ^ t);
                    let mut rnd = move || rng.next();
                    for i in 0..1500 {
                        let id = format!("{mode:?}-{t}-{i}");
                        let a = format!("s{}", rnd() % 6);
                        let b = format!("s{}", rnd() % 6);
                        let lines = [HoldLine::new(&a, 1 + rnd() % 3), HoldLine::new(&b, 1)];
                        match rnd() % 6 {
                            0 => {
                                let _ = e.till_sale(&id, WEB, &lines[..1]);
                                let _ = e.receive(&a, "st", 2.into(), Note::default());
                            }
                            1 => {
                                let _ = e.hold(&HoldRequest::new(&id, WEB, &lines, 1 + rnd() % 20));
                            }
                            _ => {
                                if e.hold(&HoldRequest::new(&id, WEB, &lines, 60_000)).is_ok() {
                                    if rnd() % 2 == 0 {
                                        let _ = e.commit(&id, &format!("o-{id}"));
                                    } else {
                                        let _ = e.release(&id);
                                    }
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Let the short holds fall due and expire, so that nothing more
        // expires on open.
        std::thread::sleep(std::time::Duration::from_millis(30));
        e.expire_due(e.now_ms());
        let before = e.snapshot();
        assert!(before.seq() > 5_000, "{}", before.seq());
        assert!(e.kpis().holds_refused > 0 && e.kpis().holds_expired > 0);
        drop(e);
        let e = Engine::open(dir.path(), cfg(), DurableOptions::mode(mode)).unwrap();
        let r = e.recovery().unwrap();
        assert_eq!((r.records_dropped, r.expired_on_open), (0, 0), "{r:?}");
        assert_eq!(e.snapshot(), before, "{mode:?}");
    }
}

#[test]
fn an_outside_count_as_of_a_time_keeps_the_changes_after_it() {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = Engine::with_config(config(&clock));
    for i in 0..3 {
        step(&e, i).unwrap();
    }
    e.receive("tee", "wh", 10.into(), Note::default()).unwrap();
    let lines = [HoldLine::new("tee", 2)];
    e.hold(&HoldRequest::new("cart", WEB, &lines, 600_000).bind_now())
        .unwrap();
    clock.set(1_500); // the ERP counts here: 8
    clock.set(2_000);
    e.till_sale("s1", WEB, &[HoldLine::new("tee", 1).at("wh")])
        .unwrap();
    clock.set(2_500);
    e.receive("tee", "wh", 5.into(), Note::default()).unwrap();
    clock.set(3_000);
    let r = e
        .reconcile("tee", "wh", 8.into(), 1_500, Note::new("", "ERP-77"))
        .unwrap();
    assert_eq!(r.changes_after, 4.into());
    assert_eq!(r.report.variance, Qty::from(-2));
    assert_eq!(r.report.levels.on_hand, 12.into());
    // The hold was not touched.
    assert_eq!(r.report.levels.reserved, 2.into());
    assert_eq!(e.hold_info("cart").unwrap().state, HoldState::Active);
    let last = e.events_since(e.last_seq() - 1, 10).unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.reason.as_str(), last.reference.as_str()),
        (EventKind::Reconciled, "reconcile", "ERP-77")
    );
    assert_eq!(e.kpis().counts, 1);
    // One unit left after 3,200: a count of none as of then cannot be right.
    clock.set(3_500);
    e.till_sale("s2", WEB, &[HoldLine::new("tee", 1).at("wh")])
        .unwrap();
    let seq = e.last_seq();
    assert!(matches!(
        e.reconcile("tee", "wh", 0.into(), 3_200, Note::default()),
        Err(Error::InvalidArgument {
            field: "counted",
            ..
        })
    ));
    assert_eq!(e.last_seq(), seq);
}

/// The reconciliations an ERP sends for one SKU and location, and what each
/// must leave: on_hand, and whether it was superseded.
fn reconcile_at(
    e: &Engine,
    clock: &ManualClock,
    now: u64,
    counted: i64,
    as_of: u64,
) -> (Qty, bool, Qty) {
    clock.set(now);
    let r = e
        .reconcile("tee", "wh", counted.into(), as_of, Note::default())
        .unwrap();
    (r.report.levels.on_hand, r.superseded, r.report.variance)
}

#[test]
fn the_newest_observation_wins_and_a_retried_reconciliation_changes_nothing() {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = Engine::with_config(config(&clock));
    for i in 0..3 {
        step(&e, i).unwrap();
    }
    let on_hand = |e: &Engine| e.levels("tee", "wh").unwrap().on_hand;
    clock.set(2_000);
    e.receive("tee", "wh", 3.into(), Note::default()).unwrap();
    assert_ne!(on_hand(&e), 11.into());
    // Counted 8 as of 1,500; the 3 received at 2,000 come on top.
    let (now, superseded, _) = reconcile_at(&e, &clock, 3_000, 8, 1_500);
    assert_eq!((now, superseded), (11.into(), false));
    // The ERP retries the same message: nothing more changes.
    let seq = e.last_seq();
    assert_eq!(
        reconcile_at(&e, &clock, 3_100, 8, 1_500),
        (11.into(), false, 0.into())
    );
    // It corrects it (the same time, another count): it replaces the first.
    assert_eq!(
        reconcile_at(&e, &clock, 3_150, 9, 1_500),
        (12.into(), false, 1.into())
    );
    assert!(e.last_seq() > seq);
    // A count as of an earlier time than one applied tells nothing new.
    let seq = e.last_seq();
    assert_eq!(
        reconcile_at(&e, &clock, 3_200, 20, 1_200),
        (12.into(), true, 0.into())
    );
    assert_eq!(
        e.last_seq(),
        seq,
        "a superseded reconciliation changes nothing"
    );
    // A newer one, applied after the older: it wins, and the older one's
    // variance is not among the changes replayed on top.
    assert_eq!(
        reconcile_at(&e, &clock, 3_250, 7, 2_500),
        (7.into(), false, (-5).into())
    );
    // A count in the store after the ERP's time wins over the ERP's.
    clock.set(3_300);
    e.count("tee", "wh", 6.into(), Note::default()).unwrap();
    assert_eq!(
        reconcile_at(&e, &clock, 3_400, 50, 3_250),
        (6.into(), true, 0.into())
    );
    // "As of" after the clock is as of now: then nothing older wins.
    assert_eq!(
        reconcile_at(&e, &clock, 3_500, 5, 9_000),
        (5.into(), false, (-1).into())
    );
    assert_eq!(
        reconcile_at(&e, &clock, 3_600, 4, 3_450),
        (5.into(), true, 0.into())
    );
    let kinds: Vec<EventKind> = e
        .events_since(0, 1_000)
        .unwrap()
        .into_iter()
        .filter(|x| matches!(x.kind, EventKind::Counted | EventKind::Reconciled))
        .map(|x| x.kind)
        .collect();
    use EventKind::{Counted, Reconciled};
    assert_eq!(
        kinds,
        [
            Reconciled, Reconciled, Reconciled, Reconciled, Counted, Reconciled
        ]
    );
    assert!(e.verify_ledger().unwrap());
}

#[test]
fn what_reconciliations_observed_survives_a_restart_and_a_snapshot() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    for i in 0..3 {
        step(&e, i).unwrap();
    }
    clock.set(2_000);
    e.receive("tee", "wh", 3.into(), Note::default()).unwrap();
    let (now, superseded, _) = reconcile_at(&e, &clock, 3_000, 8, 1_500);
    assert_eq!((now, superseded), (11.into(), false));
    drop(e);
    // Replayed from the journal: the older count and the retry still see
    // the count as of 1,500.
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(
        reconcile_at(&e, &clock, 3_100, 30, 1_400),
        (11.into(), true, 0.into())
    );
    assert_eq!(
        reconcile_at(&e, &clock, 3_200, 8, 1_500),
        (11.into(), false, 0.into())
    );
    e.checkpoint().unwrap();
    let snap = e.snapshot();
    drop(e);
    // Restored from the snapshot alone.
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.recovery().unwrap().records_replayed, 0);
    assert_eq!(e.snapshot(), snap);
    assert_eq!(
        reconcile_at(&e, &clock, 3_300, 30, 1_400),
        (11.into(), true, 0.into())
    );
    // And through serde, as a host keeps a snapshot.
    let json = serde_json::to_string(&snap).unwrap();
    let back = Engine::restore(serde_json::from_str(&json).unwrap(), config(&clock)).unwrap();
    assert_eq!(
        reconcile_at(&back, &clock, 3_300, 30, 1_400),
        (11.into(), true, 0.into())
    );
}

/// A durable engine with one store, `s1`, holding `tee` units, and a
/// channel `shop` selling from it.
fn reserve_shop(storage: &MemStorage, clock: &Arc<ManualClock>, tee: i64) -> Engine {
    let e = open_mem(storage, clock, Durability::Sync).unwrap();
    e.upsert_location(LocationSpec::store("s1")).unwrap();
    e.upsert_channel(ChannelSpec::new("shop", ["s1"])).unwrap();
    e.receive("tee", "s1", tee.into(), Note::default()).unwrap();
    e
}

/// Places `order` for `n` tees, click & reserve at `s1` for `hours`.
fn place_reserve(e: &Engine, order: &str, hours: u32, n: i64, allow_backorder: bool) -> Placed {
    let lines = [HoldLine::new("tee", n)];
    let req = RouteRequest {
        channel: "shop",
        fulfilment: Fulfilment::ClickAndReserve {
            store: "s1".into(),
            hours,
        },
        lines: &lines,
        options: RouteOptions {
            allow_backorder,
            ..RouteOptions::default()
        },
    };
    e.place(order, &req).unwrap()
}

/// A click & reserve order's time at the store survives restarts (journal
/// replay, a snapshot, serde) and ends at its own time: replayed where the
/// journal ended it, on open where it ended while the engine was down.
#[test]
fn click_and_reserve_times_survive_restarts_and_end_on_time() {
    const HOUR: u64 = 3_600_000;
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = reserve_shop(&storage, &clock, 10);
    place_reserve(&e, "r2", 2, 1, false);
    place_reserve(&e, "r5", 5, 2, false);
    let lines = [HoldLine::new("tee", 3).at("s1")];
    e.hold(&HoldRequest::new("h", "shop", &lines, HOUR))
        .unwrap();
    let fulfilment = Fulfilment::ClickAndReserve {
        store: "s1".into(),
        hours: 8,
    };
    e.place_hold("h", "r8", fulfilment, RouteOptions::default())
        .unwrap();
    // r8 becomes a 9-hour reservation an hour later.
    clock.set(1_000 + HOUR);
    let again = Fulfilment::ClickAndReserve {
        store: "s1".into(),
        hours: 9,
    };
    e.reroute("r8", again, RouteOptions::default()).unwrap();
    clock.set(1_000 + 3 * HOUR);
    assert_eq!(
        e.levels("tee", "s1").unwrap().allocated,
        5.into(),
        "r2 ended"
    );
    let state = |e: &Engine| {
        let orders: Vec<OrderView> = ["r2", "r5", "r8"]
            .iter()
            .map(|o| e.order_info(o).unwrap())
            .collect();
        (orders, e.levels("tee", "s1").unwrap(), e.snapshot())
    };
    let before = state(&e);
    assert_eq!(before.0[0].state, OrderState::Cancelled);
    assert_eq!(
        before
            .0
            .iter()
            .map(|o| o.reserved_until_ms)
            .collect::<Vec<_>>(),
        [
            Some(1_000 + 2 * HOUR),
            Some(1_000 + 5 * HOUR),
            Some(1_000 + 10 * HOUR)
        ]
    );
    drop(e);
    // Replayed from the journal, r2's end included.
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(state(&e), before);
    e.checkpoint().unwrap();
    let snap = e.snapshot();
    drop(e);
    // From the snapshot alone, after r5's time ended while down.
    clock.set(1_000 + 6 * HOUR);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.recovery().unwrap().records_replayed, 0);
    let r5 = e.order_info("r5").unwrap();
    assert_eq!(r5.state, OrderState::Cancelled);
    let last = e.events_since(e.last_seq() - 1, 1).unwrap();
    assert_eq!(
        (
            last[0].reference.as_str(),
            last[0].at_ms,
            last[0].reason.as_str()
        ),
        ("r5", 1_000 + 5 * HOUR, "expiry")
    );
    assert_eq!(e.levels("tee", "s1").unwrap().allocated, 3.into(), "r8's");
    assert!(e.verify_ledger().unwrap());
    drop(e);
    // r5's end is durable; r8 ends on time after another restart.
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.order_info("r5").unwrap().state, OrderState::Cancelled);
    clock.set(1_000 + 10 * HOUR);
    assert_eq!(e.levels("tee", "s1").unwrap().allocated, 0.into());
    // Through serde, as a host keeps a snapshot.
    let json = serde_json::to_string(&snap).unwrap();
    let back = Engine::restore(serde_json::from_str(&json).unwrap(), config(&clock)).unwrap();
    assert_eq!(back.snapshot(), {
        let e = Engine::restore(snap.clone(), config(&clock)).unwrap();
        e.snapshot()
    });
    assert_eq!(back.order_info("r8").unwrap().state, OrderState::Cancelled);
    assert_eq!(back.levels("tee", "s1").unwrap().allocated, 0.into());
}

/// A click & reserve order with backordered units starts its time at the
/// store once none is backordered any more (filled or cancelled), and that
/// wait survives a snapshot and the journal.
#[test]
fn a_backordered_click_and_reserve_starts_its_time_when_everything_is_there() {
    const HOUR: u64 = 3_600_000;
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = reserve_shop(&storage, &clock, 1);
    e.expect_receipt("tee", "s1", 5.into(), 1_000 + 48 * HOUR, "PO-1")
        .unwrap();
    place_reserve(&e, "rb", 4, 3, true);
    place_reserve(&e, "rc", 4, 3, true);
    let v = e.order_info("rb").unwrap();
    assert_eq!((v.reserved_until_ms, v.backorders.len()), (None, 1));
    e.checkpoint().unwrap();
    // Days pass: the unit in the store stays set aside while the rest is
    // on its way.
    clock.set(1_000 + 48 * HOUR);
    drop(e);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.levels("tee", "s1").unwrap().allocated, 1.into());
    e.receive("tee", "s1", 5.into(), Note::new("po", "PO-1"))
        .unwrap();
    e.fill_backorders("rb").unwrap();
    e.cancel_backorders("rc").unwrap();
    let started = 1_000 + 48 * HOUR + 4 * HOUR;
    assert_eq!(e.order_info("rb").unwrap().reserved_until_ms, Some(started));
    assert_eq!(e.order_info("rc").unwrap().reserved_until_ms, Some(started));
    drop(e);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.order_info("rb").unwrap().reserved_until_ms, Some(started));
    clock.set(started);
    assert_eq!(e.levels("tee", "s1").unwrap().allocated, 0.into());
    assert_eq!(e.order_info("rb").unwrap().state, OrderState::Cancelled);
    assert!(e.verify_ledger().unwrap());
}

#[test]
fn a_ledger_subscriber_resumes_after_a_restart_without_gaps_or_repeats() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let seen = Arc::new(parking_lot::Mutex::new(Vec::<u64>::new()));
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    for i in 0..10 {
        step(&e, i).unwrap();
    }
    let s = seen.clone();
    e.subscribe_from(0, move |batch| s.lock().extend(batch.iter().map(|x| x.seq)))
        .unwrap();
    for i in 10..20 {
        step(&e, i).unwrap();
    }
    let upto = e.last_seq();
    assert_eq!(*seen.lock(), (1..=upto).collect::<Vec<_>>());
    // The subscriber processed up to `processed` when the engine went down.
    let processed = upto - 3;
    for i in 20..25 {
        step(&e, i).unwrap();
    }
    let total = e.last_seq();
    drop(e);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    let again = Arc::new(parking_lot::Mutex::new(Vec::<u64>::new()));
    let a = again.clone();
    e.subscribe_from(processed, move |batch| {
        a.lock().extend(batch.iter().map(|x| x.seq))
    })
    .unwrap();
    assert_eq!(*again.lock(), ((processed + 1)..=total).collect::<Vec<_>>());
    for i in 25..30 {
        step(&e, i).unwrap();
    }
    assert_eq!(
        *again.lock(),
        ((processed + 1)..=e.last_seq()).collect::<Vec<_>>()
    );
    assert!(matches!(
        e.subscribe_from(e.last_seq() + 5, |_| {}),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn a_bulk_load_checks_everything_first_reports_progress_and_replays() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    for i in 0..3 {
        step(&e, i).unwrap();
    }
    e.declare_sku("rope", SkuSpec { unit_scale: 2 }).unwrap();
    let names: Vec<String> = (0..50_000).map(|i| format!("bulk-{i}")).collect();
    let mut records: Vec<LoadRecord<'_>> = names
        .iter()
        .flat_map(|n| {
            [
                LoadRecord {
                    sku: n,
                    location: "wh",
                    qty: 3.into(),
                },
                LoadRecord {
                    sku: n,
                    location: "st",
                    qty: 1.into(),
                },
            ]
        })
        .collect();
    records.push(LoadRecord {
        sku: "rope",
        location: "wh",
        qty: Qty::from_decimal("1.25".parse().unwrap()),
    });
    // A bad record anywhere fails the call with nothing changed.
    let seq = e.last_seq();
    let mut bad = records.clone();
    bad.push(LoadRecord {
        sku: "rope",
        location: "wh",
        qty: Qty::from_decimal("0.001".parse().unwrap()),
    });
    assert!(matches!(
        e.bulk_load(&bad, Note::default(), &mut |_, _| {}),
        Err(Error::InvalidQuantity { .. })
    ));
    bad.pop();
    bad.push(LoadRecord {
        sku: "x",
        location: "nowhere",
        qty: 1.into(),
    });
    assert!(matches!(
        e.bulk_load(&bad, Note::default(), &mut |_, _| {}),
        Err(Error::UnknownLocation { .. })
    ));
    assert_eq!((e.last_seq(), e.skus().len()), (seq, 1));

    let mut calls = Vec::new();
    let report = e
        .bulk_load(
            &records,
            Note::new("opening_stock", "LOAD-1"),
            &mut |done, total| calls.push((done, total)),
        )
        .unwrap();
    assert_eq!(
        report,
        LoadReport {
            records: 100_001,
            skus_created: 50_000
        }
    );
    assert_eq!(calls.last(), Some(&(100_001, 100_001)));
    assert!(calls.len() >= 2 && calls.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(e.levels("bulk-49999", "wh").unwrap().on_hand, 3.into());
    assert_eq!(e.availability(WEB, "bulk-7").unwrap(), 4.into());
    assert_eq!(
        e.levels("rope", "wh").unwrap().on_hand,
        Qty::from_decimal("1.25".parse().unwrap())
    );
    assert!(e.verify_ledger().unwrap());
    let before = e.snapshot();
    drop(e);
    let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
    assert_eq!(e.snapshot(), before);
}

mod fuzz {
    //! Arbitrary bytes as a journal or a snapshot: recovery is Ok or a
    //! typed error, never a panic. Records get a valid checksum, so the
    //! record decoder and the replay see the garbage.
    use super::*;
    use proptest::prelude::*;

    fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"UNSTJ001".to_vec();
        for p in payloads {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc(p).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// crc32c (Castagnoli), bitwise: the test does not trust the crate it checks.
    fn crc(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82f6_3b78
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        (
            1u64..4,
            0u8..30,
            proptest::collection::vec(any::<u8>(), 0..80),
        )
            .prop_map(|(seq, tag, rest)| {
                let mut p = Vec::new();
                p.extend_from_slice(&seq.to_le_bytes());
                p.extend_from_slice(&seq.to_le_bytes());
                p.extend_from_slice(&1_000u64.to_le_bytes());
                p.push(tag);
                p.extend_from_slice(&rest);
                p
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            common::env_or("UNISTOCK_FUZZ_CASES", 256)
        ))]

        #[test]
        fn garbage_records_are_a_typed_error_or_nothing(records in proptest::collection::vec(payload(), 1..4)) {
            let storage = MemStorage::new();
            storage.set_bytes("journal-00000000000000000000.log", framed(&records));
            let clock = Arc::new(ManualClock::new(1_000));
            match open_mem(&storage, &clock, Durability::None) {
                Ok(_) => {}
                Err(e) => prop_assert!(matches!(e, Error::Corrupt { .. }), "{e}"),
            }
        }

        #[test]
        fn garbage_files_are_a_typed_error_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..300), snapshot in any::<bool>()) {
            let storage = MemStorage::new();
            let name = if snapshot { "snapshot-00000000000000000001.bin" } else { "journal-00000000000000000000.log" };
            let mut b = if snapshot { b"UNSTS001".to_vec() } else { b"UNSTJ001".to_vec() };
            b.extend_from_slice(&bytes);
            storage.set_bytes(name, b);
            let clock = Arc::new(ManualClock::new(1_000));
            match open_mem(&storage, &clock, Durability::None) {
                Ok(_) => {}
                Err(e) => prop_assert!(matches!(e, Error::Corrupt { .. }), "{e}"),
            }
        }
    }
}

mod lockstep {
    //! Random operation sequences run in lockstep on an in-memory engine and
    //! on a durable one that is restarted, checkpointed, killed or cut at
    //! random points: after every restart the durable engine's whole state
    //! equals the in-memory one's (everything was acknowledged in `sync`).
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Receive(u8, u8, u8),
        Hold(u8, u8, u8, u16),
        Release(u8),
        Commit(u8),
        Fulfil(u8),
        TillSale(u8, u8),
        Count(u8, u8, u8),
        /// An outside count as of this many ms ago.
        Reconcile(u8, u8, u8, u16),
        /// Click & reserve at the store: order, SKU, units, hours.
        Reserve(u8, u8, u8, u8),
        /// One unit of a click & reserve order picked up.
        PickUp(u8),
        /// A click & reserve order given new hours (a re-route).
        Rereserve(u8, u8),
        Advance(u16),
        /// Hours pass; nothing is swept until the next operation.
        AdvanceHours(u8),
        /// The clock set back (never below 0).
        Rewind(u16),
        Restart,
        Kill,
        Checkpoint,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, 0u8..2, 1u8..6).prop_map(|(s, l, q)| Op::Receive(s, l, q)),
            (0u8..40, 0u8..4, 1u8..4, 1u16..400).prop_map(|(h, s, q, t)| Op::Hold(h, s, q, t)),
            (0u8..40).prop_map(Op::Release),
            (0u8..40).prop_map(Op::Commit),
            (0u8..40).prop_map(Op::Fulfil),
            (0u8..4, 1u8..3).prop_map(|(s, q)| Op::TillSale(s, q)),
            (0u8..4, 0u8..2, 0u8..8).prop_map(|(s, l, q)| Op::Count(s, l, q)),
            (0u8..4, 0u8..2, 0u8..8, 0u16..400).prop_map(|(s, l, q, b)| Op::Reconcile(s, l, q, b)),
            (0u8..8, 0u8..4, 1u8..3, 1u8..4).prop_map(|(o, s, q, h)| Op::Reserve(o, s, q, h)),
            (0u8..8).prop_map(Op::PickUp),
            (0u8..8, 1u8..4).prop_map(|(o, h)| Op::Rereserve(o, h)),
            (1u16..300).prop_map(Op::Advance),
            (1u8..3).prop_map(Op::AdvanceHours),
            (1u16..300).prop_map(Op::Rewind),
            Just(Op::Restart),
            Just(Op::Kill),
            Just(Op::Checkpoint),
        ]
    }

    const LOCS: [&str; 2] = ["wh", "st"];

    /// Applies `op` to `e`; the outcome as a comparable string.
    fn apply(e: &Engine, clock: &ManualClock, op: &Op, n: usize) -> String {
        let sku = |s: u8| format!("s{s}");
        let r = match op {
            Op::Receive(s, l, q) => e
                .receive(
                    &sku(*s),
                    LOCS[*l as usize],
                    (*q as i64).into(),
                    Note::default(),
                )
                .map(|_| ()),
            Op::Hold(h, s, q, ttl) => {
                let name = sku(*s);
                let lines = [HoldLine::new(&name, *q as i64)];
                e.hold(&HoldRequest::new(
                    &format!("h{h}"),
                    WEB,
                    &lines,
                    *ttl as u64,
                ))
                .map(|_| ())
            }
            Op::Release(h) => e.release(&format!("h{h}")),
            Op::Commit(h) => e.commit(&format!("h{h}"), &format!("o{h}")).map(|_| ()),
            Op::Fulfil(h) => e.cancel_order(&format!("o{h}")).map(|_| ()),
            Op::TillSale(s, q) => {
                let name = sku(*s);
                e.till_sale(&format!("sale{n}"), WEB, &[HoldLine::new(&name, *q as i64)])
                    .map(|_| ())
            }
            Op::Count(s, l, q) => e
                .count(
                    &sku(*s),
                    LOCS[*l as usize],
                    (*q as i64).into(),
                    Note::default(),
                )
                .map(|_| ()),
            Op::Reconcile(s, l, q, back) => {
                let as_of = clock.now_ms().saturating_sub(*back as u64);
                let loc = LOCS[*l as usize];
                return match e.reconcile(&sku(*s), loc, (*q as i64).into(), as_of, Note::default())
                {
                    Ok(r) => format!("{r:?}"),
                    Err(err) => err.code().into(),
                };
            }
            Op::Reserve(o, s, q, hours) => {
                let name = sku(*s);
                let lines = [HoldLine::new(&name, *q as i64)];
                let req = RouteRequest {
                    channel: WEB,
                    fulfilment: reserve_at_st(*hours),
                    lines: &lines,
                    options: RouteOptions::default(),
                };
                e.place(&format!("r{o}"), &req).map(|_| ())
            }
            Op::PickUp(o) => {
                let order = format!("r{o}");
                match e.order_info(&order) {
                    Ok(v) => match v.lines.first() {
                        Some(l) => e.fulfil(&order, &[HoldLine::new(&l.0, 1)]).map(|_| ()),
                        None => Ok(()),
                    },
                    Err(err) => Err(err),
                }
            }
            Op::Rereserve(o, hours) => e
                .reroute(
                    &format!("r{o}"),
                    reserve_at_st(*hours),
                    RouteOptions::default(),
                )
                .map(|_| ()),
            Op::Advance(ms) => {
                clock.advance(*ms as u64);
                e.expire_due(clock.now_ms());
                Ok(())
            }
            Op::AdvanceHours(h) => {
                clock.advance(*h as u64 * 3_600_000);
                Ok(())
            }
            Op::Rewind(ms) => {
                clock.set(clock.now_ms().saturating_sub(*ms as u64));
                Ok(())
            }
            Op::Restart | Op::Kill | Op::Checkpoint => Ok(()),
        };
        match r {
            Ok(()) => "ok".into(),
            Err(err) => err.code().into(),
        }
    }

    fn reserve_at_st(hours: u8) -> Fulfilment {
        Fulfilment::ClickAndReserve {
            store: "st".into(),
            hours: hours as u32,
        }
    }

    fn setup(e: &Engine) {
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.upsert_location(LocationSpec::store("st")).unwrap();
        e.upsert_channel(ChannelSpec::new(WEB, LOCS)).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            common::env_or("UNISTOCK_LOCKSTEP_CASES", 64)
        ))]

        #[test]
        fn a_durable_engine_restarted_anywhere_stays_equal_to_memory(ops in proptest::collection::vec(op(), 1..60)) {
            let mem_clock = Arc::new(ManualClock::new(1_000));
            let mem = Engine::with_config(config(&mem_clock));
            setup(&mem);
            let mut storage = MemStorage::new();
            let clock = Arc::new(ManualClock::new(1_000));
            let mut dur = Some(open_mem(&storage, &clock, Durability::Sync).unwrap());
            setup(dur.as_ref().unwrap());
            for (n, op) in ops.iter().enumerate() {
                match op {
                    Op::Restart | Op::Kill => {
                        let before = mem.snapshot();
                        if matches!(op, Op::Kill) {
                            // The process dies: what it wrote stays (this
                            // copy); the old engine then closes onto the
                            // old storage, which nothing reads again
                            // (leaked instead, each kept its flusher
                            // thread: thousands in a long run).
                            let killed = storage.killed();
                            drop(dur.take());
                            storage = killed;
                        } else {
                            drop(dur.take());
                        }
                        // Both engines expire what is due on open.
                        mem.expire_due(mem_clock.now_ms());
                        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
                        let expected = mem.snapshot();
                        prop_assert_eq!(e.snapshot(), expected, "after {:?} at step {}", op, n);
                        let _ = before;
                        dur = Some(e);
                    }
                    Op::Checkpoint => {
                        dur.as_ref().unwrap().checkpoint().unwrap();
                    }
                    _ => {
                        let a = apply(&mem, &mem_clock, op, n);
                        let b = apply(dur.as_ref().unwrap(), &clock, op, n);
                        prop_assert_eq!(a, b, "step {} {:?}", n, op);
                    }
                }
            }
        }
    }
}

/// A closed order's retention runs across restarts, from the journal and
/// from a snapshot alike: it is still there (and retries replay) until its
/// purge time, then gone.
#[test]
fn closed_orders_keep_their_purge_time_across_restarts() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let retention = Config::default().order_retention_ms;
    let lines = [HoldLine::new("tee", 1)];
    {
        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
        e.upsert_location(LocationSpec::store("st")).unwrap();
        e.upsert_channel(ChannelSpec::new("till", ["st"])).unwrap();
        e.receive("tee", "st", 5.into(), Note::default()).unwrap();
        e.till_sale("s1", "till", &lines).unwrap();
        clock.advance(1_000);
        e.checkpoint().unwrap();
        clock.advance(1_000);
        e.till_sale("s2", "till", &lines).unwrap();
    }
    clock.advance(retention - 2_000 - 1);
    {
        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
        assert!(e.till_sale("s1", "till", &lines).unwrap().replayed);
        assert!(e.till_sale("s2", "till", &lines).unwrap().replayed);
    }
    clock.advance(1);
    {
        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
        assert_eq!(e.order_info("s1").unwrap_err().code(), "E_UNKNOWN_ORDER");
        assert_eq!(e.order_info("s2").unwrap().id, "s2", "closed 2 s later");
        clock.advance(2_000);
        assert_eq!(e.order_info("s2").unwrap_err().code(), "E_UNKNOWN_ORDER");
        assert!(!e.till_sale("s1", "till", &lines).unwrap().replayed);
        assert_eq!(e.levels("tee", "st").unwrap().on_hand, 2.into());
    }
}

/// An ended transfer's retention runs across restarts, from the journal and
/// from a snapshot alike.
#[test]
fn ended_transfers_keep_their_purge_time_across_restarts() {
    let storage = MemStorage::new();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let retention = Config::default().transfer_retention_ms;
    {
        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.upsert_location(LocationSpec::store("st")).unwrap();
        e.receive("tee", "wh", 5.into(), Note::default()).unwrap();
        e.dispatch_transfer("t1", "tee", "wh", "st", 1.into())
            .unwrap();
        e.receive_transfer("t1", None).unwrap();
        clock.advance(1_000);
        e.checkpoint().unwrap();
        clock.advance(1_000);
        e.dispatch_transfer("t2", "tee", "wh", "st", 1.into())
            .unwrap();
        e.cancel_transfer("t2").unwrap();
    }
    clock.advance(retention - 2_000 - 1);
    {
        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
        assert_eq!(
            e.transfer_info("t1").unwrap().state,
            TransferState::Received
        );
        assert_eq!(
            e.transfer_info("t2").unwrap().state,
            TransferState::Cancelled
        );
    }
    clock.advance(1);
    {
        let e = open_mem(&storage, &clock, Durability::Sync).unwrap();
        assert_eq!(
            e.transfer_info("t1").unwrap_err().code(),
            "E_UNKNOWN_TRANSFER"
        );
        assert_eq!(e.transfer_info("t2").unwrap().id, "t2", "ended 2 s later");
        clock.advance(2_000);
        assert_eq!(
            e.transfer_info("t2").unwrap_err().code(),
            "E_UNKNOWN_TRANSFER"
        );
        let again = e
            .dispatch_transfer("t1", "tee", "wh", "st", 1.into())
            .unwrap();
        assert_eq!(again.state, TransferState::InTransit);
        assert_eq!(e.levels("tee", "wh").unwrap().on_hand, 3.into());
    }
}
