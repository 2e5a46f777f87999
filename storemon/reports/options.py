"""What a report is asked for beyond its as_of: its columns and its stores.

The standard report is SPEC's seven columns for every store; ``extended`` appends the
no-data columns (SPEC, "Evidence coverage"), and ``group`` keeps the stores of one group of
the store directory (a label, ``key:value``). A report's row records them, so every job
that works on it (the report's own, a sharded report's parts and join) computes the same.
"""

from __future__ import annotations

from dataclasses import dataclass


STANDARD_COLUMNS, EXTENDED_COLUMNS = "standard", "extended"
COLUMN_SETS = (STANDARD_COLUMNS, EXTENDED_COLUMNS)  # what ``columns`` may ask for


@dataclass(frozen=True)
class ReportOptions:
    extended: bool = False  # the no-data columns after the standard ones
    group: str | None = None  # the stores of this group only (None: every store)

    @property
    def columns(self) -> str:
        return EXTENDED_COLUMNS if self.extended else STANDARD_COLUMNS


STANDARD = ReportOptions()
EXTENDED = ReportOptions(extended=True)
