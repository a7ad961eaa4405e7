"""Saved plans through the CLI, against the example inventory (offline devices write their candidate).

``enforcer plan -out FILE`` then ``enforcer apply FILE`` sends exactly the commands the plan
showed. A decision, an expiry or a change on the device after the plan makes it stale, and
applying it is refused with one line, exit 1 and nothing sent. Interactive ``apply`` sends the plan
it showed, never a second one.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

import enforcer.cli  # noqa: F401  (first: it registers the device commands of cli_devices)
from enforcer import cli_devices, planfile
from enforcer.model import Status
from enforcer.store import Store

from .conftest import EXAMPLE_INVENTORY

DEVICE = "ios-edge1"


def _saved_candidate(path: Path, device: str = DEVICE) -> str:
    return next(p["candidate"] for p in json.loads(path.read_text())["plans"] if p["device"] == device)


def _sent(tmp_path: Path, device: str = DEVICE) -> Path:
    """Where an offline device's merge candidate lands when it is committed."""
    return tmp_path / "out" / f"{device}.merge.cfg"


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_apply_file_sends_exactly_the_commands_plan_out_showed(cli, tmp_path):
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-d", DEVICE, "-out", str(saved), "--json")
    assert code == 0, err
    shown = json.loads(out)[0]["candidate"]
    assert "deny   tcp host 198.51.100.20 any eq smtp" in shown
    assert _saved_candidate(saved) == shown

    code, out, err = cli("apply", str(saved))
    assert code == 0, out + err
    assert _sent(tmp_path).read_text() == shown
    assert cli("plan", "-d", DEVICE, "--detailed-exitcode")[0] == 0


def test_a_decision_after_the_plan_makes_it_stale_and_nothing_is_sent(cli, tmp_path, db_url):
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    saved = tmp_path / "plan.json"
    assert cli("plan", "-out", str(saved))[0] == 0
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0

    code, out, err = cli("apply", str(saved))
    assert code == 1
    line = _one_line(err)
    assert "stale plan" in line and "store changed" in line and "enforcer plan" in line
    assert not (tmp_path / "out").exists(), "a stale plan must send nothing"
    assert Store(db_url).last_applied(DEVICE) is None


def test_a_change_on_the_device_after_the_plan_makes_it_stale(cli, tmp_path, monkeypatch):
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inventory)
    monkeypatch.setenv("ENFORCER_INVENTORY", str(inventory))
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    saved = tmp_path / "plan.json"
    assert cli("plan", "-out", str(saved))[0] == 0
    # Someone adds a line to the router by hand; the saved running-config is its live state.
    snapshot = inventory / "snapshots" / "ios-edge1.cfg"
    snapshot.write_text(snapshot.read_text().replace(
        "ip route 0.0.0.0 0.0.0.0 192.0.2.98\n",
        "ip route 0.0.0.0 0.0.0.0 192.0.2.98\nip route 203.0.113.50 255.255.255.255 Null0 name ENFORCER-99 tag 667\n",
    ))

    code, out, err = cli("apply", str(saved))
    assert code == 1
    line = _one_line(err)
    assert "stale plan" in line and "ios-edge1" in line and "changed" in line
    assert not (tmp_path / "out").exists()


def test_a_plan_outliving_one_of_its_enforcements_is_stale(cli, tmp_path, monkeypatch):
    assert cli("block", "203.0.113.9", "--violation", "phishing", "--ttl", "30m")[0] == 0
    saved = tmp_path / "plan.json"
    assert cli("plan", "-out", str(saved))[0] == 0
    valid_until = planfile.load(saved).valid_until
    assert valid_until is not None
    monkeypatch.setattr(planfile, "now", lambda: valid_until + timedelta(seconds=1))

    code, _, err = cli("apply", str(saved))
    assert code == 1
    assert "expired at" in _one_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("content", "reason"), [
    (None, "No such file"),
    ("not json", "not an enforcer-plan/1 file"),
    ('{"format": "terraform", "plans": []}', "not an enforcer-plan/1 file"),
])
def test_a_file_that_is_not_a_saved_plan_is_bad_input(cli, tmp_path, content, reason):
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    code, _, err = cli("apply", str(path))
    assert code == 2
    line = _one_line(err)
    assert line.startswith("error: plan:") and reason in line, line


def test_a_saved_plan_already_names_its_devices(cli, tmp_path):
    saved = tmp_path / "plan.json"
    assert cli("plan", "-out", str(saved))[0] == 0
    code, _, err = cli("apply", str(saved), "-d", DEVICE)
    assert code == 2 and _one_line(err).startswith("error: device:")


def test_interactive_apply_shows_the_commands_and_sends_those(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_devices, "_interactive", lambda: True)
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    code, out, err = cli("apply", "-d", DEVICE, input="y\n")
    assert code == 0, out + err
    sent = _sent(tmp_path).read_text()
    assert "commands to send" in out
    assert all(line in out for line in sent.splitlines())


def test_interactive_apply_never_sends_a_second_plan(cli, tmp_path, db_url, monkeypatch):
    """A decision ended while the operator reads the prompt: the shown plan is now stale, and
    apply refuses it rather than quietly planning again and sending something else."""
    monkeypatch.setattr(cli_devices, "_interactive", lambda: True)
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    store = Store(db_url)
    decision = store.decisions()[0]

    def meanwhile(*_a, **_kw) -> bool:
        store.end_decision(decision.id, status=Status.REMOVED, actor="colleague", source="cli", reason="false positive")
        return True

    monkeypatch.setattr(cli_devices.typer, "confirm", meanwhile)
    code, out, err = cli("apply", "-d", DEVICE)
    assert code == 1
    assert "stale plan" in _one_line(err)
    assert not (tmp_path / "out").exists()


def test_the_serial_moves_with_decisions_not_with_pushes(cli, db_url):
    store = Store(db_url)
    start = store.serial()
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    blocked = store.serial()
    assert blocked > start
    assert cli("apply", "--yes")[0] == 0
    assert store.serial() == blocked, "an apply (audit, applied state) must not make plans stale"
    assert cli("unblock", "198.51.100.20")[0] == 0
    assert store.serial() > blocked


def test_an_edited_plan_file_is_refused_and_nothing_is_sent(cli, tmp_path):
    """The file is input: commands are sent only if they are what enforcer renders now."""
    assert cli("block", "198.51.100.20", "--violation", "spam")[0] == 0
    saved = tmp_path / "plan.json"
    assert cli("plan", "-out", str(saved))[0] == 0
    data = json.loads(saved.read_text())
    plan = next(p for p in data["plans"] if p["device"] == DEVICE)
    plan["candidate"] += "no ip route 0.0.0.0 0.0.0.0 192.0.2.98\n"
    saved.write_text(json.dumps(data))

    code, _, err = cli("apply", str(saved))
    assert code == 1
    line = _one_line(err)
    assert "ios-edge1" in line and "not what enforcer renders now" in line
    assert not (tmp_path / "out").exists()


RUNNING = Path(__file__).resolve().parent / "fixtures" / "running"


@pytest.fixture
def frr_edge_running(cli, tmp_path, monkeypatch):
    """The example inventory with frr-edge1's saved running-config replaced by a vendor fixture."""
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inventory)
    monkeypatch.setenv("ENFORCER_INVENTORY", str(inventory))

    def use(variant: str) -> None:
        shutil.copy(RUNNING / "frr" / f"{variant}.txt", inventory / "snapshots" / "frr-edge1.conf")

    return use


def test_plan_shows_each_slot_decision_and_json_carries_them(cli, frr_edge_running):
    frr_edge_running("occupied")
    assert cli("block", "203.0.113.128/25", "--violation", "bgp-hijack", "--customer", "acme", "--asn", "64999")[0] == 0
    code, out, err = cli("plan", "-d", "frr-edge1")
    assert code == 0, out + err
    assert "attachment points" in out
    row = next(ln for ln in out.splitlines() if "neighbor 192.0.2.109 inbound prefix-list (IPv4)" in ln and "│ composed" in ln)
    assert "CUST-ACME-V4" in row
    plan = json.loads(cli("plan", "-d", "frr-edge1", "--json")[1])[0]
    assert [(s["mode"], s["operator_object"]) for s in plan["slots"]] == [("composed", "CUST-ACME-V4")]
    assert plan["candidate"].startswith("ip prefix-list CUST-ACME-V4 seq ")

    frr_edge_running("no-room")
    code, out, _ = cli("plan", "-d", "frr-edge1")
    assert code == 1
    assert any("│ refused" in ln and "CUST-ACME-V4" in ln for ln in out.splitlines()), out
    plan = json.loads(cli("plan", "-d", "frr-edge1", "--json")[1])[0]
    assert [s["mode"] for s in plan["slots"]] == ["refused"] and plan["candidate"] == ""


def test_a_saved_plan_that_composes_with_the_operators_list_sends_exactly_its_entries(cli, tmp_path, frr_edge_running):
    frr_edge_running("occupied")
    assert cli("block", "203.0.113.128/25", "--violation", "bgp-hijack", "--customer", "acme", "--asn", "64999")[0] == 0
    saved = tmp_path / "plan.json"
    assert cli("plan", "-d", "frr-edge1", "-out", str(saved))[0] == 0
    code, out, err = cli("apply", str(saved))
    assert code == 0, out + err
    sent = _sent(tmp_path, "frr-edge1").read_text()
    assert sent == _saved_candidate(saved, "frr-edge1")
    assert "CUST-ACME-V4" in sent and "no ip prefix-list" not in sent
