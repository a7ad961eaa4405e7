"""Bring a store's schema to the current revision at start-up (Alembic, migrations in the package).

A new store is created whole and stamped; a store from before migrations were managed is
stamped with the first revision and upgraded; any other is upgraded. Then any table a newer
module added (with no migration of its own yet) is created. PostgreSQL: instances starting
together take turns (an advisory lock), so one upgrades and the others find it done.

A store already at :data:`HEAD` with every table is left alone without importing Alembic (a
third of a second of ``enforcer block``'s start-up, issue 12.5): Alembic is imported only to
create, stamp or upgrade. Finding it so costs one statement (:func:`at_head`), which also reads
whatever else the opener needs to know (the store's change serial), so that opening a store at
the current revision is one read (``tests/test_migrations.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, false, func, inspect, literal, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from .tables import Base

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The revision a store made before Alembic is at.
BEFORE_ALEMBIC = "0001"
#: The newest revision under migrations/versions (tests/test_migrations.py checks it is Alembic's head).
HEAD = "0009"
#: PostgreSQL advisory lock held while one instance migrates ("enfm").
MIGRATE_LOCK = 0x656E666D


def config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config(None)).get_current_head()  # type: ignore[arg-type]


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def at_head(engine: Engine, also: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """The store is at :data:`HEAD` and has every table: the values of ``also`` (scalar
    subqueries the opener wants read in the same statement), else None (something to do).

    One statement, no Alembic: a zero-row read of every table (a missing one is an error, as the
    database reports it) and the revision table's row count and value (exactly one row, at HEAD).
    """
    version = table("alembic_version")
    probe = [select(func.count()).select_from(version).scalar_subquery(),
             select(func.max(text("version_num"))).select_from(version).scalar_subquery()]  # fmt: skip
    probe += [select(literal(1)).select_from(t).where(false()).scalar_subquery() for t in Base.metadata.sorted_tables]
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*probe, *also)).one()
    except SQLAlchemyError:  # a table missing, no alembic_version yet, or an unreachable database
        return None
    if (row[0], row[1]) != (1, HEAD):
        return None
    return tuple(row[len(probe):])


def migrate(engine: Engine, also: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """Create, stamp or upgrade the schema, in one transaction: ``also``'s values (:func:`at_head`)
    when the store was at the current revision already, else None."""
    found = at_head(engine, also)
    if found is not None:
        return found
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # A batch migration recreates tables that others reference: SQLite's foreign-key checks
            # would refuse the DROP, and the pragma cannot change inside a transaction.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})
                _migrate(conn)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    return None


def _migrate(conn: Connection) -> None:
    from alembic import command

    tables = set(inspect(conn).get_table_names())
    cfg = config(conn)
    if "decisions" not in tables:
        Base.metadata.create_all(conn)
        command.stamp(cfg, "head")
        return
    if "alembic_version" not in tables:
        command.stamp(cfg, BEFORE_ALEMBIC)
    command.upgrade(cfg, "head")
    Base.metadata.create_all(conn)  # tables added since, that no migration creates (yet)
