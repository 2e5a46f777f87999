"""SLO targets: the objective of the fleet, of a group or of a store (a store's own applies,
else the strictest of its groups', else the fleet's), and what the SLOs' alerts were last
evaluated at (the data's version, the targets and the rule's settings; NULL: never).

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
                    sa.Column("objective_pct", sa.Float, nullable=False),
                    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
                    sa.CheckConstraint("scope IN ('fleet', 'group', 'store')", name="slo_targets_scope"),
                    sa.CheckConstraint("objective_pct BETWEEN 1 AND 99.999", name="slo_targets_objective"))
    with op.batch_alter_table("incident_watch") as batch:
        batch.add_column(sa.Column("slo_evaluated", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("incident_watch") as batch:
        batch.drop_column("slo_evaluated")
    op.drop_table("slo_targets")
