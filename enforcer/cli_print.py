"""The command line's two Rich consoles and the printers the ``block`` command shares.

Apart from :mod:`enforcer.cli` (typer) so that the light ``enforcer block`` on the local store
(:func:`enforcer.cli_block.run_local`, run by the console script before typer loads, issue 12.5)
prints with the very consoles, error line and table the typer commands print with.
"""

from __future__ import annotations

import json
import os
from typing import Any

from rich.console import Console

from .terminal import plain

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def say_error(message: str) -> None:
    """The one line every refused or invalid input ends with (the caller picks the exit code)."""
    err.print(f"error: {plain(message)}", markup=False, highlight=False)


def follow_columns() -> None:
    """Rich reads ``COLUMNS`` once, when the console is made (at import). A process that runs
    several commands (an embedding script, the test runner) gets each command's own width."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        out.width = err.width = int(columns)


def emit_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def enforcement_table(enforcements: list[Any]) -> None:
    from rich.table import Table

    table = Table("enforcement", "action", "target", "params", "roles", "expires")
    for e in enforcements:
        params = {k: v for k, v in e.params.model_dump(mode="json", exclude_defaults=True).items()}
        table.add_row(
            str(e.id or "-"),
            e.action.value,
            str(e.target),
            json.dumps(params) if params else "",
            ",".join(sorted(e.roles)),
            e.expires_at.strftime("%Y-%m-%d %H:%M:%SZ") if e.expires_at else "never",
        )
    out.print(table)
