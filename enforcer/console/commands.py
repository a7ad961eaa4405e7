"""``enforcer notices``: the customer-notice outbox, listed, or delivered once (cron, or a test)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..cli import context, emit_json, guard, out

notices_app = typer.Typer(help="Customer notices: the outbox, and delivering what is due", no_args_is_help=True)


def register(main: typer.Typer) -> None:
    main.add_typer(notices_app, name="notices")


@notices_app.command("list")
def notices_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The latest notices: queued, sent, or withheld (opted out, no abuse contact)."""
    from .. import notify

    rows = guard(lambda: notify.notices(context(ctx).store, limit=limit))
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    from .terminal import cell, fit, plain_table, when  # Rich's progress and live views: not at every start-up

    table = plain_table("id", "case", "kind", "status", "tries", "to", "error")
    for r in rows:
        status = r.status if r.status != "sent" else f"sent {when(r.sent_at)}"
        table.add_row(*map(cell, (r.id, r.decision_id, r.kind, status, r.attempts, r.recipient, r.last_error)))
    out.print(fit(table, out.width, shrink=("to", "error")))


@notices_app.command("send")
def notices_send(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Derive notices for new events and send every one that is due (what `enforcer serve` does each pass)."""
    from .. import notify

    c = context(ctx)
    sent = guard(lambda: notify.run_once(c.store, c.inventory))
    if as_json:
        emit_json({"sent": sent, "queued": notify.queued(c.store)})
        return
    out.print(f"sent {len(sent)} notice(s); {notify.queued(c.store)} still queued")
