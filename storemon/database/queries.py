"""Reading what a report needs out of the database, as arrays, in a few bulk queries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine

from .bulk import cursor, fetch_all
from ..core import DAY_US, LOOKBACK_US, ReportInput
from ..sources import CONTROL_CHARACTER

_FETCH_ROWS = 200_000
# PostgreSQL: the lookback is read a day at a time by two connections sharing one
# snapshot. Measured at 20M polls, one 230 MB string_agg took 5.5-7.4 s, these 2.2 s.
_READERS = 2

Polls = tuple[np.ndarray, np.ndarray, np.ndarray]  # store key, ts_us, active


def latest_poll_us(conn: Connection) -> int | None:
    """The newest poll's instant: the default as_of (the data is a recording, not live)."""
    return fetch_all(conn, "SELECT max(ts_us) FROM polls")[0][0]


def _packed_polls(conn: Connection, since_us: int, until_us: int, last: bool) -> Polls:
    """Polls in ``[since, until)`` (``[since, until]`` if last) of PostgreSQL as one row of packed
    byte strings that NumPy reads without a Python object per poll: time since ``since``
    with the status in its lowest bit, and the store."""
    packed = fetch_all(conn, f"""
        SELECT string_agg(int8send(((ts_us - %s) << 1) | active::int), ''::bytea),
               string_agg(int4send(store), ''::bytea)
        FROM polls WHERE ts_us >= %s AND ts_us {'<=' if last else '<'} %s""", (since_us, since_us, until_us))[0]
    if packed[0] is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    time_status = np.frombuffer(packed[0], ">i8").astype(np.int64)
    return (np.frombuffer(packed[1], ">i4").astype(np.int64), (time_status >> 1) + since_us,
            (time_status & 1).astype(bool))


def _postgres_lookback(engine: Engine, snapshot: str, as_of_us: int) -> Polls:
    """The lookback's polls, a day at a time, on connections that join the given snapshot."""
    edges = [as_of_us - LOOKBACK_US + day * DAY_US for day in range(LOOKBACK_US // DAY_US)] + [as_of_us]
    days = list(zip(edges, edges[1:]))

    def read(share: list[tuple[int, int]]) -> list[Polls]:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            return [_packed_polls(conn, a, b, last=b == as_of_us) for a, b in share]

    pool = ThreadPoolExecutor(_READERS)
    try:
        parts = [p for share in pool.map(read, [days[i::_READERS] for i in range(_READERS)]) for p in share]
    finally:
        # Interrupted (an error, a worker's shutdown signal), don't wait for a reader still
        # blocked in its query: its connection goes when the process does.
        pool.shutdown(wait=False, cancel_futures=True)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _sqlite_lookback(conn: Connection, as_of_us: int) -> Polls:
    parts = []
    with cursor(conn, "SELECT store, ts_us, active FROM polls WHERE ts_us >= %s AND ts_us <= %s",
                (as_of_us - LOOKBACK_US, as_of_us)) as cur:
        while rows := cur.fetchmany(_FETCH_ROWS):
            parts.append(np.array(rows, np.int64).reshape(-1, 3))
    table = np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)
    return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].astype(bool)


def report_input(engine: Engine, as_of_us: int) -> ReportInput:
    """The stores polled at or before as_of, their hours and timezones, and the lookback polls,
    all read from one consistent snapshot of the database."""
    postgres = engine.dialect.name == "postgresql"
    options = {"isolation_level": "REPEATABLE READ"} if postgres else {}
    with engine.connect().execution_options(**options) as conn:
        stores = fetch_all(conn, "SELECT id, store_id, timezone, first_poll_us FROM stores"
                                 " WHERE first_poll_us <= %s ORDER BY id", (as_of_us,))
        hours = np.array(fetch_all(conn, """
            SELECT h.store, h.day, h.start_s, h.end_s FROM business_hours h JOIN stores s ON s.id = h.store
            WHERE s.first_poll_us <= %s""", (as_of_us,)), np.int64).reshape(-1, 4)
        if postgres:
            snapshot = fetch_all(conn, "SELECT pg_export_snapshot()")[0][0]
            poll_store, poll_ts, poll_active = _postgres_lookback(engine, snapshot, as_of_us)
        else:
            poll_store, poll_ts, poll_active = _sqlite_lookback(conn, as_of_us)

    # Database keys to positions 0..n-1 through a lookup table (keys are small serials).
    keys = np.array([s[0] for s in stores], np.int64)
    position = np.zeros(int(keys.max(initial=0)) + 1, np.int64)
    position[keys] = np.arange(keys.size)
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
