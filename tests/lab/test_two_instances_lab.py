"""Issue 10: two ``enforcer serve`` instances on one PostgreSQL, against the live lab (FRR, nftables, OVS).

200 decisions are submitted concurrently, split between the two. Every one is stored once and
enforced once: read from the devices (:mod:`tests.lab.readback`). Pushes to one device never
overlap: each push's audit row carries the lease holder and when the push started and finished
under the lease, and per device those intervals are disjoint. One instance is SIGKILLed while
it holds a device's lease (mid-push, seen in the store, not guessed from time); the survivor
pushes that device only once the dead holder's lease has lapsed (its push starts after the
lease's expiry) and brings every device to the wish. The lab's OpenFlow controller is switched
to the same PostgreSQL store for the test (it resyncs the switch from the store), then back.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from enforcer import lease, service
from enforcer.api.tokens import create_token
from enforcer.lab import ovs, probes
from enforcer.lab.testing import Lab
from enforcer.settings import Settings

from ..helpers import free_port, healthy, stop
from . import readback
from .conftest import _empty_store

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.timeout(900)]
TARGETS = [f"203.0.113.{i}" for i in range(2, 202)]
LATE = [f"203.0.113.{i}" for i in range(202, 212)]  # submitted to the survivor after the kill
LEASE_TTL = 6


@contextmanager
def controller_on(lab: Lab, db: str) -> Iterator[None]:
    """The lab's OpenFlow controller reading ``db`` for the block, then its own store again."""
    state = lab.state_dir / "ovs"
    ovs.stop_controller(state)
    ovs.start_controller(state, lab.name, inventory=lab.inventory_path, db=db)
    try:
        yield
    finally:
        ovs.stop_controller(state)
        ovs.start_controller(state, lab.name, inventory=lab.inventory_path, db=lab.db)


def _over_unix_socket(url: str) -> str:
    """``url`` through the server's Unix socket: the controller runs in the switch's network namespace,
    whose loopback is not the one PostgreSQL listens on, but the socket file is on the shared filesystem."""
    parsed = sa.make_url(url)
    engine = sa.create_engine(parsed)
    with engine.connect() as c:
        folder = str(c.execute(sa.text("SHOW unix_socket_directories")).scalar()).split(",")[0].strip()
    engine.dispose()
    return parsed.set(host="", query={"host": folder}).render_as_string(hide_password=False)


@pytest.fixture
def pg_lab(lab: Lab, tmp_path: Path) -> Iterator[tuple[Lab, service.Context, dict[str, str]]]:
    tcp = os.environ.get("ENFORCER_TEST_PG")
    if not tcp:
        pytest.fail('needs PostgreSQL: eval "$(bash scripts/postgres.sh start)" (exports ENFORCER_TEST_PG)')
    url = _over_unix_socket(tcp)
    _empty_store(url)
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": url,
           "ENFORCER_OUTPUT": str(tmp_path / "out"), "ENFORCER_LEASE_TTL": str(LEASE_TTL)}  # fmt: skip
    before = readback.foreign(lab)
    with controller_on(lab, url):
        yield lab, service.Context.open(Settings(inventory=lab.inventory_path, db=url)), env
        _empty_store(url)
    assert readback.foreign(lab) == before, "the operator's own configuration changed"


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "enforcer.cli", "serve", "--listen", f"127.0.0.1:{port}",
                             "--interval", "1"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    probes.eventually(lambda: healthy(url) or proc.poll() is not None, bool, 120, 0.05)
    assert proc.poll() is None, log.read_text()
    return proc, url



def _pushes(ctx: service.Context) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """Per device, every audited push as (started, finished, lease holder), in order of start."""
    spans: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for e in ctx.store.history(limit=100_000):
        held = e.detail.get("lease") or {}
        if e.action in ("apply", "apply-failed") and "finished" in held:
            spans.setdefault(e.target or "", []).append(
                (datetime.fromisoformat(held["started"]), datetime.fromisoformat(held["finished"]), held["holder"]))
    return {device: sorted(s) for device, s in spans.items()}


def test_two_serve_instances_on_postgresql_enforce_200_decisions_once_and_survive_a_kill(pg_lab, tmp_path):
    lab, ctx, env = pg_lab
    token = create_token(ctx.store, "noc", "operator")
    (a, url_a), (b, url_b) = _serve(env, tmp_path / "a.log"), _serve(env, tmp_path / "b.log")
    try:
        killed: dict[str, tuple] = {}

        def kill_a_mid_push() -> None:
            """SIGKILL instance A the moment it holds a device's lease (seen in the store), once half the
            decisions are in: a pass with work to do, not the empty start-up pass."""
            probes.eventually(lambda: len(ctx.store.decisions()), lambda n: n >= len(TARGETS) // 2, 300, 0.05)

            def a_holds():
                for device in ctx.inventory.devices:
                    held = lease.current(ctx.store, device)
                    if held and f" pid {a.pid} " in held[0]:
                        return device, held
                return None

            device, held = probes.eventually(a_holds, bool, 300, 0.01)
            os.killpg(a.pid, signal.SIGKILL)
            a.wait()
            killed["lease"] = (device, *(lease.current(ctx.store, device) or held))

        killer = threading.Thread(target=kill_a_mid_push)
        killer.start()

        def submit(url: str, target: str, key: str | None = None) -> int:
            headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
            body = {"target": target, "violation": "malware-hosting", "reason": "two instances"}
            try:
                return httpx.post(f"{url}/v1/decisions", json=body, headers=headers, timeout=120).status_code
            except httpx.HTTPError:
                return 0

        def deliver(i: int) -> int:
            """Half to each instance; a client whose instance died delivers to the other (same key)."""
            status = submit((url_a, url_b)[i % 2], TARGETS[i], f"two-{i}")
            return status if status in (200, 201) else submit(url_b, TARGETS[i], f"two-{i}")

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(deliver, range(len(TARGETS))))
        killer.join()
        # Work for every device after the kill, the killed one's included: the survivor must push it.
        statuses += [submit(url_b, t) for t in LATE]
        assert set(statuses) <= {200, 201}, statuses

        device, holder, since, expires = killed["lease"]
        want = {f"{t}/32" for t in TARGETS + LATE}
        probes.eventually(lambda: readback.held(lab).exactly(want) and not readback.pending_commits(lab), bool,
                          600, 0.2)  # fmt: skip
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                stop(proc)

    assert sorted(str(d.target) for d in ctx.store.decisions()) == sorted(want)
    assert len(ctx.store.active_enforcements()) == len(want)
    pushes = _pushes(ctx)
    for dev, spans in pushes.items():
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            assert start >= end, f"{dev}: {second} started at {start} while {first} pushed until {end}"
    after = [(s, h) for s, _, h in pushes.get(device, []) if s > since and h != holder]
    assert after, f"nobody pushed {device} after {holder} died"
    took_over, by = after[0]
    assert f" pid {b.pid} " in by and took_over >= expires, (took_over, expires)
    print(f"killed {holder} holding {device} (lease since {since}, until {expires}); {by} pushed it from "
          f"{took_over}, {(took_over - expires).total_seconds():.1f} s after the lease lapsed; "
          f"{sum(len(s) for s in pushes.values())} pushes audited, none overlapping")
