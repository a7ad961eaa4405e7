"""The console's device board: a device is in sync when the section of the inputs its last verified
push carried is the section the store renders now; that section is rendered only when a page asks."""

from __future__ import annotations

import threading

from enforcer.console.board import DeviceBoard
from enforcer.push import PushResult

OK = PushResult(device="edge", ok=True, changed=True, summary="+1 ~0 -0")


def _pushed(text: str, calls: list[str]):
    def render() -> str:
        calls.append(threading.current_thread().name)
        return text
    return render


def test_a_push_renders_nothing_and_the_page_renders_the_pushed_section_once():
    calls: list[str] = []
    board = DeviceBoard()
    board.begin_pass(["edge"])
    assert board.state("edge", "section v1").state == "busy"
    board.done("edge", OK, _pushed("section v1", calls))
    assert calls == []  # the push worker returned without rendering
    assert board.state("edge", "section v1").state == "in sync"
    assert board.state("edge", "section v1").summary == "+1 ~0 -0"
    assert len(calls) == 1  # kept for the next page
    assert board.state("edge", "section v2").state == "drifted"
    assert len(calls) == 1


def test_a_decision_stored_while_the_push_ran_shows_the_device_drifted_not_in_sync():
    """Before, the board rendered the store as it stood after the push: a decision stored during the
    push counted as verified on the device. Now it renders what the push carried."""
    board = DeviceBoard()
    board.done("edge", OK, _pushed("route A", []))
    assert board.state("edge", "route A\nroute B").state == "drifted"


def test_a_pass_that_pushed_nothing_new_keeps_the_last_verified_section():
    board = DeviceBoard()
    board.done("edge", OK, _pushed("section v1", []))
    board.begin_pass(["edge"])
    board.done("edge", OK.model_copy(update={"changed": False}), None)
    assert board.state("edge", "section v1").state == "in sync"


def test_a_failed_push_is_failing_a_failed_render_unknown_and_a_device_never_pushed_unknown():
    board = DeviceBoard()
    assert board.state("edge", "x").state == "unknown"
    board.done("edge", OK, lambda: (_ for _ in ()).throw(RuntimeError("store gone")))
    assert board.state("edge", "x").state == "unknown"
    board.done("edge", OK.model_copy(update={"ok": False, "error": "commit refused"}), _pushed("x", []))
    assert board.state("edge", "x").state == "failing"
    assert board.state("edge", "x").last_error == "commit refused"
    board.done("edge", OK, _pushed("x", []))
    assert board.state("edge", "x").state == "in sync"
