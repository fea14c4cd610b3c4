"""The core behaviours, through Python (mirrors core/tests/operations.rs)."""

from __future__ import annotations

import pickle
import sys
from datetime import timedelta
from decimal import Decimal

import pytest

import unistock as u
from conftest import MIN, T0, make_shop


def test_receive_creates_the_sku_and_levels_read_back(shop):
    e, _ = shop
    lv = e.receive("tee", "wh-1", 10, reason="po_receipt", reference="PO-1")
    assert lv.on_hand == 10 and lv.available == 10 and isinstance(lv.on_hand, int)
    assert e.levels("tee", "wh-1") == lv
    assert e.atp("tee", "wh-1") == 10
    assert e.skus() == [("tee", 0)]
    last = e.events_since(0)[-1]
    assert (last.kind, last.sku, last.location, last.qty, last.reason, last.reference) == (
        "received", "tee", "wh-1", 10, "po_receipt", "PO-1")
    assert last.at == T0


def test_decimal_skus_take_exact_quantities(shop):
    e, _ = shop
    e.declare_sku("rope", unit_scale=2)
    lv = e.receive("rope", "wh-1", Decimal("12.50"))
    assert lv.on_hand == Decimal("12.50") and isinstance(lv.on_hand, Decimal)
    r = e.hold("h", "web", [("rope", Decimal("0.25"))])
    assert r.parts[0].qty == Decimal("0.25")
    assert e.availability("web", "rope") == Decimal("12.25")
    with pytest.raises(u.InvalidQuantityError) as ex:
        e.hold("h2", "web", [("rope", Decimal("0.001"))])
    assert ex.value.problem == "too_many_decimals" and ex.value.sku == "rope"
    with pytest.raises(u.IdConflictError):
        e.declare_sku("rope", unit_scale=3)
    e.declare_sku("rope", unit_scale=2)


def test_count_reports_variance_and_shortage(shop):
    e, _ = shop
    e.receive("tee", "store-1", 5)
    e.till_sale("s0", "till:store-1", [("tee", 1)])
    e.hold("h", "till:store-1", [("tee", 3, "store-1")])
    rep = e.count("tee", "store-1", 2, reference="CNT-1")
    assert rep.variance == -2 and rep.shortage == 1 and rep.levels.on_hand == 2
    k = e.kpis()
    assert k.counts == 1 and k.shortages == 1 and k.count_variance_units == Decimal(2)


def test_write_off_conditions_and_safety(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 10)
    assert e.mark_unsellable("tee", "wh-1", 3, "damaged").available == 7
    assert e.mark_unsellable("tee", "wh-1", 1, "quality_control").unsellable == 4
    assert e.restore_sellable("tee", "wh-1", 1, "quality_control").available == 7
    lv = e.write_off("tee", "wh-1", 2, from_condition="damaged")
    assert (lv.on_hand, lv.damaged, lv.available) == (8, 1, 7)
    assert e.write_off("tee", "wh-1", 1).on_hand == 7
    assert e.set_safety("tee", "wh-1", 2).available == 4
    with pytest.raises(u.InvalidArgumentError):
        e.mark_unsellable("tee", "wh-1", 1, "stolen")


def test_expected_receipts(shop):
    e, _ = shop
    e.declare_sku("tee")
    e.expect_receipt("tee", "wh-1", 20, T0 + timedelta(days=2), "PO-9")
    assert e.levels("tee", "wh-1").incoming == 20
    [x] = e.expected_receipts("tee", "wh-1")
    assert (x.reference, x.qty, x.due) == ("PO-9", 20, T0 + timedelta(days=2))
    e.receive("tee", "wh-1", 20, reference="PO-9")
    assert e.levels("tee", "wh-1").incoming == 0 and e.expected_receipts("tee", "wh-1") == []
    e.expect_receipt("tee", "wh-1", 5, T0, "PO-10")
    assert e.cancel_expected("tee", "wh-1", "PO-10").incoming == 0


def test_transfers(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 10)
    t = e.dispatch_transfer("T1", "tee", "wh-1", "store-1", 4)
    assert (t.state, t.qty, t.received) == ("in_transit", 4, 0)
    assert e.levels("tee", "store-1").in_transit == 4 and e.levels("tee", "wh-1").on_hand == 6
    t = e.receive_transfer("T1", 1)
    assert t.received == 1 and e.levels("tee", "store-1").on_hand == 1
    with pytest.raises(u.ExceedsOpenQuantityError) as ex:
        e.receive_transfer("T1", 5)
    assert (ex.value.kind, ex.value.id, ex.value.remaining) == ("transfer", "T1", 3)
    assert str(ex.value) == "transfer `T1` has 3 of `tee` open, 5 requested"
    t = e.cancel_transfer("T1")
    assert t.state == "cancelled" and e.levels("tee", "wh-1").on_hand == 9
    with pytest.raises(u.TransferNotOpenError):
        e.receive_transfer("T1")
    with pytest.raises(u.UnknownTransferError):
        e.transfer_info("nope")
    assert e.transfer_info("T1") == t


def test_channel_buffers_caps_and_store_locator(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 10)
    e.receive("tee", "store-1", 2)
    assert e.availability("web", "tee") == 12
    assert e.availability("market", "tee") == 3
    e.upsert_channel("app", ["wh-1"], safety_units=2, holdback_percent=Decimal("10"))
    assert e.availability("app", "tee") == 7
    assert e.availability_many("web", ["tee", "tee"]) == [12, 12]
    by = {a.location: a.available for a in e.availability_by_location("web", "tee")}
    assert by == {"wh-1": 10, "wh-2": 0, "store-1": 2}
    [ch] = [c for c in e.channels() if c.id == "app"]
    assert ch.holdback_percent == Decimal("10") and ch.safety_units == 2 and ch.cap_units is None
    with pytest.raises(u.InvalidArgumentError):
        e.upsert_channel("x", ["wh-1"], cap_units=1, cap_percent=Decimal(5))


def test_holds_fill_in_channel_order_all_or_nothing(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 2)
    e.receive("tee", "store-1", 5)
    e.receive("cap", "wh-2", 1)
    r = e.hold("h1", "web", [("tee", 4)], timedelta(minutes=15), pool=False)
    assert [(p.location, p.qty) for p in r.parts] == [("wh-1", 2), ("store-1", 2)]
    assert r.expires_at == T0 + timedelta(minutes=15) and not r.replayed
    before = e.last_seq
    with pytest.raises(u.InsufficientStockError) as ex:
        e.hold("h2", "web", [("tee", 1), ("cap", 2)])
    assert (ex.value.sku, ex.value.requested, ex.value.available, ex.value.channel) == ("cap", 2, 1, "web")
    assert e.last_seq == before and e.availability("web", "tee") == 3
    assert e.kpis().oversells_prevented == 1


def test_hold_ids_are_idempotent(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 5)
    a = e.hold("h", "web", [u.Line("tee", 2)])
    b = e.hold("h", "web", [("tee", 2)])
    assert b.replayed and b.parts == a.parts
    with pytest.raises(u.IdConflictError) as ex:
        e.hold("h", "web", [("tee", 3)])
    assert ex.value.kind == "hold" and ex.value.id == "h"
    assert e.availability("web", "tee") == 3


def test_pinned_lines_closure_and_channel_membership(shop):
    e, _ = shop
    e.receive("tee", "store-2", 5)
    e.receive("tee", "store-1", 5)
    with pytest.raises(u.LocationNotInChannelError):
        e.hold("h", "web", [("tee", 1, "store-2")])
    e.set_location_closed("store-1", True)
    with pytest.raises(u.LocationClosedError):
        e.hold("h", "web", [("tee", 1, "store-1")])
    assert [l.closed for l in e.locations() if l.id == "store-1"] == [True]
    e.set_location_closed("store-1", False)
    e.remove_location_from_channel("web", "store-1")
    with pytest.raises(u.LocationNotInChannelError):
        e.hold("h", "web", [("tee", 1, "store-1")])


def test_expiry_frees_stock_before_any_sweep(shop):
    e, clock = shop
    e.receive("tee", "wh-1", 1)
    e.hold("h", "web", [("tee", 1)], MIN)
    with pytest.raises(u.InsufficientStockError):
        e.hold("h2", "web", [("tee", 1)], MIN)
    clock.advance(MIN)
    assert e.availability("web", "tee") == 1
    assert e.hold_info("h").state == "expired"
    with pytest.raises(u.HoldNotActiveError) as ex:
        e.commit("h", "o")
    assert ex.value.state == "expired"
    e.hold("h3", "web", [("tee", 1)], MIN)
    assert e.expire_due(T0 + 3 * MIN) == 1
    assert e.kpis().holds_expired == 2


def test_extend_release_and_errors(shop):
    e, clock = shop
    e.receive("tee", "wh-1", 3)
    e.hold("h", "web", [("tee", 1)], MIN)
    assert e.extend_hold("h", 10 * MIN) == T0 + 10 * MIN
    clock.advance(5 * MIN)
    assert e.hold_info("h").state == "active"
    e.release("h")
    e.release("h")
    info = e.hold_info("h")
    assert info.state == "released" and info.ended_at == T0 + 5 * MIN
    with pytest.raises(u.HoldNotActiveError):
        e.extend_hold("h", MIN)
    with pytest.raises(u.UnknownHoldError):
        e.release("nope")


def test_commit_fulfil_cancel_lifecycle(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 10)
    e.hold("h", "web", [("tee", 4)])
    o = e.commit("h", "o-1")
    assert o.order == "o-1" and [(p.location, p.qty) for p in o.allocations] == [("wh-1", 4)]
    assert e.commit("h", "o-1").replayed
    assert e.hold_info("h").order == "o-1"
    assert e.levels("tee", "wh-1").allocated == 4
    info = e.fulfil("o-1", [("tee", 1)])
    assert info.lines[0].fulfilled == 1 and info.state == "open"
    info = e.cancel("o-1", [("tee", 1, "wh-1")])
    assert info.lines[0].cancelled == 1
    with pytest.raises(u.ExceedsOpenQuantityError) as ex:
        e.fulfil("o-1", [("tee", 5)])
    assert (ex.value.kind, ex.value.id, ex.value.remaining) == ("order", "o-1", 2)
    info = e.cancel_order("o-1")
    assert info.state == "completed" and e.levels("tee", "wh-1").on_hand == 9
    assert e.order_info("o-1") == info
    k = e.kpis()
    assert k.holds_committed == 1 and k.hold_conversion == 1.0


def test_till_sale(shop):
    e, _ = shop
    e.receive("tee", "store-1", 2)
    r = e.till_sale("s1", "till:store-1", [("tee", 2)])
    assert r.allocations[0].location == "store-1"
    assert e.levels("tee", "store-1").on_hand == 0
    assert e.till_sale("s1", "till:store-1", [("tee", 2)]).replayed
    with pytest.raises(u.InsufficientStockError):
        e.till_sale("s2", "till:store-1", [("tee", 1)])
    assert e.kpis().till_sales == 1 and e.kpis().till_sales_refused == 1
    e.receive("tee", "store-1", 1)
    e.set_location_closed("store-1", True)
    with pytest.raises(u.LocationClosedError) as ex:
        e.till_sale("s3", "till:store-1", [("tee", 1)])
    assert ex.value.location == "store-1"


def test_closed_orders_are_purged_after_order_retention():
    e, clock = make_shop(order_retention=timedelta(minutes=10))
    e.receive("tee", "store-1", 5)
    e.till_sale("s1", "till:store-1", [("tee", 1)])
    e.hold("h", "web", [("tee", 1, "store-1")])
    e.commit("h", "o1")
    clock.advance(10 * MIN - timedelta(milliseconds=1))
    assert e.till_sale("s1", "till:store-1", [("tee", 1)]).replayed
    clock.advance(timedelta(milliseconds=1))
    with pytest.raises(u.UnknownOrderError):
        e.order_info("s1")
    assert not e.till_sale("s1", "till:store-1", [("tee", 1)]).replayed, "the id is free again"
    assert e.order_info("o1").state == "open", "open orders stay"
    e.fulfil("o1", [("tee", 1)])
    clock.advance(10 * MIN)
    with pytest.raises(u.UnknownOrderError):
        e.order_info("o1")
    for bad in (timedelta(0), 600_000, "10m", 1.5):
        with pytest.raises(u.InvalidArgumentError):
            u.Engine(order_retention=bad)


def test_ended_transfers_are_purged_after_transfer_retention():
    e, clock = make_shop(transfer_retention=timedelta(minutes=10))
    e.receive("tee", "wh-1", 10)
    e.dispatch_transfer("t-in", "tee", "wh-1", "store-1", 2)
    e.receive_transfer("t-in")
    e.dispatch_transfer("t-out", "tee", "wh-1", "store-1", 2)
    e.cancel_transfer("t-out")
    e.dispatch_transfer("t-open", "tee", "wh-1", "store-1", 2)
    clock.advance(10 * MIN - timedelta(milliseconds=1))
    assert e.dispatch_transfer("t-in", "tee", "wh-1", "store-1", 2).state == "received", "a retry returns it"
    assert e.transfer_info("t-out").state == "cancelled"
    clock.advance(timedelta(milliseconds=1))
    for t in ("t-in", "t-out"):
        with pytest.raises(u.UnknownTransferError):
            e.transfer_info(t)
    assert e.dispatch_transfer("t-in", "tee", "wh-1", "store-1", 2).state == "in_transit", "the id is free again"
    clock.advance(timedelta(days=30))
    assert e.transfer_info("t-open").state == "in_transit", "open transfers stay"
    for bad in (timedelta(0), 600_000, "10m", 1.5):
        with pytest.raises(u.InvalidArgumentError):
            u.Engine(transfer_retention=bad)


def test_batches_return_outcomes_as_values(shop):
    e, _ = shop
    e.receive("tee", "wh-1", 3)
    out = e.hold_batch([
        ("a", "web", [("tee", 2)]),
        ("b", "web", [("tee", 2)], timedelta(minutes=5)),
        ("c", "nowhere", [("tee", 1)]),
        ("d", "web", [("tee", 1)]),
    ])
    assert isinstance(out[0], u.HoldReceipt)
    assert isinstance(out[1], u.InsufficientStockError) and out[1].available == 1
    assert isinstance(out[2], u.UnknownChannelError)
    assert isinstance(out[3], u.HoldReceipt)
    rel = e.release_batch(["a", "zzz"])
    assert rel[0] is None and isinstance(rel[1], u.UnknownHoldError)
    com = e.commit_batch([("d", "o-d"), ("a", "o-a")])
    assert isinstance(com[0], u.OrderReceipt) and isinstance(com[1], u.HoldNotActiveError)
    with pytest.raises(u.InvalidArgumentError):
        e.hold_batch([("x", "web")])


def test_batch_requests_of_many_lines_each_get_their_own(shop):
    e, _ = shop
    for sku in ("tee", "cap", "mug"):
        e.receive(sku, "wh-1", 10)
        e.receive(sku, "wh-2", 10)
    out = e.hold_batch([
        ("a", "web", [("tee", 2), ("cap", 1, "wh-2")]),
        ("b", "web", (u.Line("mug", 3, "wh-2"),)),
        ("c", "web", [("cap", 4), ("mug", 1, "wh-1"), ("tee", 5, "wh-2")]),
    ], pool=False)
    assert [[(p.sku, p.location, p.qty) for p in r.parts] for r in out] == [
        [("tee", "wh-1", 2), ("cap", "wh-2", 1)],
        [("mug", "wh-2", 3)],
        [("cap", "wh-1", 4), ("mug", "wh-1", 1), ("tee", "wh-2", 5)],
    ]
    assert [r.hold for r in out] == ["a", "b", "c"]


def test_ledger_reads_and_truncation():
    e, _ = make_shop()
    e.receive("tee", "wh-1", 1)
    events = e.events_since(0, 2)
    assert [x.seq for x in events] == [1, 2]
    assert e.events_since(e.last_seq) == []
    clock = u.ManualClock(T0)
    small = u.Engine(clock=clock, ledger_retention=2)
    small.upsert_location("w")
    # At least the newest 2 are kept; older events go a chunk at a time.
    for _ in range(300):
        small.receive("s", "w", 1)
    with pytest.raises(u.LedgerTruncatedError) as ex:
        small.events_since(0)
    assert ex.value.oldest > 0


def test_snapshot_restore_round_trips(shop):
    e, clock = shop
    e.receive("tee", "wh-1", 5)
    e.hold("h", "web", [("tee", 2)])
    e.dispatch_transfer("T", "tee", "wh-1", "wh-2", 1)
    data = e.snapshot()
    f = u.Engine.restore(data, clock=clock)
    assert f.levels("tee", "wh-1") == e.levels("tee", "wh-1")
    assert f.hold_info("h") == e.hold_info("h")
    assert f.kpis() == e.kpis() and f.last_seq == e.last_seq
    assert f.snapshot() == data
    with pytest.raises(u.InvalidArgumentError):
        u.Engine.restore(b"{}")


def test_subscribers_get_changes_and_may_call_back(shop):
    e, _ = shop
    seen = []

    def on_change(changes):
        for c in changes:
            seen.append((c.kind, c.channel, c.sku))
        e.availability("web", "tee")  # re-entrant call: no deadlock

    sub = e.subscribe(on_change)
    e.receive("tee", "wh-1", 1)
    assert ("back_in_stock", "web", "tee") in seen
    assert ("stock_changed", None, "tee") in seen
    e.hold("h", "web", [("tee", 1)])
    assert ("out_of_stock", "web", "tee") in seen
    assert e.unsubscribe(sub) and not e.unsubscribe(sub)
    n = len(seen)
    e.receive("tee", "wh-1", 1)
    assert len(seen) == n
    with pytest.raises(u.InvalidArgumentError):
        e.subscribe(42)  # type: ignore[arg-type]


def test_a_failing_subscriber_does_not_undo_the_change(shop, monkeypatch):
    e, _ = shop
    caught = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: caught.append(info.exc_type))
    e.subscribe(lambda changes: 1 / 0)
    entries = []

    def failing_feed(batch):
        entries.extend(x.seq for x in batch)
        raise RuntimeError("the host's store is down")

    e.subscribe_from(e.last_seq, failing_feed)
    start = e.last_seq
    assert e.receive("tee", "wh-1", 1).on_hand == 1
    assert caught == [ZeroDivisionError, RuntimeError]
    assert e.levels("tee", "wh-1").on_hand == 1
    # Later changes still reach both; the failed batch counts as delivered.
    e.receive("tee", "wh-1", 2)
    assert caught == [ZeroDivisionError, RuntimeError] * 2
    assert entries == list(range(start + 1, e.last_seq + 1))
    assert e.levels("tee", "wh-1").on_hand == 3


def test_results_are_immutable_comparable_and_readable(shop):
    e, _ = shop
    lv = e.receive("tee", "wh-1", 1)
    with pytest.raises(AttributeError):
        lv.on_hand = 5  # type: ignore[misc]
    assert lv == e.levels("tee", "wh-1") and lv != e.receive("tee", "wh-1", 1)
    assert repr(lv).startswith("Levels(on_hand=1, ")
    assert repr(u.Line("tee", 2, "wh-1")) == "Line('tee', 2, 'wh-1')"
    with pytest.raises(TypeError):
        pickle.dumps(e)


def test_errors_carry_codes_and_compare(shop):
    e, _ = shop
    with pytest.raises(u.UnknownSkuError) as ex:
        e.levels("nope", "wh-1")
    assert ex.value.code == "E_UNKNOWN_SKU" and ex.value.sku == "nope"
    assert isinstance(ex.value, u.UnistockError)
    assert issubclass(u.InvalidQuantityError, ValueError)


def test_a_panic_never_reaches_the_user():
    with pytest.raises(u.InternalError, match="deliberate panic"):
        u._core._debug_panic()
