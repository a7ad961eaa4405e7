"""Two ``enforcer serve`` instances on one store: every decision stored once and enforced once.

200 concurrent decisions, split between the two; both reconcile loops push the same (offline)
devices, one at a time under each device's lease. PostgreSQL only (``ENFORCER_TEST_PG``): several
instances are a PostgreSQL set-up; on one SQLite file, 4 of 200 such submits waited out SQLite's
30 s busy timeout (a 500) on this 2-core machine.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from enforcer import service
from enforcer.api.tokens import create_token
from enforcer.settings import REPO_ROOT, Settings
from enforcer.store import Base

from ..helpers import serve_process, wait_for
from .conftest import write_inventory

pytestmark = pytest.mark.postgres
TARGETS = [f"203.0.113.{i}" for i in range(1, 201)]


@pytest.fixture
def shared(tmp_path: Path) -> Settings:
    url = os.environ.get("ENFORCER_TEST_PG")
    if not url:
        pytest.fail("needs PostgreSQL: eval \"$(bash scripts/postgres.sh start)\" (exports ENFORCER_TEST_PG)")
    settings = Settings(inventory=write_inventory(tmp_path), db=url, playbooks=REPO_ROOT / "playbooks",
                        output=tmp_path / "out")
    store = service.Context.open(settings).store
    Base.metadata.drop_all(store.engine)
    Base.metadata.create_all(store.engine)
    return settings


def test_two_instances_store_and_enforce_200_concurrent_decisions_once(shared, tmp_path):
    token = create_token(service.Context.open(shared).store, "noc", "operator")
    options = ["--inventory", str(shared.inventory), "--db", shared.db, "--output", str(shared.output)]
    serve = ["--interval", "2", "--log-level", "warning"]
    with serve_process(options, serve, log=tmp_path / "a.log") as a, \
            serve_process(options, serve, log=tmp_path / "b.log") as b:

        def submit(i: int) -> int:
            url = (a, b)[i % 2]
            r = httpx.post(f"{url}/v1/decisions", json={"target": TARGETS[i], "violation": "malware-hosting"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=60)
            return r.status_code

        with ThreadPoolExecutor(20) as pool:
            assert list(pool.map(submit, range(200))) == [201] * 200

        edge = Path(shared.output) / "edge1.cfg"

        def converged() -> bool:
            text = edge.read_text() if edge.exists() else ""
            return all(text.count(f"ip route {t}/32 Null0") == 1 for t in TARGETS)

        wait_for(converged, timeout=120, what="all 200 null routes, once each, on edge1")
    ctx = service.Context.open(shared)
    assert sorted(d.target for d in ctx.store.decisions()) == sorted(f"{t}/32" for t in TARGETS)
    assert len(ctx.store.active_enforcements()) == 200
    pushes = [e for e in ctx.store.history(limit=1000) if e.action == "apply" and e.target == "edge1"]
    assert pushes, "no push of edge1 audited"
