"""Model-based test: random sequences of operations against a small
pure-Python reference model (hypothesis rule-based state machine)."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import unistock as u
from conftest import make_shop

SKUS = ["A", "B"]
WEB = ["wh-1", "wh-2", "store-1"]
LOCS = ["wh-1", "wh-2", "store-1", "store-2"]


class Model:
    def __init__(self) -> None:
        self.on_hand = {(s, l): 0 for s in SKUS for l in LOCS}
        self.reserved = dict.fromkeys(self.on_hand, 0)
        self.allocated = dict.fromkeys(self.on_hand, 0)
        self.holds: dict[str, dict] = {}
        self.orders: dict[str, list] = {}
        self.now = 0

    def atp(self, s, l):
        return self.on_hand[s, l] - self.reserved[s, l] - self.allocated[s, l]

    def web(self, s):
        return sum(max(self.atp(s, l), 0) for l in WEB)

    def expire(self):
        for h in self.holds.values():
            if h["state"] == "active" and h["expires"] <= self.now:
                self.end(h, "expired")

    def end(self, h, state):
        for s, l, q in h["parts"]:
            self.reserved[s, l] -= q
        h["state"] = state

    def hold(self, hid, lines, ttl):
        if hid in self.holds:
            h = self.holds[hid]
            return "replay" if h["lines"] == lines else "conflict"
        if any(q > self.web(s) for s, q in lines):
            return "insufficient"
        parts = []
        for s, q in lines:
            left = q
            for l in WEB:
                take = min(max(self.atp(s, l), 0), left)
                if take > 0:
                    self.reserved[s, l] += take
                    parts.append((s, l, take))
                    left -= take
        self.holds[hid] = {"lines": lines, "parts": parts, "state": "active", "expires": self.now + ttl}
        return parts


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.e, self.clock = make_shop()
        for s in SKUS:
            self.e.declare_sku(s)
        self.m = Model()
        self.n = 0

    @rule(s=st.sampled_from(SKUS), l=st.sampled_from(LOCS), q=st.integers(1, 5))
    def receive(self, s, l, q):
        self.m.expire()
        self.e.receive(s, l, q)
        self.m.on_hand[s, l] += q

    @rule(
        lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 4)), min_size=1, max_size=2, unique_by=lambda t: t[0]),
        ttl=st.integers(1, 5),
        reuse=st.booleans(),
    )
    def hold(self, lines, ttl, reuse):
        self.m.expire()
        if reuse and self.m.holds:
            hid = sorted(self.m.holds)[0]
        else:
            self.n += 1
            hid = f"h{self.n}"
        want = self.m.hold(hid, lines, ttl)
        try:
            r = self.e.hold(hid, "web", lines, timedelta(minutes=ttl), pool=False)
            got = "replay" if r.replayed else [(p.sku, p.location, p.qty) for p in r.parts]
        except u.InsufficientStockError:
            got = "insufficient"
        except u.IdConflictError:
            got = "conflict"
        assert got == want

    @precondition(lambda self: self.m.holds)
    @rule(i=st.integers(0, 50))
    def release(self, i):
        self.m.expire()
        hid = sorted(self.m.holds)[i % len(self.m.holds)]
        h = self.m.holds[hid]
        try:
            self.e.release(hid)
            got = "ok"
        except u.HoldNotActiveError as ex:
            got = ex.state
        want = "ok" if h["state"] in ("active", "released") else h["state"]
        if h["state"] == "active":
            self.m.end(h, "released")
        assert got == want

    @precondition(lambda self: self.m.holds)
    @rule(i=st.integers(0, 50))
    def commit(self, i):
        self.m.expire()
        hid = sorted(self.m.holds)[i % len(self.m.holds)]
        h = self.m.holds[hid]
        oid = "o-" + hid
        try:
            self.e.commit(hid, oid)
            got = "ok"
        except u.HoldNotActiveError as ex:
            got = ex.state
        if h["state"] == "active":
            want = "ok"
            for s, l, q in h["parts"]:
                self.m.reserved[s, l] -= q
                self.m.allocated[s, l] += q
            h["state"] = "committed"
            self.m.orders[oid] = list(h["parts"])
        elif h["state"] == "committed":
            want = "ok"
        else:
            want = h["state"]
        assert got == want

    @precondition(lambda self: self.m.orders)
    @rule(i=st.integers(0, 50), ship=st.booleans())
    def settle(self, i, ship):
        self.m.expire()
        oid = sorted(self.m.orders)[i % len(self.m.orders)]
        for s, l, q in self.m.orders[oid]:
            self.m.allocated[s, l] -= q
            if ship:
                self.m.on_hand[s, l] -= q
        lines = [(s, q, l) for s, l, q in self.m.orders[oid]]
        self.m.orders[oid] = []
        if not lines:
            return
        (self.e.fulfil if ship else self.e.cancel)(oid, lines)

    @rule(minutes=st.integers(1, 3))
    def advance(self, minutes):
        self.clock.advance(timedelta(minutes=minutes))
        self.m.now += minutes

    @rule()
    def snapshot_restore(self):
        self.e = u.Engine.restore(self.e.snapshot(), clock=self.clock, ledger_retention=None)

    @invariant()
    def levels_match(self):
        self.m.expire()
        for s in SKUS:
            assert self.e.availability("web", s) == self.m.web(s)
            for l in LOCS:
                lv = self.e.levels(s, l)
                key = (s, l)
                assert (lv.on_hand, lv.reserved, lv.allocated) == (
                    self.m.on_hand[key], self.m.reserved[key], self.m.allocated[key])
        for hid, h in self.m.holds.items():
            assert self.e.hold_info(hid).state == h["state"]


EngineMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("UNISTOCK_HYPOTHESIS_EXAMPLES", "60")), stateful_step_count=30, deadline=None
)
TestEngineModel = EngineMachine.TestCase
