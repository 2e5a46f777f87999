"""Longer windows end to end: asked for over HTTP and on the command line, computed by a worker,
the same on SQLite as on PostgreSQL; the standard report unchanged."""

from __future__ import annotations

from storemon.core.windows import COLUMNS, EXTENDED_COLUMNS
from storemon.reports.build import build_report
from storemon.reports.options import ReportOptions
from storemon.timeparse import parse_instant

from .helpers import AS_OF, Loads, expected_csv, run_jobs, storemon, trigger, wait_for_csv


def header(csv: bytes) -> list[str]:
    return csv.split(b"\n", 1)[0].decode().split(",")


def test_a_report_with_longer_windows_over_http_and_on_the_command_line(client, app, seeded):
    expected = build_report(seeded, parse_instant(AS_OF), options=ReportOptions(days=(30,)))[1]
    assert header(expected) == [*COLUMNS, "uptime_last_30d", "downtime_last_30d"]
    report_id = trigger(client, query_string={"windows": "1h,1d,7d,30d", "as_of": AS_OF})
    run_jobs(app)
    assert wait_for_csv(client, report_id) == expected
    ran = storemon(seeded, "report", "--as-of", AS_OF, "--windows", "1h,1d,7d,30d")
    assert ran.returncode == 0 and ran.stdout_bytes == expected
    # extended, in a JSON body: the no-data columns of the standard windows, then each longer one's three
    extended_id = trigger(client, json={"windows": "30d,14d", "columns": "extended", "as_of": AS_OF})
    run_jobs(app)
    extended = wait_for_csv(client, extended_id)
    assert header(extended) == [*EXTENDED_COLUMNS, "uptime_last_14d", "downtime_last_14d", "no_data_last_14d",
                                "uptime_last_30d", "downtime_last_30d", "no_data_last_30d"]
    rows = [line.split(",") for line in extended.decode().splitlines()[1:]]
    thirty = [line.split(",")[-2:] for line in expected.decode().splitlines()[1:]]
    assert [r[-3:-1] for r in rows] == thirty  # (the 30-day columns: the same whatever else is asked)
    for r in rows:  # a longer window holds at least the business time of a shorter one
        assert float(r[-6]) + float(r[-5]) <= float(r[-3]) + float(r[-2]) + 0.02
        assert float(r[3]) + float(r[6]) <= float(r[-6]) + float(r[-5]) + 0.02
    assert [r["windows"] for r in client.get("/reports").get_json()["reports"][:2]] == [
        ["1h", "1d", "7d", "14d", "30d"], ["1h", "1d", "7d", "30d"]]
    # the standard report is the standard report
    standard_id = trigger(client, query_string={"as_of": AS_OF, "windows": "1h,1d,7d"})
    run_jobs(app)
    assert wait_for_csv(client, standard_id) == expected_csv(seeded, AS_OF)


def test_bad_windows_are_refused_naming_the_problem(client, seeded):
    for bad in ("30", "91d", "1w", "30d,", "0d"):
        answer = client.post("/trigger_report", query_string={"windows": bad})
        assert answer.status_code == 400 and "windows" in answer.get_json()["error"], bad
    assert client.post("/trigger_report", json={"windows": 30}).status_code == 400
    ran = storemon(seeded, "report", "--windows", "1y")
    assert ran.returncode == 2 and "1y" in ran.stderr
    # a 90-day window looks back 91 days: more than POLL_RETENTION_DAYS keeps by default
    answer = client.post("/trigger_report", query_string={"windows": "90d"})
    assert answer.status_code == 400 and "POLL_RETENTION_DAYS" in answer.get_json()["error"]
    assert client.post("/trigger_report", query_string={"windows": "89d"}).status_code == 202
    ran = storemon(seeded, "report", "--windows", "90d")
    assert ran.returncode == 2 and "POLL_RETENTION_DAYS" in ran.stderr


def test_longer_windows_on_sqlite_are_those_on_postgresql(pg, sqlite, tmp_path):
    """Polls three weeks apart and a holiday two weeks back: the 30-day window reaches them all."""
    found = []
    for engine in (pg, sqlite):
        load = Loads(engine, tmp_path / engine.dialect.name)
        load(hours=[(s, d, "09:00", "17:00") for s in "ab" for d in range(7)], zones=[("a", "UTC"), ("b", "Asia/Kolkata")],
             holidays=["2023-01-11,,,Closed"])
        load(polls=[("a", "active", "2023-01-04 10:00:00 UTC"), ("a", "inactive", "2023-01-24 10:00:00 UTC"),
                    ("b", "inactive", "2023-01-02 05:00:00 UTC"), ("b", "active", "2023-01-20 06:00:00 UTC")])
        found.append(build_report(engine, parse_instant(AS_OF), options=ReportOptions(True, days=(30,)))[1])
    assert found[0] == found[1]
    assert header(found[0])[-3:] == ["uptime_last_30d", "downtime_last_30d", "no_data_last_30d"]
