"""Questions a NOC engineer asks the lab: does it ping, does TCP/25 connect, what does the kernel route.

Each probe runs inside the node's namespace. Checks of state that converges asynchronously
(routes reaching the kernel, BGP withdrawals, a ping starting to fail) take ``expect`` and
``within``: they poll until the answer equals ``expect`` or the deadline passes, and return the
last answer — so ``assert not ping(inet, victim, expect=False)`` waits for the block to bite and
``assert ping(inet, neighbour)`` waits for reachability, both without fixed sleeps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import ip_interface, ip_network
from typing import Any, TypeVar

from .nodes import Node
from .proc import LabError, run, stop_pid, wait_for

T = TypeVar("T")
DEFAULT_WITHIN = 15.0


def eventually(probe: Callable[[], T], expect: Callable[[T], bool], within: float, interval: float = 0.1) -> T:
    """Call ``probe`` until ``expect(result)`` holds or ``within`` seconds pass; the last result."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if expect(result) or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def address(node: Node) -> str:
    """The node's first address, without prefix length (a host's only address)."""
    return str(ip_interface(node.addresses[0]).ip)


def host_prefix(node: Node) -> str:
    """The node's address as a host prefix (``203.0.113.10/32``), as enforcer targets it."""
    ip = ip_interface(node.addresses[0]).ip
    return f"{ip}/{ip.max_prefixlen}"


def netns_of(node: Node) -> str:
    """The node's network namespace (every probe runs inside it)."""
    if not node.netns:
        raise LabError(f"{node.name} has no network namespace")
    return node.netns


# ------------------------------------------------------------------ reachability


def ping_once(src: Node, dst: str) -> bool:
    return run(["ping", "-n", "-q", "-c", "1", "-W", "1", dst], netns=netns_of(src), check=False).returncode == 0


def ping(src: Node, dst: str, expect: bool = True, within: float = DEFAULT_WITHIN) -> bool:
    """Does ``dst`` answer ``src``'s ping — polled until it equals ``expect`` or ``within`` passes."""
    return eventually(lambda: ping_once(src, dst), lambda ok: ok == expect, within, 0.05)


_LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
print('ready', flush=True)
while True:
    c, _ = s.accept(); c.sendall(b'hello'); c.close()
"""

_CONNECT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    ok = c.recv(5) == b'hello'
except OSError:
    ok = False
sys.exit(0 if ok else 1)
"""


@contextmanager
def tcp_listener(node: Node, port: int, bind: str | None = None) -> Iterator[None]:
    """A TCP server on ``node`` that greets every connection, for as long as the block runs."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns_of(node), sys.executable, "-c", _LISTENER, bind or address(node), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise LabError(f"{node.name}: TCP listener on port {port} did not start")
        yield
    finally:
        stop_pid(proc.pid)
        proc.wait(timeout=5)


def tcp_connect_once(src: Node, dst: str, port: int, timeout: float = 1.0) -> bool:
    argv = [sys.executable, "-c", _CONNECT, dst, str(port), str(timeout)]
    return run(argv, netns=netns_of(src), check=False, timeout=timeout + 10).returncode == 0


def tcp_connect(src: Node, dst: str, port: int, expect: bool = True, within: float = DEFAULT_WITHIN) -> bool:
    """Can ``src`` open a TCP connection to ``dst:port`` (a :func:`tcp_listener` must be running)."""
    return eventually(lambda: tcp_connect_once(src, dst, port), lambda ok: ok == expect, within, 0.05)


_SSH_BANNER = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as c:
        ok = c.recv(4) == b"SSH-"
except OSError:
    ok = False
sys.exit(0 if ok else 1)
"""


def ssh_answers(src: Node, endpoint: str, timeout: float = 1.0) -> bool:
    """Does an SSH server greet ``src`` at ``endpoint`` (``host:port``, e.g. a node's ``mgmt_inband``)?"""
    host, port = endpoint.rsplit(":", 1)
    argv = [sys.executable, "-c", _SSH_BANNER, host, port, str(timeout)]
    return run(argv, netns=netns_of(src), check=False, timeout=timeout + 10).returncode == 0


# ------------------------------------------------------------------ throughput


def udp_throughput(
    src: Node, dst: Node, offered_bps: int, seconds: float = 3.0, warmup: int = 2, port: int = 5201
) -> float:
    """Send UDP from ``src`` to ``dst`` at ``offered_bps`` with iperf3; the rate ``dst`` received, bit/s.

    The first ``warmup`` seconds are left out of the measurement (iperf3 ``--omit``): a policer's
    bucket starts full (nftables' holds a second of traffic on top of its burst), and a short
    test that counted it would overshoot the configured rate by a third.
    """
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns_of(dst), "iperf3", "-s", "-1", "-p", str(port), "-B", address(dst)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"iperf3 server on {dst.name}:{port}", lambda: _tcp_listening(dst, port))
        proc = run(
            ["iperf3", "-c", address(dst), "-p", str(port), "-u", "-b", str(offered_bps), "-t", str(seconds),
             "-O", str(warmup), "-l", "1200", "--connect-timeout", "3000", "-J"],
            netns=netns_of(src), check=False, timeout=seconds + warmup + 30,
        )  # fmt: skip
        data = json.loads(proc.stdout or "{}")
        if "error" in data or proc.returncode != 0:
            raise LabError(f"iperf3 {src.name} -> {dst.name}: {data.get('error') or proc.stderr.strip()}")
        return float(data["end"]["sum_received"]["bits_per_second"])
    finally:
        stop_pid(server.pid)
        server.wait(timeout=5)


def _tcp_listening(node: Node, port: int) -> bool:
    out = run(["ss", "-Htln", f"sport = :{port}"], netns=netns_of(node), check=False).stdout
    return bool(out.strip())


# ------------------------------------------------------------------ routing state


def tx_packets(node: Node, interface: str = "eth0") -> int:
    """Packets ``node`` has sent on ``interface``: proof that a stream under test really flowed."""
    data = json.loads(run(["ip", "-j", "-s", "link", "show", interface], netns=netns_of(node)).stdout)
    return int(data[0]["stats64"]["tx"]["packets"])


def kernel_routes(node: Node, prefix: str) -> list[dict[str, Any]]:
    """The kernel's routes for exactly ``prefix`` in the node's main table (``ip -j route``)."""
    net = ip_network(prefix)
    fam = "-6" if net.version == 6 else "-4"
    out = run(["ip", "-j", fam, "route", "show", "exact", str(net)], netns=netns_of(node), check=False).stdout
    return json.loads(out or "[]")


def kernel_route(
    node: Node, prefix: str, type: str | None = None, expect: bool = True, within: float = DEFAULT_WITHIN
) -> dict[str, Any] | None:
    """The route for ``prefix`` (of ``type``, e.g. ``blackhole``, if given), polled until its presence
    equals ``expect``; None when absent."""

    def probe() -> dict[str, Any] | None:
        routes = kernel_routes(node, prefix)
        return next((r for r in routes if type is None or r.get("type", "unicast") == type), None)

    return eventually(probe, lambda r: (r is not None) == expect, within)


def vtysh(node: Node, *commands: str) -> str:
    """Run vtysh commands on a lab router through its private sockets (not over SSH)."""
    if not node.frr_dir:
        raise LabError(f"{node.name} is not an FRR router")
    argv = ["vtysh", "--vty_socket", f"{node.frr_dir}/run", "--config_dir", f"{node.frr_dir}/etc"]
    for c in commands:
        argv += ["-c", c]
    return run(argv).stdout


def bgp_table(node: Node, family: int = 4) -> dict[str, list[dict[str, Any]]]:
    """The router's BGP table: prefix → its paths (as ``show bgp … json`` gives them)."""
    afi = "ipv4" if family == 4 else "ipv6"
    data = json.loads(vtysh(node, f"show bgp {afi} unicast json") or "{}")
    return dict(data.get("routes", {}))


def bgp_route(node: Node, prefix: str) -> list[dict[str, Any]]:
    """The paths for exactly ``prefix``, each with ``communities``: a list of strings (``blackhole``, ``64500:1``)."""
    net = ip_network(prefix)
    afi = "ipv4" if net.version == 4 else "ipv6"
    data = json.loads(vtysh(node, f"show bgp {afi} unicast {net} json") or "{}")
    return [{**p, "communities": (p.get("community") or {}).get("string", "").split()} for p in data.get("paths", [])]


def bgp_has(node: Node, prefix: str, expect: bool = True, within: float = DEFAULT_WITHIN) -> bool:
    """Is ``prefix`` in the router's BGP table — polled until it equals ``expect``."""
    fam = ip_network(prefix).version
    return eventually(lambda: str(ip_network(prefix)) in bgp_table(node, fam), lambda ok: ok == expect, within)


def bgp_session(node: Node, neighbor: str) -> dict[str, Any]:
    """One BGP session as the router reports it (``show bgp neighbors X json``): ``bgpState``,
    ``connectionsEstablished``, ``messageStats.keepalivesRecv``… — what tells a flap from a steady session."""
    data = json.loads(vtysh(node, f"show bgp neighbors {neighbor} json") or "{}")
    return dict(data.get(neighbor, {}))


def advertised(node: Node, neighbor: str, family: int = 4) -> set[str]:
    """The prefixes ``node`` sends ``neighbor`` (its Adj-RIB-Out towards that peer)."""
    afi = "ipv4" if family == 4 else "ipv6"
    data = json.loads(vtysh(node, f"show bgp {afi} unicast neighbors {neighbor} advertised-routes json") or "{}")
    return set(data.get("advertisedRoutes", {}))


def running_config(node: Node) -> str:
    """The router's whole ``show running-config``, as an operator would diff it."""
    return vtysh(node, "show running-config")
