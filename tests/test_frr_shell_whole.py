"""No commit of the current driver, held or not, is applied from a cut stream.

A ``load-commit`` streams the candidate, then the file that undoes it, then the end mark. An
unheld commit (``enforcer apply --revert-in 0``: no ``hold``) ends its stdin after the text, and an
older driver's text ends there too with no end mark at all (docs/platforms.md, upgrade order), so
from the stream alone the router cannot tell a session cut mid-undo from an older driver's whole
text: it would apply the candidate and keep half its undo. The driver therefore says its text ends
with the mark (``whole``), and the router refuses such a text cut before it (exit 6, nothing
applied), as it already did for a held one (``tests/test_frr_shell_overlap.py``). An unmarked text
keeps committing at the end of stdin, as documented for older drivers.

Run against the real shell with the recovery tests' stand-in ``vtysh``; the driver's own exec path
(``FrrDriver._exec``) over it as in ``tests/test_frr_read_ahead.py``.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from enforcer.drivers import frr_shell
from enforcer.drivers.base import CommitRefused
from enforcer.drivers.frr import FrrDriver
from enforcer.inventory import Device, Platform

from .helpers import frr_shell_exec
from .test_frr_read_ahead import _ShellChannel, _ShellConnection
from .test_frr_shell_recovery import FAKE_VTYSH

BEFORE = "ip route 192.0.2.1/32 Null0\n"  # the operator's route, already on the router
CANDIDATE = "ip route 203.0.113.9/32 Null0 tag 667\nip route 203.0.113.10/32 Null0 tag 667\n"
UNDO_LINES = "no ip route 203.0.113.9/32 Null0 tag 667\nno ip route 203.0.113.10/32 Null0 tag 667\n"
WHOLE = f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO_LINES}{frr_shell.END_MARK}\n"

#: Where a session can end before the end mark: each leaves a text the router could mistake for whole.
CUTS = [
    pytest.param(WHOLE.index(frr_shell.UNDO_MARK), id="before-the-undo-mark"),
    pytest.param(WHOLE.index(frr_shell.UNDO_MARK) + len(frr_shell.UNDO_MARK) + 1, id="right-after-the-undo-mark"),
    pytest.param(WHOLE.index("no ip route 203.0.113.10"), id="mid-undo-on-a-line-boundary"),
    pytest.param(WHOLE.index("203.0.113.10/32 Null0 tag 667\n!!"), id="mid-undo-mid-line"),
    pytest.param(WHOLE.index(frr_shell.END_MARK), id="the-whole-undo-but-no-end-mark"),
    pytest.param(WHOLE.index(frr_shell.END_MARK) + 5, id="inside-the-end-mark"),
    pytest.param(len(WHOLE) - 1, id="the-end-mark-without-its-newline"),
]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def router(tmp_path: Path):
    """``run(command, stdin)``: one SSH exec of the real shell whose stdin is ``stdin`` and then ends."""
    root, exec_of = frr_shell_exec(tmp_path, FAKE_VTYSH)
    (root / "applied.conf").write_text(BEFORE)

    def run(command: str, stdin: str) -> subprocess.CompletedProcess[str]:
        argv, env = exec_of(command)
        return subprocess.run(argv, env=env, input=stdin, text=True, capture_output=True, timeout=60)

    run.root, run.exec_of = root, exec_of  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        run("commit-rollback", "")  # a pending commit's timer, cancelled (the test is over)


def _unchanged(root: Path) -> None:
    assert (root / "applied.conf").read_text() == BEFORE
    commits = root / "commits"
    assert not (commits / "undo.conf").exists() and not (commits / "pending.json").exists()
    assert not (commits / "inflight").exists()


UNHELD = [
    pytest.param("load-commit show-running whole", id="revert-in-none"),
    pytest.param("load-commit confirmed 0 show-running whole", id="revert-in-0"),
    pytest.param(f"load-commit if-running {_sha(BEFORE)} show-running whole", id="warm-if-running"),
]


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("command", UNHELD)
def test_an_unheld_marked_commit_cut_before_its_end_mark_is_refused_and_the_router_is_unchanged(router, command, cut):
    proc = router(command, WHOLE[:cut])  # the stream ends there: the session was cut
    assert proc.returncode == frr_shell.INCOMPLETE_REFUSED, proc.stdout
    assert "did not arrive whole" in proc.stdout and "nothing applied" in proc.stdout
    assert frr_shell.RUNNING_MARK not in proc.stdout
    _unchanged(router.root)


@pytest.mark.parametrize("command", UNHELD)
def test_an_unheld_marked_commit_that_arrives_whole_is_applied_with_its_whole_undo(router, command):
    proc = router(command, WHOLE)
    assert proc.returncode == 0, proc.stdout
    _, mark, running = proc.stdout.partition(frr_shell.RUNNING_MARK + "\n")
    assert mark and running == BEFORE + CANDIDATE  # the read-back
    assert (router.root / "commits" / "undo.conf").read_text() == UNDO_LINES  # without the end mark
    assert not (router.root / "commits" / "pending.json").exists()  # no timer: nothing to confirm


@pytest.mark.parametrize(
    "command, stdin",
    [
        pytest.param("load-commit show-running", f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO_LINES}",
                     id="no-end-mark"),  # drivers before the end mark (cd8c24c)
        pytest.param("load-commit show-running", WHOLE, id="end-mark-not-announced"),  # drivers before whole
        pytest.param("load-commit confirmed 30 show-running", f"{CANDIDATE}{frr_shell.UNDO_MARK}\n{UNDO_LINES}",
                     id="confirmed-no-end-mark"),
    ],
)  # fmt: skip
def test_an_older_drivers_unmarked_text_still_commits_at_the_end_of_stdin(router, command, stdin):
    """docs/platforms.md promises the new shell first, then enforcer: an older driver's text, which
    ends at the end of stdin, must keep committing until enforcer is upgraded too."""
    proc = router(command, stdin)
    assert proc.returncode == 0, proc.stdout
    assert (router.root / "applied.conf").read_text() == BEFORE + CANDIDATE
    assert (router.root / "commits" / "undo.conf").read_text() == UNDO_LINES


# ---------------------------------------------------------------- the driver marks every commit


class _CutChannel(_ShellChannel):
    """An exec channel whose session dies mid-undo, on a line boundary: the router's stdin ends there."""

    def sendall(self, data: bytes) -> None:
        self.proc.stdin.write(data[: data.rindex(b"\nno ip route") + 1])  # one of the two undo lines
        self.proc.stdin.close()

    def shutdown_write(self) -> None:
        self.proc.stdin.close()  # closed already: the cut


class _CutConnection(_ShellConnection):
    def open_session(self, timeout=None) -> _ShellChannel:
        return _CutChannel(self) if self.cut else _ShellChannel(self)


@pytest.fixture
def driver(router):
    """The FRR driver logged into the router: every exec channel runs the real shell (``cut``: the
    commit's session dies mid-undo)."""
    drv = FrrDriver(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
    drv._conn = connection = _CutConnection(router.exec_of)
    connection.cut = False
    try:
        yield drv, connection
    finally:
        drv.close()


#: Every way the driver commits: ``enforcer apply --revert-in 0`` (None), a zero timer, the default
#: confirmed push (held); planned on a read in this push (cold) or on the session's last one (warm).
PATHS = [pytest.param(revert_in, warm, id=f"revert-in-{revert_in}-{'warm' if warm else 'cold'}")
         for revert_in in (None, 0, 30) for warm in (False, True)]  # fmt: skip


def _commit(drv: FrrDriver, revert_in: int | None, warm: bool) -> None:
    if warm:
        drv._known = BEFORE  # the last read-back: the router verifies it (if-running)
    drv.load_merge_candidate(CANDIDATE)
    drv.commit_config(revert_in=revert_in)


@pytest.mark.parametrize("revert_in, warm", PATHS)
def test_every_commit_the_driver_sends_says_whole_and_a_cut_one_is_refused_with_nothing_applied(
    router, driver, revert_in, warm
):
    drv, connection = driver
    connection.cut = True
    with pytest.raises(CommitRefused, match="did not arrive whole") as err:
        _commit(drv, revert_in, warm)
    assert "nothing applied" in str(err.value)
    [command] = [c for c in connection.execs if c.startswith("load-commit")]
    assert command.split()[-1] == "whole", command
    _unchanged(router.root)


@pytest.mark.parametrize("revert_in, warm", PATHS)
def test_every_commit_the_driver_sends_whole_is_applied(router, driver, revert_in, warm):
    drv, connection = driver
    _commit(drv, revert_in, warm)
    if revert_in:
        drv.confirm_commit()  # on the held channel
    assert (router.root / "applied.conf").read_text() == BEFORE + CANDIDATE
    undo = (router.root / "commits" / "undo.conf").read_text()
    assert sorted(undo.splitlines()) == sorted(UNDO_LINES.splitlines())  # whole (in the driver's order)
    assert not (router.root / "commits" / "pending.json").exists()
