"""The report CSV (RFC 4180): minutes for the hour, hours for day and week, 2 decimals."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .uptime import Uptime

HEADER = ("store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
          "downtime_last_hour,downtime_last_day,downtime_last_week\n")
_CENTI_MINUTE_US = 600_000  # 0.01 minute
_CENTI_HOUR_US = 36_000_000  # 0.01 hour


def _hundredths(us: np.ndarray, unit_us: int) -> list[str]:
    """Round half up to 0.01 of a unit in integers, so no float ever decides a digit."""
    centi = (us + unit_us // 2) // unit_us
    if centi.size == 0:
        return []
    if centi.min() < 0:  # never in a report (no time is negative): formatted one by one
        return [f"{c // 100}.{c % 100:02d}" for c in centi.tolist()]
    return written_hundredths(1 << max(int(centi.max()).bit_length(), 15))[centi].tolist()


@lru_cache(maxsize=8)
def written_hundredths(count: int) -> np.ndarray:
    """Every hundredths value below ``count`` as text, looked up rather than formatted a row at
    a time (a week in hours is 16,800 hundredths: a report's values fit the first table)."""
    return np.array([f"{c // 100}.{c % 100:02d}" for c in range(count)], dtype=object)


def csv_field(text: str) -> str:
    """RFC 4180: a field holding a comma, a double quote or a line break is quoted, its quotes doubled."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def row_values(up_us: tuple[int, int, int], down_us: tuple[int, int, int]) -> list[str]:
    """One store's six numbers as its report row writes them."""
    units = (_CENTI_MINUTE_US, _CENTI_HOUR_US, _CENTI_HOUR_US)
    return [_hundredths(np.array([us]), unit)[0] for us, unit in zip((*up_us, *down_us), units * 2)]


def to_csv(uptime: Uptime) -> bytes:
    units = (_CENTI_MINUTE_US, _CENTI_HOUR_US, _CENTI_HOUR_US)
    columns = [_hundredths(u, unit) for u, unit in zip(uptime.up_us, units)]
    columns += [_hundredths(d, unit) for d, unit in zip(uptime.down_us, units)]
    ids = uptime.store_ids.tolist()
    if any(c in "".join(ids) for c in ',"\r\n'):
        ids = [csv_field(i) for i in ids]
    return (HEADER + "".join([",".join(row) + "\n" for row in zip(ids, *columns)])).encode()


def joined(parts: list[bytes]) -> bytes:
    """The report CSV from the rows (no header) of its parts, in order."""
    return HEADER.encode() + b"".join(parts)
