"""A Nornir SimpleInventory folder, unchanged, is an enforcer inventory: a real ``InitNornir`` loads
the same files and the two agree on every resolved value (attributes, data, connection options)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nornir import InitNornir

from enforcer.inventory import DEVICE_KEYS, PLATFORM_ALIASES, InventoryError, Platform, load_inventory

INVENTORY = Path(__file__).parent / "fixtures" / "nornir"


@pytest.fixture(scope="module")
def nornir_hosts():
    nr = InitNornir(
        runner={"plugin": "serial"},
        logging={"enabled": False},
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(INVENTORY / "hosts.yaml"),
                "group_file": str(INVENTORY / "groups.yaml"),
                "defaults_file": str(INVENTORY / "defaults.yaml"),
            },
        },
    )
    return nr.inventory.hosts


@pytest.fixture(scope="module")
def devices():
    return load_inventory(INVENTORY).devices


def _plain(value):
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def test_both_see_the_same_hosts(nornir_hosts, devices) -> None:
    assert set(nornir_hosts) == set(devices)


def test_connection_attributes_agree(nornir_hosts, devices) -> None:
    for name, host in nornir_hosts.items():
        dev = devices[name]
        assert (dev.hostname, dev.port, dev.username, _plain(dev.password)) == (
            host.hostname, host.port, host.username, host.password), name  # fmt: skip
        assert dev.platform == Platform(PLATFORM_ALIASES.get(host.platform, host.platform)), name


def test_every_data_key_agrees(nornir_hosts, devices) -> None:
    """Nornir's ``host[key]`` for every key it knows, against enforcer's field or its kept data."""
    for name, host in nornir_hosts.items():
        dev = devices[name]
        keys = set(host.keys())
        assert keys == (set(dev.data) | {k for k in DEVICE_KEYS if k in dev.model_fields_set} - {
            "hostname", "port", "platform", "napalm_driver", "username", "password"}), name  # fmt: skip
        for key in keys:
            ours = dev.data[key] if key in dev.data else getattr(dev, key)
            theirs = host[key]
            if isinstance(ours, tuple):
                theirs = tuple(theirs)
            assert ours == theirs, (name, key)


def test_groups_resolve_in_nornirs_extended_order(nornir_hosts, devices) -> None:
    for name, host in nornir_hosts.items():
        assert list(devices[name].groups) == [g.name for g in host.extended_groups()], name


def test_every_connection_option_agrees(nornir_hosts, devices) -> None:
    for name, host in nornir_hosts.items():
        dev = devices[name]
        assert set(dev.connection_options) == {"napalm", "netmiko"}
        for conn, ours in dev.connection_options.items():
            theirs = host.get_connection_parameters(conn)
            assert (ours.hostname, ours.port, ours.username, _plain(ours.password), ours.platform, ours.extras) == (
                theirs.hostname, theirs.port, theirs.username, theirs.password, theirs.platform, theirs.extras,
            ), (name, conn)  # fmt: skip


def test_enforcer_keys_under_data_drive_the_device(devices) -> None:
    border = devices["ams-border1"]
    assert border.role == "border"  # group "border" comes before the defaults' role: edge
    assert border.optional_args["enforcer_upstream_group"] == "UPSTREAM"
    assert border.napalm_driver == "junos"  # from Nornir's platform
    nxos = devices["nyc-edge1"]
    assert (nxos.platform, nxos.napalm_driver) == (Platform.NXOS, "nxos_ssh")
    assert nxos.credentials() == ("local-admin", "defaults-secret")  # no *_env named: the inventory's own


def test_defaults_top_level_attributes_survive_beside_data(devices) -> None:
    assert devices["ams-edge1"].port == 22 and devices["ams-edge1"].transport.value == "offline"


def test_a_named_environment_variable_beats_the_inventory_password(tmp_path, monkeypatch) -> None:
    inv = shutil.copytree(INVENTORY, tmp_path / "inv")
    hosts = (inv / "hosts.yaml").read_text().replace("    rack: r12\n", "    rack: r12\n    password_env: AMS_PW\n")
    (inv / "hosts.yaml").write_text(hosts)
    monkeypatch.setenv("AMS_PW", "from-env")
    assert load_inventory(inv).devices["ams-edge1"].credentials() == ("cisco-admin", "from-env")


def test_a_typo_at_the_top_of_a_host_names_file_and_key(tmp_path) -> None:
    inv = shutil.copytree(INVENTORY, tmp_path / "inv")
    (inv / "hosts.yaml").write_text((inv / "hosts.yaml").read_text() + "lon-edge1:\n  hostname: 192.0.2.34\n  rol: edge\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(inv)
    assert err.value.problems == [
        f"{inv / 'hosts.yaml'}: lon-edge1.rol: not a Nornir attribute or an enforcer key (other keys go under data:)"
    ]


def test_a_group_cycle_is_one_problem_not_a_recursion_error(tmp_path) -> None:
    inv = shutil.copytree(INVENTORY, tmp_path / "inv")
    (inv / "groups.yaml").write_text((inv / "groups.yaml").read_text().replace("global:\n", "global:\n  groups: [eu]\n"))
    with pytest.raises(InventoryError) as err:
        load_inventory(inv)
    assert any("group 'eu' belongs to itself" in p or "group 'global' belongs to itself" in p
               for p in err.value.problems), err.value.problems  # fmt: skip


def test_enforcer_renders_and_validates_a_nornir_inventory(cli) -> None:
    code, out, err = cli("--inventory", str(INVENTORY), "validate")
    assert code == 0, out + err
    code, out, err = cli("--inventory", str(INVENTORY), "block", "198.51.100.7", "--violation", "spam", "--reason", "t")
    assert code == 0, err
    code, out, err = cli("--inventory", str(INVENTORY), "render", "ams-edge1")
    assert code == 0, err
    assert "interface GigabitEthernet0/0/1" in out
