//! Fuzzing the recovery: a damaged journal (and snapshot) is opened. The
//! open must be `Ok` or a typed error, never a panic or an abort; when it
//! is `Ok`, the recovered ledger must fold to the recovered levels.
//!
//! The input edits a real journal (a short day of receipts, holds,
//! commits, releases, till sales, counts, a transfer and a refusal) so
//! that the fuzzer starts deep in the decoder: a cut, byte edits, and
//! optionally the record checksums made valid again (so that the edited
//! bodies reach the decoder and the replay, not just the checksum check).
//! With the first byte's top bit set, the rest of the input is the whole
//! segment instead, and its second bit puts the input in the snapshot.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use unistock::durable::{MemStorage, Storage};
use unistock::*;

/// The files of the day: each name with its bytes.
fn day() -> &'static Vec<(String, Vec<u8>)> {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let storage = MemStorage::new();
        let e = open(&storage).unwrap();
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.upsert_location(LocationSpec::store("st")).unwrap();
        e.upsert_channel(ChannelSpec::new("web", ["wh", "st"]))
            .unwrap();
        e.upsert_channel(ChannelSpec::new("till", ["st"])).unwrap();
        e.receive("tee", "wh", 20.into(), Note::new("po", "PO-1"))
            .unwrap();
        e.receive("tee", "st", 4.into(), Note::default()).unwrap();
        e.declare_sku("rope", SkuSpec { unit_scale: 2 }).unwrap();
        e.receive(
            "rope",
            "wh",
            Qty::from_decimal("7.25".parse().unwrap()),
            Note::default(),
        )
        .unwrap();
        for i in 0..6 {
            let lines = [HoldLine::new("tee", 1 + i % 3)];
            e.hold(&HoldRequest::new(
                &format!("h{i}"),
                "web",
                &lines,
                1_000 * (1 + i as u64),
            ))
            .unwrap();
        }
        e.commit("h0", "o0").unwrap();
        e.release("h1").unwrap();
        e.fulfil("o0", &[OrderLine::new("tee", 1)]).unwrap();
        e.till_sale("s0", "till", &[HoldLine::new("tee", 1)])
            .unwrap();
        let _ = e.till_sale("s1", "till", &[HoldLine::new("tee", 99)]);
        e.count("tee", "st", 2.into(), Note::new("count", "C-1"))
            .unwrap();
        e.dispatch_transfer("t0", "tee", "wh", "st", 2.into())
            .unwrap();
        e.receive_transfer("t0", None).unwrap();
        e.close().unwrap();
        storage
            .names()
            .into_iter()
            .filter(|n| n != "LOCK")
            .map(|n| {
                let b = storage.bytes(&n);
                (n, b)
            })
            .collect()
    })
}

fn open(storage: &MemStorage) -> Result<Engine> {
    Engine::open_storage(
        Arc::new(storage.clone()) as Arc<dyn Storage>,
        Config {
            ledger_retention: None,
            ..Config::with_clock(Arc::new(ManualClock::new(1_000_000)))
        },
        DurableOptions {
            mode: Durability::None,
            snapshot_bytes: 0,
        },
    )
}

/// Makes every whole record's checksum right again.
fn fix_checksums(seg: &mut [u8]) {
    let mut at = 8;
    while at + 8 <= seg.len() {
        let len = u32::from_le_bytes(seg[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e <= seg.len()) else {
            return;
        };
        let crc = crc32c::crc32c(&seg[at + 8..end]);
        seg[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let storage = MemStorage::new();
    let mut files = day().clone();
    let journal = files
        .iter()
        .rposition(|(n, _)| n.starts_with("journal-"))
        .expect("the day has a journal");
    if mode & 0x80 != 0 {
        let target = if mode & 0x40 != 0 {
            files
                .iter()
                .position(|(n, _)| n.starts_with("snapshot-"))
                .unwrap_or(journal)
        } else {
            journal
        };
        files[target].1 = rest.to_vec();
    } else {
        // A cut, then (offset, xor) edits; bit 0 of `mode`: checksums fixed.
        let seg = &mut files[journal].1;
        let (cut, edits) = match rest {
            [a, b, edits @ ..] => (u16::from_le_bytes([*a, *b]) as usize, edits),
            _ => (usize::MAX, rest),
        };
        for e in edits.chunks_exact(3) {
            let at = u16::from_le_bytes([e[0], e[1]]) as usize;
            if !seg.is_empty() {
                let len = seg.len();
                seg[at % len] ^= e[2];
            }
        }
        if cut < seg.len() {
            seg.truncate(cut);
        }
        if mode & 1 != 0 {
            fix_checksums(seg);
        }
    }
    for (name, bytes) in files {
        storage.set_bytes(&name, bytes);
    }
    if let Ok(e) = open(&storage) {
        let folded = e.fold_ledger().expect("a recovered ledger folds");
        assert_eq!(
            folded,
            e.levels_as_folded(),
            "the ledger folds to the levels"
        );
    }
});
