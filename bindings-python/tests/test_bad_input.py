"""Bad input gets a typed error and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

import unistock as u
from conftest import make_shop

BAD_QTY = [
    (-1, u.InvalidQuantityError),
    (0, u.InvalidQuantityError),
    (2**64, u.InvalidQuantityError),
    (10**16, u.InvalidQuantityError),
    (True, u.InvalidArgumentError),
    (1.0, u.InvalidArgumentError),
    (float("nan"), u.InvalidArgumentError),
    (float("inf"), u.InvalidArgumentError),
    (Decimal("NaN"), u.InvalidArgumentError),
    (Decimal("Infinity"), u.InvalidArgumentError),
    (Decimal("0.5"), u.InvalidQuantityError),
    ("5", u.InvalidArgumentError),
    (None, u.InvalidArgumentError),
    ([1], u.InvalidArgumentError),
]

BAD_ID = [None, 5, b"tee", ["tee"], "", "x" * 300, True]


def state(e: u.Engine):
    return (e.last_seq, e.levels("tee", "wh-1"), e.kpis(), e.availability("web", "tee"))


@pytest.fixture
def stocked():
    e, clock = make_shop()
    e.receive("tee", "wh-1", 10)
    return e


@pytest.mark.parametrize("qty,err", BAD_QTY, ids=repr)
def test_bad_quantities(stocked, qty, err):
    e = stocked
    before = state(e)
    calls = [
        lambda: e.hold("h", "web", [("tee", qty)]),
        lambda: e.receive("tee", "wh-1", qty),
        lambda: e.till_sale("s", "web", [("tee", qty)]),
        lambda: e.write_off("tee", "wh-1", qty),
        lambda: e.dispatch_transfer("t", "tee", "wh-1", "wh-2", qty),
        lambda: e.hold_batch([("h", "web", [("tee", qty)])])[0],
    ]
    for call in calls:
        try:
            out = call()
        except u.UnistockError as ex:
            out = ex
        assert isinstance(out, err), (call, out)
    assert state(e) == before


@pytest.mark.parametrize("bad", BAD_ID, ids=repr)
def test_bad_ids(stocked, bad):
    e = stocked
    before = state(e)
    calls = [
        lambda: e.hold(bad, "web", [("tee", 1)]),
        lambda: e.hold("h", bad, [("tee", 1)]),
        lambda: e.hold("h", "web", [(bad, 1)]),
        lambda: e.hold("h", "web", [("tee", 1, bad)]) if bad is not None else e.hold("h", "web", [("tee", 1, 5)]),
        lambda: e.receive(bad, "wh-1", 1),
        lambda: e.release(bad),
        lambda: e.commit(bad, "o"),
        lambda: e.availability(bad, "tee"),
        lambda: e.place_hold(bad, "o", ship_to=(48.8, 2.3, "FR")),
        lambda: e.place_hold("h", bad, ship_to=(48.8, 2.3, "FR")),
        lambda: e.fill_backorders(bad),
        lambda: e.cancel_backorders(bad),
        lambda: e.location_load(bad),
    ]
    for call in calls:
        errors = (u.InvalidArgumentError, u.UnknownChannelError, u.UnknownSkuError, u.UnknownHoldError,
                  u.UnknownLocationError, u.UnknownOrderError)
        with pytest.raises(errors):
            call()
    assert state(e) == before


@pytest.mark.parametrize("lines", [None, "tee", [("tee",)], [("tee", 1, "wh-1", 4)], [{"sku": "tee"}], [], {"tee": 1}], ids=repr)
def test_bad_lines(stocked, lines):
    e = stocked
    before = state(e)
    with pytest.raises(u.InvalidArgumentError):
        e.hold("h", "web", lines)
    assert state(e) == before


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1), timedelta(days=365), 60, 1.5, "1m", True], ids=repr)
def test_bad_ttls(stocked, ttl):
    e = stocked
    before = state(e)
    with pytest.raises(u.InvalidArgumentError):
        e.hold("h", "web", [("tee", 1)], ttl)
    assert state(e) == before


def test_unknown_ids_change_nothing(stocked):
    e = stocked
    before = state(e)
    for call, err in [
        (lambda: e.hold("h", "nowhere", [("tee", 1)]), u.UnknownChannelError),
        (lambda: e.hold("h", "web", [("ghost", 1)]), u.UnknownSkuError),
        (lambda: e.hold("h", "web", [("tee", 1, "mars")]), u.UnknownLocationError),
        (lambda: e.commit("ghost", "o"), u.UnknownHoldError),
        (lambda: e.order_info("ghost"), u.UnknownOrderError),
        (lambda: e.receive("tee", "mars", 1), u.UnknownLocationError),
    ]:
        with pytest.raises(err):
            call()
    assert state(e) == before


def test_naive_datetimes_are_refused():
    from datetime import datetime

    with pytest.raises(u.InvalidArgumentError):
        u.ManualClock(datetime(2026, 1, 1))
