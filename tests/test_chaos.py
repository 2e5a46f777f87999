"""The standing chaos suite: faults in PostgreSQL, Redis and the workers, on instances of the test's own.

Each test asserts what the README promises: no report lost, none stuck, none falsely
Failed, no 500, no hang past its timeout. Slow (RQ notices a dead worker a minute after
its last heartbeat; an outage lasts as long as it lasts), but CI runs them all.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field, replace

import pytest
from sqlalchemy import text

from storemon.reports import lifecycle
from storemon.web.app import create_app
from storemon.config import PROJECT_ROOT, load_settings
from storemon.database.engines import make_engine, upgrade
from storemon.database.loader import load_directory
from storemon.reports.build import build_report
from storemon.timeparse import format_instant, parse_instant

from .services import OwnPostgres, OwnRedis, WorkerProcess, wait_for

pytestmark = pytest.mark.slow

AS_OF = "2023-01-25T12:00:00Z"


@dataclass
class Stack:
    """Own PostgreSQL and Redis with the seed data loaded, an app on them, and workers to start."""

    postgres: OwnPostgres
    redis: OwnRedis
    env: dict
    engine: object
    app: object
    logs: object
    workers: list = field(default_factory=list)
    as_of_of: dict = field(default_factory=dict)  # report id -> the as_of it asked for
    _expected: dict = field(default_factory=dict)

    @property
    def client(self):
        return self.app.test_client()

    def worker(self) -> WorkerProcess:
        """A worker process, once it has checked the database and listens on the queue."""
        started = WorkerProcess(self.env, self.logs / f"worker-{len(self.workers)}.log")
        self.workers.append(started)
        wait_for(lambda: "Listening on" in started.output() or not started.alive(), 60, "the worker to start")
        assert started.alive(), started.output()
        return started

    def trigger(self) -> str:
        """A new report, as of a minute before the previous one's: identical requests would be
        coalesced onto one queued report, and these tests want backlogs of many."""
        as_of = format_instant(parse_instant(AS_OF) - len(self.as_of_of) * 60_000_000)
        response = self.client.post("/trigger_report", query_string={"as_of": as_of})
        assert response.status_code == 202, response.get_data(as_text=True)
        report_id = response.get_json()["report_id"]
        self.as_of_of[report_id] = as_of
        return report_id

    def status(self, report_id: str) -> str:
        response = self.client.get(f"/get_report/{report_id}")
        assert response.status_code in (200, 202, 503), response.get_data(as_text=True)  # never a 500
        if response.status_code == 503:
            return "Unavailable"
        return "Complete" if response.mimetype == "text/csv" else response.get_json()["status"]

    def wait_until_settled(self, report_ids: list[str], timeout_s: float, never_failed: bool = True) -> None:
        """Poll every report until all are Complete; a Failed one (if ``never_failed``) fails the test."""
        def settled():
            states = {r: self.status(r) for r in report_ids}
            if never_failed:
                failed = {r: lifecycle.find(self.engine, r).error for r, s in states.items() if s == "Failed"}
                assert not failed, f"reports falsely Failed: {failed}\n{self.worker_output()}"
            return all(s == "Complete" for s in states.values())
        try:
            wait_for(settled, timeout_s, "every report to complete", every_s=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.worker_output()}") from None

    def worker_output(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.output()[-4000:]}" for w in self.workers)

    def expected(self, report_id: str | None = None) -> bytes:
        """The CSV a report (by default, one as of AS_OF) must hold."""
        as_of = self.as_of_of.get(report_id, AS_OF)
        if as_of not in self._expected:
            self._expected[as_of] = build_report(self.engine, parse_instant(as_of))[1]
        return self._expected[as_of]

    def csv(self, report_id: str) -> bytes:
        return self.client.get(f"/get_report/{report_id}").data

    def running(self, report_id: str) -> bool:
        return self.status(report_id) == "Running"

    def report_in_progress(self) -> tuple[WorkerProcess, str]:
        """A worker, and a report it has started (and that ``held`` keeps running): its row
        says Running with its first attempt counted. (RQ says "started" a moment before the
        work horse has counted the attempt: a kill in that moment left attempts one short,
        which failed the attempts check of test_a_killed_worker_loses_no_report now and then.)"""
        worker = self.worker()
        report_id = self.trigger()

        def started() -> bool:
            row = lifecycle.find(self.engine, report_id)
            return row is not None and row.status == "Running" and row.attempts >= 1

        wait_for(started, 60, "the report to start")
        return worker, report_id


@pytest.fixture
def stack(tmp_path):
    postgres, redis = OwnPostgres(), OwnRedis()
    app = engine = None
    try:
        postgres.start()
        postgres.create_database()
        redis.start()
        # no trigger rate limit: these tests make backlogs on purpose
        env = {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url, "RQ_QUEUE": "chaos", "LOG_LEVEL": "INFO",
               "REPORT_DATABASE_WAIT": "120", "TRIGGER_RATE_LIMIT": "", "METRICS_TOKEN": "scraper"}
        settings = load_settings(env)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        load_directory(engine, PROJECT_ROOT / "seed" / "2023-01")
        app = create_app(settings)
        built = Stack(postgres, redis, env, engine, app, tmp_path)
        yield built
        for worker in built.workers:
            worker.stop()
    finally:
        if app is not None:
            app.extensions["storemon"].close()
        if engine is not None:
            engine.dispose()
        redis.remove()
        postgres.remove()


@pytest.fixture
def held(stack):
    """Hold reports Running: a lock on the polls table keeps their read waiting until released."""
    conn = stack.engine.connect()
    conn.execute(text("LOCK TABLE poll_days IN ACCESS EXCLUSIVE MODE"))

    class Hold:
        @staticmethod
        def release():
            if conn.in_transaction():
                conn.rollback()

    yield Hold
    Hold.release()
    conn.close()


def test_a_database_outage_with_a_backlog_loses_nothing(stack):
    worker = stack.worker()
    ids = [stack.trigger() for _ in range(30)]
    stack.postgres.stop()
    time.sleep(5)
    # meanwhile the API says the database is down, clearly, and nothing is lost
    assert stack.client.post("/trigger_report").status_code == 503
    assert stack.client.get(f"/get_report/{ids[0]}").status_code == 503
    stack.postgres.start()
    stack.wait_until_settled(ids, 180)
    assert all(stack.csv(r) == stack.expected(r) for r in ids)
    assert {lifecycle.find(stack.engine, r).attempts for r in ids} == {1}  # waited out, not run again
    assert worker.alive()


def test_postgres_restarted_under_a_running_report_and_a_backlog(stack, held):
    worker = stack.worker()
    ids = [stack.trigger() for _ in range(10)]
    wait_for(lambda: stack.running(ids[0]), 60, "the first report to start")
    held.release()
    stack.postgres.stop()  # fast shutdown: every connection, the running job's too, is cut
    stack.postgres.start()
    stack.wait_until_settled(ids, 180)
    assert all(stack.csv(r) == stack.expected(r) for r in ids) and worker.alive()


def test_the_worker_rides_out_a_redis_outage_of_over_a_minute(stack, held):
    worker, first = stack.report_in_progress()
    stack.redis.stop()
    time.sleep(3)
    held.release()  # the report finishes while Redis is down: its row is what counts
    wait_for(lambda: lifecycle.find(stack.engine, first).status == "Complete", 60, "the report to complete")
    time.sleep(62)
    assert worker.alive(), worker.output()
    assert stack.status(first) == "Complete"  # served from the database, with Redis still down
    stack.redis.start()
    second = stack.trigger()
    stack.wait_until_settled([first, second], 120)
    assert stack.csv(first) == stack.expected(first) and stack.csv(second) == stack.expected(second)
    assert worker.alive()
    assert len(stack.workers) == 1  # the same process did both


@pytest.mark.parametrize("restart", ["restarted", "flushed"])
def test_an_idle_worker_is_listed_again_soon_after_redis_comes_back_empty(stack, restart):
    """Redis restarted empty (or flushed) while the worker waits for work: the worker lists
    itself again within 15 s, where the dashboard and the metrics look, and still works."""
    import re

    from rq import Worker

    worker = stack.worker()
    queue = stack.app.extensions["storemon"].queue
    # (a worker starting forks RQ's scheduler and warms up: under the full suite's load, over 10 s once)
    wait_for(lambda: [w.get_state() for w in Worker.all(queue=queue)] == ["idle"], 30, "the worker to wait for work")
    time.sleep(1)  # (then into its blocking dequeue)
    if restart == "restarted":
        stack.redis.stop()
        stack.redis.start()
    else:
        stack.redis.flushall()
    wait_for(lambda: Worker.count(queue=queue) == 1, 15, "the worker to be listed again")
    assert "registration was gone from Redis" in worker.output()
    scraped = stack.client.get("/metrics", headers={"Authorization": "Bearer scraper"}).get_data(as_text=True)
    assert re.search(r"^storemon_workers 1\.0$", scraped, re.M), scraped
    report_id = stack.trigger()
    stack.wait_until_settled([report_id], 60)
    assert worker.alive() and len(stack.workers) == 1


@pytest.mark.parametrize("outage_s", [2, 7, 12])
def test_a_short_redis_blip_mid_report_neither_kills_the_worker_nor_fails_the_report(stack, held, outage_s):
    worker, report_id = stack.report_in_progress()
    stack.redis.stop()
    held.release()
    time.sleep(outage_s)
    stack.redis.start()
    later = stack.trigger()
    stack.wait_until_settled([report_id, later], 120)
    assert worker.alive(), worker.output()


def test_a_frozen_redis_mid_report(stack, held):
    worker, report_id = stack.report_in_progress()
    stack.redis.freeze()
    held.release()
    started = time.monotonic()
    assert stack.status(report_id) == "Unavailable"  # a clear 503 within the client's timeout, not a hang
    assert time.monotonic() - started < 5
    health = stack.client.get("/health")
    assert health.status_code == 503 and health.get_json()["redis"].startswith("no answer within")
    wait_for(lambda: lifecycle.find(stack.engine, report_id).status == "Complete", 60, "the report to complete")
    time.sleep(5)
    stack.redis.thaw()
    later = stack.trigger()
    stack.wait_until_settled([report_id, later], 120)
    assert worker.alive()


def test_redis_flushed_mid_report_never_turns_a_failed_report_complete(stack, held):
    worker, report_id = stack.report_in_progress()
    stack.redis.flushall()
    with stack.engine.begin() as conn:  # long enough ago that the job counts as lost from Redis
        conn.execute(text("UPDATE reports SET created_at = created_at - interval '2 minutes'"))
    seen = {stack.status(report_id) for _ in range(5)}  # lost: queued again, not Failed
    assert seen <= {"Pending", "Running"}
    held.release()
    stack.wait_until_settled([report_id], 120)
    assert stack.csv(report_id) == stack.expected(report_id)
    assert worker.alive()


def test_a_worker_settles_a_report_nobody_asks_about(stack):
    # committed, then the web process died before enqueueing; no client ever polls it
    lifecycle.create(stack.engine, "orphan", parse_instant(AS_OF))
    with stack.engine.begin() as conn:
        conn.execute(text("UPDATE reports SET created_at = created_at - interval '2 minutes'"))
    stack.worker()  # its first maintenance round queues the report again, and it runs it
    wait_for(lambda: lifecycle.find(stack.engine, "orphan").status == "Complete", 60, "the report to complete")
    assert lifecycle.csv_of(stack.engine, "orphan") == stack.expected()


def test_a_frozen_postgres_makes_requests_answer_503_in_seconds_not_hang(stack):
    report_id = stack.trigger()
    client = stack.client
    assert client.get("/health").status_code == 200  # the pool holds live connections
    stack.postgres.freeze()
    try:
        started = time.monotonic()
        health = client.get("/health")
        assert time.monotonic() - started <= 2.0
        assert health.status_code == 503 and health.get_json()["database"] == "no answer within 1.5 s"
        for call in (lambda: client.post("/trigger_report"), lambda: client.get(f"/get_report/{report_id}")):
            started = time.monotonic()
            response = call()
            assert time.monotonic() - started < 10
            assert response.status_code == 503
            assert response.get_json()["error"] == "the database is unavailable; try again shortly"
    finally:
        stack.postgres.thaw()
    assert wait_for(lambda: client.get("/health").status_code == 200, 30, "health to recover")
    stack.worker()
    stack.wait_until_settled([report_id], 120)


def test_a_report_survives_postgres_frozen_under_it(stack, held):
    worker, report_id = stack.report_in_progress()
    stack.postgres.freeze()
    time.sleep(8)
    stack.postgres.thaw()
    held.release()
    stack.wait_until_settled([report_id], 120)
    assert worker.alive()


@pytest.mark.parametrize("victim", ["horse", "parent", "both"])
def test_a_killed_worker_loses_no_report(stack, held, victim):
    worker, report_id = stack.report_in_progress()
    horses = wait_for(worker.horses, 10, "the work horse")
    if victim in ("horse", "both"):
        for pid in horses:
            os_kill(pid, signal.SIGKILL)
    if victim in ("parent", "both"):
        worker.kill(signal.SIGKILL)
    held.release()
    if victim != "horse":
        stack.worker()  # a platform restarts a dead worker; RQ hands it the abandoned job
    # RQ notices a dead worker about a minute after its last heartbeat, then runs its job again
    stack.wait_until_settled([report_id], 200)
    assert stack.csv(report_id) == stack.expected(report_id)
    assert lifecycle.find(stack.engine, report_id).attempts >= (2 if victim != "parent" else 1)


def test_a_worker_stopped_mid_report_hands_the_report_on(stack, held):
    worker, report_id = stack.report_in_progress()
    worker.kill(signal.SIGTERM)  # a platform restart: HerokuWorker gives the job 6 s, then stops it
    worker.process.wait(timeout=60)
    assert stack.status(report_id) in ("Pending", "Running")  # queued again, not Failed
    held.release()
    stack.worker()
    stack.wait_until_settled([report_id], 120)
    assert stack.csv(report_id) == stack.expected(report_id)


def test_a_worker_started_against_an_empty_database_says_so_in_one_line(stack, tmp_path):
    env = {**stack.env, "DATABASE_URL": stack.postgres.url.rsplit("/", 1)[0] + "/postgres"}
    worker = WorkerProcess(env, tmp_path / "empty.log")
    assert worker.process.wait(timeout=60) == 1
    worker.stop()
    assert worker.output().strip() == "the database has no storemon schema; run `python -m storemon init-db`"
    env = {**stack.env, "DATABASE_URL": "postgresql://root@127.0.0.1:1/storemon"}
    worker = WorkerProcess(env, tmp_path / "unreachable.log")
    assert worker.process.wait(timeout=60) == 1
    worker.stop()
    lines = worker.output().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("the database at postgresql+psycopg://root@127.0.0.1:1/storemon"
                                                   " is unreachable: ")


def test_a_failed_report_says_what_failed(stack):
    short = create_app(replace(stack.app.extensions["storemon"].settings, report_job_timeout=2))
    env = {**stack.env, "REPORT_JOB_TIMEOUT": "2", "REPORT_DATABASE_WAIT": "1"}
    conn = stack.engine.connect()
    conn.execute(text("LOCK TABLE poll_days IN ACCESS EXCLUSIVE MODE"))
    try:
        report_id = short.test_client().post("/trigger_report").get_json()["report_id"]
        stack.workers.append(WorkerProcess(env, stack.logs / "short.log"))
        wait_for(lambda: stack.status(report_id) == "Failed", 60, "the report to time out")
    finally:
        conn.rollback()
        conn.close()
        short.extensions["storemon"].close()
    assert stack.client.get(f"/get_report/{report_id}").get_json()["error"] == \
        "the report timed out after 2 s (REPORT_JOB_TIMEOUT)"


def os_kill(pid: int, signum) -> None:
    import os

    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def test_concurrent_gets_during_a_database_outage_never_500(stack):
    ids = [stack.trigger() for _ in range(3)]
    stack.postgres.stop()
    codes = []

    def hammer():
        client = stack.client
        for _ in range(10):
            codes.append(client.get(f"/get_report/{ids[0]}").status_code)
            codes.append(client.post("/trigger_report").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stack.postgres.start()
    assert set(codes) == {503}
    stack.worker()
    stack.wait_until_settled(ids, 120)


def test_rate_limits_let_calls_through_while_redis_is_down(stack):
    stack.redis.stop()
    client = stack.client
    # calls that need only the database are answered, not refused or 500
    assert client.get("/reports").status_code == 200
    assert client.get("/reports/latest").status_code == 404
    assert client.post("/trigger_report").status_code == 503  # the queue itself is down: said so
    stack.redis.start()
    report_id = stack.trigger()
    assert stack.client.get(f"/get_report/{report_id}").status_code == 202
