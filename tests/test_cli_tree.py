"""The command tree built on demand (``enforcer.cli._OneLineErrors``) is the tree an eager registration built.

``enforcer block`` no longer converts (or imports) the command modules' commands; ``--help``, an unknown
name and every command of those modules still see all of them, in the same order, with the same
parameters and help.
"""

from __future__ import annotations

import re

import typer
import typer.main
from typer.testing import CliRunner

from enforcer import cli

from .conftest import EXAMPLE_INVENTORY


class _EagerGroup(cli._OneLineErrors):
    """The group as it was: one-line usage errors, every command there from the start (nothing to load)."""

    _more_loaded = True


def _eager() -> typer.Typer:
    """What ``enforcer.cli`` built before: every command registered on the app before the first call."""
    app = typer.Typer(cls=_EagerGroup, name="enforcer", help=cli.app.info.help, no_args_is_help=True,
                      add_completion=False, pretty_exceptions_enable=False)
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


def _no_clock(text: str) -> str:
    """The two runs are seconds apart: their timestamps (created, expires) are the one thing that may differ."""
    return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)?", "<time>", text)


def test_decision_commands_answer_as_the_eager_tree_did(tmp_path, monkeypatch):
    """``block`` and its neighbours run the same code whichever tree holds them: same exit code, stdout and
    stderr for a preview, a stored block, its repeat, bad input, a usage mistake and an unknown option."""
    for var in ("ENFORCER_INVENTORY", "ENFORCER_PLAYBOOKS", "ENFORCER_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ENFORCER_INVENTORY", str(EXAMPLE_INVENTORY))
    monkeypatch.setenv("COLUMNS", "200")
    calls = (
        ["block", "198.51.100.7", "-v", "scanning", "--dry-run"],
        ["block", "198.51.100.7", "-v", "scanning", "--ttl", "2h", "--actor", "noc", "--reason", "ticket 1"],
        ["block", "198.51.100.7", "-v", "scanning", "--actor", "noc"],
        ["block", "198.51.100.0/33", "-v", "scanning"],
        ["block", "198.51.100.8", "-v", "no-such-violation"],
        ["block", "198.51.100.8"],
        ["block", "198.51.100.8", "-v", "scanning", "--bogus"],
        ["unblock", "198.51.100.99"],
        ["list", "--json"],
    )
    answers = {}
    for name, app in (("on demand", cli.app), ("eager", _eager())):
        monkeypatch.setenv("ENFORCER_DB", f"sqlite:///{tmp_path / name.replace(' ', '-')}.db")
        runner = CliRunner()
        answers[name] = [(r.exit_code, _no_clock(r.stdout), r.stderr) for r in (runner.invoke(app, c) for c in calls)]
    assert answers["on demand"] == answers["eager"]
    assert [code for code, _, _ in answers["eager"]] == [0, 0, 0, 2, 2, 2, 2, 2, 0]
