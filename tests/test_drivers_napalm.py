"""The NAPALM driver wrapper, run against NAPALM's own ``mock`` driver with canned device answers.

NAPALM's mock keeps real commit-confirmed state (a second confirmed commit while one is pending is
refused) and answers getters from files, so these tests prove what the wrapper adds: credentials
from the environment, the device named in every error, the managed section cut out of the running
config, and commits without a NAPALM revert timer still going through.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from napalm.base.mock import MockDriver

from enforcer.drivers import get_driver
from enforcer.drivers.base import CommitRefused, DriverError
from enforcer.drivers.napalm import NapalmDriver
from enforcer.inventory import Device

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
    _answers(tmp_path, load_merge_candidate__1={}, commit_config__1={}, confirm_commit__1={}, commit_config__2={})
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
    _answers(tmp_path, load_merge_candidate__1={}, commit_config__1={})
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
