"""Benchmark: one decision, ``POST /v1/decisions`` → confirmed on each device type, under ``enforcer serve``.

On its own lab (FRR edge over SSH, the edge's nftables firewall, an Open vSwitch switch behind
enforcer's os-ken controller), against a running ``enforcer serve`` (a subprocess, as a NOC runs
it), with 0, 1,000 and 10,000 decisions already active and installed. Then ``--decisions``
sequential ``malware-hosting`` decisions (a null route on all three devices), each one only after
the previous one was seen everywhere. The clock starts when the POST is sent and stops, per
device, when the effect is visible on it:

* FRR: the null route in the edge namespace's kernel (``ip route show exact``);
* nftables: the element in enforcer's set: the kernel's notification of the transaction that
  added it (``nft monitor new elements``, one process for the whole run), then one ``nft get
  element`` after the clock stopped to confirm it is there. Polling ``nft get element`` instead
  cost about 50 ms of CPU a look with 10,000 elements (nft loads the interval set each time): at
  one look per 5 ms the bench kept a core of the two busy and slowed the push it was timing;
* OpenFlow: the drop flow in ``ovs-ofctl dump-flows``.

The devices are polled every ``--poll`` seconds (each probe is a process: 5–20 ms on the loaded
machine), so the figures include up to one poll of resolution and the HTTP round trip. serve's own
``enforcer_decision_applied_seconds`` (commit → the device's confirmation, per device) is read
from ``/metrics`` at the end and printed beside them, at its buckets' resolution.

The decisions already active are written straight into the store (one transaction per 1,000, the
guardrails not asked: they are the set a busy day left, not part of the measurement) and serve
installs them before the clock runs. Run as root: ``.venv/bin/python bench/latency.py``.

``--devices nftables`` measures the named device types alone: serve is given an inventory of only
those devices (the lab still runs them all), so no other device's push shares the 2 cores.
``--profile FILE`` records serve with py-spy (raw, 100 Hz, every thread) during the measured
decisions of the largest active set.

Each row also gives serve's CPU per measured decision, the device processes it ran and reaped
included (``/proc/PID/stat``: utime, stime, cutime, cstime), for every device type of the run
together: the machine's load moves it far less than the latency. The bench's own ``/metrics``
scrapes while it waits for serve's last confirmations are in that figure, and printed apart
(serve's CPU across each scrape: a push running beside it is counted there too).

``--breakdown`` runs serve at ``--log-level debug`` and prints, from its log, the FRR driver's SSH
execs during the measured decisions (each is a login on the router): how many per decision, and
the median time of each kind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from ipaddress import IPv4Address
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGETS = {"frr": 500.0, "nftables": 500.0, "openflow": 20.0}  # p99, ms (issue 12)
PRELOAD = IPv4Address("100.64.0.1")  # the decisions already active: 100.64.0.0/10 counts up
MEASURED = IPv4Address("198.18.0.1")  # the measured decisions
#: The FRR driver's debug line for one SSH exec (enforcer/drivers/frr.py).
EXEC_LINE = re.compile(r"enforcer\.drivers\.frr: \S+: exec (\S+): ([\d.]+) ms")
#: Its line for a commit-confirm sent on the held commit's own channel (no new login: not an exec).
HELD_LINE = re.compile(r"enforcer\.drivers\.frr: \S+: held (commit-confirm): ([\d.]+) ms")
HELD = "held "


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# ------------------------------------------------------------------ the devices, as an operator would look


class Probes:
    """Is ``target``'s block visible on each device? One process per look, as a person would check."""

    def __init__(self, lab):
        from enforcer.lab import probes

        self.lab, self.probes = lab, probes
        self.edge_ns = probes.netns_of(lab.edge)
        self.ovs_dir = lab.state_dir / "ovs"
        self.monitor: NftMonitor | None = None

    def frr(self, target: str) -> bool:
        return bool(self.probes.kernel_routes(self.lab.edge, f"{target}/32"))

    def nftables(self, target: str) -> bool:
        """Added, per the kernel's notification (:class:`NftMonitor`) when one runs, else looked up."""
        if self.monitor is not None:
            return self.monitor.added(target)
        return self.nft_holds(target)

    def nft_holds(self, target: str) -> bool:
        cmd = ["ip", "netns", "exec", self.edge_ns, "nft", "get", "element", "inet", "enforcer", "null-v4",
               f"{{ {target} }}"]
        return subprocess.run(cmd, capture_output=True).returncode == 0

    def confirm(self, kind: str, target: str) -> bool:
        """After the clock stopped: the device really holds it (the monitor's word checked once)."""
        return self.nft_holds(target) if kind == "nftables" and self.monitor is not None else True

    def openflow(self, target: str) -> bool:
        from enforcer.lab import ovs

        return "actions=drop" in ovs.ofctl(self.ovs_dir, "dump-flows", f"ip,nw_dst={target}", check=False)

    def count(self, kind: str) -> int:
        """How many preloaded blocks the device holds (to wait for serve's start-up install)."""
        from enforcer.lab import ovs

        if kind == "frr":
            out = subprocess.run(["ip", "netns", "exec", self.edge_ns, "ip", "-4", "route", "show", "type",
                                  "blackhole"], capture_output=True, text=True).stdout
            return sum(any(w.startswith("100.") for w in ln.split()[:2]) for ln in out.splitlines())
        if kind == "nftables":
            out = subprocess.run(["ip", "netns", "exec", self.edge_ns, "nft", "-j", "list", "set", "inet", "enforcer",
                                  "null-v4"], capture_output=True, text=True).stdout
            if not out:
                return 0
            sets = [i["set"] for i in json.loads(out)["nftables"] if "set" in i]
            return sum(1 for e in (sets[0].get("elem") or []) if "100." in json.dumps(e)) if sets else 0
        return ovs.ofctl(self.ovs_dir, "dump-flows", "ip", check=False).count("nw_dst=100.")


class NftMonitor:
    """``nft monitor new elements`` in the edge's namespace: each address of each ``add element`` the
    kernel reports, as it commits. One long-lived process, woken by the kernel, instead of a look
    that loads the 10,000-element set every few milliseconds."""

    def __init__(self, netns: str):
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, "nft", "monitor", "new", "elements"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self._added: set[str] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("add element inet enforcer null-v4 {"):
                body = line.split("{", 1)[1]
                self._added.update(word.strip(",") for word in body.split() if word[:1].isdigit())

    def added(self, target: str) -> bool:
        return target in self._added

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def seen_everywhere(probes: Probes, target: str, sent: float, poll: float, give_up: float,
                    kinds: tuple[str, ...] = tuple(TARGETS)) -> dict[str, float]:
    """Milliseconds from ``sent`` until each device shows ``target`` (polled in parallel, one thread each)."""
    seen: dict[str, float] = {}

    def watch(kind: str) -> None:
        look = getattr(probes, kind)
        while time.monotonic() - sent < give_up:
            if look(target):
                seen[kind] = (time.monotonic() - sent) * 1000
                return
            time.sleep(poll)

    threads = [threading.Thread(target=watch, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


# ------------------------------------------------------------------ the store and serve


def preload(db: str, inventory: Path, n: int) -> None:
    """``n`` active malware-hosting decisions, written straight into the store, 1,000 per transaction."""
    from enforcer import service
    from enforcer.model import Decision, Status, now
    from enforcer.settings import Settings

    ctx = service.Context.open(Settings(inventory=inventory, db=db, playbooks=REPO / "playbooks"))
    template = service.submit(ctx, Decision(target=str(PRELOAD), violation="malware-hosting"), dry_run=True)
    at = now()
    for start in range(0, n, 1000):
        with ctx.store.write() as tx:
            for i in range(start, min(n, start + 1000)):
                target = str(PRELOAD + i)
                rows = [{"action": e.action.value, "target": f"{target}/32", "params": e.params.model_dump(mode="json"),
                         "roles": sorted(e.roles), "expires_at": e.expires_at} for e in template.enforcements]
                tx.insert(Decision(target=target, violation="malware-hosting", reason="preload"), customer=None,
                          step=0, clause="", expires_at=rows[0]["expires_at"], enforcements=rows,
                          status=Status.ACTIVE, automatic=False, at=at)
    ctx.store.engine.dispose()


def empty_store(lab) -> None:
    from enforcer.store import Base, Store

    store = Store(lab.db)
    with store.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    store.engine.dispose()


def latency_metric(url: str) -> dict[str, dict[str, float]]:
    """serve's own histogram per platform: count, mean and the bucket bound under which 50/95/99 % fall."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[float, float]] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=30).text):
        if family.name != "enforcer_decision_applied_seconds":
            continue
        for s in family.samples:
            platform = s.labels.get("platform", "")
            if s.name.endswith("_bucket"):
                buckets.setdefault(platform, {})[float(s.labels["le"])] = s.value
            elif s.name.endswith("_sum"):
                sums[platform] = s.value
    out = {}
    for platform, b in buckets.items():
        total = b[float("inf")]
        if not total:
            continue
        bound = {q: next(le for le, c in sorted(b.items()) if c >= q / 100 * total) * 1000 for q in (50, 95, 99)}
        out[platform] = {"count": total, "mean_ms": sums[platform] / total * 1000,
                         **{f"p{q}_le_ms": v for q, v in bound.items()}}
    return out


def pushes(url: str, device: str) -> float:
    """Pushes serve has finished to ``device`` (``enforcer_pushes_total``, any outcome)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=30).text)
    return sum(s.value for f in families if f.name == "enforcer_pushes" for s in f.samples
               if s.name == "enforcer_pushes_total" and s.labels.get("device") == device)


def exec_breakdown(log: Path, offset: int) -> dict[str, list[float]]:
    """Milliseconds of each FRR SSH exec serve logged past ``offset`` in its log, by command."""
    execs: dict[str, list[float]] = {}
    with log.open() as fh:
        fh.seek(offset)
        text = fh.read()
    for m in EXEC_LINE.finditer(text):
        execs.setdefault(m.group(1), []).append(float(m.group(2)))
    for m in HELD_LINE.finditer(text):  # shown beside the execs, not counted as one
        execs.setdefault(HELD + m.group(1), []).append(float(m.group(2)))
    return execs


def only_devices(source: Path, folder: Path, kinds: tuple[str, ...]) -> Path:
    """A copy of the lab's inventory holding only the devices of ``kinds`` (their platforms), and the
    customers' attachments to them: serve then pushes nothing else."""
    import shutil

    import yaml

    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(source, folder)
    hosts = yaml.safe_load((folder / "hosts.yaml").read_text())
    kept = {name: h for name, h in hosts.items() if h.get("platform") in kinds}
    (folder / "hosts.yaml").write_text(yaml.safe_dump(kept, sort_keys=False))
    customers_file = folder / "customers.yaml"
    if customers_file.exists():
        customers = yaml.safe_load(customers_file.read_text()) or {}
        for c in customers.values():
            if isinstance(c, dict) and "attachments" in c:
                c["attachments"] = [a for a in c["attachments"] if a.get("device") in kept]
        customers_file.write_text(yaml.safe_dump(customers, sort_keys=False))
    return folder


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and of the children it waited for (utime, stime, cutime, cstime): serve's
    own work plus every device process it ran and reaped (``ip netns exec nft …``, the scripts)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def serve_pid(port: str) -> int:
    """The pid of this process's child ``enforcer serve`` listening on ``port`` (for py-spy)."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if stat[1] == me and f"127.0.0.1:{port}" in cmdline:
            return int(entry.name)
    raise SystemExit(f"no serve process on port {port}")


def run_size(lab, probes: Probes, work: Path, active: int, decisions: int, poll: float, give_up: float,
             breakdown: bool = False, kinds: tuple[str, ...] = tuple(TARGETS), profile: Path | None = None,
             coalesce: float | None = None) -> dict:
    from enforcer.api.tokens import create_token
    from enforcer.store import Store
    from tests.helpers import serve_process

    empty_store(lab)
    preload(lab.db, lab.inventory_path, active)
    store = Store(lab.db)
    token = create_token(store, "bench", "operator")
    store.engine.dispose()
    inventory = lab.inventory_path if set(kinds) == set(TARGETS) else \
        only_devices(lab.inventory_path, work / "inventory-serve", kinds)
    env = {**os.environ, "ENFORCER_INVENTORY": str(inventory), "ENFORCER_DB": lab.db,
           "ENFORCER_OUTPUT": str(work / "out")}
    import httpx

    log = work / f"serve-{active}.log"
    options = ["--interval", "3600", "--log-level", "debug" if breakdown else "warning"]
    options += [] if coalesce is None else ["--coalesce", str(coalesce)]
    with serve_process(serve_options=options,
                       env=env, log=log, start_timeout=120) as url:
        started = time.monotonic()
        while any(probes.count(k) < active for k in kinds):  # serve's start-up pass installs the set
            if time.monotonic() - started > give_up * 20:
                raise SystemExit(f"serve did not install the {active} preloaded blocks: see {work}/serve-{active}.log")
            time.sleep(1)
        install = time.monotonic() - started
        # The route is in the kernel before the install's commit-confirm: let that push finish
        # (counted in serve's enforcer_pushes_total) before the breakdown's log offset is taken.
        frr = lab.device(platform="frr").name
        while "frr" in kinds and active and pushes(url, frr) < 1 and time.monotonic() - started < give_up * 20:
            time.sleep(0.2)
        measured_from = log.stat().st_size
        spy = None
        if profile is not None:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-r", "100", "--threads",
                                    "-f", "raw", "-o", str(profile), "-p", str(serve_pid(url.rsplit(":", 1)[1]))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # py-spy attaches
        samples: dict[str, list[float]] = {k: [] for k in kinds}
        pid = serve_pid(url.rsplit(":", 1)[1])
        cpu_before = cpu_seconds(pid)
        if "nftables" in kinds:
            probes.monitor = NftMonitor(probes.edge_ns)
            time.sleep(1)  # nft reads the ruleset before it listens
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                for i in range(decisions):
                    target = str(MEASURED + i)
                    sent = time.monotonic()
                    r = client.post("/v1/decisions", json={"target": target, "violation": "malware-hosting"})
                    if r.status_code != 201:
                        raise SystemExit(f"POST {target}: {r.status_code} {r.text}")
                    seen = seen_everywhere(probes, target, sent, poll, give_up, kinds)
                    for kind in kinds:
                        if kind not in seen:
                            raise SystemExit(f"{target} not on {kind} within {give_up} s: "
                                             f"see {work}/serve-{active}.log")
                        if not probes.confirm(kind, target):
                            raise SystemExit(f"{target}: nft monitor reported it added, but the set does not hold it")
                        samples[kind].append(seen[kind])
        finally:
            if probes.monitor is not None:
                probes.monitor.close()
                probes.monitor = None
        # A device confirms after its block is visible (FRR: commit-confirm and the read-back follow
        # load-commit): wait until serve has timed every decision on every device.
        # Each /metrics scrape costs serve a read of every counted element (at 10,000 active a
        # quarter of its samples in this wait): timed apart, so the per-decision figure can leave it out.
        deadline = time.monotonic() + give_up
        scrape_s = 0.0
        while True:
            before = cpu_seconds(pid)
            server = latency_metric(url)
            scrape_s += cpu_seconds(pid) - before
            if all(server.get(k, {}).get("count", 0) >= decisions for k in kinds) or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, decisions)
        scrape_ms = scrape_s * 1000 / max(1, decisions)
        if spy is not None:
            spy.send_signal(2)  # py-spy writes its profile on SIGINT
            spy.wait(60)
        execs = exec_breakdown(log, measured_from) if breakdown else {}
    empty_store(lab)
    return {"active": active, "install_s": install, "samples_ms": samples, "server": server, "frr_execs": execs,
            "decisions": decisions, "serve_cpu_ms": cpu_ms, "scrape_cpu_ms": scrape_ms}


# ------------------------------------------------------------------ report


def summary(result: dict) -> dict[str, dict[str, float]]:
    return {k: {"p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99),
                "median": statistics.median(v)} for k, v in result["samples_ms"].items()}


def report(results: list[dict]) -> str:
    lines = ["active | device | p50 ms | p95 ms | p99 ms | target p99 | serve: commit→confirmed (mean, p99 ≤) | "
             "serve CPU per decision, its device processes included (every device type together)"]
    for r in results:
        for kind, s in summary(r).items():
            srv = r["server"].get(kind, {})
            verdict = "met" if s["p99"] < TARGETS[kind] else "MISSED"
            server = f"{srv['mean_ms']:.1f} ms, ≤ {srv['p99_le_ms']:.0f} ms" if srv else "-"
            cpu = f"{r['serve_cpu_ms']:.0f} ms" if "serve_cpu_ms" in r else "-"
            if "scrape_cpu_ms" in r:
                cpu += f" (of which the bench's /metrics scrapes {r['scrape_cpu_ms']:.0f} ms)"
            lines.append(f"{r['active']:>6} | {kind:<8} | {s['p50']:7.1f} | {s['p95']:7.1f} | {s['p99']:7.1f} | "
                         f"< {TARGETS[kind]:.0f} ({verdict}) | {server} | {cpu}")
    for r in results:
        if r.get("frr_execs"):
            per = sum(len(ms) for verb, ms in r["frr_execs"].items()
                      if not verb.startswith(HELD)) / max(1, r["decisions"])
            kinds = ", ".join(f"{verb} {statistics.median(ms):.0f} ms ×{len(ms)}"
                              for verb, ms in sorted(r["frr_execs"].items()))
            lines.append(f"{r['active']:>6} | FRR SSH execs per decision: {per:.1f} (median each: {kinds})")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    kinds = list(results[0]["samples_ms"])
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        s = summary(r)
        for j, q in enumerate(("p50", "p95", "p99")):
            left.bar([k + i * width + j * width / 3 for k in range(len(kinds))], [s[k][q] for k in kinds],
                     width / 3, label=f"{r['active']:,} active, {q}")
    left.set_xticks([k + 0.4 - width / 2 for k in range(len(kinds))], kinds)
    left.set_yscale("log")
    left.set_ylabel("POST → visible on the device (ms)")
    left.set_title("Latency percentiles per device type")
    for target in {TARGETS[k] for k in kinds}:
        left.axhline(target, linestyle=":", linewidth=0.8, color="grey")
    left.legend(fontsize=6, ncol=len(results))
    sizes = [max(1, r["active"]) for r in results]
    for kind in kinds:
        right.plot(sizes, [summary(r)[kind]["median"] for r in results], marker="o", label=kind)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("decisions already active (0 drawn at 1)")
    right.set_ylabel("one more decision, median (ms)")
    right.set_title("Cost of one more decision against the active set")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--active", default="0,1000,10000", help="comma-separated sizes of the active set")
    ap.add_argument("--poll", type=float, default=0.005, help="seconds between looks at a device")
    ap.add_argument("--give-up", type=float, default=120.0, help="seconds before a decision counts as lost")
    ap.add_argument("--plot", type=Path, help="write the PNG plot here")
    ap.add_argument("--json", type=Path, help="write the raw samples here")
    ap.add_argument("--coalesce", type=float, help="serve's --coalesce (default: serve's own)")
    ap.add_argument("--breakdown", action="store_true", help="serve at debug level; print the FRR execs per decision")
    ap.add_argument("--lab-name", help="the lab's name (default: a random one)")
    ap.add_argument("--devices", default=",".join(TARGETS), help="comma-separated device types to measure")
    ap.add_argument("--profile", type=Path, help="py-spy raw profile of serve during the largest size's decisions")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench/latency.py needs root (it builds a network-namespace lab)")
    from enforcer.lab.testing import running_lab

    sizes = [int(x) for x in args.active.split(",") if x.strip()]
    kinds = tuple(k for k in TARGETS if k in {x.strip() for x in args.devices.split(",")})
    if not kinds:
        raise SystemExit(f"--devices: choose among {', '.join(TARGETS)}")
    with tempfile.TemporaryDirectory(prefix="enforcer-latency-") as tmp:
        work = Path(tmp)
        with running_lab(work / "inventory", name=args.lab_name, db=f"sqlite:///{work / 'enforcer.db'}") as lab:
            probes = Probes(lab)
            results = []
            for n in sizes:
                results.append(run_size(lab, probes, work, n, args.decisions, args.poll, args.give_up,
                                        args.breakdown, kinds, args.profile if n == max(sizes) else None,
                                        args.coalesce))
                print(f"{n:,} active: installed in {results[-1]['install_s']:.1f} s", flush=True)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
