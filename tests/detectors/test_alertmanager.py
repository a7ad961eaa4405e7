"""A real Prometheus Alertmanager 0.25, configured with docs/detectors.md's config, drives enforcer serve.

The only changes to the documented file are the two site-specific strings an operator changes
too: the service's base URL (``https://enforcer.example.net`` → this test's loopback serve) and the
token file's path. Alerts go into Alertmanager through its v2 API, as Prometheus sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ..helpers import free_port, wait_for
from .conftest import answers, daemon
from .docs import doc_block

TARGET = "192.0.2.77"


def _alert(ends_at: datetime | None = None, target: str = TARGET) -> list[dict]:
    """What Prometheus posts for the documented rule ``OutboundSpamBurst`` firing (or resolved)."""
    alert = {
        "labels": {"alertname": "OutboundSpamBurst", "enforce": "true", "violation": "spam", "ttl": "24h",
                   "src_ip": target},
        "annotations": {"summary": f"{target} opened 93 SMTP connections/min"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
    }  # fmt: skip
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return [alert]


def _active(serve: str, reader: str, target: str = TARGET) -> list[dict]:
    r = httpx.get(f"{serve}/v1/decisions", headers={"Authorization": f"Bearer {reader}"}, timeout=5)
    r.raise_for_status()
    return [d for d in r.json() if d["target"] == f"{target}/32"]


@contextmanager
def _documented_alertmanager(serve: str, secret: str, tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager running docs/detectors.md's file (URL and token path changed); its base URL."""
    (tmp_path / "enforcer.token").write_text(secret)
    config = tmp_path / "alertmanager.yml"
    documented = doc_block("# alertmanager.yml")
    config.write_text(documented.replace("https://enforcer.example.net", serve)
                      .replace("/etc/alertmanager/enforcer.token", str(tmp_path / "enforcer.token")))  # fmt: skip
    port = free_port()
    am = f"http://127.0.0.1:{port}"
    cmd = ["prometheus-alertmanager", f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug"]  # fmt: skip
    with daemon(cmd, tmp_path / "alertmanager.log", answers(f"{am}/-/ready")):
        yield am


def test_alertmanager_fires_and_resolves_a_spam_block_through_enforcer(serve, token, settings, tmp_path: Path):
    secret = token("alertmanager", "detector", ["spam", "scanning", "intrusion"])
    reader = token("noc-grafana", "reader")
    with _documented_alertmanager(serve, secret, tmp_path) as am:
        httpx.post(f"{am}/api/v2/alerts", json=_alert(), timeout=5).raise_for_status()
        wait_for(lambda: _active(serve, reader), timeout=60, what="Alertmanager's alert became a decision")
        [decision] = _active(serve, reader)
        assert (decision["violation"], decision["source"], decision["actor"]) == ("spam", "alertmanager",
                                                                                 "alertmanager")  # fmt: skip
        fw = settings.output / "fw1.nft"
        wait_for(lambda: fw.exists() and TARGET in fw.read_text(), timeout=60, what="the block on fw1")

        # Resolve as Prometheus does: the same alert with endsAt in the past. Alertmanager sends the
        # resolved notification at the group's next flush (group_interval: 30s in the documented config).
        httpx.post(f"{am}/api/v2/alerts", json=_alert(ends_at=datetime.now(UTC) - timedelta(seconds=1)),
                   timeout=5).raise_for_status()  # fmt: skip
        wait_for(lambda: not _active(serve, reader), timeout=120, what="the resolved alert ended the decision")
        wait_for(lambda: TARGET not in fw.read_text(), timeout=60, what="the block left fw1")


def test_a_second_host_under_a_firing_alert_name_is_its_own_group_not_held_for_the_next_flush(
        serve, token, tmp_path: Path):  # fmt: skip
    """Grouped by ``alertname``, a second host of an alert already firing joins the group and waits for
    its next flush (``group_interval``: 28-29 s in bench/detector_latency.py --same-group). The documented
    ``group_by: ['...']`` makes each alert its own group, sent at once (``group_wait: 0s``)."""
    secret = token("alertmanager", "detector", ["spam"])
    reader = token("noc-grafana", "reader")
    second = "192.0.2.78"
    with _documented_alertmanager(serve, secret, tmp_path) as am:
        httpx.post(f"{am}/api/v2/alerts", json=_alert(), timeout=5).raise_for_status()
        wait_for(lambda: _active(serve, reader), timeout=60, what="the first host's decision")
        httpx.post(f"{am}/api/v2/alerts", json=_alert(target=second), timeout=5).raise_for_status()
        wait_for(lambda: _active(serve, reader, second), timeout=60, what="the second host's decision")
        groups = httpx.get(f"{am}/api/v2/alerts/groups", timeout=5).json()
        mine = [g for g in groups if g["receiver"]["name"] == "enforcer"]
        assert sorted(a["labels"]["src_ip"] for g in mine for a in g["alerts"]) == [TARGET, second]
        assert len(mine) == 2, "two hosts under one alert name must be two groups, each sent at once"
