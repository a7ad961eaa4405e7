"""The change feed (issue 12.4): each enforcement row carries the serial of its last write.

``enforcements.changed``, indexed, is set by a trigger (:mod:`enforcer.feed`) on every insert
and on every change of a row's status or expiry, so ``enforcer serve`` reads the rows changed
since the serial it last saw instead of every active row per wake. Rows written before this
revision keep a null stamp: a reader loads the active set in full once, then follows the feed.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

from enforcer import feed

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Where missing, as 0004: a store whose tables the create-missing step made has them already."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "changed" not in {c["name"] for c in inspector.get_columns("enforcements")}:
        op.add_column("enforcements", sa.Column("changed", sa.Integer(), nullable=True))
    if "ix_enforcements_changed" not in {ix["name"] for ix in inspector.get_indexes("enforcements")}:
        op.create_index("ix_enforcements_changed", "enforcements", ["changed"])
    for sql in feed.statements(bind.dialect.name):
        op.execute(sql)


def downgrade() -> None:
    for sql in feed.drop_statements(op.get_bind().dialect.name):
        op.execute(sql)
    op.drop_index("ix_enforcements_changed", table_name="enforcements")
    with op.batch_alter_table("enforcements") as batch:
        batch.drop_column("changed")
