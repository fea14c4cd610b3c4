#![allow(dead_code)]
pub mod refmodel;

use std::sync::Arc;
use unistock::{Cap, ChannelSpec, Config, Engine, LocationSpec, ManualClock, Note, Part};

pub const T0: u64 = 1_700_000_000_000;
pub const MIN: u64 = 60_000;

/// A harness's size knob from the environment (stress scale, cases,
/// threads, rounds): `default` when it is unset or not a number.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Two warehouses, two stores; channels web (wh-1, wh-2, store-1),
/// till:store-1 (store-1), market (wh-1, capped at 3 units).
pub fn shop() -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_config(Config {
        ledger_retention: None,
        ..Config::with_clock(clock.clone())
    });
    engine
        .upsert_location(LocationSpec::warehouse("wh-1"))
        .unwrap();
    engine
        .upsert_location(LocationSpec::warehouse("wh-2"))
        .unwrap();
    engine
        .upsert_location(LocationSpec::store("store-1"))
        .unwrap();
    engine
        .upsert_location(LocationSpec::store("store-2"))
        .unwrap();
    engine
        .upsert_channel(ChannelSpec::new("web", ["wh-1", "wh-2", "store-1"]))
        .unwrap();
    engine
        .upsert_channel(ChannelSpec::new("till:store-1", ["store-1"]))
        .unwrap();
    engine
        .upsert_channel(ChannelSpec::new("market", ["wh-1"]).cap(Cap::Units(3)))
        .unwrap();
    (engine, clock)
}

pub fn receive(e: &Engine, sku: &str, loc: &str, n: i64) {
    e.receive(sku, loc, n.into(), Note::new("po_receipt", "PO-test"))
        .unwrap();
}

/// An engine opened on in-memory storage, snapshots only on demand.
pub fn open_mem_with(
    storage: &unistock::durable::MemStorage,
    config: unistock::Config,
    mode: unistock::Durability,
) -> unistock::Result<Engine> {
    Engine::open_storage(
        Arc::new(storage.clone()) as Arc<dyn unistock::durable::Storage>,
        config,
        unistock::DurableOptions {
            mode,
            snapshot_bytes: 0,
        },
    )
}

/// The ledger folds to the live levels.
pub fn assert_ledger_folds(e: &Engine) {
    assert_eq!(
        e.fold_ledger().unwrap(),
        e.levels_as_folded(),
        "ledger fold differs from live state"
    );
}

/// Bound parts as (SKU, location, units), the SKU and location by their
/// place in `skus` and `locs`.
pub fn part_indices(
    e: &Engine,
    parts: &[Part],
    skus: &[&str],
    locs: &[&str],
) -> Vec<(usize, usize, i64)> {
    parts
        .iter()
        .map(|p| {
            let sku = e.sku_name(p.sku);
            let loc = e.location_name(p.location.expect("a bound part"));
            (
                skus.iter().position(|x| *x == sku).unwrap(),
                locs.iter().position(|x| *x == loc).unwrap(),
                p.qty.as_units().unwrap(),
            )
        })
        .collect()
}

/// A small deterministic generator (xorshift64) for threads of random
/// calls; the seed must not be 0.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
