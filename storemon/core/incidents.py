"""Incidents: a store going down or falling silent during its business hours, from its polls.

An evaluation runs at the data's clock ``now`` (the newest poll) over the polls of the span
before it. A poll is **evidence** when it lies in one of its store's business sessions (the
calendar included), as in a report. For each store:

- **down** opens when the store is open at ``now`` and its latest evidence polls, ``down_after``
  of them at least, are all ``inactive``: it is down since the first of that run, and the
  run's ``down_after``-th poll opened it. An ``active`` evidence poll after that one resolves it.
- **no data** opens when the store is open at ``now``, has been polled at least once, and
  ``silence_us`` of its business time have passed since its latest evidence poll (or since
  its first poll, or the span's start): it opens at the instant the silence reached that, and
  the latest evidence poll (if any) opened it. Any evidence poll after that one resolves it.

Closed time never counts: nothing opens while a store is closed, silence grows only in
business time, and an incident stays open across a closed night until a poll resolves it.
The rule is stateless: given the polls and the incidents still open, the same evaluation
gives the same changes, so an evaluation lost or run twice changes nothing.

The poller itself is **silent** when the newest poll is older than ``poller_silence_us``
by the wall clock (``poller_silent``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .polls import DAY_US, HOUR_US, TIME_BITS, US, first_of_runs
from .sessions import Sessions, business_sessions
from .uptime import ReportInput

DOWN, NO_DATA, POLLER_SILENT = "down", "no_data", "poller_silent"
SLO_EXHAUSTED, SLO_BURN = "slo_exhausted", "slo_burn"  # storemon/core/slo.py's alerts
KINDS = (DOWN, NO_DATA, POLLER_SILENT, SLO_EXHAUSTED, SLO_BURN)
KIND_NAMES = {DOWN: "down", NO_DATA: "no data", POLLER_SILENT: "poller silent",
              SLO_EXHAUSTED: "SLO budget exhausted", SLO_BURN: "SLO burning fast"}  # for people
SPAN_US = DAY_US  # the polls an evaluation reads: this long before the clock
NO_POLL = -1  # an incident's opening poll when none opened it (no evidence poll in the span)


@dataclass(frozen=True)
class Rules:
    down_after: int = 1  # inactive evidence polls in a row that open a down incident
    silence_us: int = 2 * HOUR_US  # business time without evidence that opens a no-data incident
    poller_silence_us: int = 2 * HOUR_US  # wall-clock time without a new poll that opens a poller incident

    def __post_init__(self):
        if self.down_after < 1:
            raise ValueError("down_after must be at least 1")
        if not 0 < self.silence_us < SPAN_US:
            raise ValueError(f"the silence that opens a no-data incident must be above 0 and below {SPAN_US // HOUR_US} h")


@dataclass(frozen=True)
class Open:
    """The open incidents of one kind, one a store: its store and the poll that opened it
    (NO_POLL if none); an evidence poll after that one may resolve it."""

    store: np.ndarray
    after_us: np.ndarray

    @staticmethod
    def none() -> Open:
        return Open(np.zeros(0, np.int64), np.zeros(0, np.int64))


@dataclass(frozen=True)
class Changes:
    """What an evaluation changes for one kind: the incidents it opens (their stores, since
    when, and the poll that opened each, or NO_POLL), and which open ones it resolves (their
    positions in ``Open``) by which poll."""

    opened_store: np.ndarray
    opened_us: np.ndarray
    opened_poll_us: np.ndarray
    resolved: np.ndarray
    resolved_us: np.ndarray


@dataclass(frozen=True)
class Evaluation:
    down: Changes
    no_data: Changes


class _Business:
    """The sessions of the stores as sorted (store, time) keys and their cumulative lengths:
    whether an instant is in business time, and B(t), the business time of a store before t."""

    def __init__(self, sessions: Sessions, base_us: int):
        self.base = base_us
        self.start = sessions.start_s * US - base_us
        self.end = sessions.end_s * US - base_us
        self.store = sessions.store
        self.key = (sessions.store << TIME_BITS) | self.start
        self.length = self.end - self.start
        self.before = np.cumsum(self.length) - self.length

    def _at(self, store: np.ndarray, ts_us: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (store << TIME_BITS) | (ts_us - self.base)  # (a store of -1 finds nothing of its own)
        at = np.searchsorted(self.key, key, side="right") - 1
        return key, at, np.maximum(at, 0)

    def inside(self, store: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
        """Whether each (store, instant) lies in a session of its store."""
        _key, at, found = self._at(store, ts_us)
        return (at >= 0) & (self.store[found] == store) & (ts_us - self.base < self.end[found])

    def before_us(self, store: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
        """B(t): the business time of all sessions sorted before (store, t), the store's own
        up to t included; so B(t2) - B(t1) is the store's business time in [t1, t2]. (A
        (store, t) before the store's first session finds the previous store's last session,
        whose whole length counts: the same B as at that first session's start.)"""
        key, at, found = self._at(store, ts_us)
        return np.where(at >= 0, self.before[found] + np.minimum(key - self.key[found], self.length[found]), 0)

    def when(self, cumulative: np.ndarray) -> np.ndarray:
        """The instant at which B reaches each value (inside the session where it does)."""
        j = np.searchsorted(self.before + self.length, cumulative, side="left")
        j = np.minimum(j, self.key.size - 1)
        return self.start[j] + (cumulative - self.before[j]) + self.base


def evaluate(sessions: Sessions, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray, now_us: int,
             first_poll_us: tuple[np.ndarray, np.ndarray], rules: Rules, down: Open, no_data: Open) -> Evaluation:
    """The changes to the stores' incidents at ``now_us``.

    ``sessions``: the stores' business sessions (UTC seconds, store keys) covering at least
    ``[now - SPAN_US, now]``, sorted by (store, start), none overlapping; the polls (store key,
    instant, status) sorted by (store, instant), one per instant; only those in ``[now -
    SPAN_US, now]`` count. ``first_poll_us``: (store keys, sorted, and each one's first poll
    ever), the stores that may fall silent. ``down``, ``no_data``: the incidents open now."""
    span_start = now_us - SPAN_US
    near = (sessions.end_s * US > span_start - DAY_US) & (sessions.start_s * US <= now_us)
    if not near.any():
        none = _no_changes()
        return Evaluation(none, none)
    # Stores by their position among those with a session near now (-1: none), not by their
    # keys: a key (however large) never overflows the (store, time) keys below.
    keys = sessions.store[near][first_of_runs(sessions.store[near])]
    sessions = Sessions(_position(keys, sessions.store[near]), sessions.start_s[near], sessions.end_s[near])
    kept = (ts_us <= now_us) & (ts_us >= span_start)
    at = _position(keys, store[kept])
    store, ts_us, active = at[at >= 0], ts_us[kept][at >= 0], active[kept][at >= 0]
    polled = _position(keys, first_poll_us[0])
    first_poll_us = (polled[polled >= 0], first_poll_us[1][polled >= 0])
    down, no_data = (Open(_position(keys, o.store), o.after_us) for o in (down, no_data))

    base = min(span_start - DAY_US, int(sessions.start_s.min()) * US)
    business = _Business(sessions, base)
    evidence = np.flatnonzero(business.inside(store, ts_us))
    e_store, e_ts, e_active = store[evidence], ts_us[evidence], active[evidence]
    found = Evaluation(_down(business, e_store, e_ts, e_active, now_us, rules, down),
                       _no_data(business, e_store, e_ts, now_us, span_start, first_poll_us, rules, no_data))
    return Evaluation(*(replace(c, opened_store=keys[c.opened_store]) for c in (found.down, found.no_data)))


def _no_changes() -> Changes:
    none = np.zeros(0, np.int64)
    return Changes(none, none, none, none, none)


def _position(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Where each key is among sorted distinct ones, or -1 (np.isin would import numpy.ma into a
    fresh work horse: 13 ms)."""
    if not sorted_keys.size:
        return np.full(keys.size, -1, np.int64)
    at = np.searchsorted(sorted_keys, keys)
    found = np.minimum(at, sorted_keys.size - 1)
    return np.where((at < sorted_keys.size) & (sorted_keys[found] == keys), found, -1)


def _first_after(e_store: np.ndarray, e_ts: np.ndarray, base: int, store: np.ndarray, after_us: np.ndarray
                 ) -> np.ndarray:
    """For each (store, instant), the position of the store's first poll (of the sorted ones
    given) strictly after the instant, or -1."""
    if not e_store.size:
        return np.full(store.size, -1, np.int64)
    keys = (e_store << TIME_BITS) | (e_ts - base)
    at = np.searchsorted(keys, (store << TIME_BITS) | np.maximum(after_us - base + 1, 0), side="left")
    found = np.minimum(at, keys.size - 1)
    return np.where((at < keys.size) & (e_store[found] == store), found, -1)


def _resolved(e_store, e_ts, base, opened: Open) -> tuple[np.ndarray, np.ndarray]:
    """Which open incidents a poll (of those given) after their opening poll resolves, and by which."""
    first = _first_after(e_store, e_ts, base, opened.store, opened.after_us)
    resolved = np.flatnonzero(first >= 0)
    return resolved, e_ts[first[resolved]]


def _down(business: _Business, e_store, e_ts, e_active, now_us: int, rules: Rules, opened: Open) -> Changes:
    up = np.flatnonzero(e_active)
    resolved, resolved_us = _resolved(e_store[up], e_ts[up], business.base, opened)
    still_open = np.delete(opened.store, resolved)
    if not e_store.size:
        none = np.zeros(0, np.int64)
        return Changes(none, none, none, resolved, resolved_us)
    firsts = np.flatnonzero(first_of_runs(e_store))
    lasts = np.append(firsts[1:], e_store.size) - 1
    # each position's store's last active evidence poll at or before it (-1: none yet)
    last_active = np.maximum.accumulate(np.where(e_active, np.arange(e_store.size), -1))
    run_start = np.maximum(last_active[lasts] + 1, firsts)  # the trailing run of inactive polls
    run = lasts - run_start + 1
    candidate = (~e_active[lasts]) & (run >= rules.down_after)
    candidate &= business.inside(e_store[lasts], np.full(lasts.size, now_us))
    candidate &= _position(np.sort(still_open), e_store[lasts]) < 0
    chosen = np.flatnonzero(candidate)
    starts = run_start[chosen]
    return Changes(e_store[lasts[chosen]], e_ts[starts], e_ts[starts + rules.down_after - 1], resolved, resolved_us)


def _no_data(business: _Business, e_store, e_ts, now_us: int, span_start: int, first_poll_us, rules: Rules,
             opened: Open) -> Changes:
    resolved, resolved_us = _resolved(e_store, e_ts, business.base, opened)
    still_open = np.delete(opened.store, resolved)
    polled, first_us = first_poll_us
    candidates = business.store[first_of_runs(business.store)]  # every store with a session
    at = _position(polled, candidates)
    candidates, first_us = candidates[at >= 0], first_us[at[at >= 0]]
    watched = (first_us <= now_us) & business.inside(candidates, np.full(candidates.size, now_us))
    candidates, first_us = candidates[watched], first_us[watched]
    # each candidate's latest evidence poll, if any
    last_poll = np.full(candidates.size, NO_POLL, np.int64)
    if e_store.size:
        lasts = np.append(np.flatnonzero(first_of_runs(e_store))[1:], e_store.size) - 1
        at = _position(e_store[lasts], candidates)
        last_poll[at >= 0] = e_ts[lasts[at[at >= 0]]]
    since = np.maximum(np.maximum(last_poll, first_us), span_start)
    silent_from = business.before_us(candidates, since)
    silent = business.before_us(candidates, np.full(candidates.size, now_us)) - silent_from >= rules.silence_us
    silent &= _position(np.sort(still_open), candidates) < 0
    chosen = np.flatnonzero(silent)
    return Changes(candidates[chosen], business.when(silent_from[chosen] + rules.silence_us), last_poll[chosen],
                   resolved, resolved_us)


def changes_to(wanted: np.ndarray, opened: Open, at_us: int) -> Changes:
    """The changes that leave open exactly the incidents of the stores ``wanted`` (keys), a
    condition read at ``at_us`` (the SLOs'): those not open yet open then, no poll opening
    them, and the open ones of other stores resolve then."""
    wanted = np.unique(np.asarray(wanted, np.int64))
    resolved = np.flatnonzero(_position(wanted, opened.store) < 0)
    opening = wanted[_position(np.sort(opened.store), wanted) < 0]
    return Changes(opening, np.full(opening.size, at_us, np.int64), np.full(opening.size, NO_POLL, np.int64),
                   resolved, np.full(resolved.size, at_us, np.int64))


def poller_silent(newest_poll_us: int | None, wall_us: int, rules: Rules) -> bool:
    """Whether the poller has been silent too long: no poll yet counts as silent only once some
    poll was ever stored (a new database is not an incident)."""
    return newest_poll_us is not None and wall_us - newest_poll_us > rules.poller_silence_us


def incidents_of(data: ReportInput, now_us: int, rules: Rules, down: Open, no_data: Open) -> Evaluation:
    """``evaluate`` on a report's input, its stores numbered as in it and their sessions made
    around now (the tests' way in; the evaluation job keeps the worker's sessions)."""
    sessions = business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s,
                                 data.hours_end_s, (now_us - SPAN_US) // US - DAY_US // US, now_us // US + 1,
                                 data.special, data.holidays, data.hours_effective, data.zone_history)
    store, ts_us, active = data.polls.ordered(data.polls.key).polls()
    first = np.full(len(data.store_ids), np.iinfo(np.int64).max)
    if data.first_poll_us is not None:
        first = np.asarray(data.first_poll_us, np.int64)
    elif store.size:
        np.minimum.at(first, store, ts_us)
    polled = np.flatnonzero(first < np.iinfo(np.int64).max)
    return evaluate(sessions, store, ts_us, active, now_us, (polled, first[polled]), rules, down, no_data)
