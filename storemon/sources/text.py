"""Reading CSV text and JSON arrays into rows of fields, with the line (or index) of each.

A source is a CSV file or stream (a request body, maybe gzipped) with a header line, or a
JSON array of objects keyed like that header. Its text is read a few megabytes at a time,
so memory stays bounded whatever its size; what cannot be read at all (not UTF-8, a corrupt
gzip, a line past MAX_LINE_CHARS, more than allowed once decompressed) is a SourceError
naming the source and the line. What the fields mean is storemon.sources.schemas' business.
"""

from __future__ import annotations

import csv
import gzip
import io
from decimal import Decimal
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import BinaryIO

import ijson

from ..core import Progress

BLOCK_CHARS = 4 << 20  # bounds memory: only one block of lines is held as Python objects at a time


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


def shown(value: str, limit: int = 60) -> str:
    """A value quoted for a message, cut short if long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


class _CountingReader(io.RawIOBase):
    """Passes bytes through and counts them: for a progress bar following a (compressed) file,
    and to stop a source that grows past ``limit`` bytes (once decompressed)."""

    def __init__(self, raw, name: str, on_progress: Progress | None = None, total: int = 0,
                 limit: int | None = None):
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
            self._on_progress(self._name, self.done / self._total if self._total else 0.0)
        return n


class _Bytes:
    """A source's bytes: a file (plain or ``.gz``) or a stream such as a request body, decompressed
    as it is read and stopped past ``max_inflated`` bytes."""

    def __init__(self, name: str, opener: Callable[[], AbstractContextManager[BinaryIO]], *, size: int = 0,
                 gzipped: bool = False, max_inflated: int | None = None):
        self.name, self._opener, self._size, self._gzipped = name, opener, size, gzipped
        self._max_inflated = max_inflated

    @property
    def size(self) -> int:
        """Bytes as stored (compressed, for a .gz); 0 for a stream."""
        return self._size

    @classmethod
    def of_file(cls, path: Path):
        return cls(path.name, lambda: open(path, "rb"), size=path.stat().st_size, gzipped=path.name.endswith(".gz"))

    @classmethod
    def of_stream(cls, name: str, stream: BinaryIO, *, gzipped: bool = False, max_inflated: int | None = None):
        return cls(name, lambda: nullcontext(stream), gzipped=gzipped, max_inflated=max_inflated)

    @contextmanager
    def open_binary(self, on_progress: Progress | None = None) -> Iterator[BinaryIO]:
        with self._opener() as raw:  # closes a file even where GzipFile would leave it open
            binary = io.BufferedReader(_CountingReader(raw, self.name, on_progress, self._size), 1 << 20)
            if self._gzipped:
                binary = gzip.GzipFile(fileobj=binary, mode="rb")
            if self._max_inflated is not None:
                binary = io.BufferedReader(_CountingReader(binary, self.name, limit=self._max_inflated), 1 << 20)
            yield binary


class CsvSource(_Bytes):
    """CSV text with a header line."""

    unit = "line"

    def chunks(self, expected: dict[str, tuple[str, ...]], on_progress: Progress | None = None,
               split: bool = True) -> Iterator[tuple[int, dict[str, int], int, list[list[str]] | str]]:
        """Yield (line number of the chunk's first row, column positions, fields a row, rows).

        ``expected`` maps each logical column to the header names accepted for it; a column
        accepted under no name the header has is left out of the positions if its names end
        with OPTIONAL, and is an error otherwise.
        Line numbers count the header as line 1. A quoted field may not span lines.
        Unless ``split``, a chunk's rows come as its text, for ``split_lines`` elsewhere
        (another process).
        """
        line = 1
        try:
            # utf-8-sig drops a byte-order mark if there is one
            with self.open_binary(on_progress) as binary, \
                    io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
                columns: dict[str, int] = {}
                for block in _text_blocks(text):
                    if not columns:
                        head, newline, block = block.partition("\n")
                        header = split_lines(head.rstrip("\r"))[0]
                        columns, width, line = _header_columns(self.name, header, expected), len(header), 2
                        if not newline:
                            continue
                    rows = split_lines(block) if split else block
                    yield line, columns, width, rows
                    line += len(rows) if split else block.count("\n") + 1
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


class JsonSource(_Bytes):
    """A JSON array with one object a row, keyed by the CSV header's names; rows are numbered
    by their array index (from 0). Parsed as a stream of events (ijson), never whole: memory
    holds one block of rows (BLOCK_ITEMS, or what BLOCK_CHARS bytes held), whatever the body.
    A row keeps only the scalar values of the fields a column takes: a nested array or
    object makes it a bad row without being built, an unknown field, a bad row whose value
    is not kept; and a stretch of MAX_LINE_CHARS bytes without a string in it (an endless
    string, number or nesting) stops the source, as an over-long CSV line does."""

    unit = "item"
    BLOCK_ITEMS = 50_000

    def chunks(self, expected: dict[str, tuple[str, ...]], on_progress: Progress | None = None
               ) -> Iterator[tuple[int, dict[str, int], int, list[list[str]]]]:
        columns = {name: i for i, name in enumerate(expected)}
        names = {name for accepted in expected.values() for name in accepted if name != OPTIONAL}
        index, block = 0, []
        try:
            with self.open_binary(on_progress) as binary:
                reader = _QuotesApart(binary)
                # (numbers as int or Decimal: with floats, ijson's C parser refuses integers past 64 bits)
                events = ijson.basic_parse(reader)
                if next(events, (None, None))[0] != "start_array":
                    for _ in events:  # invalid JSON is named so, rather than as something else than an array
                        pass
                    raise SourceError(f"{self.name}: expected a JSON array of objects, one a row")
                block_start = reader.done
                for event, value in events:
                    if event == "end_array":
                        break
                    if event == "start_map":
                        block.append(_json_row(_json_object(events, names), expected))
                    else:
                        kind = _skipped(events, event) if event == "start_array" else _kind(value)
                        block.append(BadLine(f"expected a JSON object, found {kind}"))
                    if len(block) == self.BLOCK_ITEMS or reader.done - block_start >= BLOCK_CHARS:
                        yield index, columns, len(columns), block
                        index, block, block_start = index + len(block), [], reader.done
                if block:
                    yield index, columns, len(columns), block
                if next(events, None) is not None:
                    raise SourceError(f"{self.name}: not valid JSON (more after the array)")
        except SourceError:
            raise
        except _LineTooLong:
            raise SourceError(f"{self.name} item {index + len(block)}: a value longer than {MAX_LINE_CHARS:,} bytes"
                              ) from None
        except (ijson.JSONError, ValueError) as exc:  # ValueError: a number of more digits than Python reads
            raise SourceError(f"{self.name}: not valid JSON ({str(exc)[:200]})") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip
            raise SourceError(f"{self.name}: cannot be read ({exc})") from None


def _json_object(events, names: set[str]) -> dict:
    """The rest of an object whose start was just read: the scalar values of its fields among
    ``names``; a nested value becomes a marker naming its kind, unbuilt; of the other fields
    only the first is kept, its value as None (it makes the row bad)."""
    found, key, other = {}, None, False
    for event, value in events:
        if event == "map_key":
            key = value
            if key not in names and not other:
                found[key], other = None, True
        elif event == "end_map":
            return found
        elif event in ("start_map", "start_array"):
            kind = _skipped(events, event)
            if key in names:
                found[key] = _Nested(kind)
        elif key in names:
            found[key] = value
    raise ijson.IncompleteJSONError("the body ends inside an object")


MAX_WHOLE_DIGITS = 300  # a whole number taken as text has at most this many digits (an id: 255 characters)


def _kind(value) -> str:
    """A JSON value's kind, as Python's json module would have made it (a Decimal: float)."""
    return "float" if isinstance(value, Decimal) else type(value).__name__


class _Nested(str):
    """A field's nested array or object, by its kind only (as Python names it: list, dict)."""


def _skipped(events, event: str) -> str:
    """Read past a nested array or object whose start was just read; its kind (list, dict)."""
    depth = 1
    for inner, _ in events:
        if inner in ("start_map", "start_array"):
            depth += 1
        elif inner in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return "list" if event == "start_array" else "dict"
    raise ijson.IncompleteJSONError("the body ends inside an array or object")


class _QuotesApart(io.RawIOBase):
    """Passes JSON bytes through, stopping them at MAX_LINE_CHARS bytes without a double quote:
    rows keyed by name have one every few bytes, and a parser holds what lies between (an
    endless string or number) or tracks it (nesting)."""

    def __init__(self, raw: BinaryIO):
        self._raw, self._since_quote, self.done = raw, 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self.done += n
            view = bytes(memoryview(buffer)[:n])
            first = view.find(b'"')
            if first < 0:
                self._since_quote += n
            else:
                if self._since_quote + first > MAX_LINE_CHARS:
                    raise _LineTooLong
                self._since_quote = n - view.rfind(b'"') - 1
            if self._since_quote > MAX_LINE_CHARS:
                raise _LineTooLong
        return n


def _json_row(item, expected: dict[str, tuple[str, ...]]) -> list[str]:
    """An item as the fields a CSV row would hold: a string as it is, a whole number (2 or 2.0)
    as text, null or absent as empty (so the checks that follow say what is missing). A field
    no column takes is refused, as a CSV column would be: it is most likely a misspelt one."""
    unknown = item.keys() - {name for accepted in expected.values() for name in accepted}
    if unknown:
        return BadLine(f"unknown field {shown(min(unknown))} (expected {', '.join(expected)})")
    row = []
    for accepted in expected.values():
        key = next((a for a in accepted if a in item), accepted[0])
        value = item.get(key)
        if isinstance(value, _Nested):
            return BadLine(f"{key} must be a string, found {value}")
        if value is None:
            row.append("")
        elif isinstance(value, str):
            row.append(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            row.append(str(value))
        elif isinstance(value, Decimal) and value.is_finite() and value.adjusted() <= MAX_WHOLE_DIGITS \
                and value == value.to_integral_value():
            row.append(str(int(value)))
        else:
            return BadLine(f"{key} must be a string, found {_kind(value)}")
    return row


Source = CsvSource | JsonSource


def as_source(source: Source | Path) -> Source:
    return CsvSource.of_file(source) if isinstance(source, Path) else source


MAX_LINE_CHARS = 1 << 20  # far beyond any real row; bounds what one line can cost


class _LineTooLong(Exception):
    pass


def _text_blocks(text: io.TextIOWrapper) -> Iterator[str]:
    """The text a few megabytes at a time, in whole lines (without the last line end)."""
    carry = ""
    while block := text.read(BLOCK_CHARS):
        block = carry + block
        cut = block.rfind("\n") + 1
        carry = block[cut:]
        if len(carry) > MAX_LINE_CHARS:
            if cut:
                yield block[:cut - 1]
            raise _LineTooLong
        if cut:
            yield block[:cut - 1]
    if carry:
        yield carry.rstrip("\r")


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


def split_lines(block: str) -> list[list[str]]:
    """A block of lines as rows of fields (a line that cannot be split is a BadLine)."""
    # Plain lines split on commas, several times faster than the csv module; a block
    # with any quote character goes through csv to honour quoting.
    lines = block.replace("\r\n", "\n").split("\n")
    if "\x00" in block:
        return [BadLine("the line holds a NUL character") if "\x00" in line else split_lines(line)[0] for line in lines]
    if '"' in block:
        return [_split_quoted(line) for line in lines]
    return [line.split(",") for line in lines]


OPTIONAL = ""  # the last name accepted for a column a header may leave out (CsvSource.chunks)


def _header_columns(name: str, header: list[str], expected: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Each expected column's position; every row must then have ``len(header)`` fields."""
    names = [h.strip() for h in header]
    columns = {}
    for column, accepted in expected.items():
        hits = [names.index(a) for a in accepted if a in names and a != OPTIONAL]
        if not hits and accepted[-1] == OPTIONAL:
            continue
        if not hits:
            wanted = " or ".join(accepted)
            raise SourceError(f"{name} line 1: header has no {wanted} column (found {','.join(names)})")
        columns[column] = hits[0]
    return columns
