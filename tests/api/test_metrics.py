"""/metrics tells the truth: skipped alerts under their detector, latency even while one router is dead."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from enforcer.api.metrics import Metrics
from enforcer.push import PushResult

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
