"""SLO targets: the objective of the fleet, of a group or of a store (the most specific one
applies), and the data version the SLOs' alerts were last evaluated at (NULL: never, or the
targets changed since).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("slo_targets",
                    sa.Column("scope", sa.String(8), primary_key=True),
                    sa.Column("name", sa.Text, primary_key=True),
                    sa.Column("objective", sa.Float, nullable=False),
                    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    with op.batch_alter_table("incident_watch") as batch:
        batch.add_column(sa.Column("slo_version", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("incident_watch") as batch:
        batch.drop_column("slo_version")
    op.drop_table("slo_targets")
