"""The blackhole-space guardrail's read on SQLite gets its own index (issue 12.5).

``Tx.automatic_within`` counts the automatic decisions in force inside a customer's prefixes on
every automatic intake. On SQLite it read every automatic decision ever stored: its ``LIKE`` is
case-insensitive, so no index of the case-sensitive ``target`` answers it, and left to itself
the planner read them by ``ix_decisions_recent`` (``automatic = 1``) even when the read was a range
of ``target`` that a partial index answered (it assumes an equality is more selective). Now the
read is a range of ``target`` over ``ix_decisions_space``, named with ``INDEXED BY`` (a statement
SQLite cannot run by that index fails to prepare instead of scanning): partial, it holds the
automatic live decisions only, the rows counted, as PostgreSQL's of migration 0008 does.

``tests/test_query_plans.py`` holds the read to this index; ``tests/test_migrations_indexes.py``
checks that an upgraded store and a new one have the same indexes.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: As the models create it (``enforcer.tables.SPACE_WHERE_SQLITE``), spelled here so that this
#: revision stays what it was when the models change; tests/test_migrations_indexes.py compares them.
SPACE_WHERE_SQLITE = "automatic = 1 AND status IN ('active', 'pending')"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _present() -> set[str]:
    return {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("decisions")}


def upgrade() -> None:
    """Where missing, as 0008: a store whose tables a newer create-missing step made has it."""
    if _sqlite() and "ix_decisions_space" not in _present():
        op.create_index("ix_decisions_space", "decisions", ["target"], sqlite_where=sa.text(SPACE_WHERE_SQLITE))


def downgrade() -> None:
    if _sqlite() and "ix_decisions_space" in _present():
        op.drop_index("ix_decisions_space", table_name="decisions")
