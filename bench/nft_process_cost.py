"""What one ``nft`` process costs on the device beside a 10,000-element set: the kernel's work or nft's.

Issue 12.2: a warm element push runs three nft processes on the device (the listing before the commit,
the ``nft -f``, the read-back). This times each kind of nft command a push could use instead, in three
tables loaded side by side in the same run:

- ``empty``: the table's objects with no elements (the same-run baseline: nft's start-up);
- ``interval``: 10,000 host addresses in a ``flags interval`` set, as enforcer's templates write them;
- ``hash``: the same 10,000 hosts in a set without ``flags interval``, and a one-element interval set
  beside it (where prefixes would go).

For each command it prints the median wall time, and the median user and system CPU of the nft
process (``wait4``'s rusage): user time is nft's own userspace (its cache, the interval merge), system
time is the kernel's (the netlink dump, the commit). Each table lives in its own private network
namespace held by a ``sleep`` this script starts and stops by PID; nothing else is touched. Root.

    .venv/bin/python bench/nft_process_cost.py [--elements 10000] [--samples 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

TABLE = "inet enforcer"


def table_text(kind: str, elements: int) -> str:
    """The table of one shape: ``null-v4`` holds the hosts (interval or not), ``chain forward`` uses it."""
    hosts = ", ".join(f"10.{i // 250}.{i % 250}.1" for i in range(elements)) if kind != "empty" else ""
    flags = "\t\tflags interval\n" if kind != "hash" else ""
    body = f"\t\telements = {{ {hosts} }}\n" if hosts else ""
    nets = "\tset nets-v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.200.0.0/16 }\n\t}\n"
    return (
        f"table {TABLE} {{\n\tset null-v4 {{\n\t\ttype ipv4_addr\n{flags}{body}\t}}\n"
        + (nets if kind == "hash" else "")
        + "\tchain forward {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n"
        + "\t\tip daddr @null-v4 counter drop\n\t}\n}\n"
    )


def commands(sample: int) -> dict[str, tuple[list[str], str | None]]:
    """name → (nft argv, stdin): every way a push could read, check or change the table."""
    t = TABLE.split()
    host = f"10.99.{sample // 250}.{sample % 250 + 1}"
    add = f"add element {TABLE} null-v4 {{ {host} }}\n"
    return {
        "nft list tables": (["list", "tables"], None),
        "nft -t list table (terse)": (["-t", "list", "table", *t], None),
        "nft -s list table": (["-s", "list", "table", *t], None),
        "nft list table (stateful)": (["list", "table", *t], None),
        "nft -f add element": (["-f", "/dev/stdin"], add),
        "nft get element": (["get", "element", *t, "null-v4", "{", host, "}"], None),
        "nft -f delete element": (["-f", "/dev/stdin"], add.replace("add ", "delete ", 1)),
        "nft -e -f add element (echo)": (["-e", "-f", "/dev/stdin"], add),
        "nft -f delete element again": (["-f", "/dev/stdin"], add.replace("add ", "delete ", 1)),
    }


def timed(pid: int, argv: list[str], stdin: str | None) -> tuple[float, float, float]:
    """(wall ms, user ms, system ms) of one nft run inside the namespace of ``pid``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "nft", *argv],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(stdin or "")
    proc.stdin.close()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"nft {' '.join(argv)}: {err.strip()[:200]}")
    return wall, usage.ru_utime * 1000, usage.ru_stime * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--elements", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=7)
    args = ap.parse_args()
    kinds = ["empty", "interval", "hash"]
    holders = {k: subprocess.Popen(["unshare", "--net", "sleep", "3600"]) for k in kinds}
    try:
        for kind, holder in holders.items():
            deadline = time.monotonic() + 5
            while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                if time.monotonic() > deadline:
                    raise SystemExit("unshare did not enter a new network namespace")
                time.sleep(0.01)  # the holder's unshare has not switched namespaces yet
            subprocess.run(["nsenter", f"--net=/proc/{holder.pid}/ns/net", "nft", "-f", "/dev/stdin"],
                           input=table_text(kind, args.elements), text=True, check=True)  # fmt: skip
        figures: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
        for sample in range(args.samples):
            for kind in kinds:  # interleaved: the machine's load moves all three alike
                for name, (argv, stdin) in commands(sample).items():
                    figures.setdefault(name, {}).setdefault(kind, []).append(timed(holders[kind].pid, argv, stdin))
        load = os.getloadavg()
        print(f"# {args.elements} elements, {args.samples} samples, load average {load[0]:.2f} {load[1]:.2f}")
        print("# median ms: wall (user CPU / system CPU); ratio = wall / the empty table's same command")
        print(f"{'command':32} " + " ".join(f"{k:>26}" for k in kinds))
        for name, per_kind in figures.items():
            base = statistics.median(w for w, _, _ in per_kind["empty"])
            cells = []
            for kind in kinds:
                wall, user, sys_ = (statistics.median(x[i] for x in per_kind[kind]) for i in range(3))
                cells.append(f"{wall:6.1f} ({user:5.1f}/{sys_:5.1f}) {wall / base:4.1f}x")
            print(f"{name:32} " + " ".join(f"{c:>26}" for c in cells))
    finally:
        for holder in holders.values():
            holder.terminate()
            holder.wait(timeout=10)


if __name__ == "__main__":
    main()
