"""The blackhole-space guardrail's read on PostgreSQL at 0 and N live decisions, with and without
``ix_decisions_space`` (migration 0008): what ``EXPLAIN ANALYZE`` says it read and how long it ran.

The statement is the one ``Tx.automatic_within`` sends (captured, not copied) for one customer
/24 that holds none of the N automatic /32s, run three times, the last one reported. It leaves
out everything around the read (the rest of intake, the network round trip). The N decisions are
inserted by SQL (``generate_series``), not through intake: the read is measured, not the storing.

    .venv/bin/python bench/space_query.py --pg URL [--decisions 100000]

The database's public schema is dropped: name one the script may wipe (``scripts/postgres.sh start``).
"""

from __future__ import annotations

import argparse
from ipaddress import ip_network

from sqlalchemy import create_engine, event

from enforcer.model import now
from enforcer.store import Store

FILL = """INSERT INTO decisions (target, violation, source, actor, reason, forced, step, clause, automatic,
  created_at, status)
SELECT '10.' || mod(i / 65536, 256) || '.' || mod(i / 256, 256) || '.' || mod(i, 256) || '/32', 'ddos-victim',
  'fastnetmon', 'fnm-1', '', false, 0, '', true, now(), 'active' FROM generate_series(1, {n}) i"""


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
    sent = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        if " LIKE " in statement:
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    with store.write() as tx:
        tx.automatic_within([ip_network("198.51.100.0/24")], now())
    event.remove(store.engine, "before_cursor_execute", keep)
    [(statement, parameters)] = sent
    with store.engine.connect() as conn:
        for _ in range(3):
            plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
    store.engine.dispose()
    scan = next(line.strip() for line in plan if "Scan" in line).split("  (")[0]
    executed = plan[: next(i for i, line in enumerate(plan) if line.startswith("Planning"))]
    buffers = next((line.strip() for line in executed if "Buffers" in line), "Buffers: none read")
    ran = next(line for line in plan if line.startswith("Execution Time"))
    return f"{scan}; {buffers}; {ran}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True, help="a PostgreSQL URL the bench may wipe")
    ap.add_argument("--decisions", type=int, default=100000)
    args = ap.parse_args()
    for n in (0, args.decisions):
        for index in (False, True):
            label = "with ix_decisions_space" if index else "without (before 0008)"
            print(f"{n:>7} live  {label:<24} {measure(args.pg, n, index)}")


if __name__ == "__main__":
    main()
