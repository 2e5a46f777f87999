"""Trends: each store's uptime within business hours per UTC day, by the report's own rules.

A day's figures are the last-day columns of the report as of the midnight that ends it (so a
trend's day equals that report's, to the microsecond). They are kept (storemon/database/
trends.py), so that 90 days of a fleet are read, not recomputed. Each run recomputes the last
RECOMPUTED_DAYS complete days, whose figures a late poll can still change, and any day of the
last TREND_DAYS kept without figures yet; older days keep theirs. "Complete" is by the data's
clock: the days before the newest poll's.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, select

from ..core.polls import DAY_US, day_of
from ..database import trends
from ..database.trends import TREND_DAYS
from ..database.engines import reading
from ..database.models import Store
from ..database.queries import latest_poll_us, snapshot
from .build import compute

RECOMPUTED_DAYS = 8  # (the lookback: a poll up to 8 days before a day's end can change it)
DAY_WINDOW = 1  # the report's windows: hour, day, week


def update(engine: Engine) -> list[int]:
    """Compute the days due (see above); the days computed."""
    stores = Store.__table__.c
    with reading(engine) as conn:
        newest = latest_poll_us(conn)
        if newest is None:
            return []
        first_poll = conn.execute(select(stores.first_poll_us).order_by(stores.first_poll_us).limit(1)).scalar()
        keys = dict(conn.execute(select(stores.store_id, stores.id)).all())
        last = int(day_of(newest)) - 1
        first = max(last - TREND_DAYS + 1, int(day_of(first_poll)))
        kept = trends.days_kept(conn, first, last)
    due = [d for d in range(first, last + 1) if d not in kept or d > last - RECOMPUTED_DAYS]
    for day in due:
        with snapshot(engine) as snap:
            uptime, _ = compute(snap, (day + 1) * DAY_US)
        store = np.fromiter((keys[s] for s in uptime.store_ids.tolist()), np.int64, uptime.store_ids.size)
        with engine.begin() as conn:
            trends.write_day(conn, day, store, uptime.up_us[DAY_WINDOW], uptime.down_us[DAY_WINDOW])
    return due
