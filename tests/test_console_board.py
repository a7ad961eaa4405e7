"""The console's device board: the section a verified push left is rendered off the push worker."""

from __future__ import annotations

import threading

from enforcer.console.board import DeviceBoard, digest
from enforcer.inventory import Platform, Transport
from enforcer.plan import failed_plan
from enforcer.push import PushResult

PLAN = failed_plan("edge", Platform.FRR, Transport.NAPALM, "")
OK = PushResult(device="edge", ok=True, changed=True, summary="+1 ~0 -0")


def _wait(probe, what: str) -> None:
    done = threading.Event()
    for _ in range(500):
        if probe():
            return
        done.wait(0.01)
    raise AssertionError(f"never: {what}")


def test_done_returns_before_the_render_and_the_device_is_busy_until_it_is_in():
    release, calls = threading.Event(), []

    def render(device: str) -> str:
        calls.append(threading.current_thread().name)
        release.wait(10)
        return "section v1"

    board = DeviceBoard(render)
    board.begin_pass(["edge"])
    board.done(PLAN, OK)  # would block here if the worker rendered
    assert board.state("edge", "section v1").state == "busy"
    release.set()
    _wait(lambda: board.state("edge", "section v1").state == "in sync", "in sync")
    assert calls and all(name.startswith("board") for name in calls), calls
    assert board.state("edge", "section v2").state == "drifted"


def test_a_push_while_the_render_runs_is_rendered_again_and_the_last_one_shows():
    sections, gate, started = iter(["old", "new"]), threading.Event(), threading.Event()

    def render(device: str) -> str:
        started.set()
        gate.wait(10)
        return next(sections)

    board = DeviceBoard(render)
    board.done(PLAN, OK)
    assert started.wait(10)
    board.done(PLAN, OK)  # while the first render runs
    gate.set()
    _wait(lambda: board.state("edge", "new").state == "in sync", "the second render")


def test_a_failed_push_or_render_never_claims_in_sync():
    board = DeviceBoard(lambda device: (_ for _ in ()).throw(RuntimeError("store gone")))
    board.done(PLAN, OK)
    _wait(lambda: board.state("edge", "x").state != "busy", "the render to finish")
    assert board.state("edge", "x").state == "unknown"
    board.done(PLAN, OK.model_copy(update={"ok": False, "error": "commit refused"}))
    assert board.state("edge", "x").state == "failing"
    assert board.state("edge", "x").last_error == "commit refused"
    assert digest("x") != digest("y")
