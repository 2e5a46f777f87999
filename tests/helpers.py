"""Small builders shared by the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

from sqlalchemy import text


def write_csv(directory: Path, name: str, lines: list[str], *, gz: bool = False, bom: bool = False,
              final_newline: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = "\n".join(lines) + ("\n" if final_newline else "")
    data = (b"\xef\xbb\xbf" if bom else b"") + body.encode()
    path = directory / (name + (".csv.gz" if gz else ".csv"))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def polls_csv(directory: Path, rows: list[tuple[str, str, str]], **kw) -> Path:
    return write_csv(directory, "store_status", ["store_id,status,timestamp_utc"] + [",".join(r) for r in rows], **kw)


def hours_csv(directory: Path, rows: list[tuple], day_column: str = "day", **kw) -> Path:
    header = f"store_id,{day_column},start_time_local,end_time_local"
    return write_csv(directory, "menu_hours", [header] + [",".join(map(str, r)) for r in rows], **kw)


def timezones_csv(directory: Path, rows: list[tuple[str, str]], **kw) -> Path:
    return write_csv(directory, "timezones", ["store_id,timezone_str"] + [",".join(r) for r in rows], **kw)


def scalar(engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]
