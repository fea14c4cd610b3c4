//! The hold benchmarks' shop and their baseline, shared by
//! `benches/holds.rs` and the probes that explain its figures
//! (`examples/profile_holds.rs`, `ratio_probe.rs`, `scaling_probe.rs`), so
//! that a probe times what the bench times.
#![allow(dead_code)] // each user takes what it needs

use parking_lot::Mutex;
use std::collections::HashMap;
use unistock::{ChannelSpec, Engine, LocationSpec, Note};

/// Two warehouses, a channel `web` over both, and `skus` SKUs named
/// `sku-000000`... with 1,000,000 units each at the first warehouse;
/// returns the names.
pub fn stock_shop(e: &Engine, skus: usize) -> Vec<String> {
    e.upsert_location(LocationSpec::warehouse("wh-1")).unwrap();
    e.upsert_location(LocationSpec::warehouse("wh-2")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh-1", "wh-2"]))
        .unwrap();
    let names: Vec<String> = (0..skus).map(|i| format!("sku-{i:06}")).collect();
    for n in &names {
        e.receive(n, "wh-1", 1_000_000.into(), Note::default())
            .unwrap();
    }
    names
}

/// The baseline a shop would hand-write: one global lock around a map,
/// doing the same check-and-reserve as a single-line hold.
pub struct Naive {
    map: Mutex<HashMap<String, (i64, i64)>>,
}

impl Naive {
    /// Every SKU of `names` with 1,000,000 units and none reserved.
    pub fn new(names: &[String]) -> Self {
        Naive {
            map: Mutex::new(names.iter().map(|n| (n.clone(), (1_000_000, 0))).collect()),
        }
    }

    /// Reserves `q` units of `sku` if that many are free.
    pub fn hold(&self, sku: &str, q: i64) -> bool {
        let mut m = self.map.lock();
        let e = m.get_mut(sku).unwrap();
        if e.0 - e.1 >= q {
            e.1 += q;
            true
        } else {
            false
        }
    }

    pub fn release(&self, sku: &str, q: i64) {
        self.map.lock().get_mut(sku).unwrap().1 -= q;
    }
}
