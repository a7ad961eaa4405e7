"""``enforcer plan --rederive``: a pull request's playbook change shows in the plan, per decision.

Stored enforcements keep the parameters they were decided with (a playbook edit never changes the
network by itself); the review plan re-derives them with the PR's playbooks. Inventory changes
show in any plan: the section is rendered from the inventory every time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from .conftest import EXAMPLE_INVENTORY

PLAYBOOKS = EXAMPLE_INVENTORY.parent.parent / "playbooks"
DEVICE = "eos-edge1"  # no snapshot: planned against what enforcer last applied


def _spam_applied(cli) -> None:
    assert cli("block", "198.51.100.10", "--violation", "spam", "--reason", "ci sample")[0] == 0
    code, _, err = cli("apply", "--yes")
    assert code == 0, err


def _playbooks_with_smtp_only(tmp_path: Path) -> Path:
    books = shutil.copytree(PLAYBOOKS, tmp_path / "playbooks")
    spam = yaml.safe_load((books / "spam.yaml").read_text())
    spam["ladder"][0]["ports"] = [25]
    (books / "spam.yaml").write_text(yaml.safe_dump(spam))
    return books


def test_a_playbook_change_plans_no_change_without_rederive(cli, tmp_path: Path):
    _spam_applied(cli)
    books = _playbooks_with_smtp_only(tmp_path)
    code, _, err = cli("--playbooks", str(books), "plan", "--device", DEVICE, "--detailed-exitcode")
    assert code == 0, err


def test_rederive_shows_the_playbook_change_per_decision_and_in_the_device_diff(cli, tmp_path: Path):
    _spam_applied(cli)
    books = _playbooks_with_smtp_only(tmp_path)
    code, out, err = cli("--playbooks", str(books), "plan", "--device", DEVICE, "--rederive", "--detailed-exitcode")
    assert code == 2, out + err
    assert "playbook change: decision 1 198.51.100.10/32 spam: params.ports [25, 465, 587] -> [25]" in out
    removed = [ln for ln in out.splitlines() if ln.startswith("-") and "198.51.100.10" in ln]
    assert removed and all("465" in ln or "587" in ln or "smtps" in ln or "submission" in ln for ln in removed), out


def test_rederive_with_unchanged_playbooks_plans_nothing(cli):
    _spam_applied(cli)
    code, out, err = cli("plan", "--device", DEVICE, "--rederive", "--detailed-exitcode")
    assert code == 0, out + err
    assert "playbook change" not in out


def test_rederive_json_lists_the_changes_beside_the_plans(cli, tmp_path: Path):
    import json

    _spam_applied(cli)
    books = _playbooks_with_smtp_only(tmp_path)
    code, out, _ = cli("--playbooks", str(books), "plan", "--device", DEVICE, "--rederive", "--json")
    doc = json.loads(out)
    [change] = doc["playbook_changes"]
    assert change["changes"] == {"params.ports": ["[25, 465, 587]", "[25]"]}
    assert doc["plans"][0]["device"] == DEVICE


def test_an_inventory_change_shows_in_the_plan(cli, tmp_path: Path):
    _spam_applied(cli)
    inv = shutil.copytree(EXAMPLE_INVENTORY, tmp_path / "inventory")
    hosts = (inv / "hosts.yaml").read_text().replace("attach_interfaces: [Ethernet1, Ethernet2]",
                                                      "attach_interfaces: [Ethernet1, Ethernet2, Ethernet3]")  # fmt: skip
    (inv / "hosts.yaml").write_text(hosts)
    code, out, err = cli("--inventory", str(inv), "plan", "--device", DEVICE, "--detailed-exitcode")
    assert code == 2, out + err
    assert any(ln.startswith("+") and "Ethernet3" in ln for ln in out.splitlines()), out
