"""The clock process: its schedules reach RQ once, however many clocks run; its jobs do their work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from datetime import UTC

from rq.job import Job

from storemon.database.engines import database_id
from storemon.reports import lifecycle
from storemon.reports.clock import schedule_name
from storemon.config import PROJECT_ROOT
from storemon.database.loader import load_directory

from .services import wait_for

from .helpers import queue_of, run_jobs


def clock(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-m", "storemon", "clock"], cwd=PROJECT_ROOT,
                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)


def settle_jobs(queue) -> int:
    return sum(1 for job in Job.fetch_many(queue.job_ids, connection=queue.connection)
               if job is not None and job.func_name == "storemon.reports.jobs.settle")


def test_two_clocks_enqueue_each_schedule_once_and_the_second_takes_over(app, settings, tmp_path):
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "RQ_QUEUE": settings.queue_prefix,
           "SETTLE_EVERY": "1", "REPORT_SCHEDULE": "", "RETENTION_SCHEDULE": ""}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    outputs = [open(log, "wb") for log in logs]
    clocks = [clock(env, out) for out in outputs]
    queue = queue_of(app)
    try:
        wait_for(lambda: settle_jobs(queue) >= 4, 30, "four settle jobs")
        # one clock enqueues every second; two would enqueue twice as many (eight by now)
        holders = [i for i, log in enumerate(logs) if "this clock holds the lease" in log.read_text()]
        assert len(holders) == 1, [log.read_text() for log in logs]
        assert settle_jobs(queue) <= 5
        first = holders[0]
        # the waiting one says so, naming the holder's process
        wait_for(lambda: f"pid {clocks[first].pid}); this one" in logs[1 - first].read_text(), 10,
                 "the second clock to say whom it waits for")
        clocks[first].send_signal(signal.SIGTERM)
        assert clocks[first].wait(timeout=30) == 0
        other = 1 - first
        wait_for(lambda: "this clock holds the lease" in logs[other].read_text(), 30, "the other clock to take over")
        before = settle_jobs(queue)
        wait_for(lambda: settle_jobs(queue) > before, 30, "the other clock to enqueue")
    finally:
        for c in clocks:
            if c.poll() is None:
                c.kill()
                c.wait(timeout=30)
        for out in outputs:
            out.close()


def test_the_scheduled_report_and_settle_jobs_do_their_work(app, settings, pg):
    load_directory(pg, PROJECT_ROOT / "seed" / "2023-01")
    queue = queue_of(app)
    queue.enqueue("storemon.reports.jobs.scheduled_report")
    run_jobs(app)  # the scheduled job queues the report; the same burst runs it
    made = lifecycle.latest_routine(pg)
    assert made is not None and made.requested_as_of_us is None and made.row_count == 3966
    lifecycle.create(pg, "orphan", None)
    with pg.begin() as conn:
        conn.exec_driver_sql("UPDATE reports SET created_at = created_at - interval '2 minutes' WHERE id = 'orphan'")
    queue.enqueue("storemon.reports.jobs.settle")
    run_jobs(app)
    assert lifecycle.find(pg, "orphan").status == "Complete"


def test_a_bad_schedule_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "storemon", "clock"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "REPORT_SCHEDULE": "every hour"})
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: bad setting: REPORT_SCHEDULE must be a five-field cron expression "
                                   "such as '5 * * * *', or empty, got 'every hour'")


def test_each_database_has_a_clock_of_its_own(settings, tmp_path):
    """The lease is the database's: a clock for a demo database beside production's both run."""
    from storemon.database.engines import make_engine, upgrade

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(make_engine(other_url))
    env = {"REDIS_URL": settings.redis_url, "RQ_QUEUE": settings.queue_prefix, "SETTLE_EVERY": "3600",
           "REPORT_SCHEDULE": "", "RETENTION_SCHEDULE": ""}
    logs = [tmp_path / "production.log", tmp_path / "demo.log"]
    outputs = [open(log, "wb") for log in logs]
    clocks = [clock({**env, "DATABASE_URL": url}, out) for url, out in zip((settings.database_url, other_url), outputs)]
    try:
        for log in logs:
            wait_for(lambda log=log: "this clock holds the lease" in log.read_text(), 30, f"the lease in {log.name}")
    finally:
        for c in clocks:
            c.send_signal(signal.SIGTERM)
            c.wait(timeout=30)
        for out in outputs:
            out.close()


def test_a_clock_on_a_database_without_the_schema_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "storemon", "clock"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "LOG_LEVEL": "ERROR"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == ("the database has no storemon schema; "
                                                    "run `python -m storemon init-db`")


def scheduled_reports(queue) -> int:
    return sum(1 for job in Job.fetch_many(queue.job_ids, connection=queue.connection)
               if job is not None and job.func_name == "storemon.reports.jobs.scheduled_report")


def test_a_clock_taking_over_makes_up_a_run_missed_meanwhile_once(app, settings, tmp_path):
    """The hourly report's latest run fell due while no clock held the lease (its last run,
    in RQ's history of the schedule, is from before): the clock that takes the lease runs it
    at once; the next clock to take over finds it ran and runs nothing more."""
    from datetime import datetime, timedelta

    from rq.cron import get_cron_job_history_key

    queue = queue_of(app)
    due = datetime.now(UTC).replace(minute=5, second=0, microsecond=0)
    if due > datetime.now(UTC):
        due -= timedelta(hours=1)
    history = get_cron_job_history_key(schedule_name("hourly report", database_id(app.extensions["storemon"].engine)))
    queue.connection.zadd(history, {"an-earlier-run": (due - timedelta(hours=1)).timestamp() + 0.5})
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "RQ_QUEUE": settings.queue_prefix,
           "REPORT_SCHEDULE": "5 * * * *", "RETENTION_SCHEDULE": "", "SETTLE_EVERY": "3600"}
    for turn in range(2):  # a clock, then the one that takes over from it
        with open(tmp_path / f"clock-{turn}.log", "wb") as out:
            process = clock(env, out)
            try:
                log = tmp_path / f"clock-{turn}.log"
                wait_for(lambda log=log: "this clock holds the lease" in log.read_text(), 30, "the lease")
                wait_for(lambda turn=turn: settle_jobs(queue) >= 1 + turn, 30, "the clock's first round")
            finally:
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0
        assert scheduled_reports(queue) == 1, (tmp_path / f"clock-{turn}.log").read_text()
    assert "due at " + due.strftime("%Y-%m-%d %H:%M UTC") + " did not run" in (tmp_path / "clock-0.log").read_text()


def test_a_schedule_that_ran_on_time_or_never_ran_is_not_made_up(app, settings):
    from datetime import datetime

    from rq.cron import get_cron_job_history_key

    from storemon.reports.clock import build_scheduler

    redis = app.extensions["storemon"].redis
    database = database_id(app.extensions["storemon"].engine)
    scheduler = build_scheduler(settings, redis, lease=None, database=database)
    assert scheduler.make_up_missed() == []  # no history: nothing was missed
    redis.zadd(get_cron_job_history_key(schedule_name("hourly report", database)), {"on-time": datetime.now(UTC).timestamp()})
    assert scheduler.make_up_missed() == []
