"""The report CSV (RFC 4180): its columns and their units as core/windows.py defines them
(minutes for the hour, hours for the rest), 2 decimals; the extended report's no-data
columns after the seven standard ones, then any longer window's."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .uptime import Uptime
from .windows import WINDOWS, Window, header_columns

_CENTI_UNITS_US = tuple(window.unit_us // 100 for window in WINDOWS)  # 0.01 of each window's unit


def _hundredths(us: np.ndarray, unit_us: int, before: str = "", after: str = "") -> list[str]:
    """Round half up to 0.01 of a unit in integers, so no float ever decides a digit; each value
    written between ``before`` and ``after``."""
    centi = (us + unit_us // 2) // unit_us
    if centi.size == 0:
        return []
    if centi.min() < 0:  # never in a report (no time is negative): formatted one by one
        return [f"{before}{c // 100}.{c % 100:02d}{after}" for c in centi.tolist()]
    return written_hundredths(1 << max(int(centi.max()).bit_length(), 15), before, after)[centi].tolist()


@lru_cache(maxsize=8)
def written_hundredths(count: int, before: str = "", after: str = "") -> np.ndarray:
    """Every hundredths value below ``count`` as text (between ``before`` and ``after``), looked up
    rather than formatted a row at a time (a week in hours is 16,800 hundredths: a report's
    values fit the first table)."""
    cents = [f".{c:02d}{after}" for c in range(100)]
    return np.array([before + str(whole) + cent for whole in range(-(-count // 100)) for cent in cents][:count],
                    dtype=object)


def make_tables() -> None:
    """The tables ``to_csv`` looks its numbers up in (a worker makes them once, for every fork)."""
    for after in ("", "\n"):
        written_hundredths(1 << 15, ",", after)


def csv_field(text: str) -> str:
    """RFC 4180: a field holding a comma, a double quote or a line break is quoted, its quotes doubled."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def in_hundredths(us: int, unit_us: int) -> float:
    """One value as the CSV writes it, as a number: ``us`` in a unit (``HOUR_US``...), to 0.01,
    rounded half up in integers."""
    centi = unit_us // 100
    return ((us + centi // 2) // centi) / 100


def row_values(up_us: tuple[int, ...], down_us: tuple[int, ...], no_data_us: tuple[int, ...] = ()) -> list[str]:
    """One store's numbers as its report row writes them (the extended row's with ``no_data_us``)."""
    values = (*up_us, *down_us, *no_data_us)
    return [_hundredths(np.array([us]), unit)[0] for us, unit in zip(values, _CENTI_UNITS_US * 3)]


def to_csv(uptime: Uptime, extended: bool = False, windows: tuple[Window, ...] = WINDOWS) -> bytes:
    """The header, then a row a store: its fields laid out in one list, each number with the
    comma before it (and the last with the line's end), joined once.
    ``extended``: the no-data columns too (the uptime's coverage must have been computed);
    ``windows``: those the uptime was computed for (``header_columns`` orders their columns)."""
    if extended and uptime.coverage is None:
        raise ValueError("an extended report needs the coverage computed (compute_uptime(..., coverage=True))")
    values, units = _columns(uptime, extended, windows)
    ids = uptime.store_ids.tolist()
    if any(c in "".join(ids) for c in ',"\r\n'):
        ids = [csv_field(i) for i in ids]
    width = len(values) + 1
    fields: list[str | None] = [None] * (width * len(ids))
    fields[0::width] = ids
    for k, (us, unit) in enumerate(zip(values, units)):
        fields[k + 1::width] = _hundredths(us, unit, ",", "\n" if k == width - 2 else "")
    return (header_of(extended, windows) + "".join(fields)).encode()


def _columns(uptime: Uptime, extended: bool, windows: tuple[Window, ...]) -> tuple[tuple, tuple]:
    """Each column's microseconds and unit, in ``header_columns``' order."""
    n = len(WINDOWS)
    centi = tuple(w.unit_us // 100 for w in windows)
    values, units = (*uptime.up_us[:n], *uptime.down_us[:n]), centi[:n] * 2
    if extended:
        values, units = values + uptime.coverage.no_data_us[:n], units + centi[:n]
    for w in range(n, len(windows)):
        values += (uptime.up_us[w], uptime.down_us[w]) + ((uptime.coverage.no_data_us[w],) if extended else ())
        units += (centi[w],) * (3 if extended else 2)
    return values, units


def header_of(extended: bool, windows: tuple[Window, ...] = WINDOWS) -> str:
    return ",".join(header_columns(windows, extended)) + "\n"


def joined(parts: list[bytes], extended: bool = False, windows: tuple[Window, ...] = WINDOWS) -> bytes:
    """The report CSV from the rows (no header) of its parts, in order."""
    return header_of(extended, windows).encode() + b"".join(parts)
