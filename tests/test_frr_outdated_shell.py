"""A router whose ``enforcer-frr-shell`` is older than the driver: the push is refused, nothing is
applied, nothing is rolled back, and the error says to deploy the shell (not "commit failed").

The replies are the older shells' own, captured by running them (``tests/fixtures/frr_shell``); the
driver's ``_exec`` stands in for the SSH exec channel that would carry them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer.drivers.base import CommitRefused
from enforcer.drivers.frr import FrrDriver, OutdatedShell
from enforcer.inventory import Device, Platform
from enforcer.plan import make_plan
from enforcer.push import push_plan

REPLIES = Path(__file__).parent / "fixtures" / "frr_shell"
RUNNING = "frr version 8.4.4\nfrr defaults traditional\nhostname edge\n!\nend\n"
DESIRED = "ip route 192.0.2.250/32 Null0 tag 667\n"


class OldShellRouter(FrrDriver):
    """The FRR driver over a router whose login shell answers ``load-commit`` with ``reply``."""

    def __init__(self, reply: str):
        super().__init__(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))
        self.reply, self.execs = reply, []
        self._conn = object()  # "open"

    def _exec(self, command, stdin=None, timeout=None, hold=False):
        self.execs.append(command.split()[0])
        if command == "show running-config":
            return 0, RUNNING
        if command.startswith("load-commit"):
            return 1, self.reply
        return 0, ""


@pytest.mark.parametrize("reply", sorted(p.name for p in REPLIES.glob("*.txt")))
def test_an_older_router_shell_is_named_as_such_and_nothing_is_applied_or_rolled_back(reply):
    router = OldShellRouter((REPLIES / reply).read_text())
    plan = make_plan("edge", Platform.FRR, router.device.effective_transport, DESIRED, "")
    result = push_plan(router, plan, revert_in=30)
    assert not result.ok and not result.rolled_back
    assert "enforcer-frr-shell is older than this enforcer" in result.error, result.error
    assert "deploy it" in result.error and "docs/platforms.md" in result.error
    assert "commit-rollback" not in router.execs  # a rollback would take back the previous commit


def test_an_outdated_shell_is_a_refusal_not_a_failed_commit():
    assert issubclass(OutdatedShell, CommitRefused)
    router = OldShellRouter("% commit failed: line 1: % Unknown command: ip rout\n")  # a real failure stays one
    router.load_merge_candidate(DESIRED)
    with pytest.raises(Exception) as err:
        router.commit_config(revert_in=30)
    assert not isinstance(err.value, OutdatedShell)
