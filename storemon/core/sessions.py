"""Local business hours to merged UTC sessions, for all stores at once.

The intervals that start on a store's local date come from the first of these with rows
for it: the store's special hours for that date, the chain's holidays for that date, its
weekly hours for that weekday (SPEC, "Special hours, holidays and closures"). A session is
a maximal stretch of continuous business time: intervals that overlap or touch, including
across midnight, become one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from .localtime import local_to_utc_s, zone

DAY_S = 86400
END_OF_DAY_FROM_S = 23 * 3600 + 59 * 60  # SPEC: an end at or after 23:59:00 means 24:00
# A row of special hours or of a holiday with this start (and end) closes its whole date.
CLOSED = -1
NO_DATED_ROWS = np.zeros((0, 4), np.int64)  # (the columns of ``special``; ``holidays`` has 3)


def weekday_of(date: np.ndarray | int) -> np.ndarray | int:
    """0 = Monday for a local date counted in days from 1970-01-01 (a Thursday)."""
    return (date + 3) % 7


@dataclass(frozen=True)
class Sessions:
    """Merged sessions sorted by (store, start); times are UTC epoch seconds, half-open."""

    store: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray


def normalise_ends(start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """Interval ends in seconds after the start day's midnight, per SPEC's rules."""
    same = end_s == start_s
    end = np.where(end_s >= END_OF_DAY_FROM_S, DAY_S, end_s)
    end = np.where(end < start_s, end + DAY_S, end)  # runs past midnight into the next day
    return np.where(same, start_s + DAY_S, end)  # start == end: 24 hours from the start


def weekly_rows(n_stores: int, store: np.ndarray, day: np.ndarray, start_s: np.ndarray, end_s: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hours rows with ends normalised, plus all-day rows for stores with none (open 24x7)."""
    always_open = np.flatnonzero(np.bincount(store, minlength=n_stores) == 0)
    return (np.concatenate([store, np.repeat(always_open, 7)]),
            np.concatenate([day, np.tile(np.arange(7), always_open.size)]),
            np.concatenate([start_s, np.zeros(7 * always_open.size, np.int64)]),
            np.concatenate([normalise_ends(start_s, end_s), np.full(7 * always_open.size, DAY_S)]))


DATE_SPAN = 1 << 24  # local dates (days from 1970-01-01) a version key, store * DATE_SPAN + date, has room for
EVERY_DATE = (-DATE_SPAN, DATE_SPAN)


def version_on(dates: list[int], day: int) -> int:
    """Of versions' effective dates (sorted), the position of the version in force on a local
    date: the newest effective on or before it, else the first (SPEC, "History of weekly hours
    and timezones"); ``versions_on`` is the same rule for arrays, ``valid_dates`` its ranges."""
    return max(bisect.bisect_right(dates, day) - 1, 0)


def versions_on(keys: np.ndarray, store: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For versions keyed store * DATE_SPAN + effective date (sorted), the position of the version
    of each store in force on each local date (``version_on``), and whether the store has any
    (where it has none, the position is another store's)."""
    owner = keys // DATE_SPAN
    at = np.searchsorted(keys, store * DATE_SPAN + day, side="right") - 1
    first = np.minimum(np.searchsorted(keys, store * DATE_SPAN, side="left"), keys.size - 1)  # (its first)
    at = np.where((at >= 0) & (owner[np.maximum(at, 0)] == store), at, first)
    return at, owner[first] == store


def valid_dates(store: np.ndarray, effective: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For rows of versions, (store, effective date) each: the local dates each row's version is
    used on, [from, until): from its effective date to the next version's of its store, the
    store's first version from every date before it too (SPEC, "History of weekly hours").
    None when no store has more than one version (each holds on every date)."""
    if store.size == 0:
        return None
    keys = np.sort(store * DATE_SPAN + effective)  # (np.unique would import numpy.ma in a work horse)
    keys = keys[np.append(True, keys[1:] != keys[:-1])]  # one a version, in (store, date) order
    owner, starts = keys // DATE_SPAN, keys % DATE_SPAN
    first = np.ones(keys.size, bool)
    first[1:] = owner[1:] != owner[:-1]
    if first.all():
        return None
    last = np.append(first[1:], True)
    valid_from = np.where(first, EVERY_DATE[0], starts)
    valid_until = np.where(last, EVERY_DATE[1], np.append(starts[1:], 0))
    at = np.searchsorted(keys, store * DATE_SPAN + effective)
    return valid_from[at], valid_until[at]


@dataclass(frozen=True)
class ZoneHistory:
    """The versions of some stores' timezones, a row each: (store, the local date it takes
    effect), and the zone's name. A store with versions uses, on a local date, the newest
    effective on or before it, else its first; the others keep their one zone."""

    store: np.ndarray
    effective: np.ndarray
    names: list[str | None]

    def of_stores(self, first: int, end: int, shift: bool = True) -> ZoneHistory:
        """The versions of stores ``first`` to ``end`` (excluded), renumbered from 0 (``shift``)."""
        return self.taken(np.flatnonzero((self.store >= first) & (self.store < end)), first if shift else 0)

    def taken(self, rows: np.ndarray, shift: int = 0, store: np.ndarray | None = None) -> ZoneHistory:
        """These versions (positions), their stores less ``shift`` (or ``store`` instead)."""
        return ZoneHistory(self.store[rows] - shift if store is None else store, self.effective[rows],
                           [self.names[i] for i in rows.tolist()])


NO_ZONE_HISTORY = ZoneHistory(np.zeros(0, np.int64), np.zeros(0, np.int64), [])


def _zones_on(zone_of_row: np.ndarray, store: np.ndarray, date: np.ndarray, history: ZoneHistory,
              history_ids: np.ndarray) -> np.ndarray:
    """Each interval's zone (an id), for intervals of (store, local date): the zone version in
    force then for a store with versions, ``zone_of_row``'s otherwise."""
    keys = history.store * DATE_SPAN + history.effective
    order = np.argsort(keys, kind="stable")
    at, has = versions_on(keys[order], store, date)
    return np.where(has, history_ids[order][at], zone_of_row)


def business_sessions(timezones: list[str | None], store: np.ndarray, day: np.ndarray,
                      start_s: np.ndarray, end_s: np.ndarray, first_s: int, last_s: int,
                      special: np.ndarray = NO_DATED_ROWS, holidays: np.ndarray = NO_DATED_ROWS[:, :3],
                      effective: np.ndarray | None = None, zone_history: ZoneHistory = NO_ZONE_HISTORY) -> Sessions:
    """Sessions of every store covering at least UTC ``[first_s, last_s]``.

    ``timezones`` has one IANA name (or None) per store; the hours rows are
    (store, weekday 0 = Monday, local start, local end) with raw seconds after midnight, and
    the local date each row's version of the store's weekly hours takes effect (``effective``,
    days from 1970-01-01; none: one version a store); ``special`` rows are (store, local date,
    start, end) and ``holidays`` rows (date, start, end), both with CLOSED as start and end for
    a closed date; a store of ``zone_history`` builds each date's intervals in the zone in force
    that date (an interval belongs to its date wholly, past midnight too).
    """
    n_stores = len(timezones)
    found = None if effective is None else valid_dates(store, effective)
    versioned = found is not None
    store, day, start_s, end_s = weekly_rows(n_stores, store, day, start_s, end_s)
    if versioned:  # (the around-the-clock rows weekly_rows adds hold on every date)
        valid_from, valid_until = found
        added = store.size - valid_from.size
        valid_from = np.append(valid_from, np.full(added, EVERY_DATE[0]))
        valid_until = np.append(valid_until, np.full(added, EVERY_DATE[1]))

    # Every local date that can reach the range: a UTC day either side for the offset,
    # one more before for intervals that run past midnight.
    first_date, last_date = first_s // DAY_S - 2, last_s // DAY_S + 1
    rows_of_day = [np.flatnonzero(day == d) for d in range(7)]
    parts = []
    for date in range(first_date, last_date + 1):
        rows = rows_of_day[weekday_of(date)]
        if versioned:
            rows = rows[(valid_from[rows] <= date) & (date < valid_until[rows])]
        parts.append((rows, date))
    rows = np.concatenate([r for r, _ in parts])
    date = np.concatenate([np.full(r.size, d, np.int64) for r, d in parts])
    i_store, starts, ends = store[rows], start_s[rows], end_s[rows]
    special = special[(special[:, 1] >= first_date) & (special[:, 1] <= last_date)]
    holidays = holidays[(holidays[:, 0] >= first_date) & (holidays[:, 0] <= last_date)]
    if special.size or holidays.size:
        i_store, date, starts, ends = _dated(n_stores, first_date, last_date, (i_store, date, starts, ends),
                                             special, holidays)
    wall_start = date * DAY_S + starts
    wall_end = date * DAY_S + ends

    # Local to UTC, one vectorised call per distinct timezone.
    zones = [zone(name) for name in timezones]
    versions = [zone(name) for name in zone_history.names]
    zone_ids = {z: i for i, z in enumerate(dict.fromkeys(zones + versions))}
    zone_of_store = np.array([zone_ids[z] for z in zones], np.int64)
    zone_of_row = zone_of_store[i_store]
    if versions:
        zone_of_row = _zones_on(zone_of_row, i_store, date, zone_history,
                                np.array([zone_ids[z] for z in versions], np.int64))
    utc_start = np.empty_like(wall_start)
    utc_end = np.empty_like(wall_end)
    for z, zi in zone_ids.items():
        sel = np.flatnonzero(zone_of_row == zi)
        utc_start[sel] = local_to_utc_s(wall_start[sel], z, first_s, last_s)
        utc_end[sel] = local_to_utc_s(wall_end[sel], z, first_s, last_s)

    keep = utc_end > utc_start
    return merge_intervals(i_store[keep], utc_start[keep], utc_end[keep])


def _dated(n_stores: int, first_date: int, last_date: int, weekly: tuple[np.ndarray, ...], special: np.ndarray,
           holidays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The (store, date, start, end) intervals of the dates in ``[first_date, last_date]``:
    each store's special hours where it has rows for a date, else the holidays' where a date
    has holiday rows, else the weekly ones given (ends normalised in all)."""
    dates = last_date - first_date + 1
    has_special = np.zeros(n_stores * dates, bool)
    has_special[special[:, 0] * dates + special[:, 1] - first_date] = True
    is_holiday = np.zeros(dates, bool)
    is_holiday[holidays[:, 0] - first_date] = True
    store, date, start, end = weekly
    keep = ~(has_special[store * dates + date - first_date] | is_holiday[date - first_date])
    found = [(store[keep], date[keep], start[keep], end[keep])]
    for holiday_date, holiday_start, holiday_end in holidays[holidays[:, 1] != CLOSED].tolist():
        open_then = np.flatnonzero(~has_special[holiday_date - first_date::dates])  # (no special hours that date)
        found.append((open_then, np.full(open_then.size, holiday_date),
                      np.full(open_then.size, holiday_start), np.full(open_then.size, holiday_end)))
    special = special[special[:, 2] != CLOSED]
    found.append((special[:, 0], special[:, 1], special[:, 2], special[:, 3]))
    store, date, start, end = (np.concatenate([np.asarray(f[k], np.int64) for f in found]) for k in range(4))
    dated = np.arange(keep.sum(), store.size)  # (the weekly rows' ends are normalised already)
    end[dated] = normalise_ends(start[dated], end[dated])
    return store, date, start, end


def merge_intervals(store: np.ndarray, start_s: np.ndarray, end_s: np.ndarray) -> Sessions:
    """Merge overlapping or touching intervals of each store into sorted sessions."""
    if store.size == 0:
        return Sessions(store, start_s, end_s)
    # One sortable key per (store, time): store in the high bits, time since base below.
    base = int(start_s.min())
    start_key = (store << 32) | (start_s - base)
    end_key = (store << 32) | (end_s - base)
    order = np.argsort(start_key)  # ties need no order: their ends are merged by maximum (5x a stable sort)
    start_key, end_key = start_key[order], end_key[order]
    reach = np.maximum.accumulate(end_key)  # furthest end so far; a later store's keys are all larger
    opens = np.ones(start_key.size, bool)
    opens[1:] = start_key[1:] > reach[:-1]
    first = np.flatnonzero(opens)
    last = np.append(first[1:] - 1, start_key.size - 1)
    low = (1 << 32) - 1
    return Sessions(start_key[first] >> 32, (start_key[first] & low) + base, (reach[last] & low) + base)
