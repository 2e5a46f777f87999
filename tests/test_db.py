"""Which database errors are worth trying again, and the one-line descriptions of them."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import exc as sa_exc, text

from storemon.db import describe, is_transient, make_engine


@pytest.mark.parametrize("error,transient", [
    (psycopg.OperationalError("connection failed: Connection refused"), True),  # raised on this side
    (errors.AdminShutdown("terminating connection due to administrator command"), True),  # 57P01
    (errors.CannotConnectNow("the database system is starting up"), True),  # 57P03
    (errors.SerializationFailure("could not serialize access"), True),  # 40001
    (errors.DeadlockDetected("deadlock detected"), True),  # 40P01
    (errors.TooManyConnections("too many clients"), True),  # 53300
    (errors.QueryCanceled("canceling statement due to statement timeout"), False),  # 57014
    (errors.UndefinedTable('relation "polls" does not exist'), False),
    (errors.UniqueViolation("duplicate key"), False),
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("no such table: polls"), False),
    (ValueError("a bug"), False),
])
def test_what_counts_as_transient(error, transient):
    assert is_transient(error) is transient
    if isinstance(error, (psycopg.Error, sqlite3.Error)):  # and as SQLAlchemy hands it on
        assert is_transient(sa_exc.OperationalError("SELECT 1", {}, error)) is transient


def test_an_unreachable_server_is_transient_and_described_in_one_line():
    engine = make_engine("postgresql+psycopg://root@127.0.0.1:1/x", connect_timeout_s=2)
    with pytest.raises(sa_exc.OperationalError) as caught:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert is_transient(caught.value)
    assert describe(caught.value).startswith("connection failed: ")
    assert "\n" not in describe(caught.value)


def test_a_statement_over_the_timeout_is_stopped_and_not_transient(pg_engine):
    from .conftest import TEST_DATABASE_URL

    engine = make_engine(TEST_DATABASE_URL, statement_timeout_s=1)
    try:
        with pytest.raises(sa_exc.OperationalError) as caught:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(3)"))
        assert "statement timeout" in describe(caught.value)
        assert not is_transient(caught.value)
    finally:
        engine.dispose()
