"""The HTTP API end to end: Flask -> RQ in real Redis -> a real worker -> PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.worker import SimpleWorker
from sqlalchemy import text

from storemon import reports
from storemon.config import PROJECT_ROOT
from storemon.loader import load_directory
from storemon.reporting import build_report
from storemon.timeparse import parse_instant

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


def expected_csv(pg, as_of: str | None = None) -> bytes:
    return build_report(pg, parse_instant(as_of) if as_of else None)[1]


@pytest.fixture
def seeded(pg):
    load_directory(pg, SEED / "2023-01")
    return pg


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


def test_progress_rises_to_one(client, app, seeded):
    report_id = trigger(client)
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            job = queue_of(app).fetch_job(report_id)
            if job is not None:
                seen.append(job.get_meta(refresh=True).get("progress"))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    run_jobs(app)
    stop.set()
    watcher.join()
    values = [v for v in seen if v is not None]
    assert values == sorted(values) and values[-1] == 1.0
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


def test_a_job_lost_from_redis_reads_failed_not_pending_forever(client, app, settings, redis_conn):
    report_id = trigger(client)
    redis_conn.flushdb()  # the queued job vanishes
    assert client.get(f"/get_report/{report_id}").get_json()["status"] == "Pending"  # within the enqueue grace
    with app.extensions["storemon"].engine.begin() as conn:
        conn.execute(text("UPDATE reports SET created_at = created_at - interval '1 minute' WHERE id = :id"),
                     {"id": report_id})
    body = client.get(f"/get_report/{report_id}").get_json()
    assert body == {"report_id": report_id, "status": "Failed", "error": "the report job was lost from the queue"}


def test_twenty_concurrent_triggers_complete_through_the_forking_worker(app, seeded):
    import worker

    as_ofs = ["2023-01-25T12:00:00Z", "2023-01-24T06:30:00Z", None, "2023-01-25T18:00:00.5+00:00"]

    def one(i):
        as_of = as_ofs[i % len(as_ofs)]
        client = app.test_client()
        return trigger(client, json={"as_of": as_of} if as_of else None), as_of

    with ThreadPoolExecutor(max_workers=20) as pool:
        triggered = list(pool.map(one, range(20)))
    assert len({r for r, _ in triggered}) == 20
    # worker.py's own builder, forking a work horse per job
    assert worker.build_worker(app.extensions["storemon"].settings).work(burst=True)
    client = app.test_client()
    expected = {a: expected_csv(seeded, a) for a in as_ofs}
    for report_id, as_of in triggered:
        response = client.get(f"/get_report/{report_id}")
        assert response.status_code == 200
        assert response.data == expected[as_of]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_a_killed_worker_leaves_its_report_failed(client, app, seeded, settings):
    report_id = trigger(client)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with seeded.connect() as blocker:
        # hold the polls table so the job is still computing when its worker dies
        blocker.execute(text("LOCK TABLE polls IN ACCESS EXCLUSIVE MODE"))
        proc = subprocess.Popen([sys.executable, "-u", "worker.py"], cwd=PROJECT_ROOT, env=env,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while client.get(f"/get_report/{report_id}").get_json()["status"] != "Running":
                assert time.monotonic() < deadline, "the worker never started the job"
                time.sleep(0.1)
            # the worker and its work horse (in a session of its own), with no chance to clean up
            for pid in [*children_of(proc.pid), proc.pid]:
                os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        blocker.rollback()
    deadline = time.monotonic() + 150  # RQ notices a silent worker ~65 s after its last heartbeat
    while (body := client.get(f"/get_report/{report_id}").get_json())["status"] == "Running":
        assert time.monotonic() < deadline, "the dead worker's report never became Failed"
        time.sleep(1)
    assert body == {"report_id": report_id, "status": "Failed",
                    "error": "the worker computing this report stopped before it finished"}
    assert reports.find(seeded, report_id).status == "Failed"


@pytest.mark.parametrize("kw,message", [
    ({"query_string": {"as_of": "yesterday"}}, "bad as_of: not an ISO 8601 timestamp: 'yesterday'"),
    ({"json": {"as_of": "2023-13-01T00:00:00Z"}}, "bad as_of: not an ISO 8601 timestamp: '2023-13-01T00:00:00Z'"),
    ({"json": {"as_of": 1674648000}}, "as_of must be a string holding an ISO 8601 instant"),
    ({"json": {"as_of": "0001-01-01T00:00:00Z"}}, "bad as_of: as_of '0001-01-01T00:00:00Z' is outside the years 1971 to 9998"),
    ({"json": {"asof": AS_OF}}, "unknown field(s) in the request body: asof; only as_of is accepted"),
    ({"data": "{not json", "content_type": "application/json"}, "the request body must be a JSON object"),
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
    assert client.get("/get_report/" + "x" * 300).status_code == 404
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
    assert response.get_json()["error"] == "the report queue is unavailable; try again shortly"
    with pg.connect() as conn:
        assert conn.execute(text("SELECT status, error FROM reports")).all() == [("Failed", "the report could not be queued")]
    health = app.test_client().get("/health")
    assert health.status_code == 503 and health.get_json()["redis"].startswith("unreachable")


def test_health_reports_database_redis_and_queue_depth(client):
    trigger(client)
    trigger(client)
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


def test_the_dashboard_is_off_without_credentials(make_app):
    app = make_app(dashboard_user=None, dashboard_password=None)
    assert app.test_client().get("/rq/").status_code == 404


def test_a_report_outlives_its_expired_rq_result(client, app, seeded, make_app):
    short = make_app(report_result_ttl=1)
    report_id = trigger(short.test_client(), query_string={"as_of": AS_OF})
    run_jobs(short)
    time.sleep(1.5)
    assert queue_of(short).fetch_job(report_id) is None  # RQ has let it go
    response = client.get(f"/get_report/{report_id}")
    assert response.status_code == 200 and response.data == expected_csv(seeded, AS_OF)


def test_running_a_finished_job_again_changes_nothing(client, app, seeded):
    from storemon import jobs

    report_id = trigger(client, query_string={"as_of": AS_OF})
    run_jobs(app)
    finished = reports.find(seeded, report_id)
    assert jobs.generate_report(report_id) == expected_csv(seeded, AS_OF)  # e.g. a job re-run after a restart
    assert reports.find(seeded, report_id) == finished
