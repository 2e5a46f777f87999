"""A poll's units and encodings, in one place: every other module imports them from here.

- **Instants** are int64 microseconds since the Unix epoch, UTC (``ts_us``).
- **The tie rule** (SPEC): one store polled twice at one instant is one poll, and if the two
  disagree it is inactive. ``distinct`` applies it, and ``merged`` applies it to stored polls
  and new ones together; nothing else decides a tie.
- **Stored, a row per store and UTC day** (``PollRows``): ``polls`` holds the day's polls,
  sorted and one per instant, 8 bytes each, big-endian (PostgreSQL's own order for int8):
  the instant's microseconds shifted left by one, and 1 in the lowest bit when active. One
  value a poll means one byte string a row, which a report reads about nine of per store,
  straight into NumPy, and one sort of such values puts inactive first among equal instants.
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

POLL_DTYPE = np.dtype(">i8")  # a stored poll: microseconds << 1 | active

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


def pack(ts_us: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Polls as stored values (int64): microseconds << 1 | 1 if active."""
    packed = np.left_shift(ts_us, 1)
    packed |= active
    return packed


def unpack(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ts_us, active) of stored values (int64)."""
    return packed >> 1, (packed & 1).astype(bool)


@dataclass
class PollRows:
    """Polls in rows: each row a run of one store's polls in time order, one per instant, no
    two rows of a store sharing an instant. As stored, a row is a store's UTC day.

    The polls stay where they were read (``packed``, as stored or as int64): a row names its
    first and how many, so rows are ordered, kept or dropped without moving a poll, and a
    report gathers each run of stores' polls only when it computes them."""

    store: np.ndarray  # int64: each row's store (a database key, or a report's store position)
    start: np.ndarray  # int64: its first poll in ``packed``
    count: np.ndarray  # int64: its polls
    packed: np.ndarray  # the polls, stored values (POLL_DTYPE as read, or int64)

    @staticmethod
    def empty() -> PollRows:
        none = np.zeros(0, np.int64)
        return PollRows(none, none, none, none)

    @staticmethod
    def of(store: np.ndarray, ts_us: np.ndarray, active: np.ndarray) -> PollRows:
        """Any polls, by the tie rule, as rows of a store and a UTC day each, sorted by (store, day)."""
        store, ts_us, active = distinct(store, ts_us, active)
        if store.size == 0:
            return PollRows.empty()
        day = day_of(ts_us)
        starts = np.flatnonzero(np.concatenate([[True], (store[1:] != store[:-1]) | (day[1:] != day[:-1])]))
        return PollRows(store[starts], starts, np.diff(np.append(starts, store.size)), pack(ts_us, active))

    @staticmethod
    def decode(store: np.ndarray, size: np.ndarray, polls: bytes) -> PollRows:
        """Rows as read from the database, in the order read: their stores and the sizes of
        their ``polls`` fields in bytes, and those fields concatenated in the same order."""
        size = np.asarray(size, np.int64)
        if len(polls) != int(size.sum()) or (size % POLL_DTYPE.itemsize).any() or not size.all():
            raise ValueError(f"stored polls do not add up: rows of {size.sum()} bytes in all, {len(polls)} read")
        count = size // POLL_DTYPE.itemsize
        return PollRows(np.asarray(store, np.int64), np.cumsum(count) - count, count,
                        np.frombuffer(polls, POLL_DTYPE))

    def taken(self, rows: np.ndarray) -> PollRows:
        """These rows (positions), in this order."""
        return PollRows(self.store[rows], self.start[rows], self.count[rows], self.packed)

    def ordered(self, key: np.ndarray) -> PollRows:
        """These rows sorted by a key of each (one int64 a row)."""
        if key.size < 2 or (key[1:] >= key[:-1]).all():
            return self
        return self.taken(np.argsort(key, kind="stable"))

    def first_us(self) -> np.ndarray:
        """Each row's first instant."""
        return self.packed[self.start].astype(np.int64) >> 1

    def day(self) -> np.ndarray:
        """Each row's UTC day (as stored, a row holds one)."""
        return day_of(self.first_us())

    @property
    def key(self) -> np.ndarray:
        """One sortable int64 per row: (store, day)."""
        return (self.store << 32) | self.day()

    def values(self) -> np.ndarray:
        """Every row's polls in row order, as int64 stored values."""
        ends = self.start + self.count
        if self.start.size == 0 or (self.start[1:] == ends[:-1]).all():  # one run already
            first = int(self.start[0]) if self.start.size else 0
            return self.packed[first:first + int(self.count.sum())].astype(np.int64)
        at = np.repeat(self.start - (np.cumsum(self.count) - self.count), self.count)
        at += np.arange(at.size)
        return self.packed.take(at).astype(np.int64)

    def polls(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(store, ts_us, active) per poll, in row order."""
        return (np.repeat(self.store, self.count), *unpack(self.values()))

    def encoded(self) -> np.ndarray:
        """Every row's ``polls`` field as stored, concatenated in row order (bytes)."""
        return self.values().astype(POLL_DTYPE).view(np.uint8)

    def inactive(self) -> np.ndarray:
        """How many of each row's polls are inactive."""
        if not self.count.size:
            return self.count
        return np.add.reduceat((~unpack(self.values())[1]).astype(np.int64), np.cumsum(self.count) - self.count)


def merged(stored: PollRows, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray) -> tuple[PollRows, int]:
    """The rows of ``stored`` with new polls merged in by the tie rule, and how many polls are
    new. Only the rows that changed are returned: a merge only adds instants or turns active
    ones inactive, so a row is unchanged exactly when its counts of polls and of inactive
    ones are."""
    old_store, old_ts, old_active = stored.polls()
    rows = PollRows.of(np.concatenate([old_store, store]), np.concatenate([old_ts, ts_us]),
                       np.concatenate([old_active, active]))
    unchanged = np.zeros(rows.store.size, bool)
    if stored.store.size:
        at = np.searchsorted(rows.key, stored.key)  # every stored row is among the merged ones
        unchanged[at] = (rows.count[at] == stored.count) & (rows.inactive()[at] == stored.inactive())
    return rows.taken(np.flatnonzero(~unchanged)), int(rows.packed.size - old_store.size)
