"""A real Prometheus 2.42 scrapes ``enforcer serve``'s /metrics and can query what it exposes."""

from __future__ import annotations

from pathlib import Path

import httpx

from ..helpers import free_port, wait_for
from .conftest import answers, daemon

SCRAPE = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: enforcer
    metrics_path: /metrics
    static_configs:
      - targets: ["{target}"]
"""


def _query(prom: str, expr: str) -> list[dict]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    return r.json()["data"]["result"]


def test_prometheus_scrapes_enforcer_metrics(serve, token, tmp_path: Path):
    config = tmp_path / "prometheus.yml"
    config.write_text(SCRAPE.format(target=serve.removeprefix("http://")))
    port = free_port()
    prom = f"http://127.0.0.1:{port}"
    cmd = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
           f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    detector = token("generic-ids", "detector", ["scanning"])
    event = {"target": "192.0.2.66", "violation": "scanning", "reason": "portscan", "event_id": "ids-1"}
    r = httpx.post(f"{serve}/v1/hooks/generic", json=event, headers={"Authorization": f"Bearer {detector}"},
                   timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text
    with daemon(cmd, tmp_path / "prometheus.log", answers(f"{prom}/-/ready")):
        wait_for(lambda: _query(prom, 'up{job="enforcer"} == 1'), timeout=60, what="Prometheus scraped enforcer")
        wait_for(lambda: _query(prom, "enforcer_active_enforcements > 0"), timeout=60,
                 what="the active enforcement gauge in Prometheus")  # fmt: skip
        created = _query(prom, 'enforcer_decisions_total{source="generic",category="scanning",outcome="created"}')
        assert [float(s["value"][1]) for s in created] == [1.0]
