"""Loading sources (a directory's CSV files, or request bodies) into the database, all or nothing.

One transaction creates the new stores, replaces the hours and timezones of the stores
the sources name, and appends the polls not stored yet; a bad row (strict mode) raises
before it commits, so nothing is written. Loads take a lock, so two never interleave.
"""

from __future__ import annotations

import gc
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy import Connection, Engine

from .. import sources
from .bulk import copy_into, execute, fetch_all, staged
from .changes import next_change
from ..core import Progress
from ..core.localtime import is_known_timezone
from ..core.uptime import dedupe_polls
from .engines import WRITE_LOCK, is_postgres


@dataclass
class LoadSummary:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    new_polls: int = 0
    stores: int = 0  # distinct stores the sources name
    unknown_timezones: list[str] = field(default_factory=list)
    rejected_rows: sources.RejectedRows = field(default_factory=sources.RejectedRows)
    seconds: float = 0.0

    @property
    def rejected(self) -> list[sources.Rejected]:
        """The first rejected rows, in order (up to ``RejectedRows.keep``)."""
        return self.rejected_rows.first

    @property
    def rejected_lines(self) -> int:
        return self.rejected_rows.count


def load_directory(engine: Engine, directory: Path, *, skip_bad: bool = False,
                   on_progress: Progress | None = None) -> LoadSummary:
    """Load whichever sources DIR holds. Strict unless ``skip_bad``: a bad line raises SourceError."""
    files = sources.find_sources(Path(directory))
    return load_sources(engine, {kind: sources.CsvSource.of_file(path) for kind, path in files.items()},
                        skip_bad=skip_bad, on_progress=on_progress, local_files=True)


_READERS = {sources.TIMEZONES: sources.read_timezones, sources.HOURS: sources.read_hours,
            sources.POLLS: sources.read_polls}


def load_sources(engine: Engine, named: dict[str, sources.Source], *, skip_bad: bool = False,
                 on_progress: Progress | None = None, keep_rejected: int = 1000,
                 local_files: bool = False) -> LoadSummary:
    """Read and check every source (keyed by sources.POLLS, HOURS or TIMEZONES), and write
    them all in one transaction. Strict unless ``skip_bad``: a bad row raises SourceError.

    ``local_files`` (a command's files, read at disk speed) puts every core to work: the
    polls are parsed in parallel processes, and on PostgreSQL while the stores, timezones
    and hours are written, the database server working beside the parser. A request body,
    read at the client's pace in a web process, is read whole, in that process, before the
    transaction takes the loads' lock."""
    started = time.perf_counter()
    summary = LoadSummary(files=[s.name for s in named.values()],
                          rejected_rows=sources.RejectedRows(keep=keep_rejected))

    def read(kind):
        if kind not in named:
            return None
        options = {"workers": os.cpu_count() or 1} if kind == sources.POLLS and local_files else {}
        with _gc_paused():
            return _READERS[kind](named[kind], strict=not skip_bad, rejected=summary.rejected_rows,
                                  on_progress=on_progress, **options)

    timezones, hours = read(sources.TIMEZONES), read(sources.HOURS)
    # On PostgreSQL a command's files are parsed while its server writes; SQLite writes in
    # this process, and its lock would only be held longer.
    polls_alongside = local_files and is_postgres(engine)
    polls = None if polls_alongside else read(sources.POLLS)
    with engine.begin() as conn, _alongside(conn) as writer:
        if is_postgres(conn):
            execute(conn, "SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        # (SQLite: the transaction began with BEGIN IMMEDIATE, which already excludes other writers.)
        places = writer(_write_places, conn, timezones, hours)
        if polls_alongside:  # a bad poll still stores nothing: it raises before the commit
            polls = read(sources.POLLS)
        key_of = places()
        if on_progress:
            on_progress("writing to the database", 0.0)
        if polls is not None:
            key_of = _store_keys(conn, polls.stores.ids, key_of)
            summary.new_polls = _append_polls(conn, key_of, polls)
    batches = [b for b in (timezones, hours, polls) if b is not None]
    summary.rows_read = sum(b.rows_read for b in batches)
    if timezones is not None:
        summary.unknown_timezones = sorted({n for n in timezones.names if not is_known_timezone(n)})
    named_stores = set(timezones.store_ids if timezones else [])
    for batch in (hours, polls):
        if batch is not None:
            named_stores.update(batch.stores.ids)
    summary.stores = len(named_stores)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_places(conn: Connection, timezones: sources.TimezoneBatch | None,
                  hours: sources.HoursBatch | None) -> dict[str, int]:
    """Create the stores the timezones and hours name, replace those; the stores' keys."""
    named = dict.fromkeys(timezones.store_ids if timezones else [])
    named.update(dict.fromkeys(hours.stores.ids if hours else []))
    key_of = _store_keys(conn, list(named))
    if timezones is not None:
        _replace_timezones(conn, key_of, timezones)
    if hours is not None:
        _replace_hours(conn, key_of, hours)
    return key_of


@contextmanager
def _alongside(conn: Connection) -> Iterator[Callable]:
    """``writer(fn, *args)`` starts ``fn`` on a thread of its own and returns a function that
    waits for its result (on PostgreSQL, whose server works in a process of its own; on SQLite,
    which works in this one, it runs at once)."""
    if not is_postgres(conn):
        def run_now(fn, *args):
            result = fn(*args)
            return lambda: result
        yield run_now
        return
    with ThreadPoolExecutor(1, thread_name_prefix="load-writer") as pool:
        yield lambda fn, *args: pool.submit(fn, *args).result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing makes millions of short-lived lists and strings, none in a cycle; the cyclic
    collector would only rescan them (a third of the parse time, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _store_keys(conn: Connection, store_ids: list[str], known: dict[str, int] | None = None) -> dict[str, int]:
    """Database keys of the named stores (and of those ``known``), creating the ones not seen before."""
    key_of = dict(known) if known is not None else dict(fetch_all(conn, "SELECT store_id, id FROM stores"))
    new = [s for s in store_ids if s not in key_of]
    if new:
        with staged(conn, "new_stores", [("store_id", "text", new)]):
            found = fetch_all(conn, "INSERT INTO stores (store_id) SELECT store_id FROM new_stores"
                                    " RETURNING store_id, id")
        key_of.update(found)
    return key_of


def _db_keys(key_of: dict[str, int], stores: sources.StoreKeys, index: np.ndarray) -> np.ndarray:
    lookup = np.array([key_of[s] for s in stores.ids], np.int64)
    return lookup[index] if index.size else np.zeros(0, np.int64)


def _replace_timezones(conn: Connection, key_of: dict[str, int], batch: sources.TimezoneBatch) -> None:
    keys = [key_of[s] for s in batch.store_ids]
    with staged(conn, "timezone_stage", [("store", "int4", keys), ("timezone", "text", batch.names)]):
        execute(conn, "UPDATE stores SET timezone = s.timezone FROM timezone_stage s WHERE stores.id = s.store")


def _replace_hours(conn: Connection, key_of: dict[str, int], batch: sources.HoursBatch) -> None:
    columns = [("store", "int4", _db_keys(key_of, batch.stores, batch.store)), ("day", "int2", batch.day),
               ("start_s", "int4", batch.start_s), ("end_s", "int4", batch.end_s)]
    with staged(conn, "hours_stage", columns):
        execute(conn, "DELETE FROM business_hours WHERE store IN (SELECT store FROM hours_stage)")
        execute(conn, "INSERT INTO business_hours (store, day, start_s, end_s)"
                      " SELECT DISTINCT store, day, start_s, end_s FROM hours_stage")


def _distinct_polls(store: np.ndarray, ts_us: np.ndarray, active: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One poll per (store, instant), inactive winning a disagreement (SPEC), in the key's
    order (time, store). Packed into one int64 (time since the earliest, store, status in the
    lowest bit), one sort does it when they fit (a batch spanning up to years); else lexsort."""
    if store.size == 0:
        return store, ts_us, active
    base_us, span_us = int(ts_us.min()), int(ts_us.max() - ts_us.min())
    store_bits = max(int(store.max()).bit_length(), 1)
    if span_us.bit_length() + store_bits + 1 > 63:
        store, ts_us, active = dedupe_polls(store, ts_us, active)  # (store, time) order
        order = np.lexsort((store, ts_us))
        return store[order], ts_us[order], active[order]
    packed = (((ts_us - base_us) << store_bits | store) << 1) | active
    packed.sort()
    key = packed >> 1
    first = np.ones(key.size, bool)
    first[1:] = key[1:] != key[:-1]
    key = key[first]
    return key & ((1 << store_bits) - 1), (key >> store_bits) + base_us, (packed[first] & 1).astype(bool)


def _append_polls(conn: Connection, key_of: dict[str, int], batch: sources.PollBatch) -> int:
    """Add the polls not stored yet; where an instant is stored active and arrives inactive,
    it becomes inactive (SPEC). Returns how many polls are new."""
    store, ts_us, active = _distinct_polls(_db_keys(key_of, batch.stores, batch.store), batch.ts_us, batch.active)
    if store.size == 0:
        return 0
    stores_seen, earliest = np.unique(store, return_index=True)  # in time order, a store's first row is its earliest
    with staged(conn, "first_poll_stage", [("store", "int4", stores_seen), ("first_us", "int8", ts_us[earliest])]):
        execute(conn, "UPDATE stores SET first_poll_us = f.first_us FROM first_poll_stage f"
                      " WHERE stores.id = f.store AND (stores.first_poll_us IS NULL OR f.first_us < stores.first_poll_us)")

    change = next_change(conn)  # numbered, so a report's cache reads only what changed since
    planned = _polls_planned(conn)
    if not fetch_all(conn, "SELECT 1 FROM polls LIMIT 1"):
        # A first load: nothing stored to compare with, so the rows (distinct already) are
        # copied straight in, and the indexes are built afterwards, each by one sort.
        columns = [("ts_us", "int8", ts_us), ("store", "int4", store), ("active", "bool", active),
                   ("seq", "int8", np.full(store.size, change, np.int64))]
        with _polls_indexes_rebuilt(conn, empty=True):
            copy_into(conn, "polls", columns)
        new = store.size
    else:
        # Staged in key order, new polls land at the index's right-hand edge. Measured on
        # PostgreSQL, a plain INSERT of the rows NOT EXISTS finds is 2-3x faster than
        # INSERT ... ON CONFLICT; the load lock keeps other writers out meanwhile.
        columns = [("ts_us", "int8", ts_us), ("store", "int4", store), ("active", "bool", active)]
        with staged(conn, "poll_stage", columns), _polls_indexes_rebuilt(conn, rebuild=store.size > planned):
            new = execute(conn, """
                INSERT INTO polls (ts_us, store, active, seq)
                SELECT s.ts_us, s.store, s.active, %s FROM poll_stage s
                WHERE NOT EXISTS (SELECT 1 FROM polls p WHERE p.ts_us = s.ts_us AND p.store = s.store)
                ORDER BY s.ts_us, s.store""", (change,))
            if new < store.size:  # some were stored already: an inactive arrival overrides an active one
                execute(conn, "UPDATE polls SET active = false, overridden_seq = %s FROM poll_stage s"
                              " WHERE polls.ts_us = s.ts_us AND polls.store = s.store AND polls.active AND NOT s.active",
                        (change,))
    if new * 10 > planned:
        # Fresh statistics keep the report's range read on the index. An hourly batch adds
        # well under 10% and skips this (tens of ms on the full data); PostgreSQL's
        # autovacuum analyses by the same rule.
        execute(conn, "ANALYZE polls")
    return new


@contextmanager
def _polls_indexes_rebuilt(conn: Connection, rebuild: bool = True, empty: bool = False) -> Iterator[None]:
    """Without the per-store index (and, into an ``empty`` table, without the change index
    and, on PostgreSQL, the primary key) while the block inserts, then with them built
    afresh. The per-store index costs a scattered insert per row (it nearly doubled a first
    load of 2M polls); a load larger than the table is cheaper to index afresh, by one sort.
    (SQLite's polls table is WITHOUT ROWID: its key is the table itself and stays.)"""
    if not rebuild:
        yield
        return
    postgres = is_postgres(conn)
    execute(conn, "DROP INDEX polls_by_store")
    if empty:
        execute(conn, "DROP INDEX polls_by_seq")
        if postgres:
            execute(conn, "ALTER TABLE polls DROP CONSTRAINT polls_pkey")
    yield
    if postgres:
        execute(conn, "SET LOCAL maintenance_work_mem = '256MB'")  # the sorts in memory, not in files
    if empty and postgres:  # the rows are in key order already: this sort is quick, and checks them distinct
        execute(conn, "ALTER TABLE polls ADD CONSTRAINT polls_pkey PRIMARY KEY (ts_us, store)")
    execute(conn, "CREATE INDEX polls_by_store ON polls (store)")
    if empty:
        execute(conn, "CREATE INDEX polls_by_seq ON polls (seq)")


def _polls_planned(conn: Connection) -> float:
    """How many polls the query planner counts, as of the last ANALYZE (0 if none yet)."""
    if is_postgres(conn):
        return max(fetch_all(conn, "SELECT reltuples FROM pg_class WHERE oid = 'polls'::regclass")[0][0], 0)
    if not fetch_all(conn, "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"):
        return 0
    stats = fetch_all(conn, "SELECT stat FROM sqlite_stat1 WHERE tbl = 'polls'")
    return max((int(stat.split()[0]) for (stat,) in stats), default=0)
