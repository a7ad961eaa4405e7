"""/metrics tells the truth: skipped alerts under their detector, latency even while one router is dead."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from enforcer.api.metrics import Metrics
from enforcer.push import PushResult
from enforcer.service import ReconcileReport

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


def _report(*device_ok: tuple[str, bool]) -> ReconcileReport:
    return ReconcileReport(expired=[], results=[PushResult(device=d, ok=ok, changed=ok, summary="")
                                                for d, ok in device_ok])


def _timed(metrics: Metrics) -> float:
    return next(s.value for s in metrics.latency.collect()[0].samples if s.name.endswith("_count"))


def test_a_decision_is_timed_when_the_last_device_carrying_it_takes_it():
    metrics = Metrics()
    metrics.stored(1, {"edge1", "edge2"}, at=0.0)
    metrics.stored(2, {"edge1"}, at=0.0)
    metrics.report(_report(("edge1", True), ("edge2", False)), started=1.0)
    assert _timed(metrics) == 1  # decision 2; decision 1 still waits on edge2
    metrics.report(_report(("edge1", True)), started=2.0)  # edge2 in backoff: not even tried
    assert _timed(metrics) == 1
    metrics.report(_report(("edge2", True)), started=3.0)
    assert _timed(metrics) == 2


def test_a_decision_stored_after_a_pass_started_is_not_timed_by_it():
    metrics = Metrics()
    metrics.stored(1, {"edge1"}, at=5.0)
    metrics.report(_report(("edge1", True)), started=4.0)
    assert _timed(metrics) == 0
    metrics.report(_report(("edge1", True)), started=6.0)
    assert _timed(metrics) == 1
