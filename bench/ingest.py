"""Intake throughput (issue 12.5): decisions/s through ``POST /v1/decisions`` of a running ``enforcer serve``.

End to end: the script starts ``enforcer serve`` (its reconcile loop running over the example
inventory's ten offline devices, so every stored decision is also rendered and written out),
waits for ``/healthz``, and posts unique operator blocks from 1 and from 16 concurrent clients,
one decision per request and in lists of ``--batch``; a decision counts once serve answered that
it is stored (2xx: committed). The baseline, measured in the same run on a fresh store of the same
backend, is ``service.submit`` called in-process, one decision after the other (no HTTP, no loop):
what a client of the library got before.

    bench/ingest.py [--decisions N] [--batch B] [--concurrency 1,16] [--modes single,batch] [--pg URL] [--no-loop]

``--no-loop`` starts serve with ``--no-reconcile``: intake alone, to tell its cost from the loop's.
Each cell also prints serve's own CPU per decision (user + system from ``/proc``, over the posting
and the loop's pushes after it): the figure a loaded, shared machine distorts least.

``--bulk N`` also times ``service.submit_many`` of N decisions in one call, in-process, on a fresh
store of each backend (what the OpenFlow and FRR bulk benches store before they push): its
decisions/s, and its CPU per decision (``time.process_time``, the figure a loaded box distorts least).

PostgreSQL is measured when ``--pg`` (or ``ENFORCER_TEST_PG``) names a database the script may
wipe (``scripts/postgres.sh start`` prints one); its public schema is dropped before each store.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from enforcer import service
from enforcer.api.tokens import create_token
from enforcer.model import Decision
from enforcer.settings import Settings

TARGET = "1,000 decisions/s"


def target(cell: int, i: int) -> str:
    """A unique host per decision: cell ``cell``'s ``i``-th (10.cell.x.y, up to 65,536 per cell)."""
    return f"10.{cell}.{i >> 8 & 255}.{i & 255}"


def fresh_store(backend: str, pg: str | None, work: Path, name: str) -> str:
    """A new, empty store's URL."""
    if backend == "sqlite":
        return f"sqlite:///{work / f'{name}.db'}"
    engine = create_engine(pg)  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    return pg  # type: ignore[return-value]


def baseline(url: str, work: Path, n: int) -> float:
    """In-process ``service.submit``, one decision at a time: decisions/s."""
    ctx = service.Context.open(Settings(db=url, output=work / "out-baseline"))
    decisions = [Decision(target=target(250, i), violation="scanning", actor="bench", source="api") for i in range(n)]
    started = time.perf_counter()
    for d in decisions:
        service.submit(ctx, d)
    rate = n / (time.perf_counter() - started)
    ctx.store.engine.dispose()
    return rate


def bulk(url: str, work: Path, n: int) -> tuple[float, float]:
    """In-process ``service.submit_many`` of ``n`` decisions in one call: (decisions/s, CPU µs per decision)."""
    ctx = service.Context.open(Settings(db=url, output=work / "out-bulk"))
    service.submit_many(ctx, [Decision(target=target(249, 0), violation="scanning", actor="bench", source="api")])
    decisions = [Decision(target=f"10.{240 + (i >> 16)}.{i >> 8 & 255}.{i & 255}", violation="scanning",
                          actor="bench", source="api") for i in range(n)]
    cpu, started = time.process_time(), time.perf_counter()
    outcomes = service.submit_many(ctx, decisions)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    ctx.store.engine.dispose()
    refused = [o for o in outcomes if isinstance(o, Exception)]
    if refused:
        raise SystemExit(f"error: bulk: {len(refused)} refused, first: {refused[0]}")
    return n / wall, cpu / n * 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(url: str, work: Path, loop: bool = True) -> Iterator[tuple[str, str, int]]:
    """``enforcer serve`` on a loopback port over ``url``, its loop running; (base URL, operator token, pid)."""
    ctx = service.Context.open(Settings(db=url))
    token = create_token(ctx.store, "bench", "operator")
    ctx.store.engine.dispose()
    port = free_port()
    env = {**os.environ, "ENFORCER_DB": url, "ENFORCER_OUTPUT": str(work / "out")}
    enforcer = Path(sys.executable).with_name("enforcer")
    proc = subprocess.Popen([str(enforcer), "serve", "--listen", f"127.0.0.1:{port}", "--log-level", "warning",
                             *([] if loop else ["--no-reconcile"])],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "w"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"error: serve did not start: {(work / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, token, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def post_all(base: str, token: str, bodies: list, concurrency: int) -> tuple[float, list[float]]:
    """Post every body from ``concurrency`` clients (keep-alive each); wall time and each request's latency."""
    queue = iter(enumerate(bodies))
    lock = threading.Lock()
    latencies: list[float] = []

    def client(_: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                sent = time.perf_counter()
                r = http.post("/v1/decisions", json=item[1])
                took = time.perf_counter() - sent
                if r.status_code not in (200, 201) or (isinstance(item[1], list) and any(
                        x["outcome"] != "created" for x in r.json()["results"])):
                    raise SystemExit(f"error: request {item[0]}: {r.status_code} {r.text[:300]}")
                with lock:
                    latencies.append(took)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    return time.perf_counter() - started, latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux ``/proc``): serve's own cost, which a loaded
    machine distorts far less than a rate (the clients share the same cores)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Seconds after a cell's last answer before serve's CPU is read: the loop's last pushes count too.
SETTLE = 2.0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--decisions", type=int, default=2000, help="decisions per cell (default 2000)")
    ap.add_argument("--batch", type=int, default=500, help="decisions per list body (default 500)")
    ap.add_argument("--concurrency", default="1,16", help="client counts (default 1,16)")
    ap.add_argument("--baseline", type=int, default=300, help="decisions for the in-process baseline")
    ap.add_argument("--pg", default=os.environ.get("ENFORCER_TEST_PG"), help="a PostgreSQL URL the bench may wipe")
    ap.add_argument("--backends", default="sqlite,postgres", help="which of sqlite,postgres (postgres needs --pg)")
    ap.add_argument("--no-loop", action="store_true", help="serve without its reconcile loop (intake alone)")
    ap.add_argument("--modes", default="single,batch", help="which of single,batch (default both; none: neither)")
    ap.add_argument("--bulk", type=int, default=0, help="also time submit_many of N in-process (0: not)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a killed bench still stops the serve it started
    if not 1 <= args.decisions <= 65536 or not 1 <= args.batch <= 1000 or not 0 <= args.bulk <= 500_000:
        raise SystemExit("error: --decisions 1..65536, --batch 1..1000, --bulk 0..500000")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    backends = [b for b in args.backends.split(",") if b == "sqlite" or (b == "postgres" and args.pg)]
    print(f"{'backend':9} {'mode':12} {'clients':>7} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'serve CPU':>10}  "
          f"ratio to in-process submit  (target {TARGET}; serve's loop {'off' if args.no_loop else 'on'})", flush=True)
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            floor = baseline(fresh_store(backend, args.pg, work, "baseline"), work, args.baseline)
            print(f"{backend:9} {'in-process':12} {1:7d} {floor:12.0f} {'-':>8} {'-':>8} {'-':>10}  {1.0:5.1f}x",
                  flush=True)
            if args.bulk:
                rate, cpu = bulk(fresh_store(backend, args.pg, work, "bulk"), work, args.bulk)
                print(f"{backend:9} {'bulk ' + str(args.bulk):12} {1:7d} {rate:12.0f} {'-':>8} {'-':>8} {'-':>10}  "
                      f"{rate / floor:5.1f}x  (submit_many in-process, one call; CPU {cpu:.0f} us/decision)",
                      flush=True)
            if not any(m in args.modes.split(",") for m in ("single", "batch")):
                continue
            store = fresh_store(backend, args.pg, work, "serve")
            with serving(store, work, loop=not args.no_loop) as (base, token, pid):
                cell = 0
                modes = [m for m in ("single", f"batch {args.batch}") if m.split()[0] in args.modes.split(",")]
                for mode in modes:
                    for c in concurrency:
                        cell += 1
                        items = [{"target": target(cell, i), "violation": "scanning", "reason": "bench"}
                                 for i in range(args.decisions)]
                        bodies = items if mode == "single" else [items[i:i + args.batch]
                                                                 for i in range(0, len(items), args.batch)]
                        cpu = cpu_seconds(pid)
                        try:
                            wall, lat = post_all(base, token, bodies, c)
                        except SystemExit as exc:
                            log = (work / 'serve.log').read_text()[-3000:]
                            raise SystemExit(f"{exc}\nserve's log:\n{log}") from None
                        rate = args.decisions / wall
                        time.sleep(SETTLE)
                        per = (cpu_seconds(pid) - cpu) / args.decisions * 1e3
                        print(f"{backend:9} {mode:12} {c:7d} {rate:12.0f} {pct(lat, 50) * 1000:8.1f} "
                              f"{pct(lat, 99) * 1000:8.1f} {per:7.2f} ms  {rate / floor:5.1f}x", flush=True)


if __name__ == "__main__":
    main()
