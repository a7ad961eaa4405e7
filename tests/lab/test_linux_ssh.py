"""The Linux/nftables driver on a box it reaches only over SSH (keys, host-key checking on).

The box is a namespace with its own sshd (:mod:`enforcer.lab.ssh_host`); the device in the
inventory names its address and a key, no namespace, so the driver cannot but use SSH. What the
box holds is read with ``nft`` inside its namespace — ground truth, not the driver's own reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from enforcer.drivers import get_driver
from enforcer.drivers.base import DriverError
from enforcer.drivers.ssh_runner import SshRunner
from enforcer.inventory import Device, Inventory
from enforcer.lab import probes
from enforcer.lab.proc import run
from enforcer.lab.ssh_host import ssh_only_host
from enforcer.lab.testing import enforcement, push
from enforcer.model import ActionKind, Violation

pytestmark = pytest.mark.lab


@pytest.fixture
def box(tmp_path: Path):
    n = os.getpid() % 10000
    with ssh_only_host(tmp_path / "box", f"ecssh{n}", slot=n) as host:
        yield host


def _device(box, **args) -> Device:
    return Device(name="remote-fw", platform="nftables", role="edge", transport="linux", hostname=box.address,
                  username="root", optional_args={"key_file": str(box.key_file), "known_hosts": str(box.known_hosts),
                                                  "state_dir": "/run/enforcer/linux/remote-fw-ssh", **args})  # fmt: skip


def _box_table(box) -> str:
    """The enforcer table as nft lists it inside the box (empty when absent)."""
    return run(["nft", "list", "table", "inet", "enforcer"], netns=box.netns, check=False).stdout


def test_driver_reaches_a_remote_box_over_ssh_and_replaces_its_table_atomically(box):
    dev = _device(box)
    inventory = Inventory(devices={dev.name: dev})
    with get_driver(dev) as driver:
        assert isinstance(driver.runner, SshRunner)
        desired = push(driver, [enforcement(ActionKind.ACL, "192.0.2.77/32", Violation.SPAM,
                                            params={"protocol": "tcp", "ports": (25,)})], inventory)  # fmt: skip
        assert driver.get_managed_section() == desired
    assert "192.0.2.77" in _box_table(box)


def test_the_revert_timer_runs_on_the_box_after_the_ssh_session_is_gone(box):
    dev = _device(box)
    inventory = Inventory(devices={dev.name: dev})
    with get_driver(dev) as driver:
        first = push(driver, [enforcement(ActionKind.ACL, "192.0.2.77/32")], inventory)
        push(driver, [enforcement(ActionKind.ACL, "192.0.2.88/32")], inventory, revert_in=2)
        assert driver.has_pending_commit()
    # The session is closed; the box restores its checkpoint by itself.
    probes.eventually(lambda: "192.0.2.88" not in _box_table(box), bool, 20)
    table = _box_table(box)
    assert "192.0.2.88" not in table and "192.0.2.77" in table
    with get_driver(dev) as driver:
        assert driver.get_managed_section() == first
        assert not driver.has_pending_commit()


def test_an_unknown_host_key_is_refused_naming_the_device(box, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(DriverError) as err:
        get_driver(_device(box, known_hosts=str(empty))).open()
    assert err.value.device == "remote-fw"
    assert box.address in err.value.reason and "known_hosts" in err.value.reason
