"""The schema, shaped for the report's read.

Timestamps are int8 microseconds since the Unix epoch: exact, compact, the same in
PostgreSQL and SQLite, and they land in NumPy without conversion. Stores get a compact
integer key, so a store's row of polls carries 4 bytes for it, not a UUID.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, SmallInteger, String, Text, false, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .polls import FILL_PERCENT


class Base(DeclarativeBase):
    pass


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Compared byte by byte (PostgreSQL's "C" collation, SQLite's own), whatever the database's
    # default: the report's order of stores, so its unique index serves a range of them.
    store_id: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"), unique=True)
    # As given in timezones.csv; NULL when the store has no row. Unknown names are
    # kept too and fall back to America/Chicago when a report is computed.
    timezone: Mapped[str | None] = mapped_column(Text)
    # Earliest poll ever stored, so a report can list every store polled at or before
    # as_of while reading only the 8-day lookback of poll_days.
    first_poll_us: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)  # for people, from the store directory


class StoreGroup(Base):
    """A store's group labels from the store directory, ``key:value`` (``region:west``), one row each."""

    __tablename__ = "store_groups"
    __table_args__ = (Index("store_groups_by_label", "label", "store"),)  # (a group's stores)

    store: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True)


class BusinessHours(Base):
    """A store's weekly business hours, one row an interval, each row of a version of them: the
    version of the newest ``effective_date`` on or before a local date holds on it, the first
    on every date before it too. No foreign key to stores, as for polls: the loader creates
    the stores in the same transaction, and checking the key would cost a lookup per row."""

    __tablename__ = "business_hours"

    store: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # local date, days since 1970-01-01; 0 for a first version given without one
    effective_date: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 0 = Monday
    start_s: Mapped[int] = mapped_column(Integer, primary_key=True)  # local seconds after midnight
    end_s: Mapped[int] = mapped_column(Integer, primary_key=True)


class TimezoneHistory(Base):
    """Every version of a store's timezone: the one of the newest ``effective_date`` on or
    before a local date holds on it, the first on every date before it too. ``stores.timezone``
    is the newest version's."""

    __tablename__ = "timezone_history"

    store: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_date: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0: since the start
    timezone: Mapped[str | None] = mapped_column(Text)  # as given (an unknown name reads as America/Chicago)


class SpecialHours(Base):
    """A store's hours on one local date, one row an interval, replacing the weekly hours that
    would have started on it; start and end CLOSED (-1): closed that whole date."""

    __tablename__ = "special_hours"
    __table_args__ = (Index("special_hours_by_date", "date"),)  # (a report reads the dates around it)

    store: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    date: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # local, days since 1970-01-01
    start_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # local seconds, as written
    end_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class Holiday(Base):
    """The chain's hours on one local date, for every store in its own zone, one row an
    interval (CLOSED: closed all day); a store's special hours for the date win over them."""

    __tablename__ = "holidays"

    date: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    end_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)  # for people: "Christmas"


class PollDay(Base):
    """A store's polls of one UTC day, as storemon/core/polls.py encodes them: 8 bytes a poll,
    big-endian, microseconds << 1 | 1 if active, sorted, one per instant ("inactive wins"
    applied when written: storemon/database/polls.py). A report reads about nine rows per
    store; a store page reads its own by the key.

    No foreign key to stores, as for business_hours: the loader creates the stores in the
    same transaction, and checking the key would cost a lookup per row."""

    __tablename__ = "poll_days"
    __table_args__ = (
        # a report's lookback, the newest polls, retention's whole days: ranges of days
        Index("poll_days_by_day", "day"),
        # PostgreSQL: pages filled to a fifth, for a day's row to grow in (storemon/database/polls.py)
        {"sqlite_with_rowid": False, "postgresql_with": {"fillfactor": FILL_PERCENT}},
    )

    store: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # days since 1970-01-01, UTC
    polls: Mapped[bytes] = mapped_column(LargeBinary)


class DataVersion(Base):
    """One row: a new random ``version`` for every write to what a report reads, another
    (``stores_version``) for every change to the stores, their hours, timezones or first polls, and the
    newest poll stored, the default as_of (storemon/database/version.py)."""

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    stores_version: Mapped[int] = mapped_column(BigInteger)
    newest_poll_us: Mapped[int | None] = mapped_column(BigInteger)


class DatabaseIdentity(Base):
    """One row: a random id made with the schema, which names the RQ queue of this database's
    reports (storemon/reports/queue.py), so workers of another database never take them."""

    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    database_id: Mapped[str] = mapped_column(Text)


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
    # what was asked for: the extended columns (no data too); the stores of one group only; longer windows
    extended: Mapped[bool] = mapped_column(Boolean, server_default=false())
    store_group: Mapped[str | None] = mapped_column(Text)
    windows: Mapped[str | None] = mapped_column(Text)  # longer windows' days, "30,90" (NULL: the standard three)
    error: Mapped[str | None] = mapped_column(Text)
    csv: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A sharded report's CSV is the header and the rows of this run's parts (ReportPart); its
    # plan is the store_id each part after the first starts at (a JSON list), for run parts_attempt.
    parts_attempt: Mapped[int | None] = mapped_column(Integer)
    plan: Mapped[str | None] = mapped_column(Text)


class ReportPart(Base):
    """The CSV rows (no header) of one part of a sharded report, as one run of it planned them."""

    __tablename__ = "report_parts"

    report_id: Mapped[str] = mapped_column(String(64), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    row_count: Mapped[int] = mapped_column(Integer)
    rows: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(BigInteger)  # the data version the part read (DataVersion)


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


_OPEN = "resolved_us IS NULL"


class Incident(Base):
    """A store down or silent in its business hours, or the poller silent (store 0, no store's
    key), from the instant it began (``opened_us``) to the one it ended (``resolved_us``, NULL
    while open), with the polls that opened and resolved it (storemon/core/incidents.py). At
    most one of a kind is open per store: the index says so, so an evaluation run twice cannot
    open it twice."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("incidents_open", "kind", "store", unique=True, postgresql_where=text(_OPEN), sqlite_where=text(_OPEN)),
        Index("incidents_by_store", "store", "opened_us"),
        Index("incidents_recent", "opened_us"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store: Mapped[int] = mapped_column(Integer)  # 0: the poller's
    kind: Mapped[str] = mapped_column(String(16))  # down, no_data, poller_silent
    opened_us: Mapped[int] = mapped_column(BigInteger)
    opened_poll_us: Mapped[int | None] = mapped_column(BigInteger)
    resolved_us: Mapped[int | None] = mapped_column(BigInteger)
    resolved_poll_us: Mapped[int | None] = mapped_column(BigInteger)
    # by the wall clock: when storemon noticed each (a notification's delay counts from them)
    noticed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentWatch(Base):
    """One row: the data version the incidents were last evaluated at, and when; and what the
    SLOs' alerts were (storemon/alerts/evaluation.py)."""

    __tablename__ = "incident_watch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # what the SLOs' alerts were last evaluated at: "<data version>:<targets>:<window>:<fast burn>"
    slo_evaluated: Mapped[str | None] = mapped_column(Text)


class SloTarget(Base):
    """An SLO's objective (a percentage of business time up): of the fleet (name ''), of a
    group (its label) or of a store (its id). A store's own target applies, else the strictest
    of its groups', else the fleet's (storemon/database/targets.py)."""

    __tablename__ = "slo_targets"
    __table_args__ = (
        CheckConstraint("scope IN ('fleet', 'group', 'store')", name="slo_targets_scope"),
        CheckConstraint("objective_pct BETWEEN 1 AND 99.999", name="slo_targets_objective"),
    )

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # fleet, group, store
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    objective_pct: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Webhook(Base):
    """An endpoint notified of incidents: which kinds (NULL: all), of which stores (store ids,
    group labels; NULL both: every store), signed with its secret (storemon/alerts/signing.py)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)  # whsec_<base64>
    kinds: Mapped[str | None] = mapped_column(Text)  # comma-separated
    store_ids: Mapped[str | None] = mapped_column(Text)  # JSON list
    groups: Mapped[str | None] = mapped_column(Text)  # JSON list of labels
    slack: Mapped[bool] = mapped_column(Boolean, server_default=false())  # a Slack-compatible body
    reminder_s: Mapped[int | None] = mapped_column(Integer)  # again while incidents stay open, this often
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """One notification to one endpoint, and how its delivery went: the body exactly as signed,
    its attempts, the last answer, and when it was delivered or given up on."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("deliveries_by_webhook", "webhook", "id"),
        Index("deliveries_pending", "next_attempt_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook: Mapped[int] = mapped_column(Integer, ForeignKey("webhooks.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40), unique=True)  # webhook-id: the same on every attempt
    event: Mapped[str] = mapped_column(String(32))
    incidents: Mapped[int] = mapped_column(Integer)  # changes it tells of
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status of the last answer
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DailyUptime(Base):
    """A store's uptime and downtime within business hours of one UTC day, as the report as of
    the next midnight computes its last day (storemon/reports/trends.py), and the stores
    version (data_version) it was computed at."""

    __tablename__ = "daily_uptime"
    __table_args__ = (Index("daily_uptime_by_day", "day"),)  # (a fleet's days)

    store: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # days since 1970-01-01, UTC
    up_us: Mapped[int] = mapped_column(BigInteger)
    down_us: Mapped[int] = mapped_column(BigInteger)
    stores_version: Mapped[int] = mapped_column(BigInteger)
