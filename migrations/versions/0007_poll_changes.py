"""Every change to the polls is numbered, so a report can read only what changed since the
last one: polls.seq (the change that stored the poll), polls.overridden_seq (the change that
turned it inactive, SPEC's "inactive wins"), data_version (the counter, and an epoch that is
new whenever the counter starts afresh) and poll_deletions (what retention removed, by change).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    version = op.create_table("data_version",
                              sa.Column("id", sa.Integer, primary_key=True),
                              sa.Column("epoch", sa.String(32), nullable=False),
                              sa.Column("seq", sa.BigInteger, nullable=False))
    op.bulk_insert(version, [{"id": 1, "epoch": secrets.token_hex(16), "seq": 0}])
    op.create_table("poll_deletions",
                    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
                    sa.Column("before_us", sa.BigInteger, nullable=False))
    # Polls stored before this migration count as change 0, which every reader has seen or reads whole.
    op.add_column("polls", sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("polls", sa.Column("overridden_seq", sa.BigInteger))
    op.create_index("polls_by_seq", "polls", ["seq"])
    op.create_index("polls_overridden", "polls", ["overridden_seq"],
                    postgresql_where=sa.text("overridden_seq IS NOT NULL"),
                    sqlite_where=sa.text("overridden_seq IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("polls_overridden", table_name="polls")
    op.drop_index("polls_by_seq", table_name="polls")
    op.drop_column("polls", "overridden_seq")
    op.drop_column("polls", "seq")
    op.drop_table("poll_deletions")
    op.drop_table("data_version")
