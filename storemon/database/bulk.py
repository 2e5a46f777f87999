"""Moving arrays in and out of the database in bulk: COPY on PostgreSQL, executemany on SQLite.

Every function takes a SQLAlchemy ``Connection`` inside the caller's transaction and
works on its driver connection (psycopg 3 or sqlite3) directly.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import Connection

from .engines import is_postgres

# PostgreSQL's binary COPY: a fixed header, then per row a field count and, per field,
# a length and the big-endian value; a -1 field count ends the stream.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_COPY_TRAILER = b"\xff\xff"
_BINARY_TYPES = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "bool": "u1"}
_COPY_CHUNK_ROWS = 1 << 18


def _copy_rows(columns: Sequence[tuple[str, str, np.ndarray]]) -> Iterator[bytes]:
    """Binary COPY data for numeric columns, built a chunk at a time by NumPy, not per row."""
    fields = [("count", ">i2")]
    for name, sql_type, _ in columns:
        fields += [(f"{name}_len", ">i4"), (name, _BINARY_TYPES[sql_type])]
    row = np.dtype(fields)
    n = len(columns[0][2]) if columns else 0
    yield _COPY_HEADER
    for lo in range(0, n, _COPY_CHUNK_ROWS):
        hi = min(lo + _COPY_CHUNK_ROWS, n)
        out = np.empty(hi - lo, row)
        out["count"] = len(columns)
        for name, _, values in columns:
            out[f"{name}_len"] = row[name].itemsize
            out[name] = values[lo:hi]
        yield out.tobytes()
    yield _COPY_TRAILER


def copy_into(conn: Connection, table: str, columns: Sequence[tuple[str, str, Sequence]]) -> None:
    """Append the given columns, (name, SQL type, values), to a table: binary COPY on
    PostgreSQL when every column is numeric, text COPY otherwise; executemany on SQLite."""
    driver = conn.connection.driver_connection
    names = ", ".join(name for name, _, _ in columns)
    if is_postgres(conn):
        with driver.cursor() as cur:
            if all(t in _BINARY_TYPES for _, t, _ in columns):
                with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                    for block in _copy_rows([(n, t, np.asarray(v)) for n, t, v in columns]):
                        copy.write(block)
            else:
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in zip(*(_python_values(v) for _, _, v in columns)):
                        copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                           zip(*(_python_values(v) for _, _, v in columns)))


@contextmanager
def staged(conn: Connection, table: str, columns: Sequence[tuple[str, str, Sequence]]) -> Iterator[str]:
    """A temporary table filled with the given columns, dropped afterwards."""
    ddl = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in columns)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} ({ddl})")
    try:
        copy_into(conn, table, columns)
        if is_postgres(conn):
            conn.exec_driver_sql(f"ANALYZE {table}")
        yield table
    finally:
        conn.exec_driver_sql(f"DROP TABLE {table}")


def _python_values(values: Sequence) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


@contextmanager
def cursor(conn: Connection, sql: str, params: tuple, binary: bool = False) -> Iterator:
    """A driver cursor that has run SQL written with ``%s`` placeholders (psycopg's; ``?`` for
    sqlite3); with ``binary``, PostgreSQL sends the results in binary (bytea as it is, not as
    hex text to decode: a 22 MB value in 0.08 s rather than 0.3 s)."""
    if not is_postgres(conn):
        sql = sql.replace("%s", "?")
        binary = False
    driver = conn.connection.driver_connection
    cur = driver.cursor(binary=True) if binary else driver.cursor()
    try:
        cur.execute(sql, params)
        yield cur
    finally:
        cur.close()


def execute(conn: Connection, sql: str, params: tuple = ()) -> int:
    """Run one statement on the driver connection; return its row count."""
    with cursor(conn, sql, params) as cur:
        return cur.rowcount


def fetch_all(conn: Connection, sql: str, params: tuple = (), binary: bool = False) -> list[tuple]:
    with cursor(conn, sql, params, binary) as cur:
        return cur.fetchall()
