"""The inventory that matches a running lab (``inventory/lab/`` by default), in enforcer's own format.

Only the devices enforcer pushes to are listed: the edge's FRR (over SSH, like any router) and the
edge's Linux firewall (nftables in the edge's namespace). The upstream and the customer router
are the outside world — enforcer never configures them — so they appear in ``lab status`` but
not here. Secrets stay out of the files: the inventory names the environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .mgmt import env_names
from .topology import INFRASTRUCTURE, Topology

if TYPE_CHECKING:
    from .state import LabState

EDGE_ROUTER = "edge"
EDGE_FRR_DEVICE = "edge"
EDGE_FW_DEVICE = "edge-fw"


def inventory_data(state: LabState, topology: Topology) -> dict[str, dict[str, Any]]:
    """The YAML documents (file name → content) for ``state``'s lab."""
    user_var, pass_var = env_names(state.name)
    edge = topology.router(EDGE_ROUTER)
    attach = sorted({c.edge_interface for c in topology.customers})
    hosts: dict[str, Any] = {
        EDGE_FRR_DEVICE: {
            "platform": "frr",
            "role": "edge",
            "transport": "frr",
            "hostname": "127.0.0.1",
            "port": state.ports[EDGE_ROUTER],
            "username_env": user_var,
            "password_env": pass_var,
            "bgp_asn": edge.asn,
            "attach_interfaces": list(attach),
            "optional_args": {"key_file": str(state.dir / "ssh" / "id_ed25519")},
        },
        EDGE_FW_DEVICE: {
            "platform": "nftables",
            "role": "edge",
            "transport": "linux",
            "netns": f"{state.name}-{EDGE_ROUTER}",
            "attach_interfaces": list(attach),
            "optional_args": {"state_dir": str(state.dir / "linux" / EDGE_FW_DEVICE)},
        },
    }
    hosts.update(_ovs_hosts(state))
    customers = {
        c.id: {
            "name": f"Lab customer {c.id}",
            "asn": c.asn,
            "prefixes": [str(p) for p in c.prefixes],
            "attachments": [
                {"device": EDGE_FRR_DEVICE, "interface": c.edge_interface, "neighbor": str(c.edge_neighbor),
                 "interconnect": _interconnect(topology, c.edge_interface)},
                # The firewall filters the same port: its anti-spoof must permit the customer's
                # interconnect subnet, or it drops the customer's own BGP session to the edge.
                {"device": EDGE_FW_DEVICE, "interface": c.edge_interface, "neighbor": str(c.edge_neighbor),
                 "interconnect": _interconnect(topology, c.edge_interface)},
            ],
        }
        for c in topology.customers
    }
    settings = {"guardrails": {"protected": [str(INFRASTRUCTURE)]}}
    return {"hosts.yaml": hosts, "customers.yaml": customers, "settings.yaml": settings}


def _interconnect(topology: Topology, interface: str) -> list[str]:
    """The subnet of the edge's link on ``interface`` (the customer's interconnect)."""
    return [str(link.a_if.address.network) for link in topology.links
            if link.a == EDGE_ROUTER and link.a_if.name == interface and link.a_if.address is not None]


def _ovs_hosts(state: LabState) -> dict[str, Any]:
    """The switch devices the Open vSwitch part of the lab contributes."""
    if not state.ovs:
        return {}
    from . import ovs

    return dict(ovs.inventory_hosts(state.dir / "ovs", state.name))


def write_inventory(state: LabState, folder: Path, topology: Topology) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Written by `enforcer lab up --name {state.name}` for the lab in {state.dir}; rewritten on every up.\n"
        f'# Credentials: eval "$(enforcer lab env --name {state.name})"\n'
    )
    for fname, data in inventory_data(state, topology).items():
        (folder / fname).write_text(header + yaml.safe_dump(data, sort_keys=False))
