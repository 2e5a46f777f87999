"""Each store's uptime per UTC day as rows (computed by storemon/reports/trends.py), and the
trends read from them: a store's days, or a fleet's or group's summed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, func, select, text

from .bulk import staged
from .engines import is_postgres, reading
from .models import DailyUptime, Store, StoreGroup

TREND_DAYS = 90  # the days a trend shows (and the clock keeps computed)
_daily = DailyUptime.__table__
_c = _daily.c


TREND_LOCK = 0x74726E64  # writers of a day take turns under it (two runs at once)


def inputs(conn: Connection) -> tuple[int | None, dict[str, int]]:
    """The earliest first poll of any store (None: no poll yet), and every store's key by id."""
    s = Store.__table__.c
    return (conn.execute(select(func.min(s.first_poll_us))).scalar(),
            dict(conn.execute(select(s.store_id, s.id)).all()))


def write_day(conn: Connection, day: int, stores_version: int, store: np.ndarray, up_us: np.ndarray,
              down_us: np.ndarray) -> None:
    """Replace one day's rows with these stores' (keys) figures, computed at that stores version."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": TREND_LOCK})
    conn.execute(text("DELETE FROM daily_uptime WHERE day = :day"), {"day": day})
    if store.size:
        with staged(conn, "day_uptime", [("store", "int4", store), ("up_us", "int8", up_us),
                                         ("down_us", "int8", down_us)], analyze=False) as t:
            conn.execute(text(f"INSERT INTO daily_uptime (store, day, up_us, down_us, stores_version)"
                              f" SELECT store, :day, up_us, down_us, :version FROM {t}"),
                         {"day": day, "version": stores_version})


def days_kept(conn: Connection, first_day: int, last_day: int) -> dict[int, int]:
    """The days from ``first_day`` to ``last_day`` that have rows, and the stores version of each."""
    return dict(conn.execute(select(_c.day, func.min(_c.stores_version)).where(_c.day.between(first_day, last_day))
                             .group_by(_c.day)).all())


def delete_days_before(conn: Connection, day: int) -> None:
    """Retention: the days a trend no longer shows."""
    conn.execute(text("DELETE FROM daily_uptime WHERE day < :day"), {"day": day})


@dataclass(frozen=True)
class Day:
    day: int  # days since 1970-01-01, UTC
    up_us: int
    down_us: int
    stores: int  # stores with business time that day

    @property
    def business_us(self) -> int:
        return self.up_us + self.down_us


def trend(engine: Engine, first_day: int, last_day: int, store_id: str | None = None, group: str | None = None
          ) -> list[Day]:
    """The days from ``first_day`` to ``last_day`` kept, of one store, of one group's stores
    summed, or of every store summed (neither)."""
    query = select(_c.day, func.sum(_c.up_us), func.sum(_c.down_us),
                   func.count().filter(_c.up_us + _c.down_us > 0)).where(_c.day.between(first_day, last_day))
    if store_id is not None:
        query = query.where(_c.store == select(Store.__table__.c.id).where(
            Store.__table__.c.store_id == store_id).scalar_subquery())
    if group is not None:
        g = StoreGroup.__table__.c
        query = query.where(_c.store.in_(select(g.store).where(g.label == group)))
    with reading(engine) as conn:
        return [Day(int(d), int(u), int(w), int(n)) for d, u, w, n in
                conn.execute(query.group_by(_c.day).order_by(_c.day))]
