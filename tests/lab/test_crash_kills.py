"""Issue 10: SIGKILL of ``enforcer apply`` and of ``enforcer serve`` at 20 random points each, on the lab.

The lab's three devices are in the inventory: the edge's FRR (over SSH, commit-confirm), its
nftables firewall (checkpoint and revert) and the Open vSwitch switch (through the OpenFlow
controller). Each kill lands at a time drawn, from a printed seed, across the run's duration —
the last complete run's (apply) or the first, unkilled round's (serve) — so it hits start-up,
the plan, the push, the commit-confirm window and the audit alike. The kill takes the whole
process group (systemd's default ``KillMode=control-group``: the SSH client dies with it). After
each kill the next run starts once the dead one's device leases have lapsed (read from the
store, ``ENFORCER_LEASE_TTL=3``). At the end every device holds each wanted null route exactly
once and nothing else (read from the devices, :mod:`tests.lab.readback`), no commit is left
pending, the operator's own routes, tables and flows are byte for byte what they were, and
every decision the API answered with a 2xx is in the store.

``ENFORCER_CRASH_SEED=N`` replays a run.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from random import Random

import httpx
import pytest

from enforcer import lease, service
from enforcer.api.tokens import create_token
from enforcer.lab import probes
from enforcer.lab.testing import Lab
from enforcer.model import Decision
from enforcer.settings import Settings

from ..helpers import free_port, healthy
from . import readback
from .conftest import fresh_store

#: 20 kills of a run that takes 20-45 s on a loaded 2-core machine (load average 15) need more than
#: the suite's default 300 s per test.
pytestmark = [pytest.mark.lab, pytest.mark.timeout(1200)]

KILLS = 20
LEASE_TTL = 3
#: The customer's /24 minus its gateway and broadcast: one null route per address.
TARGETS = [f"203.0.113.{i}" for i in range(2, 255)]


@pytest.fixture(scope="module")
def seed() -> int:
    value = int(os.environ.get("ENFORCER_CRASH_SEED") or secrets.randbits(32))
    print(f"crash seed: ENFORCER_CRASH_SEED={value}")
    return value


@pytest.fixture
def crash_lab(lab: Lab, tmp_path) -> Iterator[tuple[Lab, service.Context, dict[str, str]]]:
    """The session lab on an empty store, its operator configuration noted, and the environment of
    an ``enforcer`` process against it (short leases: a killed pusher's devices are free after 3 s)."""
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": str(lab.db),
           "ENFORCER_OUTPUT": str(tmp_path / "out"), "ENFORCER_LEASE_TTL": str(LEASE_TTL)}  # fmt: skip
    with fresh_store(lab):
        ctx = service.Context.open(Settings(inventory=lab.inventory_path, db=str(lab.db), output=tmp_path / "out"))
        before = readback.foreign(lab)
        yield lab, ctx, env
        assert readback.foreign(lab) == before, "the operator's own configuration changed"


def _enforcer(env: dict[str, str], *args: str, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "enforcer.cli", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _run_until(proc: subprocess.Popen, at: float) -> float | None:
    """Let ``proc`` run ``at`` seconds, then SIGKILL its process group; the kill time, or None when
    it had already exited (then the caller learns the run's duration)."""
    try:
        proc.wait(at)
        return None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return at



def _leases_lapsed(ctx: service.Context) -> None:
    """Wait (on the store) until no device is leased: the killed pusher's leases ran out."""
    devices = list(ctx.inventory.devices)
    probes.eventually(lambda: [d for d in devices if lease.current(ctx.store, d)], lambda held: not held,
                      LEASE_TTL * 10, 0.2)  # fmt: skip


def _converged(lab: Lab, ctx: service.Context) -> readback.Held:
    """Every device holds the store's wish exactly once, with no commit left to confirm or revert."""
    want = readback.expected(ctx.store)
    final = readback.held(lab)
    assert final.exactly(want), (readback.problems(final, want), )
    assert not readback.pending_commits(lab)
    return final


def test_sigkill_of_apply_at_20_random_points_loses_and_duplicates_nothing(crash_lab, seed, tmp_path):
    lab, ctx, env = crash_lab
    rng = Random(seed)
    targets = iter(TARGETS)
    blocked: list[str] = []

    def block(n: int) -> None:
        for _ in range(n):
            target = next(targets)
            service.submit(ctx, Decision(target=target, violation="malware-hosting", reason="crash test"))
            blocked.append(target)

    block(120)  # a few hundred pending: 120 now, 4 more and 2 unblocks before every run
    window, kills, completed, started = 0.0, [], [], time.monotonic()
    log = (tmp_path / "apply.log").open("w")
    while len(kills) < KILLS:
        assert len(kills) + len(completed) < 2 * KILLS, f"seed {seed}: too few runs could be killed"
        block(4)
        for target in rng.sample(blocked, 2):
            blocked.remove(target)
            service.unblock(ctx, target, actor="noc", source="test", reason="crash test")
        t0 = time.monotonic()
        proc = _enforcer(env, "apply", "--yes", log=log)
        at = _run_until(proc, rng.uniform(0, window) if window else 3600)
        if at is None:
            window = time.monotonic() - t0  # kills are drawn across the last complete apply
            completed.append(window)
        else:
            kills.append(round(at, 2))
        what = f"ran {window:.1f} s" if at is None else f"killed at {at:.2f} s"
        print(f"apply run {len(kills) + len(completed)}: {what}, {time.monotonic() - started:.0f} s in", flush=True)
        _leases_lapsed(ctx)

    final = _enforcer(env, "apply", "--yes", log=log)
    assert final.wait(600) == 0, (tmp_path / "apply.log").read_text()[-3000:]
    held = _converged(lab, ctx)
    assert len(held.frr) == len(blocked) == len(ctx.store.decisions())
    print(f"seed {seed}: {len(kills)} kills at {kills} s; {len(completed)} applies ran to the end "
          f"({[round(c, 1) for c in completed]} s); {len(blocked)} null routes converged; "
          f"{time.monotonic() - started:.0f} s")


def test_sigkill_of_serve_at_20_random_points_loses_and_duplicates_nothing(crash_lab, seed, tmp_path):
    lab, ctx, env = crash_lab
    rng = Random(seed + 1)
    token = create_token(ctx.store, "noc", "operator")
    targets = iter(TARGETS)
    answered: dict[str, int] = {}  # target → status of the 2xx that acknowledged it
    queue: list[str] = []  # to submit: 10 new per serve, and what a kill cut off (retried, same key)
    log = (tmp_path / "serve.log").open("w")
    started = time.monotonic()

    def submit(url: str, target: str) -> None:
        try:
            r = httpx.post(f"{url}/v1/decisions", timeout=60,
                           json={"target": target, "violation": "malware-hosting", "reason": "crash test"},
                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"crash-{target}"})
        except httpx.HTTPError:
            r = None
        if r is not None and r.status_code in (200, 201):
            answered[target] = r.status_code
        else:
            queue.append(target)

    def feed(proc: subprocess.Popen, url: str, batch: list[str]) -> None:
        """Once serve answers, submit ``batch`` concurrently (all of it goes back if serve died first)."""
        probes.eventually(lambda: healthy(url) or proc.poll() is not None, bool, 120, 0.05)
        if proc.poll() is not None:
            queue.extend(batch)
            return
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda t: submit(url, t), batch))

    def serve(at: float | None) -> float:
        """One ``enforcer serve`` fed 10 new decisions (and the retries) as soon as it answers, SIGKILLed
        ``at`` s after it was started (None: stopped once the devices converged); returns its run time."""
        port = free_port()
        queue.extend(next(targets) for _ in range(10))
        batch, queue[:] = list(queue), []
        t0 = time.monotonic()
        proc = _enforcer(env, "serve", "--listen", f"127.0.0.1:{port}", "--interval", "1", log=log)
        feeder = threading.Thread(target=feed, args=(proc, f"http://127.0.0.1:{port}", batch))
        feeder.start()
        if at is not None:
            assert _run_until(proc, at) is not None, "serve exited by itself: " + (tmp_path / "serve.log").read_text()
            feeder.join()
            return at
        feeder.join()
        probes.eventually(lambda: not queue and readback.held(lab).exactly(readback.expected(ctx.store))
                          and not readback.pending_commits(lab), bool, 300, 0.2)  # fmt: skip
        took = time.monotonic() - t0
        proc.terminate()
        proc.wait(60)
        return took

    window = serve(None)  # the first serve runs until the devices converge: kills are drawn across that
    kills = []
    for i in range(KILLS):
        kills.append(round(serve(rng.uniform(0, window)), 2))
        print(f"serve run {i + 1}: killed at {kills[-1]:.2f} s, {time.monotonic() - started:.0f} s in", flush=True)
        _leases_lapsed(ctx)
    serve(None)  # the last serve converges the devices
    _converged(lab, ctx)
    stored = {str(d.target) for d in ctx.store.decisions()}
    assert {f"{t}/32" for t in answered} <= stored, "a decision acknowledged with a 2xx is missing"
    assert len(stored) == len(answered) == 10 * (KILLS + 2)
    print(f"seed {seed}: {len(kills)} serve kills at {kills} s (window {window:.1f} s); {len(stored)} decisions, "
          f"{len(answered)} acknowledged; {time.monotonic() - started:.0f} s")
