"""``enforcer serve``'s device pipelines (enforcer/pipeline.py), through the API as serve runs them.

Two devices: ``edge1`` (FRR) and ``fw1`` (nftables). Each is a box whose configuration is a file:
what the box holds is what was last committed to it, whoever wrote it (a manual edit is a write to
the file), and reading it is counted, as a router's CLI would log a ``show``. ``edge1`` can be
made slow: its commit waits on a gate, the way a large FRR commit keeps a router busy.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from enforcer import service
from enforcer.api.app import create_app
from enforcer.drivers.offline import OfflineDriver
from enforcer.settings import REPO_ROOT, Settings

from .api.conftest import auth, write_inventory
from .helpers import wait_for


class Box(OfflineDriver):
    """A device whose live section is the file its commits wrote; its session survives between pushes."""

    warm = True

    def __init__(self, device, output_dir: Path, boxes: Boxes):
        super().__init__(device, output_dir=output_dir)
        self.boxes = boxes
        self.dead = False

    @property
    def path(self) -> Path:
        return self.output_dir / f"{self.device.name}.{'nft' if self.device.platform.value == 'nftables' else 'cfg'}"

    def open(self) -> None:
        self.boxes.logins[self.device.name] = self.boxes.logins.get(self.device.name, 0) + 1
        self.boxes.sessions[self.device.name] = self

    def alive(self) -> bool:
        return not self.dead

    def get_managed_section(self) -> str:
        self.boxes.reads[self.device.name] = self.boxes.reads.get(self.device.name, 0) + 1
        return self.path.read_text() if self.path.exists() else ""

    def set_desired_section(self, section: str) -> None:
        self.section = section  # the box takes it at the commit, not before

    def commit_config(self, revert_in: int | None = None) -> None:
        if self.device.name == "edge1":
            self.boxes.committing.set()
            assert self.boxes.gate.wait(60), "the test never opened edge1's gate"
        super().set_desired_section(self.section)
        super().commit_config(revert_in)


class Boxes:
    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.committing = threading.Event()
        self.reads: dict[str, int] = {}
        self.logins: dict[str, int] = {}
        self.sessions: dict[str, Box] = {}

    def holds(self, output: Path, device: str, text: str) -> bool:
        path = output / f"{device}.{'nft' if device == 'fw1' else 'cfg'}"
        return path.exists() and text in path.read_text()


@pytest.fixture
def boxes(tmp_path: Path):
    settings = Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'enforcer.db'}",
                        playbooks=REPO_ROOT / "playbooks", output=tmp_path / "out")
    ctx = service.Context.open(settings)
    found = Boxes()
    ctx.driver_factory = lambda dev: Box(dev, settings.output, found)
    from enforcer.api.tokens import create_token

    token = create_token(ctx.store, "noc", "operator")
    with TestClient(create_app(lambda: ctx, reconcile=True, interval=3600, coalesce=0)) as client:
        pipeline = client.app.state.served.loop
        wait_for(lambda: pipeline.idle(), what="the start-up pass")
        yield client, pipeline, found, settings.output, auth(token)


def block(client, headers, target: str, violation: str = "malware-hosting") -> int:
    r = client.post("/v1/decisions", json={"target": target, "violation": violation}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["decision_id"]


def test_a_slow_frr_commit_delays_neither_the_firewall_of_the_same_decision_nor_its_next_one(boxes):
    client, pipeline, box, out, headers = boxes
    box.gate.clear()
    block(client, headers, "203.0.113.50")  # a null route on both devices
    assert box.committing.wait(30), "edge1 never started its commit"
    wait_for(lambda: box.holds(out, "fw1", "203.0.113.50"), what="the null route on fw1")
    block(client, headers, "203.0.113.51", violation="spam")  # fw1 only: no pass waits for edge1
    wait_for(lambda: box.holds(out, "fw1", "203.0.113.51"), what="the next decision on fw1")
    assert not box.holds(out, "edge1", "203.0.113.50")  # edge1 is still inside its commit
    box.gate.set()
    wait_for(lambda: box.holds(out, "edge1", "203.0.113.50"), what="the null route on edge1")


def test_decisions_that_arrive_during_a_push_all_go_in_the_next_push(boxes):
    client, pipeline, box, out, headers = boxes
    pushes = lambda: sum(e.action == "apply" and e.target == "edge1" for e in client.app.state.served.ctx.store.history(1000))  # noqa: E731
    before = pushes()
    box.gate.clear()
    block(client, headers, "203.0.113.60")
    assert box.committing.wait(30)
    for i in range(61, 66):  # five more while edge1 commits the first
        block(client, headers, f"203.0.113.{i}")
    box.gate.set()
    wait_for(lambda: all(box.holds(out, "edge1", f"203.0.113.{i}") for i in range(60, 66)), what="all six on edge1")
    wait_for(pipeline.idle)
    assert pushes() == before + 2  # the first decision's push, then one for the five that waited


def test_a_decision_wakes_only_the_devices_that_carry_it_and_an_unchanged_device_is_not_read(boxes):
    client, pipeline, box, out, headers = boxes
    edge_passes, edge_reads = pipeline.workers["edge1"].passes, box.reads.get("edge1", 0)
    decision = block(client, headers, "203.0.113.70", violation="spam")  # an ACL: fw1 only
    wait_for(lambda: box.holds(out, "fw1", "203.0.113.70"), what="the spam ACL on fw1")
    wait_for(pipeline.idle)
    assert pipeline.workers["edge1"].passes == edge_passes  # never woken
    assert client.delete(f"/v1/decisions/{decision}", headers=headers).status_code == 200
    wait_for(lambda: not box.holds(out, "fw1", "203.0.113.70"), what="the ACL gone from fw1")
    wait_for(lambda: pipeline.workers["edge1"].passes > edge_passes and pipeline.idle())  # an end wakes all
    assert box.reads.get("edge1", 0) == edge_reads  # ... but edge1's inputs did not move: not read


def test_serve_keeps_one_session_per_device_and_logs_in_again_when_it_died(boxes):
    client, pipeline, box, out, headers = boxes
    logins = box.logins["edge1"]
    block(client, headers, "203.0.113.80")
    block(client, headers, "203.0.113.81")
    wait_for(lambda: box.holds(out, "edge1", "203.0.113.81"), what="the second null route on edge1")
    assert box.logins["edge1"] == logins  # both pushes on the session the start-up pass opened
    box.sessions["edge1"].dead = True  # the router dropped it (a reboot, a killed sshd child)
    block(client, headers, "203.0.113.82")
    wait_for(lambda: box.holds(out, "edge1", "203.0.113.82"), what="the third null route on edge1")
    assert box.logins["edge1"] == logins + 1


def test_the_periodic_full_pass_repairs_a_manual_edit_without_any_decision(tmp_path):
    settings = Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'enforcer.db'}",
                        playbooks=REPO_ROOT / "playbooks", output=tmp_path / "out")
    ctx = service.Context.open(settings)
    found = Boxes()
    ctx.driver_factory = lambda dev: Box(dev, settings.output, found)
    from enforcer.model import Decision

    service.submit(ctx, Decision(target="203.0.113.90", violation="malware-hosting"))
    with TestClient(create_app(lambda: ctx, reconcile=True, interval=0.5, coalesce=0)):
        wait_for(lambda: found.holds(settings.output, "fw1", "203.0.113.90"), what="the start-up pass")
        (settings.output / "fw1.nft").write_text("")  # someone flushed the table by hand
        wait_for(lambda: found.holds(settings.output, "fw1", "203.0.113.90"), what="the drift repaired")


def test_a_lone_decision_is_pushed_at_once_whatever_the_burst_window(tmp_path):
    """serve gathers a burst (``--coalesce``) only when a device is woken during its own push: a
    decision that finds its devices idle is pushed at once. Before, every wake waited the window
    first, so serve's window added itself to every decision's latency (here: an hour)."""
    settings = Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'enforcer.db'}",
                        playbooks=REPO_ROOT / "playbooks", output=tmp_path / "out")
    ctx = service.Context.open(settings)
    found = Boxes()
    ctx.driver_factory = lambda dev: Box(dev, settings.output, found)
    from enforcer.api.tokens import create_token

    token = create_token(ctx.store, "noc", "operator")
    with TestClient(create_app(lambda: ctx, reconcile=True, interval=3600, coalesce=3600)) as client:
        pipeline = client.app.state.served.loop
        wait_for(lambda: pipeline.idle(), what="the start-up pass")
        block(client, auth(token), "203.0.113.95")
        wait_for(lambda: found.holds(settings.output, "edge1", "203.0.113.95"), what="the null route on edge1")
        pipeline.stopping.set()  # the hour-long window is never waited out by the test's shutdown
