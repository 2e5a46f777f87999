"""Sharded reports (storemon/reports/shards.py) on real PostgreSQL, Redis and forking workers:
byte-identical to the single-job report, one snapshot of the data for every part, parts
retried when their worker dies, a part that fails failing the report with its reason, and
a part Redis lost planned again. A small REPORT_SHARD_STORES keeps the data small."""

from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest
from rq.job import Job
from sqlalchemy import text

from storemon.database.pollcache import PollCache
from storemon.database.queries import plan_input, report_input, stores_digest
from storemon.reports import lifecycle, shards
from storemon.reports.build import build_report
from storemon.reports.queue import join_job_id, part_input_key, part_job_ids
from storemon.core import compute_uptime, to_csv
from storemon.timeparse import format_instant

from .helpers import scalar
from .services import WorkerProcess, wait_for
from .test_report_cache import HOUR_US, START, STORES, Loads, base_data, sweep, wait_for_csv

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

    def start(count: int = 2, **env) -> list[WorkerProcess]:
        environ = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
                   "RQ_QUEUE": settings.queue_name, "REPORT_SHARD_STORES": str(PART_STORES),
                   "REPORT_CACHE_DIR": str(tmp_path / "cache"), "LOG_LEVEL": "DEBUG", **env}
        for _ in range(count):
            worker = WorkerProcess(environ, tmp_path / f"worker-{len(started)}.log")
            started.append(worker)
            wait_for(lambda w=worker: "Listening on" in w.output() or not w.alive(), 60, "the worker to start")
            assert worker.alive(), worker.output()
        return started

    yield start
    for worker in started:
        worker.stop()


class Hold:
    """Every read of the polls table waits until released (an exclusive lock on it)."""

    def __init__(self, engine):
        self.conn = engine.connect()
        self.conn.execute(text("LOCK TABLE polls IN ACCESS EXCLUSIVE MODE"))

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


def test_parts_read_one_snapshot_whatever_commits_meanwhile(data, tmp_path):
    """At the data layer, deterministically: planned, then a load commits (new polls, overrides,
    hours), then each part reads; the joined parts are the report of the data as planned."""
    before = to_csv(compute_uptime(report_input(data, AS_OF), AS_OF))
    version, _, stores = plan_input(data, AS_OF)
    order = stores.by_store_id()
    part_stores = [stores.part(p) for p in np.array_split(order, 3)]

    load = Loads(data, tmp_path / "later")
    load(polls=[(s, "inactive", t) for s, _, t in sweep(9 * 24 - 2) + sweep(9 * 24 - 1) + sweep(150)],
         hours=[("store-00", d, "00:00", "23:59") for d in range(7)])
    after = to_csv(compute_uptime(report_input(data, AS_OF), AS_OF))
    assert after != before
    for cache in (None, PollCache(tmp_path / "cache", "part")):
        parts = [shards.Part("r", 1, i, 3, AS_OF, version.epoch, version.seq, f"stores-{i}") for i in range(3)]
        assert shards.joined([shards.compute(data, part, stores, cache)
                              for part, stores in zip(parts, part_stores)]) == before


def test_a_sharded_report_equals_the_single_job_report(settings, app, data, workers, tmp_path):
    workers(2)
    client = app.test_client()
    for as_of in (AS_OF, None):  # an explicit as_of, and the latest poll
        report_id = trigger(client, as_of)
        csv = wait_for_csv(client, report_id)
        assert csv == build_report(data, as_of)[1]
        parts = part_jobs(app, report_id)
        assert len(parts) == 4 and all(p.get_status() == "finished" for p in parts)
        assert [p.return_value() for p in parts] == [3, 3, 3, 3]  # rows each (the rows wait in Redis for the join)
    # hours later, the parts come from their caches brought up to date
    for hour in (9 * 24, 9 * 24 + 1):
        Loads(data, tmp_path / f"next-{hour}")(polls=sweep(hour, stores=["store-00a"] + STORES))  # and a new store
        report_id = trigger(client, None)
        assert wait_for_csv(client, report_id) == build_report(data)[1]
    logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2))
    assert "cut into 4 parts" in logs and "(report cache: not used)" in logs  # parts keep their own
    assert logs.count("cache built") == 4 and logs.count("cache updated") >= 8  # read whole once, then changes


def test_the_stores_digest_changes_with_whatever_a_plan_reads(data, tmp_path):
    """Equal digests must mean equal stores: any change to the listed stores, their ids,
    timezones, first polls or hours gives another digest; nothing else does."""
    def digest(as_of: int = AS_OF) -> str:
        with data.connect() as conn:
            return stores_digest(conn, as_of)

    load, seen = Loads(data, tmp_path / "changes"), [digest()]
    assert digest() == seen[0]
    load(polls=sweep(9 * 24))  # more polls of the same stores: the same stores
    assert digest() == seen[0]
    for change in (dict(hours=[("store-07", 3, "10:00", "11:00")]),
                   dict(hours=[("store-07", 3, "10:00", "11:01")]),
                   dict(zones=[("store-11", "Asia/Tokyo")]),
                   dict(zones=[("store-11", "Asia/Kolkata")]),
                   dict(polls=[("store-new", "active", format_instant(AS_OF - HOUR_US))]),  # a new store
                   dict(polls=[("store-03", "active", format_instant(START - HOUR_US))])):  # an earlier first poll
        load(**change)
        seen.append(digest())
        assert seen[-1] not in seen[:-1], change
    assert digest(AS_OF - 2 * HOUR_US) != seen[-1]  # before store-new was first polled: one store fewer


def test_a_fleet_whose_stores_did_not_change_reuses_the_last_plan(settings, app, data, workers, tmp_path):
    """The parts' stores stay in Redis: a report on the same stores sends none again, and a
    change to them (hours, a timezone) makes a new plan; each report equals the single-job one."""
    workers(2)
    client, load = app.test_client(), Loads(data, tmp_path / "changes")

    def report(as_of: int | None = None) -> None:
        assert wait_for_csv(client, trigger(client, as_of)) == build_report(data, as_of)[1]

    def reused() -> int:
        return "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2)).count(
            "(the stores of the last plan)")

    report(AS_OF)
    assert reused() == 0
    report(AS_OF)
    report(None)  # another as_of, listing the same stores
    assert reused() == 2
    first_plan = json.loads(app.extensions["storemon"].redis.get(shards.last_plan_key(data)))["keys"]
    load(hours=[("store-08", d, "06:00", "22:00") for d in range(7)])
    report()
    assert reused() == 2
    # the replaced plan's stores stay an hour for reports planned on them, not a week
    assert all(0 < app.extensions["storemon"].redis.ttl(key) <= shards.REPLACED_PLAN_TTL_S for key in first_plan)
    report()
    assert reused() == 3
    load(zones=[("store-11", "Asia/Tokyo")])
    report()
    assert reused() == 3


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
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
    held.release()
    assert wait_for_csv(client, report_id, 120) == build_report(data, AS_OF)[1]
    assert "Work-horse terminated unexpectedly" in worker.output() or "RQ runs it again" in worker.output()


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


def test_a_part_whose_stores_expired_has_its_report_planned_again(settings, app, data, workers, held):
    workers(1)
    client, redis = app.test_client(), app.extensions["storemon"].redis
    report_id = trigger(client)
    last = part_jobs(app, report_id)[-1]  # queued behind the one the worker is held in
    redis.delete(shards.Part.loads(redis.get(part_input_key(last.id))).stores_key)
    held.release()
    assert wait_for_csv(client, report_id, 120) == build_report(data, AS_OF)[1]
    assert lifecycle.find(data, report_id).attempts == 2


def test_a_load_committing_during_a_sharded_report_is_wholly_out(settings, app, data, workers, tmp_path):
    """One worker takes the parts one after another; a load commits while the first is held,
    so later parts start after it: they still read the data as planned."""
    (worker,) = workers(1)
    client = app.test_client()
    before = build_report(data, AS_OF)[1]
    held = Hold(data)
    report_id = trigger(client)
    planning_job(app, report_id)
    wait_for(worker.horses, 30, "a part's work horse")
    loading = threading.Thread(target=Loads(data, tmp_path / "during"),
                               kwargs={"polls": [(s, "inactive", t) for h in range(9 * 24 - 30, 9 * 24)
                                                 for s, _, t in sweep(h)]})
    loading.start()
    time.sleep(0.5)  # the load waits behind the lock too
    held.release()
    loading.join(30)
    held.close()
    assert not loading.is_alive()
    assert build_report(data, AS_OF)[1] != before
    assert wait_for_csv(client, report_id, 120) == before
    assert scalar(data, "SELECT count(*) FROM polls WHERE overridden_seq IS NOT NULL") > 0


def test_parts_come_in_multiples_of_the_workers():
    assert [shards.part_count(12, 5, w) for w in (0, 1, 2, 3, 4)] == [3, 3, 4, 3, 4]
    assert shards.part_count(136_383, 50_000, 2) == 4 and shards.part_count(50_000, 50_000, 2) == 2


def test_small_reports_and_sqlite_stay_single_jobs(settings, sqlite, pg):
    from dataclasses import replace

    assert not shards.sharded(sqlite, replace(settings, report_shard_stores=1), 10 ** 18)
    assert not shards.sharded(pg, replace(settings, report_shard_stores=0), 10 ** 18)
