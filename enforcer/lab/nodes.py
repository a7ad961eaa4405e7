"""What ``enforcer lab status --json`` prints: the nodes of a running lab and how to reach them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class NodeRole(StrEnum):
    EDGE = "edge"
    UPSTREAM = "upstream"
    CUSTOMER_ROUTER = "customer-router"
    HOST = "host"
    SWITCH = "switch"
    CONTROLLER = "controller"
    #: The NOC station: where an operator (and enforcer) manages the routers from, through the network.
    MANAGEMENT = "management"


class Node(BaseModel):
    """One lab node. Tests find the lab through these records, never through hard-coded names."""

    name: str
    netns: str | None = None
    role: NodeRole
    addresses: list[str] = Field(default_factory=list, description="address/prefixlen on the node")
    customer: str | None = Field(default=None, description="for hosts: the customer they belong to")
    attached_to: str | None = Field(default=None, description="router or switch this node hangs off")
    mgmt: str | None = Field(default=None, description="management endpoint, e.g. 127.0.0.1:2201")
    mgmt_inband: str | None = Field(
        default=None,
        description="in-band management endpoint (address:port inside the router's namespace), reached from "
        "the management station's namespace through the router's own routing table: a bad route can cut it",
    )
    device: str | None = Field(default=None, description="inventory device name(s) managing this node")
    pids: list[int] = Field(default_factory=list)
    frr_dir: str | None = Field(
        default=None, description="for FRR routers: the private directory (etc/, run/ with the vty sockets, log/)"
    )
