"""Indexes for the intake guardrail counts (issue 12.5): each count reads its rows, not the table.

* ``ix_decisions_key``: the decision in force for an idempotency key (the partial unique index
  cannot serve a query whose ``status IN (...)`` is bound, not literal);
* ``ix_decisions_recent``: the flood breaker's automatic decisions of the last minute;
* ``ix_decisions_source_recent``: the same, for one source and caller.

Revision ID: 0003i
"""

from alembic import op

revision = "0003i"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_decisions_key", "decisions", ["idempotency_key"])
    op.create_index("ix_decisions_recent", "decisions", ["automatic", "created_at"])
    op.create_index("ix_decisions_source_recent", "decisions", ["source", "actor", "created_at"])


def downgrade() -> None:
    for name in ("ix_decisions_source_recent", "ix_decisions_recent", "ix_decisions_key"):
        op.drop_index(name, table_name="decisions")
