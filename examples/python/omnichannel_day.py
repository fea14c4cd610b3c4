"""The omnichannel day, in Python: the same scenario and output shape as
examples/rust/omnichannel_day.rs.

A retailer with 2 warehouses and 3 stores sells on web, app, each store's
till and a capped marketplace; thousands of customers on all channels at
once (threads): carts that commit, are abandoned or expire; click & reserve;
till sales; orders routed and placed (ship-from-store, split shipments,
click & collect), some re-routed to a store pickup; replenishment transfers;
evening fulfilment. The day ends with the invariants checked against the
ledger.

    python examples/python/omnichannel_day.py [customers] [threads]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

import unistock as u

STORES = ["store-north", "store-centre", "store-south"]
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


class Rng:
    """xorshift, so each thread's day is replayable."""

    def __init__(self, seed: int) -> None:
        self.s = seed & (2**64 - 1)

    def below(self, n: int) -> int:
        s = self.s
        s ^= (s << 13) & (2**64 - 1)
        s ^= s >> 7
        s ^= (s << 17) & (2**64 - 1)
        self.s = s
        return s % n


def open_durable(clock: u.ManualClock, path: str) -> u.Engine:
    # The journal is fsynced every 100 ms: a machine crash would lose at
    # most that; the restart at noon is clean.
    return u.Engine.open(path, durability="interval:100", clock=clock, ledger_retention=None)


def open_shop(clock: u.ManualClock, skus: list[str], path: str) -> u.Engine:
    e = open_durable(clock, path)
    e.upsert_location("wh-east", lat=52.52, lon=13.40, priority=2)
    e.upsert_location("wh-west", lat=51.22, lon=6.78, priority=1)
    for i, s in enumerate(STORES):
        # The centre store ships parcels too (ship-from-store).
        e.upsert_location(s, kind="store", lat=50.0 + i, lon=8.0 + i, ships=(i == 1))
    web = ["wh-east", "wh-west", *STORES]
    e.upsert_channel("web", web)
    e.upsert_channel("app", web, safety_units=1)
    e.upsert_channel("marketplace:amazon", ["wh-east", "wh-west"], cap_units=5)
    for s in STORES:
        e.upsert_channel(f"store:{s}", [s])
    for i, sku in enumerate(skus):
        n = lambda k: (((i * 7 + k * 13) % 17) + 3) * 4  # noqa: E731
        e.receive(sku, "wh-east", n(0), reason="opening_stock", reference="PO-0")
        e.receive(sku, "wh-west", n(1), reason="opening_stock", reference="PO-0")
        for k, s in enumerate(STORES):
            e.receive(sku, s, n(k + 2) // 3, reason="opening_stock", reference="PO-0")
    return e


def channel_totals(e: u.Engine, skus: list[str]) -> dict[str, int]:
    return {c.id: sum(e.availability_many(c.id, skus)) for c in e.channels()}  # type: ignore[misc]


def on_hand_total(e: u.Engine, skus: list[str]) -> int:
    locs = [l.id for l in e.locations()]
    return sum(e.levels(s, l).on_hand for s in skus for l in locs)  # type: ignore[misc]


def late(call):
    """Another thread moved the shared clock past the cart's expiry: the
    customer was too late, an outcome rather than a failure."""
    try:
        return call()
    except u.HoldNotActiveError as ex:
        if ex.state != "expired":
            raise
        return None


def run_day(customers: int, threads: int, sku_count: int = 200) -> dict:
    clock = u.ManualClock(T0)
    skus = [f"sku-{i:04}" for i in range(sku_count)]
    workdir = tempfile.TemporaryDirectory(prefix="unistock-day-")
    e = open_shop(clock, skus, workdir.name)
    counters = {"received": on_hand_total(e, skus), "left": 0}
    lock = threading.Lock()
    to_fulfil: list[str] = []
    before = channel_totals(e, skus)
    failures: list[BaseException] = []

    def customer_thread(t: int) -> None:
        rng = Rng(0x2545F4914F6CDD1D ^ (t + 1))
        try:
            for c in range(t, customers, threads):
                if c % 50 == 0:
                    clock.advance(MINUTE)
                sku = lambda: skus[rng.below(len(skus))]  # noqa: E731
                cart = f"cart-{c}"
                roll = rng.below(100)
                if roll < 60:  # web, app and marketplace carts
                    channel = ["web", "web", "app", "marketplace:amazon"][rng.below(4)]
                    lines = [(sku(), 1 + rng.below(2)) for _ in range(1 + rng.below(3))]
                    # Web and app carts claim the channel's pool (bound to
                    # locations at checkout); the marketplace's are bound at once.
                    try:
                        e.hold(cart, channel, lines, 20 * MINUTE, pool=channel != "marketplace:amazon")
                    except u.UnistockError:
                        continue
                    fate = rng.below(10)
                    if fate <= 6:
                        order = f"order-{c}"
                        if late(lambda: e.commit(cart, order)) is not None:
                            with lock:
                                to_fulfil.append(order)
                    elif fate <= 8:
                        late(lambda: e.release(cart))
                elif roll < 75:  # click & reserve: held in a store for 2 hours
                    store = STORES[rng.below(3)]
                    s = sku()
                    try:
                        e.hold(cart, "web", [(s, 1, store)], 120 * MINUTE)
                    except u.UnistockError:
                        continue
                    if rng.below(3) > 0:
                        order = f"reserve-{c}"
                        if late(lambda: e.commit(cart, order)) is None:
                            continue
                        e.fulfil(order, [(s, 1)])
                        with lock:
                            counters["left"] += 1
                elif roll < 85:  # routed orders, one in four re-routed to a pickup
                    lines = [(sku(), 1 + rng.below(3)) for _ in range(1 + rng.below(3))]
                    address = (48.0 + rng.below(600) / 100.0, 6.0 + rng.below(800) / 100.0, "DE")
                    order = f"routed-{c}"
                    try:
                        e.place(order, "web", lines, ship_to=address,
                                strategies=["fewest_shipments", "nearest"])
                    except (u.InsufficientStockError, u.NoRouteError):
                        continue
                    if rng.below(4) == 0:
                        store = STORES[rng.below(3)]
                        try:  # refused: the order keeps its first allocation
                            e.reroute(order, collect_at=store)
                        except (u.InsufficientStockError, u.NoRouteError):
                            pass
                    with lock:
                        to_fulfil.append(order)
                elif roll < 95:  # till sales
                    store = STORES[rng.below(3)]
                    try:
                        e.till_sale(f"till-{c}", f"store:{store}", [(sku(), 1)])
                        with lock:
                            counters["left"] += 1
                    except u.InsufficientStockError:
                        pass
                else:  # replenishment
                    s = sku()
                    tid = f"transfer-{c}"
                    store = STORES[rng.below(3)]
                    try:
                        e.dispatch_transfer(tid, s, "wh-west", store, 1)
                        e.receive_transfer(tid)
                    except u.InsufficientStockError:
                        pass
                    e.receive(s, "wh-west", 2, reason="po_receipt", reference="PO-day")
                    with lock:
                        counters["received"] += 2
        except BaseException as ex:  # reported by the main thread
            failures.append(ex)

    workers = [threading.Thread(target=customer_thread, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise failures[0]

    # Noon: the process restarts. Carts already due expire first, so the
    # state before and after is directly comparable.
    e.expire_due()
    state_before = e.snapshot()
    e.close()
    e = open_durable(clock, workdir.name)
    restart = e.recovery
    same_after_restart = e.snapshot() == state_before

    # Evening: the warehouse ships every committed order, open carts expire.
    shipped = 0
    collect_transfers = 0
    for order in to_fulfil:
        # Click & collect from elsewhere: the planned transfer leaves the
        # source and arrives at the pickup store, still the order's.
        for tid in e.order_info(order).transfers:
            t = e.transfer_info(tid)
            if t.state == "planned":
                e.dispatch_transfer(tid, t.sku, t.from_location, t.to_location, t.qty)
                e.receive_transfer(tid)
                collect_transfers += 1
        # What is still open of each line (a re-routed order keeps the lines
        # it no longer ships from, with nothing open).
        info = e.order_info(order)
        open_lines = [(l.sku, l.allocated - l.fulfilled - l.cancelled, l.location) for l in info.lines]  # type: ignore[operator]
        open_lines = [x for x in open_lines if x[1] > 0]
        e.fulfil(order, open_lines)
        shipped += sum(x[1] for x in open_lines)
    clock.advance(180 * MINUTE)
    e.expire_due()

    k = e.kpis()
    after = channel_totals(e, skus)
    oversold = promised = 0
    for s in skus:
        for l in e.locations():
            lv = e.levels(s, l.id)
            oversold |= lv.reserved + lv.allocated > lv.on_hand - lv.unsellable - lv.safety  # type: ignore[operator]
            promised += lv.reserved + lv.allocated  # type: ignore[operator]
    invariants = [
        ("a restart at noon changes nothing (journal replayed)", same_after_restart),
        ("the ledger folds to the live state", e.verify_ledger()),
        (
            "units conserved: opening + receipts - shipped - sold = on hand",
            counters["received"] - counters["left"] - shipped == on_hand_total(e, skus),
        ),
        ("every hold ended exactly once", k.holds_created == k.holds_committed + k.holds_released + k.holds_expired),
        ("no oversell at any (SKU, location)", not oversold),
        ("nothing left reserved or allocated", promised == 0),
    ]
    e.close()
    workdir.cleanup()
    return {
        "before": before,
        "after": after,
        "kpis": k,
        "orders_fulfilled": len(to_fulfil),
        "collect_transfers": collect_transfers,
        "restart": restart,
        "invariants": invariants,
    }


def main() -> int:
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    t = time.perf_counter()
    day = run_day(customers, threads)
    elapsed = time.perf_counter() - t
    print("== unistock: an omnichannel day ==")
    print(f"{customers} customers on {threads} threads in {elapsed * 1000:.2f}ms\n")
    print(f"{'channel availability':<28} {'morning':>10} {'evening':>10}")
    for channel, before in sorted(day["before"].items()):
        print(f"{channel:<28} {before:>10} {day['after'][channel]:>10}")
    k = day["kpis"]
    print("\nKPIs")
    print(
        f"  holds created / committed / released / expired: "
        f"{k.holds_created} / {k.holds_committed} / {k.holds_released} / {k.holds_expired}"
    )
    print(f"  hold conversion: {100.0 * (k.hold_conversion or 0.0):.1f}%")
    print(f"  oversells prevented (refused for lack of stock): {k.oversells_prevented}")
    print(f"  till sales: {k.till_sales}")
    print(f"  transfers dispatched / received: {k.transfers_dispatched} / {k.transfers_received}")
    print(
        f"  orders routed and placed / refused / split / re-routed: "
        f"{k.orders_placed} / {k.orders_refused} / {k.orders_split} / {k.reroutes}"
    )
    print(
        f"  fill rate: {100.0 * (k.fill_rate or 0.0):.1f}%, "
        f"split-shipment rate: {100.0 * (k.split_rate or 0.0):.1f}%, "
        f"average shipping distance: {k.average_shipping_km or 0.0:.0f} km"
    )
    print(
        f"  orders fulfilled in the evening: {day['orders_fulfilled']} "
        f"({day['collect_transfers']} click & collect transfers to pickup stores)"
    )
    r = day["restart"]
    print(
        f"\nrestart at noon (durable, interval mode): {r.records_replayed} journal records "
        f"replayed in {r.micros / 1000:.1f} ms"
    )
    print("\ninvariants")
    for name, ok in day["invariants"]:
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    return 0 if all(ok for _, ok in day["invariants"]) else 1


if __name__ == "__main__":
    sys.exit(main())
