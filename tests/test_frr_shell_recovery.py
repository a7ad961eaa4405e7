"""The router shell's own recovery (an applier that died mid-apply is undone by the next verb) and
its one-round-trip commit (checked, applied only on the running config it was planned on, read back).

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

from .helpers import frr_shell_exec

FAKE_VTYSH = """#!/bin/sh
# Records every file applied with -f, counts the -C syntax checks (a file with "bogus" fails one),
# and prints what it applied so far as its running config.
case " $* " in *" -C "*)
  echo check >> "$APPLIED.checks"
  for a; do if [ -f "$a" ] && grep -q bogus "$a"; then echo "% Unknown command: bogus"; exit 2; fi; done
  exit 0;;
esac
case " $* " in *" show running-config "*) cat "$APPLIED" 2>/dev/null; exit 0;; esac
while [ $# -gt 0 ]; do
  if [ "$1" = "-f" ]; then cat "$2" >> "$APPLIED"; fi
  shift
done
"""


@pytest.fixture
def router(tmp_path: Path):
    """A router directory and ``run(command, stdin)``: one SSH exec of the real shell against it."""
    root, exec_of = frr_shell_exec(tmp_path, FAKE_VTYSH)

    def run(command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        argv, env = exec_of(command)
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


UNDO = "no ip route 203.0.113.9/32 Null0 tag 667\n"
CANDIDATE = "ip route 203.0.113.9/32 Null0 tag 667\n"


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_a_commit_on_the_running_config_it_was_planned_on_applies_and_prints_the_read_back(router):
    before = "ip route 192.0.2.1/32 Null0\n"  # the operator's route, already on the router
    (router.root / "applied.conf").write_text(before)
    proc = router(
        f"load-commit confirmed 30 if-running {_sha(before)} show-running", f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO}"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said, mark, running = proc.stdout.partition(frr_shell.RUNNING_MARK + "\n")
    assert mark and running == before + CANDIDATE  # the read-back is the router after the apply
    assert (router.root / "commits" / "undo.conf").read_text() == UNDO
    assert router("commit-confirm").returncode == 0  # the timer started, and is cancelled


def test_a_commit_planned_on_a_config_the_router_no_longer_runs_applies_nothing(router):
    planned_on = "ip route 192.0.2.1/32 Null0\n"
    (router.root / "applied.conf").write_text("")  # the NOC removed the route since the driver read it
    proc = router(f"load-commit if-running {_sha(planned_on)} show-running", f"{CANDIDATE}{frr_shell.UNDO_MARK}\n")
    assert proc.returncode == frr_shell.STALE_REFUSED and "running config changed" in proc.stdout
    assert (router.root / "applied.conf").read_text() == ""
    assert not (router.root / "commits" / "undo.conf").exists()  # the previous commit's undo would stay


def test_a_candidate_failing_the_syntax_check_inside_the_commit_applies_nothing(router):
    proc = router("load-commit show-running", f"ip route bogus\n{frr_shell.UNDO_MARK}\n")
    assert proc.returncode == frr_shell.SYNTAX_REFUSED and "bogus" in proc.stdout
    assert frr_shell.RUNNING_MARK not in proc.stdout
    assert not (router.root / "applied.conf").exists()


def test_a_malformed_commit_is_refused_with_its_usage(router):
    proc = router("load-commit show-running confirmed 3", f"{CANDIDATE}{frr_shell.UNDO_MARK}\n")
    assert proc.returncode == 1 and "usage: load-commit" in proc.stdout
    assert not (router.root / "applied.conf").exists()


def test_commit_options_take_each_word_once_and_in_order():
    sha = _sha("")
    assert frr_shell._commit_options(f"confirmed 30 if-running {sha} show-running hold whole".split()) == {
        "confirmed": 30,
        "expect": sha,
        "show": True,
        "hold": True,
        "whole": True,
    }
    assert frr_shell._commit_options(f"confirmed 30 if-running {sha} show-running hold".split()) == {
        "confirmed": 30,
        "expect": sha,
        "show": True,
        "hold": True,
        "whole": False,
    }  # the driver before whole
    assert frr_shell._commit_options([]) == {"confirmed": None, "expect": "", "show": False, "hold": False,
                                             "whole": False}  # fmt: skip
    for words in (
        "confirmed",
        "confirmed x",
        "if-running abc",
        f"if-running {sha.upper()}",
        "show-running confirmed 3",
        "confirmed 3 extra",
        "show-running show-running",
        "hold show-running",
        "whole hold",
        "whole show-running",
        "whole whole",
    ):
        assert frr_shell._commit_options(words.split()) is None, words


# ---------------------------------------------------------------- the confirmation on the commit's channel


def _held(router, stdin: str):
    """A ``load-commit … hold`` login left running: (process, what it printed up to its question)."""
    env = {**os.environ, "PATH": f"{router.root.parent / 'bin'}:{os.environ['PATH']}",
           "SSH_ORIGINAL_COMMAND": "load-commit confirmed 30 show-running hold",
           "APPLIED": str(router.root / "applied.conf")}  # fmt: skip
    argv = [sys.executable, "-I", "-S", frr_shell.__file__, "--dir", str(router.root), "--name", "edge"]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write(stdin)
    proc.stdin.flush()
    said = []
    while (line := proc.stdout.readline()) and line != frr_shell.AWAIT_MARK + "\n":
        said.append(line)
    assert line, "".join(said)  # the shell asked for the confirmation, with stdin still open
    return proc, "".join(said)


def _timer(root: Path) -> int:
    import json

    return int(json.loads((root / "commits" / "pending.json").read_text())["pid"])


def test_a_held_commit_is_confirmed_on_its_own_channel_without_a_second_login(router):
    stdin = f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO}{frr_shell.END_MARK}\n"
    proc, said = _held(router, stdin)
    assert said.endswith(frr_shell.RUNNING_MARK + "\n" + CANDIDATE)  # the read-back came first
    timer = _timer(router.root)
    proc.stdin.write("commit-confirm\n")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert not (router.root / "commits" / "pending.json").exists()
    assert "commit confirmed" in (router.root / "log" / "commits.log").read_text()
    _gone(timer)


def test_a_held_commit_whose_client_went_away_stays_pending_and_the_timer_reverts_it(router):
    stdin = f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO}{frr_shell.END_MARK}\n"
    proc, _ = _held(router, stdin)
    timer = _timer(router.root)
    proc.stdin.close()  # the SSH channel closed: no confirmation
    assert proc.wait(timeout=30) == 0
    assert (router.root / "commits" / "pending.json").exists() and _alive(timer)
    assert router("commit-rollback").returncode == 0  # what the driver does after a bad read-back
    _gone(timer)


def test_the_syntax_check_is_killed_when_the_applier_fails_while_it_runs(tmp_path: Path, monkeypatch):
    """An exception between starting ``vtysh -C`` and waiting for it (a ``show running-config``
    that timed out) used to leave the check running, orphaned by the applier's exit."""
    root = tmp_path / "router"
    (root / "log").mkdir(parents=True)
    stage = root / "commits" / "stage-x"
    stage.mkdir(parents=True)
    (stage / "candidate.conf").write_text(CANDIDATE)
    (stage / "undo.conf").write_text(UNDO)
    (stage / "options.json").write_text('{"expect": "%s", "show": false}' % ("0" * 64))
    r = frr_shell.Router(root, "edge")
    started: list[subprocess.Popen] = []

    def start_check(path):
        started.append(subprocess.Popen(["sleep", "300"]))
        return started[-1]

    def running():
        raise subprocess.TimeoutExpired("vtysh -c 'show running-config'", 600)

    monkeypatch.setattr(r, "start_check", start_check)
    monkeypatch.setattr(r, "running", running)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # apply() points it at the stage's out.txt
    with pytest.raises(subprocess.TimeoutExpired):
        r.apply(stage, 30)
    [check] = started
    assert check.poll() is not None, "the syntax check outlived the applier"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:  # a poll with a deadline, not a timing bound
        time.sleep(0.05)
    assert not _alive(pid), f"timer {pid} still runs"


def test_a_confirmed_commit_forks_its_timer_instead_of_starting_an_interpreter(router):
    """The timer used to be ``python frr_shell.py revert-after …``: a second interpreter start per
    commit, while vtysh reads the running config back. A fork runs the same code, and holds no lock
    (the confirmation below takes it)."""
    proc = router("load-commit confirmed 30 show-running", f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    timer = _timer(router.root)
    cmdline = Path(f"/proc/{timer}/cmdline").read_bytes().split(b"\0")
    assert cmdline[-5:] == [b"--dir", str(router.root).encode(), b"--name", b"edge", b""]  # the login shell's
    assert router("commit-confirm").returncode == 0
    _gone(timer)
