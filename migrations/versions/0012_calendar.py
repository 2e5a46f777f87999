"""Special hours of a store on a local date, and the chain's holidays.

A restaurant's year has dates its weekly hours do not describe: Christmas closed, short hours
on Christmas Eve, a closure for a renovation. A date's rows replace the weekly hours that would
have started on it: a store's special hours first, else the holidays of that date (SPEC,
"Special hours, holidays and closures"). A row with start and end -1 closes the whole date.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("special_hours",
                    sa.Column("store", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("date", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("start_s", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("end_s", sa.Integer, primary_key=True, autoincrement=False))
    op.create_index("special_hours_by_date", "special_hours", ["date"])
    op.create_table("holidays",
                    sa.Column("date", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("start_s", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("end_s", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("name", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_table("holidays")
    op.drop_index("special_hours_by_date", "special_hours")
    op.drop_table("special_hours")
