"""The router shell's own recovery: an applier that died mid-apply is undone by the next verb.

The applier runs detached so that a dying login shell cannot interrupt it; if the applier itself
dies (power loss, ``kill -9`` of it), its ``inflight`` mark stays behind. This runs the real shell
against a stand-in ``vtysh`` on ``PATH`` that only records the files it is asked to apply: the
live FRR cases are in ``tests/lab/test_device_safety.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from enforcer.drivers import frr_shell

FAKE_VTYSH = """#!/bin/sh
# Records every file applied with -f, and counts the -C syntax checks; prints nothing.
case " $* " in *" -C "*) echo check >> "$APPLIED.checks"; exit 0;; esac
while [ $# -gt 0 ]; do
  if [ "$1" = "-f" ]; then cat "$2" >> "$APPLIED"; fi
  shift
done
"""


@pytest.fixture
def router(tmp_path: Path):
    """A router directory and ``run(command, stdin)``: one SSH exec of the real shell against it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "vtysh").write_text(FAKE_VTYSH)
    (bindir / "vtysh").chmod(0o755)
    root = tmp_path / "router"
    (root / "log").mkdir(parents=True)
    (root / "commits").mkdir()

    def run(command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "SSH_ORIGINAL_COMMAND": command,
               "APPLIED": str(root / "applied.conf")}  # fmt: skip
        argv = [sys.executable, frr_shell.__file__, "--dir", str(root), "--name", "edge"]
        return subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True, timeout=60)

    run.root = root  # type: ignore[attr-defined]
    return run


def test_an_apply_that_died_holding_the_router_is_undone_by_the_next_verb(router):
    root = router.root
    commits = root / "commits"
    (commits / "undo.conf").write_text("no ip route 203.0.113.9/32 Null0 tag 667\n")
    (commits / "inflight").write_text("999999")  # the applier's mark, left by its death

    proc = router("commit-pending")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "applied.conf").read_text() == "no ip route 203.0.113.9/32 Null0 tag 667\n"
    assert not (commits / "inflight").exists()
    assert "interrupted apply found: undo applied" in (root / "log" / "commits.log").read_text()


def test_a_commit_without_its_undo_is_refused_before_anything_is_applied(router):
    proc = router("load-commit", "ip route 203.0.113.9/32 Null0 tag 667\n")
    assert proc.returncode == 1 and "no undo part" in proc.stdout
    assert not (router.root / "applied.conf").exists()


def test_a_commit_of_the_candidate_load_check_passed_is_not_checked_twice(router):
    """``vtysh -C`` of a 10,000-route candidate costs seconds: load-check's pass covers the same bytes."""
    candidate = "ip route 203.0.113.9/32 Null0 tag 667\n"
    checks = router.root / "applied.conf.checks"
    assert router("load-check", candidate).returncode == 0
    proc = router("load-commit", f"{candidate}{frr_shell.UNDO_MARK}\nno ip route 203.0.113.9/32 Null0 tag 667\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert checks.read_text().count("check") == 1
    assert (router.root / "applied.conf").read_text() == candidate

    other = "ip route 203.0.113.10/32 Null0 tag 667\n"  # never load-checked: the commit checks it itself
    assert router("load-commit", f"{other}{frr_shell.UNDO_MARK}\n").returncode == 0
    assert checks.read_text().count("check") == 2
