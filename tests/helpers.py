"""What the tests share: the test databases, builders of inputs, and the API and command line
run in this process."""

from __future__ import annotations

import gzip
import itertools
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from click.testing import CliRunner
from rq import Queue
from rq.worker import SimpleWorker
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storemon.cli import cli
from storemon.config import PROJECT_ROOT, normalise_database_url
from storemon.reports.build import build_report
from storemon.database.models import Base
from storemon.timeparse import format_instant, parse_instant


# --- the test databases: PostgreSQL and Redis as .ci/run starts them ---

# pytest-xdist runs the tests in processes gw0, gw1, ...: each has a database and a Redis
# database of its own (storemon_test_gw1, Redis 14; gw2, 13), so they never see each other's data.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def _of_this_worker(url: str, redis: bool = False) -> str:
    base, _, last = url.rpartition("/")
    if redis:
        return f"{base}/{int(last or 0) - _WORKER}"
    return url if _WORKER == 0 else f"{base}/{last}_gw{_WORKER}"


TEST_DATABASE_URL = normalise_database_url(_of_this_worker(
    os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/storemon_test")))
TEST_REDIS_URL = _of_this_worker(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), redis=True)
# Every table of the schema but the database's identity (made once with it): a test starts with them empty.
TABLES = ", ".join(name for name in Base.metadata.tables if name != "database_identity")


def create_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def truncate(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


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


def read_input(engine, as_of_us: int):
    """What a single-job report as of then reads (its stores, and their polls of the lookback's
    days), as one input of the core."""
    from storemon.core.polls import LOOKBACK_US, day_of
    from storemon.database import polls
    from sqlalchemy import text
    from storemon.database.queries import Stores, snapshot

    with snapshot(engine) as snap:
        stores = Stores.read(snap.conn, as_of_us)
        # (the stores' own key range: PostgreSQL reads a range bucket by bucket of 128 keys)
        last_key = snap.conn.execute(text("SELECT coalesce(max(id), 0) FROM stores")).scalar()
        rows = polls.read(snap.conn, int(day_of(as_of_us - LOOKBACK_US)), int(day_of(as_of_us)), (0, last_key))
    return stores.report_input(rows, as_of_us)


def poll_count(engine) -> int:
    """How many polls are stored."""
    return scalar(engine, "SELECT coalesce(sum(length(polls)), 0) FROM poll_days") // 8


def stored_polls(engine) -> list[tuple[str, int, bool]]:
    """Every stored poll as (store_id, ts_us, active), sorted, decoded from the rows as stored."""
    from storemon.core.polls import PollRows

    found = rows(engine, "SELECT s.store_id, p.polls FROM poll_days p JOIN stores s ON s.id = p.store")
    out = []
    for store_id, packed in found:
        _, ts_us, active = PollRows.decode([0], [len(packed)], bytes(packed)).polls()
        out += [(store_id, t, a) for t, a in zip(ts_us.tolist(), active.tolist())]
    return sorted(out)


# A small fleet over nine days of hourly sweeps, shared by the tests of loads, shards and workers.
HOUR_US = 3600 * 1_000_000
START = parse_instant("2023-01-15T00:00:00Z")
ZONES = ["America/Chicago", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Not/AZone"]
STORES = [f"store-{i:02d}" for i in range(12)]


def sweep(hour: int, stores=STORES, seed: int = 0) -> list[tuple[str, str, str]]:
    """One poll of each store a few minutes past the given hour after START."""
    rng = random.Random(hour * 1000 + seed)
    return [(s, rng.choice(["active", "active", "inactive"]),
             format_instant(START + hour * HOUR_US + rng.randrange(60 * 60 * 1_000_000))) for s in stores]


class Loads:
    """Loads into one database, each from a directory of its own."""

    def __init__(self, engine, tmp_path: Path):
        self.engine, self.tmp, self.count = engine, tmp_path, itertools.count()

    def __call__(self, polls=None, hours=None, zones=None, special=None, holidays=None) -> None:
        from storemon.database.loader import load_directory

        directory = self.tmp / f"load-{next(self.count)}"
        directory.mkdir(parents=True)
        if polls is not None:
            polls_csv(directory, polls)
        if hours is not None:
            hours_csv(directory, hours)
        if zones is not None:
            timezones_csv(directory, zones)
        if special is not None:
            write_csv(directory, "special_hours", ["store_id,date,start_time_local,end_time_local", *special])
        if holidays is not None:
            write_csv(directory, "holidays", ["date,start_time_local,end_time_local,name", *holidays])
        load_directory(self.engine, directory)


def base_data(load: Loads, hours: int) -> None:
    """The fleet's hours (overnight, two intervals a day, some days closed) and zones (a DST
    change in Lord Howe, an unknown zone), and ``hours`` sweeps of polls."""
    rows = [(s, d, "09:00", "17:00") for s in STORES[:4] for d in range(7)]
    rows += [("store-04", d, "18:00", "02:00") for d in range(5)]  # overnight
    rows += [("store-05", d, "00:00", "23:59") for d in (5, 6)] + [("store-05", 0, "00:00", "06:00")]
    rows += [("store-06", 2, "08:00", "11:00"), ("store-06", 2, "13:00", "19:30")]  # two intervals a day
    load(polls=[p for h in range(hours) for p in sweep(h)], hours=rows,
         zones=[(s, ZONES[i % len(ZONES)]) for i, s in enumerate(STORES[:10])])


def wait_for_csv(client, report_id: str, timeout_s: float = 60) -> bytes:
    """The report's CSV once it is Complete (asking every 50 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/get_report/{report_id}")
        if response.status_code == 200 and response.mimetype == "text/csv":
            return response.data
        assert response.status_code == 202 and response.get_json()["status"] in ("Pending", "Running"), \
            response.get_data(as_text=True)
        time.sleep(0.05)
    raise AssertionError(f"report {report_id} did not complete")


# --- the report API and ingestion, in this process (Flask's test client, RQ's SimpleWorker) ---

SEED = PROJECT_ROOT / "seed"


AS_OF = "2023-01-25T12:00:00Z"


def queue_of(app) -> Queue:
    return app.extensions["storemon"].queue


def run_jobs(app) -> None:
    """Run every queued job in this process and stop (most tests)."""
    services = app.extensions["storemon"]
    SimpleWorker([services.queue], connection=services.redis).work(burst=True)


def trigger(client, **kw) -> str:
    response = client.post("/trigger_report", **kw)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["report_id"]


def latest_poll(engine) -> int:
    from storemon.database.queries import latest_poll_us

    with engine.connect() as conn:
        return latest_poll_us(conn)


def expected_csv(pg, as_of: str | None = None) -> bytes:
    return build_report(pg, parse_instant(as_of) if as_of else None)[1]


def age(engine, report_id: str, minutes: int) -> None:
    """Make a report look older than it is, as if it had waited that long."""
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE reports SET created_at = created_at - interval '{minutes} minutes'"
                          " WHERE id = :id"), {"id": report_id})


HEADER = "store_id,status,timestamp_utc"


POLLS = [("s1", "active", "2023-01-25 10:00:00.5 UTC"), ("s2", "inactive", "2023-01-25 10:01:00 UTC"),
         ("s1", "active", "2023-01-25 11:00:00 UTC")]


def csv_body(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def polls_body(polls=POLLS) -> bytes:
    return csv_body(HEADER, *(",".join(p) for p in polls))


def send(client, token, path="/polls", body=b"", *, method="post", content_type="text/csv", gzipped=False,
         **kw):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)
    return getattr(client, method)(path, data=body, headers=headers, **kw)


# --- the command line ---

@dataclass
class Ran:
    returncode: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode()


def storemon(engine, *args: str) -> Ran:
    """``python -m storemon ARGS`` on the engine's database, in this process."""
    result = CliRunner().invoke(cli, list(args), env={"DATABASE_URL": engine.url.render_as_string(hide_password=False)},
                                prog_name="python -m storemon")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout_bytes, result.stderr)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m storemon ARGS`` as a process of its own."""
    return subprocess.run([sys.executable, "-m", "storemon", *args], cwd=PROJECT_ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)
