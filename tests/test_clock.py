"""The clock process: its schedules reach RQ once, however many clocks run; its jobs do their work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from rq.job import Job

from storemon.reports import lifecycle
from storemon.config import PROJECT_ROOT
from storemon.database.loader import load_directory

from .services import wait_for
from .test_api import queue_of, run_jobs


def clock(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-m", "storemon", "clock"], cwd=PROJECT_ROOT,
                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)


def settle_jobs(queue) -> int:
    return sum(1 for job in Job.fetch_many(queue.job_ids, connection=queue.connection)
               if job is not None and job.func_name == "storemon.reports.jobs.settle")


def test_two_clocks_enqueue_each_schedule_once_and_the_second_takes_over(app, settings, tmp_path):
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "RQ_QUEUE": settings.queue_name,
           "SETTLE_EVERY": "2", "REPORT_SCHEDULE": "", "RETENTION_SCHEDULE": ""}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    outputs = [open(log, "wb") for log in logs]
    clocks = [clock(env, out) for out in outputs]
    queue = queue_of(app)
    try:
        wait_for(lambda: settle_jobs(queue) >= 4, 30, "four settle jobs")
        # one clock enqueues every 2 s; two would enqueue twice as many
        holders = [i for i, log in enumerate(logs) if "holds the lease" in log.read_text()]
        assert len(holders) == 1, [log.read_text() for log in logs]
        assert settle_jobs(queue) <= 5
        first = holders[0]
        clocks[first].send_signal(signal.SIGTERM)
        assert clocks[first].wait(timeout=30) == 0
        other = 1 - first
        wait_for(lambda: "holds the lease" in logs[other].read_text(), 30, "the other clock to take over")
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
    made = lifecycle.latest_complete(pg)
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
