"""Exactly once: a webhook delivered ten times at once is one decision, one enforcement, one push.

Runs against the app with its reconcile loop, as ``enforcer serve`` runs it, on offline devices.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from ..helpers import wait_for
from .conftest import auth, fixture


def sample(client, name: str, **labels: str) -> float:
    """One sample's value from /metrics (0 when absent)."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_ten_concurrent_deliveries_of_one_alert_make_one_enforcement_and_one_push(served, ctx, tokens):
    loop = served.app.state.served.loop
    wait_for(loop.idle)  # every device's start-up pass (it may write fw1's empty nftables table)
    edge_before = sample(served, "enforcer_pushes_total", device="edge1", outcome="ok")
    fw_before = sample(served, "enforcer_pushes_total", device="fw1", outcome="ok")
    doc, headers = fixture("fastnetmon/ban_incoming.json"), auth(tokens["detector"])
    gate = threading.Barrier(10)

    def deliver(_: int):
        gate.wait()
        return served.post("/v1/hooks/fastnetmon", json=doc, headers=headers)

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(deliver, range(10)))

    assert [r.status_code for r in responses] == [200] * 10
    outcomes = sorted(r.json()["results"][0]["outcome"] for r in responses)
    assert outcomes == ["created"] + ["duplicate"] * 9
    assert len({r.json()["results"][0]["decision_id"] for r in responses}) == 1
    counts = ctx.store.snapshot()
    assert (counts["decisions"], counts["enforcements"]) == (1, 1)

    wait_for(lambda: sample(served, "enforcer_pushes_total", device="edge1", outcome="ok") > edge_before)
    passes = loop.passes
    loop.kick()
    wait_for(lambda: loop.passes >= passes + len(loop.workers) and loop.idle())  # every device again: nothing to push
    assert sample(served, "enforcer_pushes_total", device="edge1", outcome="ok") == edge_before + 1
    assert sample(served, "enforcer_pushes_total", device="fw1", outcome="ok") == fw_before  # no RTBH on nftables
    assert "203.0.113.10/32 Null0 tag 666" in ctx.store.last_applied("edge1")
    assert sample(served, "enforcer_decisions_total", source="fastnetmon", category="ddos-victim",
                  outcome="duplicate") == 9


def test_metrics_show_the_decision_to_applied_latency_per_device_once_a_decision_is_pushed(served, tokens):
    def timed(device: str, platform: str) -> float:
        return sample(served, "enforcer_decision_applied_seconds_count", device=device, platform=platform)

    before = timed("fw1", "nftables")
    r = served.post("/v1/decisions", json={"target": "203.0.113.77", "violation": "spam"},
                    headers=auth(tokens["operator"]))
    assert r.status_code == 201
    # a spam block (an ACL) lands on the nftables firewall only: the FRR edge renders no ACL
    wait_for(lambda: timed("fw1", "nftables") == before + 1)
    assert sample(served, "enforcer_decision_applied_seconds_bucket", device="fw1", le="+Inf") == before + 1
    assert timed("edge1", "frr") == 0
    assert sample(served, "enforcer_active_enforcements") == 1
    assert sample(served, "enforcer_decisions_total", source="api", category="spam", outcome="created") == 1


def test_a_re_alert_after_unban_enforces_again(served, ctx, tokens):
    """A key dies with its decision: FastNetMon banning the same attack again after an unban is a new ban."""
    headers = auth(tokens["detector"])
    served.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=headers)
    served.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/unban_incoming.json"), headers=headers)
    r = served.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=headers)
    assert r.json()["results"][0]["outcome"] == "created"
    assert [str(e.target) for e in ctx.store.active_enforcements()] == ["203.0.113.10/32"]
