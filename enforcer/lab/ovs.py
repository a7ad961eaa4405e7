"""The lab's OpenFlow part: Open vSwitch (userspace datapath) in a namespace, hosts, enforcer's controller.

```
  {prefix}-sw-h1 ─┐                        namespace {prefix}-sw
  {prefix}-sw-h2 ─┼─ veth ── br0 (netdev, OpenFlow 1.3, fail_mode=secure) ── tcp:127.0.0.1:6653
  {prefix}-sw-h3 ─┘          ovsdb-server, ovs-vswitchd          enforcer controller run
```

Everything lives in ``state_dir`` and in namespaces named after ``prefix``: ovs-vswitchd runs inside
``{prefix}-sw`` so the ``ovs-netdev`` tap it creates dies with the namespace, and the bridge, its
ports and the controller's loopback are inside it too, so two labs never collide (LAB.md). The
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
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path
from typing import Any, TypeVar

from ..settings import REPO_ROOT, Settings
from .nodes import Node, NodeRole

T = TypeVar("T")

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


class OvsLabError(RuntimeError):
    """A step of the Open vSwitch lab failed; says which and why."""


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


def _env(state_dir: Path) -> dict[str, str]:
    run_dir = str(state_dir / "run")
    return {
        **os.environ,
        "OVS_RUNDIR": run_dir,
        "OVS_LOGDIR": str(state_dir),
        "OVS_DBDIR": str(state_dir),
        "OVS_SYSCONFDIR": str(state_dir),
    }


# ------------------------------------------------------------------ small process helpers


def _run(
    argv: Sequence[str],
    netns: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise OvsLabError(f"{' '.join(cmd)}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:400]}")
    return proc


def wait_for(what: str, probe: Callable[[], T], timeout: float = 20.0) -> T:
    """Poll ``probe`` until truthy; raise naming ``what`` at the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - "not yet"
            last = exc
        if time.monotonic() > deadline:
            raise OvsLabError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({last})" if last else ""))
        time.sleep(0.02)


def _alive(pid: int, marker: str) -> bool:
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False


def _stop(pid: int | None, marker: str, timeout: float = 5.0) -> None:
    """SIGTERM then SIGKILL one process of this lab (its command line must contain ``marker``)."""
    if not pid or not _alive(pid, marker):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid, marker):
                return
            time.sleep(0.02)


def _pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


# ------------------------------------------------------------------ Open vSwitch


def ofctl(state_dir: Path, *args: str, check: bool = True) -> str:
    """``ovs-ofctl -O OpenFlow13 ARGS`` against this lab's bridge (its mgmt socket, no namespace needed)."""
    cmd, *rest = args
    return _run(["ovs-ofctl", "-O", "OpenFlow13", cmd, f"unix:{mgmt_socket(state_dir)}", *rest], check=check).stdout


def vsctl(state_dir: Path, *args: str, wait: bool = True) -> str:
    """``ovs-vsctl`` on this lab's database; ``wait=False`` before ovs-vswitchd runs (nothing to wait for)."""
    flags = ["--timeout=10"] if wait else ["--no-wait"]
    return _run(["ovs-vsctl", f"--db=unix:{state_dir / 'db.sock'}", *flags, *args]).stdout


def _start_ovsdb(state_dir: Path, ns: str) -> None:
    db = state_dir / "conf.db"
    if not db.exists():
        _run(["ovsdb-tool", "create", str(db), str(OVS_SCHEMA)])
    _run(
        [
            "ovsdb-server",
            str(db),
            f"--remote=punix:{state_dir / 'db.sock'}",
            f"--pidfile={state_dir / 'ovsdb-server.pid'}",
            f"--unixctl={state_dir / 'ovsdb-server.ctl'}",
            f"--log-file={state_dir / 'ovsdb-server.log'}",
            "--detach",
            "--no-chdir",
        ],
        netns=ns,
        env=_env(state_dir),
    )
    wait_for("ovsdb-server's socket", (state_dir / "db.sock").exists)
    _run(["ovs-vsctl", f"--db=unix:{state_dir / 'db.sock'}", "--no-wait", "init"])


def start_vswitchd(state_dir: Path, prefix: str) -> int:
    """Start ovs-vswitchd in the switch namespace; returns its PID once the bridge answers OpenFlow."""
    _run(
        [
            "ovs-vswitchd",
            f"unix:{state_dir / 'db.sock'}",
            f"--pidfile={state_dir / 'ovs-vswitchd.pid'}",
            f"--unixctl={state_dir / 'ovs-vswitchd.ctl'}",
            f"--log-file={state_dir / 'ovs-vswitchd.log'}",
            "--detach",
            "--no-chdir",
        ],
        netns=switch_netns(prefix),
        env=_env(state_dir),
    )
    pid = wait_for("ovs-vswitchd's pid file", lambda: _pidfile(state_dir / "ovs-vswitchd.pid"))
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
    _stop(_pidfile(state_dir / "ovs-vswitchd.pid"), "ovs-vswitchd")
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
    return bool(pid) and _alive(pid, "controller run")


def stop_controller(state_dir: Path, hard: bool = False) -> None:
    """Stop the controller by PID: SIGTERM, or SIGKILL with ``hard`` (a crash: no goodbye to the switch)."""
    pid = _load(state_dir).get("controller")
    if hard and pid and _alive(pid, "controller run"):
        os.kill(pid, signal.SIGKILL)
        wait_for("the controller to die", lambda: not _alive(pid, "controller run"))
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
        _run(["ip", "netns", "add", ns])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for i, (host, v4, v6) in enumerate(HOSTS, start=1):
            hns = host_netns(prefix, host)
            _run(["ip", "netns", "add", hns])
            _run(["ip", "-n", hns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", hns])
            _run(["ip", "-n", ns, "link", "set", f"p{i}", "up"])
            _run(["ip", "-n", hns, "addr", "add", str(v4), "dev", "eth0"])
            _run(["ip", "-n", hns, "addr", "add", str(v6), "dev", "eth0", "nodad"])
            _run(["ip", "-n", hns, "link", "set", "eth0", "up"])
            # TCP through the userspace datapath needs checksum offload off on both ends (LAB.md)
            _run(["ethtool", "-K", f"p{i}", "tx", "off"], netns=ns)
            _run(["ethtool", "-K", "eth0", "tx", "off"], netns=hns)
        _start_ovsdb(state_dir, ns)
        _save(state_dir, ovsdb=_pidfile(state_dir / "ovsdb-server.pid"))
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
            "protocols=OpenFlow13",
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
        wait_for("the switch to connect to the controller", lambda: _connected(state_dir), timeout=30)
    except BaseException:
        down(state_dir, prefix)
        raise
    return nodes(state_dir, prefix)


def _connected(state_dir: Path) -> bool:
    return "true" in vsctl(state_dir, "--columns=is_connected", "list", "controller")


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
    _stop(saved.get("vswitchd") or _pidfile(state_dir / "ovs-vswitchd.pid"), "ovs-vswitchd")
    _stop(saved.get("ovsdb") or _pidfile(state_dir / "ovsdb-server.pid"), "ovsdb-server")
    for ns in [switch_netns(prefix)] + [host_netns(prefix, h) for h, _, _ in HOSTS]:
        if _netns_exists(ns):
            _run(["ip", "netns", "delete", ns], check=False)
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
