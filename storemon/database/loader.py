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

import numpy as np
from sqlalchemy import Connection, Engine

from .. import sources
from . import polls as stored_polls, version
from .bulk import copy_into, cursor, execute, fetch_all, staged
from ..core import Progress
from ..core.localtime import is_known_timezone
from .engines import WRITE_LOCK, is_postgres


@dataclass
class LoadSummary:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    new_polls: int = 0
    stores: int = 0  # distinct stores the sources name
    unknown_timezones: list[str] = field(default_factory=list)  # the first SHOWN_UNKNOWN_ZONES, in order
    unknown_timezone_count: int = 0
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


SHOWN_UNKNOWN_ZONES = 100  # unknown timezone names a summary lists (all are counted)


def load_sources(engine: Engine, named: dict[str, sources.Source], *, skip_bad: bool = False,
                 on_progress: Progress | None = None, keep_rejected: int = 1000,
                 local_files: bool = False) -> LoadSummary:
    """Read and check every source (keyed by sources.POLLS, HOURS or TIMEZONES), and write
    them in one transaction, under the loads' lock, as they are read: the timezones and hours
    a block of rows at a time into tables of the transaction's own, applied once whole; the
    polls a batch at a time (sources.read_polls), merged as it comes. Memory holds one block
    or batch, whatever the sources' size. Strict unless ``skip_bad``: a bad row raises
    SourceError, and the transaction rolls back, so nothing is written.

    ``local_files`` (a command's files, read at disk speed) parses the polls in parallel
    processes, ahead of this one, which writes, the database server working beside it."""
    started = time.perf_counter()
    summary = LoadSummary(files=[s.name for s in named.values()],
                          rejected_rows=sources.RejectedRows(keep=keep_rejected))
    options = {"strict": not skip_bad, "rejected": summary.rejected_rows, "on_progress": on_progress}
    with engine.begin() as conn, _gc_paused():
        if is_postgres(conn):
            execute(conn, "SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        # (SQLite: the transaction began with BEGIN IMMEDIATE, which already excludes other writers.)
        named_keys, created = [], 0
        if sources.TIMEZONES in named:
            keys, made, rows = _replace_timezones(conn, sources.read_timezones(named[sources.TIMEZONES], **options),
                                                  summary)
            named_keys.append(keys)
            created, summary.rows_read = created + made, summary.rows_read + rows
        if sources.HOURS in named:
            keys, made, rows = _replace_hours(conn, sources.read_hours(named[sources.HOURS], **options))
            named_keys.append(keys)
            created, summary.rows_read = created + made, summary.rows_read + rows
        newest, first_polls = None, 0
        if sources.POLLS in named:
            workers = (os.cpu_count() or 1) if local_files else 1
            for batch in sources.read_polls(named[sources.POLLS], workers=workers, **options):
                keys, made = _store_keys(conn, batch.stores.ids)
                new, first = stored_polls.add(conn, keys[batch.store], batch.ts_us, batch.active)
                named_keys.append(keys)
                created, summary.new_polls, first_polls = created + made, summary.new_polls + new, first_polls + first
                summary.rows_read += batch.rows_read
                if batch.ts_us.size:
                    newest = max(newest or 0, int(batch.ts_us.max()))
                named_keys = [_distinct(named_keys)]  # bounded by the stores, not by the polls
        # (a load that changes nothing still takes a new version; a store polled for the first
        # time, or earlier than before, is listed anew: the stores changed)
        version.bump(conn, newest, stores_changed=bool(created) or bool(first_polls)
                     or sources.TIMEZONES in named or sources.HOURS in named)
    summary.stores = int(_distinct(named_keys).size)
    summary.seconds = time.perf_counter() - started
    return summary


def _distinct(keys: list[np.ndarray]) -> np.ndarray:
    return np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)


def _replace_timezones(conn: Connection, batches, summary: LoadSummary) -> tuple[np.ndarray, int, int]:
    """Stage every row, then set each named store's timezone from its last row (creating the
    stores not seen before); the stores' keys, how many were created, the rows read. The
    names no zone has go into the summary (the first SHOWN_UNKNOWN_ZONES, in order)."""
    columns = [("line", "int8"), ("store_id", "text"), ("timezone", "text")]
    with _stage(conn, "timezone_stage", columns) as add:
        rows = 0
        for batch in batches:
            add(batch.line, batch.store_ids, batch.names)
            rows += batch.rows_read
        execute(conn, "CREATE INDEX timezone_stage_last ON timezone_stage (store_id, line)")
        created, keys = _create_new(conn, "timezone_stage"), _keys_named(conn, "timezone_stage")
        execute(conn, "UPDATE stores SET timezone = t.timezone FROM timezone_stage t"
                      " WHERE t.store_id = stores.store_id"
                      " AND t.line = (SELECT max(u.line) FROM timezone_stage u WHERE u.store_id = t.store_id)")
        with cursor(conn, "SELECT DISTINCT timezone FROM timezone_stage ORDER BY timezone", (), stream=True) as found:
            while names := found.fetchmany(1000):
                unknown = [n for (n,) in names if not is_known_timezone(n)]
                summary.unknown_timezones.extend(unknown[:SHOWN_UNKNOWN_ZONES - len(summary.unknown_timezones)])
                summary.unknown_timezone_count += len(unknown)
    return keys, created, rows


def _replace_hours(conn: Connection, batches) -> tuple[np.ndarray, int, int]:
    """Stage every row, then replace the hours of every store named (creating the stores not
    seen before); the stores' keys, how many were created, the rows read."""
    columns = [("store_id", "text"), ("day", "int2"), ("start_s", "int4"), ("end_s", "int4")]
    with _stage(conn, "hours_stage", columns) as add:
        rows = 0
        for batch in batches:
            add(batch.store_ids, batch.day, batch.start_s, batch.end_s)
            rows += batch.rows_read
        created, keys = _create_new(conn, "hours_stage"), _keys_named(conn, "hours_stage")
        execute(conn, "DELETE FROM business_hours WHERE store IN"
                      " (SELECT s.id FROM stores s WHERE s.store_id IN (SELECT store_id FROM hours_stage))")
        execute(conn, "INSERT INTO business_hours (store, day, start_s, end_s)"
                      " SELECT DISTINCT s.id, h.day, h.start_s, h.end_s FROM hours_stage h"
                      " JOIN stores s ON s.store_id = h.store_id")
    return keys, created, rows


@contextmanager
def _stage(conn: Connection, table: str, columns: list[tuple[str, str]]) -> Iterator[Callable]:
    """A temporary table, dropped afterwards; ``add(*values)`` appends rows, a column each."""
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} ({', '.join(f'{n} {t}' for n, t in columns)})")
    try:
        yield lambda *values: copy_into(conn, table, [(n, t, v) for (n, t), v in zip(columns, values)])
    finally:
        conn.exec_driver_sql(f"DROP TABLE {table}")


def _create_new(conn: Connection, stage: str) -> int:
    """Create the stores a staged table names that are not known yet, in store_id order; how many."""
    return max(0, execute(conn, f"INSERT INTO stores (store_id) SELECT DISTINCT h.store_id FROM {stage} h"
                                " WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = h.store_id)"
                                " ORDER BY h.store_id"))


def _keys_named(conn: Connection, stage: str) -> np.ndarray:
    """The keys of the stores a staged table names, read a thousand at a time."""
    parts = []
    with cursor(conn, f"SELECT s.id FROM stores s WHERE s.store_id IN (SELECT store_id FROM {stage})", (),
                stream=True) as found:
        while rows := found.fetchmany(1000):
            parts.append(np.array(rows, np.int64).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


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


def _store_keys(conn: Connection, store_ids: list[str]) -> tuple[np.ndarray, int]:
    """The database keys of these stores, in their order, creating those not seen before
    (numbered in store_id order); and how many were created."""
    if not store_ids:
        return np.zeros(0, np.int64), 0
    with staged(conn, "named_stores", [("position", "int4", np.arange(len(store_ids))),
                                      ("store_id", "text", store_ids)]):
        created = _create_new(conn, "named_stores")
        found = fetch_all(conn, "SELECT n.position, s.id FROM named_stores n JOIN stores s ON s.store_id = n.store_id")
    out = np.zeros(len(store_ids), np.int64)
    at = np.array(found, np.int64).reshape(-1, 2)
    out[at[:, 0]] = at[:, 1]
    return out, created
