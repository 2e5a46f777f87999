"""A database restored from a dump taken before a load, then loaded again differently, reports
exactly what its data says: through a worker that had made its stores' sessions before the
restore (nothing it keeps is trusted past the data it was made from), and computed here."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from sqlalchemy.engine import make_url

from storemon.database.engines import make_engine, upgrade
from storemon.reports.build import build_report
from storemon.timeparse import format_instant

from .helpers import TEST_DATABASE_URL
from .helpers import HOUR_US, START, STORES, Loads, base_data, sweep, wait_for_csv
from .services import WorkerProcess, wait_for

RESTORE = make_url(TEST_DATABASE_URL).set(database=make_url(TEST_DATABASE_URL).database + "_restore")
PLAIN = RESTORE.set(drivername="postgresql").render_as_string(hide_password=False)  # for pg_dump, pg_restore


def _admin(sql: str) -> None:
    with psycopg.connect(RESTORE.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def restored_db():
    _admin(f'DROP DATABASE IF EXISTS "{RESTORE.database}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{RESTORE.database}"')
    engine = make_engine(RESTORE.render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    _admin(f'DROP DATABASE IF EXISTS "{RESTORE.database}" WITH (FORCE)')


def test_a_database_restored_then_loaded_differently_reports_what_it_holds(make_app, redis_conn, restored_db,
                                                                          sqlite, tmp_path):
    engine = restored_db
    base_data(Loads(engine, tmp_path / "a"), hours=9 * 24)  # A
    dump = tmp_path / "before.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), PLAIN], check=True)

    # B: an hour more, overrides, new hours and a new store; reported through a worker, which
    # then makes its stores' sessions for B
    later = Loads(engine, tmp_path / "b")
    later(polls=sweep(9 * 24) + [(s, "inactive", t) for s, _, t in sweep(9 * 24 - 2)]
          + [("store-new", "active", format_instant(START + 9 * 24 * HOUR_US))],
          hours=[("store-01", d, "05:00", "21:00") for d in range(7)])
    app = make_app(database_url=RESTORE.render_as_string(hide_password=False))
    settings = app.extensions["storemon"].settings
    worker = WorkerProcess({"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
                            "RQ_QUEUE": settings.queue_prefix}, tmp_path / "worker.log")
    try:
        wait_for(lambda: "Listening on" in worker.output() or not worker.alive(), 60, "the worker to start")
        client = app.test_client()

        def reported() -> bytes:
            response = client.post("/trigger_report")
            assert response.status_code == 202, response.get_data(as_text=True)
            return wait_for_csv(client, response.get_json()["report_id"])

        assert reported() == build_report(engine)[1]

        # the dump of A restored over B, then C: other polls, other hours, another new store
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--single-transaction", "-d", PLAIN, str(dump)],
                       check=True)
        fresh = Loads(sqlite, tmp_path / "fresh")  # the same data loaded afresh, elsewhere
        base_data(fresh, hours=9 * 24)
        assert reported() == build_report(engine)[1] == build_report(sqlite)[1]
        assert reported() == build_report(sqlite)[1]  # (with the sessions made for the restored stores)
        c = dict(polls=[(s, "active", t) for s, _, t in sweep(9 * 24 + 3, stores=STORES[3:])]
                 + [("store-other", "inactive", format_instant(START + 9 * 24 * HOUR_US + 5))],
                 hours=[("store-02", d, "11:00", "13:00") for d in range(5)])
        Loads(engine, tmp_path / "c")(**c)
        fresh(**c)
        assert reported() == build_report(engine)[1] == build_report(sqlite)[1]
    finally:
        worker.stop()
