"""Losing a router mid-push: enforcer neither confirms nor tries to roll back, and says the router reverts.

The live proof is ``tests/lab/test_commit_safety.py``; these cases pin each branch of ``push_plan``
with a scripted driver, so the message an operator reads after a bad night is the right one.
"""

from __future__ import annotations

from enforcer.drivers.base import DeviceUnreachable, Driver, DriverError
from enforcer.inventory import Device, Platform
from enforcer.plan import make_plan
from enforcer.push import push_plan

DESIRED = "ip route 192.0.2.250/32 Null0 tag 667\n"


class ScriptedRouter(Driver):
    """A router whose session fails at a chosen step; records what enforcer asked of it."""

    def __init__(
        self, fail_at: str | None = None, error: type[DriverError] = DeviceUnreachable, readback: str = DESIRED
    ):
        super().__init__(Device(name="edge", platform=Platform.FRR, role="edge"))
        self.fail_at, self.error, self.readback = fail_at, error, readback
        self.calls: list[str] = []

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_at:
            raise self.error("edge", f"{name}: no answer within 3s")

    def open(self) -> None: ...

    def close(self) -> None: ...

    def get_facts(self):
        return {}

    def get_config(self) -> str:
        self._step("read")
        return self.readback

    def load_merge_candidate(self, config: str) -> None:
        self._step("load")

    def compare_config(self) -> str:
        return ""

    def commit_config(self, revert_in: int | None = None) -> None:
        self._step("commit")

    def confirm_commit(self) -> None:
        self._step("confirm")

    def discard_config(self) -> None:
        self._step("discard")

    def rollback(self) -> None:
        self._step("rollback")


def _push(router: ScriptedRouter, revert_in: int | None = 30):
    plan = make_plan("edge", Platform.FRR, router.device.effective_transport, DESIRED, "")
    return push_plan(router, plan, revert_in=revert_in)


def test_management_lost_at_read_back_leaves_the_revert_to_the_router():
    router = ScriptedRouter(fail_at="read")
    result = _push(router, revert_in=30)
    assert not result.ok and not result.rolled_back
    assert result.error.startswith(
        "management lost after commit: not confirmed, the device reverts by itself within 30s"
    )
    assert "read: no answer within 3s" in result.error
    assert "confirm" not in router.calls and "rollback" not in router.calls


def test_management_lost_while_committing_says_the_commit_may_have_landed():
    router = ScriptedRouter(fail_at="commit")
    result = _push(router, revert_in=12)
    assert not result.ok
    assert "management lost during commit (it may have been applied)" in result.error
    assert "reverts by itself within 12s" in result.error
    assert router.calls[-1] == "commit", "nothing more is sent to a router that stopped answering"


def test_without_a_revert_timer_the_operator_is_told_to_check_by_hand():
    result = _push(ScriptedRouter(fail_at="read"), revert_in=None)
    assert "no revert timer was set" in result.error and "check the device by hand" in result.error


def test_a_read_back_mismatch_whose_rollback_also_fails_is_left_to_the_timer():
    router = ScriptedRouter(fail_at="rollback", error=DriverError, readback="")
    result = _push(router, revert_in=30)
    assert not result.ok and not result.rolled_back
    assert result.error.startswith("commit not verified and rollback failed: not confirmed, the device reverts")
    assert router.calls[-1] == "rollback"


def test_a_refusal_before_anything_was_sent_is_reported_as_it_was():
    # A router that answers "no" is not a lost router: the candidate is discarded, the reason kept.
    router = ScriptedRouter(fail_at="load", error=DriverError)
    result = _push(router)
    assert result.error == "load: no answer within 3s"
    assert router.calls[-1] == "discard"


def test_a_failed_commit_is_read_back_and_not_rolled_back_when_nothing_landed():
    # The router undid its own failed commit: a rollback now would take back an earlier commit.
    router = ScriptedRouter(fail_at="commit", error=DriverError, readback="")
    result = _push(router)
    assert result.error == "commit: no answer within 3s; nothing changed on the device (read back, verified)"
    assert "rollback" not in router.calls and router.calls[-1] == "read"


class HalfApplied(ScriptedRouter):
    """The commit died with part of the file on the router; the rollback takes it back (or not)."""

    def __init__(self, after_rollback: str):
        super().__init__(fail_at="commit", error=DriverError, readback=HALF)
        self.after_rollback = after_rollback

    def rollback(self) -> None:
        super().rollback()
        self.readback = self.after_rollback


HALF = "ip route 192.0.2.250/32 Null0 tag 667\n"
TWO = HALF + "ip route 192.0.2.251/32 Null0 tag 667\n"


def _push_two(router: ScriptedRouter):
    return push_plan(router, make_plan("edge", Platform.FRR, router.device.effective_transport, TWO, ""))


def test_a_half_applied_commit_is_rolled_back_and_verified_by_reading_the_device():
    router = HalfApplied(after_rollback="")
    result = _push_two(router)
    assert result.rolled_back and result.error.endswith("rolled back, verified (the device holds its previous set)")
    assert router.calls[-3:] == ["read", "rollback", "read"]


def test_a_rollback_that_leaves_part_of_the_change_says_how_much_the_device_holds():
    result = _push_two(HalfApplied(after_rollback=HALF))
    assert result.error.endswith("device holds 1 of 2 new lines: left for the next pass"), result.error


def test_unreachable_before_the_commit_is_a_plain_failure():
    router = ScriptedRouter(fail_at="load")
    result = _push(router)
    assert result.error == "load: no answer within 3s"
    assert "commit" not in router.calls
