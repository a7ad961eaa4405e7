"""A list's enforcements carry their change serial from the INSERT: SQLite writes each row once.

The change feed's SQLite trigger stamps a new enforcement row with an UPDATE after its INSERT
(:mod:`enforcer.feed`): storing 10,000 decisions wrote 10,000 rows twice, half of the
enforcements' insert. The intake batch now stamps in the INSERT and the trigger skips rows that
carry a stamp; a row written any other way is still stamped by the trigger. Counted with a
trigger of the test's own on every write of the stamp.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from enforcer import service
from enforcer.model import Decision
from enforcer.settings import REPO_ROOT, Settings

HOSTS = "edge1: {platform: frr, role: edge, transport: offline, bgp_asn: 64500}\n"
SETTINGS = "guardrails: {max_new_per_minute: 100000, max_active: 100000}\n"


@pytest.fixture
def ctx(tmp_path: Path) -> service.Context:
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(HOSTS)
    (inv / "settings.yaml").write_text(SETTINGS)
    ctx = service.Context.open(Settings(inventory=inv, db=f"sqlite:///{tmp_path / 'e.db'}",
                                        playbooks=REPO_ROOT / "playbooks", output=tmp_path / "out"))
    with ctx.store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE stamp_writes (n INTEGER)")
        conn.exec_driver_sql("CREATE TRIGGER count_stamps AFTER UPDATE OF changed ON enforcements "
                             "BEGIN INSERT INTO stamp_writes VALUES (1); END")
    return ctx


def stamps(ctx) -> tuple[int, list[tuple[int, int | None]], int]:
    with ctx.store.engine.connect() as conn:
        writes = conn.execute(text("SELECT count(*) FROM stamp_writes")).scalar_one()
        rows = conn.execute(text("SELECT id, changed FROM enforcements ORDER BY id")).all()
        serial = conn.execute(text("SELECT value FROM serial WHERE id = 1")).scalar_one()
    return writes, [tuple(r) for r in rows], serial


def block(i: int) -> Decision:
    return Decision.model_validate({"target": f"198.19.{i // 250}.{i % 250 + 1}", "violation": "scanning",
                                    "actor": "noc"})


def test_a_list_of_decisions_is_stamped_by_its_insert_with_no_second_write_per_row(ctx):
    service.submit_many(ctx, [block(i) for i in range(300)])
    writes, rows, serial = stamps(ctx)
    assert len(rows) == 300
    assert writes == 0, f"{writes} rows written a second time to stamp them"
    assert {changed for _, changed in rows} == {serial}, "a row does not carry its transaction's serial"


def test_a_row_inserted_without_its_stamp_is_still_stamped_by_the_trigger(ctx):
    service.submit_many(ctx, [block(0)])
    before, _, _ = stamps(ctx)
    with ctx.store.engine.begin() as conn:  # as an ORM flush or an older writer inserts: no stamp given
        conn.exec_driver_sql("UPDATE serial SET value = value + 1 WHERE id = 1")
        conn.exec_driver_sql(
            "INSERT INTO enforcements (decision_id, action, target, violation, params, roles, comment, created_at, "
            "status) SELECT decision_id, action, '198.19.9.9/32', violation, params, roles, comment, created_at, "
            "status FROM enforcements LIMIT 1")
    writes, rows, serial = stamps(ctx)
    assert writes - before == 1 and rows[-1][1] == serial and rows[0][1] == serial - 1
