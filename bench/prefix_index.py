"""The render's guardrail check: :class:`enforcer.inventory.PrefixSet` vs the scan it replaced.

``build_section`` asks, for every enforcement on every device, whether the target overlaps a
protected prefix. This times that question for N random /32 targets against P random protected
prefixes, through the old scan (:func:`enforcer.inventory.covers`) and through the index built
once, in the same run, and checks both give the same answers.

    .venv/bin/python bench/prefix_index.py [--protected 50] [--targets 20000]
"""

from __future__ import annotations

import argparse
import random
import time
from ipaddress import ip_network

from enforcer.inventory import PrefixSet, covers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protected", type=int, default=50)
    ap.add_argument("--targets", type=int, default=20000)
    args = ap.parse_args()
    rnd = random.Random(1)
    protected = tuple(ip_network((rnd.getrandbits(32), rnd.randint(16, 28)), strict=False)
                      for _ in range(args.protected))  # fmt: skip
    targets = [ip_network((rnd.getrandbits(32), 32)) for _ in range(args.targets)]
    t = time.perf_counter()
    scanned = [covers(protected, x) for x in targets]
    scan = time.perf_counter() - t
    t = time.perf_counter()
    index = PrefixSet(protected)
    looked_up = [index.overlaps(x) for x in targets]
    indexed = time.perf_counter() - t
    assert scanned == looked_up, "the index and the scan disagree"
    print(f"{args.protected} protected x {args.targets} targets ({sum(scanned)} overlap)")
    print(f"scan (baseline) {scan:8.3f} s")
    print(f"PrefixSet       {indexed:8.3f} s  (build included)")
    print(f"ratio           {scan / max(indexed, 1e-9):8.1f}x")


if __name__ == "__main__":
    main()
