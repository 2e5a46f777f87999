"""Initial schema: stores, business hours, polls, reports.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("store_id", sa.Text, nullable=False, unique=True),
        sa.Column("timezone", sa.Text),
        sa.Column("first_poll_us", sa.BigInteger),
    )
    op.create_table(
        "business_hours",
        sa.Column("store", sa.Integer, sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.SmallInteger, primary_key=True),
        sa.Column("start_s", sa.Integer, primary_key=True),
        sa.Column("end_s", sa.Integer, primary_key=True),
    )
    op.create_table(
        "polls",
        sa.Column("ts_us", sa.BigInteger, primary_key=True),
        sa.Column("store", sa.Integer, primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_as_of_us", sa.BigInteger),
        sa.Column("as_of_us", sa.BigInteger),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("csv", sa.LargeBinary),
    )


def downgrade() -> None:
    op.drop_table("reports")
    op.drop_table("polls")
    op.drop_table("business_hours")
    op.drop_table("stores")
