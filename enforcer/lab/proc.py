"""Running commands, waiting for conditions and stopping processes by PID — the lab's only side effects.

Waits poll a condition until a deadline (never a fixed sleep); processes are stopped by the PID
recorded when they started, after checking the PID still belongs to this lab (a marker in its
command line), so a recycled PID is never killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class LabError(RuntimeError):
    """The lab could not be built or torn down; says which step and why."""


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = 30.0,
    netns: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (inside ``netns`` if given) and capture its output as text."""
    cmd = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:500]}")
    return proc


def wait_for(what: str, probe: Callable[[], T], timeout: float = 20.0, interval: float = 0.05) -> T:
    """Call ``probe`` until it returns something truthy; raise naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a probe failing is "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            hint = f" (last error: {last_exc})" if last_exc else ""
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{hint}")
        time.sleep(interval)


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True when ``pid`` runs and (if given) its command line contains ``marker``; zombies are dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    if marker is None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_pid(pid: int, marker: str | None = None, timeout: float = 5.0) -> None:
    """SIGTERM, wait for the process to go, SIGKILL at the deadline; a foreign or gone PID is left alone."""
    if not pid_alive(pid, marker):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 2
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc), e.g. the ``sleep`` of a timer shell."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def netns_pids(name: str) -> list[int]:
    """Every process whose network namespace is ``name`` (what ``ip netns pids`` reports)."""
    if not netns_exists(name):
        return []
    proc = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]
