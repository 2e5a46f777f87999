"""Reports record when their work started and how many stores they list; history is read newest first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("row_count", sa.Integer))
    op.create_index("reports_newest", "reports", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("reports_newest", "reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("row_count")
        batch.drop_column("started_at")
