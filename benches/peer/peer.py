"""The peer comparison: unistock against what a shop would otherwise use for
holds, in one run on one machine.

    python benches/peer/peer.py [--quick] [--clients 1,2,8,32] [--ops N]

Starts its own Redis (without and with AOF, `appendfsync always`) and
PostgreSQL (a temporary cluster) on 127.0.0.1 in temporary directories,
loads the same data, runs the same workloads against each, checks that
each grants exactly the stock it has, and stops exactly the processes it
started. Writes a Markdown table and a PNG chart under `benches/results/`.

Workloads (each Redis and PostgreSQL client makes OPS attempts; the
in-process systems make 1,000 x OPS attempts in all, split over their
clients, so that every client count ends with the same engine size and a
run lasts a second or more instead of a tenth, long enough to be measured
on a shared machine; `sync`, one fsync per hold, makes OPS per client):
  W1 hot SKU:  every attempt holds 1 unit of the same SKU;
  W2 uniform:  100,000 SKUs, a random one per attempt;
  W3 order:    5 random SKUs held all or nothing.
Systems:
  unistock in memory, unistock durable (`interval`: fsync every 100 ms;
  `sync`: each hold fsynced before it returns, concurrent clients sharing
  fsyncs; `sync-batch`: each client sends `hold_batch` calls of 512 holds,
  one fsync each) and a naive global Mutex<HashMap>, all in Rust with
  CLIENTS threads (`core/examples/peer_local.rs`);
  Redis: one cached Lua script per hold (check available, add to reserved);
  PostgreSQL: `UPDATE ... WHERE on_hand - reserved >= qty` (W3: one
  transaction, rows in sorted order, rolled back when a line lacks stock),
  with durable commits and with `synchronous_commit=off`.
Redis and PostgreSQL clients are processes (one connection each), written
in Python (redis-py, psycopg 3): the client side adds some microseconds per
call, which is noted with the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benches" / "results"
SKUS = 100_000
PLENTY = 10**12
LUA = """
local n = #KEYS
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 'on_hand', 'reserved')
  if tonumber(v[1]) - tonumber(v[2]) < 1 then return 0 end
end
for i = 1, n do redis.call('HINCRBY', KEYS[i], 'reserved', 1) end
return 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 20.0) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Redis:
    def __init__(self, aof: bool) -> None:
        self.name = "redis+aof" if aof else "redis"
        self.dir = tempfile.mkdtemp(prefix="unistock-redis-")
        self.port = free_port()
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no", "--protected-mode", "no"]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if aof else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def load(self, skus: list[str], stock: int) -> None:
        import redis

        r = redis.Redis(port=self.port)
        r.flushall()
        pipe = r.pipeline(transaction=False)
        for i, s in enumerate(skus):
            pipe.hset(s, mapping={"on_hand": stock, "reserved": 0})
            if i % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="unistock-pg-")
        self.port = free_port()
        data = os.path.join(self.dir, "data")
        run = ["initdb", "-D", data, "-U", "bench", "--auth=trust", "-E", "UTF8"]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.dir, "nobody")
            run = ["runuser", "-u", "nobody", "--", *run]
        subprocess.run(run, check=True, stdout=subprocess.DEVNULL)
        ctl = ["pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
               f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=100 "
               f"-c shared_buffers=256MB", "start"]
        if os.geteuid() == 0:
            ctl = ["runuser", "-u", "nobody", "--", *ctl]
        subprocess.run(ctl, check=True, stdout=subprocess.DEVNULL)
        self.data = data
        wait_port(self.port)

    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=bench dbname=postgres"

    def load(self, skus: list[str], stock: int) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as c:
            c.execute("DROP TABLE IF EXISTS stock")
            c.execute("CREATE TABLE stock (sku text PRIMARY KEY, on_hand bigint NOT NULL, reserved bigint NOT NULL)")
            with c.cursor().copy("COPY stock (sku, on_hand, reserved) FROM STDIN") as cp:
                for s in skus:
                    cp.write_row((s, stock, 0))
            c.execute("VACUUM ANALYZE stock")

    def stop(self) -> None:
        ctl = ["pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"]
        if os.geteuid() == 0:
            ctl = ["runuser", "-u", "nobody", "--", *ctl]
        subprocess.run(ctl, check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def pick(rng: random.Random, workload: str, skus: list[str]) -> list[str]:
    if workload == "w3":
        return sorted(rng.sample(skus, 5))
    return [skus[rng.randrange(len(skus))]]


def redis_client(args):
    port, workload, skus, ops, seed, queue = args
    import redis

    r = redis.Redis(port=port)
    sha = r.script_load(LUA)
    rng = random.Random(seed)
    lat, granted = [], 0
    queue.get()  # start together
    for _ in range(ops):
        keys = pick(rng, workload, skus)
        t = time.perf_counter_ns()
        granted += r.evalsha(sha, len(keys), *keys)
        lat.append(time.perf_counter_ns() - t)
    return lat, granted


def pg_client(args):
    dsn, sync, workload, skus, ops, seed, queue = args
    import psycopg

    c = psycopg.connect(dsn, autocommit=True)
    c.execute(f"SET synchronous_commit = {'on' if sync else 'off'}")
    rng = random.Random(seed)
    lat, granted = [], 0
    upd = "UPDATE stock SET reserved = reserved + 1 WHERE sku = %s AND on_hand - reserved >= 1"
    queue.get()
    for _ in range(ops):
        keys = pick(rng, workload, skus)
        t = time.perf_counter_ns()
        if len(keys) == 1:
            granted += c.execute(upd, (keys[0],), prepare=True).rowcount
        else:
            ok = True
            with c.transaction():  # rows in sorted order; all or nothing
                for k in keys:
                    if c.execute(upd, (k,), prepare=True).rowcount != 1:
                        ok = False
                        raise psycopg.Rollback()
            granted += ok
        lat.append(time.perf_counter_ns() - t)
    c.close()
    return lat, granted


def run_clients(target, make_args, clients: int) -> dict:
    with mp.Manager() as m:
        q = m.Queue()
        with mp.Pool(clients) as pool:
            res = pool.map_async(target, [make_args(i, q) for i in range(clients)])
            time.sleep(0.5)
            t = time.perf_counter()
            for _ in range(clients):
                q.put(1)
            out = res.get()
            secs = time.perf_counter() - t
    lat = sorted(x for l, _ in out for x in l)
    granted = sum(g for _, g in out)
    return {
        "ops": len(lat),
        "granted": granted,
        "secs": secs,
        "ops_per_s": len(lat) / secs,
        "p50_us": lat[len(lat) // 2] / 1000,
        "p99_us": lat[int((len(lat) - 1) * 0.99)] / 1000,
    }


# The in-process systems (core/examples/peer_local.rs).
LOCAL = ("unistock", "unistock-interval", "unistock-sync", "unistock-sync-batch", "naive")


def local(system: str, workload: str, clients: int, ops: int) -> dict:
    exe = ROOT / "target" / "release" / "examples" / "peer_local"
    out = subprocess.run([str(exe), system, workload, str(clients), str(ops)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="clients 1 and 8, fewer operations")
    ap.add_argument("--clients", default=None)
    ap.add_argument("--ops", type=int, default=None, help="attempts per client (Redis/PostgreSQL)")
    ap.add_argument("--render", action="store_true",
                    help="no run: write peer.md and peer.png again from peer.json")
    a = ap.parse_args()
    if a.render:
        saved = json.loads((RESULTS / "peer.json").read_text())
        clients = sorted({r["clients"] for r in saved["rows"]})
        write_results(saved["rows"], saved["checks"], clients, saved)
        return 0
    clients = [int(x) for x in (a.clients or ("1,8" if a.quick else "1,2,8,32")).split(",")]
    ops = a.ops or (500 if a.quick else 2000)
    local_total = 1000 * ops
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "unistock", "--example", "peer_local"],
                   check=True, cwd=ROOT)
    skus = [f"sku-{i}" for i in range(SKUS)]
    rows: list[dict] = []

    def add(system, workload, c, r):
        r.update(system=system, workload=workload, clients=c)
        rows.append(r)
        print(f"  {system:<14} {workload:<5} {c:>3} clients: {r['ops_per_s']:>12,.0f} ops/s  "
              f"p50 {r['p50_us']:>9.1f} us  p99 {r['p99_us']:>9.1f} us", flush=True)

    started = []
    try:
        redises = [Redis(aof=False), Redis(aof=True)]
        started += redises
        pg = Postgres()
        started.append(pg)
        print("== correctness: 10,000 units, 20,000 attempts from 32 clients ==")
        checks = {}
        for s in LOCAL:
            checks[s] = local(s, "check", 32, 0)["granted"]
        for r in redises:
            r.load(["sku-0"], 10_000)
            res = run_clients(redis_client, lambda i, q: (r.port, "w1", ["sku-0"], 625, i, q), 32)
            checks[r.name] = res["granted"]
        for sync in (True, False):
            pg.load(["sku-0"], 10_000)
            res = run_clients(pg_client, lambda i, q: (pg.dsn(), sync, "w1", ["sku-0"], 625, i, q), 32)
            checks["postgres" + ("" if sync else "-async")] = res["granted"]
        for k, v in checks.items():
            print(f"  {k:<16} granted {v:>6}  {'ok' if v == 10_000 else 'WRONG'}")

        print("== throughput ==")
        for workload in ("w1", "w2", "w3"):
            data = ["sku-0"] if workload == "w1" else skus
            for r in redises:
                r.load(data, PLENTY)
            pg.load(data, PLENTY)
            for c in clients:
                for s in LOCAL:
                    # A durable hold per call waits for an fsync: as many
                    # attempts as the Redis and PostgreSQL clients make.
                    add(s, workload, c, local(s, workload, c, ops if s == "unistock-sync" else local_total // c))
                for r in redises:
                    add(r.name, workload, c,
                        run_clients(redis_client, lambda i, q: (r.port, workload, data, ops, i, q), c))
                for sync in (True, False):
                    name = "postgres" if sync else "postgres-async"
                    add(name, workload, c,
                        run_clients(pg_client, lambda i, q: (pg.dsn(), sync, workload, data, ops, i, q), c))
    finally:
        for s in started:
            s.stop()

    write_results(rows, checks, clients)
    return 0 if all(v == 10_000 for v in checks.values()) else 1


# The ratio targets for unistock in memory at 8 clients.
TARGETS = {"redis": 150, "postgres": 1000}


def ceiling(by: dict, c: int) -> list[str]:
    """What the ratio targets ask at `c` clients, what unistock reaches and
    what the naive lock reaches on the same rows: a system doing a bare
    check-and-reserve under one lock is the most any engine here can hope
    for on two cores."""
    out = [f"Ratio targets at {c} clients (unistock in memory against each peer), "
           "beside the naive global lock's ratio on the same rows:", "",
           "| workload | peer | target | unistock | naive lock |", "|---|---|---|---|---|"]
    for w in ("w1", "w2", "w3"):
        for peer, target in TARGETS.items():
            p = by.get((peer, w, c))
            u, n = by.get(("unistock", w, c)), by.get(("naive", w, c))
            if p and u and n:
                out.append(f"| {w} | {peer} | {target}x | {u['ops_per_s'] / p['ops_per_s']:.0f}x | "
                           f"{n['ops_per_s'] / p['ops_per_s']:.0f}x |")
    return out


def write_results(rows: list[dict], checks: dict, clients: list[int], saved: dict | None = None) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    today = saved["date"] if saved else dt.date.today().isoformat()
    cpu = (saved or {}).get("machine") or platform.processor() or platform.machine()
    versions = saved["versions"] if saved else {
        "redis": subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip(),
        "postgres": subprocess.run(["postgres", "--version"], capture_output=True, text=True).stdout.strip(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    # A render of a saved run names that run's command (runs saved before
    # the command was kept were full runs, without arguments).
    command = (saved or {}).get("command") or " ".join(
        ["python", "benches/peer/peer.py", *([] if saved else sys.argv[1:])])
    by = {(r["system"], r["workload"], r["clients"]): r for r in rows}
    systems = [*LOCAL, "redis", "redis+aof", "postgres", "postgres-async"]
    lines = [f"# Peer comparison, {today}", "",
             f"Machine: {cpu}, {versions['cores']} cores. {versions['redis']}. {versions['postgres']}.",
             "Command: `" + command + "`. "
             "Redis and PostgreSQL clients are Python processes (one connection each); "
             "unistock and the naive lock are Rust threads in one process, making 1,000 times as many "
             "attempts in all, split over the clients (`sync`: as many per client as Redis and PostgreSQL).",
             "",
             "Correctness (10,000 units, 20,000 attempts from 32 clients): " +
             ", ".join(f"{k} {v}" for k, v in checks.items()) + ".", "",
             "| workload | clients | system | ops/s | p50 us | p99 us | unistock / this |",
             "|---|---|---|---|---|---|---|"]
    for w in ("w1", "w2", "w3"):
        for c in clients:
            base = by[("unistock", w, c)]["ops_per_s"]
            for s in systems:
                r = by.get((s, w, c))
                if r:
                    lines.append(f"| {w} | {c} | {s} | {r['ops_per_s']:,.0f} | {r['p50_us']:.1f} | "
                                 f"{r['p99_us']:.1f} | {base / r['ops_per_s']:.2f}x |")
    if 8 in clients:
        lines += ["", *ceiling(by, 8)]
    (RESULTS / "peer.md").write_text("\n".join(lines) + "\n")
    if not saved:
        (RESULTS / "peer.json").write_text(json.dumps({"date": today, "machine": cpu, "versions": versions,
                                                       "command": command, "checks": checks, "rows": rows},
                                                      indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        c = max(x for x in clients if x <= 8)
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / len(systems)
        for i, s in enumerate(systems):
            ys = [by[(s, w, c)]["ops_per_s"] for w in ("w1", "w2", "w3")]
            ax.bar([j + i * width for j in range(3)], ys, width, label=s)
        ax.set_yscale("log")
        ax.set_xticks([j + (len(systems) - 1) / 2 * width for j in range(3)], ["W1 hot SKU", "W2 uniform", "W3 5-line order"])
        ax.set_ylabel("holds per second (log)")
        ax.set_title(f"Holds per second at {c} clients, {today}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(RESULTS / "peer.png", dpi=110)
    except ImportError:
        print("matplotlib is not installed: no chart", file=sys.stderr)
    print(f"results: {RESULTS / 'peer.md'}")


if __name__ == "__main__":
    sys.exit(main())
