"""The controller's local control API: one JSON request and one JSON reply per line, on a unix socket.

A unix socket file works across network namespaces (the controller runs in the switch's lab
namespace, ``enforcer plan/apply`` in the root one) and needs no port. Requests::

    {"op": "state", "dpid": 4660}  → {"ok": true, "text": "<flows and meters, section.j2 format>"}
    {"op": "sync", "dpid": 4660}   → {"ok": true, "report": {...}}   (returns after the barrier reply)
    {"op": "sync", "dpid": 4660, "full": true}   (read the switch back first instead of trusting
                                                  the state it last confirmed or reported)
    {"op": "sync_all"}             → {"ok": true, "reports": [...]}
    {"op": "switches"}             → {"ok": true, "switches": [...]}
    {"op": "counters", "dpid": 4660} → {"ok": true, "counters": {"7": [packets, bytes], ...}}
                                     (what each enforcement's flows and meters dropped: .stats)

This module is the client side and holds no os-ken import, so the CLI process stays light.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from ..model import EnforcerError


class ControlError(EnforcerError):
    """The controller could not be reached, or answered with an error."""


def socket_path(address: str) -> Path:
    """``unix:/run/x/controller.sock`` (or a bare path) → the socket path."""
    if address.startswith("unix:"):
        return Path(address.removeprefix("unix:"))
    if address.startswith("/"):
        return Path(address)
    raise ControlError(f"controller address {address!r}: expected unix:/path/to/controller.sock")


def call(address: str, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Send one request, return the reply; raises :class:`ControlError` when ``ok`` is false."""
    path = socket_path(address)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise ControlError(f"controller at {path}: {exc}") from None
    if not data:
        raise ControlError(f"controller at {path}: closed the connection without a reply")
    reply = json.loads(data)
    if not reply.get("ok"):
        raise ControlError(reply.get("error") or "controller error")
    return reply
