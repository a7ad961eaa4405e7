"""Alembic's environment: always run in-process on a connection :mod:`enforcer.migrate` hands in."""

from __future__ import annotations

from alembic import context

from enforcer.tables import Base

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by recreating it; Alembic's batch mode does that for us.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
