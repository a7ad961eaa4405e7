"""The plot in docs/benchmarks.md: ``bench/bulk_frr.py --json`` figures as bars (needs the ``bench`` extra).

Run: ``.venv/bin/python bench/plot_bulk.py FIGURES.json docs/bulk_frr.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(figures: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(figures.read_text())
    n = data["routes"]
    rows = [
        ("vtysh -f (floor)", data["floor"]["add_s"], data["floor"]["remove_s"]),
        *([("vtysh -f (floor, after)", data["floor_after"]["add_s"], data["floor_after"]["remove_s"])]
          if "floor_after" in data else []),
        ("enforcer apply", data["apply"]["s"], data["removal"]["s"]),
        ("enforcer apply + storing", data["apply"]["s"] + data["store_s"], data["removal"]["s"] + data["end_s"]),
        ("naive netmiko (extrapolated)", data["naive"]["per_block_s"] * n, float("nan")),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    y = range(len(rows))
    ax.barh([i - 0.2 for i in y], [r[1] for r in rows], height=0.4, label="add")
    ax.barh([i + 0.2 for i in y], [r[2] for r in rows], height=0.4, label="remove")
    ax.set_yticks(list(y), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log scale)")
    ax.set_title(f"{n:,} null routes on one FRR 8.4 router, same run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
