"""The report's windows and its columns, defined once.

The core computes each window, the CSV writes its columns in their units, and the console,
the OpenAPI document and the fleet's summary read them by name from here: a new window or
column starts here. Beyond the standard three, a report may ask for windows of whole days
(SPEC, "Longer windows"), in hours, after the standard columns; the lookback grows with the
longest window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .polls import DAY_US, HOUR_US, US, WEEK_US

MAX_DAYS = 90  # the longest window of whole days a report may ask for (its lookback: 91 days)


@dataclass(frozen=True)
class Window:
    name: str  # in its columns' names: uptime_<name>, downtime_<name>, no_data_<name>
    length_us: int  # the window is [as_of - length, as_of]
    unit: str  # what its columns count: "minutes" or "hours", to 0.01
    unit_us: int
    label: str  # for people

    @property
    def short_unit(self) -> str:
        return {"minutes": "min", "hours": "h"}[self.unit]


WINDOWS = (Window("last_hour", HOUR_US, "minutes", 60 * US, "Last hour"),
           Window("last_day", DAY_US, "hours", HOUR_US, "Last day"),
           Window("last_week", WEEK_US, "hours", HOUR_US, "Last week"))
HOUR, DAY = 0, 1  # the last hour's and the last day's windows (the trends' days)
WEEK = len(WINDOWS) - 1  # the longest window (the week), by which the console ranks stores
UPTIME_COLUMNS = tuple(f"uptime_{w.name}" for w in WINDOWS)
DOWNTIME_COLUMNS = tuple(f"downtime_{w.name}" for w in WINDOWS)
NO_DATA_COLUMNS = tuple(f"no_data_{w.name}" for w in WINDOWS)
COLUMNS = ("store_id", *UPTIME_COLUMNS, *DOWNTIME_COLUMNS)
EXTENDED_COLUMNS = (*COLUMNS, *NO_DATA_COLUMNS)  # SPEC, "Evidence coverage": the extended report


def days_window(days: int) -> Window:
    """The window of the last ``days`` whole days: ``uptime_last_<N>d`` and so on, in hours."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a window is 1 to {MAX_DAYS} days")
    return Window(f"last_{days}d", days * DAY_US, "hours", HOUR_US, f"Last {days} days")


def windows_of(days: tuple[int, ...] = ()) -> tuple[Window, ...]:
    """The standard windows and, after them, those of these numbers of days (ascending, none
    of them 1 or 7: the day and the week are standard)."""
    return WINDOWS + tuple(days_window(n) for n in days)


def lookback_us(windows: tuple[Window, ...]) -> int:
    """SPEC: the evidence lookback is ``[as_of - max(longest window, 7 d) - 1 d, as_of]`` (8 days
    for the standard windows)."""
    return max(max(w.length_us for w in windows), WEEK_US) + DAY_US


def header_columns(windows: tuple[Window, ...], extended: bool) -> tuple[str, ...]:
    """A report's columns: the standard seven (and their no-data three, extended), then each
    longer window's uptime and downtime (and no data)."""
    standard, longer = windows[:len(WINDOWS)], windows[len(WINDOWS):]
    if standard != WINDOWS:
        raise ValueError("a report's first windows are the standard three")
    columns = EXTENDED_COLUMNS if extended else COLUMNS
    for w in longer:
        columns += (f"uptime_{w.name}", f"downtime_{w.name}") + ((f"no_data_{w.name}",) if extended else ())
    return columns


def parse_windows(text: str) -> tuple[int, ...]:
    """``windows=`` as asked for, e.g. ``1h,1d,7d,30d``: the standard three may be listed (they
    are always reported), any other is ``<N>d``; the numbers of days beyond the standard
    ones, ascending. ValueError naming the problem."""
    days = set()
    for token in (t.strip().lower() for t in text.split(",")):
        if token in ("1h", "1d", "7d"):
            continue
        digits = token[:-1]
        if not token.endswith("d") or not (digits.isascii() and digits.isdecimal()) or len(digits) > 3:
            raise ValueError(f"a window is 1h, 1d, 7d or 2 to {MAX_DAYS} days such as 30d (got {token[:20]!r})")
        if not 1 <= int(digits) <= MAX_DAYS:
            raise ValueError(f"a window is 1h, 1d, 7d or 2 to {MAX_DAYS} days (got {token})")
        if int(digits) not in (1, 7):  # (the standard day and week)
            days.add(int(digits))
    return tuple(sorted(days))


def parse_days(text: str) -> int:
    """A window of whole days as written, ``<N>d`` (``30d``; spaces around it allowed): N, 1 to
    MAX_DAYS. ValueError naming the problem."""
    found = re.fullmatch(r" *([1-9][0-9]?)[dD] *", text)
    if found is None or int(found[1]) > MAX_DAYS:
        raise ValueError(f"a window is 1 to {MAX_DAYS} whole days, such as 30d (got {text.strip()[:20]!r})")
    return int(found[1])
