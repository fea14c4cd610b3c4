//! Routing speed alone, for perf: the criterion routing bench's rig (100
//! locations, 1,000 SKUs at 10 locations each), N plans of 5 lines with
//! nearest + fewest shipments, then N route + place.
//!
//! `cargo run --release -p unistock --example route_probe [N] [route|place]`
//! (`EXPLAIN=k` lists k ranked candidates per plan instead of 10).
use std::time::Instant;
use unistock::*;

#[path = "../benches/common/routing_rig.rs"]
mod rig;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(200_000, |a| a.parse().unwrap());
    let mode = std::env::args().nth(2).unwrap_or_default();
    let place = mode != "route";
    let route = mode != "place";
    let (e, skus) = rig::rig_with(Config::default());
    let options = RouteOptions {
        strategies: vec![RouteStrategy::FewestShipments, RouteStrategy::Nearest],
        explain: std::env::var("EXPLAIN")
            .ok()
            .map_or(10, |v| v.parse().unwrap()),
        ..RouteOptions::default()
    };
    let mut r = rig::Lcg(11);
    let t = Instant::now();
    for _ in 0..if route { n } else { 0 } {
        let lines = rig::lines(&mut r, &skus);
        let req = RouteRequest {
            channel: "web",
            fulfilment: rig::ship_to(&mut r),
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
        let lines = rig::lines(&mut r, &skus);
        let req = RouteRequest {
            channel: "web",
            fulfilment: rig::ship_to(&mut r),
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
