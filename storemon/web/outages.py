"""Who is down now (GET /stores/down, the console's panel, the metrics), from the newest polls
and each store's business sessions, with no report (the rule: storemon/core/outages.py).

A web process makes every polled store's sessions around the data's clock once
(``warm.prepare``) and keeps them for as long as the stores are unchanged and the clock
stays inside them; each call then reads only the last day of polls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from ..core.outages import down_now
from ..core.polls import DAY_US, US, day_of
from ..database import polls, version
from ..database.queries import FoundStore, directory_of, group_keys, snapshot
from ..reports import warm

SINCE_SPAN_US = DAY_US  # the polls read: a store down for longer shows "since" this far back, as a lower bound
_BEFORE_US, _AFTER_US = SINCE_SPAN_US + DAY_US, 2 * DAY_US  # the span the kept sessions cover around the clock


@dataclass(frozen=True)
class DownStore:
    store: FoundStore
    since_us: int
    since_exact: bool  # False: down at least since then (every poll read was inactive)
    last_poll_us: int


@dataclass(frozen=True)
class Outages:
    as_of_us: int | None  # the data's clock (None: no poll yet)
    count: int  # stores down now (of the group asked for)
    stores: list[DownStore]  # the first ``limit`` of them, longest down first


_kept: warm.Prepared | None = None
_making = threading.Lock()


def _sessions(engine: Engine, stores_version: int, now_us: int) -> warm.Prepared | None:
    """This process's stores and sessions around the clock, made again when they no longer hold."""
    global _kept
    with _making:
        kept = _kept
        if kept is None or kept.stores_version != stores_version or not \
                kept.first_us <= now_us - SINCE_SPAN_US <= now_us <= kept.last_us:
            kept = _kept = warm.prepare(engine, _BEFORE_US, _AFTER_US)
        return kept


def outages(engine: Engine, interval_s: int, group: str | None = None, limit: int = 100) -> Outages:
    """The stores down now (of one group, if given), the first ``limit`` with their names and groups."""
    with snapshot(engine) as snap:
        current = version.current(snap.conn)
        now_us = current.newest_poll_us
        if now_us is None:
            return Outages(None, 0, [])
        prepared = _sessions(engine, current.stores_version, now_us)
        keys = prepared.stores.keys if prepared is not None else np.zeros(0, np.int64)
        if not keys.size:
            return Outages(now_us, 0, [])
        rows = polls.read(snap.conn, int(day_of(now_us - SINCE_SPAN_US)), int(day_of(now_us)),
                          (int(keys.min()), int(keys.max())))
        wanted = group_keys(snap.conn, group) if group is not None else None
    store, ts_us, active = rows.polls()
    found = down_now(prepared.sessions, store, ts_us, active, now_us, interval_s * US)
    chosen = np.ones(found.stores.size, bool) if wanted is None else np.isin(found.stores, wanted)
    by_key = np.argsort(keys)
    at = by_key[np.searchsorted(keys, found.stores, sorter=by_key)]
    ids = [prepared.stores.store_ids[i] for i in at[chosen][:limit].tolist()]
    named = directory_of(engine, ids)
    listed = [DownStore(named.get(i, FoundStore(i)), int(since), bool(exact), int(last))
              for i, since, exact, last in zip(ids, found.since_us[chosen], found.since_exact[chosen],
                                              found.last_poll_us[chosen])]
    return Outages(now_us, int(chosen.sum()), listed)
