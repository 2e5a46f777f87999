"""The sources' schemas: their columns, the checks on every row, and the arrays they become.

Pure: no database here. Each reader takes a source (storemon.sources.text) and yields its
rows as batches of arrays, a block (or, for polls, a batch of blocks) at a time, counting
the rejected rows; in strict mode the first bad rows raise SourceError naming the source,
the line number (or array index) and the problem.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections import deque
from collections.abc import Callable, Container, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..core import Progress
from ..core.sessions import CLOSED
from ..timeparse import AS_OF_MIN_US, US_PER_S, format_instant, parse_timestamps
from .text import (BLOCK_CHARS, OPTIONAL, BadLine, CsvSource, Rejected, RejectedRows, Source, SourceError, as_source,
                   shown, split_lines)

POLLS, HOURS, TIMEZONES = "store_status", "menu_hours", "timezones"
SPECIAL_HOURS, HOLIDAYS, STORE_DIRECTORY = "special_hours", "holidays", "stores"
SOURCE_NAMES = (STORE_DIRECTORY, TIMEZONES, HOURS, SPECIAL_HOURS, HOLIDAYS, POLLS)  # (the order a load writes them in)
LAST_DATE = 2932896  # 9999-12-31, the last date Python's dates hold (days since 1970-01-01)


def find_sources(directory: Path) -> dict[str, Path]:
    """The source files present in a directory, plain ``.csv`` or ``.csv.gz``."""
    if not directory.is_dir():
        raise SourceError(f"{directory}: not a directory")
    found = {}
    for name in SOURCE_NAMES:
        candidates = [p for p in (directory / f"{name}.csv", directory / f"{name}.csv.gz") if p.is_file()]
        if len(candidates) > 1:
            raise SourceError(f"{directory}: both {name}.csv and {name}.csv.gz are present; keep one")
        if candidates:
            found[name] = candidates[0]
    if not found:
        raise SourceError(f"{directory}: none of store_status.csv, menu_hours.csv, timezones.csv, special_hours.csv, "
                          "holidays.csv, stores.csv (or .csv.gz) is there")
    return found


@dataclass
class StoreKeys:
    """Store ids (opaque strings) in first-seen order, and each row's index into them."""

    ids: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    @property
    def known(self) -> dict[str, int]:
        """The ids seen so far (a mapping, for fast membership tests)."""
        return self._index

    def keys(self, store_ids: list[str]) -> np.ndarray:
        index = self._index
        # New ids are found among the distinct ones (fast, in C), then every row is a dict lookup.
        new = [s for s in dict.fromkeys(store_ids) if s not in index]
        index.update(zip(new, range(len(index), len(index) + len(new))))
        self.ids.extend(new)
        return np.array(list(map(index.__getitem__, store_ids)), np.int64)


@dataclass
class PollBatch:
    """Some of a source's polls: their store ids, and per poll its store (an index into them),
    instant and status."""

    stores: StoreKeys
    store: np.ndarray  # int64 index into stores.ids
    ts_us: np.ndarray  # int64 epoch microseconds
    active: np.ndarray  # bool
    rows_read: int = 0


@dataclass
class HoursBatch:
    """Some of a source's business hours, a row each: its store id, day and local times."""

    store_ids: list[str]
    day: np.ndarray  # 0 = Monday
    start_s: np.ndarray  # local seconds after midnight
    end_s: np.ndarray
    effective: np.ndarray  # the local date the row's version takes effect (days from 1970-01-01), or NO_DATE
    rows_read: int = 0


NO_DATE = -1  # an effective date not given: the loader decides (storemon/database/loader.py)


@dataclass
class DatedBatch:
    """Some of a source's special hours or holidays, a row each: its store id (special hours),
    local date, local times (both CLOSED for a closed date) and name (holidays)."""

    store_ids: list[str]  # (holidays: none)
    date: np.ndarray  # days from 1970-01-01
    start_s: np.ndarray  # local seconds after midnight, as written
    end_s: np.ndarray
    names: list[str]  # (special hours: none)
    rows_read: int = 0


@dataclass
class TimezoneBatch:
    """Some of a source's timezones, a row each (a store named twice for one date: its later row counts)."""

    store_ids: list[str]
    names: list[str]
    effective: list[int]  # the local date each row's zone takes effect (days from 1970-01-01), or NO_DATE
    rows_read: int = 0


@dataclass
class StoreDirectoryBatch:
    """Some of a store directory's rows, a store each: its id, display name ("" for none) and
    group labels (``key:value``, each store's sorted and distinct)."""

    store_ids: list[str]
    names: list[str]
    groups: list[list[str]]
    rows_read: int = 0


STRICT_SHOWN = 20  # bad rows a strict load names before it stops


class _Rejections:
    """Collects a chunk's bad rows, then, in row order, either stops the load with the first
    ones (strict) or hands them to ``sink`` and goes on."""

    def __init__(self, source: Source, strict: bool, sink: RejectedRows | None):
        self.name, self.unit, self.strict = source.name, source.unit, strict
        self.sink = sink if sink is not None else RejectedRows()
        self._chunk: list[Rejected] = []

    def add(self, line: int, problem: str) -> None:
        self._chunk.append(Rejected(self.name, line, problem, self.unit))

    def end_chunk(self) -> None:
        if not self._chunk:
            return
        found, self._chunk = sorted(self._chunk, key=lambda r: r.line), []
        if self.strict:
            raise SourceError(str(found[0]), found[:STRICT_SHOWN])
        self.sink.extend(found)

    def check_shape(self, first_line: int, rows: list[list[str]], width: int) -> list[int]:
        """Indices of rows with the header's field count (see ``_shaped``)."""
        problems: list[tuple[int, str]] = []
        good = _shaped(first_line, rows, width, problems)
        for line, problem in problems:
            self.add(line, problem)
        return good

    def usable(self, first_line: int, rows: list[list[str]], good: list[int], columns: dict[str, int],
               optional: tuple[str, ...] = ()) -> list[int]:
        """Indices of the rows with every required field and an acceptable store id."""
        kept = []
        for i in good:
            row = rows[i]
            empty = [name for name, c in columns.items() if name not in optional and not row[c].strip()]
            problem = f"missing {empty[0]}" if empty else \
                store_id_problem(row[columns["store_id"]].strip()) if "store_id" in columns else None
            if problem:
                self.add(first_line + i, problem)
            else:
                kept.append(i)
        return kept


def _shaped(first_line: int, rows: list[list[str]], width: int, problems: list[tuple[int, str]]) -> list[int]:
    """Indices of rows with the header's field count; blank lines (nothing but spaces or tabs)
    are passed over, a line of other invisible characters is not: it is one of ``problems``."""
    good = []
    for i, row in enumerate(rows):
        if isinstance(row, BadLine):
            problems.append((first_line + i, row.problem))
        elif len(row) == width:
            good.append(i)
        elif any(f.strip(" \t") for f in row):
            problems.append((first_line + i, f"expected {width} fields, found {len(row)}"))
    return good


MAX_ID_CHARS = 255
# A leading = + - @ makes a spreadsheet read the cell as a formula (CSV injection);
# control characters (C0, DEL, C1) have no place in an id and NUL cannot be stored.
_FORMULA_START = ("=", "+", "-", "@")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # never in a stored id or zone name


def store_id_problem(store_id: str) -> str | None:
    """Why a (trimmed, non-empty) store id is refused, or None."""
    if len(store_id) > MAX_ID_CHARS:
        return f"store_id is longer than {MAX_ID_CHARS} characters ({len(store_id)})"
    if CONTROL_CHARACTER.search(store_id):
        return f"store_id {shown(store_id)} holds a control character"
    if store_id.startswith(_FORMULA_START):
        return f"store_id {shown(store_id)} begins with {store_id[0]!r}, which spreadsheets read as a formula"
    return None


BATCH_POLLS = 500_000  # polls a batch holds at most (and one block's more): memory for one batch, whatever the source


def read_polls(source: Source | Path, *, strict: bool = True, rejected: RejectedRows | None = None,
               on_progress: Progress | None = None, now_us: int | None = None, workers: int = 1,
               batch_polls: int | None = None) -> Iterator[PollBatch]:
    """Polls, each checked, in batches of about ``batch_polls`` (BATCH_POLLS); a poll must lie between 1971
    (as a report's as_of may) and a day after ``now_us`` (default: the wall clock), since a
    poll from the future is bad input. A bad row (strict) raises when its block is read, so
    a caller that stores batches as they come must undo them (loads do: one transaction).

    With ``workers`` > 1, a large CSV file's blocks are split and checked in that many
    processes (forked), in order, while this one reads ahead: the same result, sooner."""
    source = as_source(source)
    rejections = _Rejections(source, strict, rejected)
    latest_us = (now_us if now_us is not None else int(time.time() * US_PER_S)) + 86400 * US_PER_S
    stores = StoreKeys()
    parts_store, parts_ts, parts_active = [], [], []
    rows_read = held = 0
    yielded, batch_polls = False, batch_polls or BATCH_POLLS
    for block in _poll_blocks(source, partial(_poll_block, earliest_us=AS_OF_MIN_US, latest_us=latest_us),
                              stores.known, on_progress, workers):
        rows_read += block.rows_read
        for line, problem in block.problems:
            rejections.add(line, problem)
        rejections.end_chunk()
        parts_store.append(stores.keys(block.ids)[block.index])
        parts_ts.append(block.ts_us)
        parts_active.append(block.active)
        held += block.ts_us.size
        if held >= batch_polls:
            yield PollBatch(stores, _concat(parts_store, np.int64), _concat(parts_ts, np.int64),
                            _concat(parts_active, bool), rows_read)
            stores, parts_store, parts_ts, parts_active, rows_read, held = StoreKeys(), [], [], [], 0, 0
            yielded = True
    if held or rows_read or not yielded:
        yield PollBatch(stores, _concat(parts_store, np.int64), _concat(parts_ts, np.int64),
                        _concat(parts_active, bool), rows_read)


_POLL_COLUMNS = {"store_id": ("store_id",), "status": ("status",), "timestamp_utc": ("timestamp_utc",)}
PARALLEL_FROM_BLOCKS = 4  # a file smaller than this many blocks is read in this process alone


def _poll_blocks(source: Source, check: Callable, known: Container[str], on_progress: Progress | None,
                 workers: int) -> Iterator[_PollBlock]:
    """Each block of the source, checked, in order."""
    size = source.size if isinstance(source, CsvSource) else 0
    if workers <= 1 or size < PARALLEL_FROM_BLOCKS * BLOCK_CHARS:
        for first_line, columns, width, rows in source.chunks(_POLL_COLUMNS, on_progress):
            yield check(first_line, columns, width, rows, accepted=known)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        pending: deque[Future] = deque()
        for first_line, columns, width, text in source.chunks(_POLL_COLUMNS, on_progress, split=False):
            pending.append(pool.submit(check, first_line, columns, width, text))
            if len(pending) > 2 * workers:  # read ahead, but only so far: memory stays bounded
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # also when a bad block stops the load: the blocks still queued are dropped
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _PollBlock:
    """A block's good rows: their distinct store ids (first seen first), each row's position
    among them, instants and statuses; and the bad rows' (line, problem)."""

    ids: list[str]
    index: np.ndarray
    ts_us: np.ndarray
    active: np.ndarray
    problems: list[tuple[int, str]]
    rows_read: int


def _poll_block(first_line: int, columns: dict[str, int], width: int, rows: list[list[str]] | str, *,
                earliest_us: int, latest_us: int, accepted: Container[str] = ()) -> _PollBlock:
    """Check one block of polls (its rows, or its text, split here). ``accepted`` holds ids
    already found good, which need no second look."""
    if isinstance(rows, str):
        rows = split_lines(rows)
    rows_read = len(rows)
    problems: list[tuple[int, str]] = []
    c_id, c_status, c_ts = columns["store_id"], columns["status"], columns["timestamp_utc"]
    # The hot path takes whole columns; per-row Python runs only where a row is odd.
    line_of = range(first_line, first_line + len(rows))
    if set(map(len, rows)) != {width}:
        good = _shaped(first_line, rows, width, problems)
        rows, line_of = [rows[i] for i in good], [first_line + i for i in good]
    ids = [row[c_id] for row in rows]
    statuses = np.array([row[c_status] for row in rows])
    stamps = [row[c_ts] for row in rows]
    active = statuses == "active"
    known = active | (statuses == "inactive")
    if not known.all():  # tolerate case and spaces before calling a status bad
        cleaned = np.char.lower(np.char.strip(statuses))
        active, known = cleaned == "active", (cleaned == "active") | (cleaned == "inactive")
    ts_us, ts_ok = parse_timestamps(stamps)
    in_range = (ts_us >= earliest_us) & (ts_us <= latest_us)
    distinct = dict.fromkeys(ids)
    if any(s != s.strip() or not s for s in distinct):
        ids = [s.strip() for s in ids]
        distinct = dict.fromkeys(ids)
    has_id = np.array([bool(s) for s in ids]) if "" in distinct else np.ones(len(ids), bool)
    # Only ids not accepted in an earlier block need checking (a few of the ~14K a block names).
    bad_ids = {s: problem for s in distinct if s and s not in accepted and (problem := store_id_problem(s))}
    good_id = np.array([s not in bad_ids for s in ids]) if bad_ids else has_id
    ok = has_id & good_id & known & ts_ok & in_range
    for j in np.flatnonzero(~ok).tolist():
        row = rows[j]
        if not has_id[j]:
            problem = "missing store_id"
        elif not good_id[j]:
            problem = bad_ids[ids[j]]
        elif not row[c_status].strip():
            problem = "missing status"
        elif not known[j]:
            problem = f"bad status {shown(row[c_status])} (expected active or inactive)"
        elif not row[c_ts].strip():
            problem = "missing timestamp_utc"
        elif not ts_ok[j]:
            problem = f"bad timestamp {shown(row[c_ts])}"
        elif ts_us[j] < earliest_us:
            problem = f"timestamp {shown(row[c_ts])} is before {format_instant(earliest_us)}"
        else:
            problem = f"timestamp {shown(row[c_ts])} is in the future (later than a day from now)"
        problems.append((line_of[j], problem))
    kept = np.flatnonzero(ok)
    if kept.size < len(ids):
        ids = [ids[j] for j in kept.tolist()]
        distinct = dict.fromkeys(ids)
    positions = {s: i for i, s in enumerate(distinct)}
    return _PollBlock(list(positions), np.fromiter(map(positions.__getitem__, ids), np.int64, len(ids)),
                      ts_us[kept], active[kept], problems, rows_read)


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?")


def parse_local_time(text: str) -> int:
    """``HH:MM[:SS]`` as seconds after midnight; ``24:00`` is allowed as an end of day."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise ValueError(f"bad time {shown(text)} (expected HH:MM or HH:MM:SS)")
    h, m, s = int(match[1]), int(match[2]), int(match[3] or 0)
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise ValueError(f"bad time {shown(text)} (out of range)")
    return h * 3600 + m * 60 + s


def read_hours(source: Source | Path, *, strict: bool = True, rejected: RejectedRows | None = None,
               on_progress: Progress | None = None, latest_date: int = LAST_DATE) -> Iterator[HoursBatch]:
    """Business hours, each row checked, a block of the source at a time; an optional last
    column ``effective_date`` dates the version a row belongs to (1971 to ``latest_date``)."""
    source = as_source(source)
    rejections = _Rejections(source, strict, rejected)
    expected = {"store_id": ("store_id",), "day": ("day", "dayOfWeek"),
                "start_time_local": ("start_time_local",), "end_time_local": ("end_time_local",),
                "effective_date": ("effective_date", OPTIONAL)}
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        ids, days, starts, ends, effective = [], [], [], [], []
        good = rejections.check_shape(first_line, rows, width)
        for i in rejections.usable(first_line, rows, good, columns, optional=("effective_date",)):
            row = rows[i]
            day_text = row[columns["day"]].strip()
            try:
                if not (day_text.isdigit() and int(day_text) <= 6):
                    raise ValueError(f"bad day {shown(day_text)} (expected 0 = Monday to 6 = Sunday)")
                start = parse_local_time(row[columns["start_time_local"]])
                end = parse_local_time(row[columns["end_time_local"]])
                since = effective_date(row[columns["effective_date"]], latest_date) \
                    if "effective_date" in columns else NO_DATE
            except ValueError as exc:
                rejections.add(first_line + i, str(exc))
                continue
            ids.append(row[columns["store_id"]].strip())
            days.append(int(day_text))
            starts.append(start)
            ends.append(end)
            effective.append(since)
        rejections.end_chunk()
        yield HoursBatch(ids, np.array(days, np.int64), np.array(starts, np.int64), np.array(ends, np.int64),
                         np.array(effective, np.int64), len(rows))


def effective_date(text: str, latest_date: int) -> int:
    """An effective date as written (``YYYY-MM-DD``, 1971 to ``latest_date``), or NO_DATE when empty."""
    if not text.strip():
        return NO_DATE
    day = parse_local_date(text)
    if not EARLIEST_DATE <= day <= latest_date:
        raise ValueError(f"effective_date {shown(text.strip())} is out of range (1971-01-01 to two years past the "
                         "newest poll)")
    return day


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
EARLIEST_DATE = 365  # 1971-01-01: no date of business hours before it
DATES_AHEAD = 731  # days: how far past the data's clock a date may be (two years)
MAX_NAME_CHARS = 200


def parse_local_date(text: str) -> int:
    """``YYYY-MM-DD`` as days from 1970-01-01."""
    import datetime

    match = _DATE.fullmatch(text.strip())
    try:
        if not match:
            raise ValueError
        return (datetime.date(int(match[1]), int(match[2]), int(match[3])) - datetime.date(1970, 1, 1)).days
    except ValueError:
        raise ValueError(f"bad date {shown(text)} (expected YYYY-MM-DD)") from None


def read_special_hours(source: Source | Path, *, latest_date: int, strict: bool = True,
                       rejected: RejectedRows | None = None, on_progress: Progress | None = None
                       ) -> Iterator[DatedBatch]:
    """Special hours of stores on local dates, each row checked, a block of the source at a time:
    both times empty closes the date; a store's date has one closed row or rows of hours."""
    return _read_dated(source, {"store_id": ("store_id",)}, latest_date, strict, rejected, on_progress)


def read_holidays(source: Source | Path, *, latest_date: int, strict: bool = True,
                  rejected: RejectedRows | None = None, on_progress: Progress | None = None) -> Iterator[DatedBatch]:
    """The chain's holidays, as special hours of every store (``read_special_hours``), with a name."""
    return _read_dated(source, {"name": ("name",)}, latest_date, strict, rejected, on_progress)


def _read_dated(source: Source | Path, named: dict[str, tuple[str, ...]], latest_date: int, strict: bool,
                rejected: RejectedRows | None, on_progress: Progress | None) -> Iterator[DatedBatch]:
    """Rows of a date and local times, and ``named``'s column: a store id, or a holiday's name.
    Dates from 1971 to ``latest_date``."""
    from datetime import date, timedelta

    source = as_source(source)
    rejections = _Rejections(source, strict, rejected)
    by_store = "store_id" in named
    expected = {**named, "date": ("date",), "start_time_local": ("start_time_local",),
                "end_time_local": ("end_time_local",)}
    closed_dates: dict[tuple[str, int], bool] = {}  # whether each (store id or "", date) seen is closed
    last = (date(1970, 1, 1) + timedelta(days=min(latest_date, LAST_DATE))).isoformat()
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        ids, days, starts, ends, names = [], [], [], [], []
        good = rejections.check_shape(first_line, rows, width)
        optional = () if by_store else ("name",)
        for i in rejections.usable(first_line, rows, good, columns, optional=(*optional, "start_time_local",
                                                                               "end_time_local")):
            row = rows[i]
            start_text, end_text = row[columns["start_time_local"]].strip(), row[columns["end_time_local"]].strip()
            label = row[columns["store_id"]].strip() if by_store else row[columns["name"]].strip()
            try:
                day = parse_local_date(row[columns["date"]])
                if not EARLIEST_DATE <= day <= latest_date:
                    raise ValueError(f"date {shown(row[columns['date']])} is out of range (1971-01-01 to {last}, "
                                     "two years past the newest poll)")
                if bool(start_text) != bool(end_text):
                    raise ValueError(f"missing {'end_time_local' if start_text else 'start_time_local'} "
                                     "(both empty: closed all day)")
                closed = not start_text
                start, end = (CLOSED, CLOSED) if closed else (parse_local_time(start_text), parse_local_time(end_text))
                if not by_store and (len(label) > MAX_NAME_CHARS
                                     or CONTROL_CHARACTER.search(row[columns["name"]])):  # (trimmed or not)
                    raise ValueError(f"bad name {shown(label)} (at most {MAX_NAME_CHARS} characters, no control "
                                     "character)")
                if closed_dates.setdefault((label if by_store else "", day), closed) != closed:
                    raise ValueError(f"{row[columns['date']].strip()} has both a closed row and hours")
            except ValueError as exc:
                rejections.add(first_line + i, str(exc))
                continue
            (ids if by_store else names).append(label)
            days.append(day)
            starts.append(start)
            ends.append(end)
        rejections.end_chunk()
        yield DatedBatch(ids, np.array(days, np.int64), np.array(starts, np.int64), np.array(ends, np.int64),
                         names, len(rows))


def read_timezones(source: Source | Path, *, strict: bool = True, rejected: RejectedRows | None = None,
                   on_progress: Progress | None = None, latest_date: int = LAST_DATE) -> Iterator[TimezoneBatch]:
    """Timezones, each row checked, a block of the source at a time; an optional last column
    ``effective_date`` dates the zone's version (1971 to ``latest_date``)."""
    source = as_source(source)
    rejections = _Rejections(source, strict, rejected)
    expected = {"store_id": ("store_id",), "timezone_str": ("timezone_str",),
                "effective_date": ("effective_date", OPTIONAL)}
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        ids, names, effective = [], [], []
        good = rejections.check_shape(first_line, rows, width)
        # An empty name is allowed: like an unknown one, the store uses America/Chicago (with a warning).
        for i in rejections.usable(first_line, rows, good, columns, optional=("timezone_str", "effective_date")):
            name = rows[i][columns["timezone_str"]].strip()
            try:
                if len(name) > MAX_ID_CHARS or CONTROL_CHARACTER.search(name):
                    raise ValueError(f"bad timezone_str {shown(name)}")
                since = effective_date(rows[i][columns["effective_date"]], latest_date) \
                    if "effective_date" in columns else NO_DATE
            except ValueError as exc:
                rejections.add(first_line + i, str(exc))
                continue
            ids.append(rows[i][columns["store_id"]].strip())
            names.append(name)
            effective.append(since)
        rejections.end_chunk()
        yield TimezoneBatch(ids, names, effective, len(rows))


GROUP_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")
MAX_GROUP_VALUE_CHARS = 100
MAX_GROUPS = 20  # labels a store may carry


def group_label(text: str) -> str:
    """A group label ``key:value`` as stored (spaces around either part trimmed), or ValueError
    naming the problem: a key of letters, digits, ``_``, ``.`` or ``-`` (at most 40), a value of
    1 to 100 characters without ``;`` or a control character."""
    key, colon, value = text.partition(":")
    key, value = key.strip(), value.strip()
    if not colon or not GROUP_KEY.fullmatch(key) or not value or len(value) > MAX_GROUP_VALUE_CHARS \
            or ";" in value or CONTROL_CHARACTER.search(value):
        raise ValueError(f"bad group {shown(text.strip())} (key:value, a key of letters, digits, _ . or - up to "
                         f"40 characters, a value up to {MAX_GROUP_VALUE_CHARS} characters)")
    return f"{key}:{value}"


def read_store_directory(source: Source | Path, *, strict: bool = True, rejected: RejectedRows | None = None,
                   on_progress: Progress | None = None) -> Iterator[StoreDirectoryBatch]:
    """A store directory (``store_id,name,groups``: a display name, and group labels joined by
    ``;``), each row checked, a block of the source at a time; a store is named once."""
    source = as_source(source)
    rejections = _Rejections(source, strict, rejected)
    expected = {"store_id": ("store_id",), "name": ("name", OPTIONAL), "groups": ("groups", OPTIONAL)}
    seen: set[str] = set()
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        ids, names, groups = [], [], []
        good = rejections.check_shape(first_line, rows, width)
        for i in rejections.usable(first_line, rows, good, columns, optional=("name", "groups")):
            row = rows[i]
            store_id = row[columns["store_id"]].strip()
            written_name = row[columns["name"]] if "name" in columns else ""
            name = written_name.strip()
            written = row[columns["groups"]] if "groups" in columns else ""
            try:
                if store_id in seen:
                    raise ValueError(f"store {shown(store_id)} is named on an earlier line too")
                if len(name) > MAX_NAME_CHARS or CONTROL_CHARACTER.search(written_name):  # (trimmed or not)
                    raise ValueError(f"bad name {shown(name)} (at most {MAX_NAME_CHARS} characters, no control "
                                     "character)")
                labels = sorted({group_label(g) for g in written.split(";") if g.strip()})
                if len(labels) > MAX_GROUPS:
                    raise ValueError(f"{len(labels)} groups; a store has at most {MAX_GROUPS}")
            except ValueError as exc:
                rejections.add(first_line + i, str(exc))
                continue
            seen.add(store_id)
            ids.append(store_id)
            names.append(name)
            groups.append(labels)
        rejections.end_chunk()
        yield StoreDirectoryBatch(ids, names, groups, len(rows))


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def store_ids_in(directory: Path) -> list[str]:
    """Every store id the data files in ``directory`` name (as a load finds them), in first-seen
    order; rows that are bad otherwise still name their store, if it is readable."""
    readers = {POLLS: read_polls, HOURS: read_hours, TIMEZONES: read_timezones,
               SPECIAL_HOURS: partial(read_special_hours, latest_date=LAST_DATE), STORE_DIRECTORY: read_store_directory}
    named: dict[str, None] = {}
    for kind, path in find_sources(Path(directory)).items():
        if kind not in readers:
            continue  # (holidays name no store)
        for batch in readers[kind](path, strict=False, rejected=RejectedRows()):
            named.update(dict.fromkeys(batch.stores.ids if kind == POLLS else batch.store_ids))
    return list(named)
