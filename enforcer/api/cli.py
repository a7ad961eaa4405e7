"""``enforcer serve``, ``enforcer hook ...`` and ``enforcer token ...``: thin, like the rest of the CLI."""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ..terminal import plain, shown

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

hook_app = typer.Typer(help="Feed a detector's alert to enforcer from the command line", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens: create, list, revoke", no_args_is_help=True)

#: serve's burst window (seconds): a device woken during its own push gathers this long before the
#: next. Without it a stream of decisions cost every device a push per committed request, and the
#: pushes' writes took the write lock from intake (7 single decisions/s with the loop on, 217/s off).
#: Short, because a decision that arrives while its device pushes waits it out on top of the push:
#: at 0.25 s the lab FRR edge's p50 (0 active, bench/latency.py) was 557 ms, at 0 it was 267 ms.
COALESCE = 0.05


def _context(ctx: typer.Context):
    """The Context for the main CLI's settings (``ctx.obj``); a store that will not open is the user's input."""
    from .. import service

    settings = ctx.obj
    try:
        return service.Context.open(settings)
    except Exception as exc:  # a bad --db URL or an unreachable database
        _fail(f"db: cannot open {settings.db!r}: {exc}")


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, as every enforcer command reports a usage or input error."""
    err.print(f"error: {plain(message)}", markup=False, highlight=False)
    raise typer.Exit(code)


def parse_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:8080``, ``[::1]:8080`` or ``:8080`` → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{listen!r} is not HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def serve(
    ctx: typer.Context,
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on")] = "127.0.0.1:8080",
    interval: Annotated[float, typer.Option(help="Seconds between reconcile passes")] = 30.0,
    coalesce: Annotated[float, typer.Option(help="Seconds a device woken during its own push waits before the "
                                                 "next, to gather a burst into one push (a wake while idle is "
                                                 "pushed at once)")] = COALESCE,
    reconcile: Annotated[bool, typer.Option("--reconcile/--no-reconcile", help="Run the reconcile loop")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    docs: Annotated[bool, typer.Option("--docs", help="Serve /docs, /redoc and /openapi.json without a token "
                                       "(a test bench; by default the spec needs a token, the pages are off)")] = False,
) -> None:
    """Serve the HTTP API and detector hooks, with the reconcile loop and /metrics."""
    import uvicorn

    from .. import service
    from .app import create_app

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        _fail(f"listen: {exc}")
    settings = ctx.obj
    _context(ctx)  # fail early, with the CLI's message, on a bad --db
    app = create_app(lambda: service.Context.open(settings), reconcile=reconcile, interval=interval,
                     coalesce=coalesce, docs=docs)
    # an open console's event stream never ends by itself: shutdown waits for it at most 5 s
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=log_config(log_level),
                timeout_graceful_shutdown=5)


class UtcFormatter(logging.Formatter):
    converter = time.gmtime


#: Every line of serve's log starts with when it happened (UTC, ISO 8601): a NOC lines it up with the audit log.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, and enforcer's own loggers (refusals, failed pushes, breaker trips), timestamped."""
    fmt = {"()": UtcFormatter, "fmt": LOG_FORMAT, "datefmt": "%Y-%m-%dT%H:%M:%SZ"}
    handler = {"class": "logging.StreamHandler", "formatter": "stamped", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"stamped": fmt},
        "handlers": {"stamped": handler},
        "loggers": {
            name: {"handlers": ["stamped"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "enforcer")
        },
    }


@hook_app.command("fastnetmon")
def hook_fastnetmon(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(help="CLIENT_IP DIRECTION PPS ACTION, as FastNetMon calls it")]
    = None,
    url: Annotated[str | None, typer.Option(help="Post to a running `enforcer serve` at this base URL "
                                                 "(http://127.0.0.1:8080): its loop pushes at once")] = None,
    token_env: Annotated[str, typer.Option(help="With --url: the environment variable holding the token")]
    = "ENFORCER_TOKEN",
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="Push at once (else the next reconcile)")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; store nothing")] = False,
    on_unban: Annotated[str, typer.Option(help="end: an unban ends the block; keep: it lasts its TTL (FastNetMon "
                                               "cannot see an attack end behind an upstream blackhole)")] = "end",
    ttl: Annotated[str | None, typer.Option(help="How long a ban's block lasts (90s, 1h); default: the "
                                                 "playbook's")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """FastNetMon notify script: ``notify_script_path`` can point at a wrapper running this.

    Reads the attack details FastNetMon writes to stdin (text or JSON) on ``ban`` and in the JSON
    form (no arguments); never on ``unban``, which gets none. ban → a ddos-victim (incoming) or ddos-outbound (outgoing)
    decision; unban → ends what FastNetMon opened for that host. With ``--url`` the call goes to
    ``enforcer serve`` (``/v1/hooks/fastnetmon``) instead of the store.
    """
    from ..cli_hook import CallFailed, post
    from ..model import InvalidInput
    from ..notify_call import notify_document, notify_stdin

    if on_unban not in ("end", "keep"):
        _fail(f"on-unban: {on_unban!r} is not end or keep")
    try:
        doc, key = notify_document(args or [], notify_stdin(args or []))
    except InvalidInput as exc:
        _fail(str(exc))
    if url:
        from ..hooks.results import ItemResult

        try:
            answer = post(url, token_env, doc, key, dry_run, {"on_unban": on_unban, "ttl": ttl})
        except CallFailed as exc:
            _fail(exc.message, exc.code)
        results, pushed = [ItemResult.model_validate(x) for x in answer], []
    else:
        options = {"on_unban": on_unban, "ttl": ttl}
        results, pushed = _apply_fastnetmon(ctx, doc, key, apply=apply, dry_run=dry_run, options=options)
    _print_results(results, pushed, as_json)
    if any(not r.accepted for r in results):
        raise typer.Exit(2)
    if any(not p.ok for p in pushed):
        raise typer.Exit(1)


@hook_app.command("crowdsec")
def hook_crowdsec(
    ctx: typer.Context,
    lapi: Annotated[str, typer.Option(help="The CrowdSec Local API's base URL (http://127.0.0.1:8080)")],
    key_env: Annotated[str, typer.Option(help="The environment variable holding a bouncer API key "
                                              "(cscli bouncers add enforcer)")] = "CROWDSEC_BOUNCER_KEY",
    interval: Annotated[float, typer.Option(help="Seconds between pulls of the decision stream")] = 10.0,
    violation: Annotated[str, typer.Option(help="Category for scenarios that name none")] = "intrusion",
    once: Annotated[bool, typer.Option("--once", help="One startup pull, then exit")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Follow a CrowdSec LAPI's decision stream as a bouncer: its bans become decisions, pushed at once."""
    import os

    import httpx

    from ..hooks.crowdsec_stream import StreamError, follow
    from ..model import Violation

    key = os.environ.get(key_env, "")
    if not key:
        _fail(f"{key_env}: no bouncer key in this environment variable (--key-env names it)")
    try:
        category = Violation(violation)
    except ValueError:
        _fail(f"violation: {violation!r} is not a category (enforcer catalog)")
    c = _context(ctx)
    with httpx.Client(base_url=lapi.rstrip("/"), headers={"X-Api-Key": key}, timeout=30) as client:
        try:
            follow(c, client, interval=interval, violation=category, once=once,
                   report=lambda results, pushed: _print_results(results, pushed, as_json),
                   warn=lambda message: err.print(f"warning: {message}", markup=False, highlight=False))  # fmt: skip
        except StreamError as exc:
            _fail(str(exc), 1)


def _apply_fastnetmon(ctx: typer.Context, doc: dict, key: str | None, *, apply: bool, dry_run: bool, options: dict):
    """The notify call against the store, then (``apply``) a push of what changed."""
    from .. import service
    from ..hooks import fastnetmon
    from ..hooks.intake import LOCAL, apply_items, claim
    from ..model import EnforcerError, InvalidInput

    try:
        items = claim(fastnetmon.from_callback(doc, key=key, **options), hook=fastnetmon.SOURCE, caller=LOCAL)
    except InvalidInput as exc:
        _fail(str(exc))
    c = _context(ctx)
    try:
        results = apply_items(c, items, source=fastnetmon.SOURCE, dry_run=dry_run)
    except EnforcerError as exc:
        _fail(str(exc))
    pushed = []
    if apply and not dry_run and any(r.outcome in ("created", "ended") for r in results):
        pushed = [r for _, r in service.apply(c, actor=fastnetmon.SOURCE, source=fastnetmon.SOURCE) if r is not None]
    return results, pushed


def _print_results(results, pushed, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"results": [r.model_dump(mode="json") for r in results],
                          "pushes": [p.model_dump(mode="json") for p in pushed]}))
        return
    from ..cli_hook import describe

    for r in results:
        out.print(plain(describe(r.model_dump(mode="json"))), markup=False, highlight=False)
    for p in pushed:
        state = "applied" if p.ok and p.changed else ("unchanged" if p.ok else f"failed: {p.error}")
        out.print(f"push {p.device}: {plain(state)}", markup=False, highlight=False)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who holds it: fastnetmon-1, noc-dashboard, alice")],
    scope: Annotated[str, typer.Option(help="detector | reader | operator")] = "reader",
    categories: Annotated[str | None, typer.Option(help="detector only: the categories it may submit, a,b")] = None,
) -> None:
    """Create a token; it is printed once, as the last line, and stored only as a hash."""
    from ..model import InvalidInput
    from .tokens import create_token, parse_categories

    try:
        secret = create_token(_context(ctx).store, name, scope, parse_categories(categories))
    except InvalidInput as exc:
        _fail(str(exc))
    err.print(f"token {name!r} ({scope}) created; it is shown only now:", markup=False, highlight=False)
    print(secret)


@token_app.command("list")
def token_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every token, revoked ones included (never the secrets)."""
    from .tokens import list_tokens

    tokens = list_tokens(_context(ctx).store)
    if as_json:
        print(json.dumps([t.model_dump(mode="json") for t in tokens]))
        return
    table = Table("name", "scope", "categories", "created", "revoked")
    for t in tokens:
        table.add_row(shown(t.name), t.scope.value, ",".join(t.categories) or "-",
                      t.created_at.strftime("%Y-%m-%d %H:%M"), "yes" if t.revoked else "")
    out.print(table)


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Revoke a token at once: its next request gets a 401."""
    from ..model import InvalidInput
    from .tokens import revoke_token

    try:
        revoke_token(_context(ctx).store, name)
    except InvalidInput as exc:
        _fail(str(exc))
    out.print(f"token {name!r} revoked", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``hook`` and ``token`` to the main ``enforcer`` app."""
    app.command("serve")(serve)
    app.add_typer(hook_app, name="hook")
    app.add_typer(token_app, name="token")
