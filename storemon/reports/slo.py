"""The stores' SLOs as of the newest poll: the report with the SLO's window, computed now
(storemon/reports/build.py's ``compute``, as a report job would), with each store's objective
(storemon/database/slo.py); the figures' meaning is storemon/core/slo.py's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from ..core import compute_uptime
from ..core.slo import Status, status_of
from ..core.windows import WINDOWS, Window, lookback_us, windows_of
from ..database import slo
from ..database.engines import reading
from ..database.queries import EVERY_STORE, latest_poll_us, snapshot, store_input
from ..database.slo import Target
from .build import compute

DEFAULT_DAYS = 30  # an SLO's window unless one is asked for


@dataclass(frozen=True)
class Measured:
    """The SLOs of some stores as of ``as_of_us``, over ``window``, read at data ``version``."""

    as_of_us: int
    window: Window
    status: Status
    targets: list[Target | None]  # each row's
    version: int | None = None


def windows_for(days: int) -> tuple[tuple[Window, ...], int]:
    """The report's windows for an SLO of ``days`` days, and the SLO's among them."""
    if days == 1:
        return WINDOWS, 1
    if days == 7:
        return WINDOWS, 2
    return windows_of((days,)), len(WINDOWS)


def measure(engine: Engine, days: int = DEFAULT_DAYS, group: str | None = None) -> Measured | None:
    """Every store's SLO (of one group, if given) over the last ``days`` days, as of the newest
    poll; None before any poll."""
    windows, window = windows_for(days)
    with snapshot(engine) as snap:
        as_of = latest_poll_us(snap.conn)
        if as_of is None:
            return None
        uptime, seen = compute(snap, as_of, EVERY_STORE.within(group), windows=windows)
        objective, applied = slo.objectives(snap.conn, uptime.store_ids)
    return Measured(as_of, windows[window], status_of(uptime, objective, window), applied, seen)


def measure_store(engine: Engine, store_id: str, days: int = DEFAULT_DAYS) -> Measured | None:
    """One store's SLO (its own polls only: a console page's cost); None for an unknown store
    or before any poll."""
    windows, window = windows_for(days)
    with reading(engine) as conn:
        as_of = latest_poll_us(conn)
    if as_of is None:
        return None
    found = store_input(engine, store_id, as_of - lookback_us(windows), as_of)
    if found is None:
        return None
    uptime = compute_uptime(found[1], as_of, windows=windows)
    with reading(engine) as conn:
        objective, applied = slo.objectives(conn, uptime.store_ids)
    return Measured(as_of, windows[window], status_of(uptime, objective, window), applied)


def worst_first(measured: Measured) -> np.ndarray:
    """The rows' order from the least budget left (then the lowest attainment) to the most,
    stores without an objective after those with one, then by store id."""
    status = measured.status
    left = np.where(np.isnan(status.budget_left), np.inf, status.budget_left)
    attained = np.where(np.isnan(status.attainment), np.inf, status.attainment)
    return np.lexsort((np.arange(left.size), attained, left))
