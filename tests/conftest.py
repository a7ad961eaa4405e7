"""Shared fixtures: a fresh store and CLI runner per test, pointed at the bundled example inventory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_INVENTORY = REPO / "inventory" / "example"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'enforcer.db'}"


@pytest.fixture
def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):
    """Run ``enforcer`` in-process against a temporary store; returns (exit_code, stdout, stderr)."""
    from enforcer.cli import app

    for var in ("ENFORCER_INVENTORY", "ENFORCER_DB", "ENFORCER_PLAYBOOKS", "ENFORCER_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ENFORCER_DB", db_url)
    monkeypatch.setenv("ENFORCER_INVENTORY", str(EXAMPLE_INVENTORY))
    monkeypatch.setenv("ENFORCER_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), input=input, env={"COLUMNS": "200", **os.environ})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run
