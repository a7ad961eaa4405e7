"""enforcer follows a real CrowdSec 1.4.6 LAPI's decision stream as a bouncer and enforces its bans."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from enforcer import service
from enforcer.cli import app
from enforcer.hooks.crowdsec_stream import apply_stream, pull
from enforcer.model import Violation

from .crowdsec_lapi import running_lapi

TARGET = "192.0.2.77"


@pytest.fixture
def lapi(tmp_path: Path):
    with running_lapi(tmp_path / "crowdsec") as running:
        yield running


def _active(settings) -> list:
    return [d for d in service.list_decisions(service.Context.open(settings)) if str(d.target) == f"{TARGET}/32"]


def test_a_crowdsec_ban_becomes_a_decision_and_its_deletion_ends_it(lapi, settings):
    """Through the real stream's deltas: startup, then a deletion CrowdSec reports as deleted."""
    ctx = service.Context.open(settings)
    lapi.cscli("decisions", "add", "--ip", TARGET, "--duration", "2h", "--reason", "crowdsecurity/ssh-bf")
    with httpx.Client(base_url=lapi.url, headers={"X-Api-Key": lapi.bouncer_key("enforcer")}, timeout=10) as c:
        [created] = apply_stream(ctx, pull(c, startup=True), startup=True, violation=Violation.SPAM)
        assert created.outcome == "created", created
        [decision] = _active(settings)
        assert (decision.violation, decision.source) == (Violation.INTRUSION, "crowdsec")  # ssh-bf → intrusion
        assert 7000 < (decision.expires_at - decision.created_at).total_seconds() <= 7200

        assert apply_stream(ctx, pull(c, startup=False), startup=False, violation=Violation.SPAM) == []
        lapi.cscli("decisions", "delete", "--ip", TARGET)
        [ended] = apply_stream(ctx, pull(c, startup=False), startup=False, violation=Violation.SPAM)
        assert ended.outcome == "ended", ended
        assert _active(settings) == []


def test_two_crowdsec_decisions_on_one_host_keep_it_blocked_until_crowdsec_has_none_left(lapi, settings):
    """CrowdSec 1.4.6's stream is per address: of two decisions on one IP it sends the longer one;
    deleting that one sends nothing (the other still bans the IP), deleting the other sends *its* id
    as deleted. enforcer's block follows: held throughout, ended by the last deletion."""
    ctx = service.Context.open(settings)
    lapi.cscli("decisions", "add", "--ip", TARGET, "--duration", "2h", "--reason", "crowdsecurity/ssh-bf")
    lapi.cscli("decisions", "add", "--ip", TARGET, "--duration", "3h", "--reason", "crowdsecurity/ssh-slow-bf")
    with httpx.Client(base_url=lapi.url, headers={"X-Api-Key": lapi.bouncer_key("enforcer")}, timeout=10) as c:
        stream = pull(c, startup=True)
        [shown] = stream["new"]
        [created] = apply_stream(ctx, stream, startup=True, violation=Violation.SPAM)
        assert created.outcome == "created", created
        assert ctx.store.holds("crowdsec", "crowdsec") == [(f"{TARGET}/32", f"decision:{shown['id']}")]

        lapi.cscli("decisions", "delete", "--id", str(shown["id"]))
        assert apply_stream(ctx, pull(c, startup=False), startup=False, violation=Violation.SPAM) == []
        assert len(_active(settings)) == 1, "the other CrowdSec decision still bans the host"

        other = 1 if shown["id"] == 2 else 2
        lapi.cscli("decisions", "delete", "--id", str(other))
        stream = pull(c, startup=False)
        assert [d["id"] for d in stream["deleted"]] == [other]
        [ended] = apply_stream(ctx, stream, startup=False, violation=Violation.SPAM)
        assert ended.outcome == "ended", ended
        assert _active(settings) == []


def test_hook_crowdsec_once_pushes_the_ban_and_a_restart_ends_what_crowdsec_dropped(lapi, settings, monkeypatch):
    """``enforcer hook crowdsec --once``: the ban reaches the firewall; after CrowdSec forgets it while
    enforcer was not listening, the next startup pull ends it."""
    monkeypatch.setenv("CS_KEY", lapi.bouncer_key("enforcer"))
    base = ["--inventory", str(settings.inventory), "--db", settings.db, "--output", str(settings.output)]
    hook = [*base, "hook", "crowdsec", "--lapi", lapi.url, "--key-env", "CS_KEY", "--once"]
    env = {**os.environ, "COLUMNS": "200"}
    lapi.cscli("decisions", "add", "--range", "192.0.2.64/28", "--duration", "1h", "--reason", "crowdsecurity/http-probing")
    done = CliRunner().invoke(app, hook, env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.stdout.startswith("created 192.0.2.64/28 scanning")
    assert "192.0.2.64/28" in (settings.output / "fw1.nft").read_text()

    lapi.cscli("decisions", "delete", "--range", "192.0.2.64/28")
    done = CliRunner().invoke(app, hook, env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ended 192.0.2.64/28")
    assert "192.0.2.64/28" not in (settings.output / "fw1.nft").read_text()


def test_hook_crowdsec_without_a_key_names_the_variable(settings, monkeypatch):
    monkeypatch.delenv("CS_KEY", raising=False)
    done = CliRunner().invoke(app, ["--db", settings.db, "hook", "crowdsec", "--lapi", "http://127.0.0.1:9",
                                    "--key-env", "CS_KEY", "--once"])  # fmt: skip
    assert done.exit_code == 2
    assert done.stderr.strip() == "error: CS_KEY: no bouncer key in this environment variable (--key-env names it)"
