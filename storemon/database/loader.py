"""Loading sources (a directory's CSV files, or request bodies) into the database, all or nothing.

Every source is read and checked before anything is written; then one transaction
creates the new stores, replaces the hours and timezones of the stores the sources
name, and appends the polls not stored yet. Loads take a lock, so two never interleave.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator

import numpy as np
from sqlalchemy import Connection, Engine

from .. import sources
from .bulk import execute, fetch_all, staged
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
                        skip_bad=skip_bad, on_progress=on_progress)


_READERS = {sources.TIMEZONES: sources.read_timezones, sources.HOURS: sources.read_hours,
            sources.POLLS: sources.read_polls}


def load_sources(engine: Engine, named: dict[str, sources.Source], *, skip_bad: bool = False,
                 on_progress: Progress | None = None, keep_rejected: int = 1000
                 ) -> LoadSummary:
    """Read and check every source (keyed by sources.POLLS, HOURS or TIMEZONES), then write
    them all in one transaction. Strict unless ``skip_bad``: a bad row raises SourceError."""
    started = time.perf_counter()
    summary = LoadSummary(files=[s.name for s in named.values()],
                          rejected_rows=sources.RejectedRows(keep=keep_rejected))

    def read(kind):
        if kind not in named:
            return None
        source = named[kind]
        return _READERS[kind](source, strict=not skip_bad, rejected=summary.rejected_rows, on_progress=on_progress)

    with _gc_paused():
        timezones, hours, polls = (read(kind) for kind in sources.SOURCE_NAMES)
    batches = [b for b in (timezones, hours, polls) if b is not None]
    summary.rows_read = sum(b.rows_read for b in batches)
    if timezones is not None:
        summary.unknown_timezones = sorted({n for n in timezones.names if not is_known_timezone(n)})

    stores = dict.fromkeys(timezones.store_ids if timezones else [])
    for batch in (hours, polls):
        if batch is not None:
            stores.update(dict.fromkeys(batch.stores.ids))
    summary.stores = len(stores)

    if on_progress:
        on_progress("writing to the database", 0.0)
    with engine.begin() as conn:
        if is_postgres(conn):
            execute(conn, "SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        # (SQLite: the transaction began with BEGIN IMMEDIATE, which already excludes other writers.)
        key_of = _store_keys(conn, list(stores))
        if timezones is not None:
            _replace_timezones(conn, key_of, timezones)
        if hours is not None:
            _replace_hours(conn, key_of, hours)
        if polls is not None:
            summary.new_polls = _append_polls(conn, key_of, polls)
    summary.seconds = time.perf_counter() - started
    return summary


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


def _store_keys(conn: Connection, store_ids: list[str]) -> dict[str, int]:
    """Database keys of the named stores, creating the ones not seen before."""
    key_of = dict(fetch_all(conn, "SELECT store_id, id FROM stores"))
    new = [s for s in store_ids if s not in key_of]
    if new:
        newest = max(key_of.values(), default=0)
        with staged(conn, "new_stores", [("store_id", "text", new)]):
            execute(conn, "INSERT INTO stores (store_id) SELECT store_id FROM new_stores")
        key_of.update(fetch_all(conn, "SELECT store_id, id FROM stores WHERE id > %s", (newest,)))
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


def _append_polls(conn: Connection, key_of: dict[str, int], batch: sources.PollBatch) -> int:
    """Add the polls not stored yet; where an instant is stored active and arrives inactive,
    it becomes inactive (SPEC). Returns how many polls are new."""
    store, ts_us, active = dedupe_polls(_db_keys(key_of, batch.stores, batch.store), batch.ts_us, batch.active)
    if store.size == 0:
        return 0
    first = np.ones(store.size, bool)  # sorted by (store, time): a store's first row is its earliest
    first[1:] = store[1:] != store[:-1]
    with staged(conn, "first_poll_stage", [("store", "int4", store[first]), ("first_us", "int8", ts_us[first])]):
        execute(conn, "UPDATE stores SET first_poll_us = f.first_us FROM first_poll_stage f"
                      " WHERE stores.id = f.store AND (stores.first_poll_us IS NULL OR f.first_us < stores.first_poll_us)")

    # Stage in the key's order (time, store): new polls then land at the index's right-hand
    # edge. Measured on PostgreSQL, a plain INSERT of the rows NOT EXISTS finds is 2-3x
    # faster than INSERT ... ON CONFLICT; the load lock keeps other writers out meanwhile.
    order = np.lexsort((store, ts_us))
    columns = [("ts_us", "int8", ts_us[order]), ("store", "int4", store[order]), ("active", "bool", active[order])]
    planned = _polls_planned(conn)
    # The per-store index costs a scattered insert per row (it nearly doubled a first load of
    # 2M polls); a load larger than the table is cheaper to index afresh, by one sort.
    rebuild = store.size > planned
    with staged(conn, "poll_stage", columns):
        if rebuild:
            execute(conn, "DROP INDEX polls_by_store")
        new = execute(conn, """
            INSERT INTO polls (ts_us, store, active)
            SELECT s.ts_us, s.store, s.active FROM poll_stage s
            WHERE NOT EXISTS (SELECT 1 FROM polls p WHERE p.ts_us = s.ts_us AND p.store = s.store)
            ORDER BY s.ts_us, s.store""")
        if new < store.size:  # some were stored already: an inactive arrival overrides an active one
            execute(conn, "UPDATE polls SET active = false FROM poll_stage s WHERE polls.ts_us = s.ts_us"
                          " AND polls.store = s.store AND polls.active AND NOT s.active")
        if rebuild:
            execute(conn, "CREATE INDEX polls_by_store ON polls (store, ts_us)")
    if new * 10 > planned:
        # Fresh statistics keep the report's range read on the index. An hourly batch adds
        # well under 10% and skips this (tens of ms on the full data); PostgreSQL's
        # autovacuum analyses by the same rule.
        execute(conn, "ANALYZE polls")
    return new


def _polls_planned(conn: Connection) -> float:
    """How many polls the query planner counts, as of the last ANALYZE (0 if none yet)."""
    if is_postgres(conn):
        return max(fetch_all(conn, "SELECT reltuples FROM pg_class WHERE oid = 'polls'::regclass")[0][0], 0)
    if not fetch_all(conn, "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"):
        return 0
    stats = fetch_all(conn, "SELECT stat FROM sqlite_stat1 WHERE tbl = 'polls'")
    return max((int(stat.split()[0]) for (stat,) in stats), default=0)
