"""Weekly business hours keep their history: each version of a store's hours has the local
date it takes effect (``effective_date``, days since 1970-01-01), so a change of hours on a
Wednesday no longer rewrites the Monday before it. The hours stored so far become each
store's first version, which holds on every date before a later one (0: since the start).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _rebuild(columns: list[sa.Column], copied: str) -> None:
    """business_hours made again with these columns, its rows copied by ``copied`` (a SELECT)."""
    op.create_table("business_hours_new", *columns)
    op.execute(f"INSERT INTO business_hours_new {copied}")
    op.drop_table("business_hours")
    op.rename_table("business_hours_new", "business_hours")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE business_hours RENAME CONSTRAINT business_hours_new_pkey TO business_hours_pkey")


def _key(name: str, kind=sa.Integer) -> sa.Column:
    return sa.Column(name, kind, primary_key=True, autoincrement=False)


def upgrade() -> None:
    _rebuild([_key("store"), _key("effective_date"), _key("day", sa.SmallInteger), _key("start_s"), _key("end_s")],
             "SELECT store, 0, day, start_s, end_s FROM business_hours")


def downgrade() -> None:  # (the newest version of each store's hours is kept)
    _rebuild([_key("store"), _key("day", sa.SmallInteger), _key("start_s"), _key("end_s")],
             "SELECT store, day, start_s, end_s FROM business_hours h WHERE effective_date = "
             "(SELECT max(effective_date) FROM business_hours WHERE store = h.store)")
