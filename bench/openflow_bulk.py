"""Benchmark: N drops, the store read → barrier of enforcer's controller against ``ovs-ofctl add-flows``.

The bulk half of ``bench/openflow_install.py`` without the ofctl_rest baseline (minutes of HTTP
posts at 10,000 flows), so that the switch path can be compared with Open vSwitch's own bulk
path several times in one run. Each round: N ``scanning`` decisions (one source drop flow each)
are written straight into the store (``enforcer.lab.preload``: not timed, not intake), the
controller is told to sync — timed from the request to its return after the bundle's commit,
with the controller's CPU seconds (``/proc``) and its steps — then they end and are removed, and
``ovs-ofctl add-flows`` installs the same N flows on the same switch (timed to its return; it ends
with a barrier), and they are removed again.

Run as root: ``.venv/bin/python bench/openflow_bulk.py --flows 10000 --rounds 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    import yaml

    from bench.openflow_install import FIRST_TARGET, ofctl_add_flows
    from bench.openflow_latency import cpu_seconds
    from enforcer import service
    from enforcer.controller.control import call
    from enforcer.lab import ovs
    from enforcer.lab.preload import end, preload
    from enforcer.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefix", default=f"ofk{os.getpid() % 100000}")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, Open vSwitch)")
    lab = Path(tempfile.mkdtemp(prefix=f"enforcer-bulk-{args.prefix}-"))
    inv, state_dir = lab / "inventory", lab / "ovs"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump(ovs.inventory_hosts(state_dir, args.prefix)))
    (inv / "settings.yaml").write_text(yaml.safe_dump({"guardrails": {"max_new_per_minute": 10**6,
                                                                      "max_active": 10**6}}))
    db = f"sqlite:///{lab / 'enforcer.db'}"
    service.Context.open(Settings(inventory=inv, db=db)).store.engine.dispose()
    ovs.up(state_dir, args.prefix, inventory=inv, db=db, resync_interval=0)
    out: dict = {"flows": args.flows, "sync_s": [], "controller_cpu_s": [], "steps": [], "ofctl_s": []}
    try:
        ctx = service.Context.open(Settings(inventory=inv, db=db))
        control, dpid = f"unix:{ovs.control_socket(state_dir)}", ovs.datapath_id(args.prefix)
        pid = ovs._load(state_dir)["controller"]

        def sync() -> dict:
            return call(control, {"op": "sync", "dpid": dpid}, timeout=600)["report"]

        for r in range(args.rounds):
            ids = preload(ctx, [FIRST_TARGET + i for i in range(args.flows)], violation="scanning")
            cpu, t0 = cpu_seconds(pid), time.monotonic()
            report = sync()
            out["sync_s"].append(time.monotonic() - t0)
            out["controller_cpu_s"].append(cpu_seconds(pid) - cpu)
            out["steps"].append(report["steps"])
            if not (report["ok"] and report["changes"].get("flows_added") == args.flows and report["atomic"]):
                raise SystemExit(f"bulk sync: {report}")
            end(ctx.store, ids)
            if not sync()["ok"]:
                raise SystemExit("removing the bulk failed")
            out["ofctl_s"].append(ofctl_add_flows(state_dir, args.flows, lab))
            print(f"round {r}: enforcer {out['sync_s'][-1]:.2f} s (controller CPU {out['controller_cpu_s'][-1]:.2f} s, "
                  f"steps {', '.join(f'{k} {v:.2f}' for k, v in report['steps'].items())}); "
                  f"ovs-ofctl add-flows {out['ofctl_s'][-1]:.2f} s", flush=True)
        ctx.store.engine.dispose()
    finally:
        ovs.down(state_dir, args.prefix)
        shutil.rmtree(lab, ignore_errors=True)
    ratios = [e / o for e, o in zip(out["sync_s"], out["ofctl_s"], strict=True)]
    print(f"{args.flows} drops: enforcer store read → barrier median {statistics.median(out['sync_s']):.2f} s, "
          f"ovs-ofctl add-flows median {statistics.median(out['ofctl_s']):.2f} s, ratio per round "
          f"{', '.join(f'{x:.2f}x' for x in ratios)}")
    print(f"load average {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
