//! The routing rig, shared by `benches/routing.rs` and
//! `examples/route_probe.rs` so that the probe profiles what the bench
//! measures: 100 warehouses spread over France, 1,000 SKUs each stocked at
//! 10 random locations, and random 5-line orders shipped to random
//! addresses.
#![allow(dead_code)] // each user takes what it needs

use unistock::*;

pub const LOCS: usize = 100;
pub const SKUS: usize = 1000;

/// A tiny deterministic generator (the same runs in every build).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The engine (channel `web` over every location) and the SKU names.
pub fn rig_with(config: Config) -> (Engine, Vec<String>) {
    let e = Engine::with_config(config);
    let mut r = Lcg(7);
    let locs: Vec<String> = (0..LOCS).map(|i| format!("wh-{i:03}")).collect();
    for (i, l) in locs.iter().enumerate() {
        let lat = 43.0 + (r.below(800) as f64) / 100.0;
        let lon = -1.0 + (r.below(800) as f64) / 100.0;
        e.upsert_location(
            LocationSpec::warehouse(l)
                .at(lat, lon)
                .priority(i as i32 % 7),
        )
        .unwrap();
    }
    e.upsert_channel(ChannelSpec::new("web", locs.clone()))
        .unwrap();
    let skus: Vec<String> = (0..SKUS).map(|i| format!("sku-{i:04}")).collect();
    for s in &skus {
        for _ in 0..10 {
            e.receive(s, &locs[r.below(LOCS)], 10_000.into(), Note::default())
                .unwrap();
        }
    }
    (e, skus)
}

/// Five random lines of one unit each.
pub fn lines<'a>(r: &mut Lcg, skus: &'a [String]) -> [HoldLine<'a>; 5] {
    std::array::from_fn(|_| HoldLine::new(&skus[r.below(SKUS)], 1))
}

/// A random address in the rig's area.
pub fn ship_to(r: &mut Lcg) -> Fulfilment {
    Fulfilment::Ship {
        lat: 43.0 + (r.below(800) as f64) / 100.0,
        lon: -1.0 + (r.below(800) as f64) / 100.0,
        country: String::new(),
    }
}
