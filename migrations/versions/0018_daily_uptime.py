"""Trends: each store's uptime and downtime of each UTC day, as a report as of the next midnight
computes them (kept, so that 90 days of a fleet are read, not recomputed), and the stores
version they were computed at (a change of hours, zones or calendar computes them again).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("daily_uptime",
                    sa.Column("store", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("up_us", sa.BigInteger, nullable=False),
                    sa.Column("down_us", sa.BigInteger, nullable=False),
                    sa.Column("stores_version", sa.BigInteger, nullable=False))
    op.create_index("daily_uptime_by_day", "daily_uptime", ["day"])


def downgrade() -> None:
    op.drop_table("daily_uptime")
