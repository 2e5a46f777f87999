"""Loading sources (a directory's CSV files, or request bodies) into the database, all or nothing.

One transaction creates the new stores, replaces the names and groups, hours and timezones
of the stores the sources name and the special hours and holidays of the dates they name, and appends the
polls not stored yet; a bad row (strict mode) raises
before it commits, so nothing is written. Loads take a lock, so two never interleave.
"""

from __future__ import annotations

import gc
import os
import time
from datetime import date, datetime, UTC
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator

import numpy as np
from sqlalchemy import Connection, Engine, text

from .. import sources
from . import polls as stored_polls, version
from .bulk import binary_rows, staged, staged_batches
from ..core import Progress
from ..core.polls import US, day_of
from ..core.localtime import is_known_timezone, zone
from ..core.sessions import DATE_SPAN, normalise_ends, version_on, versions_on
from .engines import WRITE_LOCK, is_postgres
from .stores import UnknownStores


@dataclass
class LoadSummary:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    new_polls: int = 0
    stores: int = 0  # distinct stores the sources name
    unknown_timezones: list[str] = field(default_factory=list)  # the first SHOWN_UNKNOWN_ZONES, in order
    unknown_timezone_count: int = 0
    new_stores: int = 0  # stores the load created
    new_store_ids: list[str] = field(default_factory=list)  # the first SHOWN_NEW_STORES of them, in order
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


LOCAL_BATCH_POLLS = 4_000_000  # polls a batch of a command's files holds (sources.BATCH_POLLS: a request body's)
SHOWN_UNKNOWN_ZONES = 100  # unknown timezone names a summary lists (all are counted)
SHOWN_NEW_STORES = 100  # ids of stores a load created that a summary lists (all are counted)


def load_sources(engine: Engine, named: dict[str, sources.Source], *, skip_bad: bool = False,
                 on_progress: Progress | None = None, keep_rejected: int = 1000,
                 local_files: bool = False, create: bool = True, effective_date: int | None = None) -> LoadSummary:
    """Read and check every source (keyed by sources.POLLS, HOURS, TIMEZONES, SPECIAL_HOURS,
    HOLIDAYS or STORE_DIRECTORY), and write
    them in one transaction, under the loads' lock, as they are read: the hours a block of
    rows at a time into a table of the transaction's own, applied once whole; the polls a
    batch at a time (sources.read_polls), merged as they come. Memory holds a block or a
    batch, and what is kept per store (their keys, each one's timezone), whatever the
    sources' size. Strict unless ``skip_bad``: a bad row raises SourceError, and the
    transaction rolls back, so nothing is written.

    ``effective_date`` (a local date, days since 1970-01-01) dates the hours' and zones' rows that name none.
    ``local_files`` (a command's files, read at disk speed) parses the polls in parallel
    processes, ahead of this one, which writes, the database server working beside it.
    ``create`` off: a source naming a store that does not exist raises UnknownStores."""
    started = time.perf_counter()
    summary = LoadSummary(files=[s.name for s in named.values()],
                          rejected_rows=sources.RejectedRows(keep=keep_rejected))
    options = {"strict": not skip_bad, "rejected": summary.rejected_rows, "on_progress": on_progress}
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": WRITE_LOCK})
        # (SQLite: the transaction began with BEGIN IMMEDIATE, which already excludes other writers.)
        clock_before = version.current(conn).newest_poll_us
        with _gc_paused():
            newest, first_polls, store_keys = _write(conn, named, options, local_files, summary, create,
                                                     effective_date)
        # (a load that changes nothing still takes a new version; a store polled for the first
        # time, or earlier than before, is listed anew: the stores changed)
        version.bump(conn, newest, stores_changed=bool(store_keys.created) or bool(first_polls)
                     or any(kind in named for kind in (sources.TIMEZONES, sources.HOURS, sources.SPECIAL_HOURS,
                                                       sources.HOLIDAYS)))
    if newest is not None and (clock_before is None or day_of(newest) > day_of(clock_before)):
        stored_polls.analyze_new_day(engine)
    summary.stores = int(store_keys.named.size)
    summary.new_stores, summary.new_store_ids = store_keys.created, store_keys.created_ids
    summary.seconds = time.perf_counter() - started
    return summary


def _write(conn: Connection, named: dict[str, sources.Source], options: dict, local_files: bool,
           summary: LoadSummary, create: bool, effective_date: int | None) -> tuple[int | None, int, _StoreKeys]:
    """Each source read and written in turn; the newest poll, how many stores have a first
    poll earlier than before, and the stores named."""
    store_keys = _StoreKeys(conn, create)
    if sources.STORE_DIRECTORY in named:
        _replace_store_directory(conn, store_keys, sources.read_store_directory(named[sources.STORE_DIRECTORY],
                                                                                **options), summary)
    # the data's clock: the newest poll stored (None before any); dates given run to two years
    # past it (the wall clock's while there is none)
    clock_us = version.current(conn).newest_poll_us
    latest_date = int(day_of(clock_us if clock_us is not None else int(time.time() * US))) + sources.DATES_AHEAD
    if effective_date is not None and not sources.EARLIEST_DATE <= effective_date <= latest_date:
        raise sources.SourceError("effective_date is out of range (1971-01-01 to two years past the newest poll)")
    if sources.TIMEZONES in named:
        _replace_timezones(conn, store_keys, sources.read_timezones(named[sources.TIMEZONES], latest_date=latest_date,
                                                                    **options), summary, effective_date, clock_us)
    if sources.HOURS in named:
        _replace_hours(conn, store_keys, sources.read_hours(named[sources.HOURS], latest_date=latest_date, **options),
                       summary, effective_date, clock_us)
    if sources.SPECIAL_HOURS in named:
        _replace_dated(conn, "special_hours", store_keys, sources.read_special_hours(
            named[sources.SPECIAL_HOURS], latest_date=latest_date, **options), summary)
    if sources.HOLIDAYS in named:
        _replace_dated(conn, "holidays", None, sources.read_holidays(
            named[sources.HOLIDAYS], latest_date=latest_date, **options), summary)
    newest, first_polls = None, 0
    if sources.POLLS in named:
        # A command's files: every core parses, and batches are larger, so a first load of the
        # full scale is one batch whose rows are each written once (a request body: one core,
        # and the smaller batches that bound a web process's memory).
        workers, batch_polls = ((os.cpu_count() or 1), LOCAL_BATCH_POLLS) if local_files else (1, None)
        newest, first_polls = _add_polls(conn, store_keys, sources.read_polls(
            named[sources.POLLS], workers=workers, batch_polls=batch_polls, **options), summary)
    return newest, first_polls, store_keys


def _replace_timezones(conn: Connection, store_keys: _StoreKeys, batches, summary: LoadSummary,
                       effective_date: int | None, clock_us: int | None) -> None:
    """Store each version of a store's timezone the rows give (a store named twice for one
    date: its last row), creating the stores not seen before. A row without a date (and none
    given for the load) takes effect on the data's clock's local date in the store's zone then
    (``_change_dates``), or, for a store without one yet, is its first version (0); a zone equal
    to the one in force on its date is no change. ``stores.timezone`` is the newest version's. The names no zone has
    go into the summary (the first SHOWN_UNKNOWN_ZONES, in order, and how many)."""
    given: dict[tuple[int, int], str] = {}
    names: dict[str, str] = {}  # each distinct name held once
    for batch in batches:
        keys = store_keys(batch.store_ids)
        dates = [effective_date if e == sources.NO_DATE and effective_date is not None else e for e in batch.effective]
        given.update(zip(zip(keys.tolist(), dates), (names.setdefault(n, n) for n in batch.names)))
        summary.rows_read += batch.rows_read
    history = {store: versions for store, versions in _zone_versions(conn, {store for store, _ in given}).items()
               if versions}
    today = _change_dates(history, clock_us)
    changed: dict[tuple[int, int], str] = {}
    for (store, effective), name in given.items():
        if effective == sources.NO_DATE:
            effective = today.get(store, 0)  # (a store without a zone yet: its first version)
        if (mine := history.get(store)) and _in_force(mine, effective) == name:
            continue  # (the zone in force then, sent again)
        changed[(store, effective)] = name
    if changed:
        with staged(conn, "timezone_stage", [("store", "int4", [key[0] for key in changed]),
                                             ("effective_date", "int4", [key[1] for key in changed]),
                                             ("timezone", "text", list(changed.values()))]):
            conn.execute(text("DELETE FROM timezone_history WHERE EXISTS (SELECT 1 FROM timezone_stage v"
                              " WHERE v.store = timezone_history.store"
                              " AND v.effective_date = timezone_history.effective_date)"))
            conn.execute(text("INSERT INTO timezone_history (store, effective_date, timezone)"
                              " SELECT store, effective_date, timezone FROM timezone_stage"))
            conn.execute(text("UPDATE stores SET timezone = z.timezone FROM timezone_history z"
                              " WHERE z.store = stores.id AND stores.id IN (SELECT store FROM timezone_stage)"
                              " AND z.effective_date = (SELECT max(effective_date) FROM timezone_history y"
                              " WHERE y.store = stores.id)"))
    unknown = sorted(n for n in set(given.values()) if not is_known_timezone(n))
    summary.unknown_timezones, summary.unknown_timezone_count = unknown[:SHOWN_UNKNOWN_ZONES], len(unknown)


def _zone_versions(conn: Connection, stores) -> dict[int, dict[int, str | None]]:
    """Each of these stores' zone versions by effective date (none: an empty dict)."""
    found: dict[int, dict[int, str | None]] = {store: {} for store in stores}
    with staged(conn, "zone_stores", [("store", "int4", sorted(found))]) as table:
        for store, effective, name in conn.execute(text("SELECT store, effective_date, timezone FROM timezone_history"
                                                        f" WHERE store IN (SELECT store FROM {table})")):
            found[store][effective] = name
    return found


def _change_dates(zones: dict[int, dict[int, str | None]], clock_us: int | None) -> dict[int, int]:
    """The date an undated change of these stores takes effect: the data's clock's local date in
    each store's zone in force then (its versions by effective date; on the clock's UTC date),
    or 0, its first version, before any poll is stored."""
    if clock_us is None:
        return {store: 0 for store in zones}
    moment = datetime.fromtimestamp(clock_us / US, UTC)
    utc_day = int(day_of(clock_us))
    found, by_zone = {}, {}
    for store, versions in zones.items():
        name = _in_force(versions, utc_day) if versions else None
        if name not in by_zone:
            by_zone[name] = (moment.astimezone(zone(name)).date() - date(1970, 1, 1)).days
        found[store] = by_zone[name]
    return found


def _in_force(versions: dict[int, object], day: int):
    """Of versions by effective date, the one in force on a local date."""
    dates = sorted(versions)
    return versions[dates[version_on(dates, day)]]


def _replace_hours(conn: Connection, store_keys: _StoreKeys, batches, summary: LoadSummary,
                   effective_date: int | None, clock_us: int | None) -> None:
    """Stage every row, then store each version of a store's weekly hours the rows give (creating
    the stores not seen before): a version is a store's rows of one effective date, and
    replaces the one stored under that date. A store's rows without a date (and none given
    for the load) take effect on the data's clock's local date in the store's zone, or, for a
    store without hours yet, are its first version (0: since the start). A version equal to
    the one already in force on its date is no change, and is not stored."""
    columns = [("store", "int4"), ("effective_date", "int4"), ("day", "int2"), ("start_s", "int4"), ("end_s", "int4")]

    def rows():
        for batch in batches:
            effective = batch.effective if effective_date is None else \
                np.where(batch.effective == sources.NO_DATE, effective_date, batch.effective)
            summary.rows_read += batch.rows_read
            yield store_keys(batch.store_ids), effective, batch.day, batch.start_s, batch.end_s

    with staged_batches(conn, "hours_stage", columns, rows()):
        _date_undated_hours(conn, clock_us)
        keys = "store, effective_date, day, start_s, end_s"
        versions = _changed_versions(conn)
        if versions is None:  # (no store named has hours yet: every version is new)
            conn.execute(text(f"INSERT INTO business_hours ({keys}) SELECT DISTINCT {keys} FROM hours_stage"))
            return
        with staged(conn, "hours_versions", [("store", "int4", [v[0] for v in versions]),
                                             ("effective_date", "int4", [v[1] for v in versions])]):
            same = "v.store = {0}.store AND v.effective_date = {0}.effective_date"
            conn.execute(text("DELETE FROM business_hours WHERE EXISTS (SELECT 1 FROM hours_versions v"
                              f" WHERE {same.format('business_hours')})"))
            conn.execute(text(f"INSERT INTO business_hours ({keys}) SELECT DISTINCT {keys} FROM hours_stage"
                              f" WHERE EXISTS (SELECT 1 FROM hours_versions v WHERE {same.format('hours_stage')})"))


def _date_undated_hours(conn: Connection, clock_us: int | None) -> None:
    """Give the staged rows without an effective date theirs (``_change_dates`` for a store with
    hours already; 0, its first version, otherwise)."""
    undated = conn.execute(text("SELECT DISTINCT h.store FROM hours_stage h WHERE h.effective_date = :no_date"
                                " AND EXISTS (SELECT 1 FROM business_hours b WHERE b.store = h.store)"),
                           {"no_date": sources.NO_DATE}).scalars().all()
    if undated:
        dates = _change_dates(_zone_versions(conn, undated), clock_us)
        with staged(conn, "hours_dates", [("store", "int4", list(dates)), ("effective_date", "int4", list(dates.values()))]):
            conn.execute(text("UPDATE hours_stage SET effective_date = d.effective_date FROM hours_dates d"
                              " WHERE hours_stage.store = d.store AND hours_stage.effective_date = :no_date"),
                         {"no_date": sources.NO_DATE})
    conn.execute(text("UPDATE hours_stage SET effective_date = 0 WHERE effective_date = :no_date"),
                 {"no_date": sources.NO_DATE})


_VERSION_ROW = np.dtype([("store", ">i4"), ("effective", ">i4"), ("day", ">i2"), ("start", ">i4"), ("end", ">i4")])


def _version_rows(conn: Connection, source: str) -> np.ndarray:
    """The (store, effective date, day, start s, end s) rows of ``source`` (a table and its
    condition), as one array (PostgreSQL: packed in one value, not a row object a row)."""
    if is_postgres(conn):
        packed = binary_rows(conn, "SELECT string_agg(int4send(store) || int4send(effective_date) || int2send(day)"
                                   f" || int4send(start_s) || int4send(end_s), ''::bytea) FROM {source}")[0][0]
        rows = np.frombuffer(packed or b"", _VERSION_ROW)
        return np.stack([rows[name].astype(np.int64) for name in _VERSION_ROW.names], axis=1).reshape(-1, 5)
    found = conn.execute(text(f"SELECT store, effective_date, day, start_s, end_s FROM {source}")).all()
    return np.array([tuple(r) for r in found], np.int64).reshape(-1, 5)


def _versions(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of versions as (each version's key, store * DATE_SPAN + effective date, in order; where its
    rows start among ``values``; each row's value, a packed (day, start, normalised end), sorted
    and distinct within its version): two versions are the same hours when their values are."""
    key = rows[:, 0] * DATE_SPAN + rows[:, 1]
    value = rows[:, 2] << 40 | rows[:, 3] << 20 | normalise_ends(rows[:, 3], rows[:, 4])
    order = np.lexsort((value, key))
    key, value = key[order], value[order]
    distinct = np.ones(key.size, bool)
    distinct[1:] = (key[1:] != key[:-1]) | (value[1:] != value[:-1])
    key, value = key[distinct], value[distinct]
    starts = np.flatnonzero(np.append(True, key[1:] != key[:-1])) if key.size else np.zeros(0, np.int64)
    return key[starts], starts, value


def _changed_versions(conn: Connection) -> list[tuple[int, int]] | None:
    """The staged versions, (store, effective date), that differ from the version stored in force
    on their date (the newest on or before it, else the first), times compared as they count
    (``10:00-23:59`` is ``10:00-24:00``); None when no store staged has hours yet. In NumPy:
    memory in proportion to the rows, a few machine words each."""
    old_key, old_start, old_value = _versions(_version_rows(
        conn, "business_hours WHERE store IN (SELECT store FROM hours_stage)"))
    if not old_key.size:
        return None
    new_key, new_start, new_value = _versions(_version_rows(conn, "hours_stage"))
    old_count = np.diff(np.append(old_start, old_value.size))
    new_count = np.diff(np.append(new_start, new_value.size))
    at, stored = versions_on(old_key, new_key // DATE_SPAN, new_key % DATE_SPAN)
    same = stored & (old_count[at] == new_count)
    # (for the versions of equal size, every value compared with its counterpart)
    candidates = np.flatnonzero(same)
    sizes = new_count[candidates]
    offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    equal = new_value[np.repeat(new_start[candidates], sizes) + offsets] == \
        old_value[np.repeat(old_start[at[candidates]], sizes) + offsets]
    mismatched = np.add.reduceat(~equal, np.cumsum(sizes) - sizes) if sizes.size else np.zeros(0, np.int64)
    same[candidates] = mismatched == 0
    changed = new_key[~same]
    return list(zip((changed // DATE_SPAN).tolist(), (changed % DATE_SPAN).tolist()))


def _replace_store_directory(conn: Connection, store_keys: _StoreKeys, batches, summary: LoadSummary) -> None:
    """Replace the name and the group labels of every store the directory names (creating the
    stores not seen before): one staged row a label (a store without labels: one, label '')."""
    def rows():
        for batch in batches:
            summary.rows_read += batch.rows_read
            keys = store_keys(batch.store_ids).tolist()
            each = [(key, name, label) for key, name, labels in zip(keys, batch.names, batch.groups)
                    for label in (labels or [""])]
            yield [[r[0] for r in each], [r[1] for r in each], [r[2] for r in each]]

    with staged_batches(conn, "directory_stage", [("store", "int4"), ("name", "text"), ("label", "text")],
                        rows()) as stage:
        conn.execute(text(f"UPDATE stores SET name = (SELECT nullif(min(d.name), '') FROM {stage} d"
                          f" WHERE d.store = stores.id) WHERE id IN (SELECT store FROM {stage})"))
        conn.execute(text(f"DELETE FROM store_groups WHERE store IN (SELECT store FROM {stage})"))
        conn.execute(text(f"INSERT INTO store_groups (store, label) SELECT DISTINCT store, label FROM {stage}"
                          " WHERE label <> ''"))


def _replace_dated(conn: Connection, table: str, store_keys: _StoreKeys | None, batches, summary: LoadSummary
                   ) -> None:
    """Replace the rows of every date named: of each (store, date) for special hours (creating
    the stores not seen before), of each date for holidays (``store_keys`` None)."""
    by_store = store_keys is not None
    key = ("store", "date") if by_store else ("date",)
    times = [("date", "int4"), ("start_s", "int4"), ("end_s", "int4")]
    columns = [("store", "int4"), *times] if by_store else [*times, ("name", "text")]

    def rows():
        for batch in batches:
            dated = [batch.date, batch.start_s, batch.end_s]
            summary.rows_read += batch.rows_read
            yield [store_keys(batch.store_ids), *dated] if by_store else [*dated, batch.names]

    with staged_batches(conn, f"{table}_stage", columns, rows()) as stage:
        same = " AND ".join(f"s.{k} = {table}.{k}" for k in key)
        conn.execute(text(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {stage} s WHERE {same})"))
        keys = ", ".join((*key, "start_s", "end_s"))
        if by_store:
            conn.execute(text(f"INSERT INTO {table} ({keys}) SELECT DISTINCT {keys} FROM {stage}"))
        else:  # (an interval named twice keeps one name)
            conn.execute(text(f"INSERT INTO {table} ({keys}, name) SELECT {keys}, min(name) FROM {stage}"
                              f" GROUP BY {keys}"))


def _add_polls(conn: Connection, store_keys: _StoreKeys, batches, summary: LoadSummary) -> tuple[int | None, int]:
    """Merge each batch of polls into the stored ones as it comes; the newest poll, and how
    many stores have a first poll earlier than before. The summary counts rows read and new
    polls."""
    newest, first_polls, written = None, 0, 0
    with stored_polls.filled_whole(conn) as first_load:
        for batch in batches:
            new, first = stored_polls.add(conn, store_keys(batch.stores.ids)[batch.store], batch.ts_us, batch.active)
            first_polls += first
            summary.new_polls, summary.rows_read = summary.new_polls + new, summary.rows_read + batch.rows_read
            written += batch.ts_us.size > 0
            if batch.ts_us.size:
                newest = max(newest or 0, int(batch.ts_us.max()))
        if first_load and written > 1:
            stored_polls.compact(conn)
    return newest, first_polls


class _StoreKeys:
    """The database keys of stores by id, for one load: every store known when it starts is
    read once, those not among them looked up, and created, a batch at a time (memory in
    proportion to the stores, whatever the sources). Keeps the keys of every store the load
    names, how many it created and the ids of the first SHOWN_NEW_STORES. With ``create``
    off, a store not known is refused (UnknownStores) instead."""

    def __init__(self, conn: Connection, create: bool = True):
        self.conn, self.create, self.created, self.created_ids = conn, create, 0, []
        self.known = dict(conn.execute(text("SELECT store_id, id FROM stores")).all())
        self.named = np.zeros(0, np.int64)

    def __call__(self, store_ids: list[str]) -> np.ndarray:
        """These stores' keys, in their order, creating those never seen (numbered in store_id order)."""
        known = self.known
        others = [s for s in dict.fromkeys(store_ids) if s not in known]
        if others and not self.create:
            raise UnknownStores(others)
        if others:
            known.update(self._others(others))
            self.created_ids += others[:SHOWN_NEW_STORES - len(self.created_ids)]
        keys = np.fromiter(map(known.__getitem__, store_ids), np.int64, len(store_ids))
        self.named = np.union1d(self.named, keys)
        return keys

    def _others(self, store_ids: list[str]) -> dict[str, int]:
        with staged(self.conn, "named_stores", [("store_id", "text", store_ids)], analyze=False):
            self.created += max(0, self.conn.execute(text(
                "INSERT INTO stores (store_id) SELECT n.store_id FROM named_stores n"
                " WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = n.store_id) ORDER BY n.store_id")).rowcount)
            return dict(self.conn.execute(text("SELECT s.store_id, s.id FROM stores s"
                                               " WHERE s.store_id IN (SELECT store_id FROM named_stores)")).all())


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
