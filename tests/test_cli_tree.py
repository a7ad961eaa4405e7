"""The command tree built on demand (``enforcer.cli._OneLineErrors``) is the tree an eager registration built.

``enforcer block`` no longer converts (or imports) the command modules' commands; ``--help``, an unknown
name and every command of those modules still see all of them, in the same order, with the same
parameters and help.
"""

from __future__ import annotations

import typer
import typer.main
from typer.testing import CliRunner

from enforcer import cli


def _eager() -> typer.Typer:
    """What ``enforcer.cli`` built before: every command registered on the app before the first call."""
    app = typer.Typer(name="enforcer", help=cli.app.info.help, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False)
    app.registered_callback = cli.app.registered_callback
    app.registered_commands.extend(cli.app.registered_commands)
    cli._register_subpackages(app)
    return app


def test_the_tree_built_on_demand_lists_every_command_in_the_eager_order_with_the_same_help():
    eager = _eager()
    lazy_group, eager_group = typer.main.get_group(cli.app), typer.main.get_group(eager)
    names = lazy_group.list_commands(typer.Context(lazy_group))
    assert names == eager_group.list_commands(typer.Context(eager_group))
    assert {"block", "plan", "apply", "serve", "lab", "controller", "hook", "token", "notices"} <= set(names)
    runner = CliRunner()
    for args in (["--help"], *([name, "--help"] for name in names), ["hook", "fastnetmon", "--help"]):
        lazy, before = runner.invoke(cli.app, args), runner.invoke(eager, args)
        assert (lazy.exit_code, lazy.stdout) == (before.exit_code, before.stdout), args


def test_a_decision_command_builds_only_this_module_s_commands():
    """Before, the group held all 22 top-level commands (37 with the sub-apps') from its first call."""
    lazy = typer.main.get_group(cli.app)
    assert lazy.get_command(typer.Context(lazy), "block") is not None
    assert set(lazy.commands) == {"block", "unblock", "approve", "reject", "list", "history", "watch", "catalog"}


def test_a_command_of_a_command_module_and_an_unknown_name_still_answer_as_before():
    runner = CliRunner()
    lab = runner.invoke(cli.app, ["lab", "--help"])
    assert lab.exit_code == 0 and "network-namespace lab" in lab.stdout
    unknown = runner.invoke(cli.app, ["nosuch"])
    assert unknown.exit_code == 2 and "error: usage: No such command 'nosuch'." in unknown.stderr
