//! Routing's exact choices, pinned: 1,000 random routes (every fulfilment,
//! strategy set and option, a closed location, locations that do not ship,
//! expected receipts) against a digest per route kept in
//! `tests/golden/routing.txt`. The property tests check that plans are
//! valid and minimal; this one checks that a change meant to make routing
//! faster leaves every plan, explanation and error exactly as it was.
//!
//! After an intended change of behaviour: `UNISTOCK_BLESS=1 cargo test -p
//! unistock --test routing_golden` rewrites the file (review its diff).

use std::fmt::Write as _;
use std::sync::Arc;
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

/// FNV-1a: stable across platforms and Rust versions.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Everything a host sees of a plan, floats rounded to metres so that a
/// last-bit difference of the platform's `asin` cannot matter.
fn summary(r: &Result<Plan>) -> String {
    let mut s = String::new();
    match r {
        Err(e) => write!(s, "error {} {}", e.code(), e).unwrap(),
        Ok(p) => {
            for sh in &p.shipments {
                write!(
                    s,
                    "ship {} {:?} km={:.3} cost={} at={} back={} pre={} to={:?} why={}; ",
                    sh.location,
                    sh.lines
                        .iter()
                        .map(|l| (l.sku.as_str(), l.qty.to_decimal()))
                        .collect::<Vec<_>>(),
                    sh.distance_km,
                    sh.cost,
                    sh.promised_at_ms,
                    sh.backorder,
                    sh.preorder,
                    sh.transfer_to,
                    sh.why
                )
                .unwrap();
            }
            write!(
                s,
                "unfilled {:?} total={}; ",
                p.unfilled
                    .iter()
                    .map(|l| (l.sku.as_str(), l.qty.to_decimal()))
                    .collect::<Vec<_>>(),
                p.total_cost
            )
            .unwrap();
            for c in &p.candidates {
                write!(
                    s,
                    "cand {} #{} {:?} prio={} km={:.3} units={} cost={}; ",
                    c.location,
                    c.rank,
                    c.excluded,
                    c.priority,
                    c.distance_km,
                    c.units_available.to_decimal(),
                    c.cost
                )
                .unwrap();
            }
        }
    }
    s
}

fn routes() -> Vec<String> {
    let e = Engine::with_config(Config::with_clock(Arc::new(ManualClock::new(
        1_700_000_000_000,
    ))));
    let mut r = Lcg(3);
    let locs: Vec<String> = (0..40).map(|i| format!("l{i:02}")).collect();
    for (i, l) in locs.iter().enumerate() {
        let spec = if i % 5 == 0 {
            LocationSpec::store(l)
        } else {
            LocationSpec::warehouse(l)
        };
        let spec = spec
            .at(
                43.0 + r.below(300) as f64 / 100.0,
                r.below(300) as f64 / 100.0,
            )
            .priority(r.below(3) as i32)
            .ships(i % 7 != 3);
        e.upsert_location(spec).unwrap();
    }
    e.upsert_channel(ChannelSpec::new("web", locs.clone()))
        .unwrap();
    let skus: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    for s in &skus {
        for _ in 0..6 {
            e.receive(
                s,
                &locs[r.below(40)],
                ((r.below(4) + 1) as i64).into(),
                Note::default(),
            )
            .unwrap();
        }
        e.expect_receipt(
            s,
            &locs[r.below(40)],
            5.into(),
            1_700_000_000_000 + r.below(100) as u64 * 3_600_000,
            "po",
        )
        .unwrap();
    }
    e.set_location_closed(&locs[7], true).unwrap();
    let strategies = [
        vec![RouteStrategy::FewestShipments, RouteStrategy::Nearest],
        vec![RouteStrategy::Priority, RouteStrategy::Nearest],
        vec![RouteStrategy::LowestCost],
        vec![
            RouteStrategy::StockBalancing,
            RouteStrategy::Priority,
            RouteStrategy::Nearest,
        ],
        vec![RouteStrategy::FewestShipments],
        vec![RouteStrategy::Priority, RouteStrategy::LowestCost],
        vec![RouteStrategy::Priority, RouteStrategy::StockBalancing],
        vec![
            RouteStrategy::FewestShipments,
            RouteStrategy::Priority,
            RouteStrategy::Nearest,
        ],
        vec![],
    ];
    (0..1000)
        .map(|n| {
            let k = 1 + r.below(5);
            let names: Vec<(String, i64)> = (0..k)
                .map(|_| (skus[r.below(12)].clone(), 1 + r.below(4) as i64))
                .collect();
            let lines: Vec<HoldLine<'_>> =
                names.iter().map(|(s, q)| HoldLine::new(s, *q)).collect();
            let fulfilment = match r.below(4) {
                0 => Fulfilment::ClickAndCollect {
                    store: locs[5 * r.below(8)].clone(),
                },
                1 => Fulfilment::ClickAndReserve {
                    store: locs[5 * r.below(8)].clone(),
                    hours: 2,
                },
                _ => Fulfilment::Ship {
                    lat: 43.0 + r.below(300) as f64 / 100.0,
                    lon: r.below(300) as f64 / 100.0,
                    country: String::new(),
                },
            };
            let options = RouteOptions {
                strategies: strategies[r.below(strategies.len())].clone(),
                allow_split: r.below(4) != 0,
                max_shipments: (r.below(3) == 0).then(|| 1 + r.below(3)),
                allow_partial: r.below(3) == 0,
                allow_backorder: r.below(3) == 0,
                cost_per_km: if r.below(2) == 0 {
                    "0.01".parse().unwrap()
                } else {
                    Default::default()
                },
                explain: r.below(12),
                ..RouteOptions::default()
            };
            let req = RouteRequest {
                channel: "web",
                fulfilment,
                lines: &lines,
                options,
            };
            format!("{n}: {}", summary(&e.route(&req)))
        })
        .collect()
}

#[test]
fn routing_plans_match_the_golden_digests() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/routing.txt");
    let got = routes();
    let digests: String = got
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{i} {:016x}\n", fnv(s)))
        .collect();
    if std::env::var_os("UNISTOCK_BLESS").is_some() {
        std::fs::write(&path, &digests).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).expect("tests/golden/routing.txt");
    let mismatch = want.lines().zip(digests.lines()).position(|(w, d)| w != d);
    if let Some(i) = mismatch {
        panic!(
            "route {i} differs from its golden digest (UNISTOCK_BLESS=1 after an intended change):\n{}",
            got[i]
        );
    }
    assert_eq!(want.lines().count(), digests.lines().count());
}
