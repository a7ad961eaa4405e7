"""``enforcer block --url``: the block posted to a running ``enforcer serve`` by a standard-library client.

Each case runs once through the console script (which answers a ``block --url`` call it reads whole with
:mod:`enforcer.cli_block`, before typer loads) and once through the typer command (``python -m enforcer.cli``),
against a real ``enforcer serve`` on loopback, and compares exit code, stdout and stderr. The fast path's
modules are checked as ``tests/test_cli_imports.py`` checks the hook's: no framework, no models, no store.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from enforcer.api.tokens import create_token
from enforcer.cli_block import parse_fast, parse_local
from enforcer.store import Store

from .api.conftest import write_inventory
from .helpers import free_port, serve_process
from .test_cli_imports import FRAMEWORK, STORE_AND_RENDER, imported, top_level

FAST = "from enforcer.cli_entry import main; import sys; sys.argv[0] = 'enforcer'; main()"
TYPER = "from enforcer.cli import main; import sys; sys.argv[0] = 'enforcer'; main()"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Store]]:
    root = tmp_path_factory.mktemp("block-url")
    db = f"sqlite:///{root / 'enforcer.db'}"
    options = ["--inventory", str(write_inventory(root)), "--db", db, "--output", str(root / "out")]
    with serve_process(options, ["--interval", "3600"], log=root / "serve.log") as url:
        store = Store(db)
        env = {**os.environ, "ENFORCER_TOKEN": create_token(store, "noc-alice", "operator"),
               "ENFORCER_DB": f"sqlite:///{root / 'other.db'}"}  # fmt: skip
        yield url, env, store
        store.engine.dispose()


#: A preview's expiry is "now + TTL" as the service judged it: the two runs are a second or so apart.
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?")


def _run(code: str, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)
    return r.returncode, TIME.sub("<time>", r.stdout), r.stderr


CASES = {
    "preview": (["198.51.100.7", "-v", "scanning", "--dry-run"], {}),
    "preview as JSON, options spelled with =": (["198.51.100.8", "--violation=scanning", "--ttl=2h", "--dry-run",
                                                 "--json", "--reason", "probe sweep"], {}),
    "a bad target": (["198.51.100.300", "-v", "scanning"], {}),
    "an unknown category": (["198.51.100.9", "-v", "jaywalking"], {}),
    "a protected host": (["198.51.100.201", "-v", "scanning"], {}),
    "too broad": (["10.0.0.0/8", "-v", "scanning"], {}),
    "no token": (["198.51.100.10", "-v", "scanning", "--token-env", "NOPE"], {}),
    "a bad token": (["198.51.100.10", "-v", "scanning"], {"ENFORCER_TOKEN": "enf_wrong"}),
    "--actor, which the token decides": (["198.51.100.10", "-v", "scanning", "--actor", "bob"], {}),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_block_url_answers_the_same_through_the_light_client_and_typer(served, case: str) -> None:
    url, env, _ = served
    args, extra = CASES[case]
    argv = ["block", *args, "--url", url]
    fast, slow = _run(FAST, argv, {**env, **extra}), _run(TYPER, argv, {**env, **extra})
    assert fast == slow
    assert fast[0] == (0 if case.startswith("preview") else 2), fast


def test_a_block_through_serve_is_stored_once_with_the_token_as_actor(served) -> None:
    url, env, store = served
    argv = ["block", "198.51.100.20", "-v", "scanning", "--reason", "noc ticket 41", "--url", url]
    code, out, err = _run(FAST, argv, env)
    assert code == 0, err
    assert out.startswith("decision ") and " created (ladder step 1)" in out.splitlines()[0]
    decision_id = int(out.split()[1])
    assert "acl 198.51.100.20/32" in out  # the enforcement the playbook made, printed
    again = _run(TYPER, argv, env)  # the same offence again, through the typer command: the decision in force
    assert again == (0, out.replace(" created ", " already recorded as "), "")
    record = store.get_decision(decision_id)
    assert (str(record.target), record.actor, record.source, record.reason) == ("198.51.100.20/32", "noc-alice",
                                                                                  "api", "noc ticket 41")  # fmt: skip


def test_an_unreachable_serve_exits_1_naming_the_endpoint(served) -> None:
    _, env, _ = served
    dead = f"http://127.0.0.1:{free_port()}"
    fast = _run(FAST, ["block", "198.51.100.21", "-v", "scanning", "--url", dead], env)
    assert fast == _run(TYPER, ["block", "198.51.100.21", "-v", "scanning", "--url", dead], env)
    assert fast[0] == 1 and f"{dead}/v1/decisions" in fast[2]


def test_block_url_starts_without_the_framework_the_models_or_the_store(served, tmp_path: Path) -> None:
    url, env, _ = served
    modules = top_level(imported(tmp_path, "block", "198.51.100.7", "-v", "scanning", "--dry-run", "--url", url,
                                 env={"ENFORCER_TOKEN": env["ENFORCER_TOKEN"]}))  # fmt: skip
    assert "enforcer.cli_block" in modules and "urllib.request" in modules  # it did post
    assert not modules & (FRAMEWORK | STORE_AND_RENDER)


def test_what_the_light_client_does_not_read_whole_goes_to_typer() -> None:
    for argv in (["block", "198.51.100.7", "-v", "scanning"],  # no --url: the local store
                 ["block", "198.51.100.7", "--url", "http://x"],  # no category: typer's usage error
                 ["block", "198.51.100.7", "-v", "scanning", "--url", "http://x", "--help"],
                 ["block", "198.51.100.7", "-v", "scanning", "--url", "http://x", "--asn", "AS65001"],
                 ["--db", "sqlite://", "block", "198.51.100.7", "-v", "scanning", "--url", "http://x"]):  # fmt: skip
        assert parse_fast(argv) is None, argv
    assert parse_fast(["block", "-v", "spam", "192.0.2.9", "--url", "http://x", "--asn", "65001", "--force"]) == {
        "token_env": "ENFORCER_TOKEN", "args": ["192.0.2.9"], "violation": "spam", "url": "http://x", "asn": 65001,
        "force": True}  # fmt: skip
    assert json.dumps(parse_fast(["block", "192.0.2.9", "-v", "spam", "--url", "http://x"]))  # plain data


#: The local block's cases: each is run on a store of its own through each path (a stored block creates once).
LOCAL_CASES = {
    "preview": ["198.51.100.7", "-v", "scanning", "--dry-run"],
    "stored, with a reason and an actor": ["198.51.100.7", "-v", "scanning", "--reason", "probe sweep", "--actor=bob"],
    "preview as JSON, options spelled with =": ["198.51.100.8", "--violation=scanning", "--ttl=2h", "--dry-run",
                                                "--json"],
    "a bad target": ["198.51.100.300", "-v", "scanning"],
    "an unknown category": ["198.51.100.9", "-v", "jaywalking"],
    "a bad duration": ["198.51.100.9", "-v", "scanning", "--ttl", "soon"],
    "a protected host": ["192.0.2.1", "-v", "scanning"],
    "too broad": ["10.0.0.0/8", "-v", "scanning"],
    "too broad, forced": ["198.51.0.0/16", "-v", "scanning", "--force", "--dry-run"],
    "spoofing without a customer": ["198.51.100.9", "-v", "spoofing"],
}  # fmt: skip


@pytest.mark.parametrize("case", LOCAL_CASES)
def test_a_local_block_answers_the_same_through_the_console_script_and_typer(case: str, tmp_path: Path) -> None:
    """Without ``--url`` the console script judges the block itself, before typer loads: the same
    exit code, lines and errors as the typer command, each on a store of its own."""
    runs = []
    for name, code in (("fast", FAST), ("typer", TYPER)):
        env = {**os.environ, "ENFORCER_DB": f"sqlite:///{tmp_path / name}.db", "ENFORCER_OUTPUT": str(tmp_path),
               "COLUMNS": "120"}  # fmt: skip
        for var in ("ENFORCER_INVENTORY", "ENFORCER_PLAYBOOKS"):
            env.pop(var, None)
        runs.append(_run(code, ["block", *LOCAL_CASES[case]], env))
    assert runs[0] == runs[1]
    assert runs[0][0] == (2 if case.startswith(("a ", "an ", "too broad", "spoofing")) and "forced" not in case
                          else 0), runs[0]  # fmt: skip


def test_a_local_block_a_bad_setting_or_store_is_one_line_through_either_path(tmp_path: Path) -> None:
    for extra in ({"ENFORCER_LEASE_TTL": "abc"}, {"ENFORCER_DB": "nosuchdriver://x"}):
        env = {**os.environ, "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}", **extra}
        fast = _run(FAST, ["block", "198.51.100.7", "-v", "scanning"], env)
        assert fast == _run(TYPER, ["block", "198.51.100.7", "-v", "scanning"], env)
        assert fast[0] == 2 and fast[2].startswith("error: ") and len(fast[2].splitlines()) == 1, fast


def test_a_local_block_starts_without_typer_or_click(tmp_path: Path) -> None:
    """Before, every local ``block`` imported typer and its vendored click and built the command tree."""
    for args in (["--dry-run"], [], ["--json", "--actor", "bob"]):
        modules = top_level(imported(tmp_path, "block", "198.51.100.7", "-v", "scanning", *args))
        assert {"enforcer.cli_block", "enforcer.decisions"} <= modules  # it did judge
        assert not modules & {"typer", "click", "enforcer.cli"}


def test_what_the_local_block_does_not_read_whole_goes_to_typer() -> None:
    for argv in (["block", "198.51.100.7"],  # no category: typer's usage error
                 ["block", "198.51.100.7", "-v", "scanning", "--url", "http://x"],  # parse_fast's
                 ["block", "198.51.100.7", "-v", "scanning", "--url", ""],  # typer: an empty URL is none
                 ["block", "198.51.100.7", "-v", "scanning", "--help"],
                 ["block", "198.51.100.7", "198.51.100.8", "-v", "scanning"],
                 ["block", "198.51.100.7", "-v", "scanning", "--asn", "AS65001"],
                 ["block", "198.51.100.7", "-vscanning"],
                 ["--db", "sqlite://", "block", "198.51.100.7", "-v", "scanning"]):  # fmt: skip
        assert parse_local(argv) is None, argv
    assert parse_local(["block", "-v", "spam", "192.0.2.9", "--asn", "65001", "--force", "--actor", "bob"]) == {
        "args": ["192.0.2.9"], "violation": "spam", "asn": 65001, "force": True, "actor": "bob"}  # fmt: skip
