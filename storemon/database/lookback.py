"""The report's polls: ranges read in bulk, and the cached lookback brought up to date.

Every read happens inside one ``snapshot``: PostgreSQL's REPEATABLE READ transaction
(exported, so helper connections read ranges in parallel on the same snapshot) or SQLite's
read transaction, so a report sees the database as one moment left it.
"""

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
from .pollcache import Cached, Delta, PollCache, PollState
from ..core import DAY_US, LOOKBACK_US

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


@dataclass(frozen=True)
class Selection:
    """Which polls a read takes: those of the ``stores`` (sorted keys; None: every store) as
    change ``seq`` left them (None: as the snapshot sees them). A part of a sharded report reads
    its own stores as of the change its report was planned at, whatever was loaded since:
    polls stored later are left out, and polls turned inactive later count as they were."""

    seq: int | None = None
    stores: np.ndarray | None = None

    def where(self, clause: str, params: tuple) -> tuple[str, tuple]:
        if self.seq is not None:
            clause, params = f"{clause} AND seq <= %s", (*params, self.seq)
        if self.stores is not None:
            clause, params = f"{clause} AND store = ANY(%s::int4[])", (*params, np.asarray(self.stores).tolist())
        return clause, params

    def status(self) -> tuple[str, tuple]:
        if self.seq is None:
            return "active", ()
        return "(active OR coalesce(overridden_seq > %s, false))", (self.seq,)


EVERYTHING = Selection()


def _packed_polls(conn: Connection, where: str, params: tuple, since_us: int, chosen: Selection = EVERYTHING
                  ) -> Polls:
    """The polls ``where`` selects (all at or after ``since``) of PostgreSQL as one row of
    packed byte strings that NumPy reads without a Python object per poll: time since
    ``since`` with the status in its lowest bit, and the store."""
    status, status_params = chosen.status()
    where, params = chosen.where(where, params)
    packed = fetch_all(conn, f"""
        SELECT string_agg(int8send(((ts_us - %s) << 1) | {status}::int), ''::bytea),
               string_agg(int4send(store), ''::bytea)
        FROM polls WHERE {where}""", (since_us, *status_params, *params))[0]
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


def _selected_polls(conn: Connection, where: str, params: tuple, since_us: int, chosen: Selection) -> Polls:
    if is_postgres(conn):
        return _packed_polls(conn, where, params, since_us, chosen)
    assert chosen == EVERYTHING, "only PostgreSQL reads a part of the stores or an older change"
    return _sqlite_polls(conn, where, params)


def _postgres_range(engine: Engine, snapshot: str, since_us: int, until_us: int, chosen: Selection) -> Polls:
    """The polls in ``[since, until]``, a day at a time, on connections that join the given snapshot."""
    edges = list(range(since_us, until_us, DAY_US)) + [until_us]
    days = list(zip(edges, edges[1:])) or [(since_us, until_us)]

    def read(share: list[tuple[int, int]]) -> list[Polls]:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            return [_packed_polls(conn, f"ts_us >= %s AND ts_us {'<=' if b == until_us else '<'} %s", (a, b), a,
                                  chosen) for a, b in share]

    pool = ThreadPoolExecutor(_READERS)
    try:
        parts = [p for share in pool.map(read, [days[i::_READERS] for i in range(_READERS)]) for p in share]
    finally:
        # Interrupted (an error, a worker's shutdown signal), don't wait for a reader still
        # blocked in its query: its connection goes when the process does.
        pool.shutdown(wait=False, cancel_futures=True)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


class Snapshot:
    """One consistent view of the database for a report's reads: PostgreSQL's REPEATABLE READ
    transaction (exported, so helper connections can join it), SQLite's read transaction."""

    def __init__(self, engine: Engine, conn: Connection):
        self.engine, self.conn = engine, conn
        self._exported: str | None = None

    def polls(self, since_us: int, until_us: int, chosen: Selection = EVERYTHING) -> Polls:
        """Every poll in ``[since, until]`` that ``chosen`` takes."""
        if is_postgres(self.conn):
            if self._exported is None:
                self._exported = fetch_all(self.conn, "SELECT pg_export_snapshot()")[0][0]
            return _postgres_range(self.engine, self._exported, since_us, until_us, chosen)
        return _selected_polls(self.conn, "ts_us >= %s AND ts_us <= %s", (since_us, until_us), since_us, chosen)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Snapshot]:
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            yield Snapshot(engine, conn)
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.execute("BEGIN DEFERRED")  # WAL: every read below sees the database as of the first
        try:
            yield Snapshot(engine, conn)
        finally:
            driver.execute("COMMIT")


class DataReplaced(Exception):
    """The polls a report was planned on are no longer there to read (retention removed some
    of its lookback, or the database was made anew) while it ran."""


def deleted_since(conn: Connection, seq: int) -> int | None:
    """The latest cut of retention's batches after change ``seq`` (None: none since)."""
    return fetch_all(conn, "SELECT max(before_us) FROM poll_deletions WHERE seq > %s", (seq,))[0][0]


def check_unchanged(conn: Connection, version: changes.Version, since_us: int) -> None:
    """Raise DataReplaced unless the polls from ``since`` on can still be read as change
    ``version`` left them. (Retention spares the lookback of unsettled reports, so this is
    a safeguard, not a path.)"""
    if changes.current(conn).epoch != version.epoch:
        raise DataReplaced("the database was made anew while the report ran")
    cut = deleted_since(conn, version.seq)
    if cut is not None and cut > since_us:
        raise DataReplaced("retention removed polls of the report's lookback while it ran")


def cached_lookback(snap: Snapshot, as_of_us: int, cache: PollCache, version: changes.Version | None = None,
                    stores: np.ndarray | None = None) -> Polls | PollState | Cached:
    """The lookback's polls: the cached state brought up to date (its polls from a little before
    the lookback to the newest), read whole and cached when the read reaches the newest polls,
    as an hourly report's does, or for an older as_of, its own range read uncached (Polls). A
    part of a sharded report names its ``stores`` and the ``version`` it was planned at, and
    reads as that change left them."""
    conn, since = snap.conn, as_of_us - LOOKBACK_US
    if version is None:
        version, chosen = changes.current(conn), EVERYTHING
    else:
        chosen = Selection(version.seq, stores)
        check_unchanged(conn, version, since)
    cached = cache.loaded()
    usable = cached is not None and version.epoch and cached.epoch == version.epoch \
        and cached.seq <= version.seq and cached.base_us <= since and (stores is None) == (cached.stores is None)
    cache.outcome, state = "current", None
    if usable and cached.seq < version.seq:
        state = _brought_up_to_date(conn, cached, chosen, version.seq, cache)
        usable, cache.outcome = state is not None, "updated"
    elif usable:
        state = cached
    if usable and stores is not None and not np.array_equal(state.stores, stores):
        state = cache.pending = _with_stores(snap, state.state(), chosen, stores)
        cache.outcome = "updated"
    if not usable:
        newest = latest_poll_us(conn)
        max_key = fetch_all(conn, "SELECT max(id) FROM stores")[0][0] or 0
        if newest is None or newest > as_of_us + CACHE_TRAIL_US or not pollcache.fits(max_key, since, newest):
            cache.pending, cache.outcome = None, "bypassed"
            return snap.polls(since, as_of_us, chosen)  # an old as_of: its own range only, uncached
        store, ts_us, active = snap.polls(since, newest, chosen)
        state = cache.pending = PollState.of(version.epoch, version.seq, since, store, ts_us, active, stores)
        cache.outcome = "built"
    if state.base_us < since - 2 * CACHE_TRAIL_US:  # two days behind: keep the one day later reports need
        # (once a day, not every hour: moving the base changes every key, so the whole file is written)
        state = cache.pending = (state.state() if isinstance(state, Cached) else state).rebased(since - CACHE_TRAIL_US)
    return state


def _brought_up_to_date(conn: Connection, cached: Cached, chosen: Selection, seq: int, cache: PollCache
                        ) -> Cached | None:
    """The cached state with the changes after its own up to ``seq``: polls stored, polls
    turned inactive, and retention's deletions (pending in ``cache``). None if they reach
    beyond a cache key."""
    base, done = cached.base_us, cached.seq

    def read() -> dict[str, np.ndarray]:
        # Every store's changes (an index range on seq: an hour's worth is small); each part
        # keeps those of its own stores: asking PostgreSQL for a part's 50K stores by key costs more.
        store, ts_us, active = _selected_polls(conn, "seq > %s AND ts_us >= %s", (done, base), base,
                                               Selection(chosen.seq))
        overridden = np.array(fetch_all(conn, "SELECT store, ts_us FROM polls WHERE overridden_seq > %s"
                                              " AND overridden_seq <= %s AND ts_us >= %s", (done, seq, base)),
                              np.int64).reshape(-1, 2)
        return {"store": store, "ts_us": ts_us, "active": active, "overridden": overridden}

    # The same changes serve every part on this machine whose cache stands where this one does.
    found = cache.shared(f"changes-{cached.epoch}-{done}-{seq}-{base}", read)
    store, ts_us, active, overridden = found["store"], found["ts_us"], found["active"], found["overridden"]
    held = cached.stores if chosen.stores is None else chosen.stores
    if held is not None:
        mine = np.isin(store, held)
        store, ts_us, active = store[mine], ts_us[mine], active[mine]
        overridden = overridden[np.isin(overridden[:, 0], held)]
    # (the cached keys fit already: only the new polls need checking)
    if not pollcache.fits(int(store.max(initial=0)), base, int(ts_us.max(initial=base))):
        return None
    return cache.advanced(cached, Delta.of(seq, deleted_since(conn, done), store, ts_us, active, overridden[:, 0],
                                           overridden[:, 1], base))


def _with_stores(snap: Snapshot, state: PollState, chosen: Selection, stores: np.ndarray) -> PollState:
    """A part's cached state holding exactly ``stores``: the polls of stores it no longer holds
    dropped, those of stores new to it read (a few, when the parts' edges move)."""
    missing = np.setdiff1d(stores, state.stores)
    state = state.restricted(stores)
    if missing.size == 0:
        return state
    # by store (polls_by_store): a few stores' polls, not a range of everyone's
    store, ts_us, active = _selected_polls(snap.conn, "ts_us >= %s", (state.base_us,), state.base_us,
                                           Selection(chosen.seq, missing))
    empty = np.zeros(0, np.int64)
    return state.changed(state.seq, None, store, ts_us, active, empty, empty)
