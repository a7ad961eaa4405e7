"""``enforcer block``: a NOC engineer's block, judged on the local store or posted to ``enforcer serve``, thin.

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

Without ``--url`` the block is judged here (:func:`run_local`): the console script runs it for a
call :func:`parse_local` reads whole, without typer and click (their import and the command tree
they build were a sixth of the command's start-up), and the typer command runs the same function,
so both print the same lines and errors and end with the same exit codes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .cli_hook import CallFailed, read_argv, send

if TYPE_CHECKING:
    from .settings import Settings

#: ``block``'s options that take a value (``enforcer.cli.block``'s), and the ones that are flags.
VALUED = ("--url", "--token-env", "--violation", "-v", "--ttl", "--reason", "--customer", "--asn")
FLAGS = ("--force", "--dry-run", "--json")
#: Without ``--url`` the operator names the actor (the default is the login name).
LOCAL_VALUED = tuple(name for name in VALUED if name != "--url") + ("--actor",)


def parse_fast(argv: Sequence[str]) -> dict[str, Any] | None:
    """``block TARGET -v V [options] --url U`` → its options, or None for the typer command.

    None for anything else: another command, a global option before ``block``, ``--help``,
    ``--actor`` (refused by the typer command with its reason), an unknown option, a missing value,
    no target or two.
    """
    options = _read_block(argv, VALUED)
    if options is None or not options.get("url"):
        return None
    return {"token_env": "ENFORCER_TOKEN", **options}


def parse_local(argv: Sequence[str]) -> dict[str, Any] | None:
    """``block TARGET -v V [options]`` without ``--url`` → its options, or None for the typer command.

    None for anything :func:`parse_fast`'s rules send to typer, and for ``--url`` (that call is
    :func:`parse_fast`'s, or typer's for ``--url ''``, which typer treats as no URL).
    """
    return _read_block(argv, LOCAL_VALUED)


def _read_block(argv: Sequence[str], valued: tuple[str, ...]) -> dict[str, Any] | None:
    """The words of ``block TARGET -v V [options]`` with the options ``valued`` takes, as the typer
    command's keyword names; None where typer must answer (see :func:`parse_fast`)."""
    if not argv or argv[0] != "block":
        return None
    read = read_argv(argv[1:], valued, FLAGS)
    if read is None:
        return None
    values, flags, args = read
    options: dict[str, Any] = {"violation" if name == "-v" else name.lstrip("-").replace("-", "_"): v
                               for name, v in values.items()}  # fmt: skip
    options.update({word.lstrip("-").replace("-", "_"): True for word in flags})
    options["args"] = args
    if not options.get("violation") or len(args) != 1:
        return None
    if "asn" in options:
        if not options["asn"].isdigit():
            return None  # typer's own usage error for an int option
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


def run_local(options: dict[str, Any], settings: Settings | None = None) -> int:
    """The block judged and stored (or previewed) on the local store, its answer printed: the exit code.

    0 stored or previewed; 2 invalid or refused (one line naming the field, nothing stored), a
    bad setting or a store that cannot be opened. ``settings``: the typer command's (its global
    options applied); the console script reads the environment, as typer does with no options.
    """
    import getpass

    from pydantic import ValidationError

    from .cli_print import emit_json, enforcement_table, follow_columns, out, say_error
    from .model import Decision, EnforcerError, InvalidInput, validation_error_to_invalid
    from .settings import Settings

    if settings is None:
        try:
            settings = Settings.from_env()
        except InvalidInput as exc:  # ENFORCER_LEASE_TTL=abc: one line naming the variable
            say_error(str(exc))
            return 2
        follow_columns()
    from . import decisions

    try:
        decision = Decision.model_validate({
            "target": options["args"][0], "violation": options["violation"], "ttl": options.get("ttl"),
            "reason": options.get("reason", ""), "customer": options.get("customer"), "asn": options.get("asn"),
            "actor": options.get("actor") or getpass.getuser(), "source": "cli", "force": bool(options.get("force")),
        })  # fmt: skip
        try:
            ctx = decisions.Context.open(settings)
        except Exception as exc:  # a bad --db URL or an unreachable database: the user's input
            say_error(f"db: cannot open {settings.db!r}: {exc}")
            return 2
        result = decisions.submit(ctx, decision, dry_run=bool(options.get("dry_run")))
    except ValidationError as exc:
        say_error(str(validation_error_to_invalid(exc)))
        return 2
    except EnforcerError as exc:  # InvalidInput, Refused and the rest of enforcer's own errors
        say_error(str(exc))
        return 2
    if options.get("json"):
        emit_json(result.model_dump(mode="json"))
        return 0
    verb = "would create" if result.dry_run else ("created" if result.created else "already recorded as")
    held = " — held: waits for `enforcer approve`" if result.pending else ""
    out.print(f"decision {result.decision_id or '-'} {verb} (ladder step {result.step + 1}){held}")
    enforcement_table(result.enforcements)
    return 0


def run_local_edge(options: dict[str, Any]) -> int:
    """:func:`run_local` as the console script's whole command: an interrupt ends as typer's does."""
    try:
        return run_local(options)
    except KeyboardInterrupt:  # click: an empty line, then "aborted", exit 1
        from .cli_print import err

        print(file=sys.stderr)
        err.print("aborted", markup=False)
        return 1
