"""Python benchmark: unistock from one Python thread against the plain-Python
hold logic a shop would otherwise write (dict + threading.Lock), in the
same run.

    python benches/python/bench_holds.py [N] [ROUNDS]

Steady state, as in a running shop: each round holds N carts, then releases
them; ended holds are purged after a 1 s retention on a manual clock, and
the plain-Python baseline drops its ended holds the same way. The rounds of
the benchmarks take turns (round 1 of each, then round 2 of each...), so a
busy spell on a shared host falls on all of them alike rather than on every
round of one, and the best round of each is reported (default 10 rounds).
The setup's own objects are frozen out of the garbage collector
(`gc.freeze()`), for both sides alike.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import unistock as u

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
SKUS = [f"sku-{i:05}" for i in range(1000)]
LOCS = ["wh-1", "wh-2"]


class PlainPython:
    """The same hold logic in plain Python: idempotent ids, all lines or
    none, filled from the channel's locations in order, release."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stock = {(s, l): [10**9 if l == "wh-1" else 0, 0] for s in SKUS for l in LOCS}
        self.channels = {"web": LOCS}
        self.holds: dict[str, tuple] = {}

    def hold(self, hid, channel, lines):
        with self.lock:
            if hid in self.holds:
                return self.holds[hid]
            locs = self.channels[channel]
            for sku, qty in lines:
                if type(qty) is not int or qty <= 0:
                    raise ValueError("qty")
                avail = sum(max(self.stock[sku, l][0] - self.stock[sku, l][1], 0) for l in locs)
                if qty > avail:
                    raise LookupError("insufficient")
            parts = []
            for sku, qty in lines:
                left = qty
                for l in locs:
                    lv = self.stock[sku, l]
                    take = min(lv[0] - lv[1], left)
                    if take > 0:
                        lv[1] += take
                        parts.append((sku, l, take))
                        left -= take
                        if left == 0:
                            break
            self.holds[hid] = ("active", parts)
            return parts

    def release(self, hid):
        with self.lock:
            state, parts = self.holds[hid]
            if state == "active":
                for sku, l, q in parts:
                    self.stock[sku, l][1] -= q
                self.holds[hid] = ("released", parts)

    def purge(self):
        with self.lock:
            self.holds = {k: v for k, v in self.holds.items() if v[0] == "active"}


def engine(clock: u.ManualClock) -> u.Engine:
    e = u.Engine(clock=clock, hold_retention=timedelta(seconds=1))
    for l in LOCS:
        e.upsert_location(l)
    e.upsert_channel("web", LOCS)
    for s in SKUS:
        e.receive(s, "wh-1", 10**9)
    return e


def best(rounds: int, benches: dict) -> dict:
    """The best rate of each of `benches` (name: (timed, after)), their
    rounds taking turns."""
    top = dict.fromkeys(benches, 0.0)
    for _ in range(rounds):
        for name, (timed, after) in benches.items():
            t = time.perf_counter()
            timed()
            top[name] = max(top[name], N / (time.perf_counter() - t))
            after()
    return top


def main() -> None:
    clock = u.ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    e, plain = engine(clock), PlainPython()
    ids = [f"h{i}" for i in range(N)]
    lines = [[(SKUS[i % len(SKUS)], 1)] for i in range(N)]
    batch = [(ids[i], "web", lines[i]) for i in range(N)]
    ten = [(f"t{i}", "web", [(SKUS[(i * 10 + j) % len(SKUS)], 1) for j in range(10)]) for i in range(N // 10)]
    gc.collect()
    gc.freeze()

    def end_round():
        e.release_batch(ids)
        clock.advance(timedelta(seconds=2))
        e.expire_due()

    def run_unistock():
        hold = e.hold
        for i in range(N):
            hold(ids[i], "web", lines[i])

    def run_plain():
        hold = plain.hold
        for i in range(N):
            hold(ids[i], "web", lines[i])

    def end_plain():
        for i in ids:
            plain.release(i)
        plain.purge()

    def run_batch():
        for k in range(0, N, 1000):
            e.hold_batch(batch[k : k + 1000])

    def run_ten():
        for k in range(0, len(ten), 100):
            e.hold_batch(ten[k : k + 100])

    def run_plain_ten():
        hold = plain.hold
        for hid, channel, lines in ten:
            hold(hid, channel, lines)

    def end_plain_ten():
        for t in ten:
            plain.release(t[0])
        plain.purge()

    def end_ten():
        e.release_batch([t[0] for t in ten])
        clock.advance(timedelta(seconds=2))
        e.expire_due()

    def run_avail():
        a = e.availability
        for i in range(N):
            a("web", SKUS[i % len(SKUS)])

    results = best(
        ROUNDS,
        {
            "unistock single-line holds/s": (run_unistock, end_round),
            "plain Python single-line holds/s": (run_plain, end_plain),
            "unistock batch lines/s (1-line holds, 1000 per call)": (run_batch, end_round),
            "unistock batch lines/s (10-line holds, 100 per call)": (run_ten, end_ten),
            "plain Python lines/s (10-line holds)": (run_plain_ten, end_plain_ten),
            "unistock availability reads/s": (run_avail, lambda: None),
        },
    )
    # Every timed hold was a new hold (none a replay of an unpurged id).
    created, expected = e.kpis().holds_created, ROUNDS * (2 * N + len(ten))
    if created != expected:
        raise SystemExit(f"{created} holds created, {expected} expected")
    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}} {v:>14,.0f}")
    plain_rate = results["plain Python single-line holds/s"]
    print(f"ratio single-line vs plain Python: {results['unistock single-line holds/s'] / plain_rate:.2f}x (target 2x)")
    # The batch targets (5 million lines/s, 10x plain Python) are about
    # carts of several lines: one-line holds cannot reach 5 million lines/s
    # even in the Rust core alone (core/examples/batch_ceiling: about 4
    # million). So the 10x compares ten-line holds with ten-line holds; the
    # one-line batch against plain single holds is printed for reference.
    plain_ten = results["plain Python lines/s (10-line holds)"]
    print(f"ratio 10-line batch vs plain Python 10-line holds: {results['unistock batch lines/s (10-line holds, 100 per call)'] / plain_ten:.2f}x (target 10x)")
    print(f"ratio 1-line batch vs plain Python single holds:   {results['unistock batch lines/s (1-line holds, 1000 per call)'] / plain_rate:.2f}x")


if __name__ == "__main__":
    main()
