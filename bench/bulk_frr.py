"""Benchmark: N null routes onto the lab's FRR edge in one candidate, against FRR's own ``vtysh -f`` (issue 12.6).

Same run, same router (the lab's edge, FRR 8.4, managed over SSH through ``enforcer-frr-shell``),
the same lines (``ip route X/32 Null0 tag 667``, what a ``malware-hosting`` decision renders to):

floor
  ``vtysh -f`` of the N lines, run on the router (the edge's own FRR directory), then of their N
  ``no`` lines; timed until vtysh returns and until the edge's kernel holds (or lost) all N routes.
  Run before and again after enforcer's (a shared machine's load moves); ratios use the faster.
naive
  a NOC script: one netmiko session (``cisco_ios`` against vtysh), one ``send_config_set`` per
  block (one route each), ``--naive-blocks`` of them timed and extrapolated to N.
enforcer
  N decisions stored first (``service.submit_many``, timed apart), then ``enforcer apply -d edge
  -y`` as a NOC runs it (CLI start-up, plan, push with commit-confirm, read-back, store): timed
  until the command returns and until the kernel holds all N. Removal: the decisions are ended
  in one SQL update (timed apart: the store has no bulk unblock yet) and ``enforcer apply`` again.

``--agent``: enforcer's two applies log in with the lab key held by an ``ssh-agent`` (as a NOC's
key is), their passphrase variable removed from their environment: the key file is never decrypted.
Without it they open the passphrase-protected key file (bcrypt), as the lab's inventory says.

Run as root: ``.venv/bin/python bench/bulk_frr.py --routes 10000`` (brings its own lab up and down).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from ipaddress import IPv4Address
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FIRST = IPv4Address("10.64.0.0")  # not the lab's (192.0.2/24, 198.51.100/24, 203.0.113/24)


def lines(n: int, start: IPv4Address, no: bool = False) -> str:
    return "".join(f"{'no ' if no else ''}ip route {start + i}/32 Null0 tag 667\n" for i in range(n))


def kernel_blackholes(netns: str) -> int:
    out = subprocess.run(["ip", "-n", netns, "-4", "route", "show", "type", "blackhole"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return sum(1 for ln in out.splitlines() if ln.strip())


def until_kernel(netns: str, want: int, started: float, timeout: float = 1800) -> float:
    """Seconds from ``started`` until the kernel holds ``want`` blackhole routes (polled)."""
    deadline = time.monotonic() + timeout
    while kernel_blackholes(netns) != want:
        if time.monotonic() > deadline:
            raise SystemExit(f"{netns}: the kernel never reached {want} blackhole routes")
        time.sleep(0.1)
    return time.perf_counter() - started


def floor(frr, netns: str, n: int, folder: Path, base: int) -> dict:
    add, remove = folder / "add.conf", folder / "remove.conf"
    add.write_text(lines(n, FIRST))
    remove.write_text(lines(n, FIRST, no=True))
    out = {}
    for name, path, want in (("add", add, base + n), ("remove", remove, base)):
        t0 = time.perf_counter()
        subprocess.run([*frr.vtysh_argv(), "-f", str(path)], capture_output=True, check=True, timeout=1800)
        out[f"{name}_s"] = time.perf_counter() - t0
        out[f"{name}_kernel_s"] = until_kernel(netns, want, t0)
    return out


def naive(lab, blocks: int) -> dict:
    """One netmiko session, one send_config_set per block: what a NOC script does."""
    driver = lab.driver(platform="frr")
    driver.open()
    try:
        conn = driver._interactive()  # the netmiko vtysh session enforcer's driver opens for cli()
        start = FIRST + 0x10000
        t0 = time.perf_counter()
        for i in range(blocks):
            conn.send_config_set([f"ip route {start + i}/32 Null0 tag 667"])
        took = time.perf_counter() - t0
        conn.send_config_set([f"no ip route {start + i}/32 Null0 tag 667" for i in range(blocks)])
    finally:
        driver.close()
    return {"blocks": blocks, "s": took, "per_block_s": took / blocks}


def store_decisions(ctx, n: int) -> float:
    from enforcer import service
    from enforcer.model import Decision

    decisions = [Decision.model_validate({"target": str(FIRST + i), "violation": "malware-hosting", "actor": "bench"})
                 for i in range(n)]  # fmt: skip
    t0 = time.perf_counter()
    outcomes = service.submit_many(ctx, decisions)
    took = time.perf_counter() - t0
    refused = [o for o in outcomes if isinstance(o, Exception)]
    if refused:
        raise SystemExit(f"{len(refused)} decisions refused; first: {refused[0]}")
    return took


def end_all(ctx) -> float:
    """Every decision ended in one SQL update (bench shortcut: ending 10,000 one by one takes minutes)."""
    from sqlalchemy import delete, update

    from enforcer.tables import LIVE, DecisionRow, EnforcementRow, HolderRow

    t0 = time.perf_counter()
    quiet = {"synchronize_session": False}
    with ctx.store.write() as tx:
        tx.s.execute(update(EnforcementRow).where(EnforcementRow.status.in_(LIVE)).values(status="removed"),
                     execution_options=quiet)  # fmt: skip
        tx.s.execute(update(DecisionRow).where(DecisionRow.status.in_(LIVE)).values(status="removed"),
                     execution_options=quiet)  # fmt: skip
        tx.s.execute(delete(HolderRow), execution_options=quiet)
    return time.perf_counter() - t0


def enforcer_apply(lab, netns: str, want: int, profile: Path | None = None, agent: dict | None = None) -> dict:
    """``enforcer apply -d edge -y`` as a subprocess; with ``profile``, under ``py-spy record`` (a
    speedscope file of the whole command, idle waits included: where the wall time goes). With
    ``agent`` (its environment), the key signs through that ssh-agent: the passphrase is withheld."""
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": lab.db, "COLUMNS": "200"}
    if agent is not None:
        env.pop(lab.device(platform="frr").password_env or "", None)
        env.update(agent)
    argv = [str(REPO / ".venv" / "bin" / "enforcer"), "apply", "-d", "edge", "-y", "--json"]
    if profile is not None:
        argv = [str(REPO / ".venv" / "bin" / "py-spy"), "record", "--idle", "-r", "50", "-f", "speedscope",
                "-o", str(profile), "--", *argv]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"enforcer apply failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    out = proc.stdout[proc.stdout.index("[") :]  # py-spy prints its own lines around the command's JSON
    [result] = json.JSONDecoder().raw_decode(out)[0]
    if not result["ok"]:
        raise SystemExit(f"enforcer apply: {result['error']}")
    return {"s": took, "push_s": result["seconds"], "summary": result["summary"],
            "kernel_s": until_kernel(netns, want, t0)}  # fmt: skip


#: Where a fresh ``enforcer apply`` spends the time before its candidate is on the wire, as frames of
#: its py-spy profile (``--idle``: waits included): label, the function whose samples are counted.
WAITS = (
    ("push waits for the login + read-ahead", "EarlyLogins.use"),
    ("push waits for the render", "RenderAhead.result"),
    ("render waits for the store read", "_Later.result"),
    ("store read of the rows into models", "Store._read_active"),
    ("login's read-ahead (show running-config)", "FrrDriver.read_ahead"),
    ("pending-commit question", "FrrDriver.has_pending_commit"),
    ("conflicts check", "FrrDriver.conflicts"),
    ("undo of the candidate", "undo_candidate"),
    ("commit exec (router: check, apply, read-back)", "FrrDriver.commit_config"),
)


def profile_waits(speedscope: dict) -> dict[str, float]:
    """Seconds of each :data:`WAITS` step in a py-spy speedscope profile (a sample counts once for a
    step however deep its frame recurs), and ``start-up`` the main thread's seconds before it hands
    the devices to their threads (``each_device``): the steps on a cold apply's critical path."""
    frames = [f["name"] for f in speedscope["shared"]["frames"]]
    took = dict.fromkeys([label for label, _ in WAITS] + ["start-up"], 0.0)
    for thread in speedscope["profiles"]:
        started = None
        for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
            names = {frames[i] for i in stack}
            for label, frame in WAITS:
                if frame in names:
                    took[label] += weight
            if started is None and "each_device" in names:
                started = True
            elif started is None and thread is speedscope["profiles"][0]:
                took["start-up"] += weight
    return {k: round(v, 2) for k, v in took.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--naive-blocks", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--profile", type=Path, help="py-spy record each apply into DIR/apply.json, DIR/removal.json")
    parser.add_argument("--agent", action="store_true", help="enforcer logs in with the key held by an ssh-agent")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the lab: network namespaces, FRR)")

    import yaml

    from enforcer import service
    from enforcer.lab.lab_inventory import EDGE_ROUTER
    from enforcer.lab.mgmt import ssh_agent
    from enforcer.lab.state import LabState
    from enforcer.lab.testing import running_lab
    from enforcer.settings import Settings

    n = args.routes
    folder = Path(tempfile.mkdtemp(prefix="enforcer-bench-frr-"))
    print(f"bringing a lab up in {folder} ...", flush=True)
    with running_lab(folder / "inventory", db=f"sqlite:///{folder / 'enforcer.db'}") as lab:
        settings = folder / "inventory" / "settings.yaml"
        data = yaml.safe_load(settings.read_text())
        data["guardrails"].update(max_new_per_minute=10**6, max_active=10**6)
        settings.write_text(yaml.safe_dump(data))
        state = LabState.load(lab.name, lab.state_dir)
        assert state is not None
        frr, netns = state.frr(EDGE_ROUTER), lab.edge.netns
        base = kernel_blackholes(netns)  # the lab's own discard route(s)
        print(f"floor: vtysh -f of {n} lines ...", flush=True)
        fl = floor(frr, netns, n, folder, base)
        print(f"naive: netmiko, {args.naive_blocks} blocks ...", flush=True)
        nv = naive(lab, args.naive_blocks)
        ctx = service.Context.open(Settings(inventory=lab.inventory_path, db=lab.db))
        print(f"enforcer: storing {n} decisions ...", flush=True)
        store_s = store_decisions(ctx, n)
        print("enforcer: apply ...", flush=True)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        key = Path(lab.device(platform="frr").optional_args["key_file"])
        with ssh_agent(key, (key.parent / "passphrase").read_text().strip()) if args.agent else nullcontext() as agent:
            add = enforcer_apply(lab, netns, base + n, args.profile and args.profile / "apply.json", agent)
            unstore_s = end_all(ctx)
            print("enforcer: apply (removal) ...", flush=True)
            gone = enforcer_apply(lab, netns, base, args.profile and args.profile / "removal.json", agent)
        # The router's journal: how long each step of enforcer's two commits took on the router
        # (its vtysh -f beside the floor's), before the lab and its journal are gone.
        journal = (lab.state_dir / "routers" / EDGE_ROUTER / "log" / "commits.log").read_text().splitlines()
        steps = [line.split("; ", 1)[1] for line in journal if "; " in line][-2:]
        print(f"floor again: vtysh -f of {n} lines ...", flush=True)
        after = floor(frr, netns, n, folder, base)  # the machine's load moves: bracket enforcer's run

    naive_s = nv["per_block_s"] * n
    best = {k: min(fl[k], after[k]) for k in fl}  # the ratios use the faster floor: the harder target
    print()
    login = "key in ssh-agent" if args.agent else "passphrase-protected key file"
    print(f"{n} null routes on one FRR 8.4 router (lab edge), same run; enforcer's login: {login}")
    print(f"  vtysh -f (floor)                add {fl['add_s']:8.2f} s (kernel {fl['add_kernel_s']:.2f} s)   "
          f"remove {fl['remove_s']:8.2f} s (kernel {fl['remove_kernel_s']:.2f} s)")  # fmt: skip
    print(f"  vtysh -f (floor, after)         add {after['add_s']:8.2f} s (kernel {after['add_kernel_s']:.2f} s)   "
          f"remove {after['remove_s']:8.2f} s (kernel {after['remove_kernel_s']:.2f} s)")  # fmt: skip
    print(f"  naive netmiko, {nv['blocks']} blocks        {nv['per_block_s'] * 1e3:.0f} ms a block, "
          f"extrapolated {naive_s:.1f} s = {naive_s / best['add_s']:.1f}x the floor")  # fmt: skip
    print(f"  enforcer: storing {n} decisions  {store_s:8.2f} s (submit_many); ending them {unstore_s:.2f} s")
    for what, res, fl_s in (("apply", add, best["add_s"]), ("removal", gone, best["remove_s"])):
        stored = res["s"] + (store_s if what == "apply" else unstore_s)
        print(f"  enforcer {what:8} {res['s']:8.2f} s (push {res['push_s']:.2f} s, kernel {res['kernel_s']:.2f} s)"
              f"  ratio to vtysh -f {res['s'] / fl_s:.2f}x; with storing {stored / fl_s:.2f}x")  # fmt: skip
    for what, took in zip(("apply", "removal"), steps, strict=False):
        print(f"  router: enforcer's {what:8} {took}")
    profiled = {}
    for what in ("apply", "removal") if args.profile else ():
        profiled[what] = profile_waits(json.loads((args.profile / f"{what}.json").read_text()))
        print(f"  profile: enforcer's {what:7} " + ", ".join(f"{k} {v:.2f} s" for k, v in profiled[what].items()))
    if args.json:
        figures = {"routes": n, "login": "agent" if args.agent else "key_file",
                   "floor": fl, "floor_after": after, "naive": nv, "store_s": store_s,
                   "end_s": unstore_s, "apply": add, "removal": gone, "router_steps": steps,
                   "profile": profiled}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
