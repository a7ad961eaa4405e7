"""Drop the indexes a composite index covers (issue 12.6): every insert paid their upkeep for nothing.

Storing 10,000 decisions writes 10,000 rows to each index of ``enforcements`` and ``holders``, and
index upkeep was 38 % of what storing left. Each index dropped here leads another one:

* ``ix_enforcements_status``: ``ix_enforcements_due`` (status, expires_at) answers every read by
  status (the active set and its keys, sorted by id in Python, and the active count);
* ``ix_enforcements_expires_at``: no read asks by expiry alone; the expiry sweep asks by status
  and expiry, which ``ix_enforcements_due`` answers;
* ``ix_holders_decision_id``: ``uq_holders_cause`` (decision_id, source, actor, cause) leads with it.

``ix_decisions_status`` stays: the holds of one caller (its join) and the current decisions read by it.
``tests/test_query_plans.py`` holds each hot read to an index on SQLite and PostgreSQL.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: index → (table, its columns), as the models of before this revision created them.
DROPPED = {
    "ix_enforcements_status": ("enforcements", ["status"]),
    "ix_enforcements_expires_at": ("enforcements", ["expires_at"]),
    "ix_holders_decision_id": ("holders", ["decision_id"]),
}


def upgrade() -> None:
    """Each one where present: a store whose tables a newer create-missing step made has none of them."""
    inspector = sa.inspect(op.get_bind())
    for name, (table, _) in DROPPED.items():
        if name in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, (table, columns) in DROPPED.items():
        op.create_index(name, table, columns)
