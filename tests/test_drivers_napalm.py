"""The NAPALM driver wrapper, run against NAPALM's own ``mock`` driver with canned device answers.

NAPALM's mock keeps real commit-confirmed state (a second confirmed commit while one is pending is
refused) and answers getters from files, so these tests prove what the wrapper adds: credentials
from the environment, the device named in every error, the managed section cut out of the running
config, and commits without a NAPALM revert timer still going through. The second half runs
NAPALM's real platform drivers over sessions that answer as the devices do, to prove the live
state is read in the format enforcer renders (Junos: ``set``).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from napalm.base.mock import MockDriver
from napalm.eos.eos import EOSDriver
from napalm.ios.ios import IOSDriver
from napalm.iosxr_netconf.iosxr_netconf import IOSXRNETCONFDriver
from napalm.junos.junos import JunOSDriver
from napalm.nxos_ssh.nxos_ssh import NXOSSSHDriver

from enforcer.compose import live_section
from enforcer.drivers import get_driver
from enforcer.drivers.base import CommitRefused, DriverError, extract_managed
from enforcer.drivers.napalm import NapalmDriver
from enforcer.inventory import Device, Platform, load_inventory
from enforcer.plan import make_plan
from enforcer.render import build_section, platform_info, render_section
from tests.test_running_fixtures import EDGE, REPO, T0, enforced_set
from tests.test_running_fixtures import RUNNING as FIXTURES

RUNNING = """\
Building configuration...
!
hostname core1
!
interface GigabitEthernet0/1
 description customer cust1
 ip access-group ENFORCER-IN-V4 in
!
ip access-list extended ENFORCER-IN-V4
 10 remark 7 spam
 10 deny tcp host 203.0.113.10 any eq smtp
 1000000 permit ip any any
ip access-list extended MGMT
 10 permit ip 192.0.2.0 0.0.0.255 any
!
end
"""


def _device(tmp_path: Path, **kw) -> Device:
    fields = {
        "name": "core1",
        "platform": "ios",
        "role": "edge",
        "hostname": "192.0.2.10",
        "port": 2222,
        "napalm_driver": "mock",
        "username_env": "CORE1_USER",
        "password_env": "CORE1_PASS",
        "optional_args": {"path": str(tmp_path)},
    }
    fields.update(kw)
    return Device.model_validate(fields)


def _answers(tmp_path: Path, **files: object) -> None:
    """Canned device answers in NAPALM mock's layout: <method>.<call number> holding JSON."""
    for name, data in files.items():
        (tmp_path / name.replace("__", ".")).write_text(json.dumps(data))


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORE1_USER", "noc")
    monkeypatch.setenv("CORE1_PASS", "s3cret")


def test_credentials_come_from_the_environment_and_port_joins_the_optional_args(tmp_path, creds):
    args = NapalmDriver(_device(tmp_path)).connect_args()
    assert (args["hostname"], args["username"], args["password"]) == ("192.0.2.10", "noc", "s3cret")
    assert args["optional_args"] == {"path": str(tmp_path), "port": 2222}


def test_a_missing_credential_variable_is_named_before_any_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("CORE1_USER", "noc")
    monkeypatch.delenv("CORE1_PASS", raising=False)
    with pytest.raises(DriverError, match="CORE1_PASS is not set") as err:
        NapalmDriver(_device(tmp_path)).open()
    assert err.value.device == "core1"


def test_registry_gives_vendor_platforms_the_napalm_driver(tmp_path):
    assert isinstance(get_driver(_device(tmp_path)), NapalmDriver)
    assert NapalmDriver(_device(tmp_path, napalm_driver=None, platform="iosxr")).driver_name == "iosxr_netconf"


def test_a_device_that_refuses_the_connection_fails_with_its_name(tmp_path, creds):
    dev = _device(tmp_path, optional_args={"path": str(tmp_path), "fail_on_open": True})
    with pytest.raises(DriverError, match="ConnectionException") as err:
        NapalmDriver(dev).open()
    assert err.value.device == "core1"


def test_managed_section_is_cut_from_the_running_config_the_device_returns(tmp_path, creds):
    _answers(tmp_path, get_config__1={"running": RUNNING, "startup": "", "candidate": ""})
    with NapalmDriver(_device(tmp_path)) as drv:
        section = drv.get_managed_section()
    assert "ip access-group ENFORCER-IN-V4 in" in section
    assert " 10 deny tcp host 203.0.113.10 any eq smtp" in section
    assert "MGMT" not in section and "192.0.2.0" not in section


def test_a_merge_the_device_rejects_becomes_a_driver_error_with_the_devices_reason(tmp_path, creds):
    _answers(
        tmp_path,
        load_merge_candidate__1={
            "exception": "napalm.base.exceptions.MergeConfigException",
            "args": ["% Invalid input detected at '^' marker."],
        },
    )
    with NapalmDriver(_device(tmp_path)) as drv, pytest.raises(DriverError, match="Invalid input") as err:
        drv.load_merge_candidate("ip access-list extended ENFORCER-IN-V4\n bogus\n")
    assert err.value.device == "core1"


def test_commit_confirmed_is_pending_until_confirmed_and_cannot_stack(tmp_path, creds):
    running = {"running": RUNNING, "startup": "", "candidate": ""}  # each commit records what it changes
    _answers(tmp_path, load_merge_candidate__1={}, commit_config__1={}, confirm_commit__1={}, commit_config__2={},
             get_config__1=running, get_config__2=running)
    with NapalmDriver(_device(tmp_path)) as drv:
        drv.load_merge_candidate("ip access-list extended ENFORCER-IN-V4\n")
        drv.commit_config(revert_in=60)
        assert drv.has_pending_commit()
        with pytest.raises(CommitRefused, match="Pending commit confirm"):
            drv.commit_config(revert_in=60)
        drv.confirm_commit()
        assert not drv.has_pending_commit()


class _NoRevertDriver(MockDriver):
    """A NAPALM driver without commit-confirmed, like NAPALM's ios and nxos."""

    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        if revert_in is not None:
            raise NotImplementedError("revert_in not implemented")
        super().commit_config(message)


def test_platform_without_commit_confirmed_still_commits_and_says_so(tmp_path, creds):
    _answers(tmp_path, load_merge_candidate__1={}, commit_config__1={},
             get_config__1={"running": RUNNING, "startup": "", "candidate": ""})
    with NapalmDriver(_device(tmp_path), network_driver=_NoRevertDriver) as drv:
        drv.load_merge_candidate("ip access-list extended ENFORCER-IN-V4\n")
        drv.commit_config(revert_in=60)
        assert drv.revert_unsupported
        assert drv._napalm.calls["commit_config"] == 1
        drv.confirm_commit()  # nothing pending: a no-op, not an error
        assert not drv.has_pending_commit()


def test_methods_before_open_fail_with_the_device_name(tmp_path):
    with pytest.raises(DriverError, match="not connected") as err:
        NapalmDriver(_device(tmp_path)).get_config()
    assert err.value.device == "core1"


# ------------------------------------------------------------------ live state in the rendered format
#
# NAPALM's own drivers (junos, ios, iosxr_netconf, eos, nxos_ssh) run unchanged; only the session
# under them is replaced by one that answers as the device does: the Junos box over NETCONF
# (PyEZ sends <get-configuration format=…>, the box replies in that format), the CLI boxes over
# SSH or eAPI, IOS XR over NETCONF with the CLI text in <cli>. The replies are the vendor-format
# running configs of tests/fixtures/running, never enforcer's own render.


class _JunosNetconf:
    """A Junos box's NETCONF session: ``get-configuration`` answered in the format asked for."""

    connected = True
    timeout = 30
    _device_handler = SimpleNamespace(transform_reply=None)

    def __init__(self, as_set: Path, as_text: Path):
        self.files = {"set": ("configuration-set", as_set), "text": ("configuration-text", as_text)}
        self.asked: list[str | None] = []

    def rpc(self, cmd, *filter_xml):
        assert cmd.tag == "get-configuration", cmd.tag
        fmt = cmd.get("format")
        self.asked.append(fmt)
        tag, path = self.files[fmt]
        doc = etree.fromstring(f"<rpc-reply><{tag}>{escape(path.read_text())}</{tag}></rpc-reply>")
        return SimpleNamespace(_NCElement__doc=doc)

    def close_session(self) -> None:
        pass


class _Session:
    """An SSH/eAPI/NETCONF session to a CLI box: the one show command NAPALM's get_config sends."""

    def __init__(self, running: str):
        self.running = running

    def send_command(self, command: str, **_kw) -> str:  # netmiko (ios, nxos_ssh)
        assert command == "show running-config", command
        return self.running

    def run_commands(self, commands, **_kw):  # pyeapi (eos)
        assert commands == ["show running-config"], commands
        return [{"output": self.running}]

    def get_config(self, source: str, filter=None):  # ncclient (iosxr_netconf, CLI encoding)  # noqa: A002
        ns = "http://cisco.com/ns/yang/Cisco-IOS-XR-cli-cfg"
        return SimpleNamespace(xml=f'<rpc-reply><data><cli xmlns="{ns}">{escape(self.running)}</cli></data></rpc-reply>')

    def disconnect(self) -> None:
        pass

    close_session = disconnect
    connection = SimpleNamespace()


def _offline(base: type, platform: Platform, variant: str) -> type:
    """``base`` (a real NAPALM driver) whose open() attaches the device's session instead of dialling."""
    folder = FIXTURES / platform.value

    def open_(self) -> None:
        if base is JunOSDriver:
            self.device._conn = _JunosNetconf(folder / f"{variant}.txt", folder / f"{variant}.curly.txt")
            self.device.connected = True
        else:
            self.device = _Session((folder / f"{variant}.txt").read_text())

    return type(f"Offline{base.__name__}", (base,), {"open": open_, "_netmiko_close": lambda self: None,
                                                      "discard_config": lambda self: None})


NAPALM_CLASSES = {
    Platform.JUNOS: JunOSDriver,
    Platform.IOS: IOSDriver,
    Platform.IOSXR: IOSXRNETCONFDriver,
    Platform.EOS: EOSDriver,
    Platform.NXOS: NXOSSSHDriver,
}


def _read_through_napalm(platform: Platform, variant: str, tmp_path: Path, creds) -> tuple[str, object]:
    """The managed section as NapalmDriver reads it, and the NAPALM driver object that read it."""
    name, _ = EDGE[platform]
    inv = load_inventory(REPO / "inventory" / "example")
    dev = inv.device(name).model_copy(update={"username_env": "CORE1_USER", "password_env": "CORE1_PASS"})
    drv = NapalmDriver(dev, network_driver=_offline(NAPALM_CLASSES[platform], platform, variant))
    with drv:
        return drv.get_managed_section(), drv._napalm


def test_junos_live_state_is_read_as_set_commands_and_an_unchanged_device_plans_no_change(tmp_path, creds):
    """NAPALM's junos default (curly braces) never equals the rendered set lines: read ``set``."""
    section, junos = _read_through_napalm(Platform.JUNOS, "enforced", tmp_path, creds)
    assert junos.device._conn.asked == ["set"]
    inv = load_inventory(REPO / "inventory" / "example")
    device = inv.device("junos-edge1")
    desired = render_section(build_section(device, enforced_set("acme"), inv, at=T0))
    plan = make_plan("junos-edge1", Platform.JUNOS, device.effective_transport, desired, section)
    assert plan.summary() == "+0 ~0 -0", plan.diff
    assert "set protocols bgp group CUSTOMERS neighbor 192.0.2.105 import ENFORCER-HIJACK-acme-V4" in section


@pytest.mark.parametrize("platform", list(NAPALM_CLASSES), ids=str)
@pytest.mark.parametrize("variant", ["enforced", "occupied"])
def test_every_napalm_platform_reads_the_running_config_the_device_prints(tmp_path, creds, platform, variant):
    """What the NAPALM getter hands back is the printed config, so the managed section cut from it
    is the one the render is compared with (and an occupied box has none of enforcer's lines)."""
    section, _ = _read_through_napalm(platform, variant, tmp_path, creds)
    printed = (FIXTURES / platform.value / f"{variant}.txt").read_text()
    # as every driver cuts it (Junos: enforcer's lists whole and last, enforcer.setconf)
    device = load_inventory(REPO / "inventory" / "example").device(EDGE[platform][0])
    assert section == live_section(device, printed, extract_managed(printed, platform_info(platform)))
    assert bool(section) is (variant == "enforced")


def test_the_soft_refresh_after_a_commit_goes_through_napalm_cli_and_a_refusal_names_the_command(tmp_path, creds):
    """IOS needs `clear ip bgp X soft in` after an inbound prefix-list changed (enforcer.refresh):
    the push sends it with NAPALM's ``cli``; the device refusing it is the device's error."""
    refresh = "clear ip bgp 192.0.2.101 soft in"
    (tmp_path / "cli.1.clear_ip_bgp_192_0_2_101_soft_in.0").write_text("")
    (tmp_path / "cli.2.clear_ip_bgp_192_0_2_101_soft_in.0").write_text(
        "clear ip bgp 192.0.2.101 soft in\n                   ^\n% Invalid input detected at '^' marker.\n")
    with NapalmDriver(_device(tmp_path)) as drv:
        drv.run_after_commit([refresh])
        with pytest.raises(DriverError, match="clear ip bgp 192.0.2.101 soft in: .*Invalid input") as err:
            drv.run_after_commit([refresh])
    assert err.value.device == "core1"
