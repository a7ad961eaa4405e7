"""Benchmark: the merge candidate of a 1,000 / 10,000-route push, Python config tree vs the old Jinja merge.

What it times: ``render_push`` only (live section + desired section → candidate text), for an
FRR and an IOS device of the example inventory, adding one null-route to a section that already
holds N (the common case: one new block on a loaded device) and removing all N. The old path is
``templates/ios/_merge.j2`` as it was before enforcer/conftree.py (read from git at
``OLD_COMMIT``). Leaves out: reading the live section from the device, rendering the section.

Run: ``.venv/bin/python bench/merge.py`` (prints ms per case).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, ip_network
from pathlib import Path

import jinja2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OLD_COMMIT = "396aec2"

from enforcer.inventory import load_inventory  # noqa: E402
from enforcer.model import ActionKind, Enforcement  # noqa: E402
from enforcer.render import Rendered, _finalize, build_section, render_push, render_section  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def routes(n: int) -> list[Enforcement]:
    base = int(IPv4Address("10.0.0.0"))
    return [
        Enforcement(id=i + 1, decision_id=i + 1, action=ActionKind.NULL_ROUTE, target=ip_network(IPv4Address(base + i)),
                    violation="malware-hosting", created_at=T0, expires_at=T0 + timedelta(days=1))
        for i in range(n)
    ]


def old_env(tmp: Path) -> jinja2.Environment:
    for name in ("ios/_merge.j2", "ios/push.j2", "frr/push.j2"):
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:templates/{name}"],
                              capture_output=True, text=True, check=True).stdout
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp)), undefined=jinja2.StrictUndefined,
                              finalize=_finalize, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    inv = load_inventory(REPO / "inventory" / "example")
    with tempfile.TemporaryDirectory() as d:
        env = old_env(Path(d))
        for device in ("frr-edge1", "ios-edge1"):
            dev = inv.device(device)
            for n in (1_000, 10_000):
                enfs = routes(n + 1)
                live = render_section(build_section(dev, enfs[:n], inv, at=T0))
                want = render_section(build_section(dev, enfs, inv, at=T0))
                old = env.get_template(f"{dev.platform.value}/push.j2")

                def old_push(live=live, want=want, old=old, dev=dev):
                    return old.render(device=dev, desired=[Rendered(x) for x in want.splitlines()],
                                      live=[Rendered(x) for x in live.splitlines()], removed=[])

                new_ms = timed(lambda dev=dev, want=want, live=live: render_push(dev, want, live, []))
                old_ms = timed(old_push) if n <= 1_000 or "--old-10k" in sys.argv else float("nan")
                gone_ms = timed(lambda dev=dev, want=want: render_push(dev, "", want, []))
                print(f"{device:10} {n:>6} routes  +1: tree {new_ms:8.1f} ms   old jinja {old_ms:9.1f} ms   "
                      f"remove all: tree {gone_ms:8.1f} ms")


if __name__ == "__main__":
    main()
