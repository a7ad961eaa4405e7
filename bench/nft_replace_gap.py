"""How many blocked packets get through while an nftables table is replaced, two ways, same run.

Three namespaces (sender → router → receiver), an unpaced UDP stream from a source that both the old
and the new table drop (a named interval set, as enforcer's templates write it), and N replacements:

- ``delete``: ``table T`` / ``delete table T`` / the whole new table, in one ``nft -f`` (enforcer's way
  before December 2026);
- ``in-place``: ``table T`` / ``flush table T`` / ``flush set`` of each kept set / the new table, in one
  ``nft -f`` (what :mod:`enforcer.nftables` writes now).

Prints the packets sent and received per mode. Needs root; touches only namespaces it creates, and
deletes them (and stops its own processes by PID) at the end.

    .venv/bin/python bench/nft_replace_gap.py [--replacements 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from enforcer.nftables import transition  # noqa: E402

SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 0))
n = 0
while True:
    s.sendto(b"x", ("198.51.100.2", 5555)); n += 1
"""
RECV = """
import signal, socket, sys
def done(*_):
    raise SystemExit
signal.signal(signal.SIGTERM, done)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5555))
print("ready", flush=True)
n = 0
try:
    while True:
        s.recvfrom(100); n += 1
finally:
    print(n, flush=True)
"""


def sh(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True).stdout


def table(i: int) -> str:
    """The i-th desired table: the blocked source always, other targets coming and going."""
    others = [f"10.0.{j}.{i % 7}" for j in range(i % 5)] + (["203.0.113.11"] if i % 2 else [])
    elements = ", ".join(f'{e} counter comment "x"' for e in sorted({"203.0.113.10", *others}))
    return f"""table inet enforcer {{
\tset acl-src-any-v4 {{
\t\ttype ipv4_addr
\t\tflags interval
\t\tcounter
\t\telements = {{ {elements} }}
\t}}
\tchain forward {{
\t\ttype filter hook forward priority filter - 10; policy accept;
\t\tip saddr @acl-src-any-v4 counter drop comment "enforcer acl"
\t}}
}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replacements", type=int, default=200)
    args = ap.parse_args()
    tag = f"gap{os.getpid()}"
    a, r, b = f"{tag}a", f"{tag}r", f"{tag}b"
    try:
        for ns in (a, r, b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "ra", "netns", r)
        sh("ip", "-n", b, "link", "add", "vb", "type", "veth", "peer", "name", "rb", "netns", r)
        for ns, dev, addr in ((a, "va", "203.0.113.10/24"), (r, "ra", "203.0.113.1/24"),
                              (r, "rb", "198.51.100.1/24"), (b, "vb", "198.51.100.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", a, "route", "add", "default", "via", "203.0.113.1")
        sh("ip", "-n", b, "route", "add", "default", "via", "198.51.100.1")
        sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        print(f"{'mode':<10} {'replacements':>12} {'seconds':>8} {'sent':>10} {'got through':>12}")
        for mode in ("delete", "in-place"):
            sh("ip", "netns", "exec", r, "nft", "flush", "ruleset")
            sh("ip", "netns", "exec", r, "nft", "-f", "-", stdin=table(0))
            files = []
            live = sh("ip", "netns", "exec", r, "nft", "list", "table", "inet", "enforcer")
            for i in range(1, args.replacements + 1):
                want = table(i)
                old_way = ["table inet enforcer", "delete table inet enforcer"]
                head = old_way if mode == "delete" else transition(live, want)
                files.append("\n".join(head) + "\n" + want)
                live = want
            recv = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c", RECV], stdout=subprocess.PIPE,
                                    text=True)
            assert recv.stdout is not None and recv.stdout.readline().strip() == "ready"
            send = subprocess.Popen(["ip", "netns", "exec", a, sys.executable, "-c", SEND, "203.0.113.10"])
            before = int(sh("ip", "netns", "exec", a, "cat", "/sys/class/net/va/statistics/tx_packets"))
            t0 = time.monotonic()
            for text in files:
                sh("ip", "netns", "exec", r, "nft", "-f", "-", stdin=text)
            took = time.monotonic() - t0
            send.terminate()
            send.wait()
            sent = int(sh("ip", "netns", "exec", a, "cat", "/sys/class/net/va/statistics/tx_packets")) - before
            time.sleep(1)  # the last datagrams in flight reach the receiver
            recv.terminate()
            through = int(recv.communicate()[0].strip())
            print(f"{mode:<10} {args.replacements:>12} {took:>8.1f} {sent:>10} {through:>12}")
    finally:
        for ns in (a, r, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if __name__ == "__main__":
    main()
