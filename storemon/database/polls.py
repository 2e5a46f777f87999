"""The polls' one home: table ``poll_days``, a row per store and UTC day, encoded as
storemon/core/polls.py says (``DayRows``: the day's instants as 8-byte values, a status byte
each). Every way in writes here, every report and store page reads here.

- **Writing** merges a batch into the rows it touches, in NumPy: those rows are read, the
  batch's polls merged in by the tie rule (inactive wins, once, when written), and only
  the rows that changed are written back, in one statement; into an empty table the rows
  are copied straight in. Loads hold the loads' lock, so no two merges interleave.
- **Reading** takes the rows of a range of days (an index range on ``day``), or of some
  stores' days (the primary key), as one row of three concatenated byte strings that NumPy
  reads without a Python object per row or per poll.
- **Retention** deletes whole days.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection

from ..core.polls import TS_DTYPE, DayRows, day_of, distinct, first_of_runs, merged
from .bulk import Varying, copy_into, cursor, execute, fetch_all, staged
from .engines import is_postgres

_ROW_HEADER = np.dtype([("store", ">i4"), ("day", ">i4"), ("count", ">i4")])
# One row of three byte strings: each row's (store, day, count), its instants, its statuses.
_PACKED = ("string_agg(int4send(p.store) || int4send(p.day) || int4send(length(p.status)), ''::bytea),"
           " string_agg(p.ts, ''::bytea), string_agg(p.status, ''::bytea)")


def add(conn: Connection, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray) -> int:
    """Store polls (database store keys), inside the caller's transaction; how many are new.
    An instant stored active that arrives inactive becomes inactive (SPEC)."""
    store, ts_us, active = distinct(store, ts_us, active)
    if store.size == 0:
        return 0
    _note_first_polls(conn, store, ts_us)
    if not fetch_all(conn, "SELECT 1 FROM poll_days LIMIT 1"):
        _write(conn, DayRows.of(store, ts_us, active), empty=True)
        return int(store.size)
    batch = DayRows.of(store, ts_us, active)
    changed, new = merged(_rows_at(conn, batch.store, batch.day), store, ts_us, active)
    _write(conn, changed)
    return new


def read(conn: Connection, first_day: int, last_day: int, stores: np.ndarray | None = None) -> DayRows:
    """The rows of days ``first_day`` to ``last_day``, of every store or of these (sorted keys)."""
    where, params = "p.day BETWEEN %s AND %s", (first_day, last_day)
    if stores is not None:
        if not is_postgres(conn):
            raise ValueError("only PostgreSQL reads the polls of some stores")
        where, params = f"p.store = ANY(%s) AND {where}", (np.asarray(stores, np.int64).tolist(), *params)
    return _decoded(conn, "poll_days p", where, params)


def read_store(conn: Connection, store: int, since_us: int, until_us: int) -> tuple[np.ndarray, np.ndarray]:
    """One store's polls in ``[since, until]``: (ts_us, active), in time order (its own rows, by key)."""
    rows = _decoded(conn, "poll_days p", "p.store = %s AND p.day BETWEEN %s AND %s",
                    (store, int(day_of(since_us)), int(day_of(until_us))))
    keep = (rows.ts_us >= since_us) & (rows.ts_us <= until_us)
    return rows.ts_us[keep], rows.active[keep]


def delete_days_before(conn: Connection, day: int) -> int:
    """Delete every row of a day before ``day``; how many polls went."""
    polls = fetch_all(conn, "SELECT coalesce(sum(length(status)), 0) FROM poll_days WHERE day < %s", (day,))[0][0]
    execute(conn, "DELETE FROM poll_days WHERE day < %s", (day,))
    return int(polls)


def _note_first_polls(conn: Connection, store: np.ndarray, ts_us: np.ndarray) -> None:
    """Each store's earliest poll (its first in (store, time) order), kept in stores.first_poll_us."""
    first = first_of_runs(store)
    with staged(conn, "first_poll_stage", [("store", "int4", store[first]), ("first_us", "int8", ts_us[first])]):
        execute(conn, "UPDATE stores SET first_poll_us = f.first_us FROM first_poll_stage f"
                      " WHERE stores.id = f.store AND (stores.first_poll_us IS NULL OR f.first_us < stores.first_poll_us)")


def _rows_at(conn: Connection, store: np.ndarray, day: np.ndarray) -> DayRows:
    """The stored rows of these (store, day) keys."""
    with staged(conn, "day_keys", [("store", "int4", store), ("day", "int4", day)]):
        return _decoded(conn, "poll_days p JOIN day_keys k ON p.store = k.store AND p.day = k.day", "true", ())


def _decoded(conn: Connection, source: str, where: str, params: tuple) -> DayRows:
    if is_postgres(conn):
        header, ts, status = fetch_all(conn, f"SELECT {_PACKED} FROM {source} WHERE {where}", params, binary=True)[0]
        rows = np.frombuffer(header or b"", _ROW_HEADER)
        return DayRows.decode(rows["store"], rows["day"], rows["count"], ts or b"", status or b"")
    with cursor(conn, f"SELECT p.store, p.day, p.ts, p.status FROM {source} WHERE {where}", params) as cur:
        found = cur.fetchall()
    return DayRows.decode(np.array([r[0] for r in found], np.int64), np.array([r[1] for r in found], np.int64),
                          np.array([len(r[3]) for r in found], np.int64), b"".join(r[2] for r in found),
                          b"".join(r[3] for r in found))


def _write(conn: Connection, rows: DayRows, empty: bool = False) -> None:
    """Write these rows, replacing any stored under their keys (``empty``: the table is)."""
    if rows.store.size == 0:
        return
    columns = [("store", "int4", rows.store), ("day", "int4", rows.day),
               ("ts", "bytea", Varying(rows.count * TS_DTYPE.itemsize, rows.ts_bytes)),
               ("status", "bytea", Varying(rows.count, rows.status_bytes))]
    if empty:
        copy_into(conn, "poll_days", columns)
        return
    upsert = ("INSERT INTO poll_days (store, day, ts, status) SELECT store, day, ts, status FROM {}"
              " ON CONFLICT (store, day) DO UPDATE SET ts = excluded.ts, status = excluded.status")
    if is_postgres(conn):
        with staged(conn, "day_rows", columns):
            execute(conn, upsert.format("day_rows"))
    else:
        driver = conn.connection.driver_connection
        driver.executemany("INSERT INTO poll_days (store, day, ts, status) VALUES (?, ?, ?, ?)"
                           " ON CONFLICT (store, day) DO UPDATE SET ts = excluded.ts, status = excluded.status",
                           zip(rows.store.tolist(), rows.day.tolist(), columns[2][2].values(), columns[3][2].values()))
