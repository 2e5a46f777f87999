"""The HTTP API end to end: Flask -> RQ in real Redis -> a real worker -> PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq.worker import SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import text

from storemon.reports import lifecycle
from storemon.config import PROJECT_ROOT
from storemon.timeparse import format_instant

from .helpers import AS_OF, age, expected_csv, latest_poll, queue_of, run_jobs, trigger


@contextlib.contextmanager
def forking_worker(app):
    """worker.py's own worker (forking a work horse per job), its Redis connections closed after:
    a worker is freed by the cycle collector, and a socket it leaves open would warn in
    whichever collection comes next (another worker's maintenance round, in another test)."""
    import worker

    built = worker.build_worker(app.extensions["storemon"].settings)
    try:
        yield built
    finally:
        built.connection.close()


def test_trigger_poll_and_download_match_the_cli(client, app, seeded):
    report_id = trigger(client, query_string={"as_of": AS_OF})
    pending = client.get(f"/get_report/{report_id}")
    assert pending.status_code == 202
    assert pending.get_json() == {"report_id": report_id, "status": "Pending", "progress": 0.0}
    run_jobs(app)
    done = client.get(f"/get_report?report_id={report_id}")
    assert done.status_code == 200
    assert done.mimetype == "text/csv"
    assert done.headers["X-Report-Status"] == "Complete"
    assert done.headers["X-Report-As-Of"] == "2023-01-25T12:00:00Z"
    assert done.headers["Content-Disposition"] == f"attachment; filename=report-{report_id}.csv"
    env = {**os.environ, "DATABASE_URL": seeded.url.render_as_string(hide_password=False)}
    cli = subprocess.run([sys.executable, "-m", "storemon", "report", "--as-of", AS_OF], cwd=PROJECT_ROOT,
                         env=env, capture_output=True, check=True, timeout=120)
    assert done.data == cli.stdout
    assert client.get(f"/get_report/{report_id}").data == cli.stdout  # both URL forms, again


def test_as_of_in_a_json_body_and_the_default_latest_poll(client, app, seeded):
    from_body = trigger(client, json={"as_of": AS_OF})
    default = trigger(client)
    run_jobs(app)
    assert client.get(f"/get_report/{from_body}").data == expected_csv(seeded, AS_OF)
    latest = client.get(f"/get_report/{default}")
    assert latest.data == expected_csv(seeded)
    assert latest.headers["X-Report-As-Of"] == "2023-01-25T18:11:39.622234Z"  # the newest poll in seed/2023-01


def test_progress_rises_to_one(client, app, seeded, monkeypatch):
    """Each progress write, read back from the job in Redis: it rises through values between 0
    and 1 (the report's pieces) and ends at 1."""
    from storemon.reports import jobs

    monkeypatch.setattr(jobs, "_PROGRESS_EVERY_S", 0.0)  # every step written, not one each 0.2 s
    monkeypatch.setattr("storemon.reports.build.PIECE_STORES", 500)  # (the seed's stores in several pieces)
    written, write = [], jobs._Progress.__call__

    def recorded(progress, step, fraction):
        write(progress, step, fraction)
        written.append(queue_of(app).fetch_job(progress.job.id).get_meta(refresh=True).get("progress"))

    monkeypatch.setattr(jobs._Progress, "__call__", recorded)
    report_id = trigger(client)
    run_jobs(app)
    assert written == sorted(written) and written[-1] == 1.0, written
    assert len([v for v in written if 0 < v < 1]) >= 3, written
    assert queue_of(app).fetch_job(report_id).get_meta(refresh=True)["progress"] == 1.0


def test_a_failing_job_reads_failed_as_json_and_lands_in_the_failed_registry(client, app):
    report_id = trigger(client)  # nothing is loaded: the job raises
    run_jobs(app)
    response = client.get(f"/get_report/{report_id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "Failed"
    assert body["error"].startswith("no polls are loaded yet")
    assert "Traceback" not in response.get_data(as_text=True)
    assert report_id in FailedJobRegistry(queue=queue_of(app)).get_job_ids()


def test_a_report_outlives_redis_and_its_rq_result(client, app, seeded, redis_conn):
    report_id = trigger(client, query_string={"as_of": AS_OF})
    run_jobs(app)
    before = client.get(f"/get_report/{report_id}").data
    redis_conn.flushdb()
    after = client.get(f"/get_report/{report_id}")
    assert after.status_code == 200 and after.data == before == expected_csv(seeded, AS_OF)


def test_a_job_lost_from_redis_is_queued_again_and_completes(client, app, seeded, redis_conn):
    report_id = trigger(client, query_string={"as_of": AS_OF})
    redis_conn.flushdb()  # the queued job vanishes
    assert client.get(f"/get_report/{report_id}").get_json()["status"] == "Pending"  # within the enqueue grace
    assert queue_of(app).count == 0
    age(seeded, report_id, minutes=1)
    assert client.get(f"/get_report/{report_id}").get_json()["status"] == "Pending"  # and now queued again
    assert queue_of(app).count == 1
    run_jobs(app)
    assert client.get(f"/get_report/{report_id}").data == expected_csv(seeded, AS_OF)


def test_a_worker_defers_its_maintenance_while_jobs_wait(app, seeded):
    """Its round (registries, the collector, the sweep) runs between jobs only when none wait,
    so it does not land between the parts of a report; overdue enough, it runs anyway."""
    from datetime import UTC, datetime, timedelta

    import worker

    with forking_worker(app) as busy:
        assert busy.should_run_maintenance_tasks  # never run yet
        busy.last_cleaned_at = datetime.now(UTC) - timedelta(seconds=worker.MAINTENANCE_INTERVAL + 1)
        assert busy.should_run_maintenance_tasks  # due, and the queue is empty
        report_id = trigger(app.test_client())
        assert not busy.should_run_maintenance_tasks  # due, but a job waits
        busy.last_cleaned_at = datetime.now(UTC) - timedelta(seconds=worker.MAINTENANCE_DEFERRED_S + 1)
        assert busy.should_run_maintenance_tasks  # deferred long enough
        busy.last_cleaned_at = datetime.now(UTC)
        assert not busy.should_run_maintenance_tasks  # not due
        assert busy.work(burst=True)
    assert app.test_client().get(f"/get_report/{report_id}").status_code == 200


def test_twenty_concurrent_triggers_complete_through_the_forking_worker(app, seeded):
    as_ofs = ["2023-01-25T12:00:00Z", "2023-01-24T06:30:00Z", None, "2023-01-25T18:00:00.5+00:00"]

    def one(i):
        as_of = as_ofs[i % len(as_ofs)]
        client = app.test_client()
        return trigger(client, json={"as_of": as_of} if as_of else None), as_of

    with ThreadPoolExecutor(max_workers=20) as pool:
        triggered = list(pool.map(one, range(20)))
    # Identical requests may be coalesced onto one queued report, never different ones.
    as_of_of = dict(triggered)
    assert len(as_of_of) >= len(as_ofs) and all(as_of_of[r] == a for r, a in triggered)
    # worker.py's own builder, forking a work horse per job
    with forking_worker(app) as built:
        assert built.work(burst=True)
    client = app.test_client()
    expected = {a: expected_csv(seeded, a) for a in as_ofs}
    for report_id, as_of in triggered:
        response = client.get(f"/get_report/{report_id}")
        assert response.status_code == 200
        assert response.data == expected[as_of]


def test_an_identical_trigger_while_one_is_queued_gets_the_same_report(app, seeded):
    client = app.test_client()
    first = client.post("/trigger_report", query_string={"as_of": AS_OF})
    again = client.post("/trigger_report", json={"as_of": AS_OF})
    other = client.post("/trigger_report", query_string={"as_of": "2023-01-24T06:30:00Z"})
    latest, latest_again = client.post("/trigger_report"), client.post("/trigger_report")
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.get_json() == first.get_json() and again.headers["X-Report-Coalesced"] == "true"
    assert "X-Report-Coalesced" not in first.headers
    assert other.get_json() != first.get_json()
    assert latest_again.get_json() == latest.get_json() != first.get_json()
    with app.extensions["storemon"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar() == 3
    # Once a worker has taken it (Running or done), the same request is a new report.
    run_jobs(app)
    later = client.post("/trigger_report", query_string={"as_of": AS_OF})
    assert later.get_json() != first.get_json() and "X-Report-Coalesced" not in later.headers
    assert client.get(f"/get_report/{first.get_json()['report_id']}").data == expected_csv(seeded, AS_OF)


@pytest.mark.parametrize("kw,message", [
    ({"query_string": {"as_of": "yesterday"}}, "bad as_of: not an ISO 8601 timestamp: 'yesterday'"),
    ({"json": {"as_of": "2023-13-01T00:00:00Z"}}, "bad as_of: not an ISO 8601 timestamp: '2023-13-01T00:00:00Z'"),
    ({"json": {"as_of": 1674648000}}, "as_of must be a string holding an ISO 8601 instant"),
    ({"json": {"as_of": "0001-01-01T00:00:00Z"}}, "bad as_of: as_of '0001-01-01T00:00:00Z' is outside the years 1971 to 9998"),
    ({"json": {"asof": AS_OF}}, "unknown field(s) in the request body: asof; accepted: as_of, columns, group"),
    ({"data": "{not json", "content_type": "application/json"}, "the request body is not valid JSON"),
    ({"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"}, "the request body is not valid JSON"),
    ({"data": b"\xff\xfe{}", "content_type": "application/json"}, "the request body is not valid JSON"),
    ({"query_string": [("as_of", AS_OF), ("as_of", AS_OF)]}, "as_of is given more than once"),
    ({"json": ["as_of"]}, "the request body must be a JSON object"),
    ({"json": {"as_of": AS_OF}, "query_string": {"as_of": "2023-01-01T00:00:00Z"}}, "as_of is given twice"),
])
def test_bad_trigger_input_is_a_400_naming_the_problem_and_writes_nothing(client, app, kw, message):
    response = client.post("/trigger_report", **kw)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
    with app.extensions["storemon"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar() == 0
    assert queue_of(app).count == 0


def test_error_codes_of_the_contract(client):
    assert client.get("/get_report/nope").status_code == 404
    assert client.get("/get_report/nope").get_json() == {"error": "unknown report id 'nope'", "status": 404}
    long = client.get("/get_report/" + "x" * 300)
    assert long.status_code == 404 and long.get_json()["error"] == f"unknown report id '{'x' * 64}...'"
    assert client.get("/get_report").get_json()["error"].startswith("report_id is required")
    assert client.get("/get_report").status_code == 400
    wrong = client.get("/trigger_report")
    assert wrong.status_code == 405 and wrong.is_json and "POST" in wrong.headers["Allow"]
    assert client.post("/get_report/abc").status_code == 405
    assert client.get("/nowhere").get_json()["status"] == 404


def test_an_oversized_body_is_a_413(client):
    response = client.post("/trigger_report", data=b"{" + b" " * (2 << 20) + b"}", content_type="application/json")
    assert response.status_code == 413 and response.is_json


def test_an_unreachable_queue_is_a_503_and_the_report_is_marked_failed(make_app, pg):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    response = app.test_client().post("/trigger_report")
    assert response.status_code == 503
    assert response.get_json()["error"] == "the report queue (Redis) is unavailable; try again shortly"
    with pg.connect() as conn:
        assert conn.execute(text("SELECT status, error FROM reports")).all() == [
            ("Failed", "the report could not be queued: Redis was unavailable")]
    health = app.test_client().get("/health")
    assert health.status_code == 503 and health.get_json()["redis"].startswith("unreachable")


def test_health_reports_database_redis_and_queue_depth(client):
    trigger(client)
    trigger(client, query_string={"as_of": AS_OF})
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok", "queue_depth": 2}


def test_the_dashboard_needs_its_credentials(client, settings):
    assert client.get("/rq/").status_code == 401
    assert client.get("/rq/", auth=("ops", "wrong")).status_code == 401
    ok = client.get("/rq/", auth=("ops", "s3cret"))
    assert ok.status_code == 200 and b"<title>RQ dashboard</title>" in ok.data
    queues = client.get("/rq/0/data/queues.json", auth=("ops", "s3cret"))
    assert queues.status_code == 200 and "queues" in queues.get_json()


def test_a_report_outlives_its_expired_rq_result(client, app, seeded, make_app):
    short = make_app(report_result_ttl=1)
    report_id = trigger(short.test_client(), query_string={"as_of": AS_OF})
    run_jobs(short)
    time.sleep(1.5)
    assert queue_of(short).fetch_job(report_id) is None  # RQ has let it go
    response = client.get(f"/get_report/{report_id}")
    assert response.status_code == 200 and response.data == expected_csv(seeded, AS_OF)


def test_running_a_finished_job_again_changes_nothing(client, app, seeded):
    from storemon.reports import jobs

    report_id = trigger(client, query_string={"as_of": AS_OF})
    run_jobs(app)
    finished = lifecycle.find(seeded, report_id)
    assert jobs.generate_report(report_id) == expected_csv(seeded, AS_OF)  # e.g. a job re-run after a restart
    assert lifecycle.find(seeded, report_id) == finished


def test_an_unreachable_database_is_a_503_naming_it(make_app, redis_conn):
    app = make_app(database_url="postgresql+psycopg://root@127.0.0.1:1/nowhere")
    client = app.test_client()
    for response in (client.post("/trigger_report"), client.get("/get_report/abc")):
        assert response.status_code == 503
        assert response.get_json() == {"error": "the database is unavailable; try again shortly", "status": 503}
        assert response.headers["Retry-After"] == "5"
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["database"].startswith("unreachable (")
    assert health.get_json()["redis"] == "ok" and health.get_json()["queue_depth"] is None
    assert not [key for key in redis_conn.keys("rq:queue:*") if redis_conn.llen(key)]  # nothing was queued


@pytest.fixture
def scratch_database():
    """An empty PostgreSQL database of its own, dropped afterwards."""
    import psycopg

    from .helpers import TEST_DATABASE_URL, create_database

    scratch = TEST_DATABASE_URL.rsplit("/", 1)[1] + "_scratch"
    url = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + scratch
    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
    create_database(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")


def test_health_and_the_api_say_when_the_schema_is_missing_or_old(make_app, scratch_database):
    from alembic import command

    from storemon.database.engines import alembic_config, head_revision

    app = make_app(database_url=scratch_database)
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["database"] == "the database has no storemon schema; run `python -m storemon init-db`"
    trigger_503 = client.post("/trigger_report")
    assert trigger_503.status_code == 503 and "no storemon schema" in trigger_503.get_json()["error"]
    command.upgrade(alembic_config(app.extensions["storemon"].engine), "0001")
    assert client.get("/health").get_json()["database"] == (
        f"the database schema is at revision 0001, this code needs {head_revision()}; run `python -m storemon init-db`")


def test_health_answers_within_its_bound_when_redis_does_not_answer(make_app):
    import socket

    # a socket that accepts connections and never answers: a frozen Redis
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        app = make_app(redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        health = app.test_client().get("/health")
        took = time.monotonic() - started
    finally:
        silent.close()
    assert health.status_code == 503
    assert health.get_json()["redis"] == "no answer within 1.5 s" and health.get_json()["database"] == "ok"
    assert took < 2.0


def test_the_dashboard_checks_credentials_before_it_touches_redis(make_app):
    app = make_app(redis_url="redis://127.0.0.1:1/0")  # a Redis that is not there: rq-dashboard's hook would fail
    client = app.test_client()
    moved = client.get("/rq")  # routing alone: nothing of the dashboard runs
    assert moved.status_code == 308 and moved.headers["Location"].endswith("/rq/")
    for path in ("/rq/", "/rq/0/data/queues.json", "/rq/0/data/job/x.json", "/rq/static/css/main.css"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_the_dashboard_shows_a_finished_report_job(client, app, seeded):
    report_id = trigger(client, query_string={"as_of": AS_OF})
    run_jobs(app)
    page = client.get(f"/rq/0/data/job/{report_id}.json", auth=("ops", "s3cret"))
    assert page.status_code == 200
    body = page.get_json()
    assert body["status"] == "finished"
    assert body["result"].startswith(f"{len(expected_csv(seeded, AS_OF)):,} bytes: store_id,uptime_last_hour,")
    assert len(body["result"]) < 400
    assert client.get(f"/get_report/{report_id}").data == expected_csv(seeded, AS_OF)  # unchanged for clients


@pytest.mark.parametrize("method,path", [("GET", "/rq/requeue/reports-test"), ("POST", "/rq/requeue/reports-test"),
                                         ("POST", "/rq/job/abc/delete"), ("POST", "/rq/queue/reports-test/queued/empty")])
def test_dashboard_actions_need_a_request_from_the_dashboard_itself(client, method, path):
    auth = ("ops", "s3cret")
    trigger(client)
    for headers in ({}, {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"},
                    {"Origin": "null"}):
        refused = client.open(path, method=method, auth=auth, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.get_json()["error"].startswith("refused: this dashboard action must come from")
    assert client.get("/health").get_json()["queue_depth"] == 1  # nothing was emptied
    same = client.open(path, method=method, auth=auth, headers={"Origin": "http://localhost"})
    assert same.status_code == 200
    from_page = client.open(path, method=method, auth=auth, headers={"Referer": "http://localhost/rq/"})
    assert from_page.status_code == 200


def test_report_history_newest_first_paginated_and_filtered(client, app, seeded, redis_conn):
    ids = [trigger(client, query_string={"as_of": a}) for a in (AS_OF, "2023-01-25T18:00:00Z", "2023-01-24T06:30:00Z")]
    run_jobs(app)
    failing = trigger(client)
    lifecycle.fail(seeded, redis_conn, failing, "stopped for the test")
    queue_of(app).empty()
    waiting = trigger(client)
    page = client.get("/reports?limit=2").get_json()
    assert [r["report_id"] for r in page["reports"]] == [waiting, failing]
    assert page["reports"][0] | {"created_at": None} == {
        "report_id": waiting, "status": "Pending", "progress": 0.0, "requested_as_of": None, "as_of": None,
        "created_at": None, "started_at": None, "finished_at": None, "duration_s": None, "rows": None, "error": None,
        "columns": "standard", "group": None, "windows": ["1h", "1d", "7d"]}
    assert (page["reports"][1]["status"], page["reports"][1]["error"]) == ("Failed", "stopped for the test")
    rest = client.get(page["next"]).get_json()
    assert [r["report_id"] for r in rest["reports"]] == ids[::-1][:2]
    last = client.get(rest["next"]).get_json()
    assert [r["report_id"] for r in last["reports"]] == [ids[0]] and last["next"] is None
    done = last["reports"][0]
    rows = expected_csv(seeded, AS_OF).count(b"\n") - 1
    assert (done["status"], done["as_of"], done["requested_as_of"], done["rows"]) == ("Complete", AS_OF, AS_OF, rows)
    assert done["created_at"] <= done["started_at"] <= done["finished_at"] and done["duration_s"] >= 0
    complete = client.get("/reports?status=Complete&limit=100").get_json()["reports"]
    assert [r["report_id"] for r in complete] == ids[::-1]


@pytest.mark.parametrize("query,message", [
    ("status=Done", "status must be one of Pending, Running, Complete, Failed"),
    ("limit=0", "limit must be a whole number from 1 to 100"),
    ("limit=101", "limit must be a whole number from 1 to 100"),
    ("limit=ten", "limit must be a whole number from 1 to 100"),
    ("before=no%20pe", "before must be the report_id of a report"),
])
def test_report_history_names_a_bad_parameter(client, query, message):
    response = client.get(f"/reports?{query}")
    assert response.status_code == 400 and response.get_json()["error"].startswith(message)


def test_report_history_before_an_unknown_report_is_a_404(client):
    response = client.get("/reports?before=nope")
    assert response.status_code == 404 and response.get_json()["error"] == \
        "before names no report: unknown report id 'nope'"


def test_the_latest_report_is_the_newest_routine_one_never_an_ad_hoc_one(client, app, seeded):
    """A report asked for as of a chosen instant, of one group or with the standard columns only,
    even one made later, never becomes what /reports/latest, the store search and the console
    show: that is the newest routine report (extended, of every store, asked for without an
    as_of, as the clock does)."""
    from storemon.reports.build import build_report
    from storemon.reports.options import EXTENDED

    missing = client.get("/reports/latest")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == \
        "no routine report (an extended one of every store, as of the newest poll) is complete yet"
    routine = trigger(client, json={"columns": "extended"})
    run_jobs(app)
    ad_hoc = trigger(client, query_string={"as_of": "2023-01-24T06:30:00Z", "columns": "extended"})  # made later
    standard = trigger(client)  # the standard columns only, made later
    run_jobs(app)
    trigger(client, json={"columns": "extended"})  # pending: not complete yet
    latest = client.get("/reports/latest")
    assert latest.status_code == 200 and latest.data == build_report(seeded, options=EXTENDED)[1]
    assert latest.headers["Content-Disposition"] == f"attachment; filename=report-{routine}.csv"
    assert latest.headers["X-Report-As-Of"] == format_instant(latest_poll(seeded))
    assert client.get("/stores?q=1").get_json()["report_id"] == routine
    fleet = client.get("/")
    shown = fleet.text.split("Recent reports")[0]
    assert routine[:8] in shown and ad_hoc[:8] not in shown and standard[:8] not in shown
    chosen = client.get(f"/?report={ad_hoc}")  # a person may pick another to look at
    assert chosen.status_code == 200 and ad_hoc[:8] in chosen.text.split("Recent reports")[0]
    assert "You chose this report" in chosen.text


def test_an_as_of_after_the_newest_poll_is_refused_unless_asked_for(client, app, seeded):
    newest = format_instant(latest_poll(seeded))
    typo = client.post("/trigger_report", query_string={"as_of": "2030-01-01T00:00:00Z"})
    assert typo.status_code == 400
    assert typo.get_json()["error"] == (
        f"as_of 2030-01-01T00:00:00Z is after the newest poll ({newest}), so every store would come out down "
        "after it; ask for an as_of at or before the newest poll, or add allow_future=true to report on it anyway")
    assert client.get("/reports").get_json()["reports"] == []  # nothing was made
    assert client.post("/trigger_report", json={"as_of": newest}).status_code == 202  # the newest poll itself
    wanted = trigger(client, query_string={"as_of": "2030-01-01T00:00:00Z", "allow_future": "true"})
    run_jobs(app)
    assert client.get(f"/get_report/{wanted}").headers["X-Report-As-Of"] == "2030-01-01T00:00:00Z"
    assert client.post("/trigger_report", query_string={"allow_future": "maybe"}).status_code == 400


@pytest.fixture
def captured_logs(capsys):
    """configure_logging as a process would do it, onto the captured stderr; undone afterwards."""
    import logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield lambda: capsys.readouterr().err
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_every_request_is_logged_once_with_its_id_and_json_lines_parse(make_app, settings, captured_logs):
    import json
    from dataclasses import replace

    from storemon.logs import configure_logging

    configure_logging(replace(settings, log_format="json"))
    client = make_app().test_client()
    answer = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert answer.headers["X-Request-ID"] == "abc-123"
    made = client.get("/get_report/nope", headers={"X-Request-ID": "x" * 500}).headers["X-Request-ID"]
    assert len(made) == 32  # not sane: a new one
    lines = [json.loads(line) for line in captured_logs().splitlines()]
    requests = [line for line in lines if line["logger"] == "storemon.requests"]
    assert [(r["request_id"], r["method"], r["path"], r["status"]) for r in requests] == [
        ("abc-123", "GET", "/health", 200), (made, "GET", "/get_report/nope", 404)]
    assert all(r["duration_ms"] >= 0 and r["level"] == "INFO" for r in requests)


def test_a_reports_log_lines_carry_its_id(client, app, seeded, settings, captured_logs):
    from storemon.logs import configure_logging

    configure_logging(settings)
    report_id = trigger(client, query_string={"as_of": AS_OF})
    run_jobs(app)
    assert f"storemon.reports.jobs [report={report_id}]: complete: as of {AS_OF}" in captured_logs()


def test_a_shutdown_signal_while_the_worker_prepares_stops_it(app, monkeypatch):
    """RQ's handler raises StopRequested wherever an idle worker is: making the stores' sessions
    again after a job must let it through, or the worker never stops (seen: a bench's worker
    outlived its SIGTERM)."""
    from rq.exceptions import StopRequested

    from storemon.reports import warm

    def stopped(_engine):
        raise StopRequested()

    with forking_worker(app) as idle:  # a StopRequested lost somewhere: the next round stops it
        idle.stopping = True
        assert idle.should_run_maintenance_tasks
        with pytest.raises(StopRequested):
            idle.run_maintenance_tasks()
    monkeypatch.setattr(warm, "refresh", stopped)
    with forking_worker(app) as idle:
        with pytest.raises(StopRequested):
            idle.prepare()
        with pytest.raises(StopRequested):
            idle.run_maintenance_tasks()


def test_a_worker_never_takes_the_jobs_of_another_database(client, app, seeded, settings, tmp_path):
    """A demo left running beside production, on the same Redis and RQ_QUEUE: each worker
    listens on its own database's queue, so production's report waits for production's worker
    instead of failing in the demo's ("no report ... in the database")."""
    from dataclasses import replace

    import worker
    from storemon.database.engines import make_engine, upgrade

    demo_url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(make_engine(demo_url))
    report_id = trigger(client)
    demo_worker = worker.build_worker(replace(settings, database_url=demo_url), worker_class=SimpleWorker)
    try:
        assert demo_worker.queues[0].name != queue_of(app).name
        assert demo_worker.queues[0].name.startswith(settings.queue_prefix + ".")
        demo_worker.work(burst=True)
    finally:
        demo_worker.connection.close()
    assert client.get(f"/get_report/{report_id}").get_json()["status"] == "Pending"
    assert queue_of(app).job_ids == [report_id]
    run_jobs(app)
    assert client.get(f"/get_report/{report_id}").headers["X-Report-Status"] == "Complete"
