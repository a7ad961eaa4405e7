"""``enforcer serve``, ``enforcer hook ...`` and ``enforcer token ...``: thin, like the rest of the CLI."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

hook_app = typer.Typer(help="Feed a detector's alert to enforcer from the command line", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens: create, list, revoke", no_args_is_help=True)


def _context(ctx: typer.Context):  # the main CLI owns settings and the store opening rules
    from ..cli import context

    return context(ctx)


def _fail(message: str, code: int = 2):
    from ..cli import fail

    fail(message, code)


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
    coalesce: Annotated[float, typer.Option(help="Seconds to gather a burst of decisions into one push")] = 0.2,
    reconcile: Annotated[bool, typer.Option("--reconcile/--no-reconcile", help="Run the reconcile loop")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
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
                     coalesce=coalesce)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@hook_app.command("fastnetmon")
def hook_fastnetmon(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(help="CLIENT_IP DIRECTION PPS ACTION, as FastNetMon calls it")]
    = None,
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="Push at once (else the next reconcile)")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; store nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """FastNetMon notify script: ``notify_script_path`` can point at a wrapper running this.

    Reads the attack details FastNetMon writes to stdin (text or JSON) — always, since FastNetMon
    expects its script to consume them. ban → a ddos-victim (incoming) or ddos-outbound (outgoing)
    decision; unban → ends what FastNetMon opened for that host.
    """
    from .. import service
    from ..hooks.fastnetmon import from_notify
    from ..model import EnforcerError, InvalidInput
    from .intake import apply_items

    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    try:
        items = from_notify(args or [], stdin)
    except InvalidInput as exc:
        _fail(str(exc))
    c = _context(ctx)
    try:
        results = apply_items(c, items, dry_run=dry_run)
    except EnforcerError as exc:
        _fail(str(exc))
    pushed = []
    if apply and not dry_run and any(r.outcome in ("created", "ended") for r in results):
        pushed = [r for _, r in service.apply(c, actor="fastnetmon", source="fastnetmon") if r is not None]
    if as_json:
        print(json.dumps({"results": [r.model_dump(mode="json") for r in results],
                          "pushes": [p.model_dump(mode="json") for p in pushed]}))
    else:
        for r in results:
            what = r.reason or (r.error and f"{r.error.field}: {r.error.reason}") or ""
            ids = r.decision_id or ",".join(map(str, r.ended)) or "-"
            out.print(f"{r.outcome} {r.target or ''} {r.violation or ''} decision {ids} {what}".strip(),
                      markup=False, highlight=False)
        for p in pushed:
            state = "applied" if p.ok and p.changed else ("unchanged" if p.ok else f"failed: {p.error}")
            out.print(f"push {p.device}: {state}", markup=False, highlight=False)
    if any(not r.accepted for r in results):
        raise typer.Exit(2)
    if any(not p.ok for p in pushed):
        raise typer.Exit(1)


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
        table.add_row(t.name, t.scope.value, ",".join(t.categories) or "-", t.created_at.strftime("%Y-%m-%d %H:%M"),
                      "yes" if t.revoked else "")
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
