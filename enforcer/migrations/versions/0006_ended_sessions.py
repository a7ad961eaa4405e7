"""Console sessions ended by logout (``ended_sessions``): a copied cookie dies at logout, not 12 h later.

The console's session cookie is signed and stateless; each now carries a random session id, and
logout records it here with the cookie's own expiry, so that every instance sharing the store
refuses it (:class:`enforcer.console.session.Sessions`). Rows are swept once that expiry passes.
Created only where missing, as 0003: a store whose tables the create-missing step made has it.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ended_sessions" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "ended_sessions",
        sa.Column("sid", sa.String(32), primary_key=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_ended_sessions_expires_at", "ended_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("ended_sessions")
