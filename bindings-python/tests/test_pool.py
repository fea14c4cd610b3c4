"""Pool holds through Python (mirrors core/tests/pool.rs): a hold against
the channel's pool has no location, the engine keeps every such claim
bindable, and committing or placing the hold binds it."""

from __future__ import annotations

from datetime import timedelta

import pytest

import unistock as u

from conftest import T0

NEAR_A = (52.1, 13.1, "DE")


def shop() -> u.Engine:
    e = u.Engine(clock=u.ManualClock(T0))
    e.upsert_location("a", lat=52.0, lon=13.0)
    e.upsert_location("b", lat=48.0, lon=11.0)
    e.upsert_location("s", kind="store", ships=True, lat=50.0, lon=8.0)
    e.upsert_channel("web", ["a", "b", "s"])
    e.upsert_channel("app", ["a", "s"])
    e.upsert_channel("market", ["b"])
    e.upsert_channel("till", ["s"])
    return e


def test_a_pool_hold_claims_the_channel_not_a_location():
    e = shop()
    e.receive("x", "a", 3)
    e.receive("x", "b", 3)
    r = e.hold("cart-1", "web", [("x", 4)], pool=True)
    assert [(p.sku, p.location, p.qty) for p in r.parts] == [("x", None, 4)]
    assert e.levels("x", "a").reserved == 0
    assert e.availability("web", "x") == 2
    assert e.hold_info("cart-1").parts[0].location is None
    assert e.hold("cart-1", "web", [("x", 4)]).replayed  # the default
    with pytest.raises(u.IdConflictError):
        e.hold("cart-1", "web", [("x", 4)], pool=False)


def test_a_till_sale_cannot_take_units_a_pool_claim_needs():
    e = shop()
    e.receive("x", "b", 3)
    e.receive("x", "s", 2)
    e.hold("cart-1", "web", [("x", 4)], pool=True)
    assert e.levels("x", "s").available == 2
    assert e.availability("till", "x") == 1
    with pytest.raises(u.InsufficientStockError) as err:
        e.till_sale("sale-1", "till", [("x", 2, "s")])
    assert err.value.available == 1
    e.till_sale("sale-2", "till", [("x", 1, "s")])
    order = e.commit("cart-1", "order-1")
    assert sorted((p.location, p.qty) for p in order.allocations) == [("b", 3), ("s", 1)]


def test_a_pool_hold_that_would_leave_another_unbindable_is_refused():
    e = shop()
    e.receive("x", "a", 2)
    e.receive("x", "b", 2)
    e.hold("app-1", "app", [("x", 2)], pool=True)
    assert e.availability("web", "x") == 2
    with pytest.raises(u.InsufficientStockError):
        e.hold("web-1", "web", [("x", 3)], pool=True)
    e.hold("web-1", "web", [("x", 2)], pool=True)
    assert e.availability("market", "x") == 0
    with pytest.raises(u.InsufficientStockError):
        e.dispatch_transfer("t-1", "x", "b", "s", 1)
    e.release("app-1")
    assert e.availability("market", "x") == 2


def test_place_hold_binds_around_other_claims_and_is_idempotent():
    e = shop()
    e.receive("x", "a", 2)
    e.receive("x", "b", 2)
    e.hold("app-1", "app", [("x", 2)], pool=True)
    e.hold("web-1", "web", [("x", 2)], pool=True)
    placed = e.place_hold("web-1", "order-1", ship_to=NEAR_A, strategies=["nearest"])
    assert [s.location for s in placed.plan.shipments] == ["b"]
    assert placed.order == "order-1" and not placed.replayed
    assert e.hold_info("web-1").state == "committed"
    assert e.order_info("order-1").hold == "web-1"
    again = e.place_hold("web-1", "order-1", ship_to=NEAR_A, strategies=["nearest"])
    assert again.replayed and again.plan == placed.plan
    with pytest.raises(u.IdConflictError):
        e.place_hold("web-1", "order-2", ship_to=NEAR_A, strategies=["nearest"])
    with pytest.raises(u.UnknownHoldError):
        e.place_hold("nope", "order-3", ship_to=NEAR_A)


def test_pool_hold_batch_and_shortage_reporting():
    e = shop()
    e.receive("x", "a", 2)
    out = e.hold_batch([("h1", "app", [("x", 1)]), ("h2", "app", [("x", 5)])], pool=True)
    assert isinstance(out[0], u.HoldReceipt) and out[0].parts[0].location is None
    assert isinstance(out[1], u.InsufficientStockError)
    e.hold("h3", "app", [("x", 1)], pool=True)
    seq = e.last_seq
    e.write_off("x", "a", 1)
    short = [ev for ev in e.events_since(seq) if ev.kind == "shortage"]
    assert [(ev.location, ev.qty) for ev in short] == [(None, 1)]


@pytest.mark.parametrize("bad", [1, "yes", 1.0, [True]])
def test_pool_must_be_a_bool(bad):
    e = shop()
    e.receive("x", "a", 2)
    with pytest.raises(u.InvalidArgumentError):
        e.hold("h", "web", [("x", 1)], pool=bad)
    with pytest.raises(u.InvalidArgumentError):
        e.hold_batch([("h", "web", [("x", 1)])], pool=bad)
    assert e.availability("web", "x") == 2


def test_pool_holds_expire():
    clock = u.ManualClock(T0)
    e = u.Engine(clock=clock)
    e.upsert_location("a")
    e.upsert_channel("web", ["a"])
    e.receive("x", "a", 2)
    e.hold("h", "web", [("x", 2)], timedelta(minutes=5), pool=True)
    assert e.availability("web", "x") == 0
    clock.advance(timedelta(minutes=6))
    assert e.availability("web", "x") == 2
    assert e.hold_info("h").state == "expired"
