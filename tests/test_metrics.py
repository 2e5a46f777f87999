"""GET /metrics: who may read it, and that what it says is what happened (real Redis, worker, PostgreSQL)."""

from __future__ import annotations

import base64

from prometheus_client.parser import text_string_to_metric_families
from rq import Worker

from storemon.database import tokens

from .helpers import polls_body, queue_of, run_jobs, send, trigger


BASIC = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()}  # the test settings' dashboard login


def samples(response) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def test_metrics_need_the_metrics_token_an_admin_token_or_the_dashboard_login(make_app, pg):
    client = make_app(metrics_token="scrape-me").test_client()
    admin, reporter = tokens.create(pg, "admin", ["admin"]), tokens.create(pg, "reporter", ["report"])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {reporter}"},
                    {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and "METRICS_TOKEN" in refused.get_json()["error"]
        assert refused.headers["WWW-Authenticate"].startswith("Basic")
    for headers in ({"Authorization": "Bearer scrape-me"}, {"Authorization": f"Bearer {admin}"}, BASIC):
        assert client.get("/metrics", headers=headers).status_code == 200


def test_metrics_count_reports_requests_ingestion_queue_and_workers(client, app, seeded, pg):
    done = trigger(client, json={"columns": "extended"})  # a routine report (the clock's kind)
    run_jobs(app)
    assert client.get(f"/get_report/{done}").mimetype == "text/csv"
    waiting = trigger(client, json={"as_of": "2023-01-24T00:00:00Z"})  # stays queued: no worker runs it
    feed = tokens.create(pg, "feed", ["ingest"])
    read = [send(client, feed, body=polls_body()).get_json()["rows_read"],
            send(client, feed, body=b"store_id,status,timestamp_utc\nx,up,never\n",
                 query_string={"skip_bad": "true"}).get_json()["rows_read"]]
    listening = Worker([queue_of(app)], connection=queue_of(app).connection, name="metrics-test")
    listening.register_birth()
    try:
        found = samples(client.get("/metrics", headers=BASIC))
    finally:
        listening.register_death()

    assert found[("storemon_reports_triggered_total", ())] == 2
    assert found[("storemon_reports_completed_total", ())] == 1
    assert found[("storemon_reports_failed_total", ())] == 0
    assert found[("storemon_report_duration_seconds_count", ())] == 1
    assert found[("storemon_report_duration_seconds_bucket", (("le", "+Inf"),))] == 1
    assert found[("storemon_report_duration_seconds_sum", ())] > 0
    assert found[("storemon_queue_jobs", (("state", "queued"),))] == 1
    assert found[("storemon_workers", ())] == 1
    assert found[("storemon_reports_unsettled", (("status", "Pending"),))] == 1
    assert 0 <= found[("storemon_newest_report_age_seconds", ())] < 60
    assert found[("storemon_ingested_rows_total", (("kind", "store_status"),))] == sum(read) >= 3
    assert found[("storemon_rejected_rows_total", (("kind", "store_status"),))] == 1
    assert found[("storemon_http_requests_total", (("method", "POST"), ("route", "/trigger_report"),
                                                    ("status", "202")))] == 2
    assert found[("storemon_http_request_duration_seconds_count", (("method", "GET"),
                                                                   ("route", "/get_report/<report_id>")))] == 1
    assert found[("storemon_dependency_up", (("dependency", "database"),))] == 1
    assert found[("storemon_dependency_up", (("dependency", "redis"),))] == 1
    assert waiting != done


def test_a_failed_report_is_counted_wherever_it_fails(client, app):
    trigger(client)  # nothing is loaded: the job fails in the worker
    run_jobs(app)
    found = samples(client.get("/metrics", headers=BASIC))
    assert found[("storemon_reports_failed_total", ())] == 1
    assert found[("storemon_queue_jobs", (("state", "failed"),))] == 1
    assert ("storemon_newest_report_age_seconds", ()) not in found  # none has completed


def test_metrics_answer_and_say_so_when_redis_does_not(make_app):
    client = make_app(redis_url="redis://127.0.0.1:1/0").test_client()
    found = samples(client.get("/metrics", headers=BASIC))
    assert found[("storemon_dependency_up", (("dependency", "redis"),))] == 0
    assert found[("storemon_dependency_up", (("dependency", "database"),))] == 1
    assert ("storemon_workers", ()) not in found


def test_metrics_with_the_database_down_blame_the_database_not_redis(make_app):
    """Redis' figures are kept under the database's identity: a web process that never read it
    (the database was down from the start) says the database is down, and Redis up."""
    client = make_app(database_url="postgresql+psycopg://root@127.0.0.1:1/nowhere").test_client()
    found = samples(client.get("/metrics", headers=BASIC))
    assert found[("storemon_dependency_up", (("dependency", "database"),))] == 0
    assert found[("storemon_dependency_up", (("dependency", "redis"),))] == 1


def test_the_newest_report_age_is_the_routine_reports(client, app, seeded):
    """An ad-hoc report must not hide a clock that stopped making the routine ones."""
    trigger(client, json={"as_of": "2023-01-24T00:00:00Z"})
    run_jobs(app)
    found = samples(client.get("/metrics", headers=BASIC))
    assert ("storemon_newest_report_age_seconds", ()) not in found
    trigger(client)  # the standard columns only: ad hoc too
    run_jobs(app)
    assert ("storemon_newest_report_age_seconds", ()) not in samples(client.get("/metrics", headers=BASIC))
    trigger(client, json={"columns": "extended"})
    run_jobs(app)
    assert 0 <= samples(client.get("/metrics", headers=BASIC))[("storemon_newest_report_age_seconds", ())] < 60


def test_tallies_are_kept_per_database(client, app, make_app, tmp_path):
    """Two deployments sharing one Redis (a demo beside production) never count each other's reports."""
    from storemon.database.engines import make_engine, upgrade

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(make_engine(other_url))
    other = make_app(database_url=other_url).test_client()
    trigger(client)
    assert samples(client.get("/metrics", headers=BASIC))[("storemon_reports_triggered_total", ())] == 1
    assert samples(other.get("/metrics", headers=BASIC))[("storemon_reports_triggered_total", ())] == 0


def test_the_fleets_no_data_share_and_the_stores_down_now(client, app, seeded):
    """From the newest routine report (an extended one): each window's share of business time
    with no data, as the fleet page shows it; the count GET /stores/down gives; and how old the
    newest poll is by the wall clock (the sample's: years)."""
    import time

    from storemon.timeparse import parse_instant

    found = samples(client.get("/metrics", headers=BASIC))
    age = found[("storemon_newest_poll_age_seconds", ())]
    expected = time.time() - parse_instant("2023-01-25T18:11:39.622234Z") / 1e6
    assert expected - 60 < age <= expected
    assert not [k for k in found if k[0] == "storemon_fleet_no_data_ratio"]  # no routine report yet
    assert found[("storemon_stores_down_now", ())] == client.get("/stores/down").get_json()["count"]
    trigger(client, json={"columns": "extended"})
    run_jobs(app)
    found = samples(client.get("/metrics", headers=BASIC))
    page = client.get("/").text
    for window in ("last_hour", "last_day", "last_week"):
        share = found[("storemon_fleet_no_data_ratio", (("window", window),))]
        assert 0 <= share <= 1 and f"no data for {100 * share:.1f} % of it" in page
