//! Routing: every strategy and constraint, click & collect with and without
//! a transfer, backorders, explanations, and properties against brute force.

mod common;

use proptest::prelude::{ProptestConfig, prop, prop_assert, prop_assert_eq, proptest};
use proptest::strategy::Strategy as _;
use rust_decimal::Decimal;
use std::sync::Arc;
use unistock::*;

const T0: u64 = 1_700_000_000_000;
const DAY: u64 = 86_400_000;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Paris customer; a warehouse in Lyon (priority 1), one in Lille
/// (priority 5), a Paris store that ships, a Paris store that does not, a
/// closed warehouse. Channel `web` sees all of them.
fn retailer() -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    // The whole ledger, so tests can check that it folds to the levels.
    let e = Engine::with_config(Config {
        ledger_retention: None,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(
        LocationSpec::warehouse("lyon")
            .at(45.76, 4.84)
            .priority(1)
            .costs(d("5.00"), d("0.50")),
    )
    .unwrap();
    e.upsert_location(
        LocationSpec::warehouse("lille")
            .at(50.63, 3.06)
            .priority(5)
            .costs(d("7.00"), d("0.20")),
    )
    .unwrap();
    e.upsert_location(
        LocationSpec::store("paris-ship")
            .at(48.86, 2.35)
            .ships(true)
            .costs(d("9.00"), d("1.00")),
    )
    .unwrap();
    e.upsert_location(LocationSpec::store("paris-store").at(48.87, 2.33))
        .unwrap();
    e.upsert_location(
        LocationSpec::warehouse("closed-wh")
            .at(48.9, 2.4)
            .priority(99),
    )
    .unwrap();
    e.set_location_closed("closed-wh", true).unwrap();
    e.upsert_channel(ChannelSpec::new(
        "web",
        ["lyon", "lille", "paris-ship", "paris-store", "closed-wh"],
    ))
    .unwrap();
    (e, clock)
}

fn stock(e: &Engine, sku: &str, loc: &str, n: i64) {
    e.receive(sku, loc, n.into(), Note::default()).unwrap();
}

const PARIS: (f64, f64) = (48.85, 2.35);

fn ship() -> Fulfilment {
    Fulfilment::Ship {
        lat: PARIS.0,
        lon: PARIS.1,
        country: "FR".into(),
    }
}

fn route(e: &Engine, f: Fulfilment, lines: &[(&str, i64)], opts: RouteOptions) -> Result<Plan> {
    let lines: Vec<HoldLine<'_>> = lines.iter().map(|(s, q)| HoldLine::new(s, *q)).collect();
    e.route(&RouteRequest {
        channel: "web",
        fulfilment: f,
        lines: &lines,
        options: opts,
    })
}

fn with(strategies: Vec<RouteStrategy>) -> RouteOptions {
    RouteOptions {
        strategies,
        ..RouteOptions::default()
    }
}

fn locations(p: &Plan) -> Vec<&str> {
    p.shipments.iter().map(|s| s.location.as_str()).collect()
}

#[test]
fn priority_picks_the_highest_and_explains_every_candidate() {
    let (e, _) = retailer();
    for loc in ["lyon", "lille", "paris-ship", "closed-wh"] {
        stock(&e, "tee", loc, 10);
    }
    let p = route(
        &e,
        ship(),
        &[("tee", 2)],
        with(vec![RouteStrategy::Priority]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lille"]);
    assert_eq!(
        p.shipments[0].lines,
        [PlanLine {
            sku: "tee".into(),
            qty: 2.into()
        }]
    );
    assert!(
        p.shipments[0].why.contains("ranked #1"),
        "{}",
        p.shipments[0].why
    );
    assert!(
        p.shipments[0].why.contains("priority"),
        "{}",
        p.shipments[0].why
    );
    let by_name = |n: &str| {
        p.candidates
            .iter()
            .find(|c| c.location == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("lille").rank, 1);
    assert_eq!(by_name("lyon").rank, 2);
    assert_eq!(by_name("closed-wh").excluded.as_deref(), Some("closed"));
    assert_eq!(
        by_name("paris-store").excluded.as_deref(),
        Some("does not ship")
    );
    assert_eq!(by_name("lille").units_available, 2.into());
}

#[test]
fn nearest_and_ship_from_store_compete_with_warehouses() {
    let (e, _) = retailer();
    for loc in ["lyon", "lille", "paris-ship"] {
        stock(&e, "tee", loc, 10);
    }
    let p = route(
        &e,
        ship(),
        &[("tee", 1)],
        with(vec![RouteStrategy::Nearest]),
    )
    .unwrap();
    assert_eq!(
        locations(&p),
        ["paris-ship"],
        "the store that ships is nearest"
    );
    assert!(p.shipments[0].distance_km < 5.0);
    let lille = p.candidates.iter().find(|c| c.location == "lille").unwrap();
    assert!(
        (lille.distance_km - 204.0).abs() < 5.0,
        "{}",
        lille.distance_km
    );
}

#[test]
fn lowest_cost_counts_shipment_unit_and_distance_costs_exactly() {
    let (e, _) = retailer();
    for loc in ["lyon", "lille", "paris-ship"] {
        stock(&e, "tee", loc, 10);
    }
    // 4 units: lyon 5 + 2.00 = 7.00, lille 7 + 0.80 = 7.80, paris 9 + 4 = 13.
    let p = route(
        &e,
        ship(),
        &[("tee", 4)],
        with(vec![RouteStrategy::LowestCost]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lyon"]);
    assert_eq!(p.shipments[0].cost, d("7.00"));
    assert_eq!(p.total_cost, d("7.00"));
    // With a per-km cost, distance counts: lyon is ~390 km, lille ~204 km.
    let opts = RouteOptions {
        cost_per_km: d("0.01"),
        ..with(vec![RouteStrategy::LowestCost])
    };
    let p = route(&e, ship(), &[("tee", 4)], opts).unwrap();
    assert_eq!(locations(&p), ["lille"]);
    // Distance counts in whole metres, exactly.
    let km = Decimal::new((p.shipments[0].distance_km * 1000.0).round() as i64, 3);
    assert_eq!(p.shipments[0].cost, d("7.80") + d("0.01") * km);
}

#[test]
fn stock_balancing_takes_from_the_fullest() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 50);
    stock(&e, "tee", "lille", 8);
    let p = route(
        &e,
        ship(),
        &[("tee", 3)],
        with(vec![RouteStrategy::StockBalancing]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lyon"]);
}

#[test]
fn capacity_aware_drops_full_locations() {
    let (e, _) = retailer();
    e.upsert_location(
        LocationSpec::warehouse("lille")
            .at(50.63, 3.06)
            .priority(5)
            .daily_capacity(0),
    )
    .unwrap();
    stock(&e, "tee", "lyon", 5);
    stock(&e, "tee", "lille", 5);
    let p = route(
        &e,
        ship(),
        &[("tee", 1)],
        with(vec![RouteStrategy::Priority]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lille"], "capacity ignored unless asked");
    let p = route(
        &e,
        ship(),
        &[("tee", 1)],
        with(vec![RouteStrategy::CapacityAware, RouteStrategy::Priority]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lyon"]);
    let lille = p.candidates.iter().find(|c| c.location == "lille").unwrap();
    assert_eq!(
        lille.excluded.as_deref(),
        Some("at its daily order capacity (0 orders today)")
    );
}

/// Every placement counts one order per location it ships from; a
/// location that has taken its daily capacity drops out of capacity-aware
/// routing until the next (UTC) day, and a placement racing past the
/// count is re-planned.
#[test]
fn daily_capacity_counts_orders_placed_today() {
    let (e, clock) = retailer();
    e.upsert_location(
        LocationSpec::warehouse("lille")
            .at(50.63, 3.06)
            .priority(5)
            .daily_capacity(2),
    )
    .unwrap();
    stock(&e, "tee", "lyon", 50);
    stock(&e, "tee", "lille", 50);
    let aware = || with(vec![RouteStrategy::CapacityAware, RouteStrategy::Priority]);
    let lines = [HoldLine::new("tee", 1)];
    let place = |id: &str| {
        e.place(
            id,
            &RouteRequest {
                channel: "web",
                fulfilment: ship(),
                lines: &lines,
                options: aware(),
            },
        )
        .unwrap()
    };
    assert_eq!(place("o1").plan.shipments[0].location, "lille");
    // A commit from a hold counts too.
    let pinned = [HoldLine::new("tee", 1).at("lille")];
    e.hold(&HoldRequest::new("h1", "web", &pinned, 60_000))
        .unwrap();
    e.commit("h1", "o2").unwrap();
    let load = e.location_load("lille").unwrap();
    assert_eq!((load.orders_today, load.capacity), (2, Some(2)));
    // Full: the next order goes to lyon, with the reason on lille.
    let p = place("o3");
    assert_eq!(p.plan.shipments[0].location, "lyon");
    let lille = p.plan.candidates.iter().find(|c| c.location == "lille");
    assert_eq!(
        lille.unwrap().excluded.as_deref(),
        Some("at its daily order capacity (2 orders today)")
    );
    assert_eq!(e.location_load("lyon").unwrap().orders_today, 1);
    // The next day lille takes orders again.
    clock.advance(DAY);
    assert_eq!(e.location_load("lille").unwrap().orders_today, 0);
    place("o4");
    place("o5");
    assert_eq!(place("o6").plan.shipments[0].location, "lyon");
    // The counts survive a snapshot.
    let snap = e.snapshot();
    let back = Engine::restore(snap, Config::with_clock(clock.clone())).unwrap();
    assert_eq!(back.location_load("lille").unwrap().orders_today, 2);
    assert!(matches!(
        e.location_load("nowhere"),
        Err(Error::UnknownLocation { .. })
    ));
}

/// Threads placing at once never push a location past its capacity: a
/// plan made before the location filled up is refused at placement, under
/// the count's lock, and re-planned elsewhere.
#[test]
fn racing_placements_respect_daily_capacity() {
    let (e, _) = retailer();
    e.upsert_location(
        LocationSpec::warehouse("lille")
            .at(50.63, 3.06)
            .priority(5)
            .daily_capacity(5),
    )
    .unwrap();
    stock(&e, "tee", "lyon", 1000);
    stock(&e, "tee", "lille", 1000);
    let e = Arc::new(e);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let lines = [HoldLine::new("tee", 1)];
                    e.place(
                        &format!("o{t}-{i}"),
                        &RouteRequest {
                            channel: "web",
                            fulfilment: ship(),
                            lines: &lines,
                            options: with(vec![
                                RouteStrategy::CapacityAware,
                                RouteStrategy::Priority,
                            ]),
                        },
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(e.location_load("lille").unwrap().orders_today, 5);
    assert_eq!(e.levels("tee", "lille").unwrap().allocated, 5.into());
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 155.into());
}

/// Placing a click & collect order whose units come from elsewhere plans a
/// transfer; dispatching it moves the order's units out of the source,
/// receiving it lands them at the store allocated to the order (no walk-in
/// can buy them), and the order is handed over at the store. The whole
/// life survives a restart.
#[test]
fn click_and_collect_creates_a_transfer_that_carries_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = || Config {
        ledger_retention: None,
        ..Config::with_clock(clock.clone())
    };
    let open = || Engine::open(dir.path(), config(), DurableOptions::default()).unwrap();
    let e = open();
    e.upsert_location(LocationSpec::warehouse("lyon").at(45.76, 4.84))
        .unwrap();
    e.upsert_location(LocationSpec::store("paris-store").at(48.87, 2.33))
        .unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["lyon", "paris-store"]))
        .unwrap();
    e.upsert_channel(ChannelSpec::new("till", ["paris-store"]))
        .unwrap();
    stock(&e, "tee", "lyon", 5);
    stock(&e, "tee", "paris-store", 1);
    let collect = Fulfilment::ClickAndCollect {
        store: "paris-store".into(),
    };
    let lines = [HoldLine::new("tee", 3)];
    let req = RouteRequest {
        channel: "web",
        fulfilment: collect,
        lines: &lines,
        options: with(vec![RouteStrategy::Nearest]),
    };
    let placed = e.place("o1", &req).unwrap();
    assert_eq!(locations(&placed.plan), ["paris-store", "lyon"]);
    let order = e.order_info("o1").unwrap();
    assert_eq!(order.transfers, ["o1/1"]);
    let t = e.transfer_info("o1/1").unwrap();
    assert_eq!(
        (
            t.from.as_str(),
            t.to.as_str(),
            t.qty,
            t.state,
            t.order.as_deref()
        ),
        (
            "lyon",
            "paris-store",
            2.into(),
            TransferState::Planned,
            Some("o1")
        )
    );
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 2.into());

    // The source picks: the units leave lyon, the order stays open.
    let t = e
        .dispatch_transfer("o1/1", "tee", "lyon", "paris-store", 2.into())
        .unwrap();
    assert_eq!(t.state, TransferState::InTransit);
    let lyon = e.levels("tee", "lyon").unwrap();
    assert_eq!((lyon.on_hand, lyon.allocated), (3.into(), 0.into()));
    assert_eq!(e.levels("tee", "paris-store").unwrap().in_transit, 2.into());
    assert_eq!(e.order_info("o1").unwrap().state, OrderState::Open);
    // A retry of the dispatch returns the transfer again.
    assert_eq!(
        e.dispatch_transfer("o1/1", "tee", "lyon", "paris-store", 2.into())
            .unwrap()
            .state,
        TransferState::InTransit
    );
    drop(e);
    let e = open();

    // They arrive allocated to the order: the store's till cannot sell them.
    e.receive_transfer("o1/1", None).unwrap();
    let store = e.levels("tee", "paris-store").unwrap();
    assert_eq!(
        (store.on_hand, store.allocated, store.available),
        (3.into(), 3.into(), 0.into())
    );
    assert_eq!(e.availability("till", "tee").unwrap(), 0.into());
    let view = e.order_info("o1").unwrap();
    let at_store: Vec<_> = view
        .lines
        .iter()
        .filter(|l| l.1 == "paris-store")
        .map(|l| l.2)
        .collect();
    assert_eq!(at_store, [3.into()]);
    e.fulfil("o1", &[HoldLine::new("tee", 3).at("paris-store")])
        .unwrap();
    assert_eq!(e.order_info("o1").unwrap().state, OrderState::Completed);
    assert!(e.verify_ledger().unwrap());
    drop(e);
    let e = open();
    assert_eq!(e.order_info("o1").unwrap().state, OrderState::Completed);
    assert_eq!(
        e.transfer_info("o1/1").unwrap().state,
        TransferState::Received
    );
    assert!(e.verify_ledger().unwrap());
}

/// Cancelling a planned transfer leaves the units allocated at the source;
/// cancelling one in transit brings them back there, still the order's; a
/// re-route cancels the order's planned transfers.
#[test]
fn click_and_collect_transfers_cancel_and_reroute() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 10);
    let collect = Fulfilment::ClickAndCollect {
        store: "paris-store".into(),
    };
    let place = |order: &str, n: i64| {
        let lines = [HoldLine::new("tee", n)];
        e.place(
            order,
            &RouteRequest {
                channel: "web",
                fulfilment: collect.clone(),
                lines: &lines,
                options: with(vec![RouteStrategy::Nearest]),
            },
        )
        .unwrap()
    };
    place("o1", 2);
    e.cancel_transfer("o1/1").unwrap();
    assert_eq!(
        e.transfer_info("o1/1").unwrap().state,
        TransferState::Cancelled
    );
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 2.into());
    // Dispatching a cancelled transfer is refused.
    assert!(
        e.dispatch_transfer("o1/1", "tee", "lyon", "paris-store", 2.into())
            .is_ok_and(|t| t.state == TransferState::Cancelled)
    );

    place("o2", 3);
    e.dispatch_transfer("o2/1", "tee", "lyon", "paris-store", 3.into())
        .unwrap();
    assert_eq!(e.levels("tee", "lyon").unwrap().on_hand, 7.into());
    e.cancel_transfer("o2/1").unwrap();
    let lyon = e.levels("tee", "lyon").unwrap();
    assert_eq!((lyon.on_hand, lyon.allocated), (10.into(), 5.into()));
    assert_eq!(e.levels("tee", "paris-store").unwrap().in_transit, 0.into());
    let o2 = e.order_info("o2").unwrap();
    assert_eq!(o2.state, OrderState::Open);
    e.fulfil("o2", &[HoldLine::new("tee", 3).at("lyon")])
        .unwrap();

    place("o3", 1);
    let moved = e
        .reroute(
            "o3",
            Fulfilment::Ship {
                lat: 48.85,
                lon: 2.35,
                country: "FR".into(),
            },
            with(vec![RouteStrategy::Nearest]),
        )
        .unwrap();
    assert_eq!(moved.plan.shipments[0].transfer_to, None);
    assert_eq!(
        e.transfer_info("o3/1").unwrap().state,
        TransferState::Cancelled
    );
    assert!(e.verify_ledger().unwrap());
}

/// A placed order keeps its backordered lines: they are allocated once
/// the receipt arrives (`fill_backorders`), and a SKU not in stock anywhere
/// is a preorder that can be placed on its own and cancelled.
#[test]
fn backorders_are_tracked_on_the_order_and_filled_on_arrival() {
    let (e, clock) = retailer();
    stock(&e, "tee", "lyon", 1);
    e.expect_receipt("tee", "lille", 5.into(), T0 + 3 * DAY, "PO-7")
        .unwrap();
    let opts = RouteOptions {
        allow_backorder: true,
        ..with(vec![RouteStrategy::Priority])
    };
    let placed = place(&e, "o1", &[("tee", 3)], opts.clone()).unwrap();
    let bo: Vec<_> = placed
        .plan
        .shipments
        .iter()
        .filter(|s| s.backorder)
        .collect();
    assert_eq!(bo.len(), 1);
    assert_eq!((bo[0].location.as_str(), bo[0].preorder), ("lille", false));
    let view = e.order_info("o1").unwrap();
    assert_eq!(
        view.backorders,
        vec![Backorder {
            sku: "tee".into(),
            location: "lille".into(),
            qty: 2.into(),
            promised_at_ms: T0 + 3 * DAY,
            preorder: false,
        }]
    );
    assert_eq!(view.state, OrderState::Open);
    assert_eq!(e.levels("tee", "lille").unwrap().backordered, 2.into());
    // Nothing arrived yet: filling changes nothing.
    let seq = e.last_seq();
    assert_eq!(e.fill_backorders("o1").unwrap().backorders.len(), 1);
    assert_eq!(e.last_seq(), seq);
    clock.advance(3 * DAY);
    e.receive("tee", "lille", 5.into(), Note::new("po_receipt", "PO-7"))
        .unwrap();
    // On arrival the 2 promised units are set aside (allocated) at once:
    // only 3 of the 5 are for sale.
    let lille = e.levels("tee", "lille").unwrap();
    assert_eq!(
        (lille.allocated, lille.backordered, lille.available),
        (2.into(), 0.into(), 3.into())
    );
    assert_eq!(e.order_info("o1").unwrap().backorders.len(), 1);
    assert!(e.verify_ledger().unwrap());
    let view = e.fill_backorders("o1").unwrap();
    assert!(view.backorders.is_empty());
    let lille = e.levels("tee", "lille").unwrap();
    assert_eq!((lille.allocated, lille.backordered), (2.into(), 0.into()));
    assert!(view.lines.iter().any(|l| l.1 == "lille" && l.2 == 2.into()));
    let k = e.kpis();
    assert_eq!(k.orders_backordered, 1);
    assert_eq!(k.units_backordered, 2.into());
    assert_eq!(k.units_backorder_filled, 2.into());
    e.fulfil("o1", &[HoldLine::new("tee", 3)]).unwrap();
    assert_eq!(e.order_info("o1").unwrap().state, OrderState::Completed);

    // A preorder: nothing in stock anywhere, only a receipt expected.
    e.declare_sku("hat", SkuSpec::default()).unwrap();
    e.expect_receipt("hat", "lyon", 10.into(), T0 + 9 * DAY, "PO-8")
        .unwrap();
    let placed = place(&e, "o2", &[("hat", 2)], opts).unwrap();
    assert!(placed.allocations.is_empty());
    assert!(placed.plan.shipments[0].preorder);
    assert!(placed.plan.shipments[0].why.starts_with("preorder"));
    assert_eq!(e.kpis().units_preordered, 2.into());
    let view = e.cancel_order("o2").unwrap();
    assert_eq!(view.state, OrderState::Cancelled);
    assert!(view.backorders.is_empty());
    assert!(e.verify_ledger().unwrap());
}

/// Backorders, their arrival and their filling are journaled like
/// everything else: a restart at any point gives back the same orders
/// and levels.
#[test]
fn backorders_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = || Config {
        ledger_retention: None,
        ..Config::with_clock(clock.clone())
    };
    let open = || Engine::open(dir.path(), config(), DurableOptions::default()).unwrap();
    let state = |e: &Engine| {
        (
            e.order_info("o1").unwrap(),
            e.order_info("o2").unwrap(),
            e.levels("tee", "lille").unwrap(),
            e.kpis(),
        )
    };
    let e = open();
    e.upsert_location(LocationSpec::warehouse("lille")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["lille"]))
        .unwrap();
    e.declare_sku("tee", SkuSpec::default()).unwrap();
    e.expect_receipt("tee", "lille", 4.into(), T0 + DAY, "PO-1")
        .unwrap();
    let opts = RouteOptions {
        allow_backorder: true,
        ..RouteOptions::default()
    };
    place(&e, "o1", &[("tee", 3)], opts.clone()).unwrap();
    place(&e, "o2", &[("tee", 1)], opts).unwrap();
    let before = state(&e);
    drop(e);
    let e = open();
    assert_eq!(state(&e), before);
    e.receive("tee", "lille", 4.into(), Note::new("po", "PO-1"))
        .unwrap();
    e.fill_backorders("o1").unwrap();
    e.cancel_order("o2").unwrap();
    let before = state(&e);
    assert_eq!(before.2.allocated, 3.into());
    assert_eq!(before.2.available, 1.into());
    drop(e);
    let e = open();
    assert_eq!(state(&e), before);
    assert!(e.verify_ledger().unwrap());
}

#[derive(Debug)]
struct PreferLyon;
impl Scorer for PreferLyon {
    fn score(&self, c: &CandidateView) -> f64 {
        if c.location == "lyon" { 10.0 } else { 0.0 }
    }
}

#[test]
fn a_host_scorer_ranks_within_the_composition() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 5);
    stock(&e, "tee", "lille", 5);
    let p = route(
        &e,
        ship(),
        &[("tee", 1)],
        with(vec![
            RouteStrategy::Custom(Arc::new(PreferLyon)),
            RouteStrategy::Priority,
        ]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lyon"]);
    assert!(
        p.shipments[0].why.contains("custom"),
        "{}",
        p.shipments[0].why
    );
    let lyon = p.candidates.iter().find(|c| c.location == "lyon").unwrap();
    assert_eq!(lyon.custom_score, Some(10.0));
}

#[test]
fn split_fills_across_locations_in_rank_order() {
    let (e, _) = retailer();
    stock(&e, "tee", "lille", 3);
    stock(&e, "tee", "lyon", 10);
    let p = route(
        &e,
        ship(),
        &[("tee", 5)],
        with(vec![RouteStrategy::Priority]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lille", "lyon"]);
    assert_eq!(p.shipments[0].lines[0].qty, 3.into());
    assert_eq!(p.shipments[1].lines[0].qty, 2.into());
    assert!(p.split());

    let no_split = RouteOptions {
        allow_split: false,
        ..with(vec![RouteStrategy::Priority])
    };
    let p = route(&e, ship(), &[("tee", 5)], no_split.clone()).unwrap();
    assert_eq!(locations(&p), ["lyon"], "the one location that has it all");
    stock(&e, "cap", "lille", 1);
    let err = route(&e, ship(), &[("tee", 5), ("cap", 1)], no_split).unwrap_err();
    assert_eq!(err.code(), "E_NO_ROUTE", "{err}");

    let one = RouteOptions {
        max_shipments: Some(1),
        ..with(vec![RouteStrategy::Priority])
    };
    let err = route(&e, ship(), &[("tee", 5), ("cap", 1)], one).unwrap_err();
    assert_eq!(err.code(), "E_NO_ROUTE", "{err}");
}

#[test]
fn fewest_shipments_beats_rank_order() {
    let (e, _) = retailer();
    // Lille (priority 5) has the tee, lyon has both: one shipment suffices.
    stock(&e, "tee", "lille", 5);
    stock(&e, "tee", "lyon", 5);
    stock(&e, "cap", "lyon", 5);
    let p = route(
        &e,
        ship(),
        &[("tee", 1), ("cap", 1)],
        with(vec![RouteStrategy::Priority]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lille", "lyon"]);
    let p = route(
        &e,
        ship(),
        &[("tee", 1), ("cap", 1)],
        with(vec![
            RouteStrategy::FewestShipments,
            RouteStrategy::Priority,
        ]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["lyon"]);
    assert!(p.shipments[0].why.contains("fewest shipments"));
}

/// Without a split, a partial plan takes the location with the most of the
/// order; among equals, the better-ranked one (not the first in channel
/// order).
#[test]
fn an_unsplit_partial_plan_breaks_ties_by_rank() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 2);
    stock(&e, "cap", "lyon", 1);
    stock(&e, "tee", "lille", 1);
    stock(&e, "cap", "lille", 2);
    let opts = RouteOptions {
        allow_split: false,
        allow_partial: true,
        ..RouteOptions::default()
    };
    // Lille (priority 5) ranks above Lyon (priority 1); Lyon is first in
    // the channel.
    let p = route(&e, ship(), &[("tee", 3), ("cap", 3)], opts.clone()).unwrap();
    assert_eq!(locations(&p), ["lille"]);
    // More of the order beats rank.
    stock(&e, "cap", "lyon", 2);
    let p = route(&e, ship(), &[("tee", 3), ("cap", 3)], opts).unwrap();
    assert_eq!(locations(&p), ["lyon"]);
}

#[test]
fn shortfalls_fail_or_go_partial_or_backorder() {
    let (e, clock) = retailer();
    stock(&e, "tee", "lyon", 2);
    let err = route(&e, ship(), &[("tee", 5)], RouteOptions::default()).unwrap_err();
    assert_eq!(err.code(), "E_INSUFFICIENT_STOCK");
    let partial = RouteOptions {
        allow_partial: true,
        ..RouteOptions::default()
    };
    let p = route(&e, ship(), &[("tee", 5)], partial.clone()).unwrap();
    assert_eq!(p.shipments[0].lines[0].qty, 2.into());
    assert_eq!(
        p.unfilled,
        [PlanLine {
            sku: "tee".into(),
            qty: 3.into()
        }]
    );

    e.expect_receipt("tee", "lille", 10.into(), T0 + 5 * DAY, "PO-1")
        .unwrap();
    let backorder = RouteOptions {
        allow_backorder: true,
        ..RouteOptions::default()
    };
    let p = route(&e, ship(), &[("tee", 5)], backorder).unwrap();
    assert_eq!(locations(&p), ["lyon", "lille"]);
    assert!(!p.shipments[0].backorder);
    assert_eq!(p.shipments[0].promised_at_ms, clock.now_ms());
    assert!(p.shipments[1].backorder);
    assert_eq!(p.shipments[1].lines[0].qty, 3.into());
    assert_eq!(p.shipments[1].promised_at_ms, T0 + 5 * DAY);
    assert!(p.unfilled.is_empty());
}

#[test]
fn channel_buffers_limit_what_routing_may_promise() {
    let (e, _) = retailer();
    e.upsert_channel(ChannelSpec::new("web", ["lyon", "lille"]).safety_units(3))
        .unwrap();
    stock(&e, "tee", "lyon", 5);
    let err = route(&e, ship(), &[("tee", 3)], RouteOptions::default()).unwrap_err();
    assert_eq!(
        err.code(),
        "E_INSUFFICIENT_STOCK",
        "5 on hand - 3 safety = 2"
    );
    assert!(route(&e, ship(), &[("tee", 2)], RouteOptions::default()).is_ok());
}

#[test]
fn click_and_collect_from_the_store_or_by_transfer() {
    let (e, clock) = retailer();
    stock(&e, "tee", "paris-store", 2);
    stock(&e, "tee", "lyon", 10);
    let collect = Fulfilment::ClickAndCollect {
        store: "paris-store".into(),
    };
    let p = route(
        &e,
        collect.clone(),
        &[("tee", 2)],
        with(vec![RouteStrategy::Nearest]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["paris-store"]);
    assert_eq!(p.shipments[0].transfer_to, None);
    assert_eq!(p.shipments[0].promised_at_ms, clock.now_ms());

    let p = route(
        &e,
        collect,
        &[("tee", 4)],
        with(vec![RouteStrategy::Nearest]),
    )
    .unwrap();
    assert_eq!(locations(&p), ["paris-store", "lyon"]);
    assert_eq!(p.shipments[1].transfer_to.as_deref(), Some("paris-store"));
    assert_eq!(p.shipments[1].promised_at_ms, clock.now_ms() + 2 * DAY);
    assert!(p.shipments[1].why.contains("transfer"));

    // A store without pickup cannot be a pickup store.
    e.upsert_location(LocationSpec::warehouse("depot").at(48.8, 2.3))
        .unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["lyon", "depot"]))
        .unwrap();
    stock(&e, "tee", "depot", 5);
    let err = route(
        &e,
        Fulfilment::ClickAndCollect {
            store: "depot".into(),
        },
        &[("tee", 1)],
        RouteOptions::default(),
    );
    let p = err.unwrap();
    assert_eq!(locations(&p), ["lyon"], "the depot itself offers no pickup");
    let depot = p.candidates.iter().find(|c| c.location == "depot").unwrap();
    assert_eq!(
        depot.excluded.as_deref(),
        Some("the pickup store does not offer pickup")
    );
}

#[test]
fn click_and_reserve_and_till_sales_use_the_store_only() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 10);
    stock(&e, "tee", "paris-store", 1);
    let reserve = Fulfilment::ClickAndReserve {
        store: "paris-store".into(),
        hours: 48,
    };
    let p = route(&e, reserve.clone(), &[("tee", 1)], RouteOptions::default()).unwrap();
    assert_eq!(locations(&p), ["paris-store"]);
    let err = route(&e, reserve, &[("tee", 2)], RouteOptions::default()).unwrap_err();
    assert_eq!(err.code(), "E_INSUFFICIENT_STOCK");
    let till = Fulfilment::TillSale {
        store: "paris-store".into(),
    };
    let p = route(&e, till, &[("tee", 1)], RouteOptions::default()).unwrap();
    assert_eq!(locations(&p), ["paris-store"]);
    let err = route(
        &e,
        Fulfilment::TillSale {
            store: "nowhere".into(),
        },
        &[("tee", 1)],
        RouteOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "E_UNKNOWN_LOCATION");
}

fn reserve_at(hours: u32) -> Fulfilment {
    Fulfilment::ClickAndReserve {
        store: "paris-store".into(),
        hours,
    }
}

fn place_as(e: &Engine, order: &str, f: Fulfilment, n: i64) -> Result<Placed> {
    let lines = [HoldLine::new("tee", n)];
    e.place(
        order,
        &RouteRequest {
            channel: "web",
            fulfilment: f,
            lines: &lines,
            options: RouteOptions::default(),
        },
    )
}

/// Click & reserve keeps units at the store for its hours: what is not
/// picked up by then goes back on sale, at that time, before any sweep
/// was asked for; a partial pickup keeps what was picked up; re-routing
/// sets a new time (or none); a placement from a hold gets one too.
#[test]
fn click_and_reserve_ends_after_its_hours_at_the_store() {
    const HOUR: u64 = 3_600_000;
    let (e, clock) = retailer();
    stock(&e, "tee", "paris-store", 6);
    stock(&e, "tee", "lyon", 5);
    let store = |e: &Engine| e.levels("tee", "paris-store").unwrap();
    let open = |e: &Engine, order: &str| -> i64 {
        let lines = e.order_info(order).unwrap().lines;
        lines
            .iter()
            .map(|l| l.2.to_decimal() - l.3.to_decimal() - l.4.to_decimal())
            .sum::<Decimal>()
            .try_into()
            .unwrap()
    };
    place_as(&e, "cr1", reserve_at(2), 1).unwrap();
    place_as(&e, "cr2", reserve_at(3), 2).unwrap();
    place_as(&e, "cr3", reserve_at(1), 1).unwrap();
    place_as(&e, "cr4", reserve_at(1), 1).unwrap();
    assert_eq!(
        e.order_info("cr1").unwrap().reserved_until_ms,
        Some(T0 + 2 * HOUR)
    );
    assert_eq!(store(&e).allocated, 5.into());
    // cr3 will ship instead; cr4's customer asks for two more hours.
    clock.advance(HOUR / 2);
    e.reroute("cr3", ship(), RouteOptions::default()).unwrap();
    assert_eq!(e.order_info("cr3").unwrap().reserved_until_ms, None);
    e.reroute("cr4", reserve_at(2), RouteOptions::default())
        .unwrap();
    let cr4_until = T0 + HOUR / 2 + 2 * HOUR;
    assert_eq!(
        e.order_info("cr4").unwrap().reserved_until_ms,
        Some(cr4_until)
    );
    // cr2's customer takes one of two.
    e.fulfil("cr2", &[OrderLine::new("tee", 1)]).unwrap();
    clock.set(T0 + 2 * HOUR - 1);
    assert_eq!(e.order_info("cr1").unwrap().state, OrderState::Open);
    assert_eq!(open(&e, "cr3"), 1, "cr3 ships: its hour does not end it");
    // At cr1's end, a read sees its unit back (no expire_due called).
    clock.set(T0 + 2 * HOUR);
    let seq = e.last_seq();
    assert_eq!(store(&e).allocated, 2.into(), "cr2's one left and cr4's");
    let ended = e.events_since(seq, 10).unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (
            ended[0].kind,
            ended[0].at_ms,
            ended[0].reason.as_str(),
            ended[0].reference.as_str()
        ),
        (
            EventKind::AllocationCancelled,
            T0 + 2 * HOUR,
            "expiry",
            "cr1"
        )
    );
    let cr1 = e.order_info("cr1").unwrap();
    assert_eq!(
        (cr1.state, cr1.lines[0].4),
        (OrderState::Cancelled, 1.into())
    );
    // Swept late, cr2 and cr4 end at their own times, cr2 with the unit
    // its customer took.
    assert_eq!(e.expire_due(T0 + 10 * HOUR), 0, "no hold expired");
    let ends: Vec<(String, u64)> = e
        .events_since(seq + 1, 10)
        .unwrap()
        .into_iter()
        .map(|x| (x.reference, x.at_ms))
        .collect();
    assert!(
        ends.contains(&("cr2".to_string(), T0 + 3 * HOUR)),
        "{ends:?}"
    );
    assert!(ends.contains(&("cr4".to_string(), cr4_until)), "{ends:?}");
    assert_eq!(ends.len(), 2);
    assert_eq!(e.order_info("cr2").unwrap().state, OrderState::Completed);
    assert_eq!(e.order_info("cr4").unwrap().state, OrderState::Cancelled);
    assert_eq!(store(&e).allocated, 0.into());
    assert_eq!(open(&e, "cr3"), 1);
    // From a hold: its units stay at the store for the hours too.
    let now = clock.now_ms();
    let lines = [HoldLine::new("tee", 1).at("paris-store")];
    e.hold(&HoldRequest::new("h5", "web", &lines, HOUR))
        .unwrap();
    e.place_hold("h5", "cr5", reserve_at(4), RouteOptions::default())
        .unwrap();
    assert_eq!(
        e.order_info("cr5").unwrap().reserved_until_ms,
        Some(now + 4 * HOUR)
    );
    clock.advance(4 * HOUR);
    assert_eq!(store(&e).allocated, 0.into());
    assert_eq!(e.order_info("cr5").unwrap().state, OrderState::Cancelled);
    assert!(e.verify_ledger().unwrap());
}

#[test]
fn routing_changes_nothing_and_rejects_bad_input() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 10);
    let (seq, levels) = (e.last_seq(), e.levels("tee", "lyon").unwrap());
    route(&e, ship(), &[("tee", 3)], RouteOptions::default()).unwrap();
    assert_eq!(e.last_seq(), seq);
    assert_eq!(e.levels("tee", "lyon").unwrap(), levels);
    let code = |r: Result<Plan>| r.unwrap_err().code();
    assert_eq!(
        code(route(&e, ship(), &[("nope", 1)], RouteOptions::default())),
        "E_UNKNOWN_SKU"
    );
    assert_eq!(
        code(route(&e, ship(), &[("tee", 0)], RouteOptions::default())),
        "E_INVALID_QUANTITY"
    );
    assert_eq!(
        code(route(&e, ship(), &[], RouteOptions::default())),
        "E_INVALID_ARGUMENT"
    );
    let far = Fulfilment::Ship {
        lat: 91.0,
        lon: 0.0,
        country: "FR".into(),
    };
    assert_eq!(
        code(route(&e, far, &[("tee", 1)], RouteOptions::default())),
        "E_INVALID_ARGUMENT"
    );
    let zero = RouteOptions {
        max_shipments: Some(0),
        ..RouteOptions::default()
    };
    assert_eq!(
        code(route(&e, ship(), &[("tee", 1)], zero)),
        "E_INVALID_ARGUMENT"
    );
    let lines = [HoldLine::new("tee", 1)];
    let err = e
        .route(&RouteRequest {
            channel: "nope",
            fulfilment: ship(),
            lines: &lines,
            options: RouteOptions::default(),
        })
        .unwrap_err();
    assert_eq!(err.code(), "E_UNKNOWN_CHANNEL");
}

/// (closed, ships, priority, stock per SKU) of one location.
type Loc = (bool, bool, i32, Vec<i64>);

/// A small random instance: up to 6 warehouses (some closed, some not
/// shipping) and up to 4 SKUs with random stock.
fn instance() -> impl proptest::strategy::Strategy<Value = (Vec<Loc>, Vec<i64>)> {
    (1usize..=4).prop_flat_map(|skus| {
        (
            prop::collection::vec(
                (
                    prop::bool::weighted(0.15),
                    prop::bool::weighted(0.85),
                    0i32..5,
                    prop::collection::vec(0i64..6, skus),
                ),
                1..=6,
            ),
            prop::collection::vec(1i64..8, skus),
        )
    })
}

fn build(locs: &[Loc]) -> Engine {
    let e = Engine::new();
    let names: Vec<String> = (0..locs.len()).map(|i| format!("l{i}")).collect();
    for (i, (closed, ships, prio, stock)) in locs.iter().enumerate() {
        e.upsert_location(
            LocationSpec::warehouse(&names[i])
                .ships(*ships)
                .priority(*prio)
                .at(i as f64, 0.0),
        )
        .unwrap();
        for (s, n) in stock.iter().enumerate() {
            if *n > 0 {
                e.receive(&format!("s{s}"), &names[i], (*n).into(), Note::default())
                    .unwrap();
            }
        }
        if *closed {
            e.set_location_closed(&names[i], true).unwrap();
        }
    }
    for s in 0..locs[0].3.len() {
        e.declare_sku(&format!("s{s}"), SkuSpec::default()).ok();
    }
    e.upsert_channel(ChannelSpec::new("web", names.clone()))
        .unwrap();
    e
}

/// The fewest eligible locations whose stock covers `want` (brute force).
fn brute_min(locs: &[Loc], want: &[i64]) -> Option<usize> {
    let ok: Vec<&Vec<i64>> = locs.iter().filter(|l| !l.0 && l.1).map(|l| &l.3).collect();
    (0u32..1 << ok.len())
        .filter(|m| {
            want.iter().enumerate().all(|(s, w)| {
                (0..ok.len())
                    .filter(|i| m & (1 << i) != 0)
                    .map(|i| ok[i][s])
                    .sum::<i64>()
                    >= *w
            })
        })
        .map(|m| m.count_ones() as usize)
        .min()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::env_or("UNISTOCK_ROUTING_CASES", 256),
        ..ProptestConfig::default()
    })]

    /// Fewest shipments is optimal against brute force; every plan uses only
    /// eligible, capable locations and never takes more than a location has.
    #[test]
    fn plans_are_minimal_eligible_and_never_oversell((locs, want) in instance()) {
        let e = build(&locs);
        let names: Vec<String> = (0..want.len()).map(|s| format!("s{s}")).collect();
        let lines: Vec<HoldLine<'_>> = names.iter().zip(&want).map(|(n, w)| HoldLine::new(n, *w)).collect();
        let ship = Fulfilment::Ship { lat: 0.0, lon: 0.0, country: "FR".into() };
        for strategies in [
            vec![RouteStrategy::FewestShipments, RouteStrategy::Priority],
            vec![RouteStrategy::Priority, RouteStrategy::Nearest],
        ] {
            let fewest = strategies[0] == RouteStrategy::FewestShipments;
            let got = e.route(&RouteRequest {
                channel: "web",
                fulfilment: ship.clone(),
                lines: &lines,
                options: RouteOptions { strategies, ..RouteOptions::default() },
            });
            let best = brute_min(&locs, &want);
            match (got, best) {
                (Ok(plan), Some(min)) => {
                    if fewest {
                        prop_assert_eq!(plan.shipments.len(), min);
                    }
                    let mut sent = vec![0i64; want.len()];
                    for sh in &plan.shipments {
                        let i: usize = sh.location[1..].parse().unwrap();
                        prop_assert!(!locs[i].0 && locs[i].1, "ineligible {}", sh.location);
                        for l in &sh.lines {
                            let s: usize = l.sku[1..].parse().unwrap();
                            let q: i64 = l.qty.to_decimal().try_into().unwrap();
                            prop_assert!(q <= locs[i].3[s], "oversold {} at {}", l.sku, sh.location);
                            sent[s] += q;
                        }
                    }
                    prop_assert_eq!(sent, want.clone());
                }
                (Err(err), None) => {
                    let eligible = locs.iter().any(|l| !l.0 && l.1);
                    let want = if eligible { "E_INSUFFICIENT_STOCK" } else { "E_NO_ROUTE" };
                    prop_assert_eq!(err.code(), want);
                }
                (got, best) => prop_assert!(false, "plan {:?} but brute force {:?}", got, best),
            }
        }
    }
}

#[test]
fn host_scorers_run_by_number_and_their_errors_end_the_route() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 5);
    stock(&e, "tee", "lille", 5);
    let lines = [HoldLine::new("tee", 1)];
    let req = RouteRequest {
        channel: "web",
        fulfilment: ship(),
        lines: &lines,
        options: with(vec![RouteStrategy::Host(7), RouteStrategy::Priority]),
    };
    let mut seen = Vec::new();
    let p = e
        .route_with(&req, &mut |n, c| {
            seen.push((n, c.location.clone()));
            // May call back into the engine: no lock is held.
            let _ = e.levels("tee", "lyon")?;
            Ok(if c.location == "lyon" { 1.0 } else { 0.0 })
        })
        .unwrap();
    assert_eq!(locations(&p), ["lyon"]);
    assert!(seen.iter().all(|(n, _)| *n == 7));
    assert_eq!(seen.len(), 5, "every candidate of the channel is scored");
    let err = e
        .route_with(&req, &mut |_, _| {
            Err(Error::UnknownSku { sku: "boom".into() })
        })
        .unwrap_err();
    assert_eq!(err.code(), "E_UNKNOWN_SKU", "the scorer's own error");
    let err = e.route_with(&req, &mut |_, _| Ok(f64::NAN)).unwrap_err();
    assert_eq!(err.code(), "E_INVALID_ARGUMENT");
}

fn place(e: &Engine, order: &str, lines: &[(&str, i64)], opts: RouteOptions) -> Result<Placed> {
    let lines: Vec<HoldLine<'_>> = lines.iter().map(|(s, q)| HoldLine::new(s, *q)).collect();
    e.place(
        order,
        &RouteRequest {
            channel: "web",
            fulfilment: ship(),
            lines: &lines,
            options: opts,
        },
    )
}

#[test]
fn placing_allocates_the_plan_and_retries_return_the_original() {
    let (e, _) = retailer();
    stock(&e, "tee", "lille", 3);
    stock(&e, "tee", "lyon", 10);
    let placed = place(&e, "o1", &[("tee", 5)], with(vec![RouteStrategy::Priority])).unwrap();
    assert!(!placed.replayed);
    assert_eq!(locations(&placed.plan), ["lille", "lyon"]);
    let parts: Vec<(String, i64)> = placed
        .allocations
        .iter()
        .map(|p| {
            (
                e.location_name(p.location.unwrap()),
                p.qty.as_units().unwrap(),
            )
        })
        .collect();
    assert_eq!(parts, [("lille".to_string(), 3), ("lyon".to_string(), 2)]);
    assert_eq!(e.levels("tee", "lille").unwrap().allocated, 3.into());
    assert_eq!(e.levels("tee", "lyon").unwrap().available, 8.into());
    assert!(e.verify_ledger().unwrap(), "the ledger folds to the levels");
    let k = e.kpis();
    assert_eq!((k.orders_placed, k.orders_split, k.shipments), (1, 1, 2));
    assert_eq!((k.units_ordered, k.units_placed), (d("5"), d("5")));
    assert_eq!((k.fill_rate(), k.split_rate()), (Some(1.0), Some(1.0)));
    let avg = k.average_shipping_km().unwrap();
    assert!(
        avg > 250.0 && avg < 350.0,
        "lille ~204 km, lyon ~391 km: {avg}"
    );

    // A retry returns the original result even though stock moved since.
    stock(&e, "tee", "lille", 100);
    let again = place(&e, "o1", &[("tee", 5)], with(vec![RouteStrategy::Priority])).unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.allocations, again.plan),
        (placed.allocations.clone(), placed.plan.clone())
    );
    let err = place(&e, "o1", &[("tee", 6)], with(vec![RouteStrategy::Priority])).unwrap_err();
    assert_eq!(err.code(), "E_ID_CONFLICT");

    // The order is an order like any other: fulfil and cancel work on it.
    let v = e
        .fulfil("o1", &[HoldLine::new("tee", 3).at("lille")])
        .unwrap();
    assert_eq!(v.state, OrderState::Open);
    let v = e.cancel_order("o1").unwrap();
    assert_eq!(v.state, OrderState::Completed);
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 0.into());
    assert!(e.verify_ledger().unwrap());
}

#[test]
fn placing_after_a_concurrent_change_plans_once_more_then_fails_cleanly() {
    let (e, _) = retailer();
    stock(&e, "tee", "lille", 5);
    stock(&e, "tee", "lyon", 5);
    let lines = [HoldLine::new("tee", 2)];
    let req = RouteRequest {
        channel: "web",
        fulfilment: ship(),
        lines: &lines,
        options: with(vec![RouteStrategy::Host(0), RouteStrategy::Priority]),
    };
    // The scorer runs between planning and placing (no lock held): on its
    // first call it sells lille's stock at the till, so the first plan
    // (lille, by priority) no longer holds and the second goes to lyon.
    let mut calls = 0;
    let placed = e
        .place_with("o1", &req, &mut |_, c| {
            calls += 1;
            if calls == 1 {
                e.write_off(
                    "tee",
                    "lille",
                    5.into(),
                    None,
                    Note::reason("sold elsewhere"),
                )?;
            }
            let _ = c;
            Ok(0.0)
        })
        .unwrap();
    assert_eq!(locations(&placed.plan), ["lyon"]);
    assert!(calls > 5, "planned twice");

    // When every plan is overtaken, nothing changes and the error says so.
    stock(&e, "cap", "lyon", 4);
    let lines = [HoldLine::new("cap", 4)];
    let req = RouteRequest {
        lines: &lines,
        ..req
    };
    let (seq, before) = (e.last_seq(), e.levels("cap", "lyon").unwrap());
    let mut sold = 0;
    let err = e
        .place_with("o2", &req, &mut |_, c| {
            if c.location == "lyon" && sold < 2 {
                sold += 1;
                e.write_off("cap", "lyon", 1.into(), None, Note::reason("gone"))?;
            }
            Ok(0.0)
        })
        .unwrap_err();
    assert_eq!(err.code(), "E_INSUFFICIENT_STOCK", "{err}");
    assert_eq!(e.levels("cap", "lyon").unwrap().allocated, before.allocated);
    assert_eq!(e.last_seq(), seq + 2, "only the two write-offs happened");
    assert_eq!(e.order_info("o2").unwrap_err().code(), "E_UNKNOWN_ORDER");
    assert_eq!((e.kpis().orders_placed, e.kpis().orders_refused), (1, 1));
}

#[test]
fn placing_keeps_backorders_in_the_plan_only() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 2);
    e.expect_receipt("tee", "lille", 10.into(), T0 + 5 * DAY, "PO-1")
        .unwrap();
    let opts = RouteOptions {
        allow_backorder: true,
        ..RouteOptions::default()
    };
    let placed = place(&e, "o1", &[("tee", 5)], opts.clone()).unwrap();
    assert_eq!(placed.allocations.len(), 1);
    assert_eq!(placed.allocations[0].qty, 2.into());
    assert!(placed.plan.shipments[1].backorder);
    let k = e.kpis();
    assert_eq!(
        (k.units_ordered, k.units_placed, k.units_backordered),
        (d("5"), d("2"), d("3"))
    );
    assert_eq!(k.fill_rate(), Some(0.4));
    // Nothing left in stock: a backorder alone is placed, against what
    // the receipt still has unpromised (10 - 3).
    let placed = place(&e, "o2", &[("tee", 7)], opts.clone()).unwrap();
    assert!(placed.allocations.is_empty());
    assert_eq!(e.levels("tee", "lille").unwrap().backordered, 10.into());
    let err = place(&e, "o3", &[("tee", 1)], opts).unwrap_err();
    assert_eq!(
        err.code(),
        "E_INSUFFICIENT_STOCK",
        "the receipt is all promised"
    );
    assert_eq!(e.kpis().orders_refused, 1);
    assert!(e.verify_ledger().unwrap());
}

#[test]
fn reroute_swaps_the_allocation_atomically_or_keeps_the_old_one() {
    let (e, _) = retailer();
    stock(&e, "tee", "lyon", 4);
    stock(&e, "tee", "paris-store", 2);
    let placed = place(&e, "o1", &[("tee", 4)], with(vec![RouteStrategy::Priority])).unwrap();
    assert_eq!(locations(&placed.plan), ["lyon"]);
    // Ship 1 now; the customer then wants the other 3 somewhere else.
    e.fulfil("o1", &[HoldLine::new("tee", 1)]).unwrap();

    // The order's own units count as available: shipping elsewhere can
    // still use lyon (it holds all of lyon's stock).
    let far = Fulfilment::Ship {
        lat: 43.3,
        lon: 5.4,
        country: "FR".into(),
    };
    let moved = e
        .reroute("o1", far, with(vec![RouteStrategy::Nearest]))
        .unwrap();
    assert_eq!(locations(&moved.plan), ["lyon"]);
    assert_eq!(moved.allocations[0].qty, 3.into());
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 3.into());

    // Click & collect at the Paris store: 2 there, 1 by transfer from lyon.
    let collect = Fulfilment::ClickAndCollect {
        store: "paris-store".into(),
    };
    let moved = e
        .reroute("o1", collect, with(vec![RouteStrategy::Nearest]))
        .unwrap();
    assert_eq!(locations(&moved.plan), ["paris-store", "lyon"]);
    assert_eq!(e.levels("tee", "paris-store").unwrap().allocated, 2.into());
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 1.into());
    let view = e.order_info("o1").unwrap();
    let open: Vec<(String, Qty)> = view
        .lines
        .iter()
        .map(|(_, loc, alloc, done, cancelled)| {
            (
                loc.clone(),
                Qty::from_decimal(alloc.to_decimal() - done.to_decimal() - cancelled.to_decimal()),
            )
        })
        .filter(|x| x.1 != 0.into())
        .collect();
    assert_eq!(
        open,
        [
            ("paris-store".to_string(), 2.into()),
            ("lyon".to_string(), 1.into())
        ]
    );
    assert!(
        view.lines.iter().any(|l| l.1 == "lyon" && l.3 == 1.into()),
        "the shipped unit stays"
    );

    // No plan possible: click & reserve needs all 3 at the store; the old
    // allocation stays and the error says why.
    let seq = e.last_seq();
    let reserve = Fulfilment::ClickAndReserve {
        store: "paris-store".into(),
        hours: 24,
    };
    let err = e
        .reroute("o1", reserve, RouteOptions::default())
        .unwrap_err();
    assert_eq!(err.code(), "E_INSUFFICIENT_STOCK", "{err}");
    assert_eq!(e.last_seq(), seq);
    assert_eq!(e.levels("tee", "paris-store").unwrap().allocated, 2.into());
    assert!(e.verify_ledger().unwrap(), "the ledger folds to the levels");
    assert_eq!(e.kpis().reroutes, 2);

    assert_eq!(
        e.reroute("nope", ship(), RouteOptions::default())
            .unwrap_err()
            .code(),
        "E_UNKNOWN_ORDER"
    );
    e.cancel_order("o1").unwrap();
    assert_eq!(
        e.reroute("o1", ship(), RouteOptions::default())
            .unwrap_err()
            .code(),
        "E_NO_ROUTE",
        "nothing open"
    );
}

/// A click & collect order cancelled before its transfer was dispatched
/// closes; when it is purged, its planned transfer (which nothing can
/// dispatch any more) goes with it. A dispatched one ends and is purged on
/// its own.
#[test]
fn a_purged_order_takes_its_planned_transfers_with_it() {
    let clock = Arc::new(ManualClock::new(T0));
    let e = Engine::with_config(Config {
        order_retention_ms: 60_000,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::warehouse("lyon").at(45.76, 4.84))
        .unwrap();
    e.upsert_location(LocationSpec::store("paris-store").at(48.87, 2.33))
        .unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["lyon", "paris-store"]))
        .unwrap();
    stock(&e, "tee", "lyon", 5);
    let lines = [HoldLine::new("tee", 2)];
    let req = RouteRequest {
        channel: "web",
        fulfilment: Fulfilment::ClickAndCollect {
            store: "paris-store".into(),
        },
        lines: &lines,
        options: with(vec![RouteStrategy::Nearest]),
    };
    e.place("o1", &req).unwrap();
    assert_eq!(
        e.transfer_info("o1/1").unwrap().state,
        TransferState::Planned
    );
    e.cancel("o1", &[HoldLine::new("tee", 2).at("lyon")])
        .unwrap();
    assert_eq!(e.order_info("o1").unwrap().state, OrderState::Cancelled);
    clock.advance(60_000 - 1);
    assert_eq!(
        e.transfer_info("o1/1").unwrap().state,
        TransferState::Planned
    );
    clock.advance(1);
    assert_eq!(e.order_info("o1").unwrap_err().code(), "E_UNKNOWN_ORDER");
    assert_eq!(
        e.transfer_info("o1/1").unwrap_err().code(),
        "E_UNKNOWN_TRANSFER"
    );
    assert_eq!(e.levels("tee", "lyon").unwrap().allocated, 0.into());
}
