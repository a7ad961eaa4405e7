"""``enforcer hook fastnetmon --url``: FastNetMon's notify call posted to ``enforcer serve``, thin.

FastNetMon runs its notify script once per ban, during the attack, so this client imports the
standard library only: no typer, Rich or pydantic (issue 12.5; ``tests/test_cli_imports.py``).
The console script (:mod:`enforcer.cli_entry`) runs :func:`run_fast` for a call it can read
whole, and the typer command (``enforcer.api.cli.hook_fastnetmon``) uses :func:`post` and
:func:`describe` for everything else: the POST, its errors and the printed lines are one code
whichever way the command was started. Anything :func:`parse_fast` does not recognise (a global
option, ``--help``, ``--json``, an unknown or malformed option) goes to the typer command, so its
usage errors and exit codes are typer's own.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Sequence
from typing import Any

from .errors import InvalidInput

#: What the answer's ``outcome`` says when the service did not accept the item (exit 2).
NOT_ACCEPTED = ("refused", "invalid")


class CallFailed(Exception):
    """The call did not get an answer with results: the message and the exit code (2 for what the
    service refused or the caller got wrong, 1 when it cannot be reached or fails)."""

    def __init__(self, message: str, code: int):
        self.message = message
        self.code = code
        super().__init__(message)


def post(url: str, token_env: str, doc: dict, key: str | None, dry_run: bool, options: dict) -> list[dict[str, Any]]:
    """The notify call as FastNetMon's web callback to ``enforcer serve``; its answer's results, as sent.

    FastNetMon does not retry a notify script, so the message of :class:`CallFailed` is what the
    operator gets: a 4xx names the field.
    """
    params = {**options, "dry_run": "true" if dry_run else None}
    status, answer, endpoint = send(url, "/v1/hooks/fastnetmon", token_env, doc, params, key)
    results = answer.get("results")
    if isinstance(results, list) and all(isinstance(r, dict) and isinstance(r.get("outcome"), str) for r in results):
        return results
    error = answer.get("error") if isinstance(answer.get("error"), dict) else None
    error = error or {"field": "server", "reason": f"HTTP {status}"}
    raise CallFailed(f"{error.get('field')}: {error.get('reason')} ({endpoint}: HTTP {status})",
                     2 if 400 <= status < 500 else 1)  # fmt: skip


def send(url: str, path: str, token_env: str, doc: dict, params: dict, key: str | None = None,
         ) -> tuple[int, dict[str, Any], str]:  # fmt: skip
    """POST ``doc`` as JSON to ``url`` + ``path`` with the token in ``token_env``: the status, the answer
    (``{}`` when it is not a JSON object) and the endpoint. :class:`CallFailed` when there is no token
    or no answer at all (refused, unreachable, timed out, a bad URL)."""
    import urllib.error  # here, not at the top: the console script imports this module for every command
    import urllib.parse
    import urllib.request

    token = os.environ.get(token_env, "")
    if not token:
        raise CallFailed(f"{token_env}: no token in this environment variable (--token-env names it)", 2)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    endpoint = url.rstrip("/") + path
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    # The standard library's client, not httpx: one POST per call, and httpx's import (with its own
    # command line's Rich views) was most of this command's start-up.
    request = urllib.request.Request(endpoint + (f"?{query}" if query else ""), data=json.dumps(doc).encode(),
                                     headers=headers, method="POST")  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - the operator's own --url
            status, body = r.status, r.read()
    except urllib.error.HTTPError as exc:  # a 4xx/5xx answer: its body names the field
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CallFailed(f"{endpoint}: {getattr(exc, 'reason', exc)}", 1) from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    return status, answer if isinstance(answer, dict) else {}, endpoint


def describe(result: dict[str, Any]) -> str:
    """One item's result as the line the command prints (``created 203.0.113.10/32 ddos-victim decision 7``)."""
    error = result.get("error")
    what = result.get("reason") or (error and f"{error.get('field')}: {error.get('reason')}") or ""
    ids = result.get("decision_id") or ",".join(map(str, result.get("ended") or [])) or "-"
    target, violation = result.get("target") or "", result.get("violation") or ""
    return f"{result['outcome']} {target} {violation} decision {ids} {what}".strip()


#: The hook's options that take a value, and their defaults (``enforcer.api.cli.hook_fastnetmon``'s).
VALUED = {"--url": None, "--token-env": "ENFORCER_TOKEN", "--on-unban": "end", "--ttl": None}
FLAGS = {"--apply": ("apply", True), "--no-apply": ("apply", False), "--dry-run": ("dry_run", True)}


def parse_fast(argv: Sequence[str]) -> dict[str, Any] | None:
    """``hook fastnetmon [options] [ARGS]`` with ``--url`` → its options, or None for the typer command.

    None for anything else: another command, a global option before ``hook`` (typer validates the
    settings), ``--json`` (the typer command prints the results' models), ``--help``, an option it
    does not know, a missing value, ``--on-unban`` other than end/keep, or ``ENFORCER_LEASE_TTL``
    set (the main options check it and refuse a bad one).
    """
    if len(argv) < 2 or argv[0] != "hook" or argv[1] != "fastnetmon" or os.environ.get("ENFORCER_LEASE_TTL"):
        return None
    read = read_argv(argv[2:], VALUED, FLAGS)
    if read is None:
        return None  # --json, --help, a typo: typer's to print or refuse
    values, flags, args = read
    options: dict[str, Any] = {k.lstrip("-").replace("-", "_"): v for k, v in VALUED.items()}
    options.update(apply=True, dry_run=False, args=args)
    options.update({name.lstrip("-").replace("-", "_"): v for name, v in values.items()})
    options.update(FLAGS[word] for word in flags)
    if not options["url"] or options["on_unban"] not in ("end", "keep"):
        return None
    return options


def read_argv(argv: Sequence[str], valued: Collection[str], flags: Collection[str],
              ) -> tuple[dict[str, str], list[str], list[str]] | None:  # fmt: skip
    """A command's words after its name → (options with a value, flags in order, arguments), as click reads
    them (``--opt value``, ``--opt=value``, ``--`` ends the options); None for any other option word or a
    missing value, which the typer command then prints or refuses."""
    values: dict[str, str] = {}
    given: list[str] = []
    args: list[str] = []
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        name, eq, value = word.partition("=")
        if word == "--":
            args.extend(rest)
            break
        if name in valued:
            if not eq:
                if not rest:
                    return None
                value = rest.pop(0)
            values[name] = value
        elif word in flags:
            given.append(word)
        elif word.startswith("-") and word != "-":
            return None
        else:
            args.append(word)
    return values, given, args


def run_fast(options: dict[str, Any]) -> int:
    """The notify call posted to ``enforcer serve``, its results printed one per line: the exit code."""
    from .notify_call import notify_document, notify_stdin

    args = options["args"]
    try:
        doc, key = notify_document(args, notify_stdin(args))
        results = post(options["url"], options["token_env"], doc, key, options["dry_run"],
                       {"on_unban": options["on_unban"], "ttl": options["ttl"]})  # fmt: skip
    except InvalidInput as exc:
        return _failed(str(exc), 2)
    except CallFailed as exc:
        return _failed(exc.message, exc.code)
    from .terminal import plain

    for r in results:
        print(plain(describe(r)))
    return 2 if any(r["outcome"] in NOT_ACCEPTED for r in results) else 0


def _failed(message: str, code: int) -> int:
    from .terminal import plain

    print(f"error: {plain(message)}", file=sys.stderr)
    return code
