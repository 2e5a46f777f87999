"""Service level objectives: how each store keeps its target, from a report's figures.

A store's **objective** is the percentage of its business time it should be up (99 %),
over the SLO's window (by default the last 30 days). Everything below is read off the
report with that window, as of the same instant (its uptime and downtime per window), so an
SLO says exactly what that report says:

- **attainment**: uptime / business time over the window;
- **error budget**: the downtime the objective allows, ``(1 - objective) * business time``
  (``allowed``: 0.01 of it for 99 %);
  **budget left**: ``1 - downtime / budget`` (1: untouched, 0: spent, below 0: overspent);
- **burn rate** over a window: ``(downtime / business time) / allowed``, how many
  times faster than the objective allows the budget is being spent (1: it lasts the window
  exactly); none for a window without business time.

A store with an objective and business time in the window is **meeting** it while budget
is left, and its budget is **exhausted** once none is (0 or less, some time down): one or
the other, never both. Two conditions alert (storemon/alerts/evaluation.py opens them as
incidents):

- **budget exhausted**, as above;
- **burning fast**: the burn rate over the last day and over the last hour both at least
  ``fast_burn`` (SLO_FAST_BURN, 14.4 by default: sustained, a 30-day budget lasts about two
  days; over one day it spends about half of it). Two windows, as the multi-window burn-rate
  alerts of the SRE workbook, Sloth and Pyrra (whose pairs are shorter: an hour and 5
  minutes; polls come hourly here): the day makes it significant, the hour makes it current,
  so it ends within an hour, by the data's clock, of the store coming back (or closing: a
  window without business time burns nothing).

Business time is every window's denominator: a closed store burns nothing, and a night does
not dilute a day's outage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .uptime import Uptime
from .windows import DAY, HOUR

MAX_OBJECTIVE = 99.999  # in percent: the strictest target (one of 100 % would have no budget)
MIN_OBJECTIVE = 1.0


def objective_problem(percent: float) -> str | None:
    """Why a target (in percent, any number: a huge integer too) is not one, or None."""
    if not MIN_OBJECTIVE <= percent <= MAX_OBJECTIVE:
        return f"an objective is a percentage from {MIN_OBJECTIVE:g} to {MAX_OBJECTIVE:g}"
    return None


@dataclass(frozen=True)
class SloFigures:
    """The stores' SLOs over one window of a report: its rows' figures and each store's
    objective (in percent, as set; NaN where none applies)."""

    uptime: Uptime
    objective_pct: np.ndarray
    window_index: int  # the SLO's window among the report's

    @property
    def allowed(self) -> np.ndarray:
        """The fraction of business time the objective allows down (from the percentage, so that
        99 % allows exactly 0.01)."""
        return (100 - self.objective_pct) / 100

    @property
    def store_ids(self) -> np.ndarray:
        return self.uptime.store_ids

    def business_us(self, window: int | None = None) -> np.ndarray:
        w = self.window_index if window is None else window
        return self.uptime.up_us[w] + self.uptime.down_us[w]

    def down_us(self, window: int | None = None) -> np.ndarray:
        return self.uptime.down_us[self.window_index if window is None else window]

    @property
    def attainment(self) -> np.ndarray:
        """Uptime over business time in the window (NaN: none)."""
        return _ratio(self.uptime.up_us[self.window_index], self.business_us())

    @property
    def budget_us(self) -> np.ndarray:
        """The downtime the objective allows over the window's business time (NaN: no objective)."""
        return self.allowed * self.business_us()

    @property
    def budget_left(self) -> np.ndarray:
        """1 - downtime / budget (NaN: no objective, or no business time)."""
        return 1 - _ratio(self.down_us(), self.budget_us)

    def burn_rate(self, window: int | None = None) -> np.ndarray:
        """(downtime / business time) / (1 - objective) over a window of the report (NaN: no
        objective, or no business time in it)."""
        return _ratio(self.down_us(window), self.business_us(window)) / self.allowed

    def exhausted(self) -> np.ndarray:
        """Whether each store's budget is spent: none left, and some downtime."""
        with np.errstate(invalid="ignore"):
            return (self.budget_left <= 0) & (self.down_us() > 0)

    def meeting(self) -> np.ndarray:
        """Whether each store meets its objective: it has one, business time, and budget left."""
        return ~np.isnan(self.budget_left) & ~self.exhausted()

    def burning(self, fast_burn: float) -> np.ndarray:
        """Whether each store burns its budget at ``fast_burn`` or faster over both the last
        day and the last hour."""
        with np.errstate(invalid="ignore"):
            return (self.burn_rate(DAY) >= fast_burn) & (self.burn_rate(HOUR) >= fast_burn)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 or NaN."""
    numerator = np.asarray(numerator, np.float64)
    denominator = np.asarray(denominator, np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def figures_of(uptime: Uptime, objective_pct: np.ndarray, window: int) -> SloFigures:
    """The SLOs of a report's rows over its window ``window`` (an index of its windows, the
    standard three first), each row's objective in percent or NaN."""
    if not DAY <= window < len(uptime.up_us):
        raise ValueError("an SLO's window is the report's day, week or a longer one")
    return SloFigures(uptime, np.asarray(objective_pct, np.float64), window)
