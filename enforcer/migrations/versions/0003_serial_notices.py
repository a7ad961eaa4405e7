"""The change serial (saved plans) and the customer-notice outbox, under migrations.

Both tables came in with the create-missing step of :mod:`enforcer.migrate`, without a migration:
a store at 0002 may therefore have them already (created by that step) or not. Each is created
only where missing; the serial gets its one row, as :class:`enforcer.tables.SerialRow` expects.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "serial" not in have:
        serial = op.create_table(
            "serial",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("value", sa.Integer(), nullable=False),
        )
        op.bulk_insert(serial, [{"id": 1, "value": 0}])
    if "notices" not in have:
        op.create_table(
            "notices",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("audit_id", sa.Integer(), nullable=False, unique=True),
            sa.Column("decision_id", sa.Integer(), nullable=True),
            sa.Column("customer", sa.String(64), nullable=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("recipient", sa.String(320), nullable=False),
            sa.Column("subject", sa.Text(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("html", sa.Text(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
            sa.Column("last_error", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("sent_at", sa.DateTime(), nullable=True),
        )
        op.create_index("ix_notices_decision_id", "notices", ["decision_id"])
        op.create_index("ix_notices_status", "notices", ["status"])
        op.create_index("ix_notices_next_attempt_at", "notices", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("notices")
    op.drop_table("serial")
