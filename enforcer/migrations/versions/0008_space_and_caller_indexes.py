"""Two reads that grew with the active set on PostgreSQL get an index of their own rows (issue 12.5).

* ``ix_decisions_space`` (PostgreSQL only): the blackhole-space guardrail counts the automatic
  decisions in force inside a customer's prefixes by ``target LIKE 'prefix%'`` (``Tx.automatic_within``,
  on every automatic intake). Under a collation other than C (``C.UTF-8`` included) no btree index
  of ``target`` can answer a LIKE, so PostgreSQL read every live decision. ``text_pattern_ops``
  compares byte by byte as LIKE matches; partial, it holds the automatic live decisions only, the
  rows counted. SQLite gets none: its LIKE is case-insensitive, which no index of a BINARY column
  answers, and it reads the automatic decisions by ``ix_decisions_recent`` as before.
* ``ix_holders_caller`` (both): the holds of one caller (``Store.holds``, CrowdSec's startup
  stream) were found by reading every live decision and probing its holders.

``tests/test_query_plans.py`` holds both reads to these indexes.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: As the models create them (``enforcer.tables.SPACE_OPS``/``SPACE_SQL``), spelled here so that this
#: revision stays what it was when the models change; tests/test_migrations_indexes.py compares them.
SPACE_OPS = {"target": "text_pattern_ops"}
SPACE_SQL = sa.text("automatic IS true AND status IN ('active', 'pending')")


def _present(table: str) -> set[str]:
    return {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    """Each one where missing, as 0004: a store whose tables a newer create-missing step made has it."""
    if op.get_bind().dialect.name == "postgresql" and "ix_decisions_space" not in _present("decisions"):
        op.create_index(
            "ix_decisions_space", "decisions", ["target"], postgresql_ops=SPACE_OPS, postgresql_where=SPACE_SQL
        )
    if "ix_holders_caller" not in _present("holders"):
        op.create_index("ix_holders_caller", "holders", ["source", "actor"])


def downgrade() -> None:
    if "ix_decisions_space" in _present("decisions"):
        op.drop_index("ix_decisions_space", table_name="decisions")
    op.drop_index("ix_holders_caller", table_name="holders")
