"""Issue 2 acceptance, through the CLI as a NOC engineer types it, against the example inventory."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from enforcer.inventory import load_inventory
from enforcer.store import Store

from .conftest import EXAMPLE_INVENTORY


def edge_devices() -> list[str]:
    inv = load_inventory(EXAMPLE_INVENTORY)
    return sorted(d.name for d in inv.devices.values() if d.role == "edge" and d.platform.value != "openflow")


def test_example_inventory_has_an_edge_device_on_every_platform():
    inv = load_inventory(EXAMPLE_INVENTORY)
    platforms = {d.platform.value for d in inv.devices.values() if d.role == "edge"}
    assert {"ios", "iosxr", "junos", "eos", "nxos", "frr", "nftables"} <= platforms


def test_malware_block_plans_a_null_route_on_every_edge_then_unblock_plans_its_removal(cli):
    code, out, err = cli("block", "203.0.113.7", "--violation", "malware-hosting", "--ttl", "1h", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["created"] is True
    assert [e["action"] for e in result["enforcements"]] == ["null-route"]

    code, out, err = cli("plan", "--detailed-exitcode", "--json")
    assert code == 2, err
    plans = {p["device"]: p for p in json.loads(out)}
    for name in edge_devices():
        added = [ln for ln in plans[name]["diff"].splitlines() if ln.startswith("+") and not ln.startswith("+++")]
        assert any("203.0.113.7" in ln for ln in added), f"{name}: no null route added:\n{plans[name]['diff']}"
        assert plans[name]["added"] >= 1

    code, out, err = cli("apply", "--yes")
    assert code == 0, out + err
    code, out, err = cli("plan", "--detailed-exitcode")
    assert code == 0, out + err

    code, out, err = cli("unblock", "203.0.113.7", "--reason", "cleaned")
    assert code == 0, err
    code, out, err = cli("plan", "--detailed-exitcode", "--json")
    assert code == 2
    for p in json.loads(out):
        if p["device"] in edge_devices():
            removed = [ln for ln in p["diff"].splitlines() if ln.startswith("-") and not ln.startswith("---")]
            assert any("203.0.113.7" in ln for ln in removed), p["diff"]
            assert not any("203.0.113.7" in ln for ln in p["diff"].splitlines() if ln.startswith("+"))


def test_expired_enforcement_leaves_the_plan_by_itself(cli, db_url):
    code, _, err = cli("block", "203.0.113.9", "--violation", "phishing", "--ttl", "30m")
    assert code == 0, err
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2 and "203.0.113.9" in out
    # Travel past the expiry by moving the stored expiry into the past (the clock is the store's).
    store = Store(db_url)
    from enforcer.store import EnforcementRow

    with store.session() as s:
        for row in s.query(EnforcementRow).all():
            row.expires_at = row.expires_at - timedelta(hours=1)
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 0, out
    assert "203.0.113.9" not in out
    code, out, _ = cli("reconcile")
    assert code == 0, out
    actions = [e["action"] for e in json.loads(cli("history", "--json")[1])]
    assert "expired" in actions


def test_second_spam_offence_escalates_from_acl_to_null_route(cli):
    first = json.loads(cli("block", "198.51.100.25", "--violation", "spam", "--json")[1])
    assert [e["action"] for e in first["enforcements"]] == ["acl"]
    assert first["enforcements"][0]["params"]["ports"] == [25, 465, 587]
    assert cli("unblock", str(first["decision_id"]))[0] == 0
    second = json.loads(cli("block", "198.51.100.25", "--violation", "spam", "--json")[1])
    assert [e["action"] for e in second["enforcements"]] == ["null-route"]


BAD_INPUTS = [
    (["block", "203.0.113.0/33", "--violation", "spam"], "target", "prefix length 33 > 32"),
    (["block", "203.0.113.7/24", "--violation", "spam"], "target", "host bits"),
    (["block", "not-an-ip", "--violation", "spam"], "target", "not a valid IP"),
    (["block", "203.0.113.7", "--violation", "jaywalking"], "violation", "is not one of"),
    (["block", "203.0.113.7", "--violation", "spam", "--ttl", "forever"], "ttl", "not a duration"),
    (["block", "203.0.113.7", "--violation", "spam", "--ttl", "400d"], "ttl", "maximum"),
    (["block", "203.0.113.7", "--violation", "spam", "--ttl", "99999999999d"], "ttl", "maximum"),
    (["block", "0.0.0.0/0", "--violation", "spam", "--force"], "target", "default route"),
    (["block", "::/0", "--violation", "malware-hosting", "--force"], "target", "default route"),
    (["block", "127.0.0.1", "--violation", "spam"], "target", "bogon"),
    (["block", "224.0.0.5", "--violation", "scanning"], "target", "bogon"),
    (["block", "203.0.112.0/23", "--violation", "malware-hosting"], "target", "--force"),
    (["block", "2001:db8:1000::/36", "--violation", "malware-hosting"], "target", "--force"),
    (["block", "203.0.113.7", "--violation", "spam", "--customer", "nobody"], "customer", "no customer"),
    (["block", "192.0.2.0/24", "--violation", "bgp-hijack"], "customer", "customer"),
    (["block", "2001:db8::1%x;}flush_ruleset", "--violation", "malware-hosting"], "target", "zone ids"),
    (["block", "fe80::1%eth0", "--violation", "malware-hosting"], "target", "zone ids"),
    (["block", "", "--violation", "spam"], "target", "not a valid"),
    (["block", "203.0.113.7", "--violation", "spam", "--reason", "x\x1b]0;pwned\x07"], "reason", "not allowed"),
    (["block", "203.0.113.7", "--violation", "spam", "--customer", "acme\nno ip route"], "customer", "not allowed"),
    (["block", "203.0.113.7", "--violation", "spam", "--reason", "r" * 2000], "reason", "at most 1024"),
    (["block", "fe80::1", "--violation", "malware-hosting"], "target", "bogon"),
    (["block", "ff02::1", "--violation", "malware-hosting"], "target", "bogon"),
    (["block", "::1", "--violation", "malware-hosting"], "target", "bogon"),
    (["block", "::ffff:203.0.113.7", "--violation", "malware-hosting"], "target", "bogon"),
    (["block", "2001:db8:ffff::1", "--violation", "malware-hosting"], "target", "protected"),
    (["block", "2001:db8:1000::/47", "--violation", "malware-hosting"], "target", "--force"),
    (["unblock", "999"], "id", "no current decision"),
    (["unblock", "9223372036854775808"], "id", "is not a decision id"),
    (["approve", "9223372036854775808"], "id", "is not a decision id"),
    (["reject", "abc"], "id", "is not a decision id"),
    (["unblock", "bogus"], "target", "neither"),
]


@pytest.mark.parametrize(("args", "field", "reason"), BAD_INPUTS, ids=[" ".join(a[:2] + a[2:4]) for a, _, _ in BAD_INPUTS])
def test_bad_input_exits_2_names_the_field_and_stores_nothing(cli, db_url, args, field, reason):
    before = Store(db_url).snapshot()
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    line = err.strip().splitlines()[-1]
    assert re.match(rf"error: {re.escape(field)}: ", line), line
    assert reason in line
    assert Store(db_url).snapshot() == before


def test_protected_prefix_is_refused_even_with_force(cli, db_url):
    inv = load_inventory(EXAMPLE_INVENTORY)
    protected = inv.guardrails.protected[0]
    host = next(protected.hosts()) if protected.num_addresses > 1 else protected.network_address
    before = Store(db_url).snapshot()
    code, _, err = cli("block", str(host), "--violation", "malware-hosting", "--force")
    assert code == 2
    assert "protected" in err
    assert Store(db_url).snapshot() == before


def test_force_is_audited(cli):
    code, _, err = cli("block", "203.0.112.0/22", "--violation", "malware-hosting", "--force", "--reason", "botnet")
    assert code == 0, err
    history = json.loads(cli("history", "--json")[1])
    assert history[-1]["action"] == "block-forced"
    assert history[-1]["reason"] == "botnet"
    assert "Nanosek" in history[-1]["clause"] or history[-1]["clause"]


def test_dry_run_block_stores_nothing(cli, db_url):
    before = Store(db_url).snapshot()
    code, out, _ = cli("block", "203.0.113.7", "--violation", "spam", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out)["dry_run"] is True
    assert Store(db_url).snapshot() == before


def test_apply_dry_run_changes_nothing(cli, db_url, tmp_path):
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    before = Store(db_url).snapshot()
    code, out, _ = cli("apply", "--dry-run")
    assert code == 0
    assert Store(db_url).snapshot() == before
    assert not (tmp_path / "out").exists()


def test_apply_to_offline_devices_writes_rendered_sections_and_records_them(cli, tmp_path):
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    code, out, err = cli("apply", "--yes")
    assert code == 0, out + err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written, "apply wrote nothing"
    frr = next(p for p in (tmp_path / "out").iterdir() if p.name.startswith("frr-edge1") and ".merge." not in p.name)
    assert "203.0.113.7" in frr.read_text()


def test_render_prints_the_whole_section(cli):
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    inv = load_inventory(EXAMPLE_INVENTORY)
    frr = next(d.name for d in inv.devices.values() if d.platform.value == "frr")
    code, out, _ = cli("render", frr)
    assert code == 0
    assert "203.0.113.7/32" in out


def test_catalog_lists_every_category_with_a_seed_clause(cli):
    code, out, _ = cli("catalog", "--json")
    assert code == 0
    cats = {c["violation"]: c for c in json.loads(out)}
    for name in ("spam", "ddos-outbound", "ddos-victim", "scanning", "intrusion", "spoofing", "bgp-hijack",
                 "excessive-bandwidth", "malware-hosting", "phishing", "illegal-content"):
        assert cats[name]["clauses"], name
        assert all(c["seed"].endswith(".txt") and c["text"] for c in cats[name]["clauses"])


def test_validate_passes_on_the_shipped_files(cli):
    code, out, err = cli("validate")
    assert code == 0, err


def test_validate_names_file_path_and_reason_for_every_problem(cli, tmp_path):
    import shutil

    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    hosts = (inv / "hosts.yaml").read_text()
    (inv / "hosts.yaml").write_text(hosts + "broken1:\n  platform: vyos\n  role: edge\nbroken2:\n  platform: ios\n  role: \"bad role!\"\n")
    (inv / "settings.yaml").write_text("guardrails:\n  protected: [192.0.2.0/33]\n")
    code, out, err = cli("--inventory", str(inv), "validate")
    assert code == 2
    assert f"{inv / 'hosts.yaml'}: broken1.platform:" in err
    assert f"{inv / 'hosts.yaml'}: broken2.role:" in err
    assert f"{inv / 'settings.yaml'}: guardrails.protected.0:" in err
    assert "33 > 32" in err


def test_a_48_is_the_broadest_ipv6_block_without_force(cli):
    code, _, err = cli("block", "2001:db8:1000::/48", "--violation", "malware-hosting")
    assert code == 0, err


def test_repeating_a_block_while_it_is_active_neither_duplicates_nor_escalates(cli):
    first = json.loads(cli("block", "198.51.100.25", "--violation", "spam", "--json")[1])
    again = json.loads(cli("block", "198.51.100.25", "--violation", "spam", "--json")[1])
    assert again["decision_id"] == first["decision_id"] and again["created"] is False
    assert [e["action"] for e in again["enforcements"]] == ["acl"]
    assert len(json.loads(cli("list", "--json")[1])) == 1


def test_an_offence_older_than_the_escalation_window_does_not_escalate(cli, db_url):
    from enforcer.store import DecisionRow

    first = json.loads(cli("block", "198.51.100.25", "--violation", "spam", "--json")[1])
    assert cli("unblock", str(first["decision_id"]))[0] == 0
    with Store(db_url).session() as s:  # the first offence happened 31 days ago (spam window: 30d)
        row = s.get(DecisionRow, first["decision_id"])
        row.created_at = row.created_at - timedelta(days=31)
    again = json.loads(cli("block", "198.51.100.25", "--violation", "spam", "--json")[1])
    assert [e["action"] for e in again["enforcements"]] == ["acl"]


def test_list_and_history_print_stored_text_literally(cli):
    assert cli("block", "203.0.113.7", "--violation", "spam", "--reason", "see [/ticket] [bold]x", "--actor", "[/x]")[0] == 0
    code, out, err = cli("history")
    assert code == 0, err
    assert "[/ticket]" in out
    code, out, err = cli("list")
    assert code == 0, err
    assert "[/x]" in out


def test_plan_exits_1_when_a_device_cannot_be_read(cli, tmp_path):
    import shutil

    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    (inv / "snapshots" / "frr-edge1.conf").unlink()
    code, out, _ = cli("--inventory", str(inv), "plan", "--detailed-exitcode")
    assert code == 1
    assert "frr-edge1" in out and "does not exist" in out


def test_plan_against_a_snapshot_removes_a_stale_enforcer_line(cli, tmp_path):
    import shutil

    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    snap = inv / "snapshots" / "frr-edge1.conf"
    snap.write_text(snap.read_text() + "ip route 198.51.100.99/32 Null0 tag 667\n")
    code, out, _ = cli("--inventory", str(inv), "plan", "--device", "frr-edge1", "--json")
    plan = json.loads(out)[0]
    assert "-ip route 198.51.100.99/32 Null0 tag 667" in plan["diff"]
    assert plan["removed"] == 1


@pytest.mark.parametrize("args", [["block", "203.0.113.7"], ["block", "203.0.113.7", "--violation", "spam", "--asn", "abc"],
                                  ["history", "--limit", "0"], ["plan", "--bogus"]])
def test_usage_errors_are_one_line_with_exit_2(cli, args):
    code, out, err = cli(*args)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err


@pytest.mark.parametrize("command", [["render", "nope"], ["plan", "--device", "nope"], ["apply", "--device", "nope", "--yes"]])
def test_unknown_device_is_a_field_error(cli, command):
    code, _, err = cli(*command)
    assert code == 2
    assert err.strip() == "error: device: no device named 'nope' in the inventory"


def test_validate_names_a_playbook_role_no_device_has(cli, tmp_path):
    import shutil

    books = tmp_path / "playbooks"
    shutil.copytree(EXAMPLE_INVENTORY.parent.parent / "playbooks", books)
    (books / "phishing.yaml").write_text((books / "phishing.yaml").read_text().replace("roles: [edge]", "roles: [edgy]"))
    code, _, err = cli("--playbooks", str(books), "validate")
    assert code == 2
    assert "playbooks/phishing.yaml: ladder.0.roles: no device in the inventory has role edgy" in err


def test_validate_names_the_broken_template_and_action(tmp_path):
    import shutil

    from enforcer import render, validate
    from enforcer.inventory import Platform

    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES_DIR, templates)
    (templates / "frr" / "null-route.j2").write_text("{{ section.no_such_field }}\n")
    problems = validate.validate_templates({Platform.FRR}, templates_dir=templates)
    assert any(p.startswith("templates/frr/null-route:") and "no_such_field" in p for p in problems), problems
    assert validate.validate_templates({Platform.FRR}) == []


def _held_decision(db_url) -> int:
    from enforcer import service
    from enforcer.model import Decision
    from enforcer.settings import Settings

    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=db_url))
    broad = Decision(target="203.0.112.0/23", violation="ddos-outbound", source="fastnetmon", actor="fnm")
    result = service.submit(ctx, broad, automatic=True)
    assert result.pending
    return result.decision_id


def test_a_held_decision_is_rejected_by_id_from_the_command_line(cli, db_url):
    held = _held_decision(db_url)
    code, out, err = cli("reject", str(held), "--reason", "false positive")
    assert code == 0, err
    assert f"decision {held} (ddos-outbound 203.0.112.0/23) rejected" in out
    code, _, err = cli("approve", str(held))
    assert code == 2 and "no pending decision" in err
    assert Store(db_url).history()[-1].action == "reject"


def test_a_held_decision_is_approved_or_unblocked_by_id_from_the_command_line(cli, db_url):
    held = _held_decision(db_url)
    code, out, err = cli("unblock", str(held))
    assert code == 0 and f"decision {held}" in out, err
    held = _held_decision(db_url)
    code, out, err = cli("approve", str(held))
    assert code == 0 and "approved" in out, err
    assert [e.status.value for e in Store(db_url).get_decision(held).enforcements] == ["active"]


def test_plan_prints_each_device_s_diff_in_order_and_keeps_only_its_counts(cli, monkeypatch):
    """A 100,000-enforcement plan held every device's section, diff and candidate until the last
    device was done (60-70 MB of its peak RSS): each diff is printed as its turn comes instead."""
    from enforcer import cli_devices

    code, out, err = cli("block", "203.0.113.7", "--violation", "malware-hosting", "--ttl", "1h")
    assert code == 0, err
    kept: list = []
    real = cli_devices._print_summary
    monkeypatch.setattr(cli_devices, "_print_summary", lambda plans: kept.extend(plans) or real(plans))
    code, out, err = cli("plan", "--detailed-exitcode")
    assert code == 2, err
    shown = [ln.split()[1] for ln in out.splitlines() if ln.startswith("--- ")]
    assert shown == [p.device for p in kept if p.added] and len(shown) >= 2  # in the pass's order
    assert all(not (p.desired or p.diff or p.candidate or p.live) for p in kept)
    assert sum(p.added for p in kept) >= len(shown)
