"""The schema, shaped for the report's read.

Timestamps are int8 microseconds since the Unix epoch: exact, compact, the same in
PostgreSQL and SQLite, and they land in NumPy without conversion. Stores get a
compact integer key so the 2M-row polls table carries 4 bytes a row, not a UUID.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String,
                        Text, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(Text, unique=True)
    # As given in timezones.csv; NULL when the store has no row. Unknown names are
    # kept too and fall back to America/Chicago when a report is computed.
    timezone: Mapped[str | None] = mapped_column(Text)
    # Earliest poll ever stored, so a report can list every store polled at or before
    # as_of while reading only the 8-day lookback of the polls table.
    first_poll_us: Mapped[int | None] = mapped_column(BigInteger)


class BusinessHours(Base):
    """A store's weekly business hours, one row an interval. No foreign key to stores, as for
    polls: the loader creates the stores in the same transaction, and checking the key would
    cost a lookup per row."""

    __tablename__ = "business_hours"

    store: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 0 = Monday
    start_s: Mapped[int] = mapped_column(Integer, primary_key=True)  # local seconds after midnight
    end_s: Mapped[int] = mapped_column(Integer, primary_key=True)


class Poll(Base):
    """One status poll. The key leads with time so the report's 8-day range is one index range scan.

    No foreign key to stores: checking it would cost a lookup per row on hourly bulk loads,
    and the loader creates the store rows in the same transaction.
    """

    __tablename__ = "polls"
    # by store: a store page reads one store's polls, a few thousand at most (the loader
    # rebuilds it after a large load)
    __table_args__ = (
        Index("polls_by_store", "store"),
        # what changed since a report last read: new polls, and those turned inactive (few)
        Index("polls_by_seq", "seq"),
        Index("polls_overridden", "overridden_seq", postgresql_where=text("overridden_seq IS NOT NULL"),
              sqlite_where=text("overridden_seq IS NOT NULL")),
        {"sqlite_with_rowid": False},
    )

    ts_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    store: Mapped[int] = mapped_column(Integer, primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    # The numbered change (data_version.seq) that stored this poll, and the one that turned it
    # inactive (an inactive poll arriving for a stored active one); NULL if none did.
    seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    overridden_seq: Mapped[int | None] = mapped_column(BigInteger)


class DataVersion(Base):
    """One row counting the changes to the polls: every load that stores polls and every
    retention batch takes the next number, in commit order (each holds this row until it
    commits). A new epoch means the count started afresh (a new database, the row removed),
    so nothing numbered under an older epoch may be trusted."""

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)


class PollDeletion(Base):
    """Retention's batches: change ``seq`` deleted every poll before ``before_us``."""

    __tablename__ = "poll_deletions"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    before_us: Mapped[int] = mapped_column(BigInteger)


class Report(Base):
    """A requested report; the durable home of its status and CSV (Redis only caches it)."""

    __tablename__ = "reports"
    __table_args__ = (
        # the periodic sweep looks for reports that are not settled yet, among many that are
        Index("reports_unsettled", "created_at", postgresql_where=text("status IN ('Pending', 'Running')"),
              sqlite_where=text("status IN ('Pending', 'Running')")),
        Index("reports_newest", "created_at", "id"),  # history, newest first
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # Pending, Running, Complete, Failed (storemon/reports/lifecycle.py)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")  # how many times a job started on it
    requested_as_of_us: Mapped[int | None] = mapped_column(BigInteger)
    as_of_us: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when a job first took it
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    row_count: Mapped[int | None] = mapped_column(Integer)  # stores listed in the CSV
    error: Mapped[str | None] = mapped_column(Text)
    csv: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A sharded report's CSV is the header and the rows of this run's parts (ReportPart).
    parts_attempt: Mapped[int | None] = mapped_column(Integer)


class ReportPart(Base):
    """The CSV rows (no header) of one part of a sharded report, as one run of it planned them."""

    __tablename__ = "report_parts"

    report_id: Mapped[str] = mapped_column(String(64), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    row_count: Mapped[int] = mapped_column(Integer)
    rows: Mapped[bytes] = mapped_column(LargeBinary)


class ApiToken(Base):
    """A bearer token for the API; only its SHA-256 is kept (storemon/database/tokens.py)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated: ingest, report, admin
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
