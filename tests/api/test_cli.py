"""``enforcer token ...`` and ``enforcer hook fastnetmon`` as an operator and FastNetMon call them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enforcer.api.cli import parse_listen
from enforcer.api.tokens import authenticate, create_token
from enforcer.cli import app

from ..helpers import free_port, serve_process, wait_for
from .conftest import FIXTURES


@pytest.fixture
def run(settings, monkeypatch):
    for var in ("ENFORCER_INVENTORY", "ENFORCER_DB", "ENFORCER_PLAYBOOKS", "ENFORCER_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    base = ["--inventory", str(settings.inventory), "--db", settings.db, "--output", str(settings.output)]

    def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, [*base, *args], input=input, env={**os.environ, "COLUMNS": "200"})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_token_create_prints_the_secret_once_as_the_last_line(run, ctx):
    code, out, _ = run("token", "create", "fastnetmon-1", "--scope", "detector", "--categories", "ddos-victim,spam")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    token = authenticate(ctx.store, secret)
    assert token.name == "fastnetmon-1" and [c.value for c in token.categories] == ["ddos-victim", "spam"]

    code, out, _ = run("token", "list", "--json")
    assert code == 0 and secret not in out
    assert json.loads(out)[0]["name"] == "fastnetmon-1"


def test_token_mistakes_exit_2_naming_the_field(run):
    assert run("token", "create", "x", "--scope", "detector")[2].startswith("error: categories:")
    assert run("token", "create", "x", "--scope", "admin")[0] == 2
    assert "jaywalking" in run("token", "create", "x", "--scope", "detector", "--categories", "jaywalking")[2]
    run("token", "create", "noc", "--scope", "operator")
    code, _, err = run("token", "create", "noc", "--scope", "operator")
    assert code == 2 and "already exists" in err


def test_token_revoke(run, ctx):
    secret = run("token", "create", "dash", "--scope", "reader")[1].strip().splitlines()[-1]
    assert run("token", "revoke", "dash")[0] == 0
    assert authenticate(ctx.store, secret) is None
    assert json.loads(run("token", "list", "--json")[1])[0]["revoked"] is True
    assert run("token", "revoke", "nobody")[0] == 2


def test_fastnetmon_notify_script_ban_blackholes_and_unban_restores(run, settings):
    stdin = (FIXTURES / "fastnetmon" / "community_ban_stdin.txt").read_text()
    code, out, err = run("hook", "fastnetmon", "203.0.113.10", "incoming", "282473", "ban", input=stdin)
    assert code == 0, err
    assert "created 203.0.113.10/32 ddos-victim" in out and "push edge1: applied" in out
    edge = Path(settings.output) / "edge1.cfg"
    assert "ip route 203.0.113.10/32 Null0 tag 666" in edge.read_text()

    code, out, err = run("hook", "fastnetmon", "203.0.113.10", "incoming", "0", "unban", input="")
    assert code == 0, err
    assert out.startswith("ended 203.0.113.10/32") and "push edge1: applied" in out
    assert "203.0.113.10" not in edge.read_text()


def test_fastnetmon_unban_with_on_unban_keep_leaves_the_blackhole_to_its_ttl(run, settings):
    stdin = (FIXTURES / "fastnetmon" / "community_ban_stdin.txt").read_text()
    assert run("hook", "fastnetmon", "203.0.113.10", "incoming", "282473", "ban", input=stdin)[0] == 0
    code, out, err = run("hook", "fastnetmon", "--on-unban", "keep", "203.0.113.10", "incoming", "0", "unban", input="")
    assert code == 0, err
    assert out.startswith("skipped")
    assert "ip route 203.0.113.10/32 Null0 tag 666" in (Path(settings.output) / "edge1.cfg").read_text()


def test_fastnetmon_json_notify_script_and_replay(run):
    doc = (FIXTURES / "fastnetmon" / "ban_outgoing.json").read_text()
    assert run("hook", "fastnetmon", "--no-apply", input=doc)[1].startswith("created 203.0.113.66/32 ddos-outbound")
    assert run("hook", "fastnetmon", "--no-apply", input=doc)[1].startswith("duplicate 203.0.113.66/32")


def _hook_with_open_stdin(settings, args: list[str], written: str = "") -> tuple[int, str]:
    """``enforcer hook fastnetmon ARGS`` as a process whose stdin pipe stays open after ``written``."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "enforcer.cli", "--inventory", str(settings.inventory), "--db", settings.db,
           "--output", str(settings.output), "hook", "fastnetmon", *args]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(written)
        proc.stdin.flush()  # and not closed: a supervisor's pipe, or FastNetMon's never being closed
        out = proc.stdout.read()  # EOF when the process exits; a hang is pytest-timeout's
        return proc.wait(), out
    finally:
        proc.stdin.close()
        proc.kill() if proc.poll() is None else None


def test_fastnetmon_unban_does_not_wait_on_an_open_stdin_pipe(settings):
    code, out = _hook_with_open_stdin(settings, ["203.0.113.10", "incoming", "0", "unban"])
    assert code == 0 and out.startswith("nothing-to-end 203.0.113.10/32")


def test_fastnetmon_ban_reads_what_was_written_then_stops_at_silence(settings):
    stdin = (FIXTURES / "fastnetmon" / "community_ban_stdin.txt").read_text()
    code, out = _hook_with_open_stdin(settings, ["203.0.113.10", "incoming", "282473", "ban"], stdin)
    assert code == 0 and out.startswith("created 203.0.113.10/32 ddos-victim")


def test_fastnetmon_ban_reads_stdin_redirected_from_a_file_or_dev_null(settings, tmp_path):
    """``< file`` and ``</dev/null`` are no pipes: epoll refuses them (EPERM), so they are read directly."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "enforcer.cli", "--inventory", str(settings.inventory), "--db", settings.db,
           "--output", str(settings.output), "hook", "fastnetmon", "--no-apply"]  # fmt: skip
    ban = tmp_path / "ban.txt"
    ban.write_text((FIXTURES / "fastnetmon" / "community_ban_stdin.txt").read_text())
    with ban.open() as f:
        done = subprocess.run([*cmd, "203.0.113.10", "incoming", "282473", "ban"], stdin=f, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("created 203.0.113.10/32 ddos-victim"), done.stderr
    with open("/dev/null") as f:
        done = subprocess.run([*cmd, "203.0.113.11", "incoming", "282473", "ban"], stdin=f, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert "Traceback" not in done.stderr and done.returncode in (0, 2), done.stderr


def test_fastnetmon_direction_unknown_is_read_from_the_pps_counters(run):
    stdin = (FIXTURES / "fastnetmon" / "community_ban_stdin.txt").read_text().replace(
        "Attack direction: incoming", "Attack direction: unknown")
    code, out, err = run("hook", "fastnetmon", "--no-apply", "203.0.113.10", "unknown", "282473", "ban", input=stdin)
    assert code == 0, err
    assert out.startswith("created 203.0.113.10/32 ddos-victim")


def test_fastnetmon_bad_call_exits_2_naming_the_field(run):
    code, _, err = run("hook", "fastnetmon", "203.0.113.10", "incoming", "lots", "ban", input="")
    assert code == 2 and err.startswith("error: pps:")


def test_a_refused_ban_exits_2(run):
    code, out, _ = run("hook", "fastnetmon", "198.51.100.201", "incoming", "10", "ban", input="")
    assert code == 2 and out.startswith("refused")


@pytest.mark.parametrize(("text", "want"), [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:9000", ("::1", 9000)),
                                            (":8080", ("127.0.0.1", 8080))])
def test_listen_addresses(text, want):
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["8080", "host:http", "127.0.0.1:0", "127.0.0.1:70000"])
def test_bad_listen_addresses(text):
    with pytest.raises(ValueError):
        parse_listen(text)


@pytest.fixture
def serve_url(settings, tmp_path):
    options = ["--inventory", str(settings.inventory), "--db", settings.db, "--output", str(settings.output)]
    with serve_process(options, ["--interval", "3600", "--log-level", "warning"], log=tmp_path / "serve.log") as url:
        yield url


def test_notify_script_posts_to_serve_whose_loop_pushes_at_once(run, ctx, settings, serve_url, monkeypatch):
    """``--url``: the running service stores it and its loop pushes on the kick, not at its next interval."""
    monkeypatch.setenv("FNM_TOKEN", create_token(ctx.store, "fastnetmon-1", "detector", ("ddos-victim", "ddos-outbound")))
    stdin = (FIXTURES / "fastnetmon" / "community_ban_stdin.txt").read_text()
    url = ["--url", serve_url, "--token-env", "FNM_TOKEN"]
    code, out, err = run("hook", "fastnetmon", *url, "203.0.113.10", "incoming", "282473", "ban", input=stdin)
    assert code == 0, err
    assert out.startswith("created 203.0.113.10/32 ddos-victim")
    [decision] = ctx.store.decisions()
    assert (decision.source, decision.actor) == ("fastnetmon", "fastnetmon-1")
    edge = Path(settings.output) / "edge1.cfg"
    wait_for(lambda: edge.exists() and "ip route 203.0.113.10/32 Null0 tag 666" in edge.read_text(),
             what="the serve loop's push to edge1")

    again = run("hook", "fastnetmon", *url, "203.0.113.10", "incoming", "282473", "ban", input=stdin)[1]
    assert again.startswith("duplicate 203.0.113.10/32")
    code, out, _ = run("hook", "fastnetmon", *url, "unban", "203.0.113.10", input="")
    assert code == 0 and out.startswith("ended 203.0.113.10/32")
    wait_for(lambda: "203.0.113.10" not in edge.read_text(), what="the serve loop's unban push")


def test_notify_script_to_serve_reports_what_goes_wrong(run, serve_url, monkeypatch):
    args = ["203.0.113.10", "incoming", "282473", "ban"]
    monkeypatch.delenv("FNM_TOKEN", raising=False)
    code, _, err = run("hook", "fastnetmon", "--url", serve_url, "--token-env", "FNM_TOKEN", *args, input="")
    assert code == 2 and err.startswith("error: FNM_TOKEN:")
    monkeypatch.setenv("FNM_TOKEN", "enf_not-a-token")
    code, _, err = run("hook", "fastnetmon", "--url", serve_url, "--token-env", "FNM_TOKEN", *args, input="")
    assert code == 2 and "authorization: unknown or revoked token" in err
    code, _, err = run("hook", "fastnetmon", "--url", f"http://127.0.0.1:{free_port()}", "--token-env", "FNM_TOKEN",
                       *args, input="")
    assert code == 1 and "127.0.0.1" in err


def test_serves_log_lines_carry_utc_timestamps_and_say_a_detectors_refusal(ctx, serve_url, tmp_path):
    """Before: no timestamps, and enforcer's own warnings (a refused detector block) went nowhere useful."""
    import re

    import httpx

    token = create_token(ctx.store, "fnm-log", "detector", ("ddos-victim",))
    doc = json.loads((FIXTURES / "fastnetmon" / "ban_incoming.json").read_text())
    doc["ip"] = "198.51.100.10"  # nobody's space: a detector may not blackhole it
    r = httpx.post(f"{serve_url}/v1/hooks/fastnetmon", json=doc, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 409
    log = tmp_path / "serve.log"
    stamped = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING enforcer\.service: refused ddos-victim "
                         r"198\.51\.100\.10/32 from fastnetmon \(fnm-log\): target: ", re.M)
    wait_for(lambda: stamped.search(log.read_text()), what="a timestamped refusal line in serve's log")
