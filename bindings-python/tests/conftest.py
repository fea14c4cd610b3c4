"""The shop every test starts from, as in the Rust tests: two warehouses,
two stores; channels web (wh-1, wh-2, store-1), till:store-1 (store-1),
market (wh-1, capped at 3 units). The clock is a ManualClock at T0."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Tuple

import pytest

import unistock

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


def make_shop(**settings: object) -> Tuple[unistock.Engine, unistock.ManualClock]:
    clock = unistock.ManualClock(T0)
    e = unistock.Engine(clock=clock, ledger_retention=None, **settings)  # type: ignore[arg-type]
    e.upsert_location("wh-1")
    e.upsert_location("wh-2")
    e.upsert_location("store-1", kind="store")
    e.upsert_location("store-2", kind="store")
    e.upsert_channel("web", ["wh-1", "wh-2", "store-1"])
    e.upsert_channel("till:store-1", ["store-1"])
    e.upsert_channel("market", ["wh-1"], cap_units=3)
    return e, clock


@pytest.fixture
def shop() -> Tuple[unistock.Engine, unistock.ManualClock]:
    return make_shop()
