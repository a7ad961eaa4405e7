"""Issue 10.3 for the OpenFlow controller: its own syncs (a switch connecting, the periodic resync,
``sync_all``) write under the switch's push lease like every other pusher, and leave a switch whose
lease another pusher holds alone. A resync with nothing to send takes no lease. The switch is :class:`tests.test_openflow_controller.FakeSwitch`; the
lease is the real one (enforcer.lease) in a SQLite store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

# isort: off
import enforcer.controller  # noqa: F401 - selects os-ken's eventlet hub: it must load before os-ken
from os_ken.lib import hub

# isort: on
from enforcer import lease
from enforcer.controller.app import EnforcerController
from enforcer.controller.pieces import Wanted
from enforcer.store import Store
from tests.test_openflow_controller import DPID, INVENTORY, SWITCH, FakeSwitch, enf, kinds, wait_until

APPLY = "enforcer apply on noc1 pid 4242 [0badc0de]"
CONTROLLER = "openflow controller on noc1 pid 77 [feedf00d]"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'e.db'}")


@pytest.fixture
def switch(store: Store) -> Iterator[FakeSwitch]:
    active = [enf(7, "198.18.0.12")]
    app = EnforcerController(desired=lambda dev: Wanted(active, INVENTORY), devices=lambda: [SWITCH],
                             lease=lambda dev: lease.device_lease(store, dev.name, CONTROLLER))  # fmt: skip
    sw = FakeSwitch(app)
    app.datapaths[DPID] = sw
    yield sw
    sw._loop.kill()


def test_the_controllers_own_sync_leaves_a_switch_another_pusher_holds_alone_and_says_who(switch, store):
    lease.acquire(store, SWITCH.name, APPLY)
    [report] = switch.app.sync_all()
    assert not report.ok and report.error.startswith(f"device busy: pushed by {APPLY} since "), report
    # A full read asks for the flow count, then the table in slices by cookie: reads only.
    assert set(kinds(switch)) == {"aggregate", "flow_stats", "meter_config"}, "read, and nothing written"
    assert lease.current(store, SWITCH.name)[0] == APPLY, "the other pusher's lease is untouched"

    lease.release(store, SWITCH.name, APPLY)
    [report] = switch.app.sync_all()  # the next round
    assert report.ok and report.changes["flows_added"] == 2, report


def test_the_controller_holds_the_lease_while_its_own_sync_runs_and_gives_it_back(switch, store):
    switch.hold_barriers = True
    sync = hub.spawn(switch.app.sync_own, DPID)
    wait_until("the barrier request", lambda: switch.held)
    assert lease.current(store, SWITCH.name)[0] == CONTROLLER
    with pytest.raises(lease.DeviceBusy, match=re.escape(CONTROLLER)):
        lease.acquire(store, SWITCH.name, APPLY)  # a CLI apply now is told the device is busy
    switch.release_barriers()
    assert sync.wait().ok
    assert "flow_mod" in kinds(switch)
    assert lease.current(store, SWITCH.name) is None


def test_a_resync_that_finds_the_switch_as_desired_sends_nothing_and_needs_no_lease(switch, store):
    assert switch.app.sync_own(DPID).ok
    lease.acquire(store, SWITCH.name, APPLY)
    switch.received.clear()
    report = switch.app.sync_own(DPID)
    assert report.ok and not report.changes, report
    assert "flow_mod" not in kinds(switch)


def test_a_switch_that_connects_while_another_pusher_holds_its_lease_is_synced_once_it_is_given_back(
        switch, store, monkeypatch):
    """serve keeps a switch's lease a moment after its last sync (lease.KeptLease): a switch that
    restarted meanwhile (no flow left) must not wait for the next periodic resync. Before, the
    connect sync was told busy once and the switch stayed empty."""
    import enforcer.controller.app as app_module

    monkeypatch.setattr(app_module, "BUSY_RETRY", 0.01)
    lease.acquire(store, SWITCH.name, APPLY)
    connect = hub.spawn(switch.app._sync_logged, DPID, "connect")
    wait_until("a busy connect sync", lambda: switch.app.reports.get(DPID))
    assert "flow_mod" not in kinds(switch)
    lease.release(store, SWITCH.name, APPLY)
    connect.wait()
    report = switch.app.reports[DPID]
    assert report.ok and report.changes["flows_added"] == 2, report
