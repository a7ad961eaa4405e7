"""The schema as enforcer created it before migrations were managed (decisions, enforcements,
audit, applied, api_tokens). Nothing to do: a store of that age is stamped with this revision
and upgraded from here.

Revision ID: 0001
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
