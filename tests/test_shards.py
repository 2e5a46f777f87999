"""Sharded reports (storemon/reports/shards.py) on real PostgreSQL, Redis and forking workers:
byte-identical to the single-job report, one snapshot of the data for every report, parts
retried when their worker dies, a part that fails failing the report with its reason, and
a part Redis lost planned again. A small REPORT_SHARD_STORES keeps the data small."""

from __future__ import annotations

import os
import re
import signal

import pytest
from rq.job import Job
from sqlalchemy import text

from storemon.database.queries import listed_count, snapshot, store_id_cuts
from storemon.reports import jobs, lifecycle, shards
from storemon.reports.build import build_report
from storemon.reports.queue import join_job_id, part_job_ids
from storemon.timeparse import format_instant

from .helpers import HOUR_US, START, STORES, Loads, base_data, scalar, stored_polls, sweep, wait_for_csv
from .services import WorkerProcess, wait_for

AS_OF = START + 9 * 24 * HOUR_US - HOUR_US // 2
PART_STORES = 5  # the 12 stores of base_data: 3 parts of 4 for one worker, 4 parts of 3 for two


@pytest.fixture
def data(pg, tmp_path):
    base_data(Loads(pg, tmp_path / "base"), hours=9 * 24)
    return pg


@pytest.fixture
def workers(settings, tmp_path):
    """Start worker processes (forking, as in production) cutting reports into small parts."""
    started = []

    def start(count: int = 2, root=None, **env) -> list[WorkerProcess]:
        environ = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
                   "RQ_QUEUE": settings.queue_prefix, "REPORT_SHARD_STORES": str(PART_STORES),
                   "LOG_LEVEL": "DEBUG", **env}
        for _ in range(count):
            worker = WorkerProcess(environ, tmp_path / f"worker-{len(started)}.log", *([root] if root else []))
            started.append(worker)
            wait_for(lambda w=worker: "Listening on" in w.output() or not w.alive(), 60, "the worker to start")
            assert worker.alive(), worker.output()
        return started

    yield start
    for worker in started:
        worker.stop()


class Hold:
    """Every read of a table (the polls') waits until released (an exclusive lock on it)."""

    def __init__(self, engine, table: str = "poll_days"):
        self.conn = engine.connect()
        self.conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))

    def release(self) -> None:
        if self.conn.in_transaction():
            self.conn.rollback()

    def close(self) -> None:
        self.release()
        self.conn.close()


@pytest.fixture
def held(data):
    hold = Hold(data)
    yield hold
    hold.close()


def trigger(client, as_of: int | None = AS_OF) -> str:
    response = client.post("/trigger_report", query_string={"as_of": format_instant(as_of)} if as_of else {})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["report_id"]


def planning_job(app, report_id: str) -> Job:
    return wait_for(lambda: _planned(app, report_id), 60, "the report to be cut into parts")


def _planned(app, report_id):
    job = Job.fetch(report_id, connection=app.extensions["storemon"].redis)
    return job if "parts" in job.get_meta(refresh=True) else None


def part_jobs(app, report_id: str) -> list[Job]:
    meta = planning_job(app, report_id).get_meta(refresh=True)
    redis = app.extensions["storemon"].redis
    return [Job.fetch(i, connection=redis) for i in part_job_ids(report_id, meta["attempt"], meta["parts"])]


def _parts(engine, report_id: str, count: int, as_of: int = AS_OF) -> shards.Plan:
    """A report planned in ``count`` parts, as a planning job records it."""
    lifecycle.create(engine, report_id, as_of)
    plan = shards.Plan(1, store_id_cuts(engine, as_of, count))
    lifecycle.record_plan(engine, report_id, as_of, plan.dumps())
    return plan


def _compute_part(engine, report_id: str, plan: shards.Plan, index: int) -> None:
    with snapshot(engine) as snap:
        rows, seen = shards.compute(snap, AS_OF, plan.part(index))
    lifecycle.store_part(engine, report_id, plan.attempt, index, rows, seen)


@pytest.mark.parametrize("loaded_after", [0, 1, 3])
def test_a_report_is_one_state_of_the_data_whatever_commits_meanwhile(data, tmp_path, redis_conn, loaded_after):
    """At the data layer, deterministically: a load commits (late polls, overrides, hours)
    after ``loaded_after`` of the 3 parts have read. The joined report is the report of the
    data before the load (every part read before it) or after it (the parts that read before
    are computed again in the join's snapshot), never a mix."""
    before = build_report(data, AS_OF)[1]
    plan = _parts(data, "r", 3)
    for index in range(4):
        if index == loaded_after:
            Loads(data, tmp_path / "later")(
                polls=[(s, "inactive", t) for s, _, t in sweep(9 * 24 - 2) + sweep(9 * 24 - 1) + sweep(150)],
                hours=[("store-00", d, "00:00", "23:59") for d in range(7)])
        if index < 3:
            _compute_part(data, "r", plan, index)
    after = build_report(data, AS_OF)[1]
    assert after != before
    assert jobs._complete_parts(data, redis_conn, "r", 1, 3, AS_OF) is True
    assert lifecycle.csv_of(data, "r") == (before if loaded_after == 3 else after)
    if loaded_after == 0:  # every part read after the load: none is computed again
        with data.connect() as conn:
            assert len(set(lifecycle.part_versions(conn, "r", 1).values())) == 1


def test_the_plan_cuts_the_listed_stores_into_runs_of_store_ids(data, tmp_path):
    Loads(data, tmp_path / "more")(polls=[(f"x{i:03d}", "active", format_instant(AS_OF - HOUR_US)) for i in range(20)]
                                   + [("later", "active", format_instant(AS_OF + HOUR_US))])  # not listed as of AS_OF
    listed = sorted({s for s, _, _ in stored_polls(data) if s != "later"})
    assert listed_count(data, AS_OF) == len(listed) == 32
    for count in (1, 2, 3, 5, 32):
        plan = shards.Plan(1, store_id_cuts(data, AS_OF, count))
        assert plan.count == count
        runs = [[s for s in listed if (r.first is None or s >= r.first) and (r.end is None or s < r.end)]
                for r in map(plan.part, range(count))]
        assert sum(runs, []) == listed  # every listed store once, in order
        assert max(map(len, runs)) - min(map(len, runs)) <= 1


def test_a_sharded_report_equals_the_single_job_report(settings, app, data, workers, tmp_path):
    workers(2)
    client = app.test_client()
    for as_of in (AS_OF, None):  # an explicit as_of, and the latest poll
        report_id = trigger(client, as_of)
        csv = wait_for_csv(client, report_id)
        assert csv == build_report(data, as_of)[1]
        parts = part_jobs(app, report_id)
        assert len(parts) == 4 and all(p.get_status() == "finished" for p in parts)
        assert [p.return_value() for p in parts] == [3, 3, 3, 3]  # rows each
    for hour in (9 * 24, 9 * 24 + 1):  # hours later, with a new store
        Loads(data, tmp_path / f"next-{hour}")(polls=sweep(hour, stores=["store-00a"] + STORES))
        report_id = trigger(client, None)
        assert wait_for_csv(client, report_id) == build_report(data)[1]
    logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2))
    assert logs.count("cut into 4 parts") == 4


def test_a_worker_with_an_empty_disk_of_its_own_gives_the_same_csv(settings, app, data, workers, tmp_path):
    """Two workers, one run from a copy of the code in an empty directory, with an empty home and
    temporary directory of its own (a machine just started): parts go to both, and the report
    is byte for byte the one computed here, hour after hour."""
    from .services import fresh_copy

    machine = tmp_path / "machine"
    fresh_copy(machine / "code")
    for name in ("home", "tmp"):
        (machine / name).mkdir()
    workers(1)
    workers(1, root=machine / "code", HOME=str(machine / "home"), TMPDIR=str(machine / "tmp"))
    client = app.test_client()
    for hour in (None, 9 * 24, 9 * 24 + 1):
        if hour is not None:
            Loads(data, tmp_path / f"next-{hour}")(polls=sweep(hour))
        assert wait_for_csv(client, trigger(client, None)) == build_report(data)[1]
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
    assert all(re.search(r"part \d of 4", log) for log in logs), logs  # each worker computed parts
    # and the new machine's worker left nothing on its disk for a later report to find
    assert [p for name in ("home", "tmp") for p in (machine / name).iterdir()] == []
    assert sorted(p.name for p in (machine / "code").iterdir()) == ["migrations", "pyproject.toml", "storemon",
                                                                    "worker.py", "wsgi.py"]


def test_progress_is_the_parts_progress_and_a_killed_part_runs_again(settings, app, data, workers, held):
    (worker,) = workers(1)
    client = app.test_client()
    report_id = trigger(client)
    first = part_jobs(app, report_id)[0]
    # (once a part has started, the planning job's horse has ended: one worker runs one at a time)
    wait_for(lambda: first.get_status(refresh=True) == "started", 30, "the first part to start")
    horses = wait_for(worker.horses, 30, "a part's work horse")  # blocked reading the held polls
    state = client.get(f"/get_report/{report_id}").get_json()
    assert state["status"] == "Running" and 0 <= state["progress"] < 1
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    held.release()
    assert wait_for_csv(client, report_id, 120) == build_report(data, AS_OF)[1]
    assert "Work-horse terminated unexpectedly" in worker.output() or "RQ runs it again" in worker.output()


@pytest.mark.parametrize("victim", ["horse", pytest.param("worker", marks=pytest.mark.slow)])
def test_a_join_whose_process_dies_runs_again_and_completes_the_report(settings, app, data, workers, victim):
    """Every part has stored its rows; the join, held on the report's row as it completes it,
    loses its work horse, or its whole worker: RQ runs the join again (on the worker a
    platform starts in its place), and the report completes from the same run's parts."""
    (worker,) = workers(1)
    client = app.test_client()
    report_id = trigger(client)
    meta = planning_job(app, report_id).get_meta(refresh=True)
    join = Job.fetch(join_job_id(report_id, meta["attempt"]), connection=app.extensions["storemon"].redis)
    row = data.connect()
    try:
        row.execute(text("SELECT 1 FROM reports WHERE id = :id FOR NO KEY UPDATE"), {"id": report_id})
        wait_for(lambda: join.get_status(refresh=True) == "started", 60, "the join to start")
        wait_for(lambda: scalar(data, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"), 30,
                 "the join to wait for the report's row")
        for pid in worker.horses():
            os.kill(pid, signal.SIGKILL)
        if victim == "worker":
            worker.kill()
            workers(1)  # a platform restarts a dead worker; RQ hands it the abandoned join
        else:
            wait_for(lambda: "Work-horse terminated unexpectedly" in worker.output(), 30, "the worker to see it")
    finally:
        row.rollback()
        row.close()
    assert wait_for_csv(client, report_id, 200) == build_report(data, AS_OF)[1]
    assert lifecycle.find(data, report_id).attempts == 1  # the join ran again; nothing was planned anew
    assert join.get_status(refresh=True) == "finished"


def test_a_part_that_fails_fails_the_report_with_its_reason(settings, app, data, workers, held):
    workers(2, REPORT_JOB_TIMEOUT="3", REPORT_DATABASE_WAIT="1")
    client = app.test_client()
    report_id = trigger(client)
    wait_for(lambda: client.get(f"/get_report/{report_id}").get_json()["status"] == "Failed", 60,
             "the report to fail")
    error = lifecycle.find(data, report_id).error
    # whichever gives up first on the held table: the job's timeout, or the database's
    assert re.fullmatch(r"part \d of 4 failed: the (report timed out after 3 s \(REPORT_JOB_TIMEOUT\)"
                        r"|database was unreachable for 1 s \(REPORT_DATABASE_WAIT\): .+)", error), error
    held.release()
    # the join still runs once every part has ended, and leaves the failed report as it is
    meta = planning_job(app, report_id).get_meta(refresh=True)
    join = Job.fetch(join_job_id(report_id, meta["attempt"]), connection=app.extensions["storemon"].redis)
    wait_for(lambda: join.get_status(refresh=True) in ("finished", "failed"), 60, "the join to run")
    assert lifecycle.find(data, report_id).status == "Failed"


def test_a_part_lost_from_redis_is_planned_again(settings, app, data, workers, held):
    workers(1)
    client = app.test_client()
    report_id = trigger(client)
    lost = part_jobs(app, report_id)[-1]  # queued behind the one the worker is held in
    lost.delete()
    held.release()
    # the worker's sweep, or any GET, finds the part gone and plans the report again
    assert wait_for_csv(client, report_id, 120) == build_report(data, AS_OF)[1]
    assert lifecycle.find(data, report_id).attempts == 2


def test_a_part_whose_rows_are_missing_at_the_join_has_its_report_planned_again(settings, app, data, workers):
    """The join completes the report only with every part's stored rows: here the first run's
    first part stores nothing (a trigger drops the row), so the join plans the report again,
    and the second run completes it."""
    with data.begin() as conn:
        conn.execute(text("CREATE FUNCTION storemon_test_drop_part() RETURNS trigger LANGUAGE plpgsql AS"
                          " $$ BEGIN RETURN NULL; END $$"))
        conn.execute(text("CREATE TRIGGER storemon_test_drop_part BEFORE INSERT ON report_parts FOR EACH ROW"
                          " WHEN (NEW.attempt = 1 AND NEW.part = 0) EXECUTE FUNCTION storemon_test_drop_part()"))
    try:
        workers(1)
        client = app.test_client()
        report_id = trigger(client)
        assert wait_for_csv(client, report_id, 120) == build_report(data, AS_OF)[1]
        assert lifecycle.find(data, report_id).attempts == 2
        # only the completing run's rows are kept
        assert scalar(data, f"SELECT array_agg(DISTINCT attempt) FROM report_parts WHERE report_id = '{report_id}'") == [2]
    finally:
        with data.begin() as conn:
            conn.execute(text("DROP TRIGGER storemon_test_drop_part ON report_parts"))
            conn.execute(text("DROP FUNCTION storemon_test_drop_part()"))


def test_a_load_committing_during_a_sharded_report_is_wholly_in(settings, app, data, workers, tmp_path):
    """One worker takes the parts one after another. The first has its snapshot and waits to
    read its polls while a load of business hours commits, so the later parts read after it:
    the join computes the first part again in its own snapshot, and the report is that of
    the data after the load, wholly."""
    (worker,) = workers(1)
    client = app.test_client()
    before = build_report(data, AS_OF)[1]
    held = Hold(data)
    try:
        report_id = trigger(client)
        first = part_jobs(app, report_id)[0]
        wait_for(lambda: first.get_status(refresh=True) == "started", 30, "the first part to start")
        # it has its snapshot when it waits for the held table
        wait_for(lambda: scalar(data, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                                      " AND relation = 'poll_days'::regclass") > 0, 30, "the first part to wait")
        Loads(data, tmp_path / "during")(hours=[(s, d, "06:00", "08:00") for s in STORES[:6] for d in range(7)])
    finally:
        held.close()
    after = build_report(data, AS_OF)[1]
    assert after != before
    assert wait_for_csv(client, report_id, 120) == after
    assert "parts 1 read another version of the data than the rest" in worker.output()


def test_parts_come_in_multiples_of_the_workers():
    assert [shards.part_count(12, 5, w) for w in (0, 1, 2, 3, 4)] == [3, 3, 4, 3, 4]
    assert shards.part_count(136_383, 50_000, 2) == 4 and shards.part_count(50_000, 50_000, 2) == 2


def test_small_reports_and_sqlite_stay_single_jobs(settings, sqlite, pg):
    from dataclasses import replace

    assert not shards.sharded(sqlite, replace(settings, report_shard_stores=1), 10 ** 18)
    assert not shards.sharded(pg, replace(settings, report_shard_stores=0), 10 ** 18)
