"""Incidents and their notifications: incidents (a store down or silent, the poller silent),
the data version they were last evaluated at, webhook endpoints and their deliveries.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_OPEN = sa.text("resolved_us IS NULL")
_PENDING = sa.text("status = 'pending'")


def _at(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table("incidents",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("store", sa.Integer, nullable=False),  # 0: the poller's
                    sa.Column("kind", sa.String(16), nullable=False),
                    sa.Column("opened_us", sa.BigInteger, nullable=False),
                    sa.Column("opened_poll_us", sa.BigInteger),
                    sa.Column("resolved_us", sa.BigInteger),
                    sa.Column("resolved_poll_us", sa.BigInteger),
                    _at("noticed_at", False), _at("resolved_at"))
    op.create_index("incidents_open", "incidents", ["kind", "store"], unique=True,
                    postgresql_where=_OPEN, sqlite_where=_OPEN)
    op.create_index("incidents_by_store", "incidents", ["store", "opened_us"])
    op.create_index("incidents_recent", "incidents", ["opened_us"])
    op.create_table("incident_watch",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("version", sa.BigInteger, nullable=False),
                    _at("evaluated_at", False))
    op.create_table("webhooks",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("url", sa.Text, nullable=False),
                    sa.Column("secret", sa.Text, nullable=False),
                    sa.Column("kinds", sa.Text),
                    sa.Column("store_ids", sa.Text),
                    sa.Column("groups", sa.Text),
                    sa.Column("slack", sa.Boolean, nullable=False, server_default=sa.false()),
                    sa.Column("reminder_s", sa.Integer),
                    _at("created_at", False), _at("reminded_at"))
    op.create_table("deliveries",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("webhook", sa.Integer, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
                    sa.Column("message_id", sa.String(40), nullable=False, unique=True),
                    sa.Column("event", sa.String(32), nullable=False),
                    sa.Column("incidents", sa.Integer, nullable=False),
                    sa.Column("body", sa.LargeBinary, nullable=False),
                    _at("created_at", False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
                    _at("next_attempt_at"), _at("last_attempt_at"),
                    sa.Column("last_status", sa.Integer),
                    sa.Column("last_error", sa.Text),
                    _at("delivered_at"))
    op.create_index("deliveries_by_webhook", "deliveries", ["webhook", "id"])
    op.create_index("deliveries_pending", "deliveries", ["next_attempt_at"], postgresql_where=_PENDING,
                    sqlite_where=_PENDING)


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("webhooks")
    op.drop_table("incident_watch")
    op.drop_table("incidents")
