"""Atomic intake and ownership by causes (issue 10).

* ``decisions.automatic``: from a detector (the flood breaker counts these only); existing rows
  from a hook source are marked automatic;
* an idempotency key is unique only among current decisions (a partial unique index instead of
  the column's UNIQUE), so a key dies with the decision it created;
* ``holders``: the causes holding each decision; every current decision is held by its opener;
* ``device_leases``: who pushes each device, until when (one pusher per device).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('active', 'pending')")
#: Names for the constraints enforcer's first schema left unnamed, so batch mode can drop one.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("decisions", naming_convention=NAMING, recreate="auto") as batch:
        batch.add_column(sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.drop_constraint(_old_key_constraint(), type_="unique")
    op.create_index("ix_decisions_live_key", "decisions", ["idempotency_key"], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)
    op.execute("UPDATE decisions SET automatic = (source NOT IN ('cli', 'api', 'operator'))")
    op.create_table(
        "holders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("decisions.id"), nullable=False, index=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("decision_id", "source", "actor", "cause", name="uq_holders_cause"),
    )
    op.create_table(
        "device_leases",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO holders (decision_id, source, actor, cause, since, refreshed_at) "
        "SELECT id, source, actor, '', created_at, created_at FROM decisions WHERE status IN ('active', 'pending')"
    )


def downgrade() -> None:
    op.drop_table("device_leases")
    op.drop_table("holders")
    op.drop_index("ix_decisions_live_key", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("automatic")
        batch.create_unique_constraint("uq_decisions_idempotency_key", ["idempotency_key"])


def _old_key_constraint() -> str:
    """PostgreSQL named the column's UNIQUE itself; on SQLite the naming convention names it."""
    return "decisions_idempotency_key_key" if op.get_bind().dialect.name == "postgresql" else (
        "uq_decisions_idempotency_key")
