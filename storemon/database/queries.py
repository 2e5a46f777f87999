"""Reading what a report needs out of the database, as arrays, in a few bulk queries."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine

from . import changes, pollcache
from .bulk import cursor, fetch_all
from .engines import is_postgres
from .pollcache import PollCache, PollState
from ..core import DAY_US, LOOKBACK_US, ReportInput
from ..sources import CONTROL_CHARACTER

_FETCH_ROWS = 200_000
# PostgreSQL: a range of polls is read a day at a time by two connections sharing one
# snapshot. Measured at 20M polls, one 230 MB string_agg took 5.5-7.4 s, these 2.2 s.
_READERS = 2

# A cache keeps the polls from a day before the lookback on, so a report an hour (or up to a
# day) older than the last one still finds its polls there.
CACHE_TRAIL_US = DAY_US

Polls = tuple[np.ndarray, np.ndarray, np.ndarray]  # store key, ts_us, active


def latest_poll_us(conn: Connection) -> int | None:
    """The newest poll's instant: the default as_of (the data is a recording, not live)."""
    return fetch_all(conn, "SELECT max(ts_us) FROM polls")[0][0]


def _no_polls() -> Polls:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)


def _packed_polls(conn: Connection, where: str, params: tuple, since_us: int) -> Polls:
    """The polls ``where`` selects (all at or after ``since``) of PostgreSQL as one row of
    packed byte strings that NumPy reads without a Python object per poll: time since
    ``since`` with the status in its lowest bit, and the store."""
    packed = fetch_all(conn, f"""
        SELECT string_agg(int8send(((ts_us - %s) << 1) | active::int), ''::bytea),
               string_agg(int4send(store), ''::bytea)
        FROM polls WHERE {where}""", (since_us, *params))[0]
    if packed[0] is None:
        return _no_polls()
    time_status = np.frombuffer(packed[0], ">i8").astype(np.int64)
    return (np.frombuffer(packed[1], ">i4").astype(np.int64), (time_status >> 1) + since_us,
            (time_status & 1).astype(bool))


def _sqlite_polls(conn: Connection, where: str, params: tuple) -> Polls:
    parts = []
    with cursor(conn, f"SELECT store, ts_us, active FROM polls WHERE {where}", params) as cur:
        while rows := cur.fetchmany(_FETCH_ROWS):
            parts.append(np.array(rows, np.int64).reshape(-1, 3))
    table = np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)
    return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].astype(bool)


def _selected_polls(conn: Connection, where: str, params: tuple, since_us: int) -> Polls:
    if is_postgres(conn):
        return _packed_polls(conn, where, params, since_us)
    return _sqlite_polls(conn, where, params)


def _postgres_range(engine: Engine, snapshot: str, since_us: int, until_us: int) -> Polls:
    """The polls in ``[since, until]``, a day at a time, on connections that join the given snapshot."""
    edges = list(range(since_us, until_us, DAY_US)) + [until_us]
    days = list(zip(edges, edges[1:])) or [(since_us, until_us)]

    def read(share: list[tuple[int, int]]) -> list[Polls]:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            return [_packed_polls(conn, f"ts_us >= %s AND ts_us {'<=' if b == until_us else '<'} %s", (a, b), a)
                    for a, b in share]

    pool = ThreadPoolExecutor(_READERS)
    try:
        parts = [p for share in pool.map(read, [days[i::_READERS] for i in range(_READERS)]) for p in share]
    finally:
        # Interrupted (an error, a worker's shutdown signal), don't wait for a reader still
        # blocked in its query: its connection goes when the process does.
        pool.shutdown(wait=False, cancel_futures=True)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


class _Snapshot:
    """One consistent view of the database for a report's reads: PostgreSQL's REPEATABLE READ
    transaction (exported, so helper connections can join it), SQLite's read transaction."""

    def __init__(self, engine: Engine, conn: Connection):
        self.engine, self.conn = engine, conn
        self._exported: str | None = None

    def polls(self, since_us: int, until_us: int) -> Polls:
        """Every poll in ``[since, until]``."""
        if is_postgres(self.conn):
            if self._exported is None:
                self._exported = fetch_all(self.conn, "SELECT pg_export_snapshot()")[0][0]
            return _postgres_range(self.engine, self._exported, since_us, until_us)
        return _sqlite_polls(self.conn, "ts_us >= %s AND ts_us <= %s", (since_us, until_us))


@contextmanager
def _snapshot(engine: Engine) -> Iterator[_Snapshot]:
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            yield _Snapshot(engine, conn)
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.execute("BEGIN DEFERRED")  # WAL: every read below sees the database as of the first
        try:
            yield _Snapshot(engine, conn)
        finally:
            driver.execute("COMMIT")


def _cached_lookback(snap: _Snapshot, as_of_us: int, cache: PollCache) -> Polls:
    """The lookback's polls from the cache brought up to date, or read whole (and cached when
    the read reaches the newest polls, as an hourly report's does)."""
    conn, since = snap.conn, as_of_us - LOOKBACK_US
    version = changes.current(conn)
    state = cache.load()
    usable = state is not None and version.epoch and state.epoch == version.epoch \
        and state.seq <= version.seq and state.base_us <= since
    cache.outcome = "current"
    if usable and state.seq < version.seq:
        state = cache.pending = _brought_up_to_date(conn, state, version.seq)
        usable, cache.outcome = state is not None, "updated"
    if not usable:
        newest = latest_poll_us(conn)
        max_key = fetch_all(conn, "SELECT max(id) FROM stores")[0][0] or 0
        if newest is None or newest > as_of_us + CACHE_TRAIL_US or not pollcache.fits(max_key, since, newest):
            cache.pending, cache.outcome = None, "bypassed"
            return snap.polls(since, as_of_us)  # an old as_of: its own range only, uncached
        store, ts_us, active = snap.polls(since, newest)
        state = cache.pending = PollState.of(version.epoch, version.seq, since, store, ts_us, active)
        cache.outcome = "built"
    if state.base_us < since - CACHE_TRAIL_US:  # a day behind the lookback: keep what later reports need
        state = cache.pending = state.rebased(since - CACHE_TRAIL_US)
    return state.window(since, as_of_us)


def _brought_up_to_date(conn: Connection, state: PollState, seq: int) -> PollState | None:
    """The cached state with the changes after its own up to ``seq``: polls stored, polls
    turned inactive, and retention's deletions. None if they reach beyond a cache key."""
    base, done = state.base_us, state.seq
    store, ts_us, active = _selected_polls(conn, "seq > %s AND ts_us >= %s", (done, base), base)
    overridden = np.array(fetch_all(conn, "SELECT store, ts_us FROM polls WHERE overridden_seq > %s"
                                          " AND ts_us >= %s", (done, base)), np.int64).reshape(-1, 2)
    deleted_before = fetch_all(conn, "SELECT max(before_us) FROM poll_deletions WHERE seq > %s", (done,))[0][0]
    newest = max(state.newest_us or base, int(ts_us.max(initial=base)))
    max_key = max(int(store.max(initial=0)), int(state.key[-1] >> pollcache.TIME_BITS) if state.key.size else 0)
    if not pollcache.fits(max_key, base, newest):
        return None
    return state.changed(seq, deleted_before, store, ts_us, active, overridden[:, 0], overridden[:, 1])


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


def report_input(engine: Engine, as_of_us: int, cache: PollCache | None = None) -> ReportInput:
    """The stores polled at or before as_of, their hours and timezones, and the lookback polls,
    all read from one consistent snapshot of the database. With a ``cache``, the polls come
    from it and what changed since it was written, and ``cache.pending`` holds the state to
    write back once the report is done."""
    with _snapshot(engine) as snap:
        conn = snap.conn
        stores = fetch_all(conn, "SELECT id, store_id, timezone, first_poll_us FROM stores"
                                 " WHERE first_poll_us <= %s ORDER BY id", (as_of_us,))
        hours = _hours(conn)
        if cache is not None:
            poll_store, poll_ts, poll_active = _cached_lookback(snap, as_of_us, cache)
        else:
            poll_store, poll_ts, poll_active = snap.polls(as_of_us - LOOKBACK_US, as_of_us)

    # Database keys to positions 0..n-1 through a lookup table (keys are small serials). Stores
    # in key order, so polls sorted by (key, time) stay sorted by (position, time).
    keys = np.array([s[0] for s in stores], np.int64)
    size = max(int(keys.max(initial=0)), int(hours[:, 0].max(initial=0))) + 1
    position = np.full(size, -1, np.int64)
    position[keys] = np.arange(keys.size)
    hours = hours[position[hours[:, 0]] >= 0]  # the hours of stores not yet polled by as_of go
    return ReportInput(
        store_ids=np.array([s[1] for s in stores], dtype=str) if stores else np.zeros(0, str),
        timezones=[s[2] for s in stores],
        hours_store=position[hours[:, 0]], hours_day=hours[:, 1],
        hours_start_s=hours[:, 2], hours_end_s=hours[:, 3],
        poll_store=position[poll_store], poll_ts_us=poll_ts, poll_active=poll_active,
        first_poll_us=np.array([s[3] for s in stores], np.int64),
    )


@dataclass(frozen=True)
class StoreRecord:
    store_id: str
    timezone: str | None
    hours: list[tuple[int, int, int]]  # (weekday, local start s, local end s) as loaded


def store_input(engine: Engine, store_id: str, since_us: int, until_us: int) -> tuple[StoreRecord, ReportInput] | None:
    """One store's record, and its report input holding its polls in ``[since, until]``
    (index scans on ``polls_by_store``); None for an unknown store."""
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
    if CONTROL_CHARACTER.search(prefix):
        return []  # no stored id holds one (and PostgreSQL text cannot hold a NUL)
    with engine.connect() as conn:
        return fetch_all(conn, "SELECT store_id, timezone FROM stores WHERE lower(substr(store_id, 1, %s)) = %s"
                               " ORDER BY store_id LIMIT %s", (len(prefix), prefix.lower(), limit))
