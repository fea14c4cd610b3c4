"""Threads, re-entrant subscribers, fork and import behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import unistock as u
from conftest import make_shop

THREADS = int(os.environ.get("UNISTOCK_PY_THREADS", "32"))
ROUNDS = int(os.environ.get("UNISTOCK_PY_ROUNDS", "200"))


@pytest.mark.timeout(120)
def test_32_threads_with_a_reentrant_subscriber_grant_exactly_the_stock():
    e, _ = make_shop()
    stock = THREADS * ROUNDS // 4
    e.receive("hot", "wh-1", stock)
    e.receive("cold", "wh-2", 10**6)
    calls = 0
    lock = threading.Lock()

    def on_change(changes):
        nonlocal calls
        # Calls back into the engine from inside a notification.
        e.availability("web", changes[0].sku)
        with lock:
            calls += 1

    e.subscribe(on_change)
    granted = [0] * THREADS
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(ROUNDS):
                hid = f"t{t}-{i}"
                try:
                    # Odd threads bind at once, even ones claim the pool.
                    e.hold(hid, "web", [("hot", 1), ("cold", 1)], pool=t % 2 == 0)
                    granted[t] += 1
                    if i % 3 == 0:
                        e.release(hid)
                        granted[t] -= 1
                    elif i % 3 == 1:
                        e.commit(hid, "o-" + hid)
                except u.InsufficientStockError:
                    pass
        except BaseException as ex:  # pragma: no cover - reported below
            errors.append(ex)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    lv = e.levels("hot", "wh-1")
    # Held (bound or against the pool) and committed units, exactly once.
    assert e.availability("web", "hot") == stock - sum(granted)
    assert lv.reserved + lv.allocated <= stock
    assert calls > 0
    assert e.kpis().holds_created - e.kpis().holds_released == sum(granted)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_engine_survives_fork():
    e, _ = make_shop()
    e.receive("tee", "wh-1", 5)
    e.hold("h", "web", [("tee", 2)])
    pid = os.fork()
    if pid == 0:  # child: the copied engine works on its own
        code = 0
        try:
            e.hold("h2", "web", [("tee", 3)])
            code = 0 if e.availability("web", "tee") == 0 else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert e.availability("web", "tee") == 3


def test_import_starts_no_thread():
    code = (
        "import threading, os; before = len(os.listdir('/proc/self/task'));"
        "import unistock; e = unistock.Engine(); e.upsert_location('w');"
        "after = len(os.listdir('/proc/self/task'));"
        "print(before, after, threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, active = map(int, out.stdout.split())
    assert after == before and active == 1


def test_the_gil_is_released_inside_engine_calls():
    # With a huge switch interval the running thread keeps the GIL until it
    # gives it up itself. The waiting thread can then only stamp the time
    # while the snapshot runs if the engine released the GIL around it.
    e, _ = make_shop()
    for i in range(20_000):
        e.receive(f"s{i}", "wh-1", 1)
    go = threading.Event()
    stamps: list[float] = []
    waiter = threading.Thread(target=lambda: (go.wait(), stamps.append(time.perf_counter())))
    waiter.start()
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        t0 = time.perf_counter()
        go.set()
        e.snapshot()
        t1 = time.perf_counter()
    finally:
        sys.setswitchinterval(old)
    waiter.join()
    assert t0 < stamps[0] < t1
