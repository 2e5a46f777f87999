"""Engine factory, timeouts, schema checks and migration; no Flask app context needed anywhere."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, exc as sa_exc, text
from sqlalchemy.engine import make_url

from ..config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# PostgreSQL advisory lock key taken by loads and by migrations, so neither interleaves with
# the other (two first-time loads used to create the same tables at once).
WRITE_LOCK = 0x73746F72
INIT_DB_HINT = "run `python -m storemon init-db`"


class SchemaError(RuntimeError):
    """The database has no storemon schema, or an older one than this code needs."""


class _AnsweringConnection(psycopg.Connection):
    """A psycopg connection that stops waiting for a server that has gone silent.

    PostgreSQL's own statement_timeout cannot fire when the server is frozen (a stopped
    process, a lost host), so every wait on the socket gets a deadline on this side too.
    On expiry the connection is closed, so SQLAlchemy discards it rather than reusing it.
    """

    answer_timeout_s: float | None = None

    def wait(self, gen, interval=0.1, timeout=None):
        limit = timeout if timeout is not None else self.answer_timeout_s
        try:
            return super().wait(gen, interval=interval, timeout=limit)
        except psycopg.OperationalError as exc:
            if limit is None or exc.sqlstate is not None or self.closed:
                raise
            self.pgconn.finish()  # the query's fate is unknown: never reuse this connection
            raise psycopg.OperationalError(f"no answer from the database within {limit:g} s") from exc


def make_engine(database_url: str, *, connect_timeout_s: int = 10, statement_timeout_s: int | None = None,
                lock_timeout_s: int | None = None) -> Engine:
    """An engine whose connections give up after ``connect_timeout_s`` to connect and, if set,
    ``statement_timeout_s`` for any one statement (enforced by the server, and on this side
    a little later in case the server itself is frozen) and ``lock_timeout_s`` waiting for a
    lock (PostgreSQL; SQLite's readers never wait)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return _postgres_engine(url, connect_timeout_s, statement_timeout_s, lock_timeout_s)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": statement_timeout_s or 30})

    # pysqlite opens transactions lazily and skips DDL; take over so BEGIN covers a
    # whole load (SQLAlchemy's documented recipe), and use WAL so the web process can
    # read while the worker or a load writes.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # A transaction takes the write lock when it begins, so one that reads, then writes, never
    # finds another writer came between; a connection from reading() only reads, and its
    # transaction takes no lock (WAL: it sees the database as of its first read).
    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN DEFERRED" if conn.get_execution_options().get(_READS_ONLY) else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url, connect_timeout_s: int, statement_timeout_s: int | None,
                     lock_timeout_s: int | None) -> Engine:
    connect_args = {"connect_timeout": connect_timeout_s,
                    # a peer that vanishes without closing the connection is noticed in about a minute
                    "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
    # No JIT: storemon's statements are many and short, and compiling one took longer than
    # running it (a report's piece read at 408K stores: 106 ms of JIT for 8 ms of work).
    options, server = {}, ["-c jit=off"]
    if statement_timeout_s:
        server.append(f"-c statement_timeout={statement_timeout_s * 1000}")
        options["pool_timeout"] = statement_timeout_s
    if lock_timeout_s:
        server.append(f"-c lock_timeout={lock_timeout_s * 1000}")
    connect_args["options"] = " ".join(server)
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **options)
    answer_timeout_s = statement_timeout_s + 1 if statement_timeout_s else None

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        conn = _AnsweringConnection.connect(*cargs, **cparams)
        conn.answer_timeout_s = answer_timeout_s
        return conn

    return engine


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC one: SQLite hands them back without a zone, and
    every one storemon stores is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


_READS_ONLY = "storemon_reads_only"


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite its transaction waits for no writer (the
    others take the write lock as they begin)."""
    return engine.connect().execution_options(**{_READS_ONLY: True})


# SQLSTATE classes worth trying again: connection exceptions, transaction rollbacks
# (serialization failures, deadlocks), insufficient resources (too many connections),
# and the server shutting down or starting up. 57014 (a statement timeout) is not one.
_TRANSIENT_SQLSTATES = ("08", "40", "53", "57P")


def is_transient(exc: BaseException) -> bool:
    """Whether a database error may pass if the same work is tried again later."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate is None:  # raised on this side: refused, reset, timed out
            return isinstance(exc, psycopg.OperationalError)
        return exc.sqlstate.startswith(_TRANSIENT_SQLSTATES)
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)
    return False


def describe(exc: BaseException) -> str:
    """One line saying what the database said, for logs and the command line."""
    if isinstance(exc, sa_exc.StatementError) and exc.orig is not None:
        exc = exc.orig
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


# The newest migration this code knows, written here so that checking a database's schema
# reads one row and imports no Alembic (a test keeps it equal to the migrations' head).
HEAD_REVISION = "0019"


def head_revision() -> str:
    """The newest migration this code knows."""
    return HEAD_REVISION


def schema_revision(conn: Connection) -> str | None:
    """The database's migration revision; None when it has no storemon schema."""
    from sqlalchemy import inspect

    if not inspect(conn).has_table("alembic_version"):
        return None
    found = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if found is None else found[0]


def check_schema(engine: Engine) -> None:
    """Raise SchemaError naming the problem unless the schema is at the newest migration."""
    with engine.connect() as conn:
        current = schema_revision(conn)
    if current is None:
        raise SchemaError(f"the database has no storemon schema; {INIT_DB_HINT}")
    if current != head_revision():
        raise SchemaError(f"the database schema is at revision {current}, this code needs {head_revision()}; "
                          f"{INIT_DB_HINT}")


_database_ids: dict[str, str] = {}


def database_id(engine: Engine) -> str:
    """The database's identity (table database_identity, made with the schema): it names the
    queue of its reports and the key of its tallies. Read once per process and database."""
    url = engine.url.render_as_string(hide_password=False)
    if url not in _database_ids:
        with engine.connect() as conn:
            _database_ids[url] = conn.execute(text("SELECT database_id FROM database_identity WHERE id = 1")).scalar_one()
    return _database_ids[url]


def renew_database_id(engine: Engine) -> str:
    """A new random identity for the database (a copy used beside its original must not share
    the original's queue); processes that read the old one keep it until they restart."""
    import secrets

    new = secrets.token_hex(4)
    with engine.begin() as conn:
        conn.execute(text("UPDATE database_identity SET database_id = :new WHERE id = 1"), {"new": new})
    _database_ids.pop(engine.url.render_as_string(hide_password=False), None)
    return new


def create_database_if_missing(engine: Engine) -> bool:
    """Create the engine's PostgreSQL database if the server says it does not exist (SQLSTATE
    3D000), connecting to the server's ``postgres`` database to do so; whether it did. Any other
    failure to connect is left to the caller to report as it is; SQLite makes its file itself.
    A role that may not create databases gets the exact ``createdb`` command in the message."""
    url = engine.url
    if not is_postgres(engine) or not url.database:
        return False
    try:
        with engine.connect():
            return False  # (the usual case: it exists, and the postgres database is never needed)
    except sa_exc.OperationalError as exc:
        # (psycopg gives a refused connection no SQLSTATE: the server's message says which)
        if getattr(exc.orig, "sqlstate", None) != "3D000" and f'database "{url.database}" does not exist' \
                not in str(exc.orig):
            raise
    maintenance = make_engine(url.set(database="postgres").render_as_string(hide_password=False),
                              connect_timeout_s=10)
    try:
        with maintenance.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # (two init-db at once: one creates it, the other then finds it; the lock ends with the session)
            conn.execute(text("SELECT pg_advisory_lock(:lock)"), {"lock": WRITE_LOCK})
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}).first():
                return False
            conn.execute(text(f'CREATE DATABASE "{url.database.replace(chr(34), chr(34) * 2)}"'))
    except sa_exc.DBAPIError as exc:
        command = " ".join(["createdb", *(f"-h {url.host}",) * bool(url.host), *(f"-p {url.port}",) * bool(url.port),
                            *(f"-U {url.username}",) * bool(url.username), url.database])
        raise SchemaError(f"the database {url.database!r} does not exist and could not be created "
                          f"({describe(exc)}); create it with `{command}`, then run init-db again") from None
    finally:
        maintenance.dispose()
    return True


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest migration; safe to run again.
    Returns (revision before, revision after)."""
    from alembic import command

    cfg = alembic_config(engine)
    command.upgrade(cfg, "head")
    return cfg.attributes.get("revision_before"), head_revision()
