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
from . import polls as stored_polls, version
from .bulk import execute, fetch_all, staged
from ..core import Progress
from ..core.localtime import is_known_timezone
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
        key_of, created = places()
        if on_progress:
            on_progress("writing to the database", 0.0)
        newest, first_polls = None, 0
        if polls is not None:
            key_of, more = _store_keys(conn, polls.stores.ids, key_of)
            created += more
            summary.new_polls, first_polls = stored_polls.add(conn, _db_keys(key_of, polls.stores, polls.store),
                                                              polls.ts_us, polls.active)
            newest = int(polls.ts_us.max()) if polls.ts_us.size else None
        # (a load that changes nothing still takes a new version; a store polled for the first
        # time, or earlier than before, is listed anew: the stores changed)
        version.bump(conn, newest, stores_changed=bool(created) or bool(first_polls) or timezones is not None
                     or hours is not None)
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
                  hours: sources.HoursBatch | None) -> tuple[dict[str, int], int]:
    """Create the stores the timezones and hours name, replace those; the stores' keys, and
    how many stores were new."""
    named = dict.fromkeys(timezones.store_ids if timezones else [])
    named.update(dict.fromkeys(hours.stores.ids if hours else []))
    key_of, created = _store_keys(conn, list(named))
    if timezones is not None:
        _replace_timezones(conn, key_of, timezones)
    if hours is not None:
        _replace_hours(conn, key_of, hours)
    return key_of, created


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


def _store_keys(conn: Connection, store_ids: list[str], known: dict[str, int] | None = None
                ) -> tuple[dict[str, int], int]:
    """Database keys of the named stores (and of those ``known``), creating the ones not seen
    before, numbered in store_id order; and how many were created."""
    key_of = dict(known) if known is not None else dict(fetch_all(conn, "SELECT store_id, id FROM stores"))
    new = sorted(s for s in store_ids if s not in key_of)
    if new:
        with staged(conn, "new_stores", [("store_id", "text", new)]):
            found = fetch_all(conn, "INSERT INTO stores (store_id) SELECT store_id FROM new_stores"
                                    " RETURNING store_id, id")
        key_of.update(found)
    return key_of, len(new)


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
