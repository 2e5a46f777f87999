"""A poll's units and encodings, in one place: every other module imports them from here.

- **Instants** are int64 microseconds since the Unix epoch, UTC (``ts_us``).
- **The tie rule** (SPEC): one store polled twice at one instant is one poll, and if the two
  disagree it is inactive. ``distinct`` applies it, and ``merged`` applies it to stored polls
  and new ones together; nothing else decides a tie.
- **Stored, a row per store and UTC day** (``DayRows``): ``ts`` holds the day's instants,
  sorted and distinct, 8 bytes each, big-endian (PostgreSQL's own order for int8, so SQL can
  compare them as bytes); ``status`` one byte each, 1 active and 0 inactive. A report reads
  about nine such rows per store straight into NumPy.
- **The core's keys**: a store's position above ``TIME_BITS`` bits of microseconds since a
  base a little before the lookback, so one int64 sorts polls by (store, time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
WEEK_US = 7 * DAY_US
LOOKBACK_US = 8 * DAY_US  # SPEC: only polls in [as_of - 8 d, as_of] are evidence

TS_DTYPE = np.dtype(">i8")  # a stored instant
STATUS_DTYPE = np.dtype("u1")  # a stored status: 1 active, 0 inactive

TIME_BITS = 41  # ~25 days of microseconds below the store's position in a core key (2M stores fit above)
TIME_MASK = (1 << TIME_BITS) - 1


def day_of(ts_us: np.ndarray) -> np.ndarray:
    """The UTC day number (days since 1970-01-01) of each instant."""
    return np.floor_divide(ts_us, DAY_US)


def first_of_runs(sorted_values: np.ndarray) -> np.ndarray:
    """Which entries of a sorted array differ from the one before (the first of each run)."""
    first = np.ones(sorted_values.size, bool)
    first[1:] = sorted_values[1:] != sorted_values[:-1]
    return first


def distinct(store: np.ndarray, ts_us: np.ndarray, active: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One poll per (store, instant), inactive winning a disagreement, sorted by (store, time).

    (store, time since the earliest, status) are packed into one int64 when they fit (a
    batch spanning years does), so one sort orders them with inactive first among equals;
    else a lexsort does the same."""
    store, ts_us, active = np.asarray(store, np.int64), np.asarray(ts_us, np.int64), np.asarray(active, bool)
    if store.size == 0:
        return store, ts_us, active
    base_us, span_us = int(ts_us.min()), int(ts_us.max()) - int(ts_us.min())
    time_bits = max(span_us.bit_length(), 1)
    if time_bits + max(int(store.max()).bit_length(), 1) + 1 > 63:
        order = np.lexsort((active, ts_us, store))  # inactive (False) first among equals
        store, ts_us, active = store[order], ts_us[order], active[order]
        first = np.ones(store.size, bool)
        first[1:] = (store[1:] != store[:-1]) | (ts_us[1:] != ts_us[:-1])
        return store[first], ts_us[first], active[first]
    packed = store << time_bits
    packed |= ts_us - base_us
    packed <<= 1
    packed |= active
    packed.sort()
    key = packed >> 1
    first = first_of_runs(key)
    key, packed = key[first], packed[first]
    return key >> time_bits, (key & ((1 << time_bits) - 1)) + base_us, (packed & 1).astype(bool)


@dataclass
class DayRows:
    """Polls as stored: a row per (store, UTC day), sorted by (store, day); each row's polls
    sorted and distinct, concatenated in row order (``ts_us``, ``active``; ``count`` a row)."""

    store: np.ndarray  # int64, a row's store key
    day: np.ndarray  # int64, its UTC day number
    count: np.ndarray  # int64, its polls
    ts_us: np.ndarray  # int64, every row's polls in row order
    active: np.ndarray  # bool

    @staticmethod
    def empty() -> DayRows:
        none = np.zeros(0, np.int64)
        return DayRows(none, none, none, none, np.zeros(0, bool))

    @staticmethod
    def of(store: np.ndarray, ts_us: np.ndarray, active: np.ndarray) -> DayRows:
        """The rows of distinct polls sorted by (store, time), as ``distinct`` returns them."""
        day = day_of(ts_us)
        if store.size == 0:
            return DayRows(store, day, np.zeros(0, np.int64), ts_us, active)
        starts = np.flatnonzero((store[1:] != store[:-1]) | (day[1:] != day[:-1])) + 1
        starts = np.concatenate([[0], starts])
        return DayRows(store[starts], day[starts], np.diff(np.append(starts, store.size)), ts_us, active)

    @staticmethod
    def decode(store: np.ndarray, day: np.ndarray, count: np.ndarray, ts_bytes: bytes, status_bytes: bytes
               ) -> DayRows:
        """Rows as read from the database, in any order (sorted here): their keys and poll
        counts, and their ``ts`` and ``status`` fields concatenated in the same order."""
        active = np.frombuffer(status_bytes, STATUS_DTYPE).view(bool)
        ts_us = np.frombuffer(ts_bytes, TS_DTYPE).astype(np.int64)
        count = np.asarray(count, np.int64)
        if not ts_us.size == active.size == int(count.sum()):
            raise ValueError(f"stored polls do not add up: {count.sum()} counted, {ts_us.size} instants, "
                             f"{active.size} statuses")
        rows = DayRows(np.asarray(store, np.int64), np.asarray(day, np.int64), count, ts_us, active)
        key = rows.key
        if key.size < 2 or (key[1:] > key[:-1]).all():
            return rows
        return rows.taken(np.argsort(key))

    @property
    def key(self) -> np.ndarray:
        """One sortable int64 per row: (store, day)."""
        return (self.store << 32) | self.day

    def taken(self, rows: np.ndarray) -> DayRows:
        """These rows (positions), in this order."""
        starts = np.cumsum(self.count) - self.count
        count = self.count[rows]
        at = np.repeat(starts[rows] - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
        return DayRows(self.store[rows], self.day[rows], count, self.ts_us[at], self.active[at])

    def inactive(self) -> np.ndarray:
        """How many of each row's polls are inactive."""
        if not self.count.size:
            return self.count
        return np.add.reduceat((~self.active).astype(np.int64), np.cumsum(self.count) - self.count)

    def polls(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(store, ts_us, active) per poll, sorted by (store, time)."""
        return np.repeat(self.store, self.count), self.ts_us, self.active

    @property
    def ts_bytes(self) -> np.ndarray:
        return self.ts_us.astype(TS_DTYPE).view(np.uint8)

    @property
    def status_bytes(self) -> np.ndarray:
        return self.active.astype(STATUS_DTYPE)


def merged(stored: DayRows, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray) -> tuple[DayRows, int]:
    """The rows of ``stored`` with new polls merged in by the tie rule, and how many polls are
    new. Only the rows that changed are returned: a merge only adds instants or turns active
    ones inactive, so a row is unchanged exactly when its counts of polls and of inactive
    ones are."""
    old_store, old_ts, old_active = stored.polls()
    both = distinct(np.concatenate([old_store, store]), np.concatenate([old_ts, ts_us]),
                    np.concatenate([old_active, active]))
    rows = DayRows.of(*both)
    unchanged = np.zeros(rows.store.size, bool)
    if stored.store.size:
        at = np.searchsorted(rows.key, stored.key)  # every stored row is among the merged ones
        unchanged[at] = (rows.count[at] == stored.count) & (rows.inactive()[at] == stored.inactive())
    return rows.taken(np.flatnonzero(~unchanged)), int(both[0].size - old_store.size)
