//! Routing speed alone, for perf: the criterion routing bench's rig (100
//! locations, 1,000 SKUs at 10 locations each), N plans of 5 lines with
//! nearest + fewest shipments, then N route + place.
//!
//! `cargo run --release -p unistock --example route_probe [N] [route|place]`
//! (`EXPLAIN=k` lists k ranked candidates per plan instead of 10).
use std::time::Instant;
use unistock::*;

struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(200_000, |a| a.parse().unwrap());
    let mode = std::env::args().nth(2).unwrap_or_default();
    let place = mode != "route";
    let route = mode != "place";
    let e = Engine::new();
    let mut r = Lcg(7);
    let locs: Vec<String> = (0..100).map(|i| format!("wh-{i:03}")).collect();
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
    let skus: Vec<String> = (0..1000).map(|i| format!("sku-{i:04}")).collect();
    for s in &skus {
        for _ in 0..10 {
            e.receive(s, &locs[r.below(100)], 10_000.into(), Note::default())
                .unwrap();
        }
    }
    let options = RouteOptions {
        strategies: vec![RouteStrategy::FewestShipments, RouteStrategy::Nearest],
        explain: std::env::var("EXPLAIN")
            .ok()
            .map_or(10, |v| v.parse().unwrap()),
        ..RouteOptions::default()
    };
    let mut r = Lcg(11);
    let t = Instant::now();
    for _ in 0..if route { n } else { 0 } {
        let lines: [HoldLine<'_>; 5] =
            std::array::from_fn(|_| HoldLine::new(&skus[r.below(1000)], 1));
        let req = RouteRequest {
            channel: "web",
            fulfilment: Fulfilment::Ship {
                lat: 43.0 + (r.below(800) as f64) / 100.0,
                lon: -1.0 + (r.below(800) as f64) / 100.0,
                country: String::new(),
            },
            lines: &lines,
            options: options.clone(),
        };
        std::hint::black_box(e.route(&req).unwrap());
    }
    let el = t.elapsed();
    if route {
        println!(
            "route: {:.0} plans/s ({:?}/plan)",
            n as f64 / el.as_secs_f64(),
            el / n as u32
        );
    }
    if !place {
        return;
    }
    let t = Instant::now();
    for i in 0..n {
        let lines: [HoldLine<'_>; 5] =
            std::array::from_fn(|_| HoldLine::new(&skus[r.below(1000)], 1));
        let req = RouteRequest {
            channel: "web",
            fulfilment: Fulfilment::Ship {
                lat: 43.0 + (r.below(800) as f64) / 100.0,
                lon: -1.0 + (r.below(800) as f64) / 100.0,
                country: String::new(),
            },
            lines: &lines,
            options: options.clone(),
        };
        std::hint::black_box(e.place(&format!("o{i}"), &req).unwrap());
    }
    let el = t.elapsed();
    println!(
        "route + place: {:.0} orders/s ({:?}/order)",
        n as f64 / el.as_secs_f64(),
        el / n as u32
    );
    // Not timed, and not worth profiling: freeing the order book.
    std::mem::forget(e);
}
