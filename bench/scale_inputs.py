"""Inputs of the render and plan-at-scale benchmarks (issue 12.7): a generated inventory and a bulk-filled store.

Both benchmarks need many active ``acl`` enforcements (what a ``spam`` decision's first rung
stores: tcp 25/465/587 from the host) on devices of every ACL platform, all ``transport: offline``
so nothing leaves the machine. Storing 100,000 decisions through intake (guardrails, playbook,
audit) is its own cost and not what these benchmarks measure, so the rows are inserted in bulk
with the store's own tables: the plan reads them exactly as it reads rows that intake stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import insert

from enforcer.model import ActionParams, Protocol
from enforcer.store import Store
from enforcer.tables import DecisionRow, EnforcementRow

#: The seven platforms that carry an ACL (FRR's ACLs are the nftables box beside it).
ACL_PLATFORMS = ("ios", "iosxr", "junos", "eos", "nxos", "nftables", "openflow")
#: What the spam playbook's first rung stores (playbooks/spam.yaml).
SPAM_ACL = ActionParams(protocol=Protocol.TCP, ports=(25, 465, 587)).model_dump(mode="json")


def load() -> str:
    """The 1-minute load average, printed with the figures: on a shared 2-core machine it explains them."""
    return f"load {os.getloadavg()[0]:.1f}"


def host(i: int) -> str:
    """The ``i``-th offending host: 10.a.b.c, unique for i < 2**24."""
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def write_inventory(root: Path, devices: list[tuple[str, str, str]], max_active: int) -> Path:
    """An inventory folder of ``(name, platform, role)`` devices, all offline, no customers."""
    root.mkdir(parents=True, exist_ok=True)
    hosts = {}
    for n, (name, platform, role) in enumerate(devices):
        entry: dict = {"platform": platform, "role": role, "attach_interfaces": ["eth1"]}
        if platform == "openflow":
            entry["datapath_id"] = 0xE00 + n
        else:
            entry["hostname"] = f"192.0.2.{n % 250 + 1}"
        hosts[name] = entry
    (root / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (root / "defaults.yaml").write_text(yaml.safe_dump({"transport": "offline", "role": "edge", "bgp_asn": 65000}))
    (root / "groups.yaml").write_text("{}\n")
    (root / "customers.yaml").write_text("{}\n")
    (root / "settings.yaml").write_text(yaml.safe_dump({"guardrails": {"max_active": max_active}}))
    return root


def store_active(url: str, n: int, roles: Callable[[int], list[str]]) -> float:
    """Insert ``n`` active spam decisions, one ``acl`` enforcement each on ``roles(i)``: seconds taken."""
    started = time.perf_counter()
    store = Store(url)  # creates the schema (migrations), as every enforcer command does
    at = datetime.now(UTC).replace(tzinfo=None)
    common = {"violation": "spam", "created_at": at, "status": "active"}
    with store.engine.begin() as conn:
        conn.execute(insert(DecisionRow), [
            {"id": i + 1, "target": f"{host(i)}/32", "source": "bench", "actor": "bench", "step": 0, **common}
            for i in range(n)])  # fmt: skip
        conn.execute(insert(EnforcementRow), [
            {"id": i + 1, "decision_id": i + 1, "action": "acl", "target": f"{host(i)}/32", "params": SPAM_ACL,
             "roles": roles(i), "comment": "", **common}
            for i in range(n)])  # fmt: skip
    store.engine.dispose()
    return time.perf_counter() - started
