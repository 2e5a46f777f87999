"""Polls by store: one store's timeline reads its own polls, not a range of everyone's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("polls_by_store", "polls", ["store", "ts_us"])


def downgrade() -> None:
    op.drop_index("polls_by_store", table_name="polls")
