"""Who is down now (GET /stores/down, the console's panel, the metrics), from the newest polls
and each store's business sessions, with no report (the rule: storemon/core/outages.py).

A web process makes every polled store's sessions around the data's clock once
(``warm.prepare``) and keeps them in its services for as long as the stores are unchanged and
the clock stays inside them; each call then reads only the polls of the span "since" looks
back over.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from ..core.outages import SINCE_SPAN_US, down_now
from ..core.polls import DAY_US, US, day_of
from ..database import polls, version
from ..database.queries import FoundStore, group_keys, named_stores, snapshot
from ..reports import warm

_BEFORE_US, _AFTER_US = SINCE_SPAN_US + DAY_US, 2 * DAY_US  # the span the kept sessions cover around the clock


@dataclass(frozen=True)
class DownStore:
    store: FoundStore
    since_us: int
    since_exact: bool  # False: down at least since then (every poll looked at was inactive)
    last_poll_us: int


@dataclass(frozen=True)
class DownList:
    as_of_us: int | None  # the data's clock (None: no poll yet)
    count: int  # stores down now (of the group asked for)
    stores: list[DownStore]  # the first ``limit`` of them, longest down first


class Outages:
    """Who is down now on one database, for one web process (thread-safe): it keeps the stores'
    sessions around the clock between calls."""

    def __init__(self, engine: Engine, interval_s: int):
        self.engine, self.interval_us = engine, interval_s * US
        self._kept: warm.Prepared | None = None
        self._making = threading.Lock()

    def _sessions(self, stores_version: int, now_us: int) -> warm.Prepared | None:
        """The stores and their sessions around the clock, made again when they no longer hold."""
        with self._making:
            kept = self._kept
            if kept is None or kept.stores_version != stores_version or not \
                    kept.first_us <= now_us - SINCE_SPAN_US <= now_us <= kept.last_us:
                kept = self._kept = warm.prepare(self.engine, _BEFORE_US, _AFTER_US)
            return kept

    def down(self, group: str | None = None, limit: int = 100) -> DownList:
        """The stores down now (of one group, if given), the first ``limit`` with their names and groups."""
        with snapshot(self.engine) as snap:
            current = version.current(snap.conn)
            now_us = current.newest_poll_us
            if now_us is None:
                return DownList(None, 0, [])
            prepared = self._sessions(current.stores_version, now_us)
            keys = prepared.stores.keys if prepared is not None else np.zeros(0, np.int64)
            if not keys.size:
                return DownList(now_us, 0, [])
            rows = polls.read(snap.conn, int(day_of(now_us - SINCE_SPAN_US)), int(day_of(now_us)),
                              (int(keys.min()), int(keys.max())))
            wanted = group_keys(snap.conn, group) if group is not None else None
        found = down_now(prepared.sessions, *rows.polls(), now_us, self.interval_us)
        chosen = np.ones(found.stores.size, bool) if wanted is None else np.isin(found.stores, wanted)
        by_key = np.argsort(keys)
        at = by_key[np.searchsorted(keys, found.stores, sorter=by_key)]
        ids = [prepared.stores.store_ids[i] for i in at[chosen][:limit].tolist()]
        named = named_stores(self.engine, ids)
        listed = [DownStore(named.get(i, FoundStore(i)), int(since), bool(exact), int(last))
                  for i, since, exact, last in zip(ids, found.since_us[chosen], found.since_exact[chosen],
                                                  found.last_poll_us[chosen])]
        return DownList(now_us, int(chosen.sum()), listed)
