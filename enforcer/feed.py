"""The store's change feed: every enforcement row carries the change serial of the transaction that
last wrote it, so a reader asks for "the rows changed since serial S" instead of every active row.

``enforcer serve`` reads each device's desired set on every wake of its worker. Reading every
active row's id and expiry for that (``Store.active_keys``, 10,000 rows parsed per wake) made one
more decision cost as much as the whole set. With the stamp, a wake reads the rows the change
wrote and nothing else (:mod:`enforcer.desired`).

The stamp is set by the database, not by Python: a trigger on insert and on every change of
``status`` or ``expires_at`` (what moves a row in or out of the desired set), copying the serial
row's value. Every transaction that writes an enforcement moves the serial before it writes the
rows (:func:`enforcer.store._count_changes` bumps it ahead of the flush or bulk statement), so a
row carries its own transaction's serial whichever method wrote it — an ORM flush, an intake
batch's bulk INSERT, a holder's bulk UPDATE of expiries. A reader that read serial S first and
then the rows changed since its last serial sees every transaction up to S: the serial row is
written by each writer in turn (SQLite's one writer, PostgreSQL's row lock), in commit order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DDL

#: SQLite: an AFTER trigger writes the stamp (a BEFORE trigger cannot change the new row there).
#: The stamp's own UPDATE names neither watched column, so it fires nothing again. An INSERT that
#: carries its stamp already (the intake batch's bulk INSERT, :mod:`enforcer.batch`) is not written
#: twice: the UPDATE per row was half of storing 10,000 enforcements.
_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS enforcements_changed_insert AFTER INSERT ON enforcements "
    "WHEN NEW.changed IS NULL BEGIN "
    "UPDATE enforcements SET changed = (SELECT value FROM serial WHERE id = 1) WHERE id = NEW.id; END",
    "CREATE TRIGGER IF NOT EXISTS enforcements_changed_update AFTER UPDATE OF status, expires_at ON enforcements "
    "BEGIN UPDATE enforcements SET changed = (SELECT value FROM serial WHERE id = 1) WHERE id = NEW.id; END",
)
#: PostgreSQL: one BEFORE trigger sets the new row's stamp in place.
_POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION enforcements_stamp_changed() RETURNS trigger AS $$ BEGIN "
    "NEW.changed := (SELECT value FROM serial WHERE id = 1); RETURN NEW; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS enforcements_changed ON enforcements",
    "CREATE TRIGGER enforcements_changed BEFORE INSERT OR UPDATE OF status, expires_at ON enforcements "
    "FOR EACH ROW EXECUTE FUNCTION enforcements_stamp_changed()",
)
_DROP = {
    "sqlite": ("DROP TRIGGER IF EXISTS enforcements_changed_insert",
               "DROP TRIGGER IF EXISTS enforcements_changed_update"),
    "postgresql": ("DROP TRIGGER IF EXISTS enforcements_changed ON enforcements",
                   "DROP FUNCTION IF EXISTS enforcements_stamp_changed()"),
}


def statements(dialect: str) -> tuple[str, ...]:
    """The DDL that makes the database stamp every enforcement write (nothing for other dialects:
    their readers never find a stamped row and read in full, as :mod:`enforcer.desired` does first)."""
    return {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}.get(dialect, ())


def drop_statements(dialect: str) -> tuple[str, ...]:
    return _DROP.get(dialect, ())


def install(table: Any) -> None:
    """Stamp the rows of a newly created ``enforcements`` table (a new store is created whole, no
    migration runs: :mod:`enforcer.migrate`)."""
    from sqlalchemy import event

    for dialect in ("sqlite", "postgresql"):
        for sql in statements(dialect):
            event.listen(table, "after_create", DDL(sql).execute_if(dialect=dialect))
