"""What a report is asked for beyond its as_of: its columns and its stores.

The standard report is SPEC's seven columns for every store; ``extended`` appends the
no-data columns (SPEC, "Evidence coverage"), ``days`` windows of that many whole days after
the standard ones (SPEC, "Longer windows": ``windows=1h,1d,7d,30d``), and ``group`` keeps the
stores of one group of the store directory (a label, ``key:value``). A report's row records
them, so every job that works on it (the report's own, a sharded report's parts and join)
computes the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from ..core.windows import Window, parse_days, windows_of


STANDARD_COLUMNS, EXTENDED_COLUMNS = "standard", "extended"
COLUMN_SETS = (STANDARD_COLUMNS, EXTENDED_COLUMNS)  # what ``columns`` may ask for


@dataclass(frozen=True)
class ReportOptions:
    extended: bool = False  # the no-data columns after the standard ones
    group: str | None = None  # the stores of this group only (None: every store)
    days: tuple[int, ...] = ()  # longer windows, of whole days, ascending (none: the standard three only)

    @property
    def columns(self) -> str:
        return EXTENDED_COLUMNS if self.extended else STANDARD_COLUMNS

    @property
    def windows(self) -> tuple[Window, ...]:
        return windows_of(self.days)

    @property
    def windows_text(self) -> str | None:
        """The longer windows as a report's row keeps them (``30,90``), None for none."""
        return ",".join(map(str, self.days)) or None

    @staticmethod
    def days_of(text: str | None) -> tuple[int, ...]:
        return tuple(int(n) for n in text.split(",")) if text else ()


STANDARD = ReportOptions()
EXTENDED = ReportOptions(extended=True)


def retention_problem(days: tuple[int, ...], poll_retention_days: int) -> str | None:
    """Why windows of these days cannot be reported with polls kept this long (0: for good), or None."""
    if days and poll_retention_days and max(days) + 1 > poll_retention_days:
        return (f"a {max(days)}-day window looks back {max(days) + 1} days, and polls are kept for "
                f"{poll_retention_days} (POLL_RETENTION_DAYS)")
    return None


def slo_window_days(text: str | None, settings: Settings) -> int:
    """An SLO's window as asked for (``30d``; none: SLO_WINDOW_DAYS), in days; ValueError
    naming a bad one, or one that looks back past the polls kept."""
    days = parse_days(text) if text else settings.slo_window_days
    if problem := retention_problem((days,), settings.poll_retention_days):
        raise ValueError(problem)
    return days
