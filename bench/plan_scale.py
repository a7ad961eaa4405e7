"""``enforcer plan`` over 100,000 active enforcements on 100 devices of mixed platforms (issue 12.7).

The script writes an inventory of ``--devices`` offline devices cycling through the seven ACL
platforms, each in its own role group of ``--per-enforcement`` devices, and stores
``--enforcements`` active spam ``acl`` enforcements, the i-th on role group ``i mod groups`` (so
with the defaults each device carries 1,000 and each enforcement lands on one device). Storing is
a bulk insert into the store's tables, timed apart. Then one ``enforcer plan`` of every device
runs under ``/usr/bin/time -v``: wall time and peak RSS, start-up included, its output written
to a file (printing to a terminal is not what is measured). No baseline runs here: the issue's
is Aerleon's 100,000 terms for one target, which ``render_acl.py --entries 100000`` can time.

    bench/plan_scale.py [--enforcements N] [--devices D] [--per-enforcement K] [--profile FILE]

``--profile FILE`` runs the plan a second time under py-spy (collapsed stacks to FILE) and prints
the enforcer functions with the largest share of the samples, callees included.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from scale_inputs import ACL_PLATFORMS, host, load, store_active, write_inventory

TARGET = "plan < 2 s, < 300 MB peak RSS"


def time_v(cmd: list[str], env: dict[str, str], stdout: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit status of ``cmd`` as ``/usr/bin/time -v`` reports them."""
    with stdout.open("w") as sink:
        done = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=sink, stderr=subprocess.PIPE, text=True, env=env)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if wall is None or rss is None:
        raise SystemExit(f"/usr/bin/time gave no figures: {done.stderr.strip()[-500:]}")
    h, m, s = wall.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s), int(rss.group(1)) / 1024, done.returncode


def top_costs(collapsed: Path, count: int = 10) -> list[tuple[float, str]]:
    """Where the plan's samples are: enforcer functions (callees included, each once per stack) and,
    marked ``self``, the files the samples ended in. Share of all samples, most first."""
    total, inclusive, leaf = 0, Counter[str](), Counter[str]()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += int(n)
        for frame in {f for f in frames if "enforcer/" in f}:
            inclusive[frame] += int(n)
        leaf["self " + frames[-1].rpartition(" (")[2].rstrip(")")] += int(n)
    ranked = inclusive.most_common(count) + leaf.most_common(count // 2)
    return [(n / total, frame) for frame, n in ranked]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enforcements", type=int, default=100_000)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--per-enforcement", type=int, default=1, help="devices each enforcement lands on")
    ap.add_argument("--profile", type=Path, help="also profile the plan with py-spy: collapsed stacks here")
    args = ap.parse_args()
    if args.devices % args.per_enforcement:
        raise SystemExit("per-enforcement: must divide --devices")
    groups = args.devices // args.per_enforcement
    devices = [(f"d{k:03}-{ACL_PLATFORMS[k % len(ACL_PLATFORMS)]}", ACL_PLATFORMS[k % len(ACL_PLATFORMS)],
                f"g{k // args.per_enforcement}") for k in range(args.devices)]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="enforcer-plan-scale-") as tmp:
        work = Path(tmp)
        env = {**os.environ,
               "ENFORCER_INVENTORY": str(write_inventory(work / "inventory", devices, args.enforcements + 1)),
               "ENFORCER_DB": f"sqlite:///{work / 'store.db'}", "ENFORCER_OUTPUT": str(work / "out")}  # fmt: skip
        stored = store_active(env["ENFORCER_DB"], args.enforcements, lambda i: [f"g{i % groups}"])
        enforcer = str(Path(sys.executable).with_name("enforcer"))
        before = load()
        wall, rss, rc = time_v([enforcer, "plan"], env, work / "plan.txt")
        if rc != 0:
            raise SystemExit(f"enforcer plan exited {rc}: {(work / 'plan.txt').read_text()[-500:]}")
        if args.profile is not None:
            spy = str(Path(sys.executable).with_name("py-spy"))
            subprocess.run([spy, "record", "-r", "50", "-f", "raw", "-o", str(args.profile), "--", enforcer,
                            "plan"], env=env, capture_output=True, check=True)  # fmt: skip
        printed = (work / "plan.txt").read_text()
        last = host(args.enforcements - 1)
        if last not in printed:  # the plan shows the last-stored enforcements: they were all read and rendered
            raise SystemExit(f"the plan does not show {last} (the last enforcements stored)")
    per_device = args.enforcements * args.per_enforcement // args.devices
    print(f"{args.enforcements} enforcements, {args.devices} devices ({per_device} per device); "
          f"target {TARGET}; {before}, then {load()}")
    print(f"{'store (bulk insert)':<24} {stored:8.2f} s")
    print(f"{'enforcer plan':<24} {wall:8.2f} s  {rss:8.1f} MB peak RSS  {len(printed) / 1e3:.0f} kB printed")
    for share, frame in top_costs(args.profile) if args.profile is not None else ():
        print(f"{share:6.1%}  {frame}")


if __name__ == "__main__":
    main()
