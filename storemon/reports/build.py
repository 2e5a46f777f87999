"""A whole report from the database: resolve as_of, read arrays, compute, write CSV bytes."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import Engine

from ..core import LOOKBACK_US, Progress, compute_uptime, to_csv
from ..core.csvout import written_hundredths
from ..core.sessions import business_sessions
from ..database.pollcache import PollCache
from ..database.queries import Stores, latest_poll_us, report_input


REPORTING = "computing report"
log = logging.getLogger(__name__)


class ReportError(Exception):
    """A report that cannot be made; the message says why, in words fit for clients."""


class NoData(ReportError):
    """There are no polls, so there is no default as_of and nothing to report."""


def resolve_as_of(engine: Engine, as_of_us: int | None) -> int:
    if as_of_us is not None:
        return as_of_us
    with engine.connect() as conn:
        latest = latest_poll_us(conn)
    if latest is None:
        raise NoData("no polls are loaded yet: load a store_status.csv first (python -m storemon load DIR)")
    return latest


def report_cache(settings, engine: Engine, part: str = "all") -> PollCache | None:
    """The poll cache a report on this engine uses (or one part of a sharded report), or None
    with REPORT_CACHE off."""
    if not settings.report_cache:
        return None
    return PollCache.for_database(settings.report_cache_dir, engine.url.render_as_string(hide_password=False), part)


def build_report(engine: Engine, as_of_us: int | None = None, on_progress: Progress | None = None,
                 cache: PollCache | None = None) -> tuple[int, bytes]:
    """(the as_of used, the CSV bytes). ``as_of_us`` None means the latest poll. Progress is
    reported as one step, the whole report, reading its data included. With a ``cache``, the
    polls come from it and what changed since; the caller writes it back (``cache.save()``)
    when the report is delivered."""
    def progress(fraction: float) -> None:
        if on_progress is not None:
            on_progress(REPORTING, fraction)

    as_of = resolve_as_of(engine, as_of_us)
    progress(0.0)
    data = report_input(engine, as_of, cache)
    if cache is not None:
        log.info("report polls: cache %s", cache.outcome)
    progress(0.4)
    uptime = compute_uptime(data, as_of, on_progress=lambda _step, f: progress(0.4 + 0.55 * f))
    csv_bytes = to_csv(uptime)
    progress(1.0)
    return as_of, csv_bytes


def warm_up(engine: Engine, settings, cache: PollCache | None) -> str | None:
    """Do, for the newest polls, what a fresh process's first report would do before its own
    work: bring the cache up to date (or build it) and compute the zone transitions of the
    stored zones. A worker does it before it takes jobs, so every work horse it forks starts
    warm. A fleet whose reports are cut into parts warms its zones only (each part keeps a
    cache of its own). Returns how the cache served (None: not used)."""
    from .shards import sharded

    with engine.connect() as conn:
        as_of = latest_poll_us(conn)
    if as_of is None:
        return None
    if sharded(engine, settings, as_of):
        with engine.connect() as conn:
            stores = Stores.read(conn, as_of)
        empty = np.zeros(0, np.int64)
        data, cache = stores.report_input((empty, empty, empty.astype(bool)), as_of), None
    else:
        data = report_input(engine, as_of, cache)
    written_hundredths(1 << 15)  # the CSV's number table (a week in hours is 16,800 hundredths)
    business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s, data.hours_end_s,
                      (as_of - LOOKBACK_US) // 1_000_000, -(-as_of // 1_000_000))
    if cache is None:
        return None
    cache.save()
    return cache.outcome
