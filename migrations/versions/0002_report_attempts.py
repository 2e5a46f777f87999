"""Reports count their attempts, and the unsettled ones are found by an index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UNSETTLED = sa.text("status IN ('Pending', 'Running')")


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.create_index("reports_unsettled", "reports", ["created_at"],
                    postgresql_where=_UNSETTLED, sqlite_where=_UNSETTLED)


def downgrade() -> None:
    op.drop_index("reports_unsettled", "reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("attempts")
