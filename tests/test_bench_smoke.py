"""A tiny run of each benchmark under bench/, so the scripts keep working (issue 12.7).

The figures are printed by the scripts and recorded in docs/benchmarks.md; they are never
asserted here (a loaded 2-core machine makes any bound a coin toss). What is asserted is that
each script runs end to end and prints every row with its ratio to the same-run baseline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_cli_startup_prints_every_command_against_the_interpreter_floor() -> None:
    run = subprocess.run(
        ["bash", str(BENCH / "cli_startup.sh"), "--runs", "1", "--warmup", "0"],
        capture_output=True, text=True, timeout=600, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = {line.split("  ")[0].strip(): line for line in run.stdout.splitlines()[1:]}
    assert set(rows) == {"python -c pass", "import sqlalchemy", "import block's libraries", "import enforcer.service", "enforcer --help", "enforcer block --dry-run", "enforcer block",
                         "enforcer hook fastnetmon --url", "enforcer block --url"}  # fmt: skip
    assert all(line.rstrip().endswith("x") for line in rows.values())


def test_prefix_index_prints_both_sides_and_the_ratio() -> None:
    run = subprocess.run([sys.executable, str(BENCH / "prefix_index.py"), "--protected", "5", "--targets", "50"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [line.split()[0] for line in run.stdout.splitlines()] == ["5", "scan", "PrefixSet", "ratio"]


def test_ingest_prints_each_mode_and_client_count_against_in_process_submit() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "ingest.py"), "--decisions", "12", "--batch", "4", "--concurrency", "1,2",
         "--baseline", "5", "--pg", ""],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()[1:]]
    assert [r[:3] if r[1] != "batch" else [r[0], "batch", r[3]] for r in rows] == [
        ["sqlite", "in-process", "1"], ["sqlite", "single", "1"], ["sqlite", "single", "2"],
        ["sqlite", "batch", "1"], ["sqlite", "batch", "2"]]
    assert all(r[-1].endswith("x") for r in rows)


def test_ingest_bulk_prints_submit_many_against_in_process_submit() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "ingest.py"), "--bulk", "30", "--modes", "none", "--baseline", "5", "--pg", ""],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()[1:]]
    assert [r[:3] for r in rows] == [["sqlite", "in-process", "1"], ["sqlite", "bulk", "30"]]
    assert "us/decision)" in rows[1][-1]


def test_render_acl_prints_enforcer_against_aerleon() -> None:
    """Without the seven CLI processes (``--no-cli``): they would be most of this test's time."""
    run = subprocess.run([sys.executable, str(BENCH / "render_acl.py"), "--entries", "20", "--no-cli"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["enforcer api", "aerleon aclgen"]
    assert all(r.rstrip().endswith("x") for r in rows)


def test_plan_scale_prints_the_store_and_the_plan_with_its_peak_rss() -> None:
    run = subprocess.run([sys.executable, str(BENCH / "plan_scale.py"), "--enforcements", "60", "--devices", "14",
                          "--per-enforcement", "2"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("60 enforcements, 14 devices (8 per device)")
    assert [line.split("  ")[0] for line in lines[1:]] == ["store (bulk insert)", "enforcer plan"]
    assert "MB peak RSS" in lines[2]


def test_space_query_prints_both_sides_at_each_size() -> None:
    """The PostgreSQL-only read of the blackhole-space check (migration 0008), on this worker's database."""
    import os

    run = subprocess.run(
        [sys.executable, str(BENCH / "space_query.py"), "--pg", os.environ["ENFORCER_TEST_PG"], "--decisions", "50"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    assert [r.split()[0] for r in rows] == ["0", "0", "50", "50"], run.stdout
    assert all("Execution Time" in r for r in rows) and "with ix_decisions_space" in rows[3]


def test_space_query_on_sqlite_prints_the_read_now_and_before_0009() -> None:
    run = subprocess.run([sys.executable, str(BENCH / "space_query.py"), "--sqlite", "--decisions", "50"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    assert [r.split()[0] for r in rows] == ["0", "0", "50", "50"], run.stdout
    assert "USING INDEX ix_decisions_space" in rows[2] and "USING INDEX ix_decisions_recent" in rows[3]
