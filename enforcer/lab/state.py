"""What a running lab is made of, on disk (``STATE_DIR/state.json``): namespaces, processes, ports, nodes.

Written before each step of ``up`` takes effect, so ``down`` can undo a half-built lab; read by
every other lab command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .frrd import FrrInstance
from .gobgp import GoBgpInstance
from .nodes import Node, NodeRole
from .proc import netns_exists, pid_alive
from .topology import Router, netns_name


@dataclass
class LabState:
    """What ``up`` built: enough for ``down`` to remove every trace and for ``status`` to describe it."""

    name: str
    dir: Path
    namespaces: list[str] = field(default_factory=list)
    processes: list[dict] = field(default_factory=list)  # {"pid", "marker", "what"}
    ports: dict[str, int] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    ovs: bool = False
    complete: bool = False
    inventory: str | None = None
    customer_bgp: str = "frr"

    @property
    def path(self) -> Path:
        return self.dir / "state.json"

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {
            "name": self.name,
            "dir": str(self.dir),
            "namespaces": self.namespaces,
            "processes": self.processes,
            "ports": self.ports,
            "nodes": [n.model_dump(mode="json") for n in self.nodes],
            "ovs": self.ovs,
            "complete": self.complete,
            "inventory": self.inventory,
            "customer_bgp": self.customer_bgp,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.path)

    @classmethod
    def load(cls, name: str, state_dir: Path) -> LabState | None:
        try:
            data = json.loads((state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(
            name=data["name"],
            dir=Path(data["dir"]),
            namespaces=data.get("namespaces", []),
            processes=data.get("processes", []),
            ports=data.get("ports", {}),
            nodes=[Node.model_validate(n) for n in data.get("nodes", [])],
            ovs=data.get("ovs", False),
            complete=data.get("complete", False),
            inventory=data.get("inventory"),
            customer_bgp=data.get("customer_bgp", "frr"),
        )

    def track(self, pid: int, marker: str, what: str) -> None:
        self.processes.append({"pid": pid, "marker": marker, "what": what})
        self.save()

    def healthy(self) -> bool:
        return (
            self.complete
            and all(netns_exists(ns) for ns in self.namespaces)
            and all(pid_alive(p["pid"], p["marker"]) for p in self.processes)
        )

    def router_dir(self, router: str) -> Path:
        return self.dir / "routers" / router

    def frr(self, router: str) -> FrrInstance:
        return FrrInstance(router, netns_name(self.name, router), self.router_dir(router))

    def gobgp(self, router: Router) -> GoBgpInstance:
        return GoBgpInstance(router, netns_name(self.name, router.name), self.router_dir(router.name) / "gobgp")

    def speaks_bgp(self, router: Router) -> bool:
        """Does FRR speak BGP on ``router`` (False: GoBGP does, on the customer router)?"""
        return not (self.customer_bgp == "gobgp" and router.role is NodeRole.CUSTOMER_ROUTER)
