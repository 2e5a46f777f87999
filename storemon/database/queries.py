"""Reading what a report needs out of the database, as arrays, in a few bulk queries, all
inside one ``snapshot``: PostgreSQL's REPEATABLE READ transaction, SQLite's read transaction,
so a report sees the database as one moment left it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine

from . import polls, version
from .bulk import fetch_all
from .engines import is_postgres
from ..core import LOOKBACK_US, ReportInput
from ..core.polls import DayRows, day_of

__all__ = ["EVERY_STORE", "StoreRange", "StoreRecord", "Stores", "find_stores", "latest_poll_us", "listed_count",
           "report_input", "snapshot", "store_id_cuts", "store_input"]


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see the database as one moment left it."""
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            yield conn
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.execute("BEGIN DEFERRED")  # WAL: every read below sees the database as of the first
        try:
            yield conn
        finally:
            driver.execute("COMMIT")


def latest_poll_us(conn: Connection) -> int | None:
    """The newest poll's instant: the default as_of (the data is a recording, not live)."""
    return version.current(conn).newest_poll_us


@dataclass(frozen=True)
class StoreRange:
    """The stores whose id is at or after ``first`` and before ``end`` (None: unbounded), in the
    report's order (code points, which PostgreSQL's "C" collation and SQLite's default follow)."""

    first: str | None = None
    end: str | None = None

    def where(self, column: str) -> tuple[str, tuple]:
        clauses, params = [], []
        for bound, op in ((self.first, ">="), (self.end, "<")):
            if bound is not None:
                clauses.append(f"{column} {op} %s")
                params.append(bound)
        return " AND ".join(clauses) or "true", tuple(params)


EVERY_STORE = StoreRange()


def _in_order(conn: Connection, column: str) -> str:
    return f'{column} COLLATE "C"' if is_postgres(conn) else column


@dataclass
class Stores:
    """The stores a report lists (polled at or before its as_of) in key order, and their hours."""

    keys: np.ndarray  # int64 database keys, ascending
    store_ids: list[str]
    timezones: list[str | None]
    first_poll_us: np.ndarray
    hours: np.ndarray  # (store key, day, start_s, end_s) rows of these stores

    @staticmethod
    def read(conn: Connection, as_of_us: int, within: StoreRange = EVERY_STORE) -> Stores:
        where, params = within.where(_in_order(conn, "s.store_id"))
        where, params = f"s.first_poll_us <= %s AND {where}", (as_of_us, *params)
        if is_postgres(conn):
            # (a few packed values rather than a row a store: 136K stores in 40 ms, not 100 ms; one
            # scan feeds the aggregates row by row, so they agree on the order; sorted here)
            keys, first, ids, zones = fetch_all(conn, f"""
                SELECT string_agg(int4send(s.id), ''::bytea), string_agg(int8send(s.first_poll_us), ''::bytea),
                       string_agg(s.store_id, E'\\n'), string_agg(coalesce(s.timezone, ''), E'\\n')
                FROM stores s WHERE {where}""", params)[0]
            hours = fetch_all(conn, f"""
                SELECT string_agg(int4send(h.store) || int2send(h.day) || int4send(h.start_s) || int4send(h.end_s),
                                  ''::bytea)
                FROM business_hours h JOIN stores s ON s.id = h.store WHERE {where}""", params)[0][0]
            keys = np.frombuffer(keys or b"", ">i4").astype(np.int64)
            order = np.argsort(keys)
            names, zone_names = (ids or "").split("\n"), (zones or "").split("\n")
            found = Stores(keys[order], [names[i] for i in order.tolist()],
                           [zone_names[i] or None for i in order.tolist()],
                           np.frombuffer(first or b"", ">i8").astype(np.int64)[order], _hours(hours))
            return found
        found = fetch_all(conn, f"SELECT s.id, s.store_id, s.timezone, s.first_poll_us FROM stores s WHERE {where}"
                                " ORDER BY s.id", params)
        hours = fetch_all(conn, "SELECT h.store, h.day, h.start_s, h.end_s FROM business_hours h"
                                f" JOIN stores s ON s.id = h.store WHERE {where}", params)
        return Stores(np.array([s[0] for s in found], np.int64), [s[1] for s in found], [s[2] for s in found],
                      np.array([s[3] for s in found], np.int64), np.array(hours, np.int64).reshape(-1, 4))

    def report_input(self, rows: DayRows, as_of_us: int) -> ReportInput:
        """The core's input from these stores and the rows of their polls (rows of other
        stores are left out; the core keeps its lookback of the rest)."""
        # Database keys to positions 0..n-1 through a lookup table (keys are small serials). Stores
        # in key order, so polls sorted by (key, time) stay sorted by (position, time).
        size = max(int(self.keys.max(initial=0)), int(rows.store.max(initial=0))) + 1
        position = np.full(size, -1, np.int64)
        position[self.keys] = np.arange(self.keys.size)
        store, ts_us, active = rows.polls()
        at = position[store]
        if at.size and at.min() < 0:  # polls of stores first polled after as_of (on its own day)
            kept = at >= 0
            at, ts_us, active = at[kept], ts_us[kept], active[kept]
        return ReportInput(
            store_ids=np.array(self.store_ids, dtype=str) if self.store_ids else np.zeros(0, str),
            timezones=self.timezones,
            hours_store=position[self.hours[:, 0]], hours_day=self.hours[:, 1],
            hours_start_s=self.hours[:, 2], hours_end_s=self.hours[:, 3],
            poll_store=at, poll_ts_us=ts_us, poll_active=active, first_poll_us=self.first_poll_us,
        )


def _hours(packed: bytes | None) -> np.ndarray:
    rows = np.frombuffer(packed or b"", np.dtype([("store", ">i4"), ("day", ">i2"), ("start", ">i4"), ("end", ">i4")]))
    return np.stack([rows[name].astype(np.int64) for name in ("store", "day", "start", "end")], axis=1)


def report_input(conn: Connection, as_of_us: int, within: StoreRange = EVERY_STORE) -> tuple[ReportInput, int]:
    """The stores polled at or before as_of (of a range of store ids, or all), their hours and
    timezones, and their lookback polls, read on a ``snapshot``; and the data version it saw."""
    seen = version.current(conn).version
    stores = Stores.read(conn, as_of_us, within)
    first_day, last_day = int(day_of(as_of_us - LOOKBACK_US)), int(day_of(as_of_us))
    if within == EVERY_STORE:
        rows = polls.read(conn, first_day, last_day)
    else:
        rows = polls.read(conn, first_day, last_day, stores.keys)
    return stores.report_input(rows, as_of_us), seen


def listed_count(engine: Engine, as_of_us: int) -> int:
    """How many stores a report as of then lists."""
    with engine.connect() as conn:
        return fetch_all(conn, "SELECT count(*) FROM stores WHERE first_poll_us <= %s", (as_of_us,))[0][0]


def store_id_cuts(engine: Engine, as_of_us: int, parts: int) -> list[str]:
    """The store ids that cut the stores a report lists into ``parts`` runs of (nearly) equal
    size, in the report's order: the first id of every run after the first."""
    with engine.connect() as conn:
        ordered = _in_order(conn, "store_id")
        found = fetch_all(conn, f"""
            SELECT store_id FROM (SELECT store_id, row_number() OVER (ORDER BY {ordered}) - 1 AS at,
                                         count(*) OVER () AS total
                                  FROM stores WHERE first_poll_us <= %s) ranked
            WHERE at > 0 AND at * %s / total > (at - 1) * %s / total ORDER BY {ordered}""",
                          (as_of_us, parts, parts))
    return [row[0] for row in found]


@dataclass(frozen=True)
class StoreRecord:
    store_id: str
    timezone: str | None
    hours: list[tuple[int, int, int]]  # (weekday, local start s, local end s) as loaded


def store_input(engine: Engine, store_id: str, since_us: int, until_us: int) -> tuple[StoreRecord, ReportInput] | None:
    """One store's record, and its report input holding its polls in ``[since, until]`` (its
    own rows, by key); None for an unknown store."""
    from ..sources import CONTROL_CHARACTER  # (here: a report never imports the sources' parsers)

    if CONTROL_CHARACTER.search(store_id):
        return None  # no stored id holds one (and PostgreSQL text cannot hold a NUL)
    with snapshot(engine) as conn:
        found = fetch_all(conn, "SELECT id, timezone, first_poll_us FROM stores WHERE store_id = %s", (store_id,))
        if not found:
            return None
        key, timezone, first_poll_us = found[0]
        hours = fetch_all(conn, "SELECT day, start_s, end_s FROM business_hours WHERE store = %s"
                                " ORDER BY day, start_s", (key,))
        ts_us, active = polls.read_store(conn, key, since_us, until_us)
    h = np.array(hours, np.int64).reshape(-1, 3)
    data = ReportInput(
        store_ids=np.array([store_id]), timezones=[timezone],
        hours_store=np.zeros(len(h), np.int64), hours_day=h[:, 0], hours_start_s=h[:, 1], hours_end_s=h[:, 2],
        poll_store=np.zeros(ts_us.size, np.int64), poll_ts_us=ts_us, poll_active=active,
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
