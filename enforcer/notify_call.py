"""A FastNetMon notify-script call (argv and stdin) read into FastNetMon's JSON document.

The standard library only, and no import of :mod:`enforcer.hooks` (whose package imports pydantic):
FastNetMon runs ``enforcer hook fastnetmon --url`` once per ban, and that client must start in
milliseconds (issue 12.5). The local path (:func:`enforcer.hooks.fastnetmon.from_notify`) reads the
call with the same function, so a call means one thing whichever way it is then handled.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import stat
import sys
from collections.abc import Sequence
from typing import Any

from .errors import InvalidInput

ACTIONS = ("ban", "unban", "attack_details", "attack_status", "partial_block", "partial_unblock")
DIRECTIONS = ("incoming", "outgoing", "internal", "other", "unknown")

#: FastNetMon writes a few kilobytes and closes the pipe; more, or a pipe left open, is not FastNetMon.
NOTIFY_STDIN_LIMIT = 1 << 20
NOTIFY_STDIN_IDLE = 2.0


def notify_stdin(args: Sequence[str]) -> str:
    """What FastNetMon wrote to stdin: read only where it writes (``ban``, or the JSON form with no
    arguments), at most :data:`NOTIFY_STDIN_LIMIT` bytes, and no longer than
    :data:`NOTIFY_STDIN_IDLE` seconds of silence: an ``unban`` run from a shell or a supervisor
    whose stdin is an open pipe must not wait for an EOF that never comes."""
    if args and "ban" not in (args[0], args[-1]):
        return ""
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError):  # not a real file (an in-process test runner's stream)
        return sys.stdin.read(NOTIFY_STDIN_LIMIT)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode) and not stat.S_ISSOCK(os.fstat(fd).st_mode):
        # A regular file or a device (`< file`, `</dev/null`) reaches its end by itself, and
        # epoll refuses to watch one (EPERM): read it directly, bounded.
        return os.read(fd, NOTIFY_STDIN_LIMIT).decode("utf-8", "replace")
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while size < NOTIFY_STDIN_LIMIT and sel.select(NOTIFY_STDIN_IDLE):
            chunk = os.read(fd, min(65536, NOTIFY_STDIN_LIMIT - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def one_of(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of the ``allowed`` strings, else InvalidInput naming the field.

    Payload values arrive as any JSON type (a list, an object): checked before they are used
    as a key or compared, so a wrong type is a 422, never a TypeError.
    """
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, f"{value!r} is not one of: {', '.join(allowed)}")
    return value


def notify_document(args: Sequence[str], stdin: str = "") -> tuple[dict[str, Any], str | None]:
    """A notify-script call (argv and stdin) as FastNetMon's JSON document, with its idempotency key.

    One reading of the call whichever way it is then handled: locally
    (:func:`enforcer.hooks.fastnetmon.from_notify`) or posted to ``enforcer serve``
    (``enforcer hook fastnetmon --url``).
    """
    text = stdin.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput("stdin", f"looks like JSON but does not parse: {exc.msg} at {exc.pos}") from None
        return doc, None
    facts = _text_facts(text)
    if len(args) >= 2 and args[0] in ACTIONS:  # Advanced's compatibility argv: ACTION IP (no direction)
        args = [args[1], facts.get("attack direction", ""), "0", args[0]]
    if len(args) != 4:
        raise InvalidInput("args", f"expected CLIENT_IP DIRECTION PPS ACTION, got {len(args)} argument(s)")
    ip, direction, pps, action = args
    one_of("action", action, ACTIONS)
    if direction:
        one_of("direction", direction, DIRECTIONS)
    elif action == "ban":
        raise InvalidInput("direction", "missing: a ban needs the attack direction (incoming or outgoing)")
    if not pps.isdigit():
        raise InvalidInput("pps", f"{pps!r} is not a packet rate")
    details: dict[str, Any] = {"peak_attack_power": int(pps)}
    if direction:
        details["attack_direction"] = direction
    for name in ("attack type", "attack protocol"):
        if facts.get(name):
            details[name.replace(" ", "_")] = facts[name]
    for name in ("total incoming pps", "total outgoing pps"):  # "282473 packets per second"
        number = facts.get(name, "").split(" ")[0]
        if number.isdigit():
            details[name.replace(" ", "_")] = int(number)
    doc = {"ip": ip, "action": action, "alert_scope": "host", "attack_details": details}
    return doc, (digest(ip, direction, text) if text else None)


def digest(*parts: Any) -> str:
    """A short stable hash of payload parts, for idempotency keys when the detector gives no id."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _text_facts(text: str) -> dict[str, str]:
    """The ``Key: value`` lines of Community's text attack description, keys lower-cased."""
    facts: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and value.strip() and key.strip().lower() not in facts:
            facts[key.strip().lower()] = value.strip()
    return facts
