"""The lab's OpenFlow part: Open vSwitch (userspace datapath) in a namespace, hosts, enforcer's controller.

```
  {prefix}-sw-h1 ─┐                        namespace {prefix}-sw
  {prefix}-sw-h2 ─┼─ veth ── br0 (netdev, OpenFlow 1.3, fail_mode=secure) ── tcp:127.0.0.1:6653
  {prefix}-sw-h3 ─┘          ovsdb-server, ovs-vswitchd          enforcer controller run
```

Everything lives in ``state_dir`` and in namespaces named after ``prefix``: ovs-vswitchd runs inside
``{prefix}-sw`` so the ``ovs-netdev`` tap it creates dies with the namespace, and the bridge, its
ports and the controller's loopback are inside it too, so two labs never collide (docs/lab-facts.md). The
controller listens on that namespace's loopback over TCP (os-ken cannot serve an OpenFlow unix
socket) and answers plan/apply on a unix socket file in ``state_dir``, reachable from any namespace.

The switch's own forwarding is a priority-0 ``NORMAL`` flow with cookie ``BASE_COOKIE``, written
with ovs-ofctl as a switch's provisioning would: it is not enforcer's and must survive every sync.

Run standalone (root): ``python -m enforcer.lab.ovs up /tmp/of1 of1`` / ``… down /tmp/of1 of1``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path
from typing import Any

from ..settings import REPO_ROOT, Settings
from .nodes import Node, NodeRole
from .proc import netns_exists, pid_alive, read_pid, run, stop_pid, wait_for

BRIDGE = "br0"
DEVICE_NAME = "ofsw1"
DEFAULT_CONTROLLER_PORT = 6653
#: (name, IPv4, IPv6) of the hosts on the switch: RFC 2544 benchmarking space and documentation IPv6.
HOSTS = (
    ("h1", IPv4Interface("198.18.0.11/24"), IPv6Interface("2001:db8:18::11/64")),
    ("h2", IPv4Interface("198.18.0.12/24"), IPv6Interface("2001:db8:18::12/64")),
    ("h3", IPv4Interface("198.18.0.13/24"), IPv6Interface("2001:db8:18::13/64")),
)
BASE_COOKIE = 0xB0
BASE_FLOWS = (f"cookie={BASE_COOKIE:#x},priority=0,actions=NORMAL",)
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


# ------------------------------------------------------------------ names and paths


def switch_netns(prefix: str) -> str:
    return f"{prefix}-sw"


def host_netns(prefix: str, host: str) -> str:
    return f"{prefix}-sw-{host}"


def datapath_id(prefix: str) -> int:
    """Stable per lab, distinct between labs: 0x00e4 then 48 bits of the prefix's hash."""
    return (0xE4 << 48) | int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:6], "big")


def mgmt_socket(state_dir: Path) -> Path:
    """What ``ovs-ofctl`` talks to: ``OVS_RUNDIR/BRIDGE.mgmt`` (ovs-vswitchd has no flag to move it)."""
    return state_dir / "run" / f"{BRIDGE}.mgmt"


def control_socket(state_dir: Path) -> Path:
    return state_dir / "controller.sock"


def _with_env(state_dir: Path, argv: list[str]) -> list[str]:
    """``argv`` run under ``env`` with the lab's OVS directories: ovs-vswitchd puts the bridge's
    management socket in ``OVS_RUNDIR`` and has no flag to move it (docs/lab-facts.md)."""
    dirs = {"OVS_RUNDIR": state_dir / "run", "OVS_LOGDIR": state_dir, "OVS_DBDIR": state_dir}
    return ["env", *(f"{k}={v}" for k, v in {**dirs, "OVS_SYSCONFDIR": state_dir}.items()), *argv]


# ------------------------------------------------------------------ Open vSwitch


def ofctl(state_dir: Path, *args: str, check: bool = True) -> str:
    """``ovs-ofctl -O OpenFlow13 ARGS`` against this lab's bridge (its mgmt socket, no namespace needed)."""
    cmd, *rest = args
    return run(["ovs-ofctl", "-O", "OpenFlow13", cmd, f"unix:{mgmt_socket(state_dir)}", *rest], check=check).stdout


def vsctl(state_dir: Path, *args: str, wait: bool = True) -> str:
    """``ovs-vsctl`` on this lab's database; ``wait=False`` before ovs-vswitchd runs (nothing to wait for)."""
    flags = ["--timeout=10"] if wait else ["--no-wait"]
    return run(["ovs-vsctl", f"--db=unix:{state_dir / 'db.sock'}", *flags, *args]).stdout


def _start_ovsdb(state_dir: Path, ns: str) -> None:
    db = state_dir / "conf.db"
    if not db.exists():
        run(["ovsdb-tool", "create", str(db), str(OVS_SCHEMA)])
    run(
        _with_env(state_dir, [
            "ovsdb-server",
            str(db),
            f"--remote=punix:{state_dir / 'db.sock'}",
            f"--pidfile={state_dir / 'ovsdb-server.pid'}",
            f"--unixctl={state_dir / 'ovsdb-server.ctl'}",
            f"--log-file={state_dir / 'ovsdb-server.log'}",
            "--detach",
            "--no-chdir",
        ]),
        netns=ns,
    )  # fmt: skip
    wait_for("ovsdb-server's socket", (state_dir / "db.sock").exists)
    run(["ovs-vsctl", f"--db=unix:{state_dir / 'db.sock'}", "--no-wait", "init"])


def start_vswitchd(state_dir: Path, prefix: str) -> int:
    """Start ovs-vswitchd in the switch namespace; returns its PID once the bridge answers OpenFlow."""
    run(
        _with_env(state_dir, [
            "ovs-vswitchd",
            f"unix:{state_dir / 'db.sock'}",
            f"--pidfile={state_dir / 'ovs-vswitchd.pid'}",
            f"--unixctl={state_dir / 'ovs-vswitchd.ctl'}",
            f"--log-file={state_dir / 'ovs-vswitchd.log'}",
            "--detach",
            "--no-chdir",
        ]),
        netns=switch_netns(prefix),
    )  # fmt: skip
    pid = wait_for("ovs-vswitchd's pid file", lambda: read_pid(state_dir / "ovs-vswitchd.pid"))
    wait_for(
        "the bridge's management socket",
        lambda: ofctl(state_dir, "show", check=False) and mgmt_socket(state_dir).exists(),
    )
    return pid


def install_base_flows(state_dir: Path) -> None:
    """The switch's own forwarding (not enforcer's), as provisioning would write it."""
    for flow in BASE_FLOWS:
        ofctl(state_dir, "add-flow", flow)


def restart_vswitchd(state_dir: Path, prefix: str) -> int:
    """Kill ovs-vswitchd by PID and start it again: every flow and meter is gone until resynced."""
    _stop(read_pid(state_dir / "ovs-vswitchd.pid"), "ovs-vswitchd")
    pid = start_vswitchd(state_dir, prefix)
    install_base_flows(state_dir)
    _save(state_dir, vswitchd=pid)
    return pid


# ------------------------------------------------------------------ the controller


def start_controller(
    state_dir: Path,
    prefix: str,
    port: int = DEFAULT_CONTROLLER_PORT,
    inventory: Path | None = None,
    db: str | None = None,
    resync_interval: float = 30.0,
) -> int:
    """``enforcer controller run`` inside the switch namespace; returns its PID once the control socket answers."""
    settings = Settings.from_env(inventory=inventory, db=db)
    inv_path, db_url = Path(settings.inventory).resolve(), settings.db
    if db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////"):  # relative to the caller's cwd
        db_url = f"sqlite:///{Path(db_url.removeprefix('sqlite:///')).resolve()}"
    sock = control_socket(state_dir)
    sock.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "enforcer.cli",
        "--inventory",
        str(inv_path),
        "--db",
        db_url,
        "controller",
        "run",
        "--ofp-host",
        "127.0.0.1",
        "--ofp-port",
        str(port),
        "--control",
        str(sock),
        "--log-file",
        str(state_dir / "controller.log"),
        "--resync-interval",
        str(resync_interval),
    ]
    with open(state_dir / "controller.out", "ab") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", switch_netns(prefix), *argv],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
    wait_for("the controller's control socket", lambda: proc.poll() is None and sock.exists(), timeout=30)
    _save(
        state_dir,
        controller=proc.pid,
        controller_port=port,
        inventory=str(inv_path),
        db=db_url,
        resync_interval=resync_interval,
    )
    return proc.pid


def controller_running(state_dir: Path) -> bool:
    pid = _load(Path(state_dir).resolve()).get("controller")
    return bool(pid) and pid_alive(pid, "controller run")


def stop_controller(state_dir: Path, hard: bool = False) -> None:
    """Stop the controller by PID: SIGTERM, or SIGKILL with ``hard`` (a crash: no goodbye to the switch)."""
    pid = _load(state_dir).get("controller")
    if hard and pid and pid_alive(pid, "controller run"):
        os.kill(pid, signal.SIGKILL)
        wait_for("the controller to die", lambda: not pid_alive(pid, "controller run"))
    _stop(pid, "controller run")


def restart_controller(state_dir: Path, prefix: str, hard: bool = False) -> int:
    """Kill the controller by PID and start it again with the same inventory, store and port."""
    saved = _load(state_dir)
    stop_controller(state_dir, hard)
    return start_controller(
        state_dir,
        prefix,
        saved.get("controller_port", DEFAULT_CONTROLLER_PORT),
        Path(saved["inventory"]) if saved.get("inventory") else None,
        saved.get("db"),
        saved.get("resync_interval", 30.0),
    )


# ------------------------------------------------------------------ up / down


def up(
    state_dir: Path,
    prefix: str,
    controller_port: int | None = None,
    *,
    inventory: Path | None = None,
    db: str | None = None,
    resync_interval: float = 30.0,
) -> list[Node]:
    """Build the switch, its hosts and the controller; returns the lab's nodes. Idempotent per prefix:
    a previous lab with the same prefix is torn down first."""
    state_dir = Path(state_dir).resolve()
    down(state_dir, prefix)
    (state_dir / "run").mkdir(parents=True, exist_ok=True)
    port = controller_port or DEFAULT_CONTROLLER_PORT
    dpid = datapath_id(prefix)
    ns = switch_netns(prefix)
    _save(state_dir, prefix=prefix, dpid=dpid)
    try:
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for i, (host, v4, v6) in enumerate(HOSTS, start=1):
            hns = host_netns(prefix, host)
            run(["ip", "netns", "add", hns])
            run(["ip", "-n", hns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", hns])
            run(["ip", "-n", ns, "link", "set", f"p{i}", "up"])
            run(["ip", "-n", hns, "addr", "add", str(v4), "dev", "eth0"])
            run(["ip", "-n", hns, "addr", "add", str(v6), "dev", "eth0", "nodad"])
            run(["ip", "-n", hns, "link", "set", "eth0", "up"])
            # TCP through the userspace datapath needs checksum offload off on both ends (docs/lab-facts.md)
            run(["ethtool", "-K", f"p{i}", "tx", "off"], netns=ns)
            run(["ethtool", "-K", "eth0", "tx", "off"], netns=hns)
        _start_ovsdb(state_dir, ns)
        _save(state_dir, ovsdb=read_pid(state_dir / "ovsdb-server.pid"))
        ports: list[str] = []
        for i in range(1, len(HOSTS) + 1):
            ports += ["--", "add-port", BRIDGE, f"p{i}"]
        vsctl(
            state_dir,
            "add-br",
            BRIDGE,
            "--",
            "set",
            "bridge",
            BRIDGE,
            "datapath_type=netdev",
            "protocols=OpenFlow13,OpenFlow14",
            "fail_mode=secure",
            f"other_config:datapath-id={dpid:016x}",
            *ports,
            wait=False,
        )
        vsctl(state_dir, "set-controller", BRIDGE, f"tcp:127.0.0.1:{port}", wait=False)
        # out-of-band: no hidden in-band flows; reconnect within a second after a controller restart
        vsctl(state_dir, "set", "controller", BRIDGE, "connection-mode=out-of-band", "max_backoff=1000", wait=False)
        pid = start_vswitchd(state_dir, prefix)
        _save(state_dir, vswitchd=pid)
        install_base_flows(state_dir)
        start_controller(state_dir, prefix, port, inventory, db, resync_interval)
        wait_for("the switch to connect to the controller", lambda: connected(state_dir), timeout=30)
    except BaseException:
        down(state_dir, prefix)
        raise
    return nodes(state_dir, prefix)


def connected(state_dir: Path) -> bool:
    """True once the bridge reports its controller connection up (whichever controller it has)."""
    return "true" in vsctl(state_dir, "--columns=is_connected", "list", "controller")


def _stop(pid: int | None, marker: str) -> None:
    """Stop one process of this lab by its recorded PID (``marker`` guards against a recycled PID)."""
    if pid:
        stop_pid(pid, marker)


def nodes(state_dir: Path, prefix: str) -> list[Node]:
    saved = _load(state_dir)
    ns = switch_netns(prefix)
    out = [
        Node(
            name=f"{prefix}-sw",
            netns=ns,
            role=NodeRole.SWITCH,
            device=DEVICE_NAME,
            mgmt=f"unix:{mgmt_socket(state_dir)}",
            pids=[p for p in (saved.get("ovsdb"), saved.get("vswitchd")) if p],
        ),
        Node(
            name=f"{prefix}-ofctl",
            netns=ns,
            role=NodeRole.CONTROLLER,
            attached_to=f"{prefix}-sw",
            addresses=[f"127.0.0.1:{saved.get('controller_port', DEFAULT_CONTROLLER_PORT)}"],
            mgmt=f"unix:{control_socket(state_dir)}",
            pids=[p for p in (saved.get("controller"),) if p],
        ),
    ]
    for host, v4, v6 in HOSTS:
        out.append(
            Node(
                name=f"{prefix}-sw-{host}",
                netns=host_netns(prefix, host),
                role=NodeRole.HOST,
                addresses=[str(v4), str(v6)],
                attached_to=f"{prefix}-sw",
            )
        )
    return out


def inventory_hosts(state_dir: Path, prefix: str, role: str = "edge") -> dict[str, dict[str, Any]]:
    """The ``hosts.yaml`` entry for the lab's switch (merge it into the lab inventory)."""
    return {
        DEVICE_NAME: {
            "platform": "openflow",
            "role": role,
            "transport": "openflow",
            "datapath_id": datapath_id(prefix),
            "netns": switch_netns(prefix),
            "optional_args": {"controller": f"unix:{control_socket(Path(state_dir).resolve())}"},
        }
    }


def down(state_dir: Path, prefix: str) -> None:
    """Stop the controller, ovs-vswitchd and ovsdb-server by PID; delete the lab's namespaces."""
    state_dir = Path(state_dir).resolve()
    saved = _load(state_dir)
    _stop(saved.get("controller"), "controller run")
    _stop(saved.get("vswitchd") or read_pid(state_dir / "ovs-vswitchd.pid"), "ovs-vswitchd")
    _stop(saved.get("ovsdb") or read_pid(state_dir / "ovsdb-server.pid"), "ovsdb-server")
    for ns in [switch_netns(prefix)] + [host_netns(prefix, h) for h, _, _ in HOSTS]:
        if netns_exists(ns):
            run(["ip", "netns", "delete", ns], check=False)
    for leftover in ("conf.db", ".conf.db.~lock~", "db.sock", "controller.sock", "lab.json"):
        (state_dir / leftover).unlink(missing_ok=True)


def _load(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "lab.json").read_text())
    except (OSError, ValueError):
        return {}


def _save(state_dir: Path, **values: Any) -> None:
    data = _load(state_dir)
    data.update(values)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "lab.json").write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    command, directory, name = sys.argv[1:4]
    if command == "up":
        for node in up(Path(directory), name):
            print(node.model_dump_json())
    elif command == "down":
        down(Path(directory), name)
    else:
        raise SystemExit("usage: python -m enforcer.lab.ovs up|down STATE_DIR PREFIX")
