"""The fleet at a glance, from a stored report's CSV (never by recomputing): uptime of the
fleet within business hours, stores by weekly uptime, the worst stores."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sqlalchemy import Engine

from ..core.windows import DOWNTIME_COLUMNS, UPTIME_COLUMNS, WEEK, WINDOWS
from ..reports import lifecycle

BINS = 10  # the histogram's bars: 0-10 %, ..., 90-100 %


@dataclass(frozen=True)
class Fleet:
    report_id: str
    stores: int
    uptime_pct: tuple[float | None, ...]  # of the fleet's business time, per window (core/windows.py)
    histogram: tuple[int, ...]  # stores by weekly uptime, BINS bars
    closed_all_week: int  # stores with no business time in the week (not in the histogram)
    worst: tuple[tuple[str, float, float], ...]  # (store_id, weekly uptime %, weekly downtime hours)
    weekly_pct: dict[str, float | None]


@lru_cache(maxsize=4)
def fleet_of(engine: Engine, report_id: str) -> Fleet:
    """The fleet as a Complete report saw it; read and parsed once per report (its CSV never changes)."""
    return summarise(report_id, lifecycle.csv_of(engine, report_id))


def summarise(report_id: str, csv_bytes: bytes, worst: int = 25) -> Fleet:
    header, *rows = csv.reader(io.StringIO(csv_bytes.decode()))
    ids = [r[0] for r in rows]
    columns = [header.index(name) for name in (*UPTIME_COLUMNS, *DOWNTIME_COLUMNS)]  # by name, not position
    values = np.array([[float(r[c]) for c in columns] for r in rows], float).reshape(-1, len(columns))
    up, down = values[:, :len(WINDOWS)], values[:, len(WINDOWS):]
    total = up + down
    pct = []
    for w in range(len(WINDOWS)):
        business = total[:, w].sum()
        pct.append(round(100 * up[:, w].sum() / business, 2) if business > 0 else None)
    open_week = total[:, WEEK] > 0
    weekly = np.where(open_week, 100 * up[:, WEEK] / np.where(open_week, total[:, WEEK], 1), np.nan)
    histogram = np.histogram(weekly[open_week], bins=BINS, range=(0, 100))[0]
    ranked = np.flatnonzero(open_week)
    ranked = ranked[np.lexsort((-down[ranked, WEEK], weekly[ranked]))][:worst]
    return Fleet(report_id, len(ids), tuple(pct), tuple(int(h) for h in histogram), int((~open_week).sum()),
                 tuple((ids[i], round(float(weekly[i]), 2), float(down[i, WEEK])) for i in ranked.tolist()),
                 {s: (None if np.isnan(p) else round(float(p), 2)) for s, p in zip(ids, weekly.tolist())})
