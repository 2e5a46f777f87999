"""The fleet at a glance, from a stored report's CSV (never by recomputing): uptime and no
data of the fleet within business hours, stores by weekly uptime, the worst stores, and the
stores the polls said nothing about; of every store, or of one group's."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sqlalchemy import Engine

from ..core.windows import DOWNTIME_COLUMNS, NO_DATA_COLUMNS, UPTIME_COLUMNS, WEEK, WINDOWS
from ..database import version
from ..database.engines import reading
from ..database.queries import group_store_ids
from ..reports import lifecycle

BINS = 10  # the histogram's bars: 0-10 %, ..., 90-100 %
LISTED = 25  # stores the worst list and the no-data list show
ROUNDING_H = 0.015  # a CSV value's rounding (0.005 h) on each side, and more: "all no data" within it


@dataclass(frozen=True)
class Worst:
    store_id: str
    weekly_pct: float  # weekly uptime, % of business time
    down_h: float  # weekly downtime, hours
    backed_down_h: float | None  # of it, at least this much is backed by polls: downtime less no data (extended)


@dataclass(frozen=True)
class Fleet:
    report_id: str
    group: str | None
    stores: int
    uptime_pct: tuple[float | None, ...]  # of the fleet's business time, per window (core/windows.py)
    no_data_pct: tuple[float | None, ...] | None  # of it, no data (None: the report is not extended)
    histogram: tuple[int, ...]  # stores by weekly uptime, BINS bars
    closed_all_week: int  # stores with no business time in the week (not in the histogram)
    worst: tuple[Worst, ...]  # those with downtime backed by polls, most first (extended); else by weekly uptime
    without_data: int  # stores open in the week with no poll within 60 minutes of any of it (extended)
    without_data_ids: tuple[str, ...]  # the first LISTED of them, longest open first
    weekly_pct: dict[str, float | None]


def fleet_of(engine: Engine, report_id: str, group: str | None = None) -> Fleet:
    """The fleet (or one group of it, its stores as they are now) as a Complete report saw it."""
    if group is None:
        return _summary(engine, report_id, None, None)
    with reading(engine) as conn:
        return _summary(engine, report_id, group, version.current(conn).version)


@lru_cache(maxsize=16)
def _summary(engine: Engine, report_id: str, group: str | None, data_version: int | None) -> Fleet:
    """Read and parsed once per report (its CSV never changes), and per group and data version
    (a load may change who is in a group)."""
    members = None
    if group is not None:
        with reading(engine) as conn:
            members = group_store_ids(conn, group)
    return summarise(report_id, lifecycle.csv_of(engine, report_id), group, members)


def summarise(report_id: str, csv_bytes: bytes, group: str | None = None, members: set[str] | None = None) -> Fleet:
    header, *rows = csv.reader(io.StringIO(csv_bytes.decode()))
    if members is not None:
        rows = [r for r in rows if r[0] in members]
    ids = [r[0] for r in rows]
    extended = all(name in header for name in NO_DATA_COLUMNS)
    names = (*UPTIME_COLUMNS, *DOWNTIME_COLUMNS, *(NO_DATA_COLUMNS if extended else ()))
    columns = [header.index(name) for name in names]  # by name, not position
    values = np.array([[float(r[c]) for c in columns] for r in rows], float).reshape(-1, len(columns))
    n = len(WINDOWS)
    up, down = values[:, :n], values[:, n:2 * n]
    no_data = values[:, 2 * n:] if extended else None
    total = up + down
    pct, missing = [], []
    for w in range(n):
        business = total[:, w].sum()
        pct.append(round(100 * up[:, w].sum() / business, 2) if business > 0 else None)
        if no_data is not None:
            missing.append(round(100 * min(no_data[:, w].sum(), business) / business, 2) if business > 0 else None)
    open_week = total[:, WEEK] > 0
    weekly = np.where(open_week, 100 * up[:, WEEK] / np.where(open_week, total[:, WEEK], 1), np.nan)
    histogram = np.histogram(weekly[open_week], bins=BINS, range=(0, 100))[0]
    ranked = np.flatnonzero(open_week)
    unvouched = np.zeros(len(ids), bool)  # open in the week, no poll near any of it
    backed = None
    if no_data is not None:
        unvouched = open_week & (no_data[:, WEEK] > 0) & (no_data[:, WEEK] >= total[:, WEEK] - ROUNDING_H)
        backed = np.maximum(down[:, WEEK] - no_data[:, WEEK], 0)
        ranked = ranked[~unvouched[ranked] & (backed[ranked] > 0)]  # (downtime only guessed is not "worst")
        ranked = ranked[np.lexsort((weekly[ranked], -backed[ranked]))][:LISTED]
    else:
        ranked = ranked[np.lexsort((-down[ranked, WEEK], weekly[ranked]))][:LISTED]
    quiet = np.flatnonzero(unvouched)
    quiet = quiet[np.argsort(-total[quiet, WEEK], kind="stable")][:LISTED]
    return Fleet(report_id, group, len(ids), tuple(pct), tuple(missing) if extended else None,
                 tuple(int(h) for h in histogram), int((~open_week).sum()),
                 tuple(Worst(ids[i], round(float(weekly[i]), 2), float(down[i, WEEK]),
                             None if backed is None else round(float(backed[i]), 2)) for i in ranked.tolist()),
                 int(unvouched.sum()), tuple(ids[i] for i in quiet.tolist()),
                 {s: (None if np.isnan(p) else round(float(p), 2)) for s, p in zip(ids, weekly.tolist())})
