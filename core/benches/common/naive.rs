//! The baseline a shop would hand-write: one global lock around a map,
//! doing the same check-and-reserve as a single-line hold. Shared by
//! `benches/holds.rs` and `examples/ratio_probe.rs`, so that the probe's
//! ratio is the bench's.
#![allow(dead_code)] // each user takes what it needs

use parking_lot::Mutex;
use std::collections::HashMap;

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
