"""Timezones keep their history, as weekly hours do (0013): each version of a store's zone has
the local date it takes effect, so a store that moves zone keeps its past dates in the old
one. The zones stored so far become each store's first version (0: since the start), which
holds on every date before a later one; ``stores.timezone`` keeps the newest.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("timezone_history",
                    sa.Column("store", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("effective_date", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("timezone", sa.Text))
    op.execute("INSERT INTO timezone_history (store, effective_date, timezone)"
               " SELECT id, 0, timezone FROM stores WHERE timezone IS NOT NULL")


def downgrade() -> None:  # (stores.timezone holds each store's newest zone)
    op.drop_table("timezone_history")
