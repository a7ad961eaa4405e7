"""docs/metrics.md's per-metric rules that tests/api/test_metrics_docs.py does not state, and the
metrics table of docs/detectors.md ("Watching it"), parsed, against the code's metrics.

The metrics are read from the real exposition of a fresh :class:`enforcer.api.metrics.Metrics`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from enforcer import service
from enforcer.api.app import create_app
from enforcer.api.metrics import OUTCOMES, Metrics
from enforcer.api.tokens import create_token
from enforcer.model import Decision
from enforcer.push import PushResult
from enforcer.settings import REPO_ROOT, Settings

from .api.conftest import auth, fixture, write_inventory

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _samples(m: Metrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(m.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip


def test_both_reconcile_pass_series_exist_from_the_start_at_0():
    samples = _samples(Metrics())
    assert samples[("enforcer_reconcile_passes_total", (("outcome", "ok"),))] == 0
    assert samples[("enforcer_reconcile_passes_total", (("outcome", "failed"),))] == 0


def test_the_exposition_has_no_created_samples():
    m = Metrics()
    m.decision("api", "spam", "created")
    m.pushed(PushResult(device="fw1", ok=True, changed=True, summary="", seconds=0.2), "nftables", started=0.0)
    assert "_created" not in generate_latest(m.registry).decode()


def test_a_pass_that_finds_the_device_right_counts_a_pass_but_no_push_and_times_nothing():
    m = Metrics()
    m.pushed(PushResult(device="fw1", ok=True, changed=False, summary="no changes", seconds=0.3), "nftables",
             started=0.0)  # fmt: skip
    samples = _samples(m)
    assert not any(name == "enforcer_pushes_total" for name, _ in samples)
    assert samples[("enforcer_push_seconds_count", ())] == 0
    assert samples[("enforcer_reconcile_passes_total", (("outcome", "ok"),))] == 1


def test_a_failed_push_counts_failed_and_a_failed_pass_and_is_timed():
    m = Metrics()
    m.pushed(PushResult(device="edge1", ok=False, changed=False, summary="", seconds=2.0), "frr", started=0.0)
    samples = _samples(m)
    assert samples[("enforcer_pushes_total", (("device", "edge1"), ("outcome", "failed")))] == 1
    assert samples[("enforcer_push_seconds_count", ())] == 1
    assert samples[("enforcer_reconcile_passes_total", (("outcome", "failed"),))] == 1


def _detectors_table() -> dict[str, tuple[set[str], list[str]]]:
    """docs/detectors.md, "Watching it": metric → (its labels, the outcomes listed after "what:")."""
    rows = re.findall(r"^\| `(enforcer_[a-z_]+)(?:\{([a-z,]+)\})?` \| (.*) \|$", (DOCS / "detectors.md").read_text(),
                      flags=re.M)  # fmt: skip
    out = {}
    for name, labels, what in rows:
        listed = what.split(":", 1)[1] if ":" in what and "histogram" not in what else ""
        out[name] = (set(labels.split(",")) if labels else set(), [v.strip() for v in listed.split(",") if v.strip()])
    return out


def test_the_metrics_table_in_docs_detectors_names_each_metric_its_labels_and_every_outcome():
    table = _detectors_table()
    m = Metrics()
    m.decision("api", "spam", "created")
    m.pushed(PushResult(device="fw1", ok=True, changed=True, summary="", seconds=0.2), "nftables", started=0.0)
    m.stored(1, ["fw1"], at=0.0)
    m.pushed(PushResult(device="fw1", ok=True, changed=True, summary="", seconds=0.2), "nftables", started=1.0)
    labels: dict[str, set[str]] = {}
    for name, label_items in _samples(m):
        family = re.sub(r"_(bucket|count|sum)$", "", name)
        labels.setdefault(family, set()).update(k for k, _ in label_items if k != "le")
    assert len(table) == 6 and set(table) <= set(labels), set(table) - set(labels)
    for name, (doc_labels, outcomes) in table.items():
        assert doc_labels == labels[name], name
        assert outcomes == list(OUTCOMES.get(name, [])), name


@pytest.fixture
def api(tmp_path: Path):
    """tests/api's app (its inventory, no reconcile loop) and a detector token."""
    ctx = service.Context.open(Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'e.db'}",
                                        playbooks=REPO_ROOT / "playbooks", templates=REPO_ROOT / "templates",
                                        output=tmp_path / "out"))  # fmt: skip
    token = create_token(ctx.store, "fastnetmon-1", "detector", ("ddos-victim", "ddos-outbound", "bgp-hijack"))
    with TestClient(create_app(lambda: ctx, reconcile=False)) as client:
        yield client, auth(token)


def test_a_payload_refused_before_its_items_are_read_counts_under_its_hook_with_category_none(api):
    """docs/metrics.md, ``enforcer_decisions_total``: the source is the hook's name even then; the
    category is ``none`` when there was no item to read one from (a skipped alert is counted alike)."""
    page = (DOCS / "metrics.md").read_text()
    section = page[page.index("## `enforcer_decisions_total`") : page.index("## `enforcer_pushes_total`")]
    rows = dict(re.findall(r"^\| `(source|category)` \| (.*) \|$", section, flags=re.M))
    assert "none" not in rows["source"] and "`none`" in rows["category"]
    client, det = api
    assert client.post("/v1/hooks/fastnetmon", json={"ip": "203.0.113.10", "action": "ban"},
                       headers=det).status_code == 422  # fmt: skip
    assert (
        client.post("/v1/hooks/bgpalerter", json=fixture("bgpalerter/visibility.json"), headers=det).status_code == 200
    )
    counted = {tuple(sorted(s.labels.items())): s.value
               for f in text_string_to_metric_families(client.get("/metrics").text) if f.name == "enforcer_decisions"
               for s in f.samples}  # fmt: skip
    assert counted == {
        (("category", "none"), ("outcome", "invalid"), ("source", "fastnetmon")): 1,
        (("category", "none"), ("outcome", "skipped"), ("source", "bgpalerter")): 1,
    }


def test_what_a_decision_dropped_is_exposed_per_decision_and_category_as_the_page_lists(api, monkeypatch):
    """The per-decision families have no sample until a device counts something, so the page's
    comparison with the app (tests/api/test_metrics_docs.py) cannot read their labels: here a
    device counts."""
    from enforcer.counters import Counter

    from .api.test_metrics_docs import documented

    client, _ = api
    noc = client.app.state.served.ctx
    d = Decision.model_validate({"target": "203.0.113.7", "violation": "spam", "actor": "noc", "source": "cli"})
    decision = service.submit(noc, d).decision_id
    [enforcement] = noc.store.get_decision(decision).enforcements
    counts = {enforcement.id: Counter(packets=5, bytes=300)}
    monkeypatch.setattr("enforcer.counters.read_counters", lambda _ctx: counts)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(client.get("/metrics").text) for s in f.samples}  # fmt: skip
    labels = (("category", "spam"), ("decision", str(decision)))
    assert samples[("enforcer_decision_dropped_packets_total", labels)] == 5
    assert samples[("enforcer_decision_dropped_bytes_total", labels)] == 300
    docs = documented()
    for name in ("enforcer_decision_dropped_packets_total", "enforcer_decision_dropped_bytes_total"):
        assert set(docs[name]) == {k for k, _ in labels}
