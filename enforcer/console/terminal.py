"""What the CLI prints for a person at a terminal: tables that fit 80 columns, apply's progress, ``watch``.

A NOC terminal is often a split pane of 80 columns. Rich wraps every cell of a wide table onto
several lines, which makes a history unreadable, so each table here chooses its columns and says
how each may shrink: identifiers (targets, ids) fold and are never cut, because a truncated
address is a wrong address; free text (reasons, errors) is cut with an ellipsis, because the whole
of it is one ``--json`` away. Colour, progress bars and live refresh appear only on a terminal
(Rich detects it); piped output is the same tables in plain text, or JSON lines with ``--json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..model import Status, now
from ..terminal import plain

if TYPE_CHECKING:  # annotations only: the CLI's start-up must not load the store or the planner
    from ..plan import DevicePlan
    from ..push import PushResult
    from ..tables import AuditEntry, DecisionRecord


def cell(value: object) -> Text:
    """Untrusted text (a detector's reason, an actor name) as a one-line cell: never markup (a
    ``Text``, not a string Rich parses), and every control character shown as an escape
    (:func:`enforcer.terminal.plain`) instead of moving the cursor or clearing the NOC's screen."""
    return Text(plain("" if value is None else value))


def plain_table(*columns: str) -> Table:
    """Light borders: the lines Rich draws between columns cost width an 80-column pane lacks."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    return table


def fit(table: Table, width: int, shrink: Sequence[str], fold: dict[str, int] | None = None) -> Table:
    """Make ``table`` fit ``width`` columns by saying which columns give way: ``shrink`` ones are
    cut with an ellipsis (to a fair share of the room left, what a narrow one leaves going to the rest),
    ``fold`` ones (name → width) break onto a second line past that width, and every other column
    keeps its full width. Rich left to itself would cut every column alike (``12-…`` for a date)."""
    fold = fold or {}
    natural = {col.header: max([len(str(col.header)), *(len(c) for c in col.cells)]) for col in table.columns}
    if sum(natural.values()) + 3 * len(table.columns) <= width:
        return table
    fixed = sum(min(n, fold[h]) if h in fold else n for h, n in natural.items() if h not in shrink)
    room = width - fixed - 3 * len(table.columns)  # padding and gap around each column
    flexible = sorted((c for c in table.columns if c.header in shrink), key=lambda c: natural[c.header])
    for i, col in enumerate(flexible):  # narrowest first: what one leaves over goes to the next
        col.max_width = max(5, min(natural[col.header], room // (len(flexible) - i)))
        room -= col.max_width
    for col in table.columns:
        if col.header in fold:
            col.no_wrap, col.overflow = False, "fold"
            col.min_width = col.max_width = min(natural[col.header], fold[col.header])
    return table


def when(dt: datetime | None) -> str:
    """Timestamps as the NOC reads them in a narrow pane: UTC, to the minute, year left out."""
    return dt.strftime("%m-%d %H:%M") if dt else "never"


def remaining(expires_at: datetime | None, at: datetime | None = None) -> str:
    """Time left as ``1h59m`` / ``3d4h`` / ``due``: what a countdown shows, in at most six characters."""
    if expires_at is None:
        return "never"
    left = expires_at - (at or now())
    if left <= timedelta(0):
        return "due"
    minutes = int(left.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    return f"{hours}h{mins:02d}m" if hours else f"{mins}m"


def decisions_table(
    records: Sequence[DecisionRecord], width: int = 80, counters: dict[int, str] | None = None
) -> Table:
    """``enforcer list``: one line per decision; ``counters`` maps decision id → what it dropped."""
    columns = ["id", "target", "violation", "status", "actions", "left", "by"]
    if counters is not None:
        columns.append("dropped")
    table = plain_table(*columns)
    at = now()
    for r in records:
        row = [
            cell(r.id),
            cell(r.target),
            cell(r.violation.value),
            cell(r.status.value),
            cell(",".join(e.action.value for e in r.enforcements)),
            cell(remaining(r.expires_at, at) if r.status in (Status.ACTIVE, Status.PENDING) else "-"),
            cell(f"{r.actor}/{r.source}"),
        ]
        if counters is not None:
            row.append(cell(counters.get(r.id, "-")))
        table.add_row(*row)
    return fit(table, width, shrink=("by",), fold={"target": 18, "actions": 10})


def history_table(entries: Sequence[AuditEntry], width: int = 80) -> Table:
    """``enforcer history``: who did what, when, to what; the reason gets whatever width is left."""
    table = plain_table("id", "at (UTC)", "action", "target", "dec", "by", "reason")
    for e in entries:
        table.add_row(
            cell(e.id),
            cell(when(e.at)),
            cell(e.action),
            cell(e.target or ""),
            cell(e.decision_id or ""),
            cell(f"{e.actor}/{e.source}"),
            cell(e.reason or _detail(e)),
        )
    return fit(table, width, shrink=("by", "reason"), fold={"target": 18})


def _detail(e: AuditEntry) -> str:
    """An entry without a reason (an apply) still says something: its summary or its error."""
    return " ".join(str(e.detail[k]) for k in ("summary", "error") if e.detail.get(k))


def result_table(results: Sequence[PushResult], width: int = 80) -> Table:
    """``enforcer apply``'s last word: one line per device, failures in red with the reason."""
    table = plain_table("device", "result", "changes", "secs", "error")
    for r in results:
        if not r.ok:
            status = Text("failed" + (" (rolled back)" if r.rolled_back else ""), style="red")
        else:
            status = Text("applied", style="green") if r.changed else Text("unchanged")
        notes = [r.error or "", r.settled or ""] + [f"enforcement {i} {why}" for i, why in r.withheld]
        table.add_row(cell(r.device), status, cell(r.summary), cell(f"{r.seconds:.2f}"),
                      cell("; ".join(n for n in notes if n)))
    return fit(table, width, shrink=("error",), fold={"device": 20})


@contextmanager
def apply_progress(console: Console, total: int) -> Iterator[Callable[[DevicePlan, PushResult | None], None]]:
    """A progress bar over the devices being applied, on a terminal only; yields the callback
    :func:`enforcer.service.apply` calls as each device finishes (from its worker threads)."""
    if not console.is_terminal or total <= 1:
        yield lambda _plan, _result: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("devices"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("apply", total=total, last="")

        def done(plan: DevicePlan, result: PushResult | None) -> None:
            mark = "" if result is None or result.ok else " FAILED"
            progress.update(task, advance=1, last=f"{plan.device}{mark}")

        yield done


# ------------------------------------------------------------------ watch


def event_line(e: AuditEntry) -> str:
    """One audit entry as one plain line, for ``watch`` piped into a log or ``grep``."""
    parts = [e.at.strftime("%Y-%m-%dT%H:%M:%SZ"), e.action, e.target or "-", f"decision={e.decision_id or '-'}"]
    parts += [f"by={e.actor}/{e.source}"]
    text = e.reason or _detail(e)
    if text:
        parts.append(f"reason={text}")
    return str(cell(" ".join(parts)))


def watch(
    read_events: Callable[[int], list[AuditEntry]],
    read_active: Callable[[], list[DecisionRecord]],
    console: Console,
    *,
    interval: float,
    as_json: bool = False,
    counters: Callable[[], dict[int, str] | None] = lambda: None,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Follow the audit log (new decisions, approvals, expiries, pushes) every ``interval`` seconds.

    On a terminal: a live screen of the active decisions (with their counters) over the latest
    events. Otherwise, like ``tail -f``, the latest ten events and then one line per new event
    (``--json``: one JSON object per line), flushed as it happens, so
    ``enforcer watch | grep apply-failed`` works. ``read_events(after_id)`` returns the entries
    newer than ``after_id``; ``-1`` asks for the recent ones to start from.
    """
    recent = read_events(-1)
    last = recent[-1].id if recent else 0
    if not console.is_terminal or as_json:
        batch = recent  # like ``tail -f``: the latest few first, then each new one as it happens
        while keep_going():
            for e in batch:
                line = json.dumps(e.model_dump(mode="json")) if as_json else event_line(e)
                console.file.write(line + "\n")
            console.file.flush()
            time.sleep(interval)
            batch = read_events(last)
            last = batch[-1].id if batch else last
        return
    tail = list(recent[-10:])

    def screen() -> Group:
        events = history_table(tail, console.width)
        events.title = "latest events"
        active = decisions_table(read_active(), console.width, counters())
        active.title = f"active decisions — {now():%H:%M:%S}Z, every {interval:g}s, Ctrl-C stops"
        return Group(active, events)

    with Live(screen(), console=console, auto_refresh=False) as live:
        while keep_going():
            time.sleep(interval)
            new = read_events(last)
            if new:
                last = new[-1].id
                tail = (tail + new)[-10:]
            live.update(screen(), refresh=True)

