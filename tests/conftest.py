"""Fixtures on the real services: PostgreSQL and Redis as .ci/run starts them, SQLite in a temp dir.

An unreachable service is an error, never a skip.
"""

from __future__ import annotations


import pytest
from sqlalchemy import text

from storemon.database.engines import make_engine, upgrade

from .helpers import TEST_DATABASE_URL, TEST_REDIS_URL, create_database, truncate

@pytest.fixture(scope="session")
def pg_engine():
    create_database(TEST_DATABASE_URL)
    engine = make_engine(TEST_DATABASE_URL)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg(pg_engine):
    """The PostgreSQL test database, emptied before the test (not rolled back: other processes
    such as the worker must see committed rows; whatever a test leaves, the next one empties)."""
    truncate(pg_engine)
    return pg_engine


@pytest.fixture
def sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'storemon.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request):
    """Each test using this runs once on PostgreSQL and once on the embedded SQLite default."""
    return request.getfixturevalue("pg" if request.param == "postgresql" else "sqlite")


SEEDED_TABLES = ("stores", "business_hours", "poll_days", "data_version")


@pytest.fixture(scope="session")
def seed_copy(pg_engine):
    """The seed data loaded once by the loader, then kept as it was stored in tables of a schema
    of its own (seed_copy), for ``seeded`` to copy back: a load per test took most of a second."""
    from storemon.config import PROJECT_ROOT
    from storemon.database.loader import load_directory

    truncate(pg_engine)
    load_directory(pg_engine, PROJECT_ROOT / "seed" / "2023-01")
    with pg_engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS seed_copy CASCADE"))
        conn.execute(text("CREATE SCHEMA seed_copy"))
        for table in SEEDED_TABLES:
            conn.execute(text(f"CREATE TABLE seed_copy.{table} AS TABLE public.{table}"))
    truncate(pg_engine)
    yield
    with pg_engine.begin() as conn:
        conn.execute(text("DROP SCHEMA seed_copy CASCADE"))


@pytest.fixture
def seeded(pg, seed_copy):
    """PostgreSQL holding the seed data (the real 2023-01 hours and zones, a sample of polls),
    row for row as the loader stored it."""
    with pg.begin() as conn:
        for table in SEEDED_TABLES:
            conn.execute(text(f"INSERT INTO public.{table} SELECT * FROM seed_copy.{table}"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('stores', 'id'), (SELECT max(id) FROM stores))"))
    return pg


@pytest.fixture
def redis_conn():
    from storemon.reports.queue import redis_client

    client = redis_client(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def settings(pg, redis_conn, monkeypatch):
    """Settings for the app and for jobs (which read the environment, as in production)."""
    from storemon.reports import jobs
    from storemon.config import load_settings

    monkeypatch.setenv("DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("RQ_QUEUE", "reports-test")
    monkeypatch.setenv("DASHBOARD_USER", "ops")
    monkeypatch.setenv("DASHBOARD_PASSWORD", "s3cret")
    jobs.reset_engine()
    yield load_settings()
    jobs.reset_engine()


@pytest.fixture
def make_app(settings):
    """create_app(settings with changes), closing each app's engine and Redis client afterwards."""
    from dataclasses import replace

    from storemon.web.app import create_app

    made = []

    def make(**changes):
        made.append(create_app(replace(settings, **changes)))
        return made[-1]

    yield make
    for app in made:
        app.extensions["storemon"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
