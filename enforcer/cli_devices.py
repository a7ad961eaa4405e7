"""The commands that touch devices: render, plan, apply, reconcile, validate.

Same contract as :mod:`enforcer.cli`: parse, call one function of :mod:`enforcer.service`, format;
``plan --detailed-exitcode`` exits 0 (no changes), 2 (changes) or 1 (a device error).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from .cli import context, emit_json, err, fail, guard, out
from .terminal import plain, shown

if TYPE_CHECKING:  # imported by the commands that use them: see the start-up note in enforcer/cli.py
    from . import planfile, service

app = typer.Typer()


def register(main: typer.Typer) -> None:
    """Add these commands to the main ``enforcer`` app."""
    main.registered_commands.extend(app.registered_commands)




@app.command()
def render(ctx: typer.Context, device: Annotated[str, typer.Argument(help="Inventory device name")]) -> None:
    """Print the device's whole enforcer-managed section as rendered from the active set."""
    from . import service

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
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-out", help="Save the plan (the exact commands per device) for `enforcer apply FILE`"),
    ] = None,
) -> None:
    """Show, per device, the diff between the rendered section and the device's live state."""
    from . import planfile, service
    from .collector import one_command

    with one_command():  # the process ends with the plan: no collector walking the desired set it read
        c = context(ctx)
        if rederive and out_file is not None:
            fail("out: a --rederive plan reviews a playbook change and is not what apply sends; save one without it", 2)
        changes: list[Any] = []
        desired = None
        if rederive:  # only a --rederive plan reads the playbooks (their policy) and the decisions (the intake half)
            from .rederive import rederive as rederive_set

            desired, changes = guard(lambda: rederive_set(service.list_decisions(c), c.playbooks))
        if out_file is None and not as_json:
            _print_playbook_changes(changes)
            shown_in_order = _InOrder(guard(lambda: service.device_names(c, device)), _print_diff)
            plans = guard(lambda: service.plan(c, device, enforcements=desired, keep=shown_in_order))
            _print_summary(plans)
        elif out_file is None:
            plans = guard(lambda: service.plan(c, device, enforcements=desired))
        else:
            saved = guard(lambda: planfile.make(c, device))
            plans = saved.plans
            try:
                planfile.save(saved, out_file)
            except OSError as exc:
                fail(f"out: {out_file}: {exc.strerror or exc}", 2)
        if as_json:
            listed = [_plan_json(p) for p in plans]
            emit_json({"plans": listed, "playbook_changes": [ch.model_dump(mode="json") for ch in changes]}
                      if rederive else listed)  # fmt: skip
        elif out_file is not None:
            _print_playbook_changes(changes)
            _print_plans(plans)
            out.print(f"Saved the plan to {out_file}: `enforcer apply {out_file}` sends exactly these commands.")
        errors = any(p.error for p in plans)
        if errors:
            raise typer.Exit(1)
        if detailed_exitcode and any(p.has_changes for p in plans):
            raise typer.Exit(2)


def _plan_json(p: Any) -> dict[str, Any]:
    """A device's plan as ``--json`` gives it: the diff, the commands (``candidate``), the slot decisions."""
    return p.model_dump(mode="json", exclude={"desired", "live"})


def _print_playbook_changes(changes: list[Any]) -> None:
    for ch in changes:
        what = "; ".join(f"{field} {old} -> {new}" for field, (old, new) in ch.changes.items())
        out.print(f"playbook change: decision {ch.decision_id} {ch.target} {ch.violation.value}: {what}",
                  markup=False, highlight=False)  # fmt: skip


class _InOrder:
    """Called with each device's plan as the device is done (from the pass's workers): shows the
    plans in the pass's device order as soon as each one's turn comes, and keeps of each only what
    the summary needs (no sections, diff or candidate)."""

    def __init__(self, names: list[str], show: Any):
        self.names, self.show, self.turn = names, show, 0
        self.ready: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, p: Any) -> Any:
        with self.lock:
            self.ready[p.device] = p
            while self.turn < len(self.names) and self.names[self.turn] in self.ready:
                self.show(self.ready.pop(self.names[self.turn]))
                self.turn += 1
        return p.model_copy(update={"desired": "", "live": "", "diff": "", "candidate": "", "removed_lines": []})


def _print_diff(p: Any) -> None:
    if p.diff and out.is_terminal:
        from rich.syntax import Syntax  # Pygments: paid by the commands that print a diff, not by every one

        out.print(Syntax(plain(p.diff, one_line=False), "diff", theme="ansi_dark", background_color="default"))
    elif p.diff:  # a file or a pipe: the diff as it is (Rich's highlighting was 14 % of a big plan)
        out.file.write(plain(p.diff, one_line=False))


def _print_plans(plans: list[Any]) -> None:
    for p in plans:
        _print_diff(p)
    _print_summary(plans)


def _print_summary(plans: list[Any]) -> None:
    _print_slots(plans)
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


def _print_slots(plans: list[Any]) -> None:
    """Per device, how each attachment point is used (free, composed with the operator's object,
    refused) and why, as the composition engine decided it. Nothing when no plan has slots."""
    rows = [(p.device, s) for p in plans for s in p.slots]
    if not rows:
        return
    table = Table("device", "slot", "mode", "operator object", "reason", title="attachment points")
    for name, s in rows:
        table.add_row(shown(name), shown(s.slot), s.mode.value, shown(s.operator_object or ""), shown(s.reason))
    out.print(table)


def _print_candidates(plans: list[Any]) -> None:
    """The commands each device will receive, exactly as they will be sent."""
    from rich.syntax import Syntax

    for p in plans:
        if p.candidate:
            out.print(f"[bold]{shown(p.device)}[/bold]: commands to send")
            out.print(Syntax(plain(p.candidate, one_line=False), "text", theme="ansi_dark", background_color="default"))
        if p.after_commit:
            out.print(f"[bold]{shown(p.device)}[/bold]: then, once committed: {shown('; '.join(p.after_commit))}")


@app.command()
def apply(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None, typer.Argument(help="A plan saved by `enforcer plan -out FILE`: send exactly it, if still fresh")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", "-d")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    revert_in: Annotated[int, typer.Option(help="Seconds after which an unconfirmed commit reverts")] = 60,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", metavar="SECONDS", min=0, max=3600,
        help="While another pusher holds a device, wait up to SECONDS for it (0: report the device busy)")] = 0.0,
) -> None:
    """Push each device's plan, read it back, and report per device; failures stop no other device.

    With FILE, push the saved plan as it was shown, or refuse it if the store or a device changed
    since. Without, plan now, show the commands, and on yes push those same commands. A device
    another pusher holds is reported busy ("device busy: pushed by X since T"), or with --wait
    waited for; its commit is never cancelled.
    """
    logins = _early_logins(ctx.obj, device, wait) if plan_file is None and yes and not dry_run else None
    c = context(ctx)  # the store (SQLAlchemy's import: ~0.9 s loaded) while the devices' logins run
    if logins is not None:
        logins.fallback = c.driver
    import getpass

    from . import planfile, service  # while the devices' logins run (apply -y)

    who = getpass.getuser()
    if plan_file is not None:
        if device is not None:
            fail("device: a saved plan already names its devices; make a plan for one device with plan -d", 2)
        saved = guard(lambda: planfile.load(plan_file))
        if dry_run:
            _show(saved.plans, as_json)
            return
        results = _apply_saved(c, saved, revert_in, who, wait)
    elif yes and not dry_run:
        from .console import terminal

        total = 1 if device else len(c.inventory.devices)
        try:
            with terminal.apply_progress(out, total) as progress:
                results = guard(lambda: service.apply(c, device, revert_in=revert_in or None, actor=who,
                                                      on_done=progress, wait=wait, session=logins and logins.use))
        finally:
            if logins is not None:
                logins.close()
    else:
        saved = guard(lambda: planfile.make(c, device))
        _show(saved.plans, as_json)
        if dry_run:
            return
        if not any(p.has_changes for p in saved.plans):
            out.print("No changes.")
            return
        if not _interactive():
            fail("apply: confirmation needed and stdin is not a terminal; pass --yes", 2)
        typer.confirm("Send these commands?", abort=True)
        results = _apply_saved(c, saved, revert_in, who, wait)
    print_results([r for _, r in results if r is not None], as_json)
    if any(r is not None and not r.ok for _, r in results):
        raise typer.Exit(1)


def _early_logins(settings: Any, device: str | None, wait: float) -> Any:
    """``apply -y``: log into the devices (those reached over a network) while the store is opened,
    the push half of enforcer imported and the store read (:class:`enforcer.sessions.EarlyLogins`);
    only reads (the config, whether a commit is pending) before the lease, nothing sent. Only the
    inventory is loaded for it, not the store. A device name the inventory does not know gets
    none: the apply reports it as before."""
    from .inventory import Transport, load_inventory
    from .sessions import EarlyLogins

    try:
        inventory = load_inventory(settings.inventory)
        devices = [inventory.device(device)] if device else list(inventory.devices.values())
    except Exception:  # noqa: BLE001 - a bad inventory or an unknown name is the apply's error to report
        return None
    networked = [d for d in devices if d.effective_transport is not Transport.OFFLINE]
    return EarlyLogins(networked, _network_driver, read_ahead=not wait)


def _network_driver(device: Any) -> Any:
    from .drivers import get_driver

    return get_driver(device)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _show(plans: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([_plan_json(p) for p in plans])
        return
    _print_plans(plans)
    _print_candidates(plans)


def _apply_saved(c: service.Context, saved: planfile.SavedPlan, revert_in: int, who: str, wait: float) -> list:
    """Push a saved (or just shown) plan; a stale one is refused with one line and exit 1."""
    from . import planfile
    from .console import terminal

    def run() -> list:
        with terminal.apply_progress(out, len(saved.to_push)) as progress:  # as apply --yes shows it
            try:
                return planfile.apply(c, saved, revert_in=revert_in or None, actor=who, on_done=progress,
                                      wait=wait)
            except planfile.StalePlan as exc:
                fail(str(exc), 1)

    return guard(run)


def print_results(results: list[Any], as_json: bool) -> None:
    """The per-device outcome of an apply: one place to format it (JSON, or a table fit to the terminal)."""
    if as_json:
        emit_json([r.model_dump(mode="json") for r in results])
        return
    from .console import terminal

    out.print(terminal.result_table(results, out.width))


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
    from . import service

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
