"""Serves :mod:`enforcer.controller.control` requests inside the controller process (eventlet hub)."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from os_ken.lib import hub

from . import stats
from .app import EnforcerController, SyncFailed

LOG = logging.getLogger("enforcer.controller.control")


def serve(app: EnforcerController, path: Path) -> Any:
    """Listen on ``path`` (replacing a stale socket file) and answer in green threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_socket():
        path.unlink()
    listener = hub.listen(str(path), family=socket.AF_UNIX)
    os.chmod(path, 0o660)

    def loop() -> None:
        while True:
            conn, _ = listener.accept()
            hub.spawn(_handle, app, conn)

    return hub.spawn(loop)


def _handle(app: EnforcerController, conn: Any) -> None:
    try:
        with conn:
            stream = conn.makefile("rwb")
            line = stream.readline()
            if not line:
                return
            try:
                reply = {"ok": True, **_dispatch(app, json.loads(line))}
            except (SyncFailed, ValueError, KeyError, TypeError) as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - reported to the caller and logged
                LOG.exception("control request failed")
                reply = {"ok": False, "error": f"controller error: {exc}"}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()
    except Exception:  # noqa: BLE001 - a client hanging up must not kill the loop
        LOG.exception("control connection failed")


def _dispatch(app: EnforcerController, req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    if op == "state":
        return {"text": app.state(int(req["dpid"]))}
    if op == "sync":
        report = app.sync(int(req["dpid"]), full=bool(req.get("full", False)))
        ms = {k: f"{v * 1000:.1f}" for k, v in report.steps.items()}
        LOG.info("control sync %s: %.1f ms (desired %s, diff %s, send %s) live %s, %d round trips", report.device,
                 report.seconds * 1000, ms.get("desired", "-"), ms.get("diff", "-"), ms.get("send", "-"),
                 ms.get("live", "-"), report.round_trips)
        if not report.ok:
            raise SyncFailed(report.error or "sync failed")
        return {"report": report.as_dict()}
    if op == "sync_all":
        return {"reports": [r.as_dict() for r in app.sync_all()]}
    if op == "counters":  # enforcement id → [packets, bytes] dropped (.stats)
        return {"counters": {str(k): v for k, v in stats.read(app, int(req["dpid"])).items()}}
    if op == "switches":
        return {"switches": app.switches()}
    raise ValueError(f"unknown op {op!r}")
