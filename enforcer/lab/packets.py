"""Counted UDP traffic with any source address: proof that a filter let nothing (or something) through.

A ping shows reachability, not that *no* packet passed while a filter was being replaced. These
probes send a bounded number of UDP datagrams from a node's namespace with a source address of
the test's choosing (a raw socket, so a spoofed source is as easy as a real one) and count, at the
receiving node, every datagram that arrived and from where. Everything stays inside the lab's
namespaces (the lab has no default route out of the machine).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .nodes import Node
from .probes import netns_of
from .proc import LabError, run, stop_pid

_SEND = r"""
import socket, struct, sys, time
src, dst, port, count, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL: we write the source
payload = b"enforcer-lab"
udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4 allows it)
# The kernel fills in the total length, the header checksum and the id (raw(7)).
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, socket.IPPROTO_UDP, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
for i in range(count):
    s.sendto(ip + udp, (dst, 0))
    if gap:
        time.sleep(gap)  # pacing, so the stream spans the change under test
print(count, flush=True)
"""

_COUNT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    _, (addr, _) = s.recvfrom(2048)
    print(addr, flush=True)
"""


def send_udp(node: Node, src: str, dst: str, port: int, count: int, gap: float = 0.0) -> int:
    """Send ``count`` datagrams from ``node`` with source ``src``; returns how many were sent."""
    timeout = 30 + count * (gap + 0.001)
    out = run([sys.executable, "-c", _SEND, src, dst, str(port), str(count), str(gap)], netns=netns_of(node),
              timeout=timeout).stdout  # fmt: skip
    return int(out.strip() or 0)


@dataclass
class UdpStream:
    """A background :func:`send_udp`; ``wait()`` returns how many datagrams it sent."""

    proc: subprocess.Popen[str]

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 600) -> int:
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise LabError(f"UDP sender exited {self.proc.returncode}: {err.strip()[:300]}")
        return int(out.strip() or 0)


def start_udp(node: Node, src: str, dst: str, port: int, count: int, gap: float) -> UdpStream:
    """Like :func:`send_udp`, in the background: the test changes filters while it runs."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns_of(node), sys.executable, "-c", _SEND, src, dst, str(port), str(count), str(gap)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return UdpStream(proc)


@dataclass
class UdpCount:
    """What a :func:`udp_counter` received: source address → datagrams."""

    received: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, source: str) -> None:
        with self._lock:
            self.received[source] += 1

    def from_(self, source: str) -> int:
        with self._lock:
            return self.received[source]


@contextmanager
def udp_counter(node: Node, bind: str, port: int) -> Iterator[UdpCount]:
    """Count every UDP datagram reaching ``bind:port`` on ``node`` while the block runs."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns_of(node), sys.executable, "-c", _COUNT, bind, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    count = UdpCount()
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        stop_pid(proc.pid)
        raise LabError(f"{node.name}: UDP counter on {bind}:{port} did not start")

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            count.add(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield count
    finally:
        stop_pid(proc.pid)
        proc.wait(timeout=5)
        reader.join(timeout=5)
