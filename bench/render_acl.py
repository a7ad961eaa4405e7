"""A 10,000-entry deny ACL rendered for all seven ACL platforms, against Aerleon's ``aclgen`` (issue 12.7).

The store holds N active spam decisions (one ``acl`` enforcement each: tcp 25/465/587 from the
host, on role ``edge``); the inventory has one offline edge device per ACL platform. Timed, each
as a fresh process, start-up included:

* ``api``: one ``python`` that opens the store and calls ``service.render_device`` for the seven
  devices, what a script or ``enforcer serve`` pays;
* ``cli``: ``enforcer render DEVICE`` seven times, one process each (the sum);
* ``aerleon``: ``aclgen`` on an equivalent N-term policy for its six matching targets
  (``aerleon_acl.py``), in the same run. Without Aerleon (pip cannot get it) only enforcer's rows print.

    bench/render_acl.py [--entries N] [--no-cli]

``--no-cli`` leaves out the seven CLI processes (the suite's tiny run: they are most of its time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aerleon_acl
from scale_inputs import ACL_PLATFORMS, host, load, store_active, write_inventory

TARGET = "< 1 s for all seven, >= 20x Aerleon"
RENDER_ALL = """
import sys
from enforcer import service
from enforcer.settings import Settings
ctx = service.Context.open(Settings.from_env())
for name in sys.argv[1:]:
    sys.stdout.write(service.render_device(ctx, name))
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one process and its output; a failure stops the benchmark with its stderr."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {done.stderr.strip()[-500:]}")
    return took, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--no-cli", action="store_true", help="time only the api mode and Aerleon")
    args = ap.parse_args()
    n = args.entries
    with tempfile.TemporaryDirectory(prefix="enforcer-render-acl-") as tmp:
        work = Path(tmp)
        devices = [(f"{p}-edge1", p, "edge") for p in ACL_PLATFORMS]
        env = {**os.environ, "ENFORCER_INVENTORY": str(write_inventory(work / "inventory", devices, n + 1)),
               "ENFORCER_DB": f"sqlite:///{work / 'store.db'}", "ENFORCER_OUTPUT": str(work / "out")}  # fmt: skip
        stored = store_active(env["ENFORCER_DB"], n, lambda i: ["edge"])
        before = load()
        names = [d[0] for d in devices]
        api, text = timed([sys.executable, "-c", RENDER_ALL, *names], env)
        last = host(n - 1)
        if text.count(last) < len(names):  # every platform printed the last entry: all N were rendered
            raise SystemExit(f"the render holds {last} {text.count(last)} times, not once per platform")
        enforcer = str(Path(sys.executable).with_name("enforcer"))
        cli = None if args.no_cli else sum(timed([enforcer, "render", name], env)[0] for name in names)
        exe = aerleon_acl.aclgen()
        base = None
        if exe is not None:
            base, files = aerleon_acl.run(exe, aerleon_acl.write_policy(work / "aerleon", n))
            if files != len(aerleon_acl.TARGETS):
                raise SystemExit(f"aclgen wrote {files} files, not one per target ({len(aerleon_acl.TARGETS)})")
    print(f"{n} entries (stored in bulk in {stored:.2f} s, not timed below); target {TARGET}; {before}, then {load()}")
    for label, took in (("enforcer api, 7 platforms, one process", api), ("enforcer cli, 7 x render", cli)):
        if took is None:
            continue
        ratio = f"  {base / took:.1f}x" if base is not None else ""
        print(f"{label:<40} {took:8.2f} s  {len(text.splitlines()) if label.endswith('process') else '':>8}{ratio}")
    if base is not None:
        print(f"{'aerleon aclgen, 6 targets':<40} {base:8.2f} s  {'':>8}  1.0x")


if __name__ == "__main__":
    main()
