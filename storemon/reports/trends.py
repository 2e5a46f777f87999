"""Trends: each store's uptime within business hours per UTC day, by the report's own rules.

A day's figures are the last-day columns of the report as of the midnight that ends it (so a
trend's day equals that report's, to the microsecond). They are kept (storemon/database/
trends.py), so that 90 days of a fleet are read, not recomputed. Each run recomputes the last
RECOMPUTED_DAYS complete days, whose figures a late poll can still change, any day of the
last TREND_DAYS without figures yet, and any computed at another stores version (hours,
zones, special hours, holidays or stores changed since); older days keep theirs, so a poll
arriving more than RECOMPUTED_DAYS days late changes its day only at the next such change.
"Complete" is by the data's clock: the days before the newest poll's.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine

from ..core.polls import DAY_US, day_of
from ..core.windows import DAY
from ..database import trends, version
from ..database.queries import snapshot
from ..database.trends import TREND_DAYS
from .build import compute

RECOMPUTED_DAYS = 8  # (the lookback: a poll up to 8 days before a day's end can change it)


def update(engine: Engine) -> list[int]:
    """Compute the days due (see above), in one snapshot; the days computed."""
    with snapshot(engine) as snap:
        current = version.current(snap.conn)
        first_poll, keys = trends.inputs(snap.conn)
        if current.newest_poll_us is None or first_poll is None:
            return []
        last = int(day_of(current.newest_poll_us)) - 1
        first = max(last - TREND_DAYS + 1, int(day_of(first_poll)))
        kept = trends.days_kept(snap.conn, first, last)
        due = [d for d in range(first, last + 1)
               if kept.get(d) != current.stores_version or d > last - RECOMPUTED_DAYS]
        for day in due:
            uptime, _ = compute(snap, (day + 1) * DAY_US)
            store = np.fromiter((keys[s] for s in uptime.store_ids.tolist()), np.int64, uptime.store_ids.size)
            with engine.begin() as conn:
                trends.write_day(conn, day, current.stores_version, store, uptime.up_us[DAY], uptime.down_us[DAY])
    return due
