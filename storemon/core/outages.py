"""Which stores are down now, from the newest polls, without a report.

A store is **down now** when it is open at the data's clock (the newest poll; its business
sessions, calendar and all, hold that instant) and its latest evidence poll (one taken in
its business time) is ``inactive`` and no older than the poll interval. It is down **since**
the first inactive evidence poll after its last active one, looking back ``SINCE_SPAN_US``;
when every evidence poll of that span is inactive, that is the first of them, and only a
lower bound (``since_exact`` False).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .polls import DAY_US, TIME_BITS, US, first_of_runs
from .sessions import Sessions, business_sessions
from .uptime import ReportInput


SINCE_SPAN_US = DAY_US  # how far back "since" is looked for


@dataclass
class DownNow:
    """The stores down now (as numbered in the input), longest down first."""

    stores: np.ndarray
    since_us: np.ndarray
    since_exact: np.ndarray  # bool: an active evidence poll was read before it
    last_poll_us: np.ndarray  # the latest evidence poll (inactive)

    @staticmethod
    def none() -> DownNow:
        return DownNow(*(np.zeros(0, t) for t in (np.int64, np.int64, bool, np.int64)))


def down_now(sessions: Sessions, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray, now_us: int,
             interval_us: int) -> DownNow:
    """``sessions``: every store's business sessions (UTC seconds) covering at least the span
    before now, sorted by (store, start), none overlapping; the polls (store, instant, status),
    sorted by (store, instant), one per instant. Only those of ``[now - SINCE_SPAN_US, now]``
    count."""
    kept = (ts_us <= now_us) & (ts_us >= now_us - SINCE_SPAN_US)
    store, ts_us, active = store[kept], ts_us[kept], active[kept]
    if not store.size or not sessions.store.size:
        return DownNow.none()
    base = min(int(ts_us.min()), int(sessions.start_s.min()) * US)
    s_key = (sessions.store << TIME_BITS) | (sessions.start_s * US - base)
    s_end = sessions.end_s * US - base

    def inside(of_store: np.ndarray, rel: np.ndarray) -> np.ndarray:
        """Whether each (store, relative instant) lies in a session of its store."""
        at = np.searchsorted(s_key, (of_store << TIME_BITS) | rel, side="right") - 1
        found = np.maximum(at, 0)
        return (at >= 0) & (sessions.store[found] == of_store) & (rel < s_end[found])

    evidence = np.flatnonzero(inside(store, ts_us - base))
    e_store, e_ts, e_active = store[evidence], ts_us[evidence], active[evidence]
    if not e_store.size:
        return DownNow.none()
    firsts = np.flatnonzero(first_of_runs(e_store))
    lasts = np.append(firsts[1:], e_store.size) - 1
    # each store's last active evidence poll at or before each position (-1: none yet)
    last_active = np.maximum.accumulate(np.where(e_active, np.arange(e_store.size), -1))
    first_of_mine = np.repeat(firsts, np.diff(np.append(firsts, e_store.size)))
    down = lasts[~e_active[lasts] & (e_ts[lasts] >= now_us - interval_us)]
    down = down[inside(e_store[down], np.full(down.size, now_us - base))]
    mine = first_of_mine[down]
    exact = last_active[down] >= mine
    since = np.where(exact, last_active[down] + 1, mine)
    order = np.argsort(e_ts[since], kind="stable")
    return DownNow(e_store[down][order], e_ts[since][order], exact[order], e_ts[down][order])


def stores_down(data: ReportInput, now_us: int, interval_us: int) -> DownNow:
    """``down_now`` of a report's input, its stores' sessions made around now (the tests' way in;
    the web process keeps the sessions between calls)."""
    sessions = business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s,
                                 data.hours_end_s, (now_us - SINCE_SPAN_US) // US - 1, now_us // US + 1, data.special,
                                 data.holidays, data.hours_effective, data.zone_history)
    return down_now(sessions, *data.polls.ordered(data.polls.key).polls(), now_us, interval_us)
