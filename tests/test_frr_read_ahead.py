"""``enforcer apply -y``'s read-ahead asks the pending question too (issue 12: the removal waited
for it after the lease): the login thread sends ``commit-pending show-running``, and when the router
says none is pending the driver does not ask again under the lease, once. The router's refusal of a
commit over a pending one (exit 3) stays the authority: a commit left pending in between is refused
at commit, never pushed over.

The driver's own exec path (``FrrDriver._exec``, ``_drain``, the held channel) runs against the real
router shell: each exec channel below starts ``enforcer/drivers/frr_shell.py`` with the recovery
tests' stand-in ``vtysh``, as sshd's ``ForceCommand`` would. The live FRR case is
``tests/lab/test_frr_driver.py::test_a_commit_left_pending_after_the_read_aheads_answer_is_refused_at_commit_not_pushed_over``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from enforcer.drivers import frr_shell
from enforcer.drivers.frr import FrrDriver
from enforcer.inventory import Device, Platform
from enforcer.plan import make_plan
from enforcer.push import push_plan

from .helpers import frr_shell_exec
from .test_frr_shell_recovery import FAKE_VTYSH

OPERATOR = "ip route 192.0.2.1/32 Null0\n"  # the NOC's route, already on the router
FIRST = "ip route 203.0.113.9/32 Null0 tag 667\n"
SECOND = "ip route 203.0.113.10/32 Null0 tag 667\n"


class _Exited:
    """``channel.status_event``: set once the shell exited."""

    def __init__(self, proc: subprocess.Popen[bytes]):
        self.proc = proc

    def wait(self, timeout: float | None = None) -> bool:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


class _ShellChannel:
    """One SSH exec channel (paramiko's API, as the driver uses it) whose command is the real shell."""

    def __init__(self, connection: _ShellConnection):
        self.connection = connection
        self.proc: subprocess.Popen[bytes] | None = None

    def settimeout(self, _): ...

    def set_combine_stderr(self, _): ...

    def exec_command(self, command: str) -> None:
        self.connection.execs.append(command)
        argv, env = self.connection.exec_of(command)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)  # fmt: skip
        self.connection.procs.append(self.proc)
        self.status_event = _Exited(self.proc)

    def sendall(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def shutdown_write(self) -> None:
        self.proc.stdin.close()

    def recv(self, size: int) -> bytes:
        return os.read(self.proc.stdout.fileno(), size)

    def recv_exit_status(self) -> int:
        return self.proc.wait(timeout=60)

    def close(self) -> None:
        if self.proc is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()


class _ShellConnection:
    """The driver's SSH connection (``FrrDriver._conn``): every exec channel runs the router shell."""

    def __init__(self, exec_of):
        self.exec_of = exec_of
        self.execs: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def get_transport(self):
        return self

    def open_session(self, timeout=None) -> _ShellChannel:
        return _ShellChannel(self)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)
            proc.stdout.close()


@pytest.fixture
def router(tmp_path: Path):
    """``(driver, run)``: the FRR driver logged into the router, and ``run(command, stdin)``, one SSH
    exec of the shell by someone else (another pusher). Left with no commit pending."""
    root, exec_of = frr_shell_exec(tmp_path, FAKE_VTYSH)
    (root / "applied.conf").write_text(OPERATOR)

    def run(command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        argv, env = exec_of(command)
        return subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True, timeout=60)

    drv = FrrDriver(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
    drv._conn = connection = _ShellConnection(exec_of)
    run.root, run.connection = root, connection  # type: ignore[attr-defined]
    try:
        yield drv, run
    finally:
        drv.close()
        run("commit-rollback")  # a pending commit's timer, cancelled (its undo applied: the test is over)


def _pending_left_by_a_dead_pusher(run) -> None:
    """What a pusher killed inside its confirm window leaves: a commit applied, its timer running."""
    proc = run("load-commit confirmed 30 show-running", f"{FIRST}{frr_shell.UNDO_MARK}\nno {FIRST}")
    assert proc.returncode == 0, proc.stdout
    assert run("commit-pending").stdout.strip(), "no commit pending"


def _push(drv: FrrDriver, desired: str):
    """What ``push.plan_device`` then ``push_plan`` do with a session: ask, plan, push (confirmed)."""
    pending = drv.has_pending_commit()
    with drv.same_moment():
        live = drv.get_managed_section()
    plan = make_plan("edge", Platform.FRR, drv.device.effective_transport, desired, live)
    candidate = "".join(line for line in desired.splitlines(keepends=True) if line not in live)
    return pending, push_plan(drv, plan.model_copy(update={"candidate": candidate}), revert_in=30)


def _asked(execs: list[str]) -> int:
    return sum(command.startswith("commit-pending") for command in execs)


def test_the_read_aheads_none_pending_is_the_pushs_answer_and_is_not_asked_again(router):
    drv, run = router
    drv.read_ahead()
    assert run.connection.execs == ["commit-pending show-running"]  # the question rides on the read
    pending, result = _push(drv, FIRST)
    assert pending is False and result.ok, result.error
    execs = run.connection.execs
    assert _asked(execs) == 1, execs  # no second commit-pending after the lease
    assert [c.split()[0] for c in execs] == ["commit-pending", "load-commit"], execs
    assert " if-running " in execs[1]  # the read-ahead's config, verified by the router
    assert (run.root / "applied.conf").read_text() == OPERATOR + FIRST
    assert not run("commit-pending").stdout.strip()  # confirmed on the commit's own channel


def test_the_answer_counts_once_a_later_push_on_the_session_asks_again(router):
    drv, run = router
    drv.read_ahead()
    assert _push(drv, FIRST)[1].ok
    pending, result = _push(drv, FIRST + SECOND)
    assert pending is False and result.ok, result.error
    assert _asked(run.connection.execs) == 2, run.connection.execs


def test_a_pending_commit_in_the_read_aheads_answer_is_asked_again_under_the_lease(router):
    drv, run = router
    _pending_left_by_a_dead_pusher(run)
    drv.read_ahead()
    assert drv.has_pending_commit() is True  # asked again: settling acts only on the lease's answer
    assert _asked(run.connection.execs) == 2, run.connection.execs


def test_a_commit_left_pending_after_the_read_aheads_answer_is_refused_at_commit_not_pushed_over(router):
    drv, run = router
    drv.read_ahead()  # none pending
    _pending_left_by_a_dead_pusher(run)  # a pusher that died between the read-ahead and the lease
    timer = run.root / "commits" / "pending.json"
    before = timer.read_text()
    pending, result = _push(drv, SECOND)
    assert pending is False  # the read-ahead's answer, not asked again
    assert not result.ok and "commit-confirm is pending" in result.error, result.error
    assert not result.rolled_back and "commit-rollback" not in run.connection.execs
    assert (run.root / "applied.conf").read_text() == OPERATOR + FIRST  # the dead pusher's, nothing over it
    assert timer.read_text() == before  # its revert timer untouched


class _OlderShell(FrrDriver):
    """A router whose shell predates ``commit-pending show-running``: it answers the question alone
    (what ``show_pending`` printed before the option; no config follows)."""

    def __init__(self):
        super().__init__(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
        self.execs: list[str] = []
        self._conn = object()  # "open"

    def _exec(self, command, stdin=None, timeout=None, hold=False):
        self.execs.append(command)
        return 0, (OPERATOR if command == "show running-config" else "")


def test_an_older_shells_answer_without_the_config_is_read_as_before_and_asked_again():
    drv = _OlderShell()
    drv.read_ahead()
    assert drv.has_pending_commit() is False
    assert drv.get_config() == OPERATOR
    assert drv.execs == ["commit-pending show-running", "show running-config", "commit-pending"]
