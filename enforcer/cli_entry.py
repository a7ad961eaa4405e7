"""The ``enforcer`` console script: one call is answered before the command-line framework loads.

``enforcer hook fastnetmon --url`` runs once per FastNetMon ban; typer, Rich and pydantic alone
took longer to import than the whole call may (issue 12.5: under 300 ms), and so does
``enforcer block --url`` (:mod:`enforcer.cli_block`). So a call that
:func:`enforcer.cli_hook.parse_fast` or :func:`enforcer.cli_block.parse_fast` reads whole is run by
the standard-library client, and a local ``enforcer block`` that :func:`enforcer.cli_block.parse_local`
reads whole by :func:`enforcer.cli_block.run_local` without typer; every
other call, and every call it does not fully understand, goes to :func:`enforcer.cli.main`
unchanged, with typer's own usage errors and exit codes.
"""

from __future__ import annotations

import sys


def main() -> None:
    from .cli_hook import parse_fast, run_fast

    options = parse_fast(sys.argv[1:])
    if options is not None:
        sys.exit(run_fast(options))
    from . import cli_block

    options = cli_block.parse_fast(sys.argv[1:])
    if options is not None:
        sys.exit(cli_block.run(options))
    options = cli_block.parse_local(sys.argv[1:])
    if options is not None:
        sys.exit(cli_block.run_local_edge(options))
    from .cli import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
