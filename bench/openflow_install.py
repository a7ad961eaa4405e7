"""Benchmark: how fast a decision becomes a confirmed drop flow, enforcer's controller vs os-ken ofctl_rest.

Same run, same Open vSwitch (userspace datapath, private lab namespace), same flows
(``priority=42032 ip,nw_src=198.19.x.y actions=drop`` with enforcer cookies):

enforcer
  * single decision: ``service.submit`` stores a ``scanning`` decision (first rung: source ACL, one drop
    flow), then the controller is asked to sync the switch; the clock runs from "decision stored" to the
    switch's barrier reply (what ``enforcer apply`` waits for). Also timed: the whole ``service.apply``
    (plan: read live flows + render; push: sync; read-back).
  * bulk: N decisions stored in one batch (``service.submit_many``, timed), then one sync: store →
    render → diff → N flow-mods in one OpenFlow 1.4 bundle → commit → barrier; end to end = storing + sync.
  * ``ovs-ofctl add-flows`` of the same N flows on the same switch (Open vSwitch's own bulk path),
    and ``ovs-ofctl --bundle add-flows`` (the same, in one atomic bundle, as enforcer sends them).
baseline: os-ken 1.4.1 ``ofctl_rest`` (the last release that ships it) in its own virtualenv
  * single flow: ``POST /stats/flowentry/add``, then ``POST /stats/aggregateflow`` until the switch counts it
    (ofctl_rest answers before the switch has the flow; the aggregate request on the same OpenFlow
    connection plays the barrier's part).
  * bulk: N POSTs (one flow each — the API has no batch), sequentially on one keep-alive connection,
    and from 16 concurrent clients; done when the aggregate count reaches N.

Run as root: ``bench/openflow_install.sh`` (creates the baseline virtualenv on first use).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
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

BASELINE_VENV = REPO / "bench" / ".venv-baseline"
REST_OF_PORT = 6654
REST_HTTP_PORT = 8089
COOKIE_MAGIC = 0xE4F0000000000000
FIRST_TARGET = IPv4Address("198.19.0.1")
LATENCY_TARGET = IPv4Address("198.19.200.1")


# ------------------------------------------------------------------ enforcer side


def enforcer_side(args: argparse.Namespace, lab_dir: Path, prefix: str) -> dict:
    import yaml

    from enforcer import service
    from enforcer.controller.control import call
    from enforcer.lab import ovs
    from enforcer.lab.preload import end
    from enforcer.model import Decision
    from enforcer.settings import Settings

    inv = lab_dir / "inventory"
    inv.mkdir(parents=True, exist_ok=True)
    state_dir = lab_dir / "ovs"
    (inv / "hosts.yaml").write_text(yaml.safe_dump(ovs.inventory_hosts(state_dir, prefix)))
    (inv / "settings.yaml").write_text(
        yaml.safe_dump({"guardrails": {"max_new_per_minute": 10**6, "max_active": 10**6}})
    )
    db = f"sqlite:///{lab_dir / 'enforcer.db'}"
    print(f"lab {prefix}: bringing up Open vSwitch and enforcer's controller ...", flush=True)
    ovs.up(state_dir, prefix, inventory=inv, db=db, resync_interval=0)
    ctx = service.Context.open(Settings(inventory=inv, db=db))
    control = f"unix:{ovs.control_socket(state_dir)}"
    dpid = ovs.datapath_id(prefix)
    out: dict = {"dpid": dpid, "state_dir": str(state_dir)}

    def submit(target: IPv4Address) -> int:
        decision = Decision.model_validate({"target": str(target), "violation": "scanning", "actor": "bench"})
        return service.submit(ctx, decision).decision_id

    def sync(full: bool = False) -> dict:
        return call(control, {"op": "sync", "dpid": dpid, "full": full}, timeout=600)["report"]

    def end_all() -> None:  # untimed; one transaction (ending 10,000 one by one took minutes: not measured here)
        end(ctx.store, [rec.id for rec in ctx.store.decisions(active_only=True)])

    def enforcer_flow_count() -> int:
        return sum("cookie=0xe4f0" in ln for ln in ovs.ofctl(state_dir, "dump-flows", "--no-stats").splitlines())

    # single decision → barrier reply
    sync_lat, apply_lat = [], []
    for i in range(args.samples):
        submit(LATENCY_TARGET + i)
        t0 = time.perf_counter()
        report = sync()
        sync_lat.append(time.perf_counter() - t0)
        assert report["changes"].get("flows_added") == 1, report
        submit(LATENCY_TARGET + args.samples + i)
        t0 = time.perf_counter()
        [(_, result)] = service.apply(ctx, ovs.DEVICE_NAME)
        apply_lat.append(time.perf_counter() - t0)
        assert result is not None and result.ok, result
    assert enforcer_flow_count() == 2 * args.samples
    end_all()
    sync()
    assert enforcer_flow_count() == 0
    out["single_sync_s"] = sync_lat
    out["single_apply_s"] = apply_lat

    # bulk: stored in one batch (service.submit_many), the end-to-end figure includes it, and the
    # validation of each decision from what a client sends (a list POST's JSON objects) too
    print(f"storing {args.flows} decisions ...", flush=True)
    sent = [{"target": str(FIRST_TARGET + i), "violation": "scanning", "actor": "bench"} for i in range(args.flows)]
    t0 = time.perf_counter()
    batch = [Decision.model_validate(d) for d in sent]
    out["validate_s"] = time.perf_counter() - t0
    refused = [o for o in service.submit_many(ctx, batch) if isinstance(o, Exception)]
    out["store_s"] = time.perf_counter() - t0
    assert not refused, refused[:3]
    print(f"syncing {args.flows} flows ...", flush=True)
    t0 = time.perf_counter()
    report = sync()
    out["bulk_install_s"] = time.perf_counter() - t0
    out["bulk_report"] = report
    count = enforcer_flow_count()
    assert count == args.flows, f"switch holds {count} enforcer flows, want {args.flows}"
    t0 = time.perf_counter()
    resync = sync(full=True)
    out["noop_resync_s"] = time.perf_counter() - t0
    assert resync["changes"] == {}, resync
    loaded = []  # one more decision while the switch already holds N enforcer flows
    for i in range(args.loaded_samples):
        submit(LATENCY_TARGET + 2 * args.samples + i)
        t0 = time.perf_counter()
        sync()
        loaded.append(time.perf_counter() - t0)
    out["single_sync_loaded_s"] = loaded
    end_all()
    t0 = time.perf_counter()
    sync()
    out["bulk_delete_s"] = time.perf_counter() - t0
    assert enforcer_flow_count() == 0
    out["ofctl_add_flows_s"] = ofctl_add_flows(state_dir, args.flows, lab_dir)
    out["ofctl_bundle_add_flows_s"] = ofctl_add_flows(state_dir, args.flows, lab_dir, bundle=True)
    ovs.stop_controller(state_dir)
    return out


def ofctl_add_flows(state_dir: Path, n: int, folder: Path, bundle: bool = False) -> float:
    """``ovs-ofctl add-flows`` of the same N flows (the controller connected, as in production),
    timed until it returns (it ends with a barrier); then removed by cookie. ``bundle``: with
    ``--bundle`` (OpenFlow 1.4, one atomic transaction)."""
    from enforcer.lab import ovs
    from enforcer.lab.proc import run

    flows = folder / "flows.txt"
    flows.write_text("".join(f"cookie=0x{COOKIE_MAGIC + 1 + i:x},priority=42032,ip,nw_src={FIRST_TARGET + i},"
                             "actions=drop\n" for i in range(n)))  # fmt: skip
    argv = ["ovs-ofctl", "-O", "OpenFlow14", "--bundle"] if bundle else ["ovs-ofctl", "-O", "OpenFlow13"]
    t0 = time.perf_counter()
    run([*argv, "add-flows", f"unix:{ovs.mgmt_socket(state_dir)}", str(flows)])
    took = time.perf_counter() - t0
    count = sum("cookie=0xe4f0" in ln for ln in ovs.ofctl(state_dir, "dump-flows", "--no-stats").splitlines())
    assert count == n, f"ovs-ofctl add-flows left {count} flows, want {n}"
    ovs.ofctl(state_dir, "del-flows", f"cookie=0x{COOKIE_MAGIC:x}/0xffff000000000000")
    return took


# ------------------------------------------------------------------ ofctl_rest side


def start_rest(state_dir: Path, prefix: str) -> subprocess.Popen:
    from enforcer.lab import ovs
    from enforcer.lab.proc import wait_for

    python = BASELINE_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: run bench/openflow_install.sh (it creates the baseline virtualenv)")
    launcher = (
        "import eventlet.wsgi, sys\n"
        # os-ken 1.4.1 imports eventlet.wsgi.ALREADY_HANDLED, gone from eventlet >= 0.36 (websockets only)
        "eventlet.wsgi.ALREADY_HANDLED = getattr(eventlet.wsgi, 'ALREADY_HANDLED', object())\n"
        "from os_ken.cmd.manager import main\n"
        f"sys.argv = ['osken-manager', '--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', '{REST_OF_PORT}',"
        f" '--wsapi-host', '127.0.0.1', '--wsapi-port', '{REST_HTTP_PORT}', 'os_ken.app.ofctl_rest']\n"
        "main()\n"
    )
    log = open(state_dir / "ofctl_rest.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ovs.switch_netns(prefix), str(python), "-c", launcher],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    ovs.vsctl(state_dir, "set-controller", ovs.BRIDGE, f"tcp:127.0.0.1:{REST_OF_PORT}")
    ovs.vsctl(state_dir, "set", "controller", ovs.BRIDGE, "connection-mode=out-of-band", "max_backoff=1000")
    wait_for("the switch to connect to ofctl_rest", lambda: ovs.connected(state_dir), timeout=30)
    return proc


def rest_side(args: argparse.Namespace, state_dir: Path, prefix: str, dpid: int) -> dict:
    """Run the HTTP client inside the switch namespace (where ofctl_rest listens on loopback)."""
    from enforcer.lab import ovs

    proc = start_rest(state_dir, prefix)
    try:
        client = subprocess.run(
            ["ip", "netns", "exec", ovs.switch_netns(prefix), sys.executable, __file__, "--rest-client",
             "--dpid", str(dpid), "--flows", str(args.flows), "--samples", str(args.samples),
             "--concurrency", str(args.concurrency)],
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        if client.returncode != 0:
            raise SystemExit(f"REST client failed: {client.stderr[-2000:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Rest:
    """A keep-alive HTTP/1.1 connection to ofctl_rest."""

    def __init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", REST_HTTP_PORT, timeout=60)

    def post(self, path: str, body: dict) -> bytes:
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"POST {path}: {resp.status} {data[:200]!r}")
        return data

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        return resp.read()


def flow_body(dpid: int, i: int, base: IPv4Address) -> dict:
    return {
        "dpid": dpid,
        "cookie": COOKIE_MAGIC + 1 + i,
        "priority": 42032,
        "match": {"eth_type": 2048, "ipv4_src": str(base + i)},
        "actions": [],
    }


def rest_count(rest: Rest, dpid: int) -> int:
    body = {"cookie": COOKIE_MAGIC, "cookie_mask": 0xFFFF000000000000}
    reply = json.loads(rest.post(f"/stats/aggregateflow/{dpid}", body))
    return int(reply[str(dpid)][0]["flow_count"])


def rest_client(args: argparse.Namespace) -> None:
    dpid = args.dpid
    deadline = time.monotonic() + 30
    while True:  # ofctl_rest lists the switch once connected
        try:
            if dpid in json.loads(Rest().get("/stats/switches")):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("ofctl_rest never listed the switch")
        time.sleep(0.05)
    rest = Rest()

    def wait_count(n: int) -> None:
        end = time.monotonic() + 600
        while rest_count(rest, dpid) != n:
            if time.monotonic() > end:
                raise SystemExit(f"switch never reached {n} flows")

    def clear() -> None:
        rest.post("/stats/flowentry/delete", {"dpid": dpid, "cookie": COOKIE_MAGIC, "cookie_mask": 0xFFFF000000000000})
        wait_count(0)

    clear()
    single = []
    for i in range(args.samples):
        t0 = time.perf_counter()
        rest.post("/stats/flowentry/add", flow_body(dpid, i, LATENCY_TARGET))
        wait_count(i + 1)
        single.append(time.perf_counter() - t0)
    clear()

    t0 = time.perf_counter()
    for i in range(args.flows):
        rest.post("/stats/flowentry/add", flow_body(dpid, i, FIRST_TARGET))
    posted = time.perf_counter() - t0
    wait_count(args.flows)
    sequential = time.perf_counter() - t0
    clear()

    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            conn = Rest()
            for i in range(k, args.flows, args.concurrency):
                conn.post("/stats/flowentry/add", flow_body(dpid, i, FIRST_TARGET))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"concurrent client failed: {errors[0]}")
    wait_count(args.flows)
    concurrent = time.perf_counter() - t0
    clear()
    print(
        json.dumps(
            {"single_s": single, "sequential_posted_s": posted, "sequential_s": sequential, "concurrent_s": concurrent}
        )
    )


# ------------------------------------------------------------------ report


def ms(values: list[float]) -> str:
    qs = statistics.quantiles(values, n=20) if len(values) >= 2 else values * 19
    return f"median {statistics.median(values) * 1e3:.2f} ms, p95 {qs[18] * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=10_000, help="bulk size (decisions = drop flows)")
    parser.add_argument("--samples", type=int, default=50, help="single-decision samples")
    parser.add_argument("--loaded-samples", type=int, default=5, help="single decisions with N flows installed")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent REST clients")
    parser.add_argument("--prefix", default=f"ofb{os.getpid() % 100000}", help="lab prefix (namespaces)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--rest-client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dpid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rest_client:
        rest_client(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, Open vSwitch)")

    from enforcer.lab import ovs

    lab_dir = Path(tempfile.mkdtemp(prefix=f"enforcer-bench-{args.prefix}-"))
    state_dir = lab_dir / "ovs"
    try:
        enf = enforcer_side(args, lab_dir, args.prefix)
        print("switching the bridge to os-ken 1.4.1 ofctl_rest ...", flush=True)
        rest = rest_side(args, state_dir, args.prefix, enf["dpid"])
    finally:
        ovs.down(state_dir, args.prefix)
        shutil.rmtree(lab_dir, ignore_errors=True)

    n = args.flows
    enf_rate = n / enf["bulk_install_s"]
    seq_rate, conc_rate = n / rest["sequential_s"], n / rest["concurrent_s"]
    enf_single = statistics.median(enf["single_sync_s"])
    rest_single = statistics.median(rest["single_s"])
    print()
    print(f"OpenFlow install benchmark ({n} drop flows, {args.samples} single-decision samples), Open vSwitch "
          f"{subprocess.run(['ovs-vswitchd', '--version'], capture_output=True, text=True).stdout.split()[-1]}, "
          f"userspace datapath")  # fmt: skip
    print("single decision, stored → barrier reply:")
    print(f"  enforcer controller sync        {ms(enf['single_sync_s'])}")
    print(f"  enforcer apply (plan+push+read) {ms(enf['single_apply_s'])}")
    print(f"  ofctl_rest POST → counted       {ms(rest['single_s'])}")
    print(f"  ratio ofctl_rest / enforcer     {rest_single / enf_single:.2f}")
    if enf["single_sync_loaded_s"]:
        print(f"  enforcer sync with {n} flows already installed  {ms(enf['single_sync_loaded_s'])}")
    print(f"bulk, {n} drops:")
    print(f"  storing {n} decisions (validated from dicts, then service.submit_many, sqlite)  {enf['store_s']:.2f} s"
          f" (validation {enf['validate_s']:.2f} s)")  # fmt: skip
    print(f"  enforcer: store read + render + diff + flow-mods + barrier  {enf['bulk_install_s']:.2f} s"
          f" = {enf_rate:,.0f} flows/s")  # fmt: skip
    print(f"  enforcer: full resync (read back {n} flows) with nothing to change  {enf['noop_resync_s']:.2f} s;"
          f" delete all {n}  {enf['bulk_delete_s']:.2f} s")  # fmt: skip
    print(f"  ofctl_rest sequential POSTs  {rest['sequential_s']:.2f} s = {seq_rate:,.0f} flows/s")
    conc = f"{rest['concurrent_s']:.2f} s = {conc_rate:,.0f} flows/s"
    print(f"  ofctl_rest {args.concurrency} concurrent clients  {conc}")
    ratios = f"{enf_rate / seq_rate:.1f}x sequential, {enf_rate / conc_rate:.1f}x concurrent"
    print(f"  ratio enforcer / ofctl_rest  {ratios}")
    end_to_end = enf["store_s"] + enf["bulk_install_s"]
    print(f"  enforcer end to end (storing + store read → barrier)  {end_to_end:.2f} s = {n / end_to_end:,.0f} flows/s;"
          f" ratio to ofctl_rest {rest['sequential_s'] / end_to_end:.2f}x sequential,"
          f" {rest['concurrent_s'] / end_to_end:.2f}x concurrent")  # fmt: skip
    print(f"  enforcer's bulk sync in one bundle (atomic): {enf['bulk_report'].get('atomic')}")
    print(f"  ovs-ofctl add-flows of the same {n} flows  {enf['ofctl_add_flows_s']:.2f} s;"
          f" enforcer store read → barrier / ovs-ofctl {enf['bulk_install_s'] / enf['ofctl_add_flows_s']:.2f}x,"
          f" end to end {end_to_end / enf['ofctl_add_flows_s']:.2f}x")  # fmt: skip
    ofctl = enf["ofctl_add_flows_s"]
    print(f"  for scale: ovs-ofctl add-flows itself is {rest['sequential_s'] / ofctl:.1f}x ofctl_rest sequential,"
          f" {rest['concurrent_s'] / ofctl:.1f}x with {args.concurrency} clients (no storing, no policy)")  # fmt: skip
    print(f"  ovs-ofctl --bundle add-flows (one atomic bundle)  {enf['ofctl_bundle_add_flows_s']:.2f} s;"
          f" enforcer store read → barrier / ovs-ofctl --bundle"
          f" {enf['bulk_install_s'] / enf['ofctl_bundle_add_flows_s']:.2f}x")  # fmt: skip
    print(f"  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"enforcer": enf, "ofctl_rest": rest, "flows": n}, indent=2, default=str))


if __name__ == "__main__":
    main()
