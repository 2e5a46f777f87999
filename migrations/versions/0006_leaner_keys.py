"""Leaner keys for loads: business hours without a foreign key to stores, like polls (the
loader creates a load's stores in the same transaction, and checking the key cost a lookup
per row: 0.4-0.6 s of a full replace of the real hours); polls_by_store on store alone (a
store's polls are a few thousand at most, and the index builds in 0.6 s instead of 1.0 s
after a first load of 2M polls).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

POSTGRES_NAME = "business_hours_store_fkey"  # PostgreSQL's own name for the key 0001 made
# SQLite keeps the key unnamed; batch mode finds it by this convention.
SQLITE_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_NAME = "fk_business_hours_store_stores"


def upgrade() -> None:
    op.drop_index("polls_by_store", table_name="polls")
    op.create_index("polls_by_store", "polls", ["store"])
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(POSTGRES_NAME, "business_hours", type_="foreignkey")
    else:
        with op.batch_alter_table("business_hours", recreate="always", naming_convention=SQLITE_NAMING) as batch:
            batch.drop_constraint(SQLITE_NAME, type_="foreignkey")


def downgrade() -> None:
    op.drop_index("polls_by_store", table_name="polls")
    op.create_index("polls_by_store", "polls", ["store", "ts_us"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(POSTGRES_NAME, "business_hours", "stores", ["store"], ["id"], ondelete="CASCADE")
    else:
        with op.batch_alter_table("business_hours", recreate="always") as batch:
            batch.create_foreign_key(SQLITE_NAME, "stores", ["store"], ["id"], ondelete="CASCADE")
