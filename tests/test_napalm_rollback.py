"""Issue 11.2 on the NAPALM platforms: a rollback takes back enforcer's own change and nothing else.

NAPALM's own ``rollback()`` restores a whole configuration: IOS ``configure revert`` or ``configure
replace``, NX-OS ``rollback running-config file``, EOS ``configure session … abort``; IOS XR's
``roll-back-configuration-last 1`` and Junos ``rollback 1`` take back the *last* commit, which
after a NOC edit is the operator's. Here NAPALM's real drivers run over sessions that answer
and change state as the devices do (:mod:`tests.napalm_devices`, :mod:`tests.napalm_ios`), starting from the vendor-format
running configs of ``tests/fixtures/running``. Enforcer commits a change (a null route replaced by
another), the operator edits the box, enforcer rolls back: the operator's edit is still there, the
route enforcer added is gone and the one it removed is back. No real device is involved.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest
from jnpr.junos.utils.config import Config
from napalm.eos.eos import EOSDriver
from napalm.ios.ios import IOSDriver
from napalm.iosxr_netconf.iosxr_netconf import IOSXRNETCONFDriver
from napalm.junos.junos import JunOSDriver
from napalm.nxos_ssh.nxos_ssh import NXOSSSHDriver

from enforcer.drivers.napalm import NapalmDriver
from enforcer.inventory import Platform, load_inventory
from enforcer.plan import diff_counts
from enforcer.push import settle_pending
from enforcer.render import build_section, render_push, render_section
from tests.napalm_devices import CliBox, EosEapi, JunosBox, NxosSsh, XrNetconf
from tests.napalm_ios import IosSsh
from tests.test_running_fixtures import EDGE, REPO, T0, enforced_set, running

INVENTORY = load_inventory(REPO / "inventory" / "example")


class Nxos:
    platform, napalm = Platform.NXOS, NXOSSSHDriver

    def __init__(self):
        self.box = CliBox(running(self.platform, "enforced"))

    def attach(self, drv) -> None:
        drv.device = drv._netmiko_device = NxosSsh(self.box)

    def operator_edit(self) -> None:
        self.box.merge("ip route 192.0.2.77/32 Null0\n")

    def config(self) -> set:
        return self.box.paths()


class IosXr(Nxos):
    platform, napalm = Platform.IOSXR, IOSXRNETCONFDriver

    def __init__(self):
        self.box = CliBox(running(self.platform, "enforced"))
        self.session = XrNetconf(self.box)

    def attach(self, drv) -> None:
        drv.device = self.session

    def operator_edit(self) -> None:  # a commit of its own, as the NOC makes on IOS XR
        self.session.edit_config(f'<config><cli xmlns="{XrNetconf.NS}">router static\n address-family ipv4 unicast\n'
                                 "  192.0.2.77/32 Null0\n</cli></config>")
        self.session.commit()


class Eos(Nxos):
    platform, napalm = Platform.EOS, EOSDriver

    def __init__(self):
        self.box = CliBox(running(self.platform, "enforced"))
        self.eapi = EosEapi(self.box)

    def attach(self, drv) -> None:  # NAPALM's own open() then runs, over this Node
        drv.device = self.eapi
        EOSDriver.open(drv)


class Ios(Nxos):
    platform, napalm = Platform.IOS, IOSDriver

    def __init__(self):
        self.box = CliBox(running(self.platform, "enforced"))

    def attach(self, drv) -> None:
        self.ssh = IosSsh(self.box, drv.username)
        drv.device, drv._dest_file_system = self.ssh, "flash:"
        drv._xfer_file = self.transfer

    def transfer(self, source_file=None, source_config=None, dest_file=None, file_system=None, **_kw):
        """The transfer itself (netmiko's SCP or TCL FileTransfer): the file lands in the box's flash."""
        text = Path(source_file).read_text() if source_file else source_config
        self.ssh.flash[f"{file_system}/{dest_file}"] = text
        return True, "File successfully transferred to remote device"

    def operator_edit(self) -> None:
        self.box.merge("ip route 192.0.2.77 255.255.255.255 Null0\n")


class Junos:
    platform, napalm = Platform.JUNOS, JunOSDriver

    def __init__(self):
        self.box = JunosBox(running(self.platform, "enforced"))

    def attach(self, drv) -> None:
        drv.device._conn = self.box
        drv.device.connected = True
        drv.device.bind(cu=Config)

    def operator_edit(self) -> None:  # on Junos the operator's commit also confirms enforcer's
        self.box.operator_commit("set routing-options static route 192.0.2.77/32 discard")

    def config(self) -> set:
        return set(self.box.running)


BOXES = [Ios, Nxos, IosXr, Eos, Junos]


@pytest.fixture(autouse=True)
def user(monkeypatch) -> None:
    monkeypatch.setenv("NOC_USER", "noc")  # IOS confirms only a timer its own user started


def _driver(box) -> NapalmDriver:
    name, _ = EDGE[box.platform]
    dev = INVENTORY.device(name).model_copy(update={"username_env": "NOC_USER", "password_env": None})
    offline = type(f"Offline{box.napalm.__name__}", (box.napalm,),
                   {"open": lambda self: box.attach(self), "close": lambda self: None})  # fmt: skip
    return NapalmDriver(dev, network_driver=offline)


def _desired(platform: Platform) -> str:
    """The fixture's enforced set with null route 201 (203.0.113.7) replaced by 202 (203.0.113.9)."""
    name, customer = EDGE[platform]
    now = enforced_set(customer)
    new = now[2].model_copy(update={"id": 202, "decision_id": 202, "target": ip_network("203.0.113.9/32")})
    wanted = [e for e in now if e.id != 201] + [new]
    return render_section(build_section(INVENTORY.device(name), wanted, INVENTORY, at=T0))


def _lines(section: str) -> list[str]:
    """A section's lines, order aside: the CLIs print blocks in their own order (NX-OS, IOS XR)."""
    return sorted(section.splitlines())


def _commit(drv: NapalmDriver, desired: str) -> str:
    """What push_plan does up to the commit; returns the section before it."""
    before = drv.get_managed_section()
    removed = diff_counts(before.splitlines(), desired.splitlines())[3]
    with drv.same_moment():
        drv.load_merge_candidate(render_push(drv.device, desired, before, removed))
        drv.set_desired_section(desired)
        drv.commit_config(revert_in=60)
    return before


@pytest.mark.parametrize("box_type", BOXES, ids=lambda b: b.platform.value)
def test_a_rollback_takes_back_enforcers_change_and_keeps_the_operators_edit(box_type):
    box = box_type()
    original = box.config()
    desired = _desired(box.platform)
    with _driver(box) as drv:
        before = _commit(drv, desired)
        assert _lines(drv.get_managed_section()) == _lines(desired), "the commit landed as rendered"
        box.operator_edit()
        edited = box.config()
        drv.rollback()
        assert _lines(drv.get_managed_section()) == _lines(before)
        assert not drv.has_pending_commit()
    operators = edited - box.config()
    assert not any("192.0.2.77" in str(p) for p in operators), "the NOC's edit survived"
    assert any("192.0.2.77" in str(p) for p in box.config())
    assert {p for p in box.config() if "192.0.2.77" not in str(p)} == original, "enforcer's change, and only it, undone"


def test_junos_rollback_of_a_pending_commit_confirms_it_then_merges_the_undo_so_the_box_never_reverts_whole():
    box = Junos()
    original = set(box.box.running)
    with _driver(box) as drv:
        _commit(drv, _desired(Platform.JUNOS))
        assert drv.has_pending_commit()
        drv.rollback()
        assert not drv.has_pending_commit()
    assert set(box.box.running) == original
    assert not box.box.confirmed, "nothing is left for the box's timer"


def test_a_pending_commit_left_by_a_dead_pusher_is_confirmed_and_left_for_the_push_not_rolled_back_whole():
    """A new session has no record of what the dead pusher changed: NAPALM's rollback would restore
    the box's whole previous configuration. It is confirmed instead; the pass then pushes over it."""
    box = Junos()
    with _driver(box) as dead:
        _commit(dead, _desired(Platform.JUNOS))
    box.box.operator_commit("set routing-options static route 192.0.2.77/32 discard")
    box.box._load("set groups ENFORCER routing-options static route 203.0.113.44/32 discard")
    box.box._commit(confirmed=True)  # a later enforcer commit-confirm, pending when its pusher died
    with _driver(box) as drv:
        said = settle_pending(drv, _desired(Platform.JUNOS))
        assert "confirmed" in said and not drv.has_pending_commit()
    assert "set routing-options static route 192.0.2.77/32 discard" in box.box.running
