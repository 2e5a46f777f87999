"""The stores' SLOs as of the newest poll: the report with the SLO's window, computed now
(storemon/reports/build.py's ``compute``, as a report job would), with each store's objective
(storemon/database/targets.py); the figures' meaning is storemon/core/slo.py's. Also each
store's figures as the API, the console and the command line show them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from ..core import compute_uptime
from ..core.csvout import in_hundredths
from ..core.polls import HOUR_US
from ..core.slo import SloFigures, figures_of
from ..core.windows import DAY, HOUR, WEEK, WINDOWS, Window, lookback_us, windows_of
from ..database import targets
from ..database.engines import reading
from ..database.queries import EVERY_STORE, latest_poll_us, snapshot, store_input
from ..database.targets import Target
from .build import compute


@dataclass(frozen=True)
class Measured:
    """The SLOs of some stores as of ``as_of_us``, over ``window``, from the data of ``version``
    (None: one store's, read alone) and the targets of ``targets_read`` (their fingerprint)."""

    as_of_us: int
    window: Window
    figures: SloFigures
    targets: list[Target | None]  # each row's
    targets_read: str
    version: int | None = None


def windows_for(days: int) -> tuple[tuple[Window, ...], int]:
    """The report's windows for an SLO of ``days`` days, and the index of the SLO's among them."""
    if days == 1:
        return WINDOWS, DAY
    if days == 7:
        return WINDOWS, WEEK
    return windows_of((days,)), len(WINDOWS)


def measure(engine: Engine, days: int, group: str | None = None) -> Measured | None:
    """Every store's SLO (of one group, if given) over the last ``days`` days, as of the newest
    poll, in one snapshot; None before any poll."""
    windows, window = windows_for(days)
    with snapshot(engine) as snap:
        as_of = latest_poll_us(snap.conn)
        if as_of is None:
            return None
        uptime, seen = compute(snap, as_of, EVERY_STORE.within(group), windows=windows)
        objective, applied, read = targets.objectives(snap.conn, uptime.store_ids)
    return Measured(as_of, windows[window], figures_of(uptime, objective, window), applied, read, seen)


def measure_store(engine: Engine, store_id: str, days: int) -> Measured | None:
    """One store's SLO as of the newest poll (its own polls only: a console page's cost); None
    for an unknown store or before any poll."""
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
        objective, applied, read = targets.objectives(conn, uptime.store_ids)
    return Measured(as_of, windows[window], figures_of(uptime, objective, window), applied, read)


def worst_first(measured: Measured) -> np.ndarray:
    """The rows' order from the least budget left (then the lowest attainment) to the most,
    stores without an objective after those with one, then by store id."""
    figures = measured.figures
    left = np.where(np.isnan(figures.budget_left), np.inf, figures.budget_left)
    attained = np.where(np.isnan(figures.attainment), np.inf, figures.attainment)
    return np.lexsort((np.arange(left.size), attained, left))


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    """Values rounded for JSON, NaN as None."""
    return [None if v != v else v for v in np.round(values, digits).tolist()]


def store_rows(measured: Measured, fast_burn: float, order: np.ndarray | None = None) -> list[dict]:
    """Each row's SLO (in ``order``, if given): hours as the report's CSV writes them,
    percentages to 0.01 (attainment and objective to 0.001), burn rates to 0.01; None where a
    figure has no meaning (no objective, no business time)."""
    f = measured.figures
    order = np.arange(f.store_ids.size) if order is None else order
    name = measured.window.name.removeprefix("last_")
    windows = {"1h": HOUR, "1d": DAY, "7d": WEEK, **({name: f.window_index} if f.window_index > WEEK else {})}
    burn = {label: _rounded(f.burn_rate(w)[order], 2) for label, w in windows.items()}
    columns = {
        "uptime_h": in_hundredths(f.uptime.up_us[f.window_index][order], HOUR_US).tolist(),
        "downtime_h": in_hundredths(f.down_us()[order], HOUR_US).tolist(),
        "attainment_pct": _rounded(100 * f.attainment[order], 3),
        "objective_pct": _rounded(f.objective_pct[order], 3),
        "budget_h": _rounded(f.budget_us[order] / HOUR_US, 2),
        "budget_left_pct": _rounded(100 * f.budget_left[order], 2),
    }
    exhausted, burning = f.exhausted()[order].tolist(), f.burning(fast_burn)[order].tolist()
    rows = []
    for i, store_id in enumerate(f.store_ids[order].tolist()):
        target = measured.targets[order[i]]
        row = {"store_id": store_id, "target": None if target is None else scope_of(target)}
        row.update((key, values[i]) for key, values in columns.items())
        row["burn_rate"] = {label: values[i] for label, values in burn.items()}
        row["exhausted"], row["burning"] = exhausted[i], burning[i]
        rows.append(row)
    return rows


def scope_of(target: Target) -> str:
    """A target as a store's row names it: ``fleet``, ``group:<label>`` or ``store:<id>``."""
    return target.scope if target.scope == targets.FLEET else f"{target.scope}:{target.name}"


def summary(measured: Measured, fast_burn: float) -> dict:
    """The stores' SLOs taken together: how many have an objective, meet it, have spent their
    budget or burn fast, and the attainment of all their business time summed."""
    f = measured.figures
    business = int(f.business_us().sum())
    return {"stores": int(f.store_ids.size), "with_objective": int((~np.isnan(f.objective_pct)).sum()),
            "meeting": int(f.meeting().sum()), "exhausted": int(f.exhausted().sum()),
            "burning": int(f.burning(fast_burn).sum()),
            "attainment_pct": round(100 * int(f.uptime.up_us[f.window_index].sum()) / business, 3) if business else None}
