"""Benchmark: an OpenFlow switch holding 100,000 enforcer flows stays connected through sync, plan and apply.

On its own lab (Open vSwitch userspace datapath, enforcer's os-ken controller, as
``bench/openflow_install.py``): ``--decisions`` N ``malware-hosting`` decisions (two drop flows
each on the edge switch) are written straight into the store (``enforcer.lab.preload``: bulk
INSERTs, the guardrails not asked; the set a busy day left, not part of the measurement), then
timed one by one:

* the bulk sync (store read, render, diff, 2N flow-mods in one bundle, commit);
* ``service.plan`` of one more decision (reads all 2N flows back from the switch);
* ``service.apply`` of it (plan, push, read-back), as ``enforcer apply`` does;
* a full resync reading the switch back with nothing to change.

After every step the switch's connection is checked: ``ovs-vswitchd.log`` lines about the
controller's inactivity probe and disconnects are counted and printed, so a step that starved the
controller's hub shows. The switch's flow count is read with ``ovs-ofctl``, never through the
controller under test. Run as root: ``.venv/bin/python bench/openflow_scale.py --decisions 50000``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FIRST = IPv4Address("100.64.0.1")
EXTRA = IPv4Address("198.18.200.1")
DISCONNECT_MARKERS = ("inactivity probe", "connection dropped", "disconnecting")


def probe_lines(state_dir: Path) -> list[str]:
    """What ovs-vswitchd logged about losing its controller."""
    log = state_dir / "ovs-vswitchd.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [ln for ln in text.splitlines() if any(m in ln for m in DISCONNECT_MARKERS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=50_000, help="active decisions (two flows each)")
    ap.add_argument("--prefix", default=f"ofs{os.getpid() % 100000}", help="lab prefix (namespaces)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--openflow13", action="store_true", help="the bridge speaks OpenFlow 1.3 only (no bundles)")
    ap.add_argument("--logs", type=Path, help="keep the switch's and the controller's logs in this folder")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, Open vSwitch)")

    import yaml

    from enforcer import service
    from enforcer.controller.control import call
    from enforcer.lab import ovs
    from enforcer.lab.preload import preload
    from enforcer.lab.proc import wait_for
    from enforcer.model import Decision
    from enforcer.settings import Settings

    lab_dir = Path(tempfile.mkdtemp(prefix=f"enforcer-bench-{args.prefix}-"))
    state_dir, inv = lab_dir / "ovs", lab_dir / "inventory"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump(ovs.inventory_hosts(state_dir, args.prefix)))
    (inv / "settings.yaml").write_text(yaml.safe_dump({"guardrails": {"max_new_per_minute": 10**6,
                                                                      "max_active": 10**7}}))  # fmt: skip
    db = f"sqlite:///{lab_dir / 'enforcer.db'}"
    figures: dict = {"decisions": args.decisions, "flows": 2 * args.decisions}
    try:
        ovs.up(state_dir, args.prefix, inventory=inv, db=db, resync_interval=0)
        if args.openflow13:
            ovs.vsctl(state_dir, "set", "bridge", ovs.BRIDGE, "protocols=OpenFlow13")
            wait_for("the switch to reconnect", lambda: ovs.connected(state_dir), timeout=30)
        ctx = service.Context.open(Settings(inventory=inv, db=db))
        control, dpid = f"unix:{ovs.control_socket(state_dir)}", ovs.datapath_id(args.prefix)

        def flows() -> int:
            out = ovs.ofctl(state_dir, "dump-aggregate", "cookie=0xe4f0000000000000/0xffff000000000000")
            return int(out.split("flow_count=")[1].split()[0])

        def step(name: str, work) -> None:
            before = len(probe_lines(state_dir))
            t0 = time.perf_counter()
            try:
                outcome = work()
            except Exception as exc:  # noqa: BLE001 - printed: the failure is the finding
                outcome = f"FAILED: {exc}"
            took = time.perf_counter() - t0
            lost = probe_lines(state_dir)[before:]
            figures[name] = {"seconds": took, "outcome": str(outcome)[:300], "switch_log": lost,
                             "connected": ovs.connected(state_dir), "flows": flows()}  # fmt: skip
            print(f"{name:<24} {took:8.2f} s  flows={figures[name]['flows']}  connected={figures[name]['connected']}"
                  f"  probe/disconnect lines={len(lost)}  {figures[name]['outcome'][:120]}", flush=True)

        t0 = time.perf_counter()
        preload(ctx, [FIRST + i for i in range(args.decisions)])
        print(f"stored {args.decisions} decisions in {time.perf_counter() - t0:.1f} s (straight into the store)")
        step("bulk sync", lambda: call(control, {"op": "sync", "dpid": dpid}, timeout=1800)["report"]["changes"])
        service.submit(ctx, Decision(target=str(EXTRA), violation="malware-hosting", actor="bench"))
        step("plan one more", lambda: service.plan(ctx, ovs.DEVICE_NAME)[0].summary())
        step("apply one more", lambda: service.apply(ctx, ovs.DEVICE_NAME)[0][1])
        step("full resync, no change", lambda: call(control, {"op": "sync", "dpid": dpid, "full": True},
                                                    timeout=1800)["report"]["changes"])  # fmt: skip
        figures["load_average"] = os.getloadavg()
        print(f"load average {figures['load_average']}")
    finally:
        ovs.down(state_dir, args.prefix)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for name in ("ovs-vswitchd.log", "controller.log"):
                if (state_dir / name).exists():
                    shutil.copy(state_dir / name, args.logs / name)
        shutil.rmtree(lab_dir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
