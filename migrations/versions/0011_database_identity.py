"""The database's identity: a random id made once, which names the RQ queue of its reports.

Two deployments sharing one Redis (a demo beside production, staging beside it) each had a
worker take the other's jobs, which then failed with "no report ... in the database". The
queue is now named after the database (``RQ_QUEUE`` then ``.`` and this id), so a worker only
ever sees its own database's jobs, whatever URL or host name each process reaches it by; a
copy of the database (a restore, a dump loaded elsewhere) keeps the id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table("database_identity",
                            sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
                            sa.Column("database_id", sa.Text, nullable=False))
    op.bulk_insert(table, [{"id": 1, "database_id": secrets.token_hex(4)}])


def downgrade() -> None:
    op.drop_table("database_identity")
