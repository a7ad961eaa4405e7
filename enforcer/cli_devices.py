"""The commands that touch devices: render, plan, apply, reconcile, validate.

Same contract as :mod:`enforcer.cli`: parse, call one function of :mod:`enforcer.service`, format;
``plan --detailed-exitcode`` exits 0 (no changes), 2 (changes) or 1 (a device error).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.syntax import Syntax
from rich.table import Table

from . import service
from .cli import context, emit_json, err, fail, guard, out
from .console import terminal
from .terminal import plain, shown

app = typer.Typer()


def register(main: typer.Typer) -> None:
    """Add these commands to the main ``enforcer`` app."""
    main.registered_commands.extend(app.registered_commands)




@app.command()
def render(ctx: typer.Context, device: Annotated[str, typer.Argument(help="Inventory device name")]) -> None:
    """Print the device's whole enforcer-managed section as rendered from the active set."""
    text = guard(lambda: service.render_device(context(ctx), device))
    sys.stdout.write(text)


@app.command()
def plan(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", "-d")] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 no changes, 2 changes, 1 error")
    ] = False,
    rederive: Annotated[bool, typer.Option("--rederive", help="Re-derive the active decisions' enforcements "
                                                              "with the current playbooks (review a playbook change)")]
    = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show, per device, the diff between the rendered section and the device's live state."""
    from .rederive import rederive as rederive_set

    c = context(ctx)
    changes: list[Any] = []
    desired = None
    if rederive:
        desired, changes = guard(lambda: rederive_set(service.list_decisions(c), c.playbooks))
    plans = guard(lambda: service.plan(c, device, enforcements=desired))
    if as_json:
        listed = [p.model_dump(mode="json", exclude={"desired", "live"}) for p in plans]
        emit_json({"plans": listed, "playbook_changes": [ch.model_dump(mode="json") for ch in changes]}
                  if rederive else listed)  # fmt: skip
    else:
        _print_playbook_changes(changes)
        _print_plans(plans)
    errors = any(p.error for p in plans)
    if errors:
        raise typer.Exit(1)
    if detailed_exitcode and any(p.has_changes for p in plans):
        raise typer.Exit(2)


def _print_playbook_changes(changes: list[Any]) -> None:
    for ch in changes:
        what = "; ".join(f"{field} {old} -> {new}" for field, (old, new) in ch.changes.items())
        out.print(f"playbook change: decision {ch.decision_id} {ch.target} {ch.violation.value}: {what}",
                  markup=False, highlight=False)  # fmt: skip


def _print_plans(plans: list[Any]) -> None:
    for p in plans:
        if p.diff:
            out.print(Syntax(plain(p.diff, one_line=False), "diff", theme="ansi_dark", background_color="default"))
    table = Table("device", "platform", "transport", "changes", "note")
    for p in plans:
        notes = [p.error] if p.error else []
        if p.unsupported:
            notes.append(f"{len(p.unsupported)} enforcement(s) not supported on this platform")
        if p.protected:
            notes.append(f"withheld, overlaps a protected prefix: {', '.join(map(str, p.protected))}")
        if not p.error:  # a refused slot is the plan's error already
            notes.extend(f"{s.slot}: {s.mode.value} with operator's {s.operator_object} (operator object changed)"
                         for s in p.slots if s.mode.value == "composed")
        notes += [f"enforcement {i} {why}" for i, why in p.withheld]
        if p.pending:
            notes.append("a commit-confirm is pending on the device: apply confirms or rolls it back")
        note = shown("; ".join(notes))
        table.add_row(p.device, p.platform.value, p.transport.value, p.summary(), note)
    out.print(table)
    total = [sum(getattr(p, k) for p in plans) for k in ("added", "changed", "removed")]
    out.print(f"Plan: {total[0]} to add, {total[1]} to change, {total[2]} to remove.")


@app.command()
def apply(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", "-d")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    revert_in: Annotated[int, typer.Option(help="Seconds after which an unconfirmed commit reverts")] = 60,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Push each device's diff, read it back, and report per device; failures stop no other device."""
    c = context(ctx)
    if dry_run or not yes:
        plans = guard(lambda: service.plan(c, device))
        if not as_json:
            _print_plans(plans)
        if dry_run:
            if as_json:
                emit_json([p.model_dump(mode="json", exclude={"desired", "live"}) for p in plans])
            return
        if not any(p.has_changes for p in plans):
            out.print("No changes.")
            return
        if not sys.stdin.isatty():
            fail("apply: confirmation needed and stdin is not a terminal; pass --yes", 2)
        typer.confirm("Apply these changes?", abort=True)
    import getpass

    who = getpass.getuser()
    total = 1 if device else len(c.inventory.devices)
    with terminal.apply_progress(out, total) as progress:
        results = guard(lambda: service.apply(c, device, revert_in=revert_in or None, actor=who, on_done=progress))
    if as_json:
        emit_json([r.model_dump(mode="json") for _, r in results if r is not None])
    else:
        out.print(terminal.result_table([r for _, r in results if r is not None], out.width))
    if any(r is not None and not r.ok for _, r in results):
        raise typer.Exit(1)


@app.command()
def reconcile(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", "-d")] = None,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Keep running: one pass every N seconds (Ctrl-C stops)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Expire what is due, then make every device equal its rendered section (once, or every --interval)."""
    c = context(ctx)
    if interval is not None:
        import logging

        from .reconcile import Reconciler

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        loop = Reconciler(c, interval=interval, on_report=lambda r: _print_report(r, as_json))
        try:
            loop.run()
        except KeyboardInterrupt:
            pass
        return
    report = guard(lambda: service.reconcile_once(c, device))
    _print_report(report, as_json)
    if any(not r.ok for r in report.results):
        raise typer.Exit(1)


def _print_report(report: service.ReconcileReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.model_dump(mode="json"))
        return
    out.print(f"expired decisions: {', '.join(map(str, report.expired)) or 'none'}")
    for r in report.results:
        if r.changed or not r.ok:
            out.print(f"{r.device}: {'ok' if r.ok else 'FAILED'} {plain(r.summary)} {plain(r.error or '')}",
                      markup=False, highlight=False)


@app.command()
def validate(
    ctx: typer.Context,
    live: Annotated[bool, typer.Option("--live", help="Also read each device: attachments must name "
                                                      "its real BGP peers and interfaces")] = False,
) -> None:
    """Check inventory, playbooks and templates; print every problem with file, path and reason."""
    from .validate import validate_all, validate_live

    problems = validate_all(ctx.obj)
    if live and not problems:
        found, notes = validate_live(context(ctx).inventory)
        problems += found
        for n in notes:
            err.print(plain(n), markup=False, highlight=False)
    for p in problems:
        err.print(plain(p), markup=False, highlight=False)
    if problems:
        raise typer.Exit(2)
    out.print("inventory, playbooks and templates are valid")
