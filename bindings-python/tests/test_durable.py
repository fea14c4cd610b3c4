"""Durability through Python (mirrors core/tests/durability.rs): open on a
directory, restart, snapshots, the lock, typed errors for damage, expiry
while down, reconciliation and the resumable ledger feed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import unistock as u
from conftest import MIN, T0


def shop(path: Path, clock: u.ManualClock, **kw: object) -> u.Engine:
    e = u.Engine.open(path, clock=clock, ledger_retention=None, **kw)  # type: ignore[arg-type]
    e.upsert_location("wh-1")
    e.upsert_location("store-1", kind="store")
    e.upsert_channel("web", ["wh-1", "store-1"])
    return e


def state(e: u.Engine) -> tuple:
    return (
        e.levels("tee", "wh-1"),
        e.hold_info("cart-1"),
        e.order_info("order-1"),
        e.kpis(),
        e.events_since(0, 10_000),
    )


@pytest.mark.parametrize("mode", ["sync", "interval:5", "none"])
def test_a_reopened_engine_has_the_state_it_had(tmp_path: Path, mode: str) -> None:
    clock = u.ManualClock(T0)
    with shop(tmp_path, clock, durability=mode) as e:
        assert e.durability == mode
        e.receive("tee", "wh-1", 10, reason="po", reference="PO-1")
        e.hold("cart-1", "web", [("tee", 2)], ttl=MIN * 30)
        e.hold("cart-2", "web", [("tee", 1)], ttl=MIN * 30)
        e.commit("cart-2", "order-1")
        with pytest.raises(u.InsufficientStockError):
            e.hold("cart-3", "web", [("tee", 99)])
        before = state(e)
    e = u.Engine.open(tmp_path, clock=clock, ledger_retention=None, durability=mode)
    assert state(e) == before
    r = e.recovery
    assert r is not None and r.records_replayed >= 8 and r.torn_tail is None
    assert r.events_replayed == e.last_seq
    # Idempotency survives the restart.
    assert e.hold("cart-1", "web", [("tee", 2)], ttl=MIN * 30).replayed
    assert e.commit("cart-2", "order-1").replayed
    seq = e.checkpoint()
    assert seq == e.last_seq
    e.close()
    assert u.Engine.open(tmp_path, clock=clock, ledger_retention=None).recovery.snapshot_seq == seq


def test_an_in_memory_engine_is_not_durable() -> None:
    e = u.Engine()
    assert e.durability is None and e.recovery is None
    e.close()
    e.flush()
    with pytest.raises(u.InvalidArgumentError):
        e.checkpoint()


def test_a_second_engine_on_the_directory_gets_locked_error(tmp_path: Path) -> None:
    e = u.Engine.open(str(tmp_path))
    with pytest.raises(u.LockedError) as err:
        u.Engine.open(tmp_path)
    assert err.value.code == "E_LOCKED" and str(tmp_path) in err.value.path
    # Another process gets the same clear error, not a second writer.
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, unistock\n"
         "try:\n unistock.Engine.open(sys.argv[1])\n"
         "except unistock.LockedError as e:\n print(e.code)\n",
         str(tmp_path)],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "E_LOCKED"
    e.close()
    with pytest.raises(u.StorageError):
        e.upsert_location("wh-9")
    u.Engine.open(tmp_path).close()


def test_damage_in_the_journal_is_a_typed_error(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    with shop(tmp_path, clock) as e:
        for i in range(20):
            e.receive("tee", "wh-1", 1, reference=f"PO-{i}")
    journal = sorted(tmp_path.glob("journal-*.log"))[-1]
    data = bytearray(journal.read_bytes())
    data[len(data) // 2] ^= 0x40
    journal.write_bytes(bytes(data))
    with pytest.raises(u.CorruptError) as err:
        u.Engine.open(tmp_path)
    assert err.value.code == "E_CORRUPT"
    assert err.value.file.endswith(journal.name) and 0 < err.value.offset < len(data)


def test_a_torn_tail_is_dropped_and_reported(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    with shop(tmp_path, clock) as e:
        e.receive("tee", "wh-1", 10)
        e.receive("tee", "wh-1", 5)
    journal = sorted(tmp_path.glob("journal-*.log"))[-1]
    data = journal.read_bytes()
    journal.write_bytes(data[:-3])
    e = u.Engine.open(tmp_path, clock=clock)
    assert e.recovery.torn_tail is not None
    assert e.levels("tee", "wh-1").on_hand == 10


def test_holds_due_while_down_expire_at_their_own_time(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    with shop(tmp_path, clock) as e:
        e.receive("tee", "wh-1", 5)
        e.hold("cart-1", "web", [("tee", 2)], ttl=MIN * 10)
    clock.advance(MIN * 60)
    e = u.Engine.open(tmp_path, clock=clock)
    assert e.recovery.expired_on_open == 1
    info = e.hold_info("cart-1")
    assert info.state == "expired" and info.ended_at == T0 + MIN * 10
    assert e.availability("web", "tee") == 5


def test_reconcile_an_erp_count_as_of_a_time(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    e = shop(tmp_path, clock)
    e.receive("tee", "wh-1", 10)
    e.hold("cart-1", "web", [("tee", 2)], ttl=MIN * 60, pool=False)
    clock.advance(MIN * 10)  # the ERP counts 8 here
    counted_at = clock.now()
    clock.advance(MIN * 5)
    e.till_sale("sale-1", "web", [("tee", 1, "wh-1")])
    clock.advance(MIN * 5)
    r = e.reconcile("tee", "wh-1", 8, as_of=counted_at, reference="ERP-1")
    assert r.changes_after == -1
    assert r.report.variance == -2 and r.report.levels.on_hand == 7
    assert r.report.levels.reserved == 2
    assert r.superseded is False
    last = e.events_since(e.last_seq - 1)[-1]
    assert (last.kind, last.reason, last.reference) == ("reconciled", "reconcile", "ERP-1")
    with pytest.raises(u.InvalidArgumentError):
        e.reconcile("tee", "wh-1", 8, as_of="yesterday")  # type: ignore[arg-type]


def test_the_newest_count_wins_and_a_retried_reconcile_changes_nothing(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    e = shop(tmp_path, clock)
    e.receive("tee", "wh-1", 10)
    clock.advance(MIN * 10)  # the ERP counts 8 here
    counted_at = clock.now()
    clock.advance(MIN * 5)
    e.receive("tee", "wh-1", 3)
    clock.advance(MIN * 5)
    r = e.reconcile("tee", "wh-1", 8, as_of=counted_at)
    assert (r.report.levels.on_hand, r.report.variance, r.superseded) == (11, -2, False)
    # The ERP retries the message: nothing more changes.
    r = e.reconcile("tee", "wh-1", 8, as_of=counted_at)
    assert (r.report.levels.on_hand, r.report.variance, r.superseded) == (11, 0, False)
    e.close()
    e = u.Engine.open(tmp_path, clock=clock, ledger_retention=None)
    # After a restart, a count as of an earlier time tells nothing new.
    seq = e.last_seq
    r = e.reconcile("tee", "wh-1", 30, as_of=counted_at - MIN)
    assert (r.report.levels.on_hand, r.report.variance, r.superseded) == (11, 0, True)
    assert e.last_seq == seq
    # A count in the store after the ERP's time wins over the ERP's.
    clock.advance(MIN)
    e.count("tee", "wh-1", 6)
    r = e.reconcile("tee", "wh-1", 50, as_of=clock.now() - MIN // 2)
    assert (e.levels("tee", "wh-1").on_hand, r.superseded) == (6, True)


def test_the_ledger_feed_resumes_after_a_restart(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    e = shop(tmp_path, clock)
    seen: list[int] = []
    e.subscribe_from(0, lambda batch: seen.extend(x.seq for x in batch))
    for i in range(5):
        e.receive("tee", "wh-1", 1)
    assert seen == list(range(1, e.last_seq + 1))
    processed = seen[-2]
    e.receive("tee", "wh-1", 1)
    total = e.last_seq
    e.close()
    e = u.Engine.open(tmp_path, clock=clock)
    again: list[int] = []
    e.subscribe_from(processed, lambda batch: again.extend(x.seq for x in batch))
    assert again == list(range(processed + 1, total + 1))
    e.receive("tee", "wh-1", 1)
    assert again[-1] == e.last_seq
    with pytest.raises(u.InvalidArgumentError):
        e.subscribe_from(e.last_seq + 10, print)
    with pytest.raises(u.InvalidArgumentError):
        e.subscribe_from(0, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["fast", "interval:0", "interval:x", "", "SYNC"])
def test_bad_durability_modes_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(u.InvalidArgumentError):
        u.Engine.open(tmp_path, durability=bad)


@pytest.mark.parametrize("bad", [5, None, 1.5, ["a"]])
def test_bad_paths_are_refused(bad: object) -> None:
    with pytest.raises(u.InvalidArgumentError):
        u.Engine.open(bad)  # type: ignore[arg-type]


def test_bulk_load_checks_first_reports_progress_and_survives_a_restart(tmp_path: Path) -> None:
    clock = u.ManualClock(T0)
    e = shop(tmp_path, clock)
    records = [(f"bulk-{i}", loc, 2) for i in range(40_000) for loc in ("wh-1", "store-1")]
    with pytest.raises(u.UnknownLocationError):
        e.bulk_load([*records, ("x", "nowhere", 1)])
    with pytest.raises(u.InvalidQuantityError):
        e.bulk_load([*records, ("x", "wh-1", 0)])
    assert e.skus() == []
    seen: list[tuple[int, int]] = []
    report = e.bulk_load(records, reason="opening_stock", progress=lambda d, t: seen.append((d, t)))
    assert (report.records, report.skus_created) == (80_000, 40_000)
    assert seen[-1] == (80_000, 80_000) and len(seen) == 2
    assert e.availability("web", "bulk-39999") == 4
    assert e.events_since(e.last_seq - 1)[-1].reason == "opening_stock"
    before = e.levels("bulk-7", "store-1")
    e.close()
    e = u.Engine.open(tmp_path, clock=clock)
    assert e.levels("bulk-7", "store-1") == before


@pytest.mark.parametrize("bad", [None, 5, "abc", [("a", "wh-1")], [["a", "wh-1", 1]], [("a", "wh-1", -1)], [("a", "wh-1", 1.5)]])
def test_bulk_load_bad_input(bad: object) -> None:
    e = u.Engine()
    e.upsert_location("wh-1")
    with pytest.raises(u.UnistockError):
        e.bulk_load(bad)  # type: ignore[arg-type]
    with pytest.raises(u.InvalidArgumentError):
        e.bulk_load([], progress=3)  # type: ignore[arg-type]
    assert e.skus() == []


def test_threads_on_a_durable_engine_share_fsyncs_and_everything_acknowledged_survives(tmp_path: Path) -> None:
    import threading

    e = u.Engine.open(tmp_path, durability="sync", ledger_retention=None)
    e.upsert_location("wh-1")
    e.upsert_channel("web", ["wh-1"])
    e.receive("tee", "wh-1", 500)
    granted: list[str] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(40):
            hid = f"t{t}-{i}"
            try:
                e.hold(hid, "web", [("tee", 1)])
            except u.InsufficientStockError:
                continue
            with lock:
                granted.append(hid)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 500
    kpis = e.kpis()
    e.close()
    e = u.Engine.open(tmp_path, ledger_retention=None)
    assert e.availability("web", "tee") == 0
    assert all(e.hold_info(h).state == "active" for h in granted)
    assert e.kpis() == kpis and kpis.holds_refused == 16 * 40 - 500
    assert e.verify_ledger()
