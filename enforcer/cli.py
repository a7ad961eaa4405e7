"""The ``enforcer`` command line: parse, call one function of :mod:`enforcer.service`, format.

Exit codes: 0 success; 1 a device or runtime failure; 2 bad input or a refused request (one line
on stderr naming the field and the reason, nothing stored); ``plan --detailed-exitcode`` 2 when
there are changes, as Terraform does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import typer.main
from rich.table import Table
from typer.core import TyperGroup

from .cli_print import emit_json, err, follow_columns, out, say_error
from .settings import Settings
from .terminal import plain, shown

if TYPE_CHECKING:
    from . import service

# Start-up is part of the product: FastNetMon runs ``enforcer hook fastnetmon --url`` once per
# ban, and an operator types ``enforcer block`` during an attack. So this module and the command
# modules it registers import only typer/rich/pydantic at the top; the service, store, render and
# server stacks are imported inside the commands that use them (tests/test_cli_imports.py).


class _OneLineErrors(TyperGroup):
    """Usage mistakes (missing option, bad value, unknown option) end like every other bad input:
    one line on stderr naming the field, exit 2 — not a usage box.

    The commands of the command modules (devices, lab, controller, serve/hook/token, notices) are
    added when a call names one of them or lists them all (``--help``, an unknown name): ``enforcer
    block`` built typer's whole tree — 37 commands' parameters read from their signatures — and
    imported every command module, before it ran (issue 12.5; ``tests/test_cli_imports.py``).
    """

    _more_loaded = False

    def _load_more(self) -> None:
        """Add the command modules' commands, in the order an eager registration gave them."""
        if self._more_loaded:
            return
        self._more_loaded = True
        more = typer.Typer(add_completion=False)
        _register_subpackages(more)
        for name, command in typer.main.get_group(more).commands.items():
            self.commands.setdefault(name, command)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_more()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: Any) -> list[str]:
        self._load_more()
        return super().list_commands(ctx)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            err.print("aborted", markup=False)
            sys.exit(1)
        except typer.TyperException as exc:  # Typer's (vendored) click usage errors
            if not hasattr(exc, "format_message"):
                raise
            param = getattr(exc, "param", None)
            name = param.name if param is not None and param.name else getattr(exc, "option_name", None) or "usage"
            err.print(f"error: {plain(name.lstrip('-'))}: {plain(exc.format_message())}", markup=False,
                      highlight=False)
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="enforcer",
    help="Turn AUP violation decisions into device configuration: ACLs, null routes, RTBH, rate limits, "
    "prefix filters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str, code: int = 2) -> NoReturn:
    say_error(message)
    raise typer.Exit(code)


@app.callback()
def main_options(
    ctx: typer.Context,
    inventory: Annotated[
        Path | None, typer.Option("--inventory", "-i", help="Inventory folder [env ENFORCER_INVENTORY]")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the store [env ENFORCER_DB]")] = None,
    playbooks: Annotated[
        Path | None, typer.Option("--playbooks", help="Playbook folder [env ENFORCER_PLAYBOOKS]")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Where offline devices' configs are written [env ENFORCER_OUTPUT]")
    ] = None,
) -> None:
    from .errors import InvalidInput

    try:
        ctx.obj = Settings.from_env(inventory=inventory, db=db, playbooks=playbooks, output=output)
    except InvalidInput as exc:  # ENFORCER_LEASE_TTL=abc: one line naming the variable
        fail(str(exc), 2)
    follow_columns()


def context(ctx: typer.Context) -> service.Context:
    from .context import Context  # not the service or the intake half: `render` and `block` import only what they use

    settings: Settings = ctx.obj
    try:
        return Context.open(settings)
    except Exception as exc:  # a bad --db URL or an unreachable database: the user's input
        fail(f"db: cannot open {settings.db!r}: {exc}", 2)


def guard(fn: Any) -> Any:
    """Turn enforcer's own errors into exit codes at the edge, once."""
    from pydantic import ValidationError

    from .model import EnforcerError, InvalidInput, Refused, validation_error_to_invalid

    try:
        return fn()
    except (InvalidInput, Refused) as exc:
        fail(str(exc), 2)
    except ValidationError as exc:
        fail(str(validation_error_to_invalid(exc)), 2)
    except EnforcerError as exc:
        fail(str(exc), 2)


# ------------------------------------------------------------------ decisions


@app.command()
def block(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="IPv4/IPv6 address or prefix")],
    violation: Annotated[str, typer.Option("--violation", "-v", help="AUP category (see `enforcer catalog`)")],
    ttl: Annotated[str | None, typer.Option(help="How long: 30m, 2h, 7d (default: the playbook's)")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit log")] = "",
    customer: Annotated[str | None, typer.Option(help="Customer id (required for bgp-hijack, spoofing)")] = None,
    asn: Annotated[int | None, typer.Option(help="Announcing ASN (bgp-hijack)")] = None,
    actor: Annotated[str | None, typer.Option(help="Who decides [default: $USER]")] = None,
    force: Annotated[bool, typer.Option("--force", help="Allow prefixes broader than the guardrail (audited)")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be stored; store nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: Annotated[str | None, typer.Option(help="Post to a running `enforcer serve` (its base URL) instead of "
                                                 "the local store; the token names the actor")] = None,
    token_env: Annotated[str, typer.Option(help="With --url: the environment variable holding the token")]
    = "ENFORCER_TOKEN",
) -> None:
    """Record a violation decision; the playbook turns it into enforcements."""
    from . import cli_block

    if url:
        if actor:
            fail("--actor: with --url the service records the token's name as the actor", 2)
        options = {"url": url, "token_env": token_env, "args": [target], "violation": violation, "ttl": ttl,
                   "reason": reason, "customer": customer, "asn": asn, "force": force, "dry_run": dry_run,
                   "json": as_json}  # fmt: skip
        raise typer.Exit(cli_block.run(options))
    options = {"args": [target], "violation": violation, "ttl": ttl, "reason": reason, "customer": customer,
               "asn": asn, "actor": actor, "force": force, "dry_run": dry_run, "json": as_json}  # fmt: skip
    raise typer.Exit(cli_block.run_local(options, ctx.obj))


@app.command()
def unblock(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Decision id or target")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log")] = "",
    actor: Annotated[str | None, typer.Option(help="Who decides [default: $USER]")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """End a decision early; its enforcements leave the desired set at the next apply."""
    import getpass

    from . import service

    records = guard(
        lambda: service.unblock(context(ctx), ref, actor=actor or getpass.getuser(), source="cli", reason=reason)
    )
    if as_json:
        emit_json([r.model_dump(mode="json") for r in records])
        return
    for r in records:
        out.print(f"decision {r.id} ({r.violation} {r.target}) removed")


@app.command()
def approve(
    ctx: typer.Context,
    decision_id: Annotated[str, typer.Argument(help="Id of a held decision (status pending)")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log")] = "",
    actor: Annotated[str | None, typer.Option(help="Who decides [default: $USER]")] = None,
) -> None:
    """Approve a detector's decision held for being broader than the guardrail; it is then enforced."""
    _decide_held(ctx, "approve", decision_id, reason, actor, "approved: enforced at the next apply")


@app.command()
def reject(
    ctx: typer.Context,
    decision_id: Annotated[str, typer.Argument(help="Id of a held decision (status pending)")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log")] = "",
    actor: Annotated[str | None, typer.Option(help="Who decides [default: $USER]")] = None,
) -> None:
    """Refuse a detector's held decision: it ends without ever being enforced."""
    _decide_held(ctx, "reject", decision_id, reason, actor, "rejected: never enforced")


def _decide_held(ctx: typer.Context, verb: str, decision_id: str, reason: str, actor: str | None, said: str) -> None:
    """``approve`` / ``reject`` of a held decision: the same call, audited under the real user."""
    import getpass

    from . import service

    who = actor or getpass.getuser()
    act = getattr(service, verb)
    rec = guard(lambda: act(context(ctx), _id(decision_id), actor=who, source="cli", reason=reason))
    out.print(f"decision {rec.id} ({rec.violation} {rec.target}) {said}")


def _id(value: str) -> int:
    """A decision id argument: digits, else the one-line error of any bad input (exit 2)."""
    from . import service
    from .model import InvalidInput

    if not value.strip().isdigit():
        raise InvalidInput("id", f"{value!r} is not a decision id")
    return service.decision_id_of(value)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include removed and expired decisions")] = False,
    counters: Annotated[
        bool, typer.Option("--counters", help="Read what each decision dropped from the devices that count it")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Current decisions (enforced, or held for approval) and their enforcements."""
    from . import service
    from .console import terminal

    c = context(ctx)
    records = guard(lambda: service.list_decisions(c, active_only=not all_))
    dropped = None
    if counters:
        from .counters import by_decision, read_counters

        dropped = by_decision((e for r in records for e in r.enforcements), read_counters(c))
    if as_json:
        rows = [r.model_dump(mode="json") for r in records]
        if dropped is not None:
            for row in rows:
                row["dropped"] = dropped[row["id"]].model_dump() if row["id"] in dropped else None
        emit_json(rows)
        return
    shown = None if dropped is None else {i: d.human() for i, d in dropped.items()}
    out.print(terminal.decisions_table(records, out.width, shown))


@app.command()
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The audit log: who did what, when, why, under which AUP clause."""
    from . import service
    from .console import terminal

    entries = guard(lambda: service.history(context(ctx), limit=limit))
    if as_json:
        emit_json([e.model_dump(mode="json") for e in entries])
        return
    out.print(terminal.history_table(entries, out.width))


@app.command()
def watch(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks at the store")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per new audit entry, per line")] = False,
) -> None:
    """Follow new decisions, approvals, expiries, pushes and (on a terminal) counters live (Ctrl-C stops)."""
    from . import service
    from .console import terminal

    c = context(ctx)

    def events(after: int) -> list[Any]:
        if after < 0:
            return service.history(c, limit=10)
        return [e for e in service.history(c, limit=500) if e.id > after]

    from .counters import CounterCache, by_decision

    cache = CounterCache(c)  # the live screen's "dropped" column: devices read at most every 10 s

    def dropped() -> dict[int, str]:
        enforcements = [e for r in service.list_decisions(c) for e in r.enforcements]
        return {d: x.human() for d, x in by_decision(enforcements, cache.read()).items()}

    try:
        terminal.watch(events, lambda: service.list_decisions(c), out, interval=interval, as_json=as_json,
                       counters=dropped)
    except KeyboardInterrupt:
        pass


@app.command()
def catalog(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The AUP violation categories and the seed-policy clauses behind them."""
    from .catalog import CATALOG

    if as_json:
        emit_json([c.model_dump(mode="json") for c in CATALOG.values()])
        return
    table = Table("category", "summary", "clauses", show_lines=True)
    for c in CATALOG.values():
        table.add_row(c.violation.value, c.summary, "\n".join(cl.cite() for cl in c.clauses))
    out.print(table)


def _register_subpackages(target: typer.Typer) -> None:
    """The command modules' commands onto ``target`` (:meth:`_OneLineErrors._load_more`)."""
    from .api.cli import register as register_api
    from .cli_devices import register as register_devices
    from .console.commands import register as register_console
    from .controller.cli import register as register_controller
    from .lab.cli import register as register_lab

    for register in (register_devices, register_lab, register_controller, register_api, register_console):
        register(target)


def main() -> None:
    try:
        app()
    except ImportError as exc:  # an optional stack is not installed: name the extra, no traceback
        from .extras import missing_extra

        missing = missing_extra(exc)
        if missing is None:
            raise
        err.print(f"error: {shown(missing)}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    # ``python -m enforcer.cli``: run the imported module, not this __main__ copy, so that the
    # command modules (which import enforcer.cli) and this one are the same module.
    from enforcer.cli import main as _main

    _main()
