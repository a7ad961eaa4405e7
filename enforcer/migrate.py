"""Bring a store's schema to the current revision at start-up (Alembic, migrations in the package).

A new store is created whole and stamped; a store from before migrations were managed is
stamped with the first revision and upgraded; any other is upgraded. Then any table a newer
module added (with no migration of its own yet) is created. PostgreSQL: instances starting
together take turns (an advisory lock), so one upgrades and the others find it done.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from .tables import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The revision a store made before Alembic is at.
BEFORE_ALEMBIC = "0001"
#: PostgreSQL advisory lock held while one instance migrates ("enfm").
MIGRATE_LOCK = 0x656E666D


def config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config(None)).get_current_head()  # type: ignore[arg-type]


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Create, stamp or upgrade the schema, in one transaction."""
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


def _migrate(conn: Connection) -> None:
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
