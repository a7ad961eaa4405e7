"""The blackhole-space guardrail's read at 0 and N decisions, with and without ``ix_decisions_space``.

PostgreSQL (``--pg URL``, migration 0008): what ``EXPLAIN ANALYZE`` says the read read and how
long it ran, with the index and without it. The statement is the one ``Tx.automatic_within``
sends (captured, not copied) for one customer /24 that holds none of the N automatic live /32s,
run three times, the last one reported. The database's public schema is dropped: name one the
script may wipe (``scripts/postgres.sh start``).

SQLite (``--sqlite``, migration 0009): the read ``Tx.automatic_within`` sends now (captured) beside
the one it sent before 0009 (``target LIKE 'prefix%'``, which SQLite's planner ran by
``ix_decisions_recent``: every automatic decision ever stored), each with its plan and the best
of five runs, over N automatic decisions of which nine in ten have ended (what a store that has
seen floods holds) and none inside the /24.

Both leave out everything around the read (the rest of intake, the network round trip). The N
decisions are inserted by SQL, not through intake: the read is measured, not the storing.

    .venv/bin/python bench/space_query.py --pg URL [--decisions 100000]
    .venv/bin/python bench/space_query.py --sqlite [--decisions 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from ipaddress import ip_network
from pathlib import Path

from sqlalchemy import create_engine, event

from enforcer.model import now
from enforcer.store import Store

FILL = """INSERT INTO decisions (target, violation, source, actor, reason, forced, step, clause, automatic,
  created_at, status)
SELECT '10.' || mod(i / 65536, 256) || '.' || mod(i / 256, 256) || '.' || mod(i, 256) || '/32', 'ddos-victim',
  'fastnetmon', 'fnm-1', '', false, 0, '', true, now(), 'active' FROM generate_series(1, {n}) i"""


def space_read(store: Store, marked: str) -> tuple[str, object]:
    """The statement (and parameters) ``Tx.automatic_within`` sends for one customer /24, captured:
    the one holding ``marked``."""
    sent = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        if marked in statement:
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    with store.write() as tx:
        tx.automatic_within([ip_network("198.51.100.0/24")], now())
    event.remove(store.engine, "before_cursor_execute", keep)
    [(statement, parameters)] = sent
    return statement, parameters


def measure(url: str, decisions: int, index: bool) -> str:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    store = Store(url)
    with store.engine.begin() as conn:
        if decisions:
            conn.exec_driver_sql(FILL.format(n=decisions))
        if not index:
            conn.exec_driver_sql("DROP INDEX ix_decisions_space")
        conn.exec_driver_sql("ANALYZE decisions")
    statement, parameters = space_read(store, " LIKE ")
    with store.engine.connect() as conn:
        for _ in range(3):
            plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
    store.engine.dispose()
    scan = next(line.strip() for line in plan if "Scan" in line).split("  (")[0]
    executed = plan[: next(i for i, line in enumerate(plan) if line.startswith("Planning"))]
    buffers = next((line.strip() for line in executed if "Buffers" in line), "Buffers: none read")
    ran = next(line for line in plan if line.startswith("Execution Time"))
    return f"{scan}; {buffers}; {ran}"


#: What ``Tx.automatic_within`` sent on SQLite before migration 0009 (SQLAlchemy's ``startswith``).
BEFORE_SQLITE = """SELECT decisions.id, decisions.target FROM decisions WHERE decisions.automatic IS 1
  AND decisions.status IN ('active', 'pending') AND (decisions.expires_at IS NULL OR decisions.expires_at > ?)
  AND (decisions.target LIKE ? || '%')"""

FILL_SQLITE = """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
INSERT INTO decisions (target, violation, source, actor, reason, forced, step, clause, automatic, created_at, status)
SELECT '10.' || ((i / 65536) % 256) || '.' || ((i / 256) % 256) || '.' || (i % 256) || '/32', 'ddos-victim',
  'fastnetmon', 'fnm-1', '', 0, 0, '', 1, '2026-12-01 00:00:00.000000',
  CASE WHEN i % 10 = 0 THEN 'active' ELSE 'expired' END FROM n"""


def measure_sqlite(decisions: int) -> list[str]:
    """The read now and before 0009 at ``decisions`` automatic decisions: plan, best of five, rows."""
    with tempfile.TemporaryDirectory(prefix="enforcer-space-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'store.db'}")
        if decisions:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(FILL_SQLITE.format(n=decisions))
        statement, parameters = space_read(store, "INDEXED BY")
        at = parameters[0] if isinstance(parameters, tuple) else parameters["at"]
        out = []
        for label, sql, args in (("now (0009)", statement, parameters),
                                 ("before 0009", BEFORE_SQLITE, (at, "198.51.100."))):  # fmt: skip
            with store.engine.connect() as conn:
                plan = " / ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, args))
                best = float("inf")
                for _ in range(5):
                    started = time.perf_counter()
                    rows = conn.exec_driver_sql(sql, args).all()
                    best = min(best, time.perf_counter() - started)
            out.append(f"{decisions:>7} automatic  {label:<12} {best * 1e3:8.3f} ms  {len(rows)} rows  {plan}")
        store.engine.dispose()
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--pg", help="a PostgreSQL URL the bench may wipe")
    where.add_argument("--sqlite", action="store_true", help="SQLite, in a temporary file")
    ap.add_argument("--decisions", type=int, default=100000)
    args = ap.parse_args()
    if args.sqlite:
        for n in (0, args.decisions):
            print("\n".join(measure_sqlite(n)))
        return
    for n in (0, args.decisions):
        for index in (False, True):
            label = "with ix_decisions_space" if index else "without (before 0008)"
            print(f"{n:>7} live  {label:<24} {measure(args.pg, n, index)}")


if __name__ == "__main__":
    main()
