"""Which runner a Linux device gets, and a remote one that cannot be reached failing with one line."""

import pytest

from enforcer.drivers import get_driver
from enforcer.drivers.base import DriverError
from enforcer.drivers.linux import NetnsRunner
from enforcer.drivers.ssh_runner import SshRunner
from enforcer.inventory import Device

from .helpers import free_port


def _linux(**kw) -> Device:
    return Device(name="fw", platform="nftables", role="edge", transport="linux", **kw)


def test_a_hostname_without_a_namespace_means_ssh():
    assert isinstance(get_driver(_linux(hostname="192.0.2.16")).runner, SshRunner)


def test_a_namespace_or_no_hostname_means_this_machine():
    assert isinstance(get_driver(_linux(hostname="127.0.0.1", netns="lab-edge")).runner, NetnsRunner)
    assert isinstance(get_driver(_linux()).runner, NetnsRunner)


def test_an_unreachable_box_is_a_driver_error_naming_the_device_and_address(tmp_path):
    port = free_port()  # nobody listens there
    dev = _linux(hostname="127.0.0.1", port=port, optional_args={"known_hosts": str(tmp_path / "none")})
    (tmp_path / "none").write_text("")
    with pytest.raises(DriverError) as err:
        get_driver(dev).open()
    assert err.value.device == "fw" and f"127.0.0.1:{port}" in err.value.reason


def test_a_key_that_does_not_open_with_the_passphrase_is_an_authentication_failure(tmp_path, monkeypatch):
    import subprocess

    from enforcer.drivers.base import AuthenticationFailed

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right-passphrase", "-f", str(key)], check=True)
    monkeypatch.setenv("FW_PASSPHRASE", "wrong-passphrase")
    dev = _linux(hostname="127.0.0.1", port=free_port(), password_env="FW_PASSPHRASE",
                 optional_args={"key_file": str(key), "known_hosts": str(tmp_path / "none")})  # fmt: skip
    (tmp_path / "none").write_text("")
    with pytest.raises(AuthenticationFailed) as err:
        get_driver(dev).open()
    assert "authentication failed" in err.value.reason and "FW_PASSPHRASE" in err.value.reason
    assert "cannot reach" not in err.value.reason
