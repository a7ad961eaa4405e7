"""Inventory values that reach a device: typed before use, never pasted into a shell script.

The Linux driver's device-side scripts once pasted ``optional_args.state_dir`` inside a quoted
string of the revert timer; a quote in it ran a command on the firewall. The last test runs the
real script (in a throwaway network namespace, with the real nft) with such a value and proves
that nothing runs: values travel as positional arguments only.
"""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import ip_network
from pathlib import Path

import pytest

from enforcer.drivers.base import DriverError
from enforcer.drivers.linux import _COMMIT, LinuxDriver
from enforcer.inventory import Attachment, Customer, Device, Inventory, InventoryError, Platform, load_inventory
from enforcer.lab.probes import eventually
from enforcer.resources import EXAMPLE_INVENTORY
from enforcer.validate import validate_limits

FW = Device(name="fw", platform=Platform.NFTABLES, role="edge", attach_interfaces=("eth1",))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("state_dir", "/run/x'; touch /tmp/owned; '"),
        ("state_dir", "/run/$(reboot)"),
        ("state_dir", "relative/dir"),
        ("state_dir", "/run/../etc"),
        ("table", "inet enforcer; flush ruleset"),
        ("table", "inet"),
    ],
)
def test_a_linux_device_with_a_shell_metacharacter_in_its_optional_args_is_refused_naming_the_field(key, value):
    with pytest.raises(DriverError) as err:
        LinuxDriver(FW.model_copy(update={"optional_args": {key: value}}))
    assert str(err.value).startswith(f"fw: optional_args.{key}: ")
    assert "\n" not in str(err.value)


def test_the_commit_script_takes_a_quote_in_its_state_dir_as_data_not_as_a_command(tmp_path: Path):
    owned = tmp_path / "owned"
    state = tmp_path / f"x'; touch {owned}; '"
    table = "table inet enforcer {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t}\n}\n"
    argv = ["unshare", "--net", "sh", "-c", _COMMIT, "sh", str(state), "inet enforcer", "1"]
    proc = subprocess.run(argv, input=table, text=True, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    # The revert timer ran (it removes "pending" once it restored the checkpoint), and ran nothing else.
    assert eventually(lambda: not (state / "pending").exists(), bool, 15)
    assert (state / "checkpoint.nft").exists()
    assert not owned.exists()


def test_validate_names_an_interface_longer_than_linux_allows_on_each_device_it_reaches():
    inv = Inventory(
        devices={"fw": FW, "edge": Device(name="edge", platform=Platform.FRR, role="edge", bgp_asn=65000)},
        customers={
            "cust1": Customer(
                id="cust1", prefixes=(ip_network("203.0.113.0/24"),),
                attachments=(Attachment(device="fw", interface="customer-port-16"),
                             Attachment(device="edge", interface="eth-c1")),
            )
        },
    )  # fmt: skip
    assert validate_limits(inv) == [
        "inventory: customers.cust1.attachments.0.interface: 'customer-port-16' is 16 characters; "
        "nftables on fw allows 15"
    ]


def _example_with(tmp_path: Path, old: str, new: str, file: str = "customers.yaml") -> Path:
    inv = shutil.copytree(EXAMPLE_INVENTORY, tmp_path / "inv")
    text = (inv / file).read_text()
    assert old in text
    (inv / file).write_text(text.replace(old, new, 1))
    return inv


def test_an_inventory_naming_a_16_character_nftables_interface_is_refused_when_loaded_naming_the_field(tmp_path):
    """Issue 11.4 at load time: nft would refuse every push to the box, so no command gets that far."""
    inv = _example_with(tmp_path, "{device: linux-edge1, interface: eth1,", "{device: linux-edge1, interface: customer-port-16,")
    with pytest.raises(InventoryError) as err:
        load_inventory(inv)
    assert err.value.problems == [
        f"{inv / 'customers.yaml'}: acme.attachments.3.interface: 'customer-port-16' is 16 characters; "
        "nftables on linux-edge1 allows 15"
    ]


def test_validate_refuses_a_device_attach_interface_over_the_limit_in_one_line_exit_2(tmp_path, cli):
    inv = _example_with(tmp_path, "attach_interfaces: [eth1, eth2]\n  snapshot: snapshots/linux",
                        "attach_interfaces: [eth1, uplink-to-core-1]\n  snapshot: snapshots/linux", "hosts.yaml")
    code, out, err = cli("--inventory", str(inv), "validate")
    assert code == 2, out + err
    lines = [ln for ln in (out + err).splitlines() if "uplink-to-core-1" in ln]
    assert lines == [f"{inv / 'hosts.yaml'}: linux-edge1.attach_interfaces.1: 'uplink-to-core-1' is 16 characters; "
                     "nftables on linux-edge1 allows 15"], out + err
    assert "Traceback" not in out + err
    code, out, err = cli("--inventory", str(inv), "block", "203.0.113.9", "--violation", "spam", "--reason", "t")
    assert code == 2 and "linux-edge1.attach_interfaces.1" in out + err, out + err
