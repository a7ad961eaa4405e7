"""Helpers for tests and demos against a running lab: find nodes by role, build and push sections.

:class:`Lab` wraps ``lab status`` records (tests never hard-code node names); :func:`running_lab`
brings a lab up under a fresh name and always tears it down by PID; :func:`enforcement` and
:func:`push` drive a device through its real driver and templates, as ``enforcer apply`` does.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from pathlib import Path

from ..drivers import get_driver
from ..drivers.base import Driver
from ..inventory import Device, Inventory, load_inventory
from ..model import ActionKind, ActionParams, Enforcement, Violation, now
from ..plan import diff_counts
from ..render import build_section, render_push, render_section
from . import lifecycle
from .nodes import Node, NodeRole


@dataclass
class Lab:
    """A running lab as tests see it: its name, its inventory folder and its nodes."""

    name: str
    state_dir: Path
    inventory_path: Path
    nodes: list[Node]
    db: str | None = None  # the store the lab's OpenFlow controller pushes from
    customer_bgp: str = "frr"  # the customer router's BGP speaker: frr or gobgp

    def by_role(self, role: NodeRole) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def one(self, role: NodeRole) -> Node:
        found = self.by_role(role)
        assert len(found) == 1, f"expected one {role} node, lab has {[n.name for n in found]}"
        return found[0]

    @property
    def edge(self) -> Node:
        return self.one(NodeRole.EDGE)

    @property
    def upstream(self) -> Node:
        return self.one(NodeRole.UPSTREAM)

    @property
    def customer_router(self) -> Node:
        return self.one(NodeRole.CUSTOMER_ROUTER)

    @property
    def noc(self) -> Node:
        """The management station: run from its namespace, enforcer manages the edge in-band."""
        return self.one(NodeRole.MANAGEMENT)

    def customer_hosts(self, customer: str | None = None) -> list[Node]:
        return [n for n in self.by_role(NodeRole.HOST) if n.customer and (customer is None or n.customer == customer)]

    @property
    def internet_host(self) -> Node:
        """The host beyond the upstream: the outside world that sends traffic in."""
        up = self.upstream.name
        return next(n for n in self.by_role(NodeRole.HOST) if n.customer is None and n.attached_to == up)

    @property
    def inventory(self) -> Inventory:
        return load_inventory(self.inventory_path)

    def device(self, *, platform: str) -> Device:
        """The one inventory device of ``platform`` managing the edge (``frr`` or ``nftables``)."""
        names = (self.edge.device or "").split(",")
        inv = self.inventory
        found = [inv.devices[n] for n in names if n in inv.devices and inv.devices[n].platform.value == platform]
        assert len(found) == 1, f"edge has no single {platform} device: {names}"
        return found[0]

    def driver(self, *, platform: str) -> Driver:
        return get_driver(self.device(platform=platform))

    def hijack(self, on: bool) -> None:
        lifecycle.hijack(on, self.name, self.state_dir)

    def reset(self) -> None:
        lifecycle.reset(self.name, self.state_dir)

    def management(self, router: Node, up: bool) -> None:
        """Cut (or restore) SSH management of ``router``, leaving its routing running."""
        lifecycle.management(router.name, up, self.name, self.state_dir)


@contextmanager
def running_lab(
    inventory_out: Path, name: str | None = None, db: str | None = None, customer_bgp: str = "frr"
) -> Iterator[Lab]:
    """A lab under a unique name with its credentials in the environment; torn down whatever happens.

    ``db``: the store the lab's OpenFlow controller pushes from (the CLI under test must use it too).
    ``customer_bgp``: ``gobgp`` runs GoBGP as the customer router instead of FRR.
    """
    name = name or "t" + secrets.token_hex(3)
    saved_env = dict(os.environ)
    try:
        state = lifecycle.up(name, inventory_out=inventory_out, log=lambda *_: None, db=db, customer_bgp=customer_bgp)
        os.environ.update(lifecycle.credentials_env(name))
        yield Lab(name=name, state_dir=state.dir, inventory_path=inventory_out, nodes=lifecycle.status(name), db=db,
                  customer_bgp=customer_bgp)  # fmt: skip
    finally:
        lifecycle.down(name, log=lambda *_: None)
        os.environ.clear()
        os.environ.update(saved_env)


# ------------------------------------------------------------------ building and pushing sections

_ids = count(1)


def enforcement(action: ActionKind, target: str, violation: Violation = Violation.SPAM, **kw) -> Enforcement:
    """One active enforcement, as the store would hand it to render (ids unique per session)."""
    params = ActionParams(**kw.pop("params", {}))
    n = next(_ids)
    return Enforcement(
        id=n,
        decision_id=n,
        action=action,
        target=target,
        violation=violation,
        params=params,
        created_at=now(),
        expires_at=now() + timedelta(hours=1),
        **kw,
    )


def candidate_for(driver: Driver, enforcements: Iterable[Enforcement], inventory: Inventory) -> tuple[str, str]:
    """(desired section, merge candidate) that turn the device's live section into ``enforcements``."""
    section = build_section(driver.device, list(enforcements), inventory)
    desired = render_section(section)
    live = driver.get_managed_section()
    removed = diff_counts(live.splitlines(), desired.splitlines())[3]
    return desired, render_push(driver.device, desired, live, removed)


def push(
    driver: Driver, enforcements: Iterable[Enforcement], inventory: Inventory, revert_in: int | None = None
) -> str:
    """Render, load, commit; returns the desired section (the driver must be open)."""
    desired, candidate = candidate_for(driver, enforcements, inventory)
    driver.load_merge_candidate(candidate)
    driver.commit_config(revert_in=revert_in)
    return desired


# ------------------------------------------------------------------ the CLI, as a NOC engineer runs it

Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def cli(lab: Lab, output: Path) -> Cli:
    """``enforcer …`` as a subprocess against ``lab``'s inventory and store: the user's whole path.

    The returned function raises (with the output) when the command fails, unless ``check=False``.
    """
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_OUTPUT": str(output),
           "COLUMNS": "200", **({"ENFORCER_DB": lab.db} if lab.db else {})}  # fmt: skip

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "enforcer.cli", *args], env=env, text=True,
                              capture_output=True, timeout=timeout)  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"enforcer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run
