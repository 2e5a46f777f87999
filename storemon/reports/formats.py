"""A finished report in the format a client asks for: its CSV as stored, JSON Lines, or Parquet.

The CSV is the report (SPEC's columns, its numbers to two decimals); the other formats are
made from it, so they hold the same rows in the same order with the same numbers: JSON
Lines one object a store, each number written as the CSV writes it; Parquet a table of a
string ``store_id`` and a float64 column for each number (read back and rounded to two
decimals, the CSV's digits).
"""

from __future__ import annotations

import csv
import io
import json

CSV, JSONL, PARQUET = "csv", "jsonl", "parquet"
MEDIA_TYPES = {CSV: "text/csv", JSONL: "application/jsonl", PARQUET: "application/vnd.apache.parquet"}
SUFFIXES = {CSV: ".csv", JSONL: ".jsonl", PARQUET: ".parquet"}
FORMATS = tuple(MEDIA_TYPES)


def converted(csv_bytes: bytes, fmt: str) -> bytes:
    """The report CSV in format ``fmt`` (one of FORMATS)."""
    if fmt == CSV:
        return csv_bytes
    if fmt == JSONL:
        return to_jsonl(csv_bytes)
    if fmt == PARQUET:
        return to_parquet(csv_bytes)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def _rows(csv_bytes: bytes) -> tuple[list[str], list[list[str]]]:
    header, *rows = csv.reader(io.StringIO(csv_bytes.decode()))
    return header, rows


def to_jsonl(csv_bytes: bytes) -> bytes:
    """One JSON object a line, in the CSV's column order; numbers as the CSV writes them."""
    header, rows = _rows(csv_bytes)
    names = [json.dumps(name) for name in header]
    lines = []
    for row in rows:
        fields = [f"{names[0]}:{json.dumps(row[0], ensure_ascii=False)}"]
        fields += [f"{name}:{value}" for name, value in zip(names[1:], row[1:])]
        lines.append("{" + ",".join(fields) + "}\n")
    return "".join(lines).encode()


def to_parquet(csv_bytes: bytes) -> bytes:
    """A Parquet file of the CSV's table: ``store_id`` a string, every other column float64."""
    import pyarrow as pa  # (here: 0.14 s to import, paid only by a report asked for as Parquet)
    import pyarrow.parquet as pq

    header, rows = _rows(csv_bytes)
    columns = {header[0]: pa.array([r[0] for r in rows], pa.string())}
    for k, name in enumerate(header[1:], start=1):
        columns[name] = pa.array([float(r[k]) for r in rows], pa.float64())
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()
