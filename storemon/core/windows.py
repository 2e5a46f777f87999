"""The report's windows and its columns, defined once.

The core computes each window, the CSV writes its columns in their units, and the console,
the OpenAPI document and the fleet's summary read them by name from here: a new window or
column starts here (a window longer than the 8-day lookback would need a longer lookback too).
"""

from __future__ import annotations

from dataclasses import dataclass

from .polls import DAY_US, HOUR_US, US, WEEK_US


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
WEEK = len(WINDOWS) - 1  # the longest window (the week), by which the console ranks stores
UPTIME_COLUMNS = tuple(f"uptime_{w.name}" for w in WINDOWS)
DOWNTIME_COLUMNS = tuple(f"downtime_{w.name}" for w in WINDOWS)
NO_DATA_COLUMNS = tuple(f"no_data_{w.name}" for w in WINDOWS)
COLUMNS = ("store_id", *UPTIME_COLUMNS, *DOWNTIME_COLUMNS)
EXTENDED_COLUMNS = (*COLUMNS, *NO_DATA_COLUMNS)  # SPEC, "Evidence coverage": the extended report
