"""Reading the three CSV sources into arrays, with every row checked.

Pure: no database here. A source is a CSV file or stream (a request body, maybe
gzipped) or a JSON array; each reader returns a batch of arrays plus the rejected
rows; in strict mode the first bad row raises ``SourceError`` naming the source,
the line number (or array index) and the problem.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from .timeparse import AS_OF_MIN_US, US_PER_S, format_instant, parse_timestamps

POLLS, HOURS, TIMEZONES = "store_status", "menu_hours", "timezones"
SOURCE_NAMES = (TIMEZONES, HOURS, POLLS)
BLOCK_CHARS = 4 << 20  # bounds memory: only one block of lines is held as Python objects at a time

ProgressFn = Callable[[int, int], None]  # (bytes read, total bytes)


class SourceError(ValueError):
    """A source cannot be loaded; the message names it and, where there is one, the line.
    ``rejected`` holds the first bad rows when bad rows are why (strict mode)."""

    def __init__(self, message: str, rejected: list[Rejected] | None = None):
        super().__init__(message)
        self.rejected = rejected or []


class SourceTooLarge(SourceError):
    """A source is larger than allowed once decompressed (a gzip bomb, or just too much)."""


@dataclass(frozen=True)
class Rejected:
    file: str
    line: int  # a line number (CSV, header = 1) or an array index (JSON)
    problem: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.file} {self.unit} {self.line}: {self.problem}"


@dataclass
class RejectedRows:
    """The rows a lenient load passes over: the first ``keep`` in detail, in order; all counted."""

    keep: int = 1000
    count: int = 0
    first: list[Rejected] = field(default_factory=list)

    def extend(self, found: list[Rejected]) -> None:
        self.count += len(found)
        self.first.extend(found[:max(self.keep - len(self.first), 0)])


@dataclass
class StoreKeys:
    """Store ids (opaque strings) in first-seen order, and each row's index into them."""

    ids: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    @property
    def known(self) -> dict[str, int]:
        """The ids seen so far (a mapping, for fast membership tests)."""
        return self._index

    def keys(self, store_ids: list[str], distinct: dict[str, None] | None = None) -> np.ndarray:
        index = self._index
        # New ids are found among the distinct ones (fast, in C), then every row is a dict lookup.
        new = [s for s in (distinct if distinct is not None else dict.fromkeys(store_ids)) if s not in index]
        index.update(zip(new, range(len(index), len(index) + len(new))))
        self.ids.extend(new)
        return np.array(list(map(index.__getitem__, store_ids)), np.int64)


@dataclass
class PollBatch:
    stores: StoreKeys
    store: np.ndarray  # int64 index into stores.ids
    ts_us: np.ndarray  # int64 epoch microseconds
    active: np.ndarray  # bool
    rows_read: int = 0


@dataclass
class HoursBatch:
    stores: StoreKeys
    store: np.ndarray
    day: np.ndarray  # 0 = Monday
    start_s: np.ndarray  # local seconds after midnight
    end_s: np.ndarray
    rows_read: int = 0


@dataclass
class TimezoneBatch:
    store_ids: list[str]
    names: list[str]
    rows_read: int = 0


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
        raise SourceError(f"{directory}: none of store_status.csv, menu_hours.csv, timezones.csv (or .csv.gz) is there")
    return found


class _CountingReader(io.RawIOBase):
    """Passes bytes through and counts them: for a progress bar following a (compressed) file,
    and to stop a source that grows past ``limit`` bytes (once decompressed)."""

    def __init__(self, raw, on_progress: ProgressFn | None = None, total: int = 0, limit: int | None = None,
                 name: str = ""):
        self._raw, self._on_progress, self._total, self.done = raw, on_progress, total, 0
        self._limit, self._name = limit, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self.done += n or 0
        if self._limit is not None and self.done > self._limit:
            raise SourceTooLarge(f"{self._name}: larger than {self._limit:,} bytes once decompressed")
        if self._on_progress:
            self._on_progress(self.done, self._total)
        return n


class CsvSource:
    """CSV text with a header line: a file (plain or ``.gz``) or a stream such as a request body."""

    unit = "line"

    def __init__(self, name: str, opener: Callable[[], AbstractContextManager[BinaryIO]], *, size: int = 0,
                 gzipped: bool = False, max_inflated: int | None = None):
        self.name, self._opener, self._size, self._gzipped = name, opener, size, gzipped
        self._max_inflated = max_inflated

    @classmethod
    def of_file(cls, path: Path) -> CsvSource:
        return cls(path.name, lambda: open(path, "rb"), size=path.stat().st_size, gzipped=path.name.endswith(".gz"))

    @classmethod
    def of_stream(cls, name: str, stream: BinaryIO, *, gzipped: bool = False,
                  max_inflated: int | None = None) -> CsvSource:
        return cls(name, lambda: nullcontext(stream), gzipped=gzipped, max_inflated=max_inflated)

    @contextmanager
    def open_binary(self, on_progress: ProgressFn | None = None) -> Iterator[BinaryIO]:
        with self._opener() as raw:  # closes a file even where GzipFile would leave it open
            binary = io.BufferedReader(_CountingReader(raw, on_progress, self._size), 1 << 20)
            if self._gzipped:
                binary = gzip.GzipFile(fileobj=binary, mode="rb")
            if self._max_inflated is not None:
                binary = io.BufferedReader(_CountingReader(binary, limit=self._max_inflated, name=self.name), 1 << 20)
            yield binary

    def chunks(self, expected: dict[str, tuple[str, ...]], on_progress: ProgressFn | None = None
               ) -> Iterator[tuple[int, dict[str, int], int, list[list[str]]]]:
        """Yield (line number of the chunk's first row, column positions, fields a row, rows).

        ``expected`` maps each logical column to the header names accepted for it.
        Line numbers count the header as line 1. A quoted field may not span lines.
        """
        line = 1
        try:
            # utf-8-sig drops a byte-order mark if there is one
            with self.open_binary(on_progress) as binary, \
                    io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
                columns: dict[str, int] = {}
                for rows in _line_blocks(text):
                    if not columns:
                        header = rows.pop(0)
                        columns, width, line = _header_columns(self.name, header, expected), len(header), 2
                    yield line, columns, width, rows
                    line += len(rows)
                if not columns:
                    raise SourceError(f"{self.name}: empty (no header line)")
        except _LineTooLong:
            raise SourceError(f"{self.name} line {line}: longer than {MAX_LINE_CHARS:,} characters") from None
        except csv.Error as exc:
            raise SourceError(f"{self.name} near line {line}: unreadable CSV ({exc})") from None
        except UnicodeDecodeError:
            raise SourceError(f"{self.name}: not UTF-8 text") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
            raise SourceError(f"{self.name}: cannot be read ({exc})") from None


class JsonSource:
    """A JSON array with one object a row, keyed by the CSV header's names; rows are
    numbered by their array index (from 0)."""

    unit = "item"
    BLOCK_ITEMS = 50_000

    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def chunks(self, expected: dict[str, tuple[str, ...]], on_progress: ProgressFn | None = None
               ) -> Iterator[tuple[int, dict[str, int], int, list[list[str]]]]:
        try:
            items = json.loads(self._data)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser follows
            raise SourceError(f"{self.name}: not valid JSON ({str(exc)[:200]})") from None
        self._data = b""
        if not isinstance(items, list):
            raise SourceError(f"{self.name}: expected a JSON array of objects, one a row")
        columns = {name: i for i, name in enumerate(expected)}
        for first in range(0, len(items), self.BLOCK_ITEMS):
            yield first, columns, len(columns), [_json_row(item, expected)
                                                 for item in items[first:first + self.BLOCK_ITEMS]]


def _json_row(item, expected: dict[str, tuple[str, ...]]) -> list[str]:
    """An item as the fields a CSV row would hold: a string as it is, a whole number (2 or 2.0)
    as text, null or absent as empty (so the checks that follow say what is missing). A field
    no column takes is refused, as a CSV column would be: it is most likely a misspelt one."""
    if not isinstance(item, dict):
        return BadLine(f"expected a JSON object, found {type(item).__name__}")
    unknown = item.keys() - {name for accepted in expected.values() for name in accepted}
    if unknown:
        return BadLine(f"unknown field {shown(min(unknown))} (expected {', '.join(expected)})")
    row = []
    for accepted in expected.values():
        key = next((a for a in accepted if a in item), accepted[0])
        value = item.get(key)
        if value is None:
            row.append("")
        elif isinstance(value, str):
            row.append(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            row.append(str(value))
        elif isinstance(value, float) and value.is_integer():
            row.append(str(int(value)))
        else:
            return BadLine(f"{key} must be a string, found {type(value).__name__}")
    return row


Source = CsvSource | JsonSource


def _as_source(source: Source | Path) -> Source:
    return CsvSource.of_file(source) if isinstance(source, Path) else source


MAX_LINE_CHARS = 1 << 20  # far beyond any real row; bounds what one line can cost


class _LineTooLong(Exception):
    pass


def _line_blocks(text: io.TextIOWrapper) -> Iterator[list[str]]:
    """The text's lines (without line ends), a few megabytes at a time."""
    carry = ""
    while block := text.read(BLOCK_CHARS):
        block = carry + block
        cut = block.rfind("\n") + 1
        carry = block[cut:]
        if len(carry) > MAX_LINE_CHARS:
            if cut:
                yield _rows(block[:cut - 1])
            raise _LineTooLong
        if cut:
            yield _rows(block[:cut - 1])
    if carry:
        yield _rows(carry.rstrip("\r"))


class BadLine(list):
    """A line that cannot be split into fields at all; ``problem`` says why."""

    def __init__(self, problem: str):
        super().__init__()
        self.problem = problem


def _split_quoted(line: str) -> list[str]:
    # One line at a time: csv.reader over several lines would silently join a quoted
    # field that runs past a line's end with the next line.
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return BadLine("a quoted field runs past the end of the line (fields may not span lines)")
        return BadLine(f"malformed quoting ({exc})")


def _rows(block: str) -> list[list[str]]:
    # Plain lines split on commas, several times faster than the csv module; a block
    # with any quote character goes through csv to honour quoting.
    lines = block.replace("\r\n", "\n").split("\n")
    if "\x00" in block:
        return [BadLine("the line holds a NUL character") if "\x00" in line else _rows(line)[0] for line in lines]
    if '"' in block:
        return [_split_quoted(line) for line in lines]
    return [line.split(",") for line in lines]


def _header_columns(name: str, header: list[str], expected: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Each expected column's position; every row must then have ``len(header)`` fields."""
    names = [h.strip() for h in header]
    columns = {}
    for column, accepted in expected.items():
        hits = [names.index(a) for a in accepted if a in names]
        if not hits:
            wanted = " or ".join(accepted)
            raise SourceError(f"{name} line 1: header has no {wanted} column (found {','.join(names)})")
        columns[column] = hits[0]
    return columns


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
        """Indices of rows with the header's field count; blank lines (nothing but spaces
        or tabs) are passed over, a line of other invisible characters is not."""
        good = []
        for i, row in enumerate(rows):
            if isinstance(row, BadLine):
                self.add(first_line + i, row.problem)
            elif len(row) == width:
                good.append(i)
            elif any(f.strip(" \t") for f in row):
                self.add(first_line + i, f"expected {width} fields, found {len(row)}")
        return good

    def usable(self, first_line: int, rows: list[list[str]], good: list[int], columns: dict[str, int],
               optional: tuple[str, ...] = ()) -> list[int]:
        """Indices of the rows with every required field and an acceptable store id."""
        kept = []
        for i in good:
            row = rows[i]
            empty = [name for name, c in columns.items() if name not in optional and not row[c].strip()]
            problem = f"missing {empty[0]}" if empty else store_id_problem(row[columns["store_id"]].strip())
            if problem:
                self.add(first_line + i, problem)
            else:
                kept.append(i)
        return kept


MAX_ID_CHARS = 255
# A leading = + - @ makes a spreadsheet read the cell as a formula (CSV injection);
# control characters (C0, DEL, C1) have no place in an id and NUL cannot be stored.
_FORMULA_START = ("=", "+", "-", "@")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # never in a stored id or zone name


def shown(value: str, limit: int = 60) -> str:
    """A value quoted for a message, cut short if long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def store_id_problem(store_id: str) -> str | None:
    """Why a (trimmed, non-empty) store id is refused, or None."""
    if len(store_id) > MAX_ID_CHARS:
        return f"store_id is longer than {MAX_ID_CHARS} characters ({len(store_id)})"
    if CONTROL_CHARACTER.search(store_id):
        return f"store_id {shown(store_id)} holds a control character"
    if store_id.startswith(_FORMULA_START):
        return f"store_id {shown(store_id)} begins with {store_id[0]!r}, which spreadsheets read as a formula"
    return None


def read_polls(source: Source | Path, *, strict: bool = True, rejected: RejectedRows | None = None,
               on_progress: ProgressFn | None = None, now_us: int | None = None) -> PollBatch:
    """Polls, each checked; a poll must lie between 1971 (as a report's as_of may) and a day
    after ``now_us`` (default: the wall clock), since a poll from the future is bad input."""
    source = _as_source(source)
    rejections = _Rejections(source, strict, rejected)
    earliest_us = AS_OF_MIN_US
    latest_us = (now_us if now_us is not None else int(time.time() * US_PER_S)) + 86400 * US_PER_S
    stores = StoreKeys()
    parts_store, parts_ts, parts_active = [], [], []
    rows_read = 0
    expected = {"store_id": ("store_id",), "status": ("status",), "timestamp_utc": ("timestamp_utc",)}
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        rows_read += len(rows)
        c_id, c_status, c_ts = columns["store_id"], columns["status"], columns["timestamp_utc"]
        # The hot path takes whole columns; per-row Python runs only where a row is odd.
        line_of = range(first_line, first_line + len(rows))
        if set(map(len, rows)) != {width}:
            good = rejections.check_shape(first_line, rows, width)
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
        bad_ids = {s: problem for s in distinct.keys() - stores.known.keys() if s and (problem := store_id_problem(s))}
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
            rejections.add(line_of[j], problem)
        kept = np.flatnonzero(ok)
        if kept.size < len(ids):
            ids, distinct = [ids[j] for j in kept.tolist()], None
        parts_store.append(stores.keys(ids, distinct))
        parts_ts.append(ts_us[kept])
        parts_active.append(active[kept])
        rejections.end_chunk()
    return PollBatch(stores, _concat(parts_store, np.int64), _concat(parts_ts, np.int64),
                     _concat(parts_active, bool), rows_read)


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
               on_progress: ProgressFn | None = None) -> HoursBatch:
    source = _as_source(source)
    rejections = _Rejections(source, strict, rejected)
    stores = StoreKeys()
    ids, days, starts, ends = [], [], [], []
    rows_read = 0
    expected = {"store_id": ("store_id",), "day": ("day", "dayOfWeek"),
                "start_time_local": ("start_time_local",), "end_time_local": ("end_time_local",)}
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        rows_read += len(rows)
        good = rejections.check_shape(first_line, rows, width)
        for i in rejections.usable(first_line, rows, good, columns):
            row = rows[i]
            day_text = row[columns["day"]].strip()
            try:
                if not (day_text.isdigit() and int(day_text) <= 6):
                    raise ValueError(f"bad day {shown(day_text)} (expected 0 = Monday to 6 = Sunday)")
                start = parse_local_time(row[columns["start_time_local"]])
                end = parse_local_time(row[columns["end_time_local"]])
            except ValueError as exc:
                rejections.add(first_line + i, str(exc))
                continue
            ids.append(row[columns["store_id"]].strip())
            days.append(int(day_text))
            starts.append(start)
            ends.append(end)
        rejections.end_chunk()
    return HoursBatch(stores, stores.keys(ids), np.array(days, np.int64), np.array(starts, np.int64),
                      np.array(ends, np.int64), rows_read)


def read_timezones(source: Source | Path, *, strict: bool = True, rejected: RejectedRows | None = None,
                   on_progress: ProgressFn | None = None) -> TimezoneBatch:
    source = _as_source(source)
    rejections = _Rejections(source, strict, rejected)
    latest: dict[str, str] = {}  # a store named twice keeps its last row
    rows_read = 0
    expected = {"store_id": ("store_id",), "timezone_str": ("timezone_str",)}
    for first_line, columns, width, rows in source.chunks(expected, on_progress):
        rows_read += len(rows)
        good = rejections.check_shape(first_line, rows, width)
        # An empty name is allowed: like an unknown one, the store uses America/Chicago (with a warning).
        for i in rejections.usable(first_line, rows, good, columns, optional=("timezone_str",)):
            name = rows[i][columns["timezone_str"]].strip()
            if len(name) > MAX_ID_CHARS or CONTROL_CHARACTER.search(name):
                rejections.add(first_line + i, f"bad timezone_str {shown(name)}")
                continue
            latest[rows[i][columns["store_id"]].strip()] = name
        rejections.end_chunk()
    return TimezoneBatch(list(latest), list(latest.values()), rows_read)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
