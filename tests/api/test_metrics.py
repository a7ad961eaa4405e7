"""/metrics tells the truth: skipped alerts under their detector, latency even while one router is dead."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from enforcer import service
from enforcer.api import metrics
from enforcer.api.metrics import Metrics, carriers
from enforcer.push import PushResult
from enforcer.render import RenderError, build_section

from ..helpers import free_port, wait_for
from .conftest import HOSTS, _client, auth, fixture


def sample(client, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_a_skipped_alert_is_counted_under_its_detector(client, tokens):
    r = client.post("/v1/hooks/bgpalerter", json=fixture("bgpalerter/visibility.json"), headers=auth(tokens["detector"]))
    assert r.json()["results"][0]["outcome"] == "skipped"
    assert sample(client, "enforcer_decisions_total", source="bgpalerter", outcome="skipped") == 1
    assert sample(client, "enforcer_decisions_total", source="none", outcome="skipped") == 0


@pytest.fixture
def served_with_a_dead_core_router(settings, ctx, tokens, monkeypatch):
    """The usual edges, plus core1: an FRR router whose SSH port nobody answers (every push fails)."""
    monkeypatch.setenv("ENFORCER_TEST_CORE_USER", "enforcer")
    monkeypatch.setenv("ENFORCER_TEST_CORE_PASSWORD", "unused")
    (settings.inventory / "hosts.yaml").write_text(HOSTS + f"""
core1:
  platform: frr
  role: core
  transport: frr
  hostname: 127.0.0.1
  port: {free_port()}
  username_env: ENFORCER_TEST_CORE_USER
  password_env: ENFORCER_TEST_CORE_PASSWORD
  optional_args: {{conn_timeout: 2}}
""")
    with _client(ctx, reconcile=True) as c:
        yield c


def test_a_dead_router_does_not_stop_latency_for_decisions_it_does_not_carry(served_with_a_dead_core_router, tokens):
    served = served_with_a_dead_core_router
    loop = served.app.state.served.loop
    wait_for(lambda: loop.backoff.failures.get("core1"), what="core1's first failed push")
    before = sample(served, "enforcer_decision_applied_seconds_count")
    r = served.post("/v1/decisions", json={"target": "203.0.113.77", "violation": "spam"},
                    headers=auth(tokens["operator"]))
    assert r.status_code == 201
    wait_for(lambda: sample(served, "enforcer_decision_applied_seconds_count") == before + 1,
             what="the spam block's latency sample (edge1 and fw1 carry it, core1 does not)")
    assert "core1" in loop.backoff.failures


def _ok(device: str, ok: bool = True) -> PushResult:
    return PushResult(device=device, ok=ok, changed=ok, summary="")


def _timed(metrics: Metrics, **labels: str) -> float:
    return sum(s.value for s in metrics.latency.collect()[0].samples
               if s.name.endswith("_count") and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_decision_is_timed_once_per_device_as_each_device_that_carries_it_takes_it():
    metrics = Metrics()
    metrics.stored(1, {"edge1", "edge2"}, at=0.0)
    metrics.stored(2, {"edge1"}, at=0.0)
    metrics.pushed(_ok("edge1"), "frr", started=1.0, done=1.5)
    assert _timed(metrics, device="edge1", platform="frr") == 2  # decisions 1 and 2 on edge1
    metrics.pushed(_ok("edge2", ok=False), "ios", started=1.0, done=2.0)
    assert _timed(metrics, device="edge2") == 0  # a failed push confirms nothing
    metrics.pushed(_ok("edge1"), "frr", started=2.0, done=2.5)
    assert _timed(metrics) == 2  # edge1 was timed once per decision, not once per pass
    metrics.pushed(_ok("edge2"), "ios", started=3.0, done=3.25)
    assert _timed(metrics, device="edge2", platform="ios") == 1
    sums = {s.labels["device"]: s.value for s in metrics.latency.collect()[0].samples if s.name.endswith("_sum")}
    assert sums == {"edge1": 3.0, "edge2": 3.25}  # from the decision's commit to each device's confirmation


def test_a_decision_stored_after_a_pass_started_is_not_timed_by_it():
    metrics = Metrics()
    metrics.stored(1, {"edge1"}, at=5.0)
    metrics.pushed(_ok("edge1"), "frr", started=4.0)
    assert _timed(metrics) == 0
    metrics.pushed(_ok("edge1"), "frr", started=6.0)
    assert _timed(metrics) == 1


def test_a_list_of_decisions_starts_each_clock_with_one_section_per_device_not_one_per_decision(
        client, tokens, ctx, monkeypatch):
    """Before: ``Served.record`` built every device's section once per created decision (30 decisions
    on the example inventory: 30 sections per device, as long as storing the batch). Now one per
    device for the whole list, and each decision still waits for exactly the devices that carry it."""
    built = []

    def counting(device, *args, **kwargs):
        built.append(device.name)
        return build_section(device, *args, **kwargs)

    monkeypatch.setattr(metrics, "build_section", counting)
    kinds = ("spam", "scanning", "malware-hosting")
    body = [{"target": f"203.0.113.{10 + i}", "violation": kinds[i % 3], "reason": "r"} for i in range(30)]
    r = client.post("/v1/decisions", json=body, headers=auth(tokens["operator"]))
    assert r.status_code == 200, r.text
    assert {x["outcome"] for x in r.json()["results"]} == {"created"}
    assert sorted(built) == sorted(ctx.inventory.devices)
    monkeypatch.undo()
    pending = client.app.state.served.metrics._pending
    waits = {}
    for rec in ctx.store.decisions():
        waits[rec.violation.value] = carriers(ctx.inventory, rec.enforcements)
        assert pending[rec.id].waiting == waits[rec.violation.value], rec.violation
    assert len({frozenset(w) for w in waits.values()}) > 1  # the categories land on different devices


def test_a_decision_whose_carriers_cannot_be_told_stops_only_its_own_clock(client, tokens, ctx, monkeypatch):
    """The list's one section per device fails on one decision: the others are still timed, from one
    section each, and every decision is stored (a metric never fails a 2xx). (The failing one is of
    another category than the others: the list's section holds one decision per landing class.)"""
    def failing(device, enforcements, *args, **kwargs):
        if any(str(e.target) == "203.0.113.66/32" for e in enforcements):
            raise RenderError("no section for this one")
        return build_section(device, enforcements, *args, **kwargs)

    monkeypatch.setattr(metrics, "build_section", failing)
    body = [{"target": f"203.0.113.{i}", "violation": v, "reason": "r"}
            for i, v in ((65, "spam"), (66, "scanning"), (67, "spam"))]
    r = client.post("/v1/decisions", json=body, headers=auth(tokens["operator"]))
    assert r.status_code == 200 and [x["outcome"] for x in r.json()["results"]] == ["created"] * 3
    pending = client.app.state.served.metrics._pending
    timed = {str(rec.target) for rec in ctx.store.decisions() if rec.id in pending}
    assert timed == {"203.0.113.65/32", "203.0.113.67/32"}


def test_the_console_board_follows_each_push_without_reading_every_active_row(served, tokens, ctx, monkeypatch):
    """Before: after every push the board rendered the device from a read of every active row (a fifth
    of serve's time under a stream of decisions, growing with the active set). Now from the loop's
    incremental desired state; the board still tells the device in sync with what the store renders."""
    s = served.app.state.served
    wait_for(s.loop.idle, what="the loop's first passes")
    reads = []
    real = type(ctx.store).active_enforcements
    monkeypatch.setattr(type(ctx.store), "active_enforcements",
                        lambda self, *a, **k: reads.append(1) or real(self, *a, **k))
    before = sample(served, "enforcer_decision_applied_seconds_count")
    r = served.post("/v1/decisions", json={"target": "203.0.113.78", "violation": "spam"},
                    headers=auth(tokens["operator"]))
    assert r.status_code == 201
    wait_for(lambda: sample(served, "enforcer_decision_applied_seconds_count") > before,
             what="the decision pushed to a device that carries it")
    wait_for(s.loop.idle, what="every device's pass after the decision")
    assert reads == []
    for name in ctx.inventory.devices:
        assert s.board.state(name, service.render_device(ctx, name)).state == "in sync", name


def test_a_scrape_reads_the_enforcements_the_devices_counted_not_every_current_decision(served, tokens, ctx,
                                                                                        monkeypatch):
    """Before: each scrape (and each counter read) read every current decision with its enforcements,
    which at 10,000 active held the API thread for seconds. Now the counted ids are read, nothing else."""
    from enforcer.counters import Counter

    s = served.app.state.served
    r = served.post("/v1/decisions", json={"target": "203.0.113.79", "violation": "spam"},
                    headers=auth(tokens["operator"]))
    assert r.status_code == 201
    decision, enforcement = r.json()["decision_id"], r.json()["enforcements"][0]["id"]
    monkeypatch.setattr(s.counters, "read", lambda at=None: {enforcement: Counter(packets=7, bytes=700),
                                                             999_999: Counter(packets=1, bytes=1)})
    reads = []
    real = type(ctx.store).decisions
    monkeypatch.setattr(type(ctx.store), "decisions", lambda self, *a, **k: reads.append(1) or real(self, *a, **k))
    text = served.get("/metrics").text
    assert f'enforcer_decision_dropped_packets_total{{category="spam",decision="{decision}"}} 7.0' in text
    assert "999999" not in text  # an id the store does not hold as active counts for no decision
    assert reads == []


def _exact_carriers(inventory, enforcements) -> set[str]:
    """The devices whose own section of ``enforcements`` (and nothing else) holds one of them."""
    found = set()
    for name, device in inventory.devices.items():
        section = build_section(device, enforcements, inventory)
        if any(section.acl + section.null_routes + section.rtbh + section.rate_limits + section.prefix_filters
               + section.anti_spoof):
            found.add(name)
    return found


def test_a_lists_carriers_come_from_one_enforcement_per_landing_class_and_equal_each_decisions_own(monkeypatch):
    """Before: every device's section was built over every enforcement of the list (a third of a
    list request's CPU at 500 decisions). Now over one enforcement per class of those that land
    alike; each decision's carriers are still exactly the devices its own section names, across
    actions, customers (attached or not), roles, address families and a protected target."""
    from datetime import timedelta

    from enforcer.inventory import load_inventory
    from enforcer.model import ActionKind, ActionParams, Enforcement, now
    from enforcer.settings import REPO_ROOT

    inventory = load_inventory(REPO_ROOT / "inventory" / "example")
    at = now()
    customers = (None, "acme", "globex", "initech")
    roles = (frozenset({"edge"}), frozenset({"border"}), frozenset())
    decisions: dict[int, list[Enforcement]] = {}
    for i in range(240):
        action = list(ActionKind)[i % len(ActionKind)]
        target = f"198.51.100.{i % 120}/32" if i % 5 else f"2001:db8:100::{i:x}/128"
        if i == 7:
            target = "192.0.2.53/32"  # protected: the build's last guard keeps it off every device
        decisions[i + 1] = [Enforcement(id=i + 1, decision_id=i + 1, action=action, target=target,
                                        violation="scanning" if i % 2 else "spam", params=ActionParams(),
                                        roles=roles[i % 3], customer=customers[i % 4], created_at=at,
                                        expires_at=at + timedelta(hours=1))]
    built: list[int] = []
    real = metrics.build_section
    monkeypatch.setattr(metrics, "build_section",
                        lambda device, es, *a, **k: built.append(len(es)) or real(device, es, *a, **k))
    got = metrics.carriers_of(inventory, decisions)
    monkeypatch.undo()
    assert len(built) == len(inventory.devices)  # one section per device, as before
    assert max(built) < 240 / 2  # of one enforcement per landing class, not of all 240
    for did, es in decisions.items():
        assert got[did] == _exact_carriers(inventory, es), es[0]
    assert got[8] == set()  # the protected target lands nowhere
    assert len({frozenset(v) for v in got.values()}) >= 4  # the mix lands on several device sets
