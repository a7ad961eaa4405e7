"""OpenFlowDriver against a stand-in controller socket: plan reads live flows, apply means "resync now".

No switch and no os-ken here: a thread answers the control protocol the way the real controller
does, so these tests show what the driver asks and how it reports a controller that is down,
a switch that is not connected, or a sync the switch refused.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enforcer.drivers import get_driver
from enforcer.drivers.base import DriverError
from enforcer.drivers.openflow import OpenFlowDriver
from enforcer.inventory import Device
from enforcer.plan import make_plan
from enforcer.push import push_plan

DPID = 0xE4000000000001
LIVE = "cookie=0xe4f0000000000001 priority=41032 ip,nw_dst=198.18.0.12 actions=drop\n"
DESIRED = LIVE + "cookie=0xe4f0000000000001 priority=41032 ip,nw_src=198.18.0.12 actions=drop\n"


class FakeController:
    """Answers like enforcer's controller: ``sync`` makes the switch hold what the store says."""

    def __init__(self, path: Path):
        self.path = path
        self.state = LIVE
        self.store_says = DESIRED
        self.connected = True
        self.sync_error: str | None = None
        self.requests: list[dict] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                req = json.loads(f.readline())
                self.requests.append(req)
                f.write(json.dumps(self._answer(req)).encode() + b"\n")

    def _answer(self, req: dict) -> dict:
        if req["op"] == "switches":
            return {
                "ok": True,
                "switches": [{"dpid": DPID, "device": "sw1", "last_sync": None}] if self.connected else [],
            }
        if req["op"] == "state":
            return {"ok": True, "text": self.state}
        if req["op"] == "sync":
            if self.sync_error:
                return {"ok": False, "error": self.sync_error}
            self.state = self.store_says
            return {"ok": True, "report": {"dpid": DPID, "ok": True, "changes": {"flows_added": 1}}}
        return {"ok": False, "error": "unknown op"}


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[FakeController]:
    fake = FakeController(tmp_path / "controller.sock")
    yield fake
    fake.sock.close()


def switch(controller: FakeController | None, tmp_path: Path | None = None) -> Device:
    path = controller.path if controller else (tmp_path or Path("/nonexistent")) / "nothing.sock"
    return Device(
        name="sw1",
        platform="openflow",
        role="edge",
        transport="openflow",
        datapath_id=DPID,
        optional_args={"controller": f"unix:{path}"},
    )


def test_registry_picks_the_openflow_driver_for_a_live_switch(controller):
    assert isinstance(get_driver(switch(controller)), OpenFlowDriver)


def test_plan_reads_the_live_flows_from_the_controller_not_from_what_was_pushed(controller):
    with OpenFlowDriver(switch(controller)) as drv:
        assert drv.get_managed_section() == LIVE
        controller.state = ""  # someone cleared the switch by hand
        assert drv.get_managed_section() == ""
    assert {"op": "state", "dpid": DPID} in controller.requests


def test_apply_is_one_incremental_resync_then_a_read_back_of_the_switch(controller):
    """Plan has just read the switch (the controller cached it), so the commit asks for an
    incremental sync; "applied" is then decided by reading the switch again, not by the reply."""
    dev = switch(controller)
    plan = make_plan("sw1", dev.platform, dev.effective_transport, DESIRED, LIVE)
    with OpenFlowDriver(dev) as drv:
        result = push_plan(drv, plan)
    assert result.ok and result.changed, result.error
    ops = [(r["op"], r.get("full")) for r in controller.requests]
    assert ops.count(("sync", False)) == 1 and not any(op == "sync" and full for op, full in ops), ops
    assert ("state", None) in ops[ops.index(("sync", False)) + 1 :], "no read-back after the sync"


def test_compare_shows_the_flow_diff_of_the_candidate(controller):
    with OpenFlowDriver(switch(controller)) as drv:
        drv.load_merge_candidate(DESIRED)
        diff = drv.compare_config()
    assert "+cookie=0xe4f0000000000001 priority=41032 ip,nw_src=198.18.0.12 actions=drop" in diff


def test_a_store_that_disagrees_with_the_plan_is_caught_by_the_read_back_and_resynced(controller):
    controller.store_says = ""  # the controller reads another store than the CLI did
    dev = switch(controller)
    plan = make_plan("sw1", dev.platform, dev.effective_transport, DESIRED, LIVE)
    with OpenFlowDriver(dev) as drv:
        result = push_plan(drv, plan)
    assert not result.ok and result.rolled_back and "read-back" in (result.error or "")


def test_a_refused_sync_is_a_driver_error_naming_the_device(controller):
    controller.sync_error = "1 message(s) refused; first: switch error type=12 code=1"
    with OpenFlowDriver(switch(controller)) as drv, pytest.raises(DriverError, match="sw1: 1 message"):
        drv.load_merge_candidate(DESIRED)
        drv.commit_config()


def test_switch_not_connected_fails_open(controller):
    controller.connected = False
    with pytest.raises(DriverError, match="not connected"):
        OpenFlowDriver(switch(controller)).open()


def test_controller_down_fails_open_with_the_socket_path(tmp_path):
    with pytest.raises(DriverError, match="nothing.sock"):
        OpenFlowDriver(switch(None, tmp_path)).open()


def test_device_without_controller_address_is_refused():
    dev = Device(name="sw9", platform="openflow", role="edge", transport="openflow", datapath_id=1)
    with pytest.raises(DriverError, match="optional_args.controller"):
        OpenFlowDriver(dev)


def test_cli_has_the_controller_commands():
    from enforcer.cli import app

    result = CliRunner().invoke(app, ["controller", "--help"])
    assert result.exit_code == 0
    for command in ("run", "state", "sync", "switches"):
        assert command in result.stdout
