"""``lab up``, ``lab down``, ``lab status`` and the hijack switch, over the state file.

The state file (``STATE_DIR/state.json``) is written before each step takes effect — namespaces
before they are created, PIDs as soon as they are known — so ``down`` can undo a half-built lab.
``up`` is idempotent: a complete, healthy lab is left running and only its inventory is rewritten.
"""

from __future__ import annotations

import json
import shutil
import time
from ipaddress import IPv4Network
from pathlib import Path

from . import ovs
from .frrd import FrrInstance
from .gobgp import config_for
from .lab_inventory import write_inventory
from .mgmt import env_names, force_command, free_port, make_keys, start_sshd
from .nodes import Node, NodeRole
from .proc import LabError, children, netns_exists, netns_pids, pid_alive, read_pid, run, stop_pid, wait_for
from .state import LabState
from .templating import render_config
from .topology import (
    DEFAULT_NAME,
    DISCARD_NEXT_HOP,
    HIJACK_PREFIX,
    INBAND_SSH_PORT,
    TOPOLOGY,
    Router,
    Topology,
    netns_name,
)

STATE_ROOT = Path("/run/enforcer-lab")
BGP_TIMEOUT = 20.0
#: What the customer router speaks BGP with: FRR's bgpd, or GoBGP (a second implementation).
CUSTOMER_BGP = ("frr", "gobgp")


def default_state_dir(name: str) -> Path:
    return STATE_ROOT / name


# ------------------------------------------------------------------------------ up


def up(
    name: str = DEFAULT_NAME,
    state_dir: Path | None = None,
    inventory_out: Path | None = None,
    log=print,
    topology: Topology = TOPOLOGY,
    db: str | None = None,
    customer_bgp: str = "frr",
) -> LabState:
    """Build the lab (or find it already running) and write its inventory; returns its state.

    ``db`` is the store the lab's OpenFlow controller reads (it pushes from the store itself), so it
    must be the one the CLI uses; by default the controller takes ``ENFORCER_DB`` or its default.
    ``customer_bgp``: ``gobgp`` makes GoBGP the customer router's BGP speaker instead of FRR.
    """
    if customer_bgp not in CUSTOMER_BGP:
        raise LabError(f"customer_bgp: {customer_bgp!r} is not one of {', '.join(CUSTOMER_BGP)}")
    state_dir = state_dir or default_state_dir(name)
    existing = LabState.load(name, state_dir)
    if existing and existing.healthy() and existing.customer_bgp == customer_bgp:
        log(f"lab {name} is already up ({state_dir})")
        _finish(existing, inventory_out, topology)
        return existing
    if existing or any(netns_exists(netns_name(name, n)) for n in _node_names(topology)):
        log(f"lab {name}: removing a previous, incomplete lab first")
        down(name, state_dir, log=lambda *_: None, topology=topology)

    started = time.monotonic()
    state = LabState(name=name, dir=state_dir, customer_bgp=customer_bgp)
    state.save()
    try:
        _build_network(state, topology)
        _load_operator_firewall(state, topology)
        _start_routers(state, topology)
        _start_management(state, topology)
        _wait_bgp(state, topology)
        for r in topology.routers:
            state.frr(r.name).save_baseline()
        state.nodes = _nodes(state, topology)
        state.ovs = True
        # The inventory exists before the OpenFlow controller starts: it reads it at start-up.
        _finish(state, inventory_out, topology)
        state.nodes += _ovs_up(state, inventory_out, db)
        state.complete = True
        state.save()
    except BaseException:
        log(f"lab {name}: build failed, tearing down what was started")
        down(name, state_dir, log=lambda *_: None, topology=topology)
        raise
    log(f"lab {name} is up in {time.monotonic() - started:.1f}s ({state_dir})")
    return state


def _node_names(topology: Topology) -> list[str]:
    return [r.name for r in topology.routers] + [h.name for h in topology.hosts]


def _build_network(state: LabState, topology: Topology) -> None:
    names = _node_names(topology)
    state.namespaces = [netns_name(state.name, n) for n in names]
    state.save()
    routers = {r.name for r in topology.routers}
    for node in names:
        ns = netns_name(state.name, node)
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        if node in routers:
            run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], netns=ns)
            run(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"], netns=ns)
    for router, (bridge, addr) in topology.bridges.items():
        ns = netns_name(state.name, router)
        run(["ip", "-n", ns, "link", "add", bridge, "type", "bridge"])
        run(["ip", "-n", ns, "addr", "add", str(addr), "dev", bridge])
        run(["ip", "-n", ns, "link", "set", bridge, "up"])
    for link in topology.links:
        ns_a, ns_b = netns_name(state.name, link.a), netns_name(state.name, link.b)
        # Created straight inside the two namespaces: the root namespace never sees the names.
        run(["ip", "link", "add", link.a_if.name, "netns", ns_a, "type", "veth",
             "peer", "name", link.b_if.name, "netns", ns_b])  # fmt: skip
        for ns, iface in ((ns_a, link.a_if), (ns_b, link.b_if)):
            if iface.address is not None:
                run(["ip", "-n", ns, "addr", "add", str(iface.address), "dev", iface.name])
            run(["ip", "-n", ns, "link", "set", iface.name, "up"])
        if link.bridge:
            run(["ip", "-n", ns_a, "link", "set", link.a_if.name, "master", topology.bridges[link.bridge][0]])
    for r in topology.routers:
        run(["ip", "-n", netns_name(state.name, r.name), "addr", "add", str(r.loopback), "dev", "lo"])
    for h in topology.hosts:
        ns = netns_name(state.name, h.name)
        run(["ip", "-n", ns, "addr", "add", str(h.address), "dev", "eth0"])
        run(["ip", "-n", ns, "route", "add", "default", "via", str(h.gateway)])


def _load_operator_firewall(state: LabState, topology: Topology) -> None:
    """The operator's own nftables table on each router that has one, beside (never inside) enforcer's."""
    for r in topology.routers:
        if r.operator is None:
            continue
        interfaces = sorted(c.edge_interface for c in topology.customers)
        rules = render_config("operator.nft.j2", op=r.operator, interfaces=interfaces)
        run(["nft", "-f", "-"], input=rules, netns=netns_name(state.name, r.name))


def _start_routers(state: LabState, topology: Topology) -> None:
    for r in topology.routers:
        inst = state.frr(r.name)
        inst.prepare(render_config("frr.conf.j2", router=r, honours_blackhole=r.role is NodeRole.UPSTREAM,
                                   discard_next_hop=DISCARD_NEXT_HOP, speaks_bgp=state.speaks_bgp(r)))  # fmt: skip
        try:
            inst.start()
        finally:
            for daemon, pid in inst.pids().items():
                state.track(pid, str(inst.root), f"{r.name}/{daemon}")
        if not state.speaks_bgp(r):
            _start_gobgp(state, topology, r)


def _start_gobgp(state: LabState, topology: Topology, router: Router) -> None:
    bgp = state.gobgp(router)
    pid = bgp.start(config_for(router, topology))
    state.track(pid, str(bgp.config), f"{router.name}/gobgpd")
    for net in router.networks:
        bgp.announce(net)


def _start_management(state: LabState, topology: Topology) -> None:
    sshdir = state.dir / "ssh"
    make_keys(sshdir)
    for r in topology.routers:
        port = free_port()
        state.ports[r.name] = port
        pid = start_sshd(sshdir, r.name, port, force_command(state.router_dir(r.name), r.name))
        state.track(pid, str(sshdir / f"sshd-{r.name}.conf"), f"{r.name}/sshd")
        if r.mgmt_address is not None:
            # In-band: inside the router's namespace, so its replies obey the router's routing table.
            tag = f"{r.name}-inband"
            pid = start_sshd(sshdir, tag, INBAND_SSH_PORT, force_command(state.router_dir(r.name), r.name),
                             address=str(r.mgmt_address), netns=netns_name(state.name, r.name))  # fmt: skip
            state.track(pid, str(sshdir / f"sshd-{tag}.conf"), f"{r.name}/sshd-inband")


def _wait_bgp(state: LabState, topology: Topology) -> None:
    for r in topology.routers:
        peers = [str(n.address) for n in r.neighbors]
        probe = state.frr(r.name).established if state.speaks_bgp(r) else lambda _p, b=state.gobgp(r): b.established()
        wait_for(f"{r.name}: BGP Established with {', '.join(peers)}", lambda p=peers, e=probe: e(p),
                 BGP_TIMEOUT, 0.1)  # fmt: skip


def _nodes(state: LabState, topology: Topology) -> list[Node]:
    nodes = []
    for r in topology.routers:
        devices = {"edge": "edge,edge-fw"}.get(r.name)
        nodes.append(
            Node(
                name=r.name,
                netns=netns_name(state.name, r.name),
                role=r.role,
                addresses=[str(a) for a in topology.addresses(r.name)],
                customer=r.customer,
                mgmt=f"127.0.0.1:{state.ports[r.name]}",
                mgmt_inband=f"{r.mgmt_address}:{INBAND_SSH_PORT}" if r.mgmt_address else None,
                device=devices,
                pids=[p["pid"] for p in state.processes if p["what"].startswith(f"{r.name}/")],
                frr_dir=str(state.router_dir(r.name)),
            )
        )
    for h in topology.hosts:
        nodes.append(
            Node(
                name=h.name,
                netns=netns_name(state.name, h.name),
                role=h.role,
                addresses=[str(a) for a in topology.addresses(h.name)],
                customer=h.customer,
                attached_to=h.attached_to,
            )
        )
    return nodes


def _ovs_up(state: LabState, inventory: Path | None, db: str | None) -> list[Node]:
    """The switch, its hosts and enforcer's OpenFlow controller (which reads ``inventory`` and ``db``)."""
    state.save()
    return ovs.up(state.dir / "ovs", state.name, inventory=inventory.resolve() if inventory else None, db=db)


def _finish(state: LabState, inventory_out: Path | None, topology: Topology) -> None:
    if inventory_out is not None:
        write_inventory(state, inventory_out, topology)
        state.inventory = str(inventory_out.resolve())
        state.save()


# ------------------------------------------------------------------------------ down


def down(name: str = DEFAULT_NAME, state_dir: Path | None = None, log=print, topology: Topology = TOPOLOGY) -> None:
    """Stop every process of the lab by PID and delete its namespaces; safe to run twice."""
    state_dir = state_dir or default_state_dir(name)
    state = LabState.load(name, state_dir)
    namespaces = set(state.namespaces if state else [])
    namespaces |= {netns_name(name, n) for n in _node_names(topology)}
    if state and state.ovs:
        try:
            ovs.down(state_dir / "ovs", name)
        except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
            log(f"warning: ovs down failed: {exc}")
    for router in topology.routers:
        _stop_commit_timer(state_dir / "routers" / router.name)
    for proc in state.processes if state else []:
        stop_pid(proc["pid"], proc["marker"])
    for router in topology.routers:  # daemons started after the last state save
        inst = FrrInstance(router.name, netns_name(name, router.name), state_dir / "routers" / router.name)
        for pid in inst.pids().values():
            stop_pid(pid, str(inst.root))
    for ns in sorted(namespaces):
        for pid in netns_pids(ns):  # whatever tests left running inside (iperf3, listeners)
            stop_pid(pid)
        if netns_exists(ns):
            run(["ip", "netns", "del", ns], check=False)
    if state_dir.exists():
        shutil.rmtree(state_dir, ignore_errors=True)
    log(f"lab {name} is down")


def _stop_commit_timer(router_dir: Path) -> None:
    try:
        pending = json.loads((router_dir / "commits" / "pending.json").read_text())
    except (OSError, ValueError):
        return
    stop_pid(int(pending.get("pid", 0)), str(router_dir))


# ------------------------------------------------------------------------------ status and switches


def status(name: str = DEFAULT_NAME, state_dir: Path | None = None) -> list[Node]:
    """The running lab's nodes; empty when the lab is not up."""
    state = LabState.load(name, state_dir or default_state_dir(name))
    if state is None or not state.complete:
        return []
    for node in state.nodes:  # sshd may have been restarted since up (management())
        if node.frr_dir:
            node.pids = [p["pid"] for p in state.processes if p["what"].startswith(f"{node.name}/")]
    return state.nodes


def require(name: str = DEFAULT_NAME, state_dir: Path | None = None) -> LabState:
    state = LabState.load(name, state_dir or default_state_dir(name))
    if state is None or not state.complete:
        raise LabError(f"lab {name} is not up (enforcer lab up --name {name})")
    return state


def hijack(on: bool, name: str = DEFAULT_NAME, state_dir: Path | None = None,
           prefix: IPv4Network = HIJACK_PREFIX, topology: Topology = TOPOLOGY) -> None:  # fmt: skip
    """Make the customer router announce (or stop announcing) ``prefix``, which it does not own."""
    state = require(name, state_dir)
    cust = topology.customers[0]
    router = topology.router(cust.router)
    if not state.speaks_bgp(router):
        state.gobgp(router).announce(prefix, on)
        return
    no = "" if on else "no "
    state.frr(router.name).configure(f"router bgp {router.asn}", "address-family ipv4 unicast", f"{no}network {prefix}")


def reset(name: str = DEFAULT_NAME, state_dir: Path | None = None, topology: Topology = TOPOLOGY) -> None:
    """Put every router and firewall back as ``up`` left them: no enforcer table, no pending revert,
    each router's running config equal to its baseline (tests call this between cases)."""
    state = require(name, state_dir)
    for r in topology.routers:
        management(r.name, True, name, state.dir)
        _stop_commit_timer(state.router_dir(r.name))
        (state.router_dir(r.name) / "commits" / "pending.json").unlink(missing_ok=True)
        state.frr(r.name).restore_baseline()
        if not state.speaks_bgp(r):
            state.gobgp(r).originate_only(r.networks)
    linux_dir = state.dir / "linux"
    for pending in linux_dir.glob("*/pending") if linux_dir.exists() else []:
        pid = read_pid(pending)
        pending.unlink(missing_ok=True)
        if pid and pid_alive(pid, "checkpoint.nft"):
            kids = children(pid)
            stop_pid(pid, "checkpoint.nft")
            for kid in kids:
                stop_pid(kid, "sleep")
    ns = netns_name(name, "edge")
    if run(["nft", "list", "table", "inet", "enforcer"], netns=ns, check=False).returncode == 0:
        run(["nft", "delete", "table", "inet", "enforcer"], netns=ns)


def management(router: str, up: bool, name: str = DEFAULT_NAME, state_dir: Path | None = None) -> None:
    """Stop (``up=False``) or restart a router's sshd: the router keeps routing, but a driver
    can no longer reach it — a device that is down, as far as enforcer can tell."""
    state = require(name, state_dir)
    what = f"{router}/sshd"
    entry = next((p for p in state.processes if p["what"] == what), None)
    if entry is None:
        raise LabError(f"lab {name} has no router {router!r}")
    running = pid_alive(entry["pid"], entry["marker"])
    if not up and running:
        stop_pid(entry["pid"], entry["marker"])
    elif up and not running:
        sshdir = state.dir / "ssh"
        pid = start_sshd(sshdir, router, state.ports[router], force_command(state.router_dir(router), router))
        state.processes = [p for p in state.processes if p["what"] != what]
        state.track(pid, str(sshdir / f"sshd-{router}.conf"), what)


def credentials_env(name: str = DEFAULT_NAME, state_dir: Path | None = None) -> dict[str, str]:
    """The environment variables the lab inventory names, with their values."""
    state = require(name, state_dir)
    user_var, pass_var = env_names(name)
    return {user_var: "root", pass_var: (state.dir / "ssh" / "passphrase").read_text().strip()}
