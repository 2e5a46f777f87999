"""Local wall-clock times to UTC instants, vectorised per timezone.

SPEC: an ambiguous local time takes its first occurrence; a local time that does not
exist (spring forward) moves forward by the gap. Both are what PEP 495 calls fold=0:
read the wall time with the offset in force *before* the transition. So for each
transition at UTC ``t`` from offset ``a`` to ``b`` the new offset applies to wall times
from ``t + max(a, b)`` on; before that the old one does.
"""

from __future__ import annotations

from datetime import datetime, UTC
from functools import lru_cache, cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DEFAULT_TIMEZONE = "America/Chicago"
_SAMPLE_S = 3600  # transitions are found by hourly sampling, then bisected to the second


@cache
def zone(name: str | None) -> ZoneInfo:
    """The IANA zone of that name; a missing or unknown name gives America/Chicago (SPEC)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_TIMEZONE)


def is_known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def _offset_s(tz: ZoneInfo, t: int) -> int:
    return int(datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset().total_seconds())


@lru_cache(maxsize=4096)
def _wall_thresholds(tz: ZoneInfo, first_s: int, last_s: int) -> tuple[np.ndarray, np.ndarray]:
    """(wall-clock thresholds in local seconds, offsets) covering UTC ``[first_s, last_s]``.

    ``offsets[searchsorted(thresholds, wall, 'right')]`` is the offset to read ``wall`` with.
    """
    samples = np.arange(first_s, last_s + _SAMPLE_S, _SAMPLE_S)
    offsets = np.array([_offset_s(tz, int(t)) for t in samples])
    thresholds, result = [], [int(offsets[0])]
    for i in np.flatnonzero(np.diff(offsets)).tolist():
        lo, hi = int(samples[i]), int(samples[i + 1])  # offset(lo) is old, offset(hi) is new
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_s(tz, mid) == offsets[i]:
                lo = mid
            else:
                hi = mid
        before, after = int(offsets[i]), int(offsets[i + 1])
        thresholds.append(hi + max(before, after))
        result.append(after)
    return np.array(thresholds, np.int64), np.array(result, np.int64)


def local_to_utc_s(wall_s: np.ndarray, tz: ZoneInfo, first_s: int, last_s: int) -> np.ndarray:
    """UTC epoch seconds for local wall-clock seconds (wall time written as if it were UTC).

    ``first_s``..``last_s`` (UTC) must cover the instants asked for, give or take a day.
    """
    day = 86400
    thresholds, offsets = _wall_thresholds(tz, first_s // day * day - 2 * day, last_s // day * day + 2 * day)
    return wall_s - offsets[np.searchsorted(thresholds, wall_s, side="right")]
