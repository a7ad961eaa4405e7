"""Indexes for the intake guardrail counts (issue 12.5): each count reads its rows, not the table.

* ``ix_decisions_key``: the decision in force for an idempotency key (the partial unique index
  cannot serve a query whose ``status IN (...)`` is bound, not literal);
* ``ix_decisions_recent``: the flood breaker's automatic decisions of the last minute;
* ``ix_decisions_source_recent``: the same, for one source and caller.

Follows 0003 (merged from the safety branch); created where missing, as 0003 does its tables.

Revision ID: 0003i
"""

import sqlalchemy as sa
from alembic import op

INDEXES = {
    "ix_decisions_key": ["idempotency_key"],
    "ix_decisions_recent": ["automatic", "created_at"],
    "ix_decisions_source_recent": ["source", "actor", "created_at"],
}

revision = "0003i"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Each index where missing: a store whose tables the create-missing step made has them already."""
    have = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("decisions")}
    for name, columns in INDEXES.items():
        if name not in have:
            op.create_index(name, "decisions", columns)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="decisions")
