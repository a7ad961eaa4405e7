"""Which modules a command imports: the start-up budget of issue 12.5, asserted without a clock.

``enforcer hook fastnetmon --url`` runs once per FastNetMon ban and ``enforcer block`` during an
attack, so neither may import the server (FastAPI, uvicorn), the device drivers (NAPALM, netmiko,
paramiko), the OpenFlow controller (os-ken, eventlet) or, for the hook, the store and render stack;
``block`` imports the store and the policy but not Alembic or the service's plan/push half.
Each command runs in a fresh interpreter; its ``sys.modules`` at exit is what it paid for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from enforcer.store import Store

#: The console script's target, as the checkout declares it (``[project.scripts]``): what a NOC box runs.
ENTRY = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["scripts"]["enforcer"]
#: Run the real ``enforcer`` entry point, then write the names in ``sys.modules`` as it exits.
PROBE = f"""
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["enforcer", *sys.argv[2:]]
from {ENTRY.partition(":")[0]} import {ENTRY.partition(":")[2]} as main
main()
"""

SERVER_STACK = {"fastapi", "starlette", "uvicorn"}
DEVICE_STACK = {"napalm", "netmiko", "paramiko", "os_ken", "eventlet", "nornir"}
#: Not Jinja or ``enforcer.render`` themselves: loading the inventory checks anti-spoof settings against the
#: platforms' facts (``inventory._anti_spoof_problems`` reads ``render.platform_info``).
RENDER_AND_PUSH = {"alembic", "enforcer.service", "enforcer.plan", "enforcer.push", "enforcer.drivers",
                   "enforcer.lease"}
STORE_AND_RENDER = {"sqlalchemy", "alembic", "jinja2", "enforcer.service", "enforcer.store", "enforcer.render"}
#: The command-line framework and the typed models: FastNetMon's notify call to serve needs none of them.
FRAMEWORK = {"typer", "click", "rich", "pydantic", "pydantic_core", "yaml", "email_validator", "enforcer.cli",
             "enforcer.model", "enforcer.hooks", "enforcer.settings"}
#: The command modules, whose commands ``enforcer.cli`` adds when a call names one of them or lists them all.
COMMAND_MODULES = {"enforcer.cli_devices", "enforcer.lab", "enforcer.api", "enforcer.controller", "enforcer.console"}
#: What only the device commands print with: diffs (Rich's Syntax, Pygments) and the apply progress and results.
DEVICE_OUTPUT = {"pygments", "rich.syntax", "rich.live", "rich.progress", "enforcer.console.terminal"}


def imported(tmp_path: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> set[str]:
    out = tmp_path / "modules.json"
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}", **(env or {})},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return set(json.loads(out.read_text()))


def top_level(modules: set[str]) -> set[str]:
    return modules | {m.split(".")[0] for m in modules}


class _Serve(BaseHTTPRequestHandler):
    """``enforcer serve``'s answer to a hook call that changed nothing: no results."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"results": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_hook_fastnetmon_url_imports_neither_server_devices_nor_store(tmp_path: Path, serve_url: str) -> None:
    modules = top_level(imported(
        tmp_path, "hook", "fastnetmon", "--url", serve_url, "198.51.100.7", "incoming", "250000", "ban",
        env={"ENFORCER_TOKEN": "t"},
    ))  # fmt: skip
    assert "enforcer.cli_hook" in modules  # the probe ran the command through to the answer
    assert not modules & (SERVER_STACK | DEVICE_STACK | STORE_AND_RENDER | DEVICE_OUTPUT | {"httpx"})


def test_hook_fastnetmon_url_starts_without_the_framework_or_the_models(tmp_path: Path, serve_url: str) -> None:
    """The notify call posted to serve is read, sent and printed with the standard library: before, the
    console script loaded typer, Rich, pydantic and the settings first (most of its start-up)."""
    for options in ([], ["--token-env", "FNM", "--no-apply", "--on-unban", "keep", "--ttl=90s"]):
        modules = top_level(imported(
            tmp_path, "hook", "fastnetmon", "--url", serve_url, *options, "198.51.100.7", "incoming", "250000", "ban",
            env={"ENFORCER_TOKEN": "t", "FNM": "t"},
        ))  # fmt: skip
        assert "enforcer.cli_hook" in modules and "urllib.request" in modules  # it did post
        assert not modules & FRAMEWORK


def test_a_hook_call_the_light_client_does_not_read_whole_goes_to_typer(tmp_path: Path, serve_url: str) -> None:
    """``--json`` prints the results' models, a global option needs the settings: the typer command runs them."""
    for args in (["hook", "fastnetmon", "--url", serve_url, "--json"], ["--db", "sqlite://", "hook", "fastnetmon",
                                                                         "--url", serve_url]):
        modules = imported(tmp_path, *args, "198.51.100.7", "incoming", "250000", "ban", env={"ENFORCER_TOKEN": "t"})
        assert {"typer", "enforcer.cli", "enforcer.hooks.results"} <= top_level(modules)


def test_block_imports_neither_server_nor_devices_nor_the_render_push_half(tmp_path: Path) -> None:
    """On a store that exists (at the current schema), ``block`` decides with the store and policy only:
    no Alembic (nothing to migrate), no service, plan, push or drivers (it pushes nothing)."""
    Store(f"sqlite:///{tmp_path / 'e.db'}").engine.dispose()  # made by an earlier run, as on a NOC box
    for args in (["--dry-run"], []):
        modules = top_level(imported(tmp_path, "block", "198.51.100.7", "-v", "scanning", *args))
        assert {"enforcer.decisions", "sqlalchemy"} <= modules  # it did decide, and store
        assert not modules & (SERVER_STACK | DEVICE_STACK | RENDER_AND_PUSH | DEVICE_OUTPUT | {"httpx"})
        # the example inventory's devices all filter spoofing with an ACL, which every platform has: the
        # load reads no platform facts (before: all eight platform.yaml files, and the config-tree model)
        assert not modules & {"enforcer.platforms", "enforcer.conftree"}
        assert not modules & {"urllib.request", "http.client"}  # the console script's look at the argv is free
        assert not modules & COMMAND_MODULES  # before: all five, and typer's conversion of their 29 commands
        assert "email_validator" not in modules  # the example inventory names no address (before: at import)
        assert "enforcer.section" not in modules  # the policy needs TRAFFIC_ACTIONS, none of the section's models
        assert "sqlalchemy.dialects.postgresql" not in modules  # a SQLite store (before: the live-key index's option)


#: What only a command that decides needs: the intake half and what it writes and reads with.
INTAKE_STACK = {"enforcer.decisions", "enforcer.batch", "enforcer.groupcommit", "enforcer.policy", "enforcer.rederive"}


def test_render_plan_and_apply_import_no_intake_stack(tmp_path: Path) -> None:
    """``render``, ``plan`` and ``apply`` read the store and push: before, ``enforcer.service`` imported the
    intake half (decisions, batch, group commit, the playbooks' policy) at its top for every one of them."""
    env = {"ENFORCER_OUTPUT": str(tmp_path / "out")}  # the example inventory's devices are offline: files
    for args in (["render", "ios-edge1"], ["plan"], ["apply"]):
        modules = imported(tmp_path, *args, env=env)
        assert {"enforcer.service", "enforcer.context", "enforcer.store"} <= modules, args  # it did run the pass
        assert not modules & INTAKE_STACK, (args, modules & INTAKE_STACK)


def test_the_service_still_offers_the_intake_half_as_before() -> None:
    """``service.submit`` and the rest are the decisions module's own functions, imported when first asked for."""
    code = (
        "import sys; from enforcer import service; assert 'enforcer.decisions' not in sys.modules; "
        "from enforcer import decisions; assert service.submit is decisions.submit; "
        "assert service.Context is decisions.Context; assert 'release' in dir(service); "
        "from enforcer.service import SubmitResult, unblock; assert unblock is decisions.unblock"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_yaml_parsed_by_libyaml_gives_the_same_values_and_the_same_errors() -> None:
    """The start-up parser (libyaml) is a faster reading of the same files, never a different one."""
    import yaml

    from enforcer.resources import PLAYBOOKS, TEMPLATES, load_yaml

    for path in [*sorted(TEMPLATES.glob("*/platform.yaml")), *sorted(PLAYBOOKS.glob("*.yaml"))]:
        assert load_yaml(path.read_text()) == yaml.safe_load(path.read_text()), path
    for bad in ("a: b: c", "x: [1, 2", "- a\nb: c", "key: !!python/object:os.system ls"):
        with pytest.raises(yaml.YAMLError) as fast:
            load_yaml(bad)
        with pytest.raises(yaml.YAMLError) as pure:
            yaml.safe_load(bad)
        assert str(fast.value) == str(pure.value)


def test_an_address_checked_on_demand_gives_email_str_s_values_and_errors() -> None:
    """``inventory.EmailAddress`` is pydantic's ``EmailStr`` check run when an address is given, never another one."""
    from pydantic import BaseModel, EmailStr, ValidationError

    from enforcer.inventory import Customer

    class Before(BaseModel):
        abuse_contact: EmailStr | None = None

    def outcome(model: type[BaseModel], value: object) -> object:
        try:
            return model(id="c1", abuse_contact=value).abuse_contact  # type: ignore[call-arg]
        except ValidationError as exc:
            return [(e["type"], e["msg"], e["loc"]) for e in exc.errors()]

    for value in ("noc@example.net", " NOC@Example.NET ", "Abuse Desk <abuse@example.net>", "no-at-sign", "a@b",
                  "x@[192.0.2.1]", "a\r\n@example.net", "a" * 300 + "@example.net", "ü@exämple.de", None, 5):
        assert outcome(Customer, value) == outcome(Before, value), value
    schema = Customer.model_json_schema()["properties"]["abuse_contact"]
    assert schema == Before.model_json_schema()["properties"]["abuse_contact"]


def test_help_imports_only_the_command_line(tmp_path: Path) -> None:
    modules = top_level(imported(tmp_path, "--help"))
    assert not modules & (SERVER_STACK | DEVICE_STACK | STORE_AND_RENDER | {"httpx", "enforcer.inventory"})


def _statements_on_open(url: str) -> list[str]:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        Store(url).engine.dispose()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("backend", ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else []))
def test_a_store_at_the_current_revision_opens_with_one_read(backend: str, tmp_path: Path) -> None:
    """``block`` opens an existing store: one statement finds every table, the revision at head and the
    change serial's row (before: three — the table list, the revision, the serial row through the ORM)."""
    url = f"sqlite:///{tmp_path / 'e.db'}" if backend == "sqlite" else os.environ["ENFORCER_TEST_PG"]
    Store(url).engine.dispose()  # made by an earlier run
    statements = _statements_on_open(url)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT"), statements


def test_a_store_missing_a_table_or_its_serial_row_is_completed_on_open(tmp_path: Path) -> None:
    """The one-read open never takes a store that needs work for a current one (an old revision:
    ``tests/test_migrations.py``)."""
    import sqlite3

    from enforcer.migrate import HEAD, current

    url = f"sqlite:///{tmp_path / 'e.db'}"
    Store(url).engine.dispose()
    for damage in ("DROP TABLE holders", "DELETE FROM serial"):
        with sqlite3.connect(tmp_path / "e.db") as db:
            db.execute(damage)
        assert len(_statements_on_open(url)) > 1, damage  # it did look further
        with sqlite3.connect(tmp_path / "e.db") as db:
            assert db.execute("SELECT value FROM serial WHERE id = 1").fetchone() is not None, damage
            assert db.execute("SELECT count(*) FROM holders").fetchone() == (0,), damage
        store = Store(url)
        assert current(store.engine) == HEAD
        store.engine.dispose()


#: Run the console script, then write whether any ORM mapper was configured by the time it exits.
MAPPERS_PROBE = f"""
import atexit, json, sys
out = sys.argv[1]
def written():
    from enforcer.tables import Base
    open(out, "w").write(json.dumps(sorted(m.class_.__name__ for m in Base.registry.mappers if m.configured)))
atexit.register(written)
sys.argv = ["enforcer", *sys.argv[2:]]
from {ENTRY.partition(":")[0]} import {ENTRY.partition(":")[2]} as main
main()
"""


def test_a_preview_reads_with_core_statements_only_and_configures_no_mapper(tmp_path: Path) -> None:
    """``block --dry-run`` reads the decisions on the target, the serial and the active count with Core
    statements: none of SQLAlchemy's mapper configuration (before: all eight mappers, at the first
    read). A stored block still writes through the ORM and configures them."""
    Store(f"sqlite:///{tmp_path / 'e.db'}").engine.dispose()
    env = {**os.environ, "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}"}
    for args, configured in ((["--dry-run"], False), ([], True)):
        out = tmp_path / "mappers.json"
        run = subprocess.run([sys.executable, "-c", MAPPERS_PROBE, str(out), "block", "198.51.100.7", "-v", "scanning",
                              *args], capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert bool(json.loads(out.read_text())) is configured, (args, out.read_text())
