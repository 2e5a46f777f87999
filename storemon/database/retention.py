"""Retention: old reports and old polls deleted, never what a report still in progress needs.

Polls go in batches of whole key ranges, each its own short transaction, oldest first,
so loads (which append at the newest end) and reports (which read the last 8 days) are
never held up for long, and no load lock is taken. Each batch is a numbered change
(storemon/database/changes.py) recorded in poll_deletions, so a report's cache drops
what retention removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from sqlalchemy import Engine, delete, func, select

from .bulk import execute, fetch_all
from .changes import next_change
from ..core import DAY_US, LOOKBACK_US
from .models import Report
from ..reports.lifecycle import UNSETTLED

BATCH_POLLS = 50_000
_reports = Report.__table__


@dataclass(frozen=True)
class Removed:
    reports: int
    polls: int


def apply(engine: Engine, report_days: int, poll_days: int, now: datetime | None = None) -> Removed:
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        reports = conn.execute(delete(_reports).where(_reports.c.status.not_in(UNSETTLED),
                                                      _reports.c.created_at < now - timedelta(days=report_days))
                               ).rowcount
    polls = 0
    if poll_days:
        cutoff_us = _poll_cutoff_us(engine, int(now.timestamp() * 1_000_000) - poll_days * DAY_US)
        while (removed := _delete_oldest_polls(engine, cutoff_us)) > 0:
            polls += removed
    return Removed(reports, polls)


def _poll_cutoff_us(engine: Engine, cutoff_us: int) -> int:
    """The cutoff, moved back to spare the lookback of any unsettled report with an explicit
    as_of, or with one fixed when it was cut into parts (whose parts read it later)."""
    with engine.connect() as conn:
        earliest = conn.execute(select(func.min(func.coalesce(_reports.c.as_of_us, _reports.c.requested_as_of_us)))
                                .where(_reports.c.status.in_(UNSETTLED))).scalar()
    return cutoff_us if earliest is None else min(cutoff_us, earliest - LOOKBACK_US)


def _delete_oldest_polls(engine: Engine, cutoff_us: int) -> int:
    """Delete up to about BATCH_POLLS of the oldest polls before the cutoff; how many went."""
    with engine.begin() as conn:
        edge = fetch_all(conn, "SELECT ts_us FROM polls WHERE ts_us < %s ORDER BY ts_us LIMIT 1 OFFSET %s",
                         (cutoff_us, BATCH_POLLS - 1))
        upto = min(edge[0][0] + 1, cutoff_us) if edge else cutoff_us  # a whole instant at a time
        if not fetch_all(conn, "SELECT 1 FROM polls WHERE ts_us < %s LIMIT 1", (upto,)):
            return 0
        change = next_change(conn)  # before deleting: it waits for a load holding the counter
        execute(conn, "INSERT INTO poll_deletions (seq, before_us) VALUES (%s, %s)", (change, upto))
        return execute(conn, "DELETE FROM polls WHERE ts_us < %s", (upto,))
