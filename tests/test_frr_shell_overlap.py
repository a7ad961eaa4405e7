"""The router starts on a commit before its text has arrived: the applier takes the lock and begins
the ``if-running`` read of the running config (0.5-1.6 s of staticd at 10,000 routes) while the
driver computes the undo and sends the file, instead of after. Run against the real shell with a
stand-in ``vtysh`` (the recovery tests' one, which also notes each read); the live FRR cases are
in ``tests/lab``."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from enforcer.drivers import frr_shell
from enforcer.drivers.base import DeviceUnreachable
from enforcer.drivers.frr import FrrDriver
from enforcer.inventory import Device, Platform

from .helpers import frr_shell_exec
from .test_frr_shell_recovery import CANDIDATE, FAKE_VTYSH, UNDO

#: Only a deadline, so a regression fails instead of hanging: never a bound on how fast it is.
DEADLINE = 15.0
NOTING_VTYSH = FAKE_VTYSH.replace(
    'case " $* " in *" show running-config "*) cat',
    'case " $* " in *" show running-config "*) echo read >> "$APPLIED.reads"; cat',
)


@pytest.fixture
def shell(tmp_path: Path):
    """``start(command)``: one SSH exec of the real shell, its stdin left open (a Popen)."""
    root, exec_of = frr_shell_exec(tmp_path, NOTING_VTYSH)
    applied = root / "applied.conf"

    def start(command: str) -> subprocess.Popen[str]:
        argv, env = exec_of(command)
        return subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    start.root, start.applied = root, applied  # type: ignore[attr-defined]
    return start


def _appears(path: Path) -> bool:
    deadline = time.monotonic() + DEADLINE
    while not path.exists() and time.monotonic() < deadline:  # a poll with a deadline, not a timing bound
        time.sleep(0.02)
    return path.exists()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_if_running_read_starts_before_the_candidate_arrives(shell):
    proc = shell(f"load-commit if-running {_sha('')} show-running")
    reads = Path(f"{shell.applied}.reads")
    read_before_text = _appears(reads)
    out, _ = proc.communicate(f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO}{frr_shell.END_MARK}\n", timeout=60)
    assert read_before_text, "the router waited for the whole text before reading its config"
    assert proc.returncode == 0, out
    assert shell.applied.read_text() == CANDIDATE and frr_shell.RUNNING_MARK in out
    assert reads.read_text().count("read") == 2  # if-running and the read-back: no third


def test_a_stale_config_is_still_refused_with_nothing_applied(shell):
    planned_on = "ip route 192.0.2.99/32 Null0\n"  # a NOC route the router no longer runs
    proc = shell(f"load-commit if-running {_sha(planned_on)} show-running")
    out, _ = proc.communicate(f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO}{frr_shell.END_MARK}\n", timeout=60)
    assert proc.returncode == frr_shell.STALE_REFUSED, out
    assert not shell.applied.exists()


def test_a_login_shell_killed_before_the_text_arrived_applies_nothing_and_frees_the_router(shell):
    proc = shell(f"load-commit confirmed 30 if-running {_sha('')} show-running hold")
    assert _appears(Path(f"{shell.applied}.reads"))  # the applier runs and holds the lock
    proc.stdin.write(CANDIDATE)  # half of the text: no undo, no end
    proc.stdin.flush()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    after = shell("commit-pending")  # waits for the router's lock: the applier must let it go
    out, _ = after.communicate("", timeout=60)
    assert after.returncode == 0 and out.strip() == "", out  # no commit pending
    assert not shell.applied.exists()
    assert not (shell.root / "commits" / "undo.conf").exists()


# ---------------------------------------------------------------- a held stream cut before its end mark

BEFORE = "ip route 192.0.2.1/32 Null0\n"  # the operator's route, already on the router
UNDO_LINES = "no ip route 203.0.113.9/32 Null0 tag 667\nno ip route 203.0.113.10/32 Null0 tag 667\n"
WHOLE = f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO_LINES}{frr_shell.END_MARK}\n"


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(WHOLE.index(frr_shell.UNDO_MARK) + 3, id="in-the-undo-mark"),
        pytest.param(WHOLE.index(frr_shell.UNDO_MARK) + len(frr_shell.UNDO_MARK) + 1, id="right-after-the-undo-mark"),
        pytest.param(WHOLE.index("no ip route 203.0.113.10"), id="mid-undo-on-a-line-boundary"),
        pytest.param(WHOLE.index("203.0.113.10/32 Null0 tag 667\n!!"), id="mid-undo-mid-line"),
        pytest.param(WHOLE.index(frr_shell.END_MARK), id="the-whole-undo-but-no-end-mark"),
    ],
)
def test_a_held_commit_cut_before_its_end_mark_is_refused_and_the_router_is_unchanged(shell, cut):
    """The held channel stays open after the text, so only the end mark says the undo arrived
    whole: a candidate applied with half its undo could never be taken back (the timer's revert,
    a rollback would put back half of enforcer's lines)."""
    shell.applied.write_text(BEFORE)
    proc = shell("load-commit confirmed 30 show-running hold")
    out, _ = proc.communicate(WHOLE[:cut], timeout=60)  # the stream ends there: the session was cut
    assert proc.returncode == frr_shell.INCOMPLETE_REFUSED, out
    assert "did not arrive whole" in out and "nothing applied" in out
    assert frr_shell.AWAIT_MARK not in out and frr_shell.RUNNING_MARK not in out
    assert shell.applied.read_text() == BEFORE
    commits = shell.root / "commits"
    assert not (commits / "undo.conf").exists() and not (commits / "pending.json").exists()
    assert not (commits / "inflight").exists()


def test_a_held_commit_that_arrives_whole_is_applied_and_waits_for_its_confirmation(shell):
    shell.applied.write_text(BEFORE)
    proc = shell("load-commit confirmed 30 show-running hold")
    proc.stdin.write(WHOLE)
    proc.stdin.flush()
    said = []
    while (line := proc.stdout.readline()) and line != frr_shell.AWAIT_MARK + "\n":
        said.append(line)
    assert line, "".join(said)
    proc.stdin.write("commit-confirm\n")
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    assert shell.applied.read_text() == BEFORE + CANDIDATE
    assert (shell.root / "commits" / "undo.conf").read_text() == UNDO_LINES
    assert not (shell.root / "commits" / "pending.json").exists()  # confirmed


def test_a_held_stream_that_stalls_before_its_end_mark_is_no_text():
    """The other way a stream is cut: it stays open and the end mark never comes. The login shell
    stops waiting at its deadline (the applier's own is :data:`~.frr_shell.TEXT_TIMEOUT`) and
    passes on no text, which the applier refuses like a stream that ended."""
    read, write = os.pipe()
    try:
        os.write(write, WHOLE[: WHOLE.index(frr_shell.END_MARK)].encode())
        stdin = frr_shell._Stdin(read)
        assert stdin.ended_by(frr_shell.END_LINE, deadline=time.time() + 0.2) is None
        os.write(write, WHOLE[WHOLE.index(frr_shell.END_MARK) :].encode())
        assert stdin.ended_by(frr_shell.END_LINE, deadline=time.time() + DEADLINE) == WHOLE.encode()[: -len(
            frr_shell.END_LINE) + 1]  # fmt: skip
    finally:
        os.close(read)
        os.close(write)


class _Replying(FrrDriver):
    """The driver over a router whose ``load-commit`` answers ``reply`` (status, text)."""

    def __init__(self, reply: tuple[int, str]):
        super().__init__(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
        self.reply, self.execs = reply, []
        self._conn = object()  # "open"

    def _exec(self, command, stdin=None, timeout=None, hold=False):
        self.execs.append(command.split()[0])
        return self.reply if command.startswith("load-commit") else (0, BEFORE)


def test_a_cut_stream_the_router_refused_is_a_refusal_for_the_push_never_a_rollback(shell):
    """Should the driver still hear the refusal (its stream stalled rather than died): nothing was
    applied, so the push reports a refusal and discards, as for a pending commit."""
    from enforcer.plan import make_plan
    from enforcer.push import push_plan

    proc = shell("load-commit confirmed 30 show-running hold")
    out, _ = proc.communicate(WHOLE[: WHOLE.index(frr_shell.END_MARK)], timeout=60)  # the router's own answer
    router = _Replying((proc.returncode, out))
    result = push_plan(router, make_plan("edge", Platform.FRR, router.device.effective_transport, CANDIDATE, ""),
                       revert_in=30)  # fmt: skip
    assert not result.ok and not result.rolled_back
    assert "did not arrive whole" in result.error and "nothing applied" in result.error
    assert "which undid it" not in result.error  # not a failed commit: no commit happened
    assert router.execs == ["show", "load-commit"]  # the undo's read, the commit: no read-back after, no rollback


class _Channel:
    def __init__(self, log: list[str]):
        self.log = log

    def settimeout(self, _): ...

    def set_combine_stderr(self, _): ...

    def exec_command(self, command: str) -> None:
        self.log.append(f"exec {command.split()[0]}")

    def sendall(self, data: bytes) -> None:
        self.log.append("send")

    def close(self) -> None:
        self.log.append("close")


class _Session:
    def __init__(self, log: list[str]):
        self.log = log

    def get_transport(self):
        return self

    def open_session(self, timeout=None):
        return _Channel(self.log)


def test_the_driver_computes_the_undo_once_the_verb_is_sent_and_a_failure_there_sends_nothing(monkeypatch):
    import enforcer.drivers.frr as frr

    log: list[str] = []
    drv = FrrDriver(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
    drv._conn, drv._known = _Session(log), "hostname edge\n"

    def undo(*args):
        log.append("undo")
        raise ValueError("a bug in the undo")

    monkeypatch.setattr(frr, "undo_candidate", undo)
    drv.load_merge_candidate(CANDIDATE)
    with pytest.raises(ValueError, match="a bug in the undo") as err:
        drv.commit_config(revert_in=30)
    assert not isinstance(err.value, DeviceUnreachable)  # enforcer's error, not "management lost"
    assert log == ["exec load-commit", "undo", "close"]  # the verb first, nothing sent after the failure


RUNNING = "frr version 8.4.4\nhostname edge\n!\nip route 10.64.0.0/32 Null0 tag 667\n!\nend\n"


class _Router(FrrDriver):
    """The driver over a router whose execs answer like the shell: each exec's verb is noted."""

    def __init__(self):
        super().__init__(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
        self.execs: list[str] = []
        self._conn = object()  # "open"

    def _exec(self, command, stdin=None, timeout=None, hold=False):
        self.execs.append(command)
        if command == "show running-config":
            return 0, RUNNING
        if command.startswith("commit-pending"):
            return 0, ("" if command == "commit-pending" else f"{frr_shell.RUNNING_MARK}\n{RUNNING}")
        if command.startswith("load-commit"):
            stdin = stdin() if callable(stdin) else stdin
            return 0, f"{frr_shell.RUNNING_MARK}\n{RUNNING.replace('ip route 10.64.0.0/32 Null0 tag 667', '')}"
        return 0, ""


def test_a_read_ahead_is_what_the_plan_uses_the_question_brings_none_and_the_commit_verifies_it():
    """apply -y reads the config while it starts up (before the lease), with the pending question:
    after the lease neither a second full read nor the question, and the router verifies the read."""
    from enforcer.plan import make_plan
    from enforcer.push import push_plan

    drv = _Router()
    drv.read_ahead()
    assert drv.has_pending_commit() is False
    with drv.same_moment():
        live = drv.get_config()
    assert live == RUNNING
    plan = make_plan("edge", Platform.FRR, drv.device.effective_transport, "", "ip route 10.64.0.0/32 Null0 tag 667\n")
    result = push_plan(drv, plan.model_copy(update={"candidate": "no ip route 10.64.0.0/32 Null0 tag 667\n"}),
                       revert_in=None)  # fmt: skip
    assert result.ok, result.error
    assert drv.execs[0] == "commit-pending show-running"  # one full read, taken ahead with the question
    assert drv.execs[1].startswith("load-commit")
    assert sum(c.startswith(("show running-config", "commit-pending")) for c in drv.execs) == 1
    [commit] = [c for c in drv.execs if c.startswith("load-commit")]
    assert f"if-running {_sha(RUNNING)}" in commit


def test_without_a_read_ahead_the_question_still_brings_the_plans_read():
    drv = _Router()
    assert drv.has_pending_commit() is False
    assert drv.execs == ["commit-pending show-running"]
