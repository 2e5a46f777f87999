"""The store directory and report options: each store's display name and group labels
(``key:value``, such as ``region:west``), and what a report was asked for: the extended
columns (no data beside up and down), and one group's stores only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("name", sa.Text))
    op.create_table("store_groups",
                    sa.Column("store", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("label", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), primary_key=True))
    op.create_index("store_groups_by_label", "store_groups", ["label", "store"])
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("extended", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("store_group", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("store_group")
        batch.drop_column("extended")
    op.drop_index("store_groups_by_label", "store_groups")
    op.drop_table("store_groups")
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("name")
