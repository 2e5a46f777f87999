"""Migration 0010 moves a row per poll (polls) into a row per store and UTC day (poll_days):
every poll and every override is kept, the newest poll is the default as_of, the report is
the same as that of the data loaded afresh, and the downgrade gives the polls back."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from storemon.database.engines import alembic_config, make_engine
from storemon.database.queries import latest_poll_us
from storemon.reports.build import build_report

from .helpers import TEST_DATABASE_URL
from .helpers import HOUR_US, START, Loads, base_data, rows, stored_polls, sweep

# PostgreSQL: a database of this test's own beside the test database, made and dropped here.
MIGRATION_URL = make_url(TEST_DATABASE_URL).set(database=make_url(TEST_DATABASE_URL).database + "_migration")


def _admin(sql: str) -> None:
    admin = MIGRATION_URL.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(params=["postgresql", "sqlite"])
def at_0009(request, tmp_path):
    """An empty database at the schema before the move."""
    if request.param == "postgresql":
        _admin(f'DROP DATABASE IF EXISTS "{MIGRATION_URL.database}"')
        _admin(f'CREATE DATABASE "{MIGRATION_URL.database}"')
        engine = make_engine(MIGRATION_URL.render_as_string(hide_password=False))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0009")
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        _admin(f'DROP DATABASE IF EXISTS "{MIGRATION_URL.database}"')


def test_the_move_keeps_every_poll_override_and_report(at_0009, sqlite, tmp_path):
    # The data loaded afresh (into the current schema), with overrides: instants stored active,
    # then sent inactive.
    load = Loads(sqlite, tmp_path / "fresh")
    base_data(load, hours=9 * 24)
    overridden = [(s, "inactive", t) for s, status, t in sweep(100) + sweep(150) if status == "active"]
    load(polls=overridden)
    polls = stored_polls(sqlite)

    # The same data as the old schema held it: a row per poll, overrides numbered.
    key = dict(rows(sqlite, "SELECT store_id, id FROM stores"))
    flipped = {(s, t) for s, _, t in overridden}
    with at_0009.begin() as conn:
        conn.exec_driver_sql("UPDATE data_version SET seq = 2")  # (0007 made the row)
    for table, columns in (("stores", "id, store_id, timezone, first_poll_us"),
                           ("business_hours", "store, day, start_s, end_s")):
        found = rows(sqlite, f"SELECT {columns} FROM {table}")
        marks = ", ".join(["%s" if at_0009.dialect.name == "postgresql" else "?"] * len(found[0]))
        with at_0009.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", found)
    from storemon.timeparse import format_instant

    old_rows = [(t, key[s], a, 1, 2 if (s, format_instant(t)) in flipped else None) for s, t, a in polls]
    assert any(r[4] == 2 for r in old_rows)
    marks = ", ".join(["%s" if at_0009.dialect.name == "postgresql" else "?"] * 5)
    with at_0009.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO polls (ts_us, store, active, seq, overridden_seq) VALUES ({marks})",
                             old_rows)

    command.upgrade(alembic_config(at_0009), "head")
    assert stored_polls(at_0009) == polls
    with at_0009.connect() as conn:
        assert latest_poll_us(conn) == max(t for _, t, _ in polls)
    for as_of in (None, START + 6 * 24 * HOUR_US):
        assert build_report(at_0009, as_of) == build_report(sqlite, as_of)

    command.downgrade(alembic_config(at_0009), "0009")
    assert sorted(rows(at_0009, "SELECT ts_us, store, active FROM polls")) == sorted(
        (t, k, bool(a)) for t, k, a, _, _ in old_rows)
