"""/metrics as a Prometheus operator meets it: promtool accepts it, HEAD works, the buckets fit a
sub-second target, docs/metrics.md lists exactly what it can say, and the Grafana dashboard in
docs/ queries only what it exposes (with PromQL that promtool parses)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from enforcer.api.metrics import OUTCOMES
from enforcer.push import PushResult
from enforcer.settings import REPO_ROOT

from .conftest import auth, fixture

DOC = REPO_ROOT / "docs" / "metrics.md"
DASHBOARD = REPO_ROOT / "docs" / "grafana-enforcer.json"
BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf")]


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: Debian's prometheus package (scripts/setup.sh installs it)"
    return path


@pytest.fixture
def busy(client, tokens):
    """The app after a bit of everything: decisions of several outcomes, pushes of each outcome."""
    op, det = auth(tokens["operator"]), auth(tokens["detector"])
    assert client.post("/v1/decisions", json={"target": "203.0.113.7", "violation": "spam"}, headers=op).status_code == 201
    assert client.post("/v1/decisions", json={"target": "203.0.113.0/33", "violation": "spam"},
                       headers=op).status_code == 422
    assert client.post("/v1/hooks/bgpalerter", json=fixture("bgpalerter/visibility.json"), headers=det).status_code == 200
    metrics = client.app.state.served.metrics
    later = time.monotonic()  # after the spam decision was stored: fw1's push confirms it
    metrics.pushed(PushResult(device="fw1", ok=True, changed=True, summary="", seconds=0.04), "nftables",
                   started=later)
    metrics.pushed(PushResult(device="edge1", ok=False, changed=False, summary="", seconds=2.5), "frr", started=later)
    metrics.pushed(PushResult(device="core1", ok=False, changed=False, rolled_back=True, summary="", seconds=31.0),
                   "frr", started=later)
    return client


def families(client) -> dict:
    return {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}


def test_head_metrics_answers_with_the_headers_of_a_get_and_no_body(client):
    get, head = client.get("/metrics"), client.head("/metrics")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-type"].startswith("text/plain; version=")


def test_latency_histograms_run_from_10_ms_to_60_s(busy):
    fams = families(busy)
    for name in ("enforcer_decision_applied_seconds", "enforcer_push_seconds"):
        bounds = [float(s.labels["le"]) for s in fams[name].samples if s.name.endswith("_bucket")]
        assert bounds == BUCKETS, name
    pushes = {s.labels["le"]: s.value for s in fams["enforcer_push_seconds"].samples if s.name.endswith("_bucket")}
    assert (pushes["0.05"], pushes["2.5"], pushes["30.0"], pushes["60.0"]) == (1, 2, 2, 3)


def test_promtool_check_metrics_accepts_the_exposition(busy):
    text = busy.get("/metrics").text
    assert "enforcer_pushes_total" in text and "enforcer_decisions_total" in text
    r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def documented() -> dict[str, dict[str, list[str] | None]]:
    """docs/metrics.md: each ``## `name` (type)`` with its labels; a label's values are the
    backticked words of its row, or None for an open set (a device or hook name)."""
    out: dict[str, dict[str, list[str] | None]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        if m := re.match(r"^## `([a-z_]+)` \((counter|gauge|histogram)\)$", line):
            current = out.setdefault(m.group(1), {})
        elif current is not None and (m := re.match(r"^\| `([a-z_]+)` \| (.*) \|$", line)):
            values = m.group(2)
            current[m.group(1)] = None if values.startswith("open:") else re.findall(r"`([^`]+)`", values)
    return out


def test_the_docs_list_every_metric_and_exactly_the_outcomes_the_code_can_emit(busy):
    docs = documented()
    fams = families(busy)
    for f in fams.values():
        assert f.name in docs or f"{f.name}_total" in docs, f"{f.name} is not in docs/metrics.md"
    for name, labels in docs.items():
        family = fams.get(name) or fams.get(name.removesuffix("_total"))
        assert family is not None, f"docs/metrics.md lists {name}: the app has no such metric"
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        # a per-decision family has no sample until a device counts something, so nothing to read
        # its labels from; every other family emits samples in the busy app
        assert samples or name.startswith("enforcer_decision_dropped_"), name
        if samples:
            assert set(labels) == {k for s in samples for k in s.labels if k != "le"}, name
        assert {k: v for k, v in labels.items() if v is not None} == (
            {"outcome": list(OUTCOMES[name])} if name in OUTCOMES else {}), name
        seen = {s.labels["outcome"] for s in samples if "outcome" in s.labels}
        assert seen <= set(OUTCOMES.get(name, ())), f"{name} emitted {seen}"
    assert set(OUTCOMES) <= set(docs)


def _expressions() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def test_the_grafana_dashboard_queries_only_what_the_app_exposes(busy, tmp_path):
    exprs = _expressions()
    assert len(exprs) >= 8
    exposed = {s.name for f in families(busy).values() for s in f.samples}
    queried = {n for e in exprs for n in re.findall(r"\benforcer_[a-z_]+", e)}
    assert queried <= exposed, queried - exposed
    assert {n.removesuffix("_bucket") for n in queried} >= {"enforcer_decision_applied_seconds",
                                                           "enforcer_push_seconds", "enforcer_active_enforcements"}
    for e in exprs:
        for metric, values in re.findall(r"(enforcer_[a-z_]+)\{outcome=~?\"([^\"]+)\"", e):
            assert set(values.split("|")) <= set(OUTCOMES[metric]), e
    rules = tmp_path / "dashboard-rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{i}", "expr": e} for i, e in enumerate(exprs)]}]}))
    r = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
