"""Reading what a report needs out of the database, as arrays, in a few bulk queries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine

from . import changes
from .bulk import fetch_all
from .changes import Version
from .engines import is_postgres
from .lookback import Polls, Selection, cached_lookback, check_unchanged, latest_poll_us, snapshot
from .pollcache import Cached, PollCache, PollState
from ..core import LOOKBACK_US, ReportInput
from ..core.uptime import key_base_us, store_id_order

__all__ = ["StoreRecord", "Stores", "find_stores", "latest_poll_us", "listed_count", "part_input", "plan_input",
           "report_input", "store_input", "stores_digest"]


def _hours(conn: Connection) -> np.ndarray:
    """Every business-hours row as (store key, day, start_s, end_s); on PostgreSQL as one
    packed byte string (86K rows: 20 ms instead of 90 ms as Python tuples)."""
    if not is_postgres(conn):
        return np.array(fetch_all(conn, "SELECT store, day, start_s, end_s FROM business_hours"),
                        np.int64).reshape(-1, 4)
    packed = fetch_all(conn, "SELECT string_agg(int4send(store) || int2send(day) || int4send(start_s)"
                             " || int4send(end_s), ''::bytea) FROM business_hours")[0][0]
    rows = np.frombuffer(packed or b"", np.dtype([("store", ">i4"), ("day", ">i2"), ("start", ">i4"), ("end", ">i4")]))
    return np.stack([rows[name].astype(np.int64) for name in ("store", "day", "start", "end")], axis=1)


def _packed_stores(conn: Connection, as_of_us: int) -> tuple[np.ndarray, list[str], list[str | None], np.ndarray]:
    """The stores polled by as_of, in key order, as a few packed values rather than a row each
    (136K stores: 40 ms instead of 100 ms): keys and first polls as bytes, ids joined by line
    breaks (which no stored id holds), and each distinct timezone with the keys that have it."""
    # (one scan feeds the three aggregates row by row, so they agree on the order; sorted here)
    keys, first, ids = fetch_all(conn, """
        SELECT string_agg(int4send(id), ''::bytea), string_agg(int8send(first_poll_us), ''::bytea),
               string_agg(store_id, E'\\n')
        FROM stores WHERE first_poll_us <= %s""", (as_of_us,))[0]
    if keys is None:
        return np.zeros(0, np.int64), [], [], np.zeros(0, np.int64)
    keys = np.frombuffer(keys, ">i4").astype(np.int64)
    order = np.argsort(keys)
    names = ids.split("\n")
    keys, ids, first = keys[order], [names[i] for i in order.tolist()], np.frombuffer(first, ">i8")[order]
    timezones: list[str | None] = [None] * keys.size
    for name, having in fetch_all(conn, "SELECT timezone, string_agg(int4send(id), ''::bytea) FROM stores"
                                        " WHERE first_poll_us <= %s AND timezone IS NOT NULL GROUP BY timezone",
                                  (as_of_us,)):
        for at in np.searchsorted(keys, np.frombuffer(having, ">i4").astype(np.int64)).tolist():
            timezones[at] = name
    return keys, ids, timezones, first.astype(np.int64)


@dataclass
class Stores:
    """The stores a report lists (polled at or before its as_of) in key order, and their hours."""

    keys: np.ndarray  # int64 database keys, ascending
    store_ids: list[str]
    timezones: list[str | None]
    first_poll_us: np.ndarray
    hours: np.ndarray  # (store key, day, start_s, end_s) rows of these stores

    @staticmethod
    def read(conn: Connection, as_of_us: int) -> Stores:
        if is_postgres(conn):
            keys, store_ids, timezones, first_poll_us = _packed_stores(conn, as_of_us)
        else:
            found = fetch_all(conn, "SELECT id, store_id, timezone, first_poll_us FROM stores"
                                    " WHERE first_poll_us <= %s ORDER BY id", (as_of_us,))
            keys, store_ids, timezones = np.array([s[0] for s in found], np.int64), [s[1] for s in found], \
                [s[2] for s in found]
            first_poll_us = np.array([s[3] for s in found], np.int64)
        hours = _hours(conn)
        hours = hours[np.isin(hours[:, 0], keys)]  # the hours of stores not yet polled by as_of go
        return Stores(keys, store_ids, timezones, first_poll_us, hours)

    def by_store_id(self) -> np.ndarray:
        """Positions of the stores in the report's row order."""
        return store_id_order(self.store_ids)

    def part(self, positions: np.ndarray) -> Stores:
        """The stores at these positions (and their hours), in key order."""
        chosen = np.sort(positions)
        keys = self.keys[chosen]
        return Stores(keys, [self.store_ids[i] for i in chosen.tolist()], [self.timezones[i] for i in chosen.tolist()],
                      self.first_poll_us[chosen], self.hours[np.isin(self.hours[:, 0], keys)])

    def report_input(self, polls: Polls | PollState | Cached, as_of_us: int) -> ReportInput:
        """The core's input as of then from these stores and their polls: (store key, ts_us,
        active) arrays, or a cached state, whose lookback polls the core takes a run of stores
        at a time, already in its own terms."""
        # Database keys to positions 0..n-1 through a lookup table (keys are small serials). Stores
        # in key order, so polls sorted by (key, time) stay sorted by (position, time).
        position = np.zeros(int(self.keys.max(initial=0)) + 1, np.int64)
        position[self.keys] = np.arange(self.keys.size)
        if isinstance(polls, (PollState, Cached)):
            cached = polls if isinstance(polls, Cached) else Cached(polls, None)
            empty = np.zeros(0, np.int64)
            poll_store, ts_us, active = empty, empty, empty.astype(bool)
            chunks = cached.core_chunks(as_of_us - LOOKBACK_US, as_of_us, self.keys, key_base_us(as_of_us))
        else:
            (store, ts_us, active), chunks = polls, None
            poll_store = position[store]
        return ReportInput(
            store_ids=np.array(self.store_ids, dtype=str) if self.store_ids else np.zeros(0, str),
            timezones=self.timezones,
            hours_store=position[self.hours[:, 0]], hours_day=self.hours[:, 1],
            hours_start_s=self.hours[:, 2], hours_end_s=self.hours[:, 3],
            poll_store=poll_store, poll_ts_us=ts_us, poll_active=active, poll_chunks=chunks,
            first_poll_us=self.first_poll_us,
        )


def report_input(engine: Engine, as_of_us: int, cache: PollCache | None = None) -> ReportInput:
    """The stores polled at or before as_of, their hours and timezones, and the lookback polls,
    all read from one consistent snapshot of the database. With a ``cache``, the polls come
    from it and what changed since it was written, and ``cache.pending`` holds the state to
    write back once the report is done."""
    with snapshot(engine) as snap:
        stores = Stores.read(snap.conn, as_of_us)
        if cache is not None:
            polls = cached_lookback(snap, as_of_us, cache)
        else:
            polls = snap.polls(as_of_us - LOOKBACK_US, as_of_us)
    return stores.report_input(polls, as_of_us)


def plan_input(engine: Engine, as_of_us: int, known_digest: str | None = None) -> tuple[Version, str, Stores | None]:
    """What a sharded report is planned on, from one snapshot: the newest change to the polls
    (its parts read the polls as that change left them), the digest of the stores it lists,
    and those stores with their hours (None if their digest is ``known_digest``)."""
    with snapshot(engine) as snap:
        version, digest = changes.current(snap.conn), stores_digest(snap.conn, as_of_us)
        return version, digest, None if digest == known_digest else Stores.read(snap.conn, as_of_us)


def stores_digest(conn: Connection, as_of_us: int) -> str:
    """A digest of what ``Stores.read`` would return (PostgreSQL): the stores listed as of then
    with their keys, ids, timezones and first polls, and every business-hours row, as counts
    and sums of 64-bit hashes of each row. Equal digests mean equal stores; two different
    sets agree by chance with odds of about 1 in 2**64. (One scan each: 80 ms for 408K
    stores, where reading them is 0.6 s.)"""
    stores = fetch_all(conn, """
        SELECT count(*), sum(hashtextextended(store_id || chr(1) || coalesce(timezone, chr(2)) || chr(1)
                                              || first_poll_us::text, id))
        FROM stores WHERE first_poll_us <= %s""", (as_of_us,))[0]
    hours = fetch_all(conn, "SELECT count(*), sum(hashint8extended(store::int8 * 8 + day, start_s::int8 * 131072 + end_s))"
                            " FROM business_hours")[0]
    return "-".join(str(value) for value in (*stores, *hours))


def part_input(engine: Engine, stores: Stores, as_of_us: int, version: Version, cache: PollCache | None = None
               ) -> ReportInput:
    """A part of a sharded report: its stores as planned, and their lookback polls as the
    planned change left them (PostgreSQL), through the part's own cache if given."""
    with snapshot(engine) as snap:
        if cache is not None:
            polls = cached_lookback(snap, as_of_us, cache, version, stores.keys)
        else:
            check_unchanged(snap.conn, version, as_of_us - LOOKBACK_US)
            polls = snap.polls(as_of_us - LOOKBACK_US, as_of_us, Selection(version.seq, stores.keys))
    return stores.report_input(polls, as_of_us)


def listed_count(engine: Engine, as_of_us: int) -> int:
    """How many stores a report as of then lists."""
    with engine.connect() as conn:
        return fetch_all(conn, "SELECT count(*) FROM stores WHERE first_poll_us <= %s", (as_of_us,))[0][0]


@dataclass(frozen=True)
class StoreRecord:
    store_id: str
    timezone: str | None
    hours: list[tuple[int, int, int]]  # (weekday, local start s, local end s) as loaded


def store_input(engine: Engine, store_id: str, since_us: int, until_us: int) -> tuple[StoreRecord, ReportInput] | None:
    """One store's record, and its report input holding its polls in ``[since, until]``
    (index scans on ``polls_by_store``); None for an unknown store."""
    from ..sources import CONTROL_CHARACTER  # (here: a report never imports the sources' parsers)

    if CONTROL_CHARACTER.search(store_id):
        return None  # no stored id holds one (and PostgreSQL text cannot hold a NUL)
    with engine.connect() as conn:
        found = fetch_all(conn, "SELECT id, timezone, first_poll_us FROM stores WHERE store_id = %s", (store_id,))
        if not found:
            return None
        key, timezone, first_poll_us = found[0]
        hours = fetch_all(conn, "SELECT day, start_s, end_s FROM business_hours WHERE store = %s"
                                " ORDER BY day, start_s", (key,))
        polls = np.array(fetch_all(conn, "SELECT ts_us, active FROM polls WHERE store = %s AND ts_us >= %s"
                                         " AND ts_us <= %s", (key, since_us, until_us)), np.int64).reshape(-1, 2)
    h = np.array(hours, np.int64).reshape(-1, 3)
    data = ReportInput(
        store_ids=np.array([store_id]), timezones=[timezone],
        hours_store=np.zeros(len(h), np.int64), hours_day=h[:, 0], hours_start_s=h[:, 1], hours_end_s=h[:, 2],
        poll_store=np.zeros(len(polls), np.int64), poll_ts_us=polls[:, 0].copy(), poll_active=polls[:, 1].astype(bool),
        first_poll_us=np.array([first_poll_us if first_poll_us is not None else np.iinfo(np.int64).max], np.int64))
    return StoreRecord(store_id, timezone, [tuple(r) for r in hours]), data


def find_stores(engine: Engine, prefix: str, limit: int) -> list[tuple[str, str | None]]:
    """(store_id, timezone) of the stores whose id starts with ``prefix``, ignoring case, in id
    order. A scan of the stores table (14K rows: a few ms), as a collation-aware index range
    on a prefix is not reliable."""
    from ..sources import CONTROL_CHARACTER

    if CONTROL_CHARACTER.search(prefix):
        return []  # no stored id holds one (and PostgreSQL text cannot hold a NUL)
    with engine.connect() as conn:
        return fetch_all(conn, "SELECT store_id, timezone FROM stores WHERE lower(substr(store_id, 1, %s)) = %s"
                               " ORDER BY store_id LIMIT %s", (len(prefix), prefix.lower(), limit))
