"""A report's lifecycle (storemon/reports/lifecycle.py): guarded transitions, failure reasons, reconciling with RQ."""

from __future__ import annotations

import pytest
from rq.job import Job, JobStatus
from rq.worker import SimpleWorker
from sqlalchemy import text

from storemon.reports import failures, lifecycle, reconcile
from storemon.database.loader import load_directory
from storemon.config import PROJECT_ROOT

from .helpers import AS_OF, age, expected_csv, queue_of, run_jobs, trigger



def test_terminal_states_are_final(pg, redis_conn):
    lifecycle.create(pg, "r1", None)
    assert lifecycle.start(pg, "r1").status == lifecycle.RUNNING
    assert lifecycle.fail(pg, redis_conn, "r1", "lost")
    # a late worker cannot make a Failed report Complete, nor fail it again with another reason
    assert not lifecycle.complete(pg, redis_conn, "r1", 1, b"csv")
    assert not lifecycle.fail(pg, redis_conn, "r1", "other")
    assert lifecycle.start(pg, "r1").status == lifecycle.FAILED
    row = lifecycle.find(pg, "r1")
    assert (row.status, row.error, row.attempts, lifecycle.csv_of(pg, "r1")) == ("Failed", "lost", 1, None)

    lifecycle.create(pg, "r2", None)
    assert lifecycle.complete(pg, redis_conn, "r2", 7, b"csv")
    assert not lifecycle.fail(pg, redis_conn, "r2", "too late")
    assert lifecycle.start(pg, "r2").status == lifecycle.COMPLETE
    assert lifecycle.find(pg, "r2").as_of_us == 7 and lifecycle.csv_of(pg, "r2") == b"csv"


def test_a_sharded_report_completes_only_with_every_part_of_its_run(pg, redis_conn):
    """The parts' rows are its CSV, after the header, in part order; the run completing keeps
    only its own parts; a report settled meanwhile takes no more rows."""
    from storemon.core.csvout import header_of

    lifecycle.create(pg, "r", None)
    lifecycle.start(pg, "r")
    lifecycle.store_part(pg, "r", 1, 0, b"stale\n", 1)  # a run planned again later
    lifecycle.store_part(pg, "r", 2, 1, b"b,1\nc,2\n", 1)
    assert lifecycle.complete_parts(pg, redis_conn, "r", 2, 2, 7) is None  # part 0 of run 2 is missing
    assert lifecycle.find(pg, "r").status == lifecycle.RUNNING
    lifecycle.store_part(pg, "r", 2, 0, b"a,0\n", 1)
    lifecycle.store_part(pg, "r", 2, 0, b"again\n", 1)  # a part run again: the first rows stay
    assert lifecycle.complete_parts(pg, redis_conn, "r", 2, 2, 7) is True
    row = lifecycle.find(pg, "r")
    assert (row.status, row.as_of_us, row.row_count) == (lifecycle.COMPLETE, 7, 3)
    assert lifecycle.csv_of(pg, "r") == header_of(False).encode() + b"a,0\nb,1\nc,2\n"
    assert lifecycle.complete_parts(pg, redis_conn, "r", 2, 2, 7) is False  # a duplicate join
    lifecycle.store_part(pg, "r", 3, 0, b"late\n", 1)
    with pg.connect() as conn:
        assert conn.execute(text("SELECT attempt, part FROM report_parts ORDER BY part")).all() == [(2, 0), (2, 1)]

    lifecycle.create(pg, "f", None)
    lifecycle.store_part(pg, "f", 1, 0, b"x\n", 1)
    assert lifecycle.fail(pg, redis_conn, "f", "a part failed")
    assert lifecycle.complete_parts(pg, redis_conn, "f", 1, 1, 7) is False
    with pg.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM report_parts WHERE report_id = 'f'")).scalar() == 0


def test_each_start_counts_an_attempt(pg):
    lifecycle.create(pg, "r", None)
    assert [lifecycle.start(pg, "r").attempts for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize("kind,message,reason", [
    ("rq.timeouts.JobTimeoutException", "Task exceeded maximum timeout value (600 seconds)",
     "the report timed out after 600 s (REPORT_JOB_TIMEOUT)"),
    ("rq.exceptions.ShutDownImminentException", "shut down imminent", "the report was stopped by a worker shutdown"),
    ("rq.exceptions.AbandonedJobError", "", failures.WORKER_LOST),
    ("storemon.reports.jobs.DatabaseUnavailable", "the database was unreachable for 300 s (REPORT_DATABASE_WAIT): refused",
     "the database was unreachable for 300 s (REPORT_DATABASE_WAIT): refused"),
    ("builtins.ZeroDivisionError", "division by zero",
     "the report could not be computed: unexpected ZeroDivisionError; the worker log has the details"),
])
def test_failure_reasons_say_what_failed(kind, message, reason):
    assert failures.failure_reason(kind, message, 600) == reason


def test_a_report_with_no_polls_fails_at_once_without_retries(client, app):
    report_id = trigger(client)  # nothing loaded
    run_jobs(app)
    body = client.get(f"/get_report/{report_id}").get_json()
    assert body["status"] == "Failed" and body["error"].startswith("no polls are loaded yet")
    job = queue_of(app).fetch_job(report_id)
    assert job.get_status() == JobStatus.FAILED and job.retries_left == 0
    assert lifecycle.find(app.extensions["storemon"].engine, report_id).attempts == 1  # tried once, not three times


def test_a_row_never_queued_is_queued_by_the_sweep_and_completes(app, settings, pg):
    load_directory(pg, PROJECT_ROOT / "seed" / "2023-01")
    from storemon.timeparse import parse_instant

    # as if the web process died between committing the row and enqueueing its job
    lifecycle.create(pg, "orphan", parse_instant(AS_OF))
    queue = queue_of(app)
    assert reconcile.settle_stale(pg, queue, settings) == 0  # too young to call lost
    age(pg, "orphan", minutes=2)
    assert reconcile.settle_stale(pg, queue, settings) == 1
    assert queue.job_ids == ["orphan"]
    run_jobs(app)
    assert lifecycle.find(pg, "orphan").status == lifecycle.COMPLETE
    assert lifecycle.csv_of(pg, "orphan") == expected_csv(pg, AS_OF)


def test_a_job_rq_failed_without_our_callback_is_settled_with_its_reason(app, settings, pg, redis_conn):
    # e.g. a work horse killed on its last attempt: RQ records the failure, no callback runs
    lifecycle.create(pg, "dead", None)
    lifecycle.start(pg, "dead")
    job = Job.create("storemon.reports.jobs.generate_report", args=("dead",), id="dead", connection=redis_conn)
    job.save()
    with redis_conn.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job._handle_failure("Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); ", pipeline=pipe,
                            worker_name="w")
        pipe.execute()
    state = reconcile.state(pg, queue_of(app), settings, "dead")
    assert (state.status, state.row.error) == ("Failed", failures.WORKER_LOST)


def test_a_lost_job_is_not_queued_again_for_ever(app, settings, pg):
    lifecycle.create(pg, "unlucky", None)
    for _ in range(settings.report_retries + 1):
        lifecycle.start(pg, "unlucky")  # each attempt's job was lost
    age(pg, "unlucky", minutes=2)
    reconcile.settle_stale(pg, queue_of(app), settings)
    row = lifecycle.find(pg, "unlucky")
    assert row.status == "Failed" and row.error == "the report's job was lost from the queue after 3 attempts"
    assert queue_of(app).count == 0


def test_the_sweep_leaves_queued_and_running_reports_alone(client, app, settings, pg):
    waiting = trigger(client)
    age(pg, waiting, minutes=5)
    assert reconcile.settle_stale(pg, queue_of(app), settings) == 0
    assert lifecycle.find(pg, waiting).status == "Pending" and queue_of(app).job_ids == [waiting]


def test_a_settled_report_keeps_its_state_when_its_job_runs_late(client, app, settings, pg, redis_conn):
    load_directory(pg, PROJECT_ROOT / "seed" / "2023-01")
    report_id = trigger(client, query_string={"as_of": AS_OF})
    lifecycle.fail(pg, redis_conn, report_id, "settled elsewhere")
    SimpleWorker([queue_of(app)], connection=queue_of(app).connection).work(burst=True)
    body = client.get(f"/get_report/{report_id}").get_json()
    assert body == {"report_id": report_id, "status": "Failed", "error": "settled elsewhere"}
    with pg.connect() as conn:
        assert conn.execute(text("SELECT csv IS NULL FROM reports")).scalar()


def test_history_pages_newest_first_on_both_databases(engine, redis_conn):
    from storemon.reports.options import EXTENDED

    for n in range(5):
        lifecycle.create(engine, f"r{n}", None, EXTENDED)
        lifecycle.start(engine, f"r{n}")
        if n % 2:
            lifecycle.fail(engine, redis_conn, f"r{n}", "no")
        else:
            lifecycle.complete(engine, redis_conn, f"r{n}", n, b"header\nrow\n")
    first = reconcile.history(engine, None, None, limit=2)
    assert [s.row.id for s in first] == ["r4", "r3"]
    second = reconcile.history(engine, None, None, limit=2, before=first[-1].row)
    assert [s.row.id for s in second] == ["r2", "r1"]
    assert [s.row.id for s in reconcile.history(engine, None, None, status="Complete", limit=10)] == ["r4", "r2", "r0"]
    newest = lifecycle.latest_routine(engine)
    assert (newest.id, newest.row_count, newest.attempts) == ("r4", 1, 1)
    assert newest.created_at.tzinfo is not None and newest.started_at <= newest.finished_at


def test_progress_never_leaves_a_fragment_of_a_lost_job_and_a_fragment_reads_as_lost(client, app, redis_conn):
    from storemon.reports import jobs
    from storemon.reports.queue import fetch_jobs

    report_id = trigger(client)
    job = queue_of(app).fetch_job(report_id)
    progress = jobs._Progress(job)
    progress("computing report", 0.5)
    assert queue_of(app).fetch_job(report_id).get_meta(refresh=True)["progress"] == 0.5
    redis_conn.flushdb()  # Redis loses the job while its report is computing
    progress("computing report", 1.0)
    assert not redis_conn.exists(job.key)
    redis_conn.hset(job.key, "meta", b"x")  # a fragment, as a racing writer once left
    assert fetch_jobs(queue_of(app), [report_id]) == [None]
    age(app.extensions["storemon"].engine, report_id, minutes=2)
    assert reconcile.state(app.extensions["storemon"].engine, queue_of(app), app.extensions["storemon"].settings,
                         report_id).status == "Pending"
    assert queue_of(app).job_ids == [report_id]  # queued again, the fragment cleared


def test_a_job_an_older_version_queued_on_the_shared_queue_is_moved_to_its_database(client, app, seeded, settings):
    """Before 0011 every database's jobs went on RQ_QUEUE itself, which no worker reads now:
    a report waiting there is moved to its database's queue when it is next looked at."""
    from rq import Queue

    report_id = trigger(client)
    queue = queue_of(app)
    job = queue.fetch_job(report_id)
    queue.remove(job)
    legacy = Queue(settings.queue_prefix, connection=queue.connection)
    legacy.enqueue_job(job)  # where a web process of the older version put it
    assert (queue.count, legacy.job_ids) == (0, [report_id])
    assert client.get(f"/get_report/{report_id}").get_json()["status"] == "Pending"
    assert (queue.job_ids, legacy.count) == ([report_id], 0)
    run_jobs(app)
    assert client.get(f"/get_report/{report_id}").headers["X-Report-Status"] == "Complete"
