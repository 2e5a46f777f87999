"""Reading what a report needs out of the database, as arrays, in a few bulk queries."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection

from .bulk import cursor, fetch_all
from .core import LOOKBACK_US, ReportInput
from .db import is_postgres

_FETCH_ROWS = 200_000


def latest_poll_us(conn: Connection) -> int | None:
    """The newest poll's instant: the default as_of (the data is a recording, not live)."""
    return fetch_all(conn, "SELECT max(ts_us) FROM polls")[0][0]


def _lookback_polls(conn: Connection, as_of_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(store key, ts_us, active) of the polls in ``[as_of - 8 d, as_of]``, through the time index."""
    params = (as_of_us - LOOKBACK_US, as_of_us)
    if is_postgres(conn):
        # One row of packed byte strings that NumPy reads without a Python object per poll:
        # time since the lookback's start with the status in its lowest bit, and the store.
        packed = fetch_all(conn, """
            SELECT string_agg(int8send(((ts_us - %s) << 1) | active::int), ''::bytea),
                   string_agg(int4send(store), ''::bytea)
            FROM polls WHERE ts_us >= %s AND ts_us <= %s""", (params[0], *params))[0]
        if packed[0] is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
        time_status = np.frombuffer(packed[0], ">i8").astype(np.int64)
        return (np.frombuffer(packed[1], ">i4").astype(np.int64), (time_status >> 1) + params[0],
                (time_status & 1).astype(bool))
    parts = []
    with cursor(conn, "SELECT store, ts_us, active FROM polls WHERE ts_us >= %s AND ts_us <= %s", params) as cur:
        while rows := cur.fetchmany(_FETCH_ROWS):
            parts.append(np.array(rows, np.int64).reshape(-1, 3))
    table = np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)
    return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].astype(bool)


def report_input(conn: Connection, as_of_us: int) -> ReportInput:
    """The stores polled at or before as_of, their hours and timezones, and the lookback polls."""
    stores = fetch_all(conn, "SELECT id, store_id, timezone, first_poll_us FROM stores"
                             " WHERE first_poll_us <= %s ORDER BY id", (as_of_us,))
    keys = np.array([s[0] for s in stores], np.int64)
    hours = np.array(fetch_all(conn, """
        SELECT h.store, h.day, h.start_s, h.end_s FROM business_hours h JOIN stores s ON s.id = h.store
        WHERE s.first_poll_us <= %s""", (as_of_us,)), np.int64).reshape(-1, 4)
    poll_store, poll_ts, poll_active = _lookback_polls(conn, as_of_us)

    # Database keys to positions 0..n-1 through a lookup table (keys are small serials).
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
