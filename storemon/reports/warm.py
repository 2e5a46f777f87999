"""What a worker makes once for every report its work horses run, each forked from it and so
starting with it: the zones' transitions, the CSV's number table, and every polled store
(its id, zone and first poll) with its business sessions over the days around the newest poll.

Nothing of it is data a report could not make itself, and it is never taken on trust: the
stores and sessions are used only for the ``stores_version`` they were made from
(data_version: a new one with any new store, hours, timezone or first poll), read in the
report's own snapshot, and only when they cover its lookback; otherwise the report reads its
stores and makes their sessions itself. The
worker makes them again after a job once the stores have changed or the newest poll has
moved on by a day (``refresh``), so the next work horses start with them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import Engine

from ..core import csvout
from ..core.polls import DAY_US, LOOKBACK_US, US, PollRows
from ..core.sessions import NO_DATED_ROWS, Sessions, business_sessions
from ..database import version
from ..memory import release_free_memory
from ..database.queries import EVERY_STORE, NO_HOURS, Stores, StoreRange, calendar_dates, snapshot

log = logging.getLogger(__name__)
# The span the sessions cover: from the lookback of the newest poll to this long after it, so
# that the reports of the day after still find theirs.
_AHEAD_US = 2 * DAY_US
_ALL = 1 << 62  # an as_of after every poll: every store polled so far
_PIECE_STORES = 20_000


@dataclass(frozen=True)
class Prepared:
    """Every polled store and its business sessions over ``[first_us, last_us]``, as of
    ``stores_version``: the stores in the report's order (without their hours), and their
    sessions sorted by (database key, start), in UTC seconds."""

    stores_version: int
    first_us: int
    last_us: int
    stores: Stores
    sessions: Sessions  # store: database key

    def listed(self, as_of_us: int, within: StoreRange) -> Stores:
        """The stores a report as of then lists, of a range of store ids (``Stores.read``)."""
        keep = self.stores.first_poll_us <= as_of_us
        if within != EVERY_STORE:  # (code point order, as the database compares them)
            ids = np.array(self.stores.store_ids, dtype=str)
            keep &= (ids >= within.first if within.first is not None else True) & \
                (ids < within.end if within.end is not None else True)
        return self.stores if keep.all() else self.stores.taken(np.flatnonzero(keep))

    def of(self, keys: np.ndarray) -> Sessions:
        """The sessions of these stores (ascending keys), each by its position among them."""
        if not keys.size:
            return Sessions(*(np.zeros(0, np.int64) for _ in range(3)))
        a, b = np.searchsorted(self.sessions.store, [keys[0], keys[-1] + 1])
        position = np.full(int(keys[-1]) - int(keys[0]) + 1, -1, np.int64)  # (by key, from the first)
        position[keys - keys[0]] = np.arange(keys.size)
        at = position[self.sessions.store[a:b] - keys[0]]
        mine = np.flatnonzero(at >= 0)
        return Sessions(at[mine], self.sessions.start_s[a:b][mine], self.sessions.end_s[a:b][mine])


_prepared: Prepared | None = None


def sessions_for(stores_version: int, as_of_us: int, lookback: int = LOOKBACK_US) -> Prepared | None:
    """The prepared sessions, if they are of this stores version and cover this as_of's lookback."""
    found = _prepared
    if found is None or found.stores_version != stores_version:
        return None
    if found.first_us > as_of_us - lookback or found.last_us < as_of_us:
        return None
    return found


def warm_up(engine: Engine) -> None:
    """Make the zones' transitions, the CSV's number tables, the polled stores and their sessions, for the
    newest poll (nothing when there is none yet)."""
    global _prepared
    csvout.make_tables()
    found = prepare(engine, LOOKBACK_US + DAY_US, _AHEAD_US)
    if found is not None:
        _prepared = found
    release_free_memory()  # so the worker, and every work horse forked from it, stays small


def prepare(engine: Engine, before_us: int, after_us: int) -> Prepared | None:
    """Every polled store and its business sessions from ``before_us`` before the newest poll to
    ``after_us`` after it, in one snapshot (None: no poll yet)."""
    with snapshot(engine) as snap:
        current = version.current(snap.conn)
        if current.newest_poll_us is None:
            return None
        newest = current.newest_poll_us
        first_us, last_us = newest - before_us, newest + after_us
        stores = Stores.read(snap.conn, _ALL, dates=calendar_dates(first_us, last_us))
    made = []
    for piece in stores.pieces(_PIECE_STORES, contiguous=True):  # (in key order: a few MB at a time)
        data = piece.stores.report_input(PollRows.empty(), newest)
        found = business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s,
                                  data.hours_end_s, first_us // US, -(-last_us // US), data.special, data.holidays,
                                  data.hours_effective, data.zone_history)
        made.append(Sessions(piece.stores.keys[found.store], found.start_s, found.end_s))
    none = np.zeros(0, np.int64)
    return Prepared(current.stores_version, first_us, last_us, replace(stores, hours=NO_HOURS, special=NO_DATED_ROWS),
                    Sessions(*(np.concatenate([none] + [getattr(m, f) for m in made])
                               for f in ("store", "start_s", "end_s"))))


def refresh(engine: Engine) -> bool:
    """Make the stores and their sessions again if the stores changed or the newest poll moved on by a day since;
    whether it did."""
    with engine.connect() as conn:
        current = version.current(conn)
    found = _prepared
    if current.newest_poll_us is None or (
            found is not None and found.stores_version == current.stores_version
            and current.newest_poll_us + DAY_US <= found.last_us):
        return False
    warm_up(engine)
    return True
