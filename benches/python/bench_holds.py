"""Python benchmark: unistock from one Python thread against the plain-Python
hold logic a shop would otherwise write (dict + threading.Lock), in the
same run.

    python benches/python/bench_holds.py [N]

Prints holds/s, batch lines/s, availability reads/s and the ratios.
"""

from __future__ import annotations

import sys
import threading
import time

import unistock as u

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
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
                if qty <= 0:
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


def engine() -> u.Engine:
    e = u.Engine()
    for l in LOCS:
        e.upsert_location(l)
    e.upsert_channel("web", LOCS)
    for s in SKUS:
        e.receive(s, "wh-1", 10**9)
    return e


def rate(n: int, f) -> float:
    t = time.perf_counter()
    f()
    return n / (time.perf_counter() - t)


def main() -> None:
    e, plain = engine(), PlainPython()
    ids = [f"h{i}" for i in range(N)]
    lines = [[(SKUS[i % len(SKUS)], 1)] for i in range(N)]

    def run_unistock():
        hold = e.hold
        for i in range(N):
            hold(ids[i], "web", lines[i])

    def run_plain():
        hold = plain.hold
        for i in range(N):
            hold(ids[i], "web", lines[i])

    results = {}
    results["unistock single-line holds/s"] = rate(N, run_unistock)
    e.release_batch(ids)
    results["plain Python single-line holds/s"] = rate(N, run_plain)

    batch = [(f"b{i}", "web", lines[i]) for i in range(N)]

    def run_batch():
        for k in range(0, N, 1000):
            e.hold_batch(batch[k : k + 1000])

    results["unistock batch lines/s (1-line holds, 1000 per call)"] = rate(N, run_batch)
    e.release_batch([b[0] for b in batch])

    def run_plain_batch():
        hold = plain.hold
        for hid, ch, ls in [(f"b{i}", "web", lines[i]) for i in range(N)]:
            hold(hid, ch, ls)

    results["plain Python lines/s (same holds)"] = rate(N, run_plain_batch)

    ten = [(f"t{i}", "web", [(SKUS[(i * 10 + j) % len(SKUS)], 1) for j in range(10)]) for i in range(N // 10)]

    def run_ten():
        for k in range(0, len(ten), 100):
            e.hold_batch(ten[k : k + 100])

    results["unistock batch lines/s (10-line holds, 100 per call)"] = rate(N, run_ten)

    def run_avail():
        a = e.availability
        for i in range(N):
            a("web", SKUS[i % len(SKUS)])

    results["unistock availability reads/s"] = rate(N, run_avail)

    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}} {v:>14,.0f}")
    single = results["unistock single-line holds/s"] / results["plain Python single-line holds/s"]
    batch_ratio = results["unistock batch lines/s (1-line holds, 1000 per call)"] / results["plain Python lines/s (same holds)"]
    print(f"ratio single-line vs plain Python: {single:.2f}x (target 2x)")
    print(f"ratio batch vs plain Python:       {batch_ratio:.2f}x (target 10x)")


if __name__ == "__main__":
    main()
