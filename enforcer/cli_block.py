"""``enforcer block --url``: a NOC engineer's block posted to a running ``enforcer serve``, thin.

Issue 12.5 asks ``block`` to start in under 300 ms. Run against the local store, ``block`` opens
the store (SQLAlchemy), validates with the models (pydantic) and judges with the playbooks: about
a second of start-up on the test machine, most of it imports (docs/benchmarks.md, CLI start-up).
With ``--url`` the service that already holds all of that judges and stores the decision, as
``cscli decisions add`` asks CrowdSec's Local API: this client imports the standard library only
(``tests/test_cli_block.py`` checks both), posts ``POST /v1/decisions`` with the operator's token,
and prints the answer. The console script (:mod:`enforcer.cli_entry`) runs :func:`run` for a call
:func:`parse_fast` reads whole; the typer command runs the same :func:`run` for any other
``--url`` call, so the request, the printed lines, the errors and the exit codes are one code.

The actor is the token's name (the API records who called, never who the caller says it is), so
``--actor`` is refused with ``--url``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from .cli_hook import CallFailed, read_argv, send

#: ``block``'s options that take a value (``enforcer.cli.block``'s), and the ones that are flags.
VALUED = ("--url", "--token-env", "--violation", "-v", "--ttl", "--reason", "--customer", "--asn")
FLAGS = ("--force", "--dry-run", "--json")


def parse_fast(argv: Sequence[str]) -> dict[str, Any] | None:
    """``block TARGET -v V [options] --url U`` → its options, or None for the typer command.

    None for anything else: another command, a global option before ``block``, ``--help``,
    ``--actor`` (refused by the typer command with its reason), an unknown option, a missing value,
    no target or two.
    """
    if not argv or argv[0] != "block":
        return None
    read = read_argv(argv[1:], VALUED, FLAGS)
    if read is None:
        return None
    values, flags, args = read
    options: dict[str, Any] = {"token_env": "ENFORCER_TOKEN", "args": args}
    options.update({"violation" if name == "-v" else name.lstrip("-").replace("-", "_"): v
                    for name, v in values.items()})  # fmt: skip
    options.update({word.lstrip("-").replace("-", "_"): True for word in flags})
    if not options.get("url") or not options.get("violation") or len(options["args"]) != 1:
        return None
    if "asn" in options and not options["asn"].isdigit():
        return None  # typer's own usage error for an int option
    if "asn" in options:
        options["asn"] = int(options["asn"])
    return options


def request_body(options: dict[str, Any]) -> dict[str, Any]:
    """The ``DecisionIn`` document: only what was given, the service validates every field and names it."""
    body: dict[str, Any] = {"target": options["args"][0], "violation": options["violation"]}
    for field in ("ttl", "reason", "customer"):
        if options.get(field):
            body[field] = options[field]
    if options.get("asn") is not None:
        body["asn"] = options["asn"]  # sent as given: a non-number is the service's 422, naming asn
    if options.get("force"):
        body["force"] = True
    return body


def describe(answer: dict[str, Any]) -> list[str]:
    """The lines the command prints for the service's ``SubmitResult``: the decision, then each enforcement."""
    verb = "would create" if answer.get("dry_run") else ("created" if answer.get("created") else "already recorded as")
    held = " — held: waits for `enforcer approve`" if answer.get("pending") else ""
    step = int(answer.get("step") or 0) + 1
    lines = [f"decision {answer.get('decision_id') or '-'} {verb} (ladder step {step}){held}"]
    for e in answer.get("enforcements") or []:
        expires = (e.get("expires_at") or "never").replace("T", " ")[:19]
        roles = ",".join(sorted(e.get("roles") or []))
        lines.append(f"  enforcement {e.get('id') or '-'}: {e.get('action')} {e.get('target')} roles {roles} "
                     f"expires {expires}")  # fmt: skip
    return lines


def run(options: dict[str, Any]) -> int:
    """The block posted to ``enforcer serve`` and its answer printed: the exit code (0 stored or
    previewed, 2 refused or invalid, 1 unreachable or failed)."""
    from .terminal import plain

    try:
        status, answer, endpoint = send(options["url"], "/v1/decisions", options["token_env"], request_body(options),
                                        {"dry_run": "true" if options.get("dry_run") else None})  # fmt: skip
    except CallFailed as exc:
        print(f"error: {plain(exc.message)}", file=sys.stderr)
        return exc.code
    if status not in (200, 201) or "decision_id" not in answer:
        error = answer.get("error") if isinstance(answer.get("error"), dict) else None
        error = error or {"field": "server", "reason": f"HTTP {status}"}
        print(f"error: {plain(str(error.get('field')))}: {plain(str(error.get('reason')))} ({endpoint}: HTTP {status})",
              file=sys.stderr)  # fmt: skip
        return 2 if 400 <= status < 500 else 1
    if options.get("json"):
        print(json.dumps(answer, indent=2))
        return 0
    for line in describe(answer):
        print(plain(line))
    return 0
