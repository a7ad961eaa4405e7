"""Benchmark: enforcer's own CPU for one more decision on an nftables device with N active, in-process.

What serve's push worker does for the device before and after the device's own commands, step
by step, each timed in CPU seconds (``time.process_time``, so the machine's load changes little):
the section derived from the last build (``build``), its print through the templates
(``print``), numbering and canonical order (``finish``), the platform limits check
(``over_limits``), the plan's diff (``make_plan``), the element candidate (``render_push``) and
the Linux driver's parse of the commit's read-back (``read_back``: the table as ``nft -s list
table`` prints it, a blank line between objects; the section it gives is the next push's live
one). The device is left out (the lab's ``bench/latency.py`` times it end to end); so are the
store read and serve's bookkeeping.

    .venv/bin/python bench/nft_push_work.py --active 10000 --steps 15

Prints the median and the minimum of each step over ``--steps`` decisions, each one more
null-route on top of the last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from ipaddress import ip_network
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STEPS = ("build", "print", "finish", "over_limits", "make_plan", "render_push", "read_back")


def blocks(n: int, first: int = 1) -> list:
    from enforcer.model import ActionKind, Enforcement
    from tests.test_templates import T0

    return [
        Enforcement(
            id=i,
            decision_id=i,
            action=ActionKind.NULL_ROUTE,
            created_at=T0,
            violation="malware-hosting",
            target=ip_network(f"100.{64 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"),
        )
        for i in range(first, first + n)
    ]


def run(active: int, steps: int) -> dict[str, list[float]]:
    """CPU seconds of each step, per decision."""
    from enforcer import nftables
    from enforcer.drivers import linux
    from enforcer.inventory import Platform, load_inventory
    from enforcer.limits import over_limits
    from enforcer.plan import make_plan
    from enforcer.render import build_section, finish_section, platform_info, print_section, render_push
    from tests.test_templates import EDGE, T0

    inv = load_inventory(REPO / "inventory" / "example")
    dev = inv.device(EDGE[Platform.NFTABLES])
    info = platform_info(dev.platform)
    limits = info.limits

    def read_back(listing: str) -> str:  # LinuxDriver.get_managed_section's parse of a listing
        return nftables.canonical(linux._managed(linux.normalize(listing), info))

    given = blocks(active)
    section = build_section(dev, given, inv, T0)
    live = finish_section(section, print_section(section))
    times: dict[str, list[float]] = {s: [] for s in STEPS}
    over_limits(live, limits, dev.name)  # serve checked the device's last section (not timed)

    def timed(step: str, fn, *args):
        started = time.process_time()
        out = fn(*args)
        times[step].append(time.process_time() - started)
        return out

    for k in range(steps):
        given = [*given, *blocks(1, first=10_000_000 + k)]
        section = timed("build", build_section, dev, given, inv, T0)
        printed = timed("print", print_section, section)
        desired = timed("finish", finish_section, section, printed)
        timed("over_limits", over_limits, desired, limits, dev.name)
        plan = timed("make_plan", make_plan, dev.name, dev.platform, dev.effective_transport, desired, live)
        candidate = timed("render_push", render_push, dev, desired, live, plan.removed_lines)
        if not candidate.startswith("add element"):
            raise SystemExit(f"not an element candidate: {candidate[:200]}")
        listing = desired.replace("\n\t}\n\t", "\n\t}\n\n\t")  # how nft -s lists it (not timed)
        live = timed("read_back", read_back, listing)
        if live != desired:
            raise SystemExit("the read-back's section is not the desired one")
    return times


def report(times: dict[str, list[float]], active: int) -> str:
    lines = [f"one more decision at {active:,} active, CPU ms per step: median (min)"]
    for step, values in times.items():
        lines.append(f"  {step:12s} {1000 * statistics.median(values):7.1f} ({1000 * min(values):.1f})")
    total = [sum(vals) for vals in zip(*times.values(), strict=True)]
    lines.append(f"  {'total':12s} {1000 * statistics.median(total):7.1f} ({1000 * min(total):.1f})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--active", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=15)
    args = ap.parse_args()
    print(report(run(args.active, args.steps), args.active))


if __name__ == "__main__":
    main()
