//! The "omnichannel day": a retailer with 2 warehouses and 3 stores sells
//! on web, app, each store's till and a capped marketplace, with thousands
//! of simulated customers on all channels at once (threads): carts that
//! commit, are abandoned or expire; click & reserve in stores; till sales;
//! orders routed and placed (ship-from-store, split shipments, click &
//! collect), some re-routed to a store pickup; replenishment transfers;
//! fulfilment. The day ends with the invariants
//! checked against the ledger.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use unistock::*;

pub const STORES: [&str; 3] = ["store-north", "store-centre", "store-south"];
pub const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MINUTE: u64 = 60_000;

/// What the day produced.
#[derive(Debug)]
pub struct DayReport {
    pub customers: u64,
    pub availability_before: BTreeMap<String, i64>,
    pub availability_after: BTreeMap<String, i64>,
    pub kpis: Kpis,
    pub orders_fulfilled: u64,
    /// Click & collect transfers dispatched to pickup stores and received.
    pub collect_transfers: u64,
    /// The restart at noon: journal records replayed and how long that took.
    pub restart: Recovery,
    pub invariants: Vec<(String, bool)>,
}

impl DayReport {
    pub fn all_invariants_hold(&self) -> bool {
        self.invariants.iter().all(|(_, ok)| *ok)
    }
}

/// Tiny deterministic generator (xorshift) so each thread's day is replayable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn sku_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sku-{i:04}")).collect()
}

fn shop_config(clock: Arc<ManualClock>) -> Config {
    Config {
        ledger_retention: None,
        ..Config::with_clock(clock)
    }
}

/// The durable engine of the day: a journal in `dir`, fsynced every 100 ms
/// (a machine crash would lose at most that; the restart below is clean).
fn open_durable(clock: Arc<ManualClock>, dir: &Path) -> Result<Engine> {
    Engine::open(
        dir,
        shop_config(clock),
        DurableOptions::mode(Durability::Interval(100)),
    )
}

/// Builds the shop: locations, channels and opening stock, on a durable
/// engine in `dir` (in memory without one).
pub fn open_shop(clock: Arc<ManualClock>, skus: &[String], dir: Option<&Path>) -> Result<Engine> {
    let e = match dir {
        Some(dir) => open_durable(clock, dir)?,
        None => Engine::with_config(shop_config(clock)),
    };
    e.upsert_location(
        LocationSpec::warehouse("wh-east")
            .at(52.52, 13.40)
            .priority(2),
    )?;
    e.upsert_location(
        LocationSpec::warehouse("wh-west")
            .at(51.22, 6.78)
            .priority(1),
    )?;
    for (i, s) in STORES.iter().enumerate() {
        // The centre store ships parcels too (ship-from-store).
        e.upsert_location(
            LocationSpec::store(*s)
                .at(50.0 + i as f64, 8.0 + i as f64)
                .ships(i == 1),
        )?;
    }
    let mut web_locs = vec!["wh-east", "wh-west"];
    web_locs.extend(STORES);
    e.upsert_channel(ChannelSpec::new("web", web_locs.clone()))?;
    e.upsert_channel(ChannelSpec::new("app", web_locs).safety_units(1))?;
    e.upsert_channel(
        ChannelSpec::new("marketplace:amazon", ["wh-east", "wh-west"]).cap(Cap::Units(5)),
    )?;
    for s in STORES {
        e.upsert_channel(ChannelSpec::new(format!("store:{s}"), [s]))?;
    }
    for (i, sku) in skus.iter().enumerate() {
        let n = |k: usize| ((((i * 7 + k * 13) % 17) + 3) * 4) as i64;
        e.receive(
            sku,
            "wh-east",
            n(0).into(),
            Note::new("opening_stock", "PO-0"),
        )?;
        e.receive(
            sku,
            "wh-west",
            n(1).into(),
            Note::new("opening_stock", "PO-0"),
        )?;
        for (k, s) in STORES.iter().enumerate() {
            e.receive(
                sku,
                s,
                (n(k + 2) / 3).into(),
                Note::new("opening_stock", "PO-0"),
            )?;
        }
    }
    Ok(e)
}

fn channel_totals(e: &Engine, skus: &[String]) -> BTreeMap<String, i64> {
    let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
    e.channels()
        .into_iter()
        .map(|c| {
            let total = e
                .availability_many(&c.id, &refs)
                .unwrap()
                .iter()
                .map(|q| q.as_units().unwrap())
                .sum();
            (c.id, total)
        })
        .collect()
}

/// Runs the day with `customers` customers spread over `threads` threads.
pub fn run_day(customers: u64, threads: u64, sku_count: usize) -> Result<DayReport> {
    let clock = Arc::new(ManualClock::new(T0 + 9 * 60 * MINUTE));
    let skus = Arc::new(sku_names(sku_count));
    let dir = std::env::temp_dir().join(format!("unistock-day-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let e = Arc::new(open_shop(clock.clone(), &skus, Some(&dir))?);
    let received = Arc::new(AtomicI64::new(on_hand_total(&e, &skus)));
    let left_building = Arc::new(AtomicI64::new(0));
    let to_fulfil: Arc<Mutex<Vec<String>>> = Arc::default();
    let availability_before = channel_totals(&e, &skus);

    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (e, clock, skus, received, left, to_fulfil) = (
                e.clone(),
                clock.clone(),
                skus.clone(),
                received.clone(),
                left_building.clone(),
                to_fulfil.clone(),
            );
            thread::spawn(move || -> Result<()> {
                let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (t + 1));
                for c in (t..customers).step_by(threads as usize) {
                    if c % 50 == 0 {
                        clock.advance(MINUTE);
                    }
                    let sku = |rng: &mut Rng| skus[rng.below(skus.len() as u64) as usize].as_str();
                    let cart = format!("cart-{c}");
                    match rng.below(100) {
                        // Web, app and marketplace carts.
                        0..=59 => {
                            let channel =
                                ["web", "web", "app", "marketplace:amazon"][rng.below(4) as usize];
                            let lines: Vec<HoldLine<'_>> = (0..1 + rng.below(3))
                                .map(|_| HoldLine::new(sku(&mut rng), 1 + rng.below(2) as i64))
                                .collect();
                            // Web and app carts claim the channel's pool
                            // (bound to locations at checkout); the
                            // marketplace's are bound at once.
                            let mut req = HoldRequest::new(&cart, channel, &lines, 20 * MINUTE);
                            req.pool = channel != "marketplace:amazon";
                            if e.hold(&req).is_err() {
                                continue;
                            }
                            match rng.below(10) {
                                0..=6 => {
                                    let order = format!("order-{c}");
                                    if late(e.commit(&cart, &order))?.is_some() {
                                        to_fulfil.lock().unwrap().push(order);
                                    }
                                }
                                7..=8 => {
                                    late(e.release(&cart))?;
                                }
                                _ => {} // abandoned: it will expire
                            }
                        }
                        // Click & reserve: held in a store for 2 hours, paid there.
                        60..=74 => {
                            let store = STORES[rng.below(3) as usize];
                            let lines = [HoldLine::new(sku(&mut rng), 1).at(store)];
                            if e.hold(&HoldRequest::new(&cart, "web", &lines, 120 * MINUTE))
                                .is_ok()
                                && rng.below(3) > 0
                            {
                                let order = format!("reserve-{c}");
                                if late(e.commit(&cart, &order))?.is_none() {
                                    continue;
                                }
                                let view = e.fulfil(&order, &[OrderLine::new(lines[0].sku, 1)])?;
                                debug_assert_eq!(view.state, OrderState::Completed);
                                left.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // Routed orders: shipped to an address from the
                        // nearest locations with the fewest shipments (a
                        // store that ships competes), one in four then
                        // switched to a pickup at a store (re-routed).
                        75..=84 => {
                            let lines: Vec<HoldLine<'_>> = (0..1 + rng.below(3))
                                .map(|_| HoldLine::new(sku(&mut rng), 1 + rng.below(3) as i64))
                                .collect();
                            let address = Fulfilment::Ship {
                                lat: 48.0 + rng.below(600) as f64 / 100.0,
                                lon: 6.0 + rng.below(800) as f64 / 100.0,
                                country: "DE".into(),
                            };
                            let order = format!("routed-{c}");
                            let req = RouteRequest {
                                channel: "web",
                                fulfilment: address,
                                lines: &lines,
                                options: RouteOptions {
                                    strategies: vec![
                                        RouteStrategy::FewestShipments,
                                        RouteStrategy::Nearest,
                                    ],
                                    ..RouteOptions::default()
                                },
                            };
                            if refused(e.place(&order, &req))?.is_none() {
                                continue;
                            }
                            if rng.below(4) == 0 {
                                let store = STORES[rng.below(3) as usize];
                                let pickup = Fulfilment::ClickAndCollect {
                                    store: store.into(),
                                };
                                // Refused when the stock is not there: the
                                // order keeps its first allocation.
                                refused(e.reroute(&order, pickup, RouteOptions::default()))?;
                            }
                            to_fulfil.lock().unwrap().push(order);
                        }
                        // Till sales.
                        85..=94 => {
                            let store = STORES[rng.below(3) as usize];
                            let lines = [HoldLine::new(sku(&mut rng), 1)];
                            if e.till_sale(&format!("till-{c}"), &format!("store:{store}"), &lines)
                                .is_ok()
                            {
                                left.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // Replenishment: a transfer from a warehouse to a store, received later.
                        _ => {
                            let s = sku(&mut rng);
                            let id = format!("transfer-{c}");
                            let store = STORES[rng.below(3) as usize];
                            if e.dispatch_transfer(&id, s, "wh-west", store, 1.into())
                                .is_ok()
                            {
                                e.receive_transfer(&id, None)?;
                            }
                            e.receive(s, "wh-west", 2.into(), Note::new("po_receipt", "PO-day"))?;
                            received.fetch_add(2, Ordering::Relaxed);
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().expect("customer thread panicked")?;
    }

    // Noon: the process restarts. Carts already due expire first, so the
    // state before and after is directly comparable.
    e.expire_due(clock.now_ms());
    let before = e.snapshot();
    let e = Arc::into_inner(e).expect("the customer threads are done");
    e.close()?;
    drop(e);
    let e = open_durable(clock.clone(), &dir)?;
    let restart = e.recovery().cloned().unwrap_or_default();
    let same_after_restart = e.snapshot() == before;

    // Evening: the warehouse ships every committed order, open carts expire.
    let mut shipped = 0i64;
    let mut collect_transfers = 0u64;
    let orders = std::mem::take(&mut *to_fulfil.lock().unwrap());
    for order in &orders {
        // Click & collect from elsewhere: the planned transfer leaves the
        // source and arrives at the pickup store, still the order's.
        for id in e.order_info(order)?.transfers {
            let t = e.transfer_info(&id)?;
            if t.state == TransferState::Planned {
                e.dispatch_transfer(&id, &t.sku, &t.from, &t.to, t.qty)?;
                e.receive_transfer(&id, None)?;
                collect_transfers += 1;
            }
        }
        let view = e.order_info(order)?;
        // What is still open of each line (a re-routed order keeps the
        // lines it no longer ships from, with nothing open).
        let open: Vec<(&str, &str, i64)> = view
            .lines
            .iter()
            .map(|(s, l, q, done, cancelled)| {
                let open = q.as_units().unwrap()
                    - done.as_units().unwrap()
                    - cancelled.as_units().unwrap();
                (s.as_str(), l.as_str(), open)
            })
            .filter(|x| x.2 > 0)
            .collect();
        let lines: Vec<OrderLine<'_>> = open
            .iter()
            .map(|(s, l, q)| OrderLine::new(s, *q).at(l))
            .collect();
        e.fulfil(order, &lines)?;
        shipped += open.iter().map(|x| x.2).sum::<i64>();
    }
    clock.advance(180 * MINUTE);
    e.expire_due(clock.now_ms());

    let kpis = e.kpis();
    let availability_after = channel_totals(&e, &skus);
    let left = left_building.load(Ordering::Relaxed) + shipped;
    let mut invariants = vec![
        (
            "a restart at noon changes nothing (journal replayed)".to_string(),
            same_after_restart,
        ),
        (
            "the ledger folds to the live state".to_string(),
            e.fold_ledger()? == e.levels_as_folded(),
        ),
        (
            "units conserved: opening + receipts - shipped - sold = on hand".to_string(),
            received.load(Ordering::Relaxed) - left == on_hand_total(&e, &skus),
        ),
        (
            "every hold ended exactly once".to_string(),
            kpis.holds_created == kpis.holds_committed + kpis.holds_released + kpis.holds_expired,
        ),
    ];
    let mut oversold = false;
    let mut promised = 0;
    for sku in skus.iter() {
        for l in e.locations() {
            let lv = e.levels(sku, &l.spec.id)?;
            let sellable =
                lv.on_hand.to_decimal() - lv.unsellable.to_decimal() - lv.safety.to_decimal();
            oversold |= lv.reserved.to_decimal() + lv.allocated.to_decimal() > sellable;
            promised += lv.reserved.as_units().unwrap() + lv.allocated.as_units().unwrap();
        }
    }
    invariants.push(("no oversell at any (SKU, location)".to_string(), !oversold));
    invariants.push((
        "nothing left reserved or allocated".to_string(),
        promised == 0,
    ));
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(DayReport {
        customers,
        availability_before,
        availability_after,
        kpis,
        orders_fulfilled: orders.len() as u64,
        collect_transfers,
        restart,
        invariants,
    })
}

/// Another thread moved the shared clock past the cart's expiry: the
/// customer was too late, which is an outcome, not a failure.
fn late<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::HoldNotActive {
            state: HoldState::Expired,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A routing refusal (no stock, no route) as `None`; other errors stay.
fn refused<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::InsufficientStock { .. } | Error::NoRoute { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn on_hand_total(e: &Engine, skus: &[String]) -> i64 {
    let locs = e.locations();
    skus.iter()
        .flat_map(|s| locs.iter().map(move |l| (s, l)))
        .map(|(s, l)| e.levels(s, &l.spec.id).unwrap().on_hand.as_units().unwrap())
        .sum()
}
