"""Helpers the API and lab tests share: wait with a deadline, a free port, ``enforcer serve`` as a process."""

from __future__ import annotations

import gc
import importlib.util
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent.parent / "bench"


def wait_for(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.02)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_process(
    options: Sequence[str] = (),
    serve_options: Sequence[str] = (),
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    start_timeout: float = 120.0,
) -> Iterator[str]:
    """Run ``enforcer OPTIONS serve --listen 127.0.0.1:PORT SERVE_OPTIONS`` until ``/healthz`` answers.

    Yields the base URL; the server is stopped (and waited for) on the way out, its output in ``log``.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "enforcer.cli", *options, "serve", "--listen", f"127.0.0.1:{port}", *serve_options]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            deadline = time.monotonic() + start_timeout
            while not healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"enforcer serve did not come up:\n{log.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a process we started and wait for it; kill it if it does not go within 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def bench_module(name: str):
    """``bench/NAME.py`` imported as a module, for the tests that run a benchmark's own steps tiny."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frr_shell_exec(tmp_path: Path, vtysh: str) -> tuple[Path, Callable[[str], tuple[list[str], dict[str, str]]]]:
    """A router directory for the real FRR router shell (``enforcer/drivers/frr_shell.py``) with the
    script ``vtysh`` as its vtysh: ``(root, exec_of)``, where ``exec_of(command)`` is the argv and
    environment of one SSH exec of ``command`` (the fake vtysh writes what it applies to
    ``root/applied.conf``)."""
    import os

    from enforcer.drivers import frr_shell

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "vtysh").write_text(vtysh)
    (bindir / "vtysh").chmod(0o755)
    root = tmp_path / "router"
    (root / "log").mkdir(parents=True)
    (root / "commits").mkdir()

    def exec_of(command: str) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "SSH_ORIGINAL_COMMAND": command,
               "APPLIED": str(root / "applied.conf")}  # fmt: skip
        return [sys.executable, "-I", "-S", frr_shell.__file__, "--dir", str(root), "--name", "edge"], env

    return root, exec_of


def python_calls(fn: Callable[..., object], *args: object) -> int:
    """Python-level function calls (generator resumptions included) while ``fn`` runs: a work count
    a loaded machine cannot blur, for tests that pin a parse or diff to a constant number of steps.
    The cyclic collector is paused meanwhile: the finalizers of earlier tests' garbage it may run
    are not ``fn``'s work."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    _profiled(count, fn, args)
    return calls


def _profiled(count: Callable[..., object], fn: Callable[..., object], args: tuple[object, ...]) -> None:
    """``fn(*args)`` with ``count`` as the profile hook, the cyclic collector paused meanwhile."""
    was = gc.isenabled()
    gc.disable()
    sys.setprofile(count)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
        if was:
            gc.enable()


def builtin_calls(fn: Callable[..., object], *args: object) -> Counter[str]:
    """Calls of C functions and methods (``sub``, ``strip``) while ``fn`` runs, by name: the work
    count of a step done in C, which :func:`python_calls` does not see."""
    calls: Counter[str] = Counter()

    def count(frame, event, arg):
        if event == "c_call":
            calls[getattr(arg, "__name__", "?")] += 1

    _profiled(count, fn, args)
    return calls
