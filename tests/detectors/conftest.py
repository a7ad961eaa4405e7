"""Real detectors on loopback: a private enforcer store and serve, tokens, and a daemon runner.

Every daemon here listens on 127.0.0.1 only, is stopped by the PID this test started, and is
configured never to reach outside the machine (no cluster peers, no update checks).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from enforcer import service
from enforcer.api.tokens import create_token
from enforcer.settings import Settings

from ..api.conftest import write_inventory
from ..helpers import serve_process, stop


@contextmanager
def daemon(cmd: Sequence[str | Path], log: Path, ready: Callable[[], bool], timeout: float = 60.0,
           **popen) -> Iterator[subprocess.Popen]:  # fmt: skip
    """Run ``cmd`` until ``ready()``; stop it by its PID on the way out (terminate, then kill)."""
    with log.open("w") as out:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{cmd[0]} did not come up:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield proc
        finally:
            stop(proc)


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == status
        except httpx.HTTPError:
            return False

    return check


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'enforcer.db'}",
                    output=tmp_path / "out")  # fmt: skip


@pytest.fixture
def token(settings: Settings) -> Callable[..., str]:
    """``token(name, scope, categories)`` → a new token's secret in this test's store."""
    ctx = service.Context.open(settings)
    return lambda name, scope, categories=(): create_token(ctx.store, name, scope, tuple(categories))


@pytest.fixture
def serve(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``enforcer serve`` on this test's store, reconcile loop on (1 s), its base URL."""
    options = ["--inventory", str(settings.inventory), "--db", settings.db, "--output", str(settings.output)]
    with serve_process(options, ["--interval", "1"], log=tmp_path / "serve.log") as url:
        yield url
