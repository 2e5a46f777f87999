"""Up and down time per store within business hours, over the last hour, day and week.

SPEC, "From polls to up and down": evidence is the polls taken in business time within
``[as_of - 8 d, as_of]``. A session with evidence is filled from its own polls, each
instant taking the nearest poll's status (switching at midpoints, the end polls reaching
to the session's edges); a session without takes the store's last known state, else the
first later one; a store without evidence is down. Everything is done for all stores at
once with sorted keys and ``searchsorted``; no Python loop runs per store or per poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .polls import DAY_US, HOUR_US, LOOKBACK_US, TIME_BITS, TIME_MASK, US, WEEK_US, distinct, first_of_runs
from .sessions import business_sessions

WINDOWS_US = (HOUR_US, DAY_US, WEEK_US)
_SLICE_POLLS = 250_000

# Progress: (what is being done, the fraction of it done), the one progress callback of
# every long step (reading sources, loading, computing); a caller shows or forwards it.
Progress = Callable[[str, float], None]
COMPUTING = "computing uptime"


@dataclass
class ReportInput:
    """Everything a report needs, as arrays. Stores are indexed 0..n-1 everywhere."""

    store_ids: np.ndarray  # n opaque ids (str)
    timezones: Sequence[str | None]  # n IANA names; None or unknown means America/Chicago
    hours_store: np.ndarray  # business-hour rows: store index,
    hours_day: np.ndarray  # weekday (0 = Monday),
    hours_start_s: np.ndarray  # local start and end, seconds after midnight as written
    hours_end_s: np.ndarray
    poll_store: np.ndarray  # polls: store index, epoch microseconds, active? (fastest sorted by
    poll_ts_us: np.ndarray  # (store, time) and distinct, as they are read; any order will do)
    poll_active: np.ndarray
    # Earliest poll of each store ever; a store is reported when it is at or before as_of.
    # None: take it from the polls given.
    first_poll_us: np.ndarray | None = None


PollChunk = tuple[np.ndarray, np.ndarray, float]  # keys, statuses, the fraction of the polls handed so far


@dataclass
class Uptime:
    """The report's rows: listed stores sorted by id, and microseconds per window (hour, day, week)."""

    as_of_us: int
    store_ids: np.ndarray
    up_us: tuple[np.ndarray, np.ndarray, np.ndarray]
    down_us: tuple[np.ndarray, np.ndarray, np.ndarray]


def _no_progress(_step: str, _fraction: float) -> None:
    pass


def listed_stores(data: ReportInput, as_of_us: int) -> np.ndarray:
    """Indices of the stores to report (a poll at or before as_of), sorted by store id."""
    n = len(data.store_ids)
    if data.first_poll_us is not None:
        listed = np.asarray(data.first_poll_us) <= as_of_us
    else:
        listed = np.zeros(n, bool)
        listed[data.poll_store[data.poll_ts_us <= as_of_us]] = True
    chosen = np.flatnonzero(listed)
    return chosen[store_id_order(np.asarray(data.store_ids, dtype=str)[chosen])]


def store_id_order(store_ids) -> np.ndarray:
    """Positions of the ids in the report's row order (code point order; a sharded report cuts
    its parts in the same order, so their rows join into the same CSV)."""
    return np.argsort(np.asarray(store_ids, dtype=str), kind="stable") if len(store_ids) else np.zeros(0, np.int64)


def _lookback_keys(store: np.ndarray, ts_us: np.ndarray, active: np.ndarray, as_of_us: int, base_us: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lookback polls ``[as_of - 8 d, as_of]`` as sorted (store, time) keys, one per instant.

    Polls read from the database come sorted and distinct already: one int64 key each (store
    above, time since ``base_us`` below) and a check. Others go through the tie rule first.
    (Made with few temporaries: in a fresh work horse, memory touched the first time is what costs.)
    """
    keep = (ts_us >= as_of_us - LOOKBACK_US) & (ts_us <= as_of_us)
    if not keep.all():
        keep = np.flatnonzero(keep)
        store, ts_us, active = store.take(keep), ts_us.take(keep), active.take(keep)
    key = store << TIME_BITS
    key |= ts_us - base_us
    if key.size < 2 or (key[1:] > key[:-1]).all():
        return store, key, active
    store, ts_us, active = distinct(store, ts_us, active)
    key = store << TIME_BITS
    key |= ts_us - base_us
    return store, key, active


def key_base_us(as_of_us: int) -> int:
    """The instant a report's (store, time) keys count from: a little before its lookback."""
    return as_of_us - LOOKBACK_US - 4 * DAY_US


def _overlap(start: np.ndarray, end: np.ndarray, w0: int, w1: int) -> np.ndarray:
    return np.clip(np.minimum(end, w1) - np.maximum(start, w0), 0, None)


@dataclass
class _Keyed:
    """A report's inputs in the core's own terms: microseconds after ``base`` (a little before
    the lookback), sessions sorted by (store, start), and the lookback polls as runs of sorted
    (store, time) keys, each of whole stores."""

    base: int
    windows: list[tuple[int, int]]
    s_store: np.ndarray
    s_start: np.ndarray
    s_end: np.ndarray
    poll_chunks: Callable[[], Iterator[PollChunk]]


def _keyed(data: ReportInput, as_of_us: int, progress: Progress) -> _Keyed:
    n = len(data.store_ids)
    if n >= 1 << (62 - TIME_BITS):
        raise ValueError(f"too many stores for one report: {n}")
    # Business sessions (whole seconds) that cover the lookback, then in microseconds
    # relative to a base a little before it, so a (store, time) key fits in int64.
    lookback_start = as_of_us - LOOKBACK_US
    sessions = business_sessions(list(data.timezones), np.asarray(data.hours_store, np.int64),
                                 np.asarray(data.hours_day, np.int64), np.asarray(data.hours_start_s, np.int64),
                                 np.asarray(data.hours_end_s, np.int64), lookback_start // US, -(-as_of_us // US))
    progress(COMPUTING, 0.2)
    base = key_base_us(as_of_us)
    s_start = np.maximum(sessions.start_s * US - base, 0)
    s_end = np.clip(sessions.end_s * US - base, 0, TIME_MASK)
    windows = [(as_of_us - length - base, as_of_us - base) for length in WINDOWS_US]
    p_store, p_key, p_active = _lookback_keys(np.asarray(data.poll_store, np.int64),
                                              np.asarray(data.poll_ts_us, np.int64),
                                              np.asarray(data.poll_active, bool), as_of_us, base)

    def chunks() -> Iterator[PollChunk]:
        for lo, hi in _store_slices(p_store, _SLICE_POLLS):
            yield p_key[lo:hi], p_active[lo:hi], hi / p_key.size
    progress(COMPUTING, 0.4)
    return _Keyed(base, windows, sessions.store, s_start, s_end, chunks)


@dataclass
class Filled:
    """How SPEC's rules fill the sessions of some stores (times relative, as in ``_Keyed``).

    Rule 1, per evidence poll (a lookback poll inside a session of its own store): its
    store, time, status, session, and the stretch of the session it owns. Rules 2 and 3,
    per session without evidence: the evidence poll whose state it takes (the store's last
    one before it, else its first one after) or -1 (the store has none: down).
    """

    poll_store: np.ndarray
    poll_rel: np.ndarray
    poll_active: np.ndarray
    poll_session: np.ndarray
    own_start: np.ndarray
    own_end: np.ndarray
    silent: np.ndarray
    lender: np.ndarray

    @property
    def silent_up(self) -> np.ndarray:
        if self.poll_active.size == 0:
            return np.zeros(self.silent.size, bool)
        return (self.lender >= 0) & self.poll_active[np.maximum(self.lender, 0)]


def _last_at_or_before(s_key: np.ndarray, p_key: np.ndarray) -> np.ndarray:
    """For each sorted poll key, the last session starting at or before it (-1: none), as
    ``searchsorted(s_key, p_key, "right") - 1`` but searching the few sessions' starts among
    the many polls instead: session j starts at or before every poll from its position on."""
    starts = np.bincount(np.searchsorted(p_key, s_key, side="left"), minlength=p_key.size + 1)[:p_key.size]
    p_session = np.cumsum(starts)
    p_session -= 1
    return p_session


def fill_sessions(s_store, s_start, s_end, p_store, p_key, p_active) -> Filled:
    """Sessions are sorted (store, start) times relative to the base, polls sorted (store, time)
    keys; both cover the same stores, so this runs on one slice of stores at a time."""
    s_key = (s_store << TIME_BITS) | s_start

    # Evidence: the polls that fall inside a session of their own store.
    p_rel = p_key & TIME_MASK
    p_session = _last_at_or_before(s_key, p_key)
    candidate = np.maximum(p_session, 0)
    inside = np.flatnonzero((p_session >= 0) & (s_store[candidate] == p_store) & (p_rel < s_end[candidate]))
    # Positions, taken from each array: a boolean mask is searched again for every array it indexes.
    p_store, p_rel, p_active, p_session, p_key = (
        p_store.take(inside), p_rel.take(inside), p_active.take(inside), p_session.take(inside), p_key.take(inside))

    # Rule 1: each evidence poll owns the stretch of its session nearest to it: from the
    # midpoint with the previous poll (or the session's start) to the midpoint with the next.
    same_as_next = p_session[1:] == p_session[:-1]
    midpoints = ((p_rel[1:] + p_rel[:-1]) // 2)[same_as_next]
    own_start = s_start[p_session]
    own_start[1:][same_as_next] = midpoints
    own_end = s_end[p_session]
    own_end[:-1][same_as_next] = midpoints

    # Rule 2: a session without evidence takes the store's last known state, else the first
    # later one. Rule 3 follows: a store without evidence has no poll to lend its sessions.
    silent = np.flatnonzero(np.bincount(p_session, minlength=s_key.size) == 0)
    lender = np.full(silent.size, -1, np.int64)
    if p_key.size:
        before = np.searchsorted(p_key, s_key[silent], side="left") - 1
        after = np.minimum(before + 1, p_key.size - 1)
        before_known = (before >= 0) & (p_store[np.maximum(before, 0)] == s_store[silent])
        after_known = p_store[after] == s_store[silent]
        lender = np.where(before_known, before, np.where(after_known, after, -1))
    return Filled(p_store, p_rel, p_active, p_session, own_start, own_end, silent, lender)


def _polled_uptime(s_store, s_start, s_end, p_store, p_key, p_active, windows, n) -> list[np.ndarray]:
    """Uptime per store in each window (float64 microseconds) from sessions and their stores' polls."""
    filled = fill_sessions(s_store, s_start, s_end, p_store, p_key, p_active)
    up = np.flatnonzero(filled.poll_active)
    up_store, up_start, up_end = filled.poll_store.take(up), filled.own_start.take(up), filled.own_end.take(up)
    silent = filled.silent[filled.silent_up]
    uptime = []
    for w0, w1 in windows:
        near = np.flatnonzero(up_end > w0)  # the hour and day windows touch only each store's last few polls
        uptime.append(np.bincount(up_store.take(near), _overlap(up_start.take(near), up_end.take(near), w0, w1),
                                  minlength=n)
                      + np.bincount(s_store[silent], _overlap(s_start[silent], s_end[silent], w0, w1), minlength=n))
    return uptime


def _store_slices(p_store: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Cut the (store-sorted) polls into runs of about ``rows``, never splitting a store."""
    starts = np.searchsorted(p_store, p_store[::rows], side="left")  # sorted; a store of many polls repeats
    cuts = starts[first_of_runs(starts)].tolist()  # not np.unique: it imports numpy.ma, 13 ms in every fresh work horse
    return list(zip(cuts, cuts[1:] + [p_store.size]))


def compute_uptime(data: ReportInput, as_of_us: int, on_progress: Progress | None = None) -> Uptime:
    progress = on_progress or _no_progress
    progress(COMPUTING, 0.0)
    return _uptime_of(data, as_of_us, _keyed(data, as_of_us, progress), progress)


def _uptime_of(data: ReportInput, as_of_us: int, k: _Keyed, progress: Progress) -> Uptime:
    """The report's rows from its inputs in the core's terms (``_keyed``)."""
    n = len(data.store_ids)
    # A slice of stores at a time: every temporary array stays a few megabytes, which the
    # allocator reuses, instead of hundreds that are faulted in afresh (2-3x faster at 20M polls).
    uptime = [np.zeros(n) for _ in k.windows]
    for p_key, p_active, fraction in k.poll_chunks():
        if not p_key.size:
            continue
        p_store = p_key >> TIME_BITS
        a = np.searchsorted(k.s_store, p_store[0], side="left")
        b = np.searchsorted(k.s_store, p_store[-1], side="right")
        part = _polled_uptime(k.s_store[a:b], k.s_start[a:b], k.s_end[a:b], p_store, p_key, p_active, k.windows, n)
        for total, piece in zip(uptime, part):
            total += piece
        progress(COMPUTING, 0.4 + 0.55 * fraction)

    up, down = [], []
    for (w0, w1), window_up in zip(k.windows, uptime):
        business = np.bincount(k.s_store, _overlap(k.s_start, k.s_end, w0, w1), minlength=n)
        # float64 sums of whole microseconds stay exact far beyond a week (2**53 us is 285 years)
        up_us = np.rint(window_up).astype(np.int64)
        up.append(up_us)
        down.append(np.rint(business).astype(np.int64) - up_us)

    rows = listed_stores(data, as_of_us)
    progress(COMPUTING, 1.0)
    return Uptime(as_of_us, np.asarray(data.store_ids, dtype=str)[rows],
                  tuple(u[rows] for u in up), tuple(d[rows] for d in down))
