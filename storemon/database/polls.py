"""The polls' one home: table ``poll_days``, a row per store and UTC day, encoded as
storemon/core/polls.py says (``PollRows``: the day's polls as 8-byte values, time and status).
Every way in writes here, every report and store page reads here.

- **Writing** merges a batch into the rows it touches, in NumPy: those rows are read, the
  batch's polls merged in by the tie rule (inactive wins, once, when written), and only
  the rows that changed are written back, in one statement; into an empty table the rows
  are copied straight in. Loads hold the loads' lock, so no two merges interleave.
- **Reading** takes the rows of a range of days (an index range on ``day``), or of some
  stores' days (the primary key, 128 stores to a subquery), as pairs of byte strings, every
  row's (store, size) and every row's polls, that NumPy reads without a Python object per
  row or per poll.
- **Retention** deletes whole days.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from ..core.polls import POLL_DTYPE, PollRows, day_of, first_of_runs, merged
from .bulk import Varying, binary_rows, copy_into, staged, upsert
from .engines import is_postgres

# PostgreSQL: a day's row grows a poll an hour, about fivefold; pages filled to a fifth keep every
# version of it in place (HOT: no index entry, no dead tuple elsewhere) and end the day full. A
# first load (of whole days, mostly) fills its pages whole (``filled_whole``). The table is made
# so (models.PollDay).
FILL_PERCENT = 20
_ROW_HEADER = np.dtype([("store", ">i4"), ("size", ">i4")])
_FEW_DAYS = 3  # a batch within this many days reads those days' rows whole to merge into
_BUCKET = 128  # stores read into one pair of byte strings (a report's read: about 150 KB of polls)
# A pair of byte strings: each row's (store, size of its polls), and its polls.
_PACKED = "string_agg(int4send(p.store) || int4send(length(p.polls)), ''::bytea), string_agg(p.polls, ''::bytea)"


def add(conn: Connection, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray) -> tuple[int, int]:
    """Store polls (database store keys), inside the caller's transaction: how many are new,
    and how many stores have a first poll earlier than before (or a first one at all), which
    changes the stores a report lists. An instant stored active that arrives inactive becomes
    inactive (SPEC)."""
    batch = PollRows.of(store, ts_us, active)
    if batch.store.size == 0:
        return 0, 0
    earlier = _note_first_polls(conn, batch)
    if conn.execute(text("SELECT 1 FROM poll_days LIMIT 1")).first() is None:
        _write(conn, batch, empty=True)
        return int(batch.packed.size), earlier
    changed, new = merged(_rows_at(conn, batch.store, batch.day()), *batch.polls())
    _write(conn, changed)
    return new, earlier


@contextmanager
def filled_whole(conn: Connection) -> Iterator[bool]:
    """Around the writes of a load into an empty table (a first load; yields whether it is
    one): its rows fill their pages whole, not for a day's growth, since they hold whole days,
    mostly, that will not grow; the table's fill factor is restored once they are written (the
    transaction undoes both if it fails). Nothing changes for a table that holds rows, or on
    SQLite."""
    empty = is_postgres(conn) and conn.execute(text("SELECT 1 FROM poll_days LIMIT 1")).first() is None
    if empty:
        conn.execute(text("ALTER TABLE poll_days SET (fillfactor = 100)"))
    yield empty
    if empty:
        conn.execute(text(f"ALTER TABLE poll_days SET (fillfactor = {FILL_PERCENT})"))


COMPACT_LOCK_WAIT = "5s"  # how long a compaction waits for readers of the table to finish, else is skipped


def compact(conn: Connection) -> bool:
    """After a first load of several batches (a large request body, or files of more than one
    batch), inside its transaction: each batch rewrote the day rows an earlier one had
    written, whose first versions would stay, dead, in pages no later row fills (16.6 bytes a
    poll at full scale instead of 12.3). The rows are written again into a new file, whole
    pages, in key order; whether they were.

    PostgreSQL, at READ COMMITTED only: TRUNCATE empties the table of rows the transaction
    cannot see too, and under a snapshot taken before the loads' lock a load could take
    itself for the first while another's rows were there. TRUNCATE locks the table until the
    load commits (readers wait for it: a first load is seen whole or not at all); it waits at
    most COMPACT_LOCK_WAIT for readers already there (a dump, say), and if they stay, the
    load keeps its rows as written."""
    if not is_postgres(conn) or conn.execute(text("SHOW transaction_isolation")).scalar() != "read committed":
        return False
    try:
        with conn.begin_nested():
            conn.execute(text(f"SET LOCAL lock_timeout = '{COMPACT_LOCK_WAIT}'"))
            conn.execute(text("CREATE TEMP TABLE poll_days_compact AS SELECT store, day, polls FROM poll_days"))
            conn.execute(text("TRUNCATE poll_days"))
            conn.execute(text("INSERT INTO poll_days (store, day, polls)"
                              " SELECT store, day, polls FROM poll_days_compact ORDER BY store, day"))
            conn.execute(text("DROP TABLE poll_days_compact"))
            conn.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # (lock_not_available: readers stayed)
            raise
        return False
    return True


def read(conn: Connection, first_day: int, last_day: int, stores: tuple[int, int] | np.ndarray) -> PollRows:
    """The rows of days ``first_day`` to ``last_day`` of some stores, in (store, day) order: the
    keys from one to another (both included), or these keys (sorted)."""
    if not is_postgres(conn):
        if not isinstance(stores, tuple):
            raise ValueError("SQLite reads the polls of a range of stores only")
        rows = _decoded(conn, "poll_days p", "p.store BETWEEN :lo AND :hi AND p.day BETWEEN :first AND :last",
                        {"lo": stores[0], "hi": stores[1], "first": first_day, "last": last_day})
        return rows.ordered(rows.key)
    # Each bucket of 128 stores is read by its own LATERAL subquery, an index scan of its range of
    # the primary key (or of its 128 keys: a whole list in every bucket's scan cost 8x more), so
    # its rows come in order without a sort; and it packs them in byte strings of about 150 KB,
    # which PostgreSQL copies and sends in two thirds of the time one string of megabytes takes.
    params = {"first": first_day, "last": last_day}
    if isinstance(stores, tuple):
        params["lo"], params["hi"] = stores
        buckets = f"generate_series(CAST(:lo AS int4) / {_BUCKET}, CAST(:hi AS int4) / {_BUCKET})"
        these = (f"p.store BETWEEN greatest(bucket * {_BUCKET}, CAST(:lo AS int4))"
                 f" AND least(bucket * {_BUCKET} + {_BUCKET - 1}, CAST(:hi AS int4))")
    else:
        params["keys"] = np.asarray(stores, np.int64).tolist()
        buckets = f"generate_series(0, (cardinality(CAST(:keys AS int4[])) - 1) / {_BUCKET})"
        these = f"p.store = ANY((CAST(:keys AS int4[]))[bucket * {_BUCKET} + 1 : bucket * {_BUCKET} + {_BUCKET}])"
    found = binary_rows(conn, f"""
        SELECT packed.* FROM {buckets} bucket,
        LATERAL (SELECT {_PACKED} FROM (
            SELECT * FROM poll_days p WHERE {these} AND p.day BETWEEN :first AND :last
            ORDER BY p.store, p.day) p) packed
        ORDER BY bucket""", params)
    return _unpacked(b"".join(header for header, _ in found if header), b"".join(polls for _, polls in found if polls))


def read_store(conn: Connection, store: int, since_us: int, until_us: int) -> tuple[np.ndarray, np.ndarray]:
    """One store's polls in ``[since, until]``: (ts_us, active), in time order (its own rows, by key)."""
    rows = _decoded(conn, "poll_days p", "p.store = :store AND p.day BETWEEN :first AND :last",
                    {"store": store, "first": int(day_of(since_us)), "last": int(day_of(until_us))})
    _, ts_us, active = rows.ordered(rows.day()).polls()
    keep = (ts_us >= since_us) & (ts_us <= until_us)
    return ts_us[keep], active[keep]


def analyze_new_day(engine) -> None:
    """PostgreSQL's statistics of the polls brought up to date, once a load has begun a new UTC
    day. Until autovacuum gets to it (on a large table, days later), the planner takes the
    newest days for nearly empty and reads them by the index on day, bucket after bucket:
    reading the two newest days (an evaluation of incidents, who is down now) took 0.4-0.5 s
    instead of 0.02 s at full scale. ANALYZE samples the table: tens of milliseconds, once a day."""
    if is_postgres(engine):
        with engine.begin() as conn:
            conn.execute(text("ANALYZE poll_days"))


def newest_us(conn: Connection) -> int | None:
    """The newest stored poll's instant (its day's rows decoded), or None when none is stored."""
    day = conn.execute(text("SELECT max(day) FROM poll_days")).scalar()
    if day is None:
        return None
    _, ts_us, _ = _decoded(conn, "poll_days p", "p.day = :day", {"day": day}).polls()
    return int(ts_us.max())


def delete_days_before(conn: Connection, day: int) -> int:
    """Delete every row of a day before ``day``; how many polls went."""
    found = conn.execute(text("SELECT coalesce(sum(length(polls)), 0) FROM poll_days WHERE day < :day"),
                         {"day": day}).scalar()
    conn.execute(text("DELETE FROM poll_days WHERE day < :day"), {"day": day})
    return int(found) // POLL_DTYPE.itemsize


def _note_first_polls(conn: Connection, rows: PollRows) -> int:
    """Each store's earliest poll (its first row's first, rows in (store, day) order), kept in
    stores.first_poll_us where it is earlier (an hour's batch: none is); for how many stores."""
    first = first_of_runs(rows.store)
    store, first_us = rows.store[first], rows.first_us()[first]
    stored = dict(conn.execute(text("SELECT id, first_poll_us FROM stores WHERE first_poll_us IS NOT NULL"
                                    " AND first_poll_us <= :until"), {"until": int(first_us.max())}).all())
    earlier = [i for i, (key, at) in enumerate(zip(store.tolist(), first_us.tolist())) if stored.get(key, at + 1) > at]
    if not earlier:
        return 0
    with staged(conn, "first_poll_stage", [("store", "int4", store[earlier]), ("first_us", "int8", first_us[earlier])]):
        conn.execute(text("UPDATE stores SET first_poll_us = f.first_us FROM first_poll_stage f WHERE stores.id = f.store"
                          " AND (stores.first_poll_us IS NULL OR f.first_us < stores.first_poll_us)"))
    return len(earlier)


def _rows_at(conn: Connection, store: np.ndarray, day: np.ndarray) -> PollRows:
    """The stored rows of these (store, day) keys: those of a few days read whole (an hour's
    batch: the day's rows of the fleet, by the day index) and kept in NumPy, others joined
    with the keys in the database."""
    if int(day.max()) - int(day.min()) < _FEW_DAYS:
        rows = _decoded(conn, "poll_days p", "p.day BETWEEN :first AND :last",
                        {"first": int(day.min()), "last": int(day.max())})
        wanted = np.sort((store << 32) | day)
        at = np.minimum(np.searchsorted(wanted, rows.key), wanted.size - 1)
        return rows.taken(np.flatnonzero(wanted[at] == rows.key))
    with staged(conn, "day_keys", [("store", "int4", store), ("day", "int4", day)]):
        return _decoded(conn, "poll_days p JOIN day_keys k ON p.store = k.store AND p.day = k.day", "true", {})


def _decoded(conn: Connection, source: str, where: str, params: dict) -> PollRows:
    """The rows ``where`` selects, decoded, in the order read."""
    if is_postgres(conn):
        header, packed = binary_rows(conn, f"SELECT {_PACKED} FROM {source} WHERE {where}", params)[0]
        return _unpacked(header or b"", packed or b"")
    found = conn.execute(text(f"SELECT p.store, p.polls FROM {source} WHERE {where}"), params).all()
    return PollRows.decode(np.array([r[0] for r in found], np.int64), np.array([len(r[1]) for r in found], np.int64),
                          b"".join(r[1] for r in found))


def _unpacked(header: bytes, packed: bytes) -> PollRows:
    """Rows from the two byte strings of ``_PACKED``."""
    rows = np.frombuffer(header, _ROW_HEADER)
    return PollRows.decode(rows["store"], rows["size"], packed)


def _write(conn: Connection, rows: PollRows, empty: bool = False) -> None:
    """Write these rows, replacing any stored under their keys (``empty``: the table is)."""
    if rows.store.size == 0:
        return
    columns = [("store", "int4", rows.store), ("day", "int4", rows.day()),
               ("polls", "bytea", Varying(rows.count * POLL_DTYPE.itemsize, rows.encoded()))]
    if empty:
        copy_into(conn, "poll_days", columns)
        return
    upsert(conn, "poll_days", columns, keys=("store", "day"))
