"""Benchmark: one decision through ``enforcer serve`` → confirmed drop flow, on an OpenFlow-only lab.

``bench/latency.py`` measures the same path beside FRR and nftables, whose workers share the
machine and the store with the switch's; this one isolates the switch (Open vSwitch userspace
datapath, enforcer's os-ken controller, ``enforcer serve`` as a subprocess), so that where its
time goes can be told. With ``--active`` N decisions already in the store (written straight in,
``enforcer.lab.preload``: not part of the measurement) and installed, ``--decisions``
sequential ``malware-hosting`` decisions are sent with ``POST /v1/decisions``; each is timed:

* ``added``: POST sent → the switch reports the drop flow added, to a running ``ovs-ofctl monitor
  BRIDGE watch:`` (the switch's flow monitor: no process start per look);
* ``dump-flows poll``: POST sent → the flow in ``ovs-ofctl dump-flows``, polled (what
  bench/latency.py prints; each look is a process start, about ``one dump-flows`` below);
* ``api``: the POST's round trip (stored, devices woken);
* ``serve``: serve's ``enforcer_decision_applied_seconds`` mean (commit → the switch's barrier);
* ``controller``: the controller's own sync time (store read, render, diff, bundle, barrier), from
  its log (``sync … took``);
* ``one dump-flows``: one ``ovs-ofctl dump-flows`` with nothing to wait for (the poll's floor);
* CPU ms per decision: user + sys of serve and of the controller over the measured decisions
  (``/proc/PID/stat``), divided by their number — the figure the machine's load does not move.

Run as root: ``.venv/bin/python bench/openflow_latency.py --active 0,1000,10000 --decisions 20``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PRELOAD = IPv4Address("100.64.0.1")
MEASURED = IPv4Address("198.18.0.1")
SYNC_LINE = re.compile(r"control sync \S+: ([\d.]+) ms \(desired ([\d.]+), diff ([\d.]+), send ([\d.-]+)\)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def children(pid: int) -> list[int]:
    """This process's children, from /proc (serve's PID, which serve_process keeps to itself)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def cpu_seconds(pid: int) -> float:
    """user + sys CPU seconds of ``pid`` so far (/proc/PID/stat): what a sync costs, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spy(pids: dict[str, int], folder: Path, seconds: int) -> list:
    """``py-spy record`` of each process while the decisions run (raw stacks, idle included)."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    tool = str(Path(sys.executable).parent / "py-spy")
    procs = []
    for name, pid in pids.items():
        argv = [tool, "record", "-r", "250", "-d", str(seconds), "--idle", "--threads", "--format", "raw",
                "-o", str(folder / f"{name}.raw"), "-p", str(pid)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


class Monitor:
    """``ovs-ofctl monitor BRIDGE watch:``: one process on the bridge's management socket that prints
    each flow the switch adds as it adds it (Open vSwitch's flow monitor), read by a thread that
    notes when each line arrived — the switch's own view, without a process start per look."""

    def __init__(self, state_dir: Path):
        import subprocess
        import threading

        from enforcer.lab import ovs

        self.seen: dict[str, float] = {}
        self.lines: list[str] = []
        self.changed = threading.Condition()
        # monitor opens a unixctl socket in OVS_RUNDIR: the lab's, not /var/run/openvswitch
        argv = ovs._with_env(state_dir, ["stdbuf", "-oL", "ovs-ofctl", "-O", "OpenFlow13", "monitor",
                                         f"unix:{ovs.mgmt_socket(state_dir)}", "watch:!initial"])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            at = time.monotonic()
            self.lines.append(line)
            m = re.search(r"event=ADDED .*nw_dst=([\d.]+)\s*$", line)
            if m:
                with self.changed:
                    self.seen.setdefault(m.group(1), at)
                    self.changed.notify_all()

    def wait(self, target: str, timeout: float) -> float | None:
        with self.changed:
            self.changed.wait_for(lambda: target in self.seen, timeout)
            return self.seen.get(target)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def run_size(lab_dir: Path, prefix: str, active: int, decisions: int, poll: float,
             spy_dir: Path | None = None) -> dict:
    import httpx
    import yaml

    from bench.latency import latency_metric
    from enforcer import service
    from enforcer.api.tokens import create_token
    from enforcer.lab import ovs
    from enforcer.lab.preload import preload
    from enforcer.settings import Settings
    from tests.helpers import serve_process

    inv, state_dir = lab_dir / "inventory", lab_dir / "ovs"
    inv.mkdir(parents=True, exist_ok=True)
    (inv / "hosts.yaml").write_text(yaml.safe_dump(ovs.inventory_hosts(state_dir, prefix)))
    (inv / "settings.yaml").write_text(yaml.safe_dump({"guardrails": {"max_new_per_minute": 10**6,
                                                                      "max_active": 10**6}}))
    db = f"sqlite:///{lab_dir / f'enforcer-{active}.db'}"
    ctx = service.Context.open(Settings(inventory=inv, db=db))
    ctx.store.engine.dispose()
    ovs.up(state_dir, prefix, inventory=inv, db=db, resync_interval=0)
    try:
        ctx = service.Context.open(Settings(inventory=inv, db=db))
        preload(ctx, [PRELOAD + i for i in range(active)])
        token = create_token(ctx.store, "bench", "operator")
        ctx.store.engine.dispose()
        env = {**os.environ, "ENFORCER_INVENTORY": str(inv), "ENFORCER_DB": db, "ENFORCER_OUTPUT": str(lab_dir)}

        def count() -> int:
            return ovs.ofctl(state_dir, "dump-flows", "ip", check=False).count("nw_dst=100.")

        log = lab_dir / f"serve-{active}.log"
        with serve_process(serve_options=["--interval", "3600", "--log-level", "warning"], env=env, log=log,
                           start_timeout=120) as url:
            t0 = time.monotonic()
            while count() < active:
                if time.monotonic() - t0 > 600:
                    raise SystemExit(f"serve did not install {active} blocks: {log}")
                time.sleep(0.5)
            install = time.monotonic() - t0
            time.sleep(1.0)  # serve's start-up push confirmed and reported
            probe = []
            for _ in range(5):
                t = time.monotonic()
                ovs.ofctl(state_dir, "dump-flows", f"ip,nw_dst={MEASURED}", check=False)
                probe.append((time.monotonic() - t) * 1000)
            clog = state_dir / "controller.log"
            offset = clog.stat().st_size
            visible, api, polled = [], [], []
            monitor = Monitor(state_dir)
            time.sleep(0.5)
            spies = []
            serve_pid = [p for p in children(os.getpid()) if b"serve" in Path(f"/proc/{p}/cmdline").read_bytes()]
            pids = {"serve": serve_pid[0], "controller": ovs._load(state_dir)["controller"]}
            if spy_dir is not None:
                spies = spy({f"{k}-{active}": v for k, v in pids.items()}, spy_dir, max(5, decisions // 2))
                time.sleep(1.0)
            cpu_before = {k: cpu_seconds(v) for k, v in pids.items()}
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                for i in range(decisions):
                    target = str(MEASURED + i)
                    sent = time.monotonic()
                    r = client.post("/v1/decisions", json={"target": target, "violation": "malware-hosting"})
                    api.append((time.monotonic() - sent) * 1000)
                    if r.status_code != 201:
                        raise SystemExit(f"POST {target}: {r.status_code} {r.text}")
                    while poll > 0 and "actions=drop" not in ovs.ofctl(state_dir, "dump-flows",
                                                                       f"ip,nw_dst={target}", check=False):
                        if time.monotonic() - sent > 120:
                            raise SystemExit(f"{target} never on the switch: {log}")
                        time.sleep(poll)
                    if poll > 0:
                        polled.append((time.monotonic() - sent) * 1000)
                    added = monitor.wait(target, 5.0 if poll > 0 else 120.0)
                    if added is None:
                        raise SystemExit(f"{target}: not reported by ovs-ofctl monitor: {monitor.lines[:5]}")
                    visible.append((added - sent) * 1000)
            monitor.close()
            cpu = {k: (cpu_seconds(v) - cpu_before[k]) / decisions * 1000 for k, v in pids.items()}
            for proc in spies:
                proc.wait()
            deadline = time.monotonic() + 30
            server = latency_metric(url).get("openflow", {})
            while server.get("count", 0) < decisions + (1 if active else 0) and time.monotonic() < deadline:
                time.sleep(0.2)
                server = latency_metric(url).get("openflow", {})
        with clog.open() as fh:
            fh.seek(offset)
            syncs = [tuple(float(g) if g != "-" else 0.0 for g in m.groups()) for m in SYNC_LINE.finditer(fh.read())]
    finally:
        ovs.down(state_dir, prefix)
        shutil.copy(state_dir / "controller.log", lab_dir / f"controller-{active}.log") \
            if (state_dir / "controller.log").exists() else None
    return {"active": active, "install_s": install, "visible_ms": visible, "polled_ms": polled,
            "api_ms": api, "probe_ms": probe, "cpu_ms_per_decision": cpu,
            "server": server, "controller_ms": [s[0] for s in syncs], "desired_ms": [s[1] for s in syncs],
            "diff_ms": [s[2] for s in syncs], "send_ms": [s[3] for s in syncs]}


def run_direct(lab_dir: Path, prefix: str, active: int, decisions: int, spy_dir: Path | None = None) -> dict:
    """The controller's part alone: each decision stored in-process (``service.submit``: its commit
    returned), then the controller told to sync, as serve's worker does; the clock runs from the
    commit to the sync's return, which comes after the switch's last reply (barrier or bundle
    commit). No HTTP, no serve worker, no lease: what is left of serve's histogram when those cost
    nothing, and the issue's original "stored → barrier" figure."""
    import yaml

    from enforcer import service
    from enforcer.controller.control import call
    from enforcer.lab import ovs
    from enforcer.lab.preload import preload
    from enforcer.model import Decision
    from enforcer.settings import Settings

    inv, state_dir = lab_dir / "inventory", lab_dir / "ovs"
    inv.mkdir(parents=True, exist_ok=True)
    (inv / "hosts.yaml").write_text(yaml.safe_dump(ovs.inventory_hosts(state_dir, prefix)))
    (inv / "settings.yaml").write_text(yaml.safe_dump({"guardrails": {"max_new_per_minute": 10**6,
                                                                      "max_active": 10**6}}))
    db = f"sqlite:///{lab_dir / f'direct-{active}.db'}"
    service.Context.open(Settings(inventory=inv, db=db)).store.engine.dispose()
    ovs.up(state_dir, prefix, inventory=inv, db=db, resync_interval=0)
    try:
        ctx = service.Context.open(Settings(inventory=inv, db=db))
        preload(ctx, [PRELOAD + i for i in range(active)])
        control, dpid = f"unix:{ovs.control_socket(state_dir)}", ovs.datapath_id(prefix)

        def sync(full: bool = False) -> dict:
            return call(control, {"op": "sync", "dpid": dpid, "full": full}, timeout=600)["report"]

        t0 = time.monotonic()
        bulk = sync(full=True)
        install = time.monotonic() - t0
        assert bulk["ok"], bulk
        pid = ovs._load(state_dir)["controller"]
        spies = spy({f"controller-direct-{active}": pid}, spy_dir, max(5, decisions // 4)) if spy_dir else []
        cpu_before = cpu_seconds(pid)
        wall, reports = [], []
        for i in range(decisions):
            decision = Decision.model_validate({"target": str(MEASURED + i), "violation": "malware-hosting",
                                                "actor": "bench"})
            service.submit(ctx, decision)
            committed = time.monotonic()
            report = sync()
            wall.append((time.monotonic() - committed) * 1000)
            assert report["ok"] and report["changes"].get("flows_added") == 2, report
            reports.append(report)
        cpu = (cpu_seconds(pid) - cpu_before) / decisions * 1000
        for proc in spies:
            proc.wait()
        ctx.store.engine.dispose()
    finally:
        ovs.down(state_dir, prefix)
    steps = {k: [r["steps"].get(k, 0.0) * 1000 for r in reports] for k in ("desired", "live", "diff", "send")}
    return {"active": active, "install_s": install, "commit_to_confirmed_ms": wall, "controller_cpu_ms": cpu,
            "steps_ms": steps, "round_trips": [r.get("round_trips") for r in reports],
            "atomic": [r.get("atomic") for r in reports]}


def report_direct(results: list[dict]) -> str:
    lines = ["active | commit → confirmed p50 / p99 ms (controller alone) | steps p50: desired, diff, send | "
             "round trips per sync | controller CPU ms per decision"]
    for r in results:
        w, s = r["commit_to_confirmed_ms"], r["steps_ms"]
        trips = sorted({t for t in r["round_trips"] if t is not None}) or ["-"]
        lines.append(f"{r['active']:>6} | {percentile(w, 50):7.1f} / {percentile(w, 99):7.1f} | "
                     f"{med(s['desired']):.1f}, {med(s['diff']):.1f}, {med(s['send']):.1f} | "
                     f"{','.join(map(str, trips))} | {r['controller_cpu_ms']:.1f}")
    return "\n".join(lines)


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def report(results: list[dict]) -> str:
    lines = ["active | added p50 / p99 ms (monitor) | dump-flows poll p50 / p99 | api p50 | serve mean "
             "(commit→confirmed) | controller sync p50 (desired, diff, send) | one dump-flows | CPU ms per decision "
             "(serve, controller)"]
    for r in results:
        v = r["visible_ms"]
        srv = r["server"].get("mean_ms", float("nan"))
        p = r["polled_ms"] or [float("nan")]
        lines.append(f"{r['active']:>6} | {percentile(v, 50):7.1f} / {percentile(v, 99):7.1f} | "
                     f"{percentile(p, 50):7.1f} / {percentile(p, 99):7.1f} | "
                     f"{med(r['api_ms']):6.1f} | {srv:7.1f} | {med(r['controller_ms']):7.1f} "
                     f"({med(r['desired_ms']):.1f}, {med(r['diff_ms']):.1f}, {med(r['send_ms']):.1f}) | "
                     f"{med(r['probe_ms']):.1f} | {r['cpu_ms_per_decision']['serve']:.1f}, "
                     f"{r['cpu_ms_per_decision']['controller']:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=20)
    ap.add_argument("--active", default="0,1000,10000")
    ap.add_argument("--poll", type=float, default=0.002,
                    help="seconds between dump-flows looks; 0: none, the flow monitor alone (each look is an "
                         "ovs-ofctl process and a request the switch answers beside the bundle being timed)")
    ap.add_argument("--prefix", default=f"ofl{os.getpid() % 100000}")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="copy serve's and the controller's logs here")
    ap.add_argument("--spy", type=Path, help="py-spy record serve and the controller into this folder")
    ap.add_argument("--path", choices=("serve", "controller"), default="serve",
                    help="serve: POST → the switch, through enforcer serve; controller: the decision's commit "
                         "(in-process) → the controller's confirmed sync, nothing else")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, Open vSwitch)")
    results = []
    with tempfile.TemporaryDirectory(prefix="enforcer-oflat-") as tmp:
        for n in (int(x) for x in args.active.split(",") if x.strip()):
            if args.path == "controller":
                results.append(run_direct(Path(tmp), args.prefix, n, args.decisions, args.spy))
            else:
                results.append(run_size(Path(tmp), args.prefix, n, args.decisions, args.poll, args.spy))
            print(f"{n:,} active: installed in {results[-1]['install_s']:.1f} s", flush=True)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for p in Path(tmp).glob("*.log"):
                shutil.copy(p, args.keep / p.name)
    print(report_direct(results) if args.path == "controller" else report(results))
    print(f"load average {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
