"""Shared fixtures: a fresh store and CLI runner per test, pointed at the bundled example inventory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_INVENTORY = REPO / "inventory" / "example"


def pytest_configure(config: pytest.Config) -> None:
    """Give each pytest-xdist worker its own PostgreSQL database.

    The PostgreSQL tests reset the schema of the database they are given; two workers sharing one
    would reset each other's tables mid-test. ``scripts/test.sh`` runs the unit part with xdist.
    """
    worker, url = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("ENFORCER_TEST_PG")
    if not (worker and url):
        return
    import sqlalchemy

    name = f"enforcer_test_{worker}"
    server = sqlalchemy.engine.make_url(url)
    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    os.environ["ENFORCER_TEST_PG"] = server.set(database=name).render_as_string(hide_password=False)


#: Files that run for minutes, longest first in each phase (``--durations=0``). ``scripts/test.sh`` runs
#: each phase on xdist workers, one file per worker at a time, in collection order
#: (``--no-loadscope-reorder``): started first, the long files run beside each other and the short ones
#: fill in behind them, instead of a long one starting last and running alone while the other worker
#: idles (the 10,000-example fuzz, one test, was scheduled last by xdist's default tests-per-file order).
LONGEST_FIRST = (
    # the unit phase
    "tests/test_injection_properties.py",
    "tests/test_terminal_tty.py",
    "tests/api/test_two_instances.py",
    "tests/test_bench_smoke.py",
    "tests/packaging/test_wheel.py",
    "tests/test_console_browser.py",
    "tests/api/test_cli.py",
    "tests/api/test_schemathesis.py",
    # the lab phase
    "tests/lab/test_crash_kills.py",
    "tests/lab/test_coexist.py",
    "tests/lab/test_fastnetmon_live.py",
    "tests/lab/test_device_safety.py",
    "tests/lab/test_two_instances_lab.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the files of :data:`LONGEST_FIRST` to the front, in that order; the rest keep theirs."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


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
