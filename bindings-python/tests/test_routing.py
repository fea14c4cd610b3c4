"""Routing through Python: the same behaviours as core/tests/routing.rs,
with the explanation, host scorers and typed errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

import unistock as u

from conftest import T0

PARIS = (48.85, 2.35, "FR")


def retailer() -> u.Engine:
    e = u.Engine(clock=u.ManualClock(T0))
    e.upsert_location("lyon", lat=45.76, lon=4.84, priority=1,
                      cost_per_shipment=Decimal("5.00"), cost_per_unit=Decimal("0.50"))
    e.upsert_location("lille", lat=50.63, lon=3.06, priority=5,
                      cost_per_shipment=Decimal("7.00"), cost_per_unit=Decimal("0.20"))
    e.upsert_location("paris-ship", kind="store", ships=True, lat=48.86, lon=2.35,
                      cost_per_shipment=Decimal("9.00"), cost_per_unit=Decimal("1.00"))
    e.upsert_location("paris-store", kind="store", ships=False, lat=48.87, lon=2.33)
    e.upsert_location("closed-wh", lat=48.9, lon=2.4, priority=99)
    e.set_location_closed("closed-wh", True)
    e.upsert_channel("web", ["lyon", "lille", "paris-ship", "paris-store", "closed-wh"])
    return e


def where(plan: u.Plan) -> list[str]:
    return [s.location for s in plan.shipments]


def test_priority_wins_and_every_candidate_is_explained():
    e = retailer()
    for loc in ("lyon", "lille", "paris-ship", "closed-wh"):
        e.receive("tee", loc, 10)
    p = e.route("web", [("tee", 2)], ship_to=PARIS, strategies=["priority"])
    assert where(p) == ["lille"]
    assert p.shipments[0].lines == [("tee", 2)]
    assert "ranked #1" in p.shipments[0].why and "priority" in p.shipments[0].why
    by = {c.location: c for c in p.candidates}
    assert by["lille"].rank == 1 and by["lyon"].rank == 2
    assert by["closed-wh"].excluded == "closed"
    assert by["paris-store"].excluded == "does not ship"
    assert p.shipments[0].promised_at == T0


def test_nearest_ship_from_store_and_exact_costs():
    e = retailer()
    for loc in ("lyon", "lille", "paris-ship"):
        e.receive("tee", loc, 10)
    assert where(e.route("web", [("tee", 1)], ship_to=PARIS, strategies=["nearest"])) == ["paris-ship"]
    p = e.route("web", [("tee", 4)], ship_to=PARIS, strategies=["lowest_cost"])
    assert where(p) == ["lyon"]
    assert p.total_cost == Decimal("7.00") and isinstance(p.total_cost, Decimal)
    p = e.route("web", [("tee", 4)], ship_to=PARIS, strategies=["lowest_cost"],
                cost_per_km=Decimal("0.01"))
    assert where(p) == ["lille"]


def test_split_fewest_shipments_and_constraints():
    e = retailer()
    e.receive("tee", "lille", 3)
    e.receive("tee", "lyon", 10)
    p = e.route("web", [("tee", 5)], ship_to=PARIS, strategies=["priority"])
    assert [(s.location, s.lines) for s in p.shipments] == [("lille", [("tee", 3)]), ("lyon", [("tee", 2)])]
    p = e.route("web", [("tee", 5)], ship_to=PARIS, strategies=["priority"], allow_split=False)
    assert where(p) == ["lyon"]
    e.receive("cap", "paris-ship", 1)
    with pytest.raises(u.NoRouteError) as ex:
        e.route("web", [("tee", 5), ("cap", 1)], ship_to=PARIS, allow_split=False)
    assert ex.value.code == "E_NO_ROUTE" and "split" in ex.value.reason
    e.receive("cap", "lyon", 1)
    p = e.route("web", [("tee", 1), ("cap", 1)], ship_to=PARIS,
                strategies=["fewest_shipments", "priority"])
    assert where(p) == ["lyon"]


def test_shortfalls_partial_and_backorder():
    e = retailer()
    e.receive("tee", "lyon", 2)
    with pytest.raises(u.InsufficientStockError) as ex:
        e.route("web", [("tee", 5)], ship_to=PARIS)
    assert (ex.value.requested, ex.value.available) == (5, 2)
    p = e.route("web", [("tee", 5)], ship_to=PARIS, allow_partial=True)
    assert p.unfilled == [("tee", 3)]
    e.expect_receipt("tee", "lille", 10, T0 + timedelta(days=5), "PO-1")
    p = e.route("web", [("tee", 5)], ship_to=PARIS, allow_backorder=True)
    assert [(s.location, s.backorder) for s in p.shipments] == [("lyon", False), ("lille", True)]
    assert p.shipments[1].promised_at == T0 + timedelta(days=5)


def test_click_and_collect_reserve_and_till():
    e = retailer()
    e.receive("tee", "paris-store", 2)
    e.receive("tee", "lyon", 10)
    p = e.route("web", [("tee", 4)], collect_at="paris-store", strategies=["nearest"])
    assert where(p) == ["paris-store", "lyon"]
    assert p.shipments[0].transfer_to is None
    assert p.shipments[1].transfer_to == "paris-store"
    assert p.shipments[1].promised_at == T0 + timedelta(days=2)
    p = e.route("web", [("tee", 1)], reserve_at="paris-store", reserve_hours=48)
    assert where(p) == ["paris-store"]
    with pytest.raises(u.InsufficientStockError):
        e.route("web", [("tee", 3)], reserve_at="paris-store")
    assert where(e.route("web", [("tee", 1)], till="paris-store")) == ["paris-store"]


def test_a_callable_scorer_ranks_may_call_back_and_its_exception_propagates():
    e = retailer()
    e.receive("tee", "lyon", 5)
    e.receive("tee", "lille", 5)
    seen = []

    def prefer_lyon(c: u.Candidate) -> float:
        seen.append(c.location)
        e.levels("tee", "lyon")  # re-entrant: no engine lock is held
        return 10.0 if c.location == "lyon" else 0.0

    p = e.route("web", [("tee", 1)], ship_to=PARIS, strategies=[prefer_lyon, "priority"])
    assert where(p) == ["lyon"]
    assert "custom" in p.shipments[0].why
    assert {c.location: c.custom_score for c in p.candidates}["lyon"] == 10.0
    assert len(seen) == 5

    class Boom(Exception):
        pass

    def boom(c: u.Candidate) -> float:
        raise Boom("scorer failed")

    with pytest.raises(Boom):
        e.route("web", [("tee", 1)], ship_to=PARIS, strategies=[boom])
    with pytest.raises(u.InvalidArgumentError):
        e.route("web", [("tee", 1)], ship_to=PARIS, strategies=[lambda c: "high"])
    with pytest.raises(u.InvalidArgumentError):
        e.route("web", [("tee", 1)], ship_to=PARIS, strategies=[lambda c: float("nan")])


def test_routing_changes_nothing():
    e = retailer()
    e.receive("tee", "lyon", 10)
    seq, levels = e.last_seq, e.levels("tee", "lyon")
    e.route("web", [("tee", 3)], ship_to=PARIS)
    assert (e.last_seq, e.levels("tee", "lyon")) == (seq, levels)


BAD = [
    (dict(), u.InvalidArgumentError),
    (dict(ship_to=PARIS, till="paris-store"), u.InvalidArgumentError),
    (dict(ship_to=(91.0, 0.0, "FR")), u.InvalidArgumentError),
    (dict(ship_to=(48.0, 2.0)), u.InvalidArgumentError),
    (dict(ship_to=("48", 2.0, "FR")), u.InvalidArgumentError),
    (dict(ship_to=PARIS, strategies=["fastest"]), u.InvalidArgumentError),
    (dict(ship_to=PARIS, strategies=[1]), u.InvalidArgumentError),
    (dict(ship_to=PARIS, strategies="priority"), u.InvalidArgumentError),
    (dict(ship_to=PARIS, allow_split=1), u.InvalidArgumentError),
    (dict(ship_to=PARIS, max_shipments=0), u.InvalidArgumentError),
    (dict(ship_to=PARIS, max_shipments=-1), u.InvalidArgumentError),
    (dict(ship_to=PARIS, max_shipments=True), u.InvalidArgumentError),
    (dict(ship_to=PARIS, cost_per_km=Decimal("-1")), u.InvalidArgumentError),
    (dict(ship_to=PARIS, cost_per_km=0.5), u.InvalidArgumentError),
    (dict(ship_to=PARIS, transfer_days=2**40), u.InvalidArgumentError),
    (dict(collect_at="nowhere"), u.UnknownLocationError),
    (dict(reserve_at="paris-store", reserve_hours=0), u.InvalidArgumentError),
    (dict(till=None), u.InvalidArgumentError),
]


@pytest.mark.parametrize("kwargs,exc", BAD)
def test_bad_route_input_gets_a_typed_error(kwargs, exc):
    e = retailer()
    e.receive("tee", "lyon", 10)
    with pytest.raises(exc):
        e.route("web", [("tee", 1)], **kwargs)


@pytest.mark.parametrize("lines,exc", [
    ([], u.InvalidArgumentError),
    ([("tee", 0)], u.InvalidQuantityError),
    ([("tee", -1)], u.InvalidQuantityError),
    ([("tee", 1.0)], u.InvalidArgumentError),
    ([("nope", 1)], u.UnknownSkuError),
    (None, u.InvalidArgumentError),
])
def test_bad_route_lines_get_a_typed_error(lines, exc):
    e = retailer()
    e.receive("tee", "lyon", 10)
    with pytest.raises(exc):
        e.route("web", lines, ship_to=PARIS)
    with pytest.raises(u.UnknownChannelError):
        e.route("nope", [("tee", 1)], ship_to=PARIS)


def test_place_allocates_the_plan_replays_and_fulfils():
    e = u.Engine(clock=u.ManualClock(T0), ledger_retention=None)
    e.upsert_location("lyon", lat=45.76, lon=4.84, priority=1)
    e.upsert_location("lille", lat=50.63, lon=3.06, priority=5)
    e.upsert_channel("web", ["lyon", "lille"])
    e.receive("tee", "lille", 3)
    e.receive("tee", "lyon", 10)
    p = e.place("o1", "web", [("tee", 5)], ship_to=PARIS, strategies=["priority"])
    assert (p.order, p.replayed) == ("o1", False)
    assert [(a.location, a.qty) for a in p.allocations] == [("lille", 3), ("lyon", 2)]
    assert where(p.plan) == ["lille", "lyon"]
    assert e.levels("tee", "lyon").allocated == 2
    again = e.place("o1", "web", [("tee", 5)], ship_to=PARIS, strategies=["priority"])
    assert again.replayed and again.allocations == p.allocations and again.plan == p.plan
    with pytest.raises(u.IdConflictError):
        e.place("o1", "web", [("tee", 6)], ship_to=PARIS, strategies=["priority"])
    assert e.fulfil("o1", [("tee", 3, "lille")]).state == "open"
    assert e.verify_ledger()
    k = e.kpis()
    assert (k.orders_placed, k.orders_split, k.shipments) == (1, 1, 2)
    assert (k.units_ordered, k.units_placed, k.fill_rate, k.split_rate) == (5, 5, 1.0, 1.0)
    assert 250 < k.average_shipping_km < 350


def test_place_plans_again_when_stock_moves_and_otherwise_changes_nothing():
    e = retailer()
    e.receive("tee", "lille", 5)
    e.receive("tee", "lyon", 5)
    calls = []

    def sell_lille_once(c: u.Candidate) -> float:
        calls.append(c.location)
        if len(calls) == 1:
            e.write_off("tee", "lille", 5)
        return 0.0

    p = e.place("o1", "web", [("tee", 2)], ship_to=PARIS, strategies=[sell_lille_once, "priority"])
    assert where(p.plan) == ["lyon"] and len(calls) == 10
    before = e.last_seq

    def sell_everything(c: u.Candidate) -> float:
        for loc in ("lyon",):
            if e.levels("tee", loc).available > 0:
                e.write_off("tee", loc, e.levels("tee", loc).available)
        return 0.0

    with pytest.raises(u.InsufficientStockError):
        e.place("o2", "web", [("tee", 1)], ship_to=PARIS, strategies=[sell_everything])
    with pytest.raises(u.UnknownOrderError):
        e.order_info("o2")
    assert e.last_seq == before + 1, "only the write-off happened"


def test_reroute_swaps_the_allocation_or_keeps_the_old_one():
    e = u.Engine(clock=u.ManualClock(T0), ledger_retention=None)
    e.upsert_location("lyon", lat=45.76, lon=4.84, priority=1)
    e.upsert_location("paris-store", kind="store", ships=False, lat=48.87, lon=2.33)
    e.upsert_channel("web", ["lyon", "paris-store"])
    e.receive("tee", "lyon", 4)
    e.receive("tee", "paris-store", 2)
    e.place("o1", "web", [("tee", 4)], ship_to=PARIS)
    e.fulfil("o1", [("tee", 1)])
    moved = e.reroute("o1", collect_at="paris-store", strategies=["nearest"])
    assert (moved.order, where(moved.plan)) == ("o1", ["paris-store", "lyon"])
    assert [(a.location, a.qty) for a in moved.allocations] == [("paris-store", 2), ("lyon", 1)]
    assert moved.plan.shipments[1].transfer_to == "paris-store"
    seq = e.last_seq
    with pytest.raises(u.InsufficientStockError):
        e.reroute("o1", reserve_at="paris-store")
    assert e.last_seq == seq and e.levels("tee", "paris-store").allocated == 2
    assert e.verify_ledger()
    assert e.kpis().reroutes == 1
    with pytest.raises(u.UnknownOrderError):
        e.reroute("nope", ship_to=PARIS)
    with pytest.raises(u.InvalidArgumentError):
        e.reroute("o1")


def test_daily_capacity_counts_orders_and_capacity_aware_routing_skips_full_locations():
    clock = u.ManualClock(T0)
    e = u.Engine(clock=clock)
    e.upsert_location("lyon", lat=45.76, lon=4.84, priority=1)
    e.upsert_location("lille", lat=50.63, lon=3.06, priority=5, daily_capacity=2)
    e.upsert_channel("web", ["lyon", "lille"])
    e.receive("tee", "lyon", 50)
    e.receive("tee", "lille", 50)
    aware = dict(ship_to=PARIS, strategies=["capacity_aware", "priority"])
    assert where(e.place("o1", "web", [("tee", 1)], **aware).plan) == ["lille"]
    e.hold("h1", "web", [("tee", 1, "lille")])
    e.commit("h1", "o2")
    load = e.location_load("lille")
    assert (load.location, load.orders_today, load.capacity) == ("lille", 2, 2)
    assert load.day_start <= T0
    p = e.place("o3", "web", [("tee", 1)], **aware)
    assert where(p.plan) == ["lyon"]
    lille = next(c for c in p.plan.candidates if c.location == "lille")
    assert lille.excluded == "at its daily order capacity (2 orders today)"
    assert e.location_load("lyon").capacity is None
    clock.advance(timedelta(days=1))
    assert e.location_load("lille").orders_today == 0
    with pytest.raises(u.UnknownLocationError):
        e.location_load("nowhere")
    with pytest.raises(u.InvalidArgumentError):
        e.location_load(7)


def test_click_and_collect_creates_a_transfer_that_carries_the_order():
    e = u.Engine(clock=u.ManualClock(T0))
    e.upsert_location("lyon", lat=45.76, lon=4.84)
    e.upsert_location("paris-store", kind="store", lat=48.87, lon=2.33)
    e.upsert_channel("web", ["lyon", "paris-store"])
    e.upsert_channel("till", ["paris-store"])
    e.receive("tee", "lyon", 5)
    placed = e.place("o1", "web", [("tee", 2)], collect_at="paris-store", strategies=["nearest"])
    assert placed.plan.shipments[0].transfer_to == "paris-store"
    assert e.order_info("o1").transfers == ["o1/1"]
    t = e.transfer_info("o1/1")
    assert (t.from_location, t.to_location, t.qty, t.state, t.order) == (
        "lyon", "paris-store", 2, "planned", "o1")
    assert e.dispatch_transfer("o1/1", "tee", "lyon", "paris-store", 2).state == "in_transit"
    assert e.levels("tee", "lyon").allocated == 0
    assert e.order_info("o1").state == "open"
    e.receive_transfer("o1/1")
    store = e.levels("tee", "paris-store")
    assert (store.on_hand, store.allocated) == (2, 2)
    assert e.availability("till", "tee") == 0
    assert e.fulfil("o1", [("tee", 2, "paris-store")]).state == "completed"
    e.place("o2", "web", [("tee", 1)], collect_at="paris-store")
    assert e.cancel_transfer("o2/1").state == "cancelled"
    assert e.levels("tee", "lyon").allocated == 1


def test_backorders_are_tracked_set_aside_on_arrival_and_filled():
    clock = u.ManualClock(T0)
    e = u.Engine(clock=clock)
    e.upsert_location("lyon", lat=45.76, lon=4.84)
    e.upsert_location("lille", lat=50.63, lon=3.06)
    e.upsert_channel("web", ["lyon", "lille"])
    e.receive("tee", "lyon", 1)
    e.expect_receipt("tee", "lille", 5, T0 + timedelta(days=3), reference="PO-7")
    placed = e.place("o1", "web", [("tee", 3)], ship_to=PARIS, allow_backorder=True)
    bo = [s for s in placed.plan.shipments if s.backorder]
    assert [(s.location, s.preorder) for s in bo] == [("lille", False)]
    [b] = e.order_info("o1").backorders
    assert (b.sku, b.location, b.qty, b.promised_at, b.preorder) == (
        "tee", "lille", 2, T0 + timedelta(days=3), False)
    assert e.levels("tee", "lille").backordered == 2
    e.receive("tee", "lille", 5, reference="PO-7")
    lille = e.levels("tee", "lille")
    assert (lille.allocated, lille.backordered, lille.available) == (2, 0, 3)
    view = e.fill_backorders("o1")
    assert view.backorders == []
    k = e.kpis()
    assert (k.orders_backordered, k.units_backordered, k.units_backorder_filled) == (1, 2, 2)
    e.declare_sku("hat")
    e.expect_receipt("hat", "lyon", 10, T0 + timedelta(days=9), reference="PO-8")
    pre = e.place("o2", "web", [("hat", 2)], ship_to=PARIS, allow_backorder=True)
    assert pre.allocations == [] and pre.plan.shipments[0].preorder
    assert e.kpis().units_preordered == 2
    assert e.cancel_backorders("o2").state == "cancelled"
    with pytest.raises(u.UnknownOrderError):
        e.fill_backorders("nope")


def test_click_and_reserve_ends_after_its_hours_at_the_store():
    clock = u.ManualClock(T0)
    e = u.Engine(clock=clock)
    e.upsert_location("lyon")
    e.upsert_location("paris-store", kind="store")
    e.upsert_channel("web", ["lyon", "paris-store"])
    e.receive("tee", "paris-store", 3)
    e.receive("tee", "lyon", 3)
    e.place("r1", "web", [("tee", 2)], reserve_at="paris-store", reserve_hours=2)
    e.place("r2", "web", [("tee", 1)], reserve_at="paris-store", reserve_hours=2)
    e.place("s1", "web", [("tee", 1)], ship_to=PARIS)
    assert e.order_info("r1").reserved_until == T0 + timedelta(hours=2)
    assert e.order_info("s1").reserved_until is None
    assert e.levels("tee", "paris-store").available == 0
    # r1's customer takes one unit; r2's asks for a day (a re-route).
    e.fulfil("r1", [("tee", 1)])
    clock.advance(timedelta(hours=1))
    e.reroute("r2", reserve_at="paris-store", reserve_hours=24)
    assert e.order_info("r2").reserved_until == T0 + timedelta(hours=25)
    clock.advance(timedelta(hours=1))
    # r1's time is up: its other unit is back on sale before any sweep.
    assert e.levels("tee", "paris-store").available == 1
    r1 = e.order_info("r1")
    assert (r1.state, r1.lines[0].fulfilled, r1.lines[0].cancelled) == ("completed", 1, 1)
    last = e.events_since(e.last_seq - 1)[0]
    assert (last.kind, last.reason, last.reference, last.at) == (
        "allocation_cancelled", "expiry", "r1", T0 + timedelta(hours=2))
    assert e.order_info("r2").state == "open"
    e.expire_due(T0 + timedelta(hours=30))
    assert e.order_info("r2").state == "cancelled"
    assert e.levels("tee", "paris-store").available == 2
    assert e.order_info("s1").state == "open"


def test_argument_errors_name_the_argument_as_python_callers_write_it():
    e = retailer()
    e.receive("tee", "paris-store", 1)
    with pytest.raises(u.InvalidArgumentError) as ex:
        e.route("web", [("tee", 1)], reserve_at="paris-store", reserve_hours=0)
    assert ex.value.field == "reserve_hours" and "`reserve_hours`" in str(ex.value)
    with pytest.raises(u.InvalidArgumentError) as ex:
        e.hold("h", "web", [("tee", 1)], timedelta(days=31))
    assert ex.value.field == "ttl" and "`ttl`" in str(ex.value)
    [err] = e.hold_batch([("h", "web", [("tee", 1)], timedelta(days=31))])
    assert isinstance(err, u.InvalidArgumentError) and err.field == "ttl"
