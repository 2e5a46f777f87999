"""Retention: old reports, incidents and notifications, and old polls deleted, never what a
report still in progress needs.

Polls go a whole UTC day at a time (their rows are a store's day: storemon/database/polls.py),
every day that ends before the cutoff, in one short transaction that takes a new data version.
Loads (which write the newest days) and reports (which read the last nine) are not held up,
and no load lock is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from sqlalchemy import Engine, delete, func, select

from ..core import DAY_US
from ..core.windows import lookback_us, windows_of
from ..core.polls import day_of
from ..database import incidents, polls, trends, version, webhooks
from ..database.models import Report
from .lifecycle import UNSETTLED
from .options import ReportOptions
from ..database.trends import TREND_DAYS

_reports = Report.__table__


@dataclass(frozen=True)
class Removed:
    reports: int
    polls: int


def apply(engine: Engine, report_days: int, poll_days: int, now: datetime | None = None) -> Removed:
    now = now or datetime.now(UTC)
    before = now - timedelta(days=report_days)
    with engine.begin() as conn:
        reports = conn.execute(delete(_reports).where(_reports.c.status.not_in(UNSETTLED),
                                                      _reports.c.created_at < before)).rowcount
        incidents.delete_resolved_before(conn, before)
        webhooks.delete_before(conn, before)
        newest = version.current(conn).newest_poll_us
        if newest is not None:  # (the trends' days, older than they show, by the data's clock)
            trends.delete_days_before(conn, int(day_of(newest)) - TREND_DAYS - 1)
    removed = 0
    if poll_days:
        before_day = int(day_of(_poll_cutoff_us(engine, int(now.timestamp() * 1_000_000) - poll_days * DAY_US)))
        with engine.begin() as conn:
            removed = polls.delete_days_before(conn, before_day)
            if removed:
                newest = version.current(conn).newest_poll_us
                version.bump(conn)
                if newest is not None and day_of(newest) < before_day:
                    version.set_newest(conn, None)  # every poll went
    return Removed(reports, removed)


def _poll_cutoff_us(engine: Engine, cutoff_us: int) -> int:
    """The cutoff, moved back to spare the lookback of any unsettled report with an explicit
    as_of, or with one fixed when it was cut into parts (whose parts read it later); a report
    with longer windows looks back further."""
    as_of = func.coalesce(_reports.c.as_of_us, _reports.c.requested_as_of_us)
    with engine.connect() as conn:
        found = conn.execute(select(as_of, _reports.c.windows).where(_reports.c.status.in_(UNSETTLED),
                                                                     as_of.is_not(None))).all()
    for as_of_us, windows in found:
        cutoff_us = min(cutoff_us, as_of_us - lookback_us(windows_of(ReportOptions.days_of(windows))))
    return cutoff_us
