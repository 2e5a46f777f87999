"""Up and down time per store within business hours, over the last hour, day and week.

SPEC, "From polls to up and down": evidence is the polls taken in business time within
``[as_of - 8 d, as_of]``. A session with evidence is filled from its own polls, each
instant taking the nearest poll's status (switching at midpoints, the end polls reaching
to the session's edges); a session without takes the store's last known state, else the
first later one; a store without evidence is down. Everything is done for all stores at
once with sorted keys and ``searchsorted``; no Python loop runs per store or per poll.

SPEC, "Evidence coverage": asked for (``coverage``), the same pass also measures each
window's **no data**, the business time farther than ``NEAR_US`` from every evidence poll of
the store, and counts each store's evidence polls and keeps its last one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .polls import DAY_US, HOUR_US, TIME_BITS, US, WEEK_US, PollRows, day_of, distinct, first_of_runs
from .sessions import NO_DATED_ROWS, NO_ZONE_HISTORY, Sessions, ZoneHistory, business_sessions
from .windows import WINDOWS, Window, lookback_us
NEAR_US = HOUR_US  # SPEC: an evidence poll vouches for the business time within 60 minutes of it
NO_LAST_POLL = -1  # the last evidence poll of a store that has none (Coverage.last_evidence_us)
# Polls computed at once: a run's dozen arrays of 64K values (half a megabyte each) stay in a
# core's 2 MB L2 cache. Full scale, the core alone: 47 ms at 64K or 48K, 67 ms at 128K, 72-77
# ms at 250K; below 32K the calls' own cost shows.
_SLICE_POLLS = 64_000
THREADS = os.cpu_count() or 1  # threads computing slices of stores at once

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
    # The stores' polls as rows of a store index and a UTC day each, in any order (as read from
    # the database, or PollRows.of any polls); the lookback's are used.
    polls: PollRows
    # Earliest poll of each store ever; a store is reported when it is at or before as_of.
    # None: take it from the polls given.
    first_poll_us: np.ndarray | None = None
    # The local date (days from 1970-01-01) each hours row's version takes effect; None: one
    # version a store (SPEC, "History of weekly hours and timezones").
    hours_effective: np.ndarray | None = None
    # The versions of the timezones of stores whose zone changed (store indexes); the others keep
    # ``timezones``'s.
    zone_history: ZoneHistory = NO_ZONE_HISTORY
    # Special hours: (store index, local date in days from 1970-01-01, start, end) rows, and the
    # chain's holidays: (date, start, end) rows; sessions.CLOSED as start and end closes a date.
    special: np.ndarray = field(default_factory=lambda: NO_DATED_ROWS)
    holidays: np.ndarray = field(default_factory=lambda: NO_DATED_ROWS[:, :3])


@dataclass
class Coverage:
    """How well polls cover each row's business time (SPEC, "Evidence coverage"): per window,
    the microseconds of no data; the store's evidence polls in the lookback, and the last one's
    instant (NO_LAST_POLL if none)."""

    no_data_us: tuple[np.ndarray, ...]
    evidence_polls: np.ndarray
    last_evidence_us: np.ndarray

    def taken(self, order: np.ndarray) -> Coverage:
        return Coverage(tuple(n[order] for n in self.no_data_us), self.evidence_polls[order], self.last_evidence_us[order])

    @staticmethod
    def joined(parts: list[Coverage], order: np.ndarray) -> Coverage:
        return Coverage(tuple(np.concatenate([p.no_data_us[w] for p in parts]) for w in range(len(parts[0].no_data_us))),
                        np.concatenate([p.evidence_polls for p in parts]),
                        np.concatenate([p.last_evidence_us for p in parts])).taken(order)


@dataclass
class Uptime:
    """The report's rows: listed stores sorted by id, and microseconds per window (hour, day,
    week, then any longer ones asked for)."""

    as_of_us: int
    store_ids: np.ndarray
    up_us: tuple[np.ndarray, ...]
    down_us: tuple[np.ndarray, ...]
    stores: np.ndarray | None = None  # each row's store index in the input
    coverage: Coverage | None = None  # when asked for (compute_uptime's ``coverage``)

    @staticmethod
    def joined(parts: list[Uptime], order: np.ndarray) -> Uptime:
        """The rows of several reports' parts (of the same as_of), in this order of all their rows."""
        if len(parts) == 1 and (order == np.arange(order.size)).all():
            return parts[0]
        ids = np.concatenate([p.store_ids for p in parts])[order]
        covered = [p.coverage for p in parts if p.coverage is not None]
        windows = range(len(parts[0].up_us))
        return Uptime(parts[0].as_of_us, ids,
                      tuple(np.concatenate([p.up_us[w] for p in parts])[order] for w in windows),
                      tuple(np.concatenate([p.down_us[w] for p in parts])[order] for w in windows),
                      coverage=Coverage.joined(covered, order) if len(covered) == len(parts) else None)


def no_progress(_step: str, _fraction: float) -> None:
    pass


def listed_stores(data: ReportInput, as_of_us: int) -> np.ndarray:
    """Indices of the stores to report (a poll at or before as_of), sorted by store id."""
    n = len(data.store_ids)
    if data.first_poll_us is not None:
        listed = np.asarray(data.first_poll_us) <= as_of_us
    else:
        listed = np.zeros(n, bool)
        listed[data.polls.store[data.polls.first_us() <= as_of_us]] = True
    chosen = np.flatnonzero(listed)
    return chosen[store_id_order(np.asarray(data.store_ids, dtype=str)[chosen])]


def store_id_order(store_ids) -> np.ndarray:
    """Positions of the ids in the report's row order (code point order; a sharded report cuts
    its parts in the same order, so their rows join into the same CSV)."""
    return np.argsort(np.asarray(store_ids, dtype=str), kind="stable") if len(store_ids) else np.zeros(0, np.int64)


def key_base_us(as_of_us: int, lookback: int) -> int:
    """The instant a report's (store, time) keys count from: a little before its lookback."""
    return as_of_us - lookback - 4 * DAY_US


def time_bits(lookback: int) -> int:
    """The bits of microseconds below the store's position in a report's keys: ``TIME_BITS``
    (25 days), or more for a lookback that needs them (a 30-day window's: 42 bits, 1M stores)."""
    return max(TIME_BITS, (lookback + 6 * DAY_US).bit_length())


def _overlap(start: np.ndarray, end: np.ndarray, w0: int, w1: int) -> np.ndarray:
    """How much of each stretch ``[start, end)`` lies inside ``[w0, w1)`` (in place: one temporary)."""
    inside = np.minimum(end, w1)
    inside -= np.maximum(start, w0)
    return np.maximum(inside, 0, out=inside)


@dataclass
class KeyedInput:
    """A report's inputs in the core's own terms: microseconds after ``base`` (a little before
    the lookback), sessions sorted by (store, start) and cut to the lookback, and the polls'
    rows sorted by (store, day) and cut into ``runs`` of whole stores, whose polls ``keys``
    gives. Cutting the sessions to the lookback ``[as_of - 8 d, as_of]`` makes evidence of
    exactly the polls SPEC counts (those inside a session, in the lookback), with no pass to
    pick the lookback's polls out; the windows, inside the lookback, see the same sessions."""

    base: int
    windows: list[tuple[int, int]]
    s_store: np.ndarray
    s_start: np.ndarray
    s_end: np.ndarray
    rows: PollRows
    runs: list[tuple[int, int]]  # (first row, row after the last)
    bits: int = TIME_BITS  # of time in a key (``time_bits``)

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1

    def keys(self, run: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """A run's polls as sorted (store, time) keys, one per instant, and their statuses.
        Rows as stored come sorted and distinct: one key each and a check. Others go through
        the tie rule (a run holds whole stores, so it can be applied run by run)."""
        rows = self.rows.taken(np.arange(*run))
        packed = rows.values()
        key = packed >> 1
        stores = np.flatnonzero(first_of_runs(rows.store))  # (a store's rows are consecutive)
        key += np.repeat((rows.store[stores] << self.bits) - self.base, np.add.reduceat(rows.count, stores))
        active = (packed & 1).astype(bool)
        if key.size > 1 and not (key[1:] > key[:-1]).all():
            store, ts_us, active = distinct(key >> self.bits, (key & self.mask) + self.base, active)
            key = store << self.bits
            key |= ts_us - self.base
        return key, active

    def done(self, run: tuple[int, int]) -> float:
        """The fraction of the polls in the runs up to this one's end."""
        total = int(self.rows.count.sum())
        return float(self.rows.count[:run[1]].sum()) / total if total else 1.0


def _sessions(data: ReportInput, first_s: int, last_s: int, threads: int) -> Sessions:
    """The business sessions of every store covering UTC ``[first_s, last_s]``, the stores cut
    into ``threads`` runs computed at once."""
    n = len(data.store_ids)
    hours_store = np.asarray(data.hours_store, np.int64)
    hours = [np.asarray(a, np.int64) for a in (data.hours_day, data.hours_start_s, data.hours_end_s)]
    timezones = list(data.timezones)
    runs = max(1, min(threads, n // 1000))  # (a small report is not worth a thread)
    cuts = [n * k // runs for k in range(runs + 1)]

    special = np.asarray(data.special, np.int64).reshape(-1, 4)
    holidays = np.asarray(data.holidays, np.int64).reshape(-1, 3)
    effective = None if data.hours_effective is None else np.asarray(data.hours_effective, np.int64)

    def run(a: int, b: int) -> Sessions:
        mine = np.flatnonzero((hours_store >= a) & (hours_store < b)) if runs > 1 else slice(None)
        theirs = special[(special[:, 0] >= a) & (special[:, 0] < b)] - [a, 0, 0, 0]
        found = business_sessions(timezones[a:b], hours_store[mine] - a, *(h[mine] for h in hours), first_s, last_s,
                                  theirs, holidays, None if effective is None else effective[mine],
                                  data.zone_history.of_stores(a, b))
        return Sessions(found.store + a, found.start_s, found.end_s)

    if runs == 1:
        return run(0, n)
    with ThreadPoolExecutor(runs, thread_name_prefix="sessions") as pool:
        parts = list(pool.map(run, cuts[:-1], cuts[1:]))
    return Sessions(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("store", "start_s", "end_s")))


def keyed_input(data: ReportInput, as_of_us: int, progress: Progress, threads: int = 1,
                sessions: Sessions | None = None, windows: tuple[Window, ...] = WINDOWS) -> KeyedInput:
    n = len(data.store_ids)
    lookback = lookback_us(windows)
    bits = time_bits(lookback)
    if n >= 1 << (62 - bits):
        raise ValueError(f"too many stores for one report of these windows: {n}")
    # Business sessions (whole seconds) that cover the lookback, then in microseconds
    # relative to a base a little before it, so a (store, time) key fits in int64.
    lookback_start = as_of_us - lookback
    if sessions is None:
        sessions = _sessions(data, lookback_start // US, -(-as_of_us // US), threads)
    progress(COMPUTING, 0.2)
    base = key_base_us(as_of_us, lookback)
    s_start = np.maximum(sessions.start_s * US, lookback_start) - base
    s_end = np.minimum(sessions.end_s * US, as_of_us + 1) - base  # (a poll at as_of is evidence)
    kept = np.flatnonzero(s_end > s_start)
    bounds = [(as_of_us - w.length_us - base, as_of_us - base) for w in windows]
    rows = data.polls
    day = rows.day()
    near = np.flatnonzero((day > day_of(base)) & (day < day_of(base + (1 << bits) - 1)))  # (their keys must fit)
    if near.size < day.size:
        rows, day = rows.taken(near), day[near]
    rows = rows.ordered((rows.store << 32) | day)
    progress(COMPUTING, 0.4)
    return KeyedInput(base, bounds, sessions.store[kept], s_start[kept], s_end[kept], rows,
                      _store_runs(rows, _SLICE_POLLS), bits)


@dataclass
class Filled:
    """How SPEC's rules fill the sessions of some stores (times relative, as in ``KeyedInput``).

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


def fill_sessions(s_store, s_start, s_end, p_key, p_active, bits: int = TIME_BITS) -> Filled:
    """Sessions are sorted (store, start) times relative to the base, none overlapping another
    (``merge_intervals``); polls sorted (store, time) keys, ``bits`` of time. Both cover the
    same stores, so this runs on one slice of stores at a time."""
    s_key = (s_store << bits) | s_start

    # Evidence: the polls that fall inside a session of their own store, [start, end). Each
    # session's are a range of the sorted keys, the ranges in session order: found by a search
    # per session rather than a pass per poll (most polls fall in a session, sessions are few).
    first = np.searchsorted(p_key, s_key, side="left")
    count = np.searchsorted(p_key, (s_store << bits) | s_end, side="left")
    count -= first
    before = np.cumsum(count)
    before -= count  # evidence polls of the sessions before each
    p_session = np.repeat(np.arange(s_key.size), count)
    inside = np.arange(p_session.size)
    inside += np.repeat(first - before, count)
    p_key, p_active = p_key.take(inside), p_active.take(inside)
    p_store = s_store.take(p_session)
    p_rel = p_key & ((1 << bits) - 1)

    # Rule 1: each evidence poll owns the stretch of its session nearest to it: from the
    # midpoint with the previous poll (or the session's start) to the midpoint with the next.
    same_as_next = p_session[1:] == p_session[:-1]
    midpoints = p_rel[1:] + p_rel[:-1]
    midpoints >>= 1  # (halved, rounding down: the times are not negative)
    own_start = s_start.take(p_session)
    np.copyto(own_start[1:], midpoints, where=same_as_next)
    own_end = s_end.take(p_session)
    np.copyto(own_end[:-1], midpoints, where=same_as_next)

    # Rule 2: a session without evidence takes the store's last known state (the evidence
    # just before where its own would be), else the first later one. Rule 3 follows: a store
    # without evidence has no poll to lend its sessions.
    silent = np.flatnonzero(count == 0)
    lender = np.full(silent.size, -1, np.int64)
    if p_key.size:
        last = before[silent] - 1
        later = np.minimum(last + 1, p_key.size - 1)
        last_known = (last >= 0) & (p_store[np.maximum(last, 0)] == s_store[silent])
        later_known = p_store[later] == s_store[silent]
        lender = np.where(last_known, last, np.where(later_known, later, -1))
    return Filled(p_store, p_rel, p_active, p_session, own_start, own_end, silent, lender)


@dataclass
class _SliceResult:
    """A slice's sums for its stores, from its first: uptime per window (float64 microseconds),
    and when coverage is asked for, covered business time per window, evidence polls, the last."""

    first: int
    uptime: list[np.ndarray]
    covered: list[np.ndarray] | None = None
    evidence_polls: np.ndarray | None = None
    last_rel: np.ndarray | None = None


def _polled_uptime(s_store, s_start, s_end, p_key, p_active, windows, coverage: bool = False,
                   bits: int = TIME_BITS) -> _SliceResult:
    """The sums of the stores of a slice, from their sessions and polls (``_SliceResult``)."""
    first = int(s_store[0])
    filled = fill_sessions(s_store, s_start, s_end, p_key, p_active, bits)
    up = np.flatnonzero(filled.poll_active)
    up_store, up_start, up_end = filled.poll_store.take(up) - first, filled.own_start.take(up), filled.own_end.take(up)
    silent = filled.silent[filled.silent_up]
    silent_store, silent_start, silent_end = s_store[silent] - first, s_start[silent], s_end[silent]
    stores = int(s_store[-1]) - first + 1
    uptime = []
    for w0, w1 in windows:
        window_store, window_start, window_end = up_store, up_start, up_end
        if w1 - w0 < WEEK_US:  # the hour and day windows touch only each store's last few polls
            near = np.flatnonzero(up_end > w0)
            window_store, window_start, window_end = up_store.take(near), up_start.take(near), up_end.take(near)
        uptime.append(np.bincount(window_store, _overlap(window_start, window_end, w0, w1), minlength=stores)
                      + np.bincount(silent_store, _overlap(silent_start, silent_end, w0, w1), minlength=stores))
    if not coverage:
        return _SliceResult(first, uptime)
    return _SliceResult(first, uptime, *_covered(s_store, s_start, s_end, filled, windows, first, stores, bits))


def _covered(s_store, s_start, s_end, filled: Filled, windows, first: int, stores: int, bits: int = TIME_BITS
             ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(business time within NEAR_US of an evidence poll per window, evidence polls, the last
    one's relative time or NO_LAST_POLL) for the stores of a slice.

    Each store's evidence polls (sorted) vouch for ``[t - NEAR_US, t + NEAR_US]``; consecutive
    polls at most twice that apart make one stretch, so the stretches are disjoint. The
    business time inside a stretch is ``B(end) - B(start)``, B(t) being the business time of
    the sessions before t (cumulative lengths, and the part of the session t falls in): a
    stretch starts an hour before a poll, so in that poll's session or just before it, and
    ends in or just after the session of its last poll; only the few that reach into a
    neighbouring session are searched for. B is monotone, so the part in a window
    ``[w0, as_of)`` is ``B(end) - max(B(start), B(w0))``, at least 0 (ends are cut at as_of).
    """
    p_store, p_rel = filled.poll_store, filled.poll_rel
    evidence = np.zeros(stores, np.int64)
    last_rel = np.full(stores, NO_LAST_POLL, np.int64)
    if p_rel.size == 0:
        return [np.zeros(stores) for _ in windows], evidence, last_rel
    new_store = first_of_runs(p_store)
    firsts = np.flatnonzero(new_store)
    lasts = np.append(firsts[1:], p_rel.size) - 1
    evidence[p_store[firsts] - first] = lasts - firsts + 1
    last_rel[p_store[firsts] - first] = p_rel[lasts]
    new_store[1:] |= (p_rel[1:] - p_rel[:-1]) > 2 * NEAR_US
    begins = np.flatnonzero(new_store)
    ends = np.append(begins[1:], p_rel.size) - 1
    c_store = p_store[begins]
    s_key = (s_store << bits) | s_start
    length = s_end - s_start
    before = np.cumsum(length)
    before -= length
    as_of = windows[0][1]  # (every window ends at as_of)
    c_start = p_rel[begins] - NEAR_US
    c_end = np.minimum(p_rel[ends] + NEAR_US, as_of)
    last = s_store.size - 1

    def searched(store: np.ndarray, t: np.ndarray) -> np.ndarray:
        """B at these (store, time)s, by a search among the sessions' keys."""
        key = (store << bits) | t
        at = np.searchsorted(s_key, key, side="right") - 1
        found = np.maximum(at, 0)
        return np.where(at >= 0, before[found] + np.minimum(key - s_key[found], length[found]), 0)

    # A stretch starts an hour before a poll in session j: inside j, or in the time before it,
    # where the store's session before it (if any) has ended already, but for a few.
    j = filled.poll_session[begins]
    into = c_start - s_start[j]
    b_start = before[j] + np.maximum(into, 0)
    prev = np.maximum(j - 1, 0)
    hard = (into < 0) & (j > 0) & (s_store[prev] == c_store) & (s_end[prev] > c_start)
    if hard.any():
        b_start[hard] = searched(c_store[hard], c_start[hard])
    # and ends an hour after a poll in session k (or at as_of): inside k, or after it, where the
    # store's next session (if any) has not begun yet, but for a few.
    k = filled.poll_session[ends]
    past = c_end - s_end[k]
    b_end = before[k] + length[k] + np.minimum(past, 0)
    nxt = np.minimum(k + 1, last)
    hard = (past > 0) & (k < last) & (s_store[nxt] == c_store) & (s_start[nxt] < c_end)
    if hard.any():
        b_end[hard] = searched(c_store[hard], c_end[hard])
    mine = c_store - first
    whole = np.bincount(mine, b_end - b_start, minlength=stores)
    stores_of = np.arange(first, first + stores, dtype=np.int64)
    covered = []
    for w0, w1 in windows:
        b0 = searched(stores_of, np.full(stores, w0))  # B(w0) of each store
        if w1 - w0 < WEEK_US:  # the stretches reaching into the window: few
            near = np.flatnonzero(c_end > w0)
            inside = b_end[near] - np.maximum(b_start[near], b0[mine[near]])
            covered.append(np.bincount(mine[near], np.maximum(inside, 0), minlength=stores))
        else:  # the whole, less what lies before the window: a few
            early = np.flatnonzero(c_start < w0)
            outside = np.minimum(b_end[early], b0[mine[early]]) - b_start[early]
            covered.append(whole - np.bincount(mine[early], np.maximum(outside, 0), minlength=stores))
    return covered, evidence, last_rel


def _store_runs(rows: PollRows, polls: int) -> list[tuple[int, int]]:
    """Cut the rows (sorted by store) into runs of about ``polls`` polls, never splitting a store."""
    if rows.store.size == 0:
        return []
    firsts = np.flatnonzero(first_of_runs(rows.store))  # each store's first row
    before = (np.cumsum(rows.count) - rows.count)[firsts]  # the polls before it
    picked = firsts[np.searchsorted(before, np.arange(0, int(before[-1]) + 1, polls), side="right") - 1]
    cuts = picked[first_of_runs(picked)].tolist()  # not np.unique: it imports numpy.ma, 13 ms in every fresh work horse
    return list(zip(cuts, cuts[1:] + [rows.store.size]))


def compute_uptime(data: ReportInput, as_of_us: int, on_progress: Progress | None = None,
                   threads: int = THREADS, sessions: Sessions | None = None, coverage: bool = False,
                   windows: tuple[Window, ...] = WINDOWS) -> Uptime:
    """Every listed store's up and down time in each window. The slices of stores are computed
    by ``threads`` threads at once (NumPy lets go of the interpreter in its loops; a report's
    pieces, already read ahead by other threads, are computed with one: storemon/reports/build.py).
    ``sessions``: the stores' business sessions (``business_sessions`` of their hours and zones)
    over a span covering the lookback, made beforehand; None: made here. ``coverage``: measure
    no data too (``Coverage``). ``windows``: the standard three, and any longer ones after them
    (``windows_of``), whose lookback is longer (SPEC, "Longer windows")."""
    progress = on_progress or no_progress
    progress(COMPUTING, 0.0)
    return uptime_of_keyed(data, as_of_us, keyed_input(data, as_of_us, progress, threads, sessions, windows),
                           progress, threads, coverage)


def uptime_of_keyed(data: ReportInput, as_of_us: int, k: KeyedInput, progress: Progress, threads: int = 1,
                    coverage: bool = False) -> Uptime:
    """The report's rows from its inputs in the core's terms (``keyed_input``)."""
    n = len(data.store_ids)
    # A slice of stores at a time (_SLICE_POLLS): every temporary array stays in the cache and
    # the allocator reuses it, instead of hundreds of megabytes faulted in afresh.
    uptime = [np.zeros(n) for _ in k.windows]
    covered = [np.zeros(n if coverage else 0) for _ in k.windows]
    evidence = np.zeros(n if coverage else 0, np.int64)
    last_rel = np.full(n if coverage else 0, NO_LAST_POLL, np.int64)

    def run_uptime(run: tuple[int, int]) -> _SliceResult | None:
        p_key, p_active = k.keys(run)
        if not p_key.size:
            return None
        a = np.searchsorted(k.s_store, p_key[0] >> k.bits, side="left")
        b = np.searchsorted(k.s_store, p_key[-1] >> k.bits, side="right")
        if a == b:  # (no store of the run has a session)
            return None
        return _polled_uptime(k.s_store[a:b], k.s_start[a:b], k.s_end[a:b], p_key, p_active, k.windows, coverage,
                              k.bits)

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="uptime") as pool:
        for run, found in zip(k.runs, pool.map(run_uptime, k.runs) if threads > 1 else map(run_uptime, k.runs)):
            if found is not None:
                first, stores = found.first, found.uptime[0].size
                for total, piece in zip(uptime, found.uptime):
                    total[first:first + stores] += piece
                if found.covered is not None:
                    for total, piece in zip(covered, found.covered):
                        total[first:first + stores] += piece
                    evidence[first:first + stores] += found.evidence_polls
                    np.maximum(last_rel[first:first + stores], found.last_rel, out=last_rel[first:first + stores])
            progress(COMPUTING, 0.4 + 0.55 * k.done(run))

    up, down, no_data = [], [], []
    for (w0, w1), window_up, window_covered in zip(k.windows, uptime, covered):
        business = np.bincount(k.s_store, _overlap(k.s_start, k.s_end, w0, w1), minlength=n)
        # float64 sums of whole microseconds stay exact far beyond a week (2**53 us is 285 years)
        business_us = np.rint(business).astype(np.int64)
        up_us = np.rint(window_up).astype(np.int64)
        up.append(up_us)
        down.append(business_us - up_us)
        if coverage:
            no_data.append(business_us - np.rint(window_covered).astype(np.int64))

    rows = listed_stores(data, as_of_us)
    progress(COMPUTING, 1.0)
    found = None
    if coverage:
        last_us = np.where(last_rel == NO_LAST_POLL, NO_LAST_POLL, last_rel + k.base)
        found = Coverage(tuple(d[rows] for d in no_data), evidence[rows], last_us[rows])
    return Uptime(as_of_us, np.asarray(data.store_ids, dtype=str)[rows],
                  tuple(u[rows] for u in up), tuple(d[rows] for d in down), rows, found)
