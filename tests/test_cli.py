"""The command line as a user runs it: real processes, exit codes, messages."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

from storemon.config import PROJECT_ROOT

from .helpers import hours_csv, polls_csv, scalar, timezones_csv

SEED = PROJECT_ROOT / "seed"


def storemon(engine, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    return subprocess.run([sys.executable, "-m", "storemon", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_bad_line_exits_non_zero_naming_the_line_and_loads_nothing(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC"), ("s1", "up", "2023-01-22 11:00:00 UTC")])
    done = storemon(engine, "load", str(tmp_path))
    assert done.returncode == 1
    assert "store_status.csv line 3: bad status 'up' (expected active or inactive); nothing was loaded" in done.stderr
    assert scalar(engine, "SELECT count(*) FROM polls") == 0


def test_skip_bad_reports_the_rejected_lines_and_a_summary(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC"), ("s1", "up", "2023-01-22 11:00:00 UTC")])
    timezones_csv(tmp_path, [("s1", "Atlantis/Capital")])
    done = storemon(engine, "load", "--skip-bad", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "skipped 1 bad line(s)" in done.stderr
    assert "store_status.csv line 3: bad status 'up'" in done.stderr
    assert "unknown timezone names, these stores use America/Chicago: Atlantis/Capital" in done.stderr
    assert "3 rows read, 1 new polls, 1 stores" in done.stdout


def test_an_unreadable_as_of_is_a_usage_error(engine):
    done = storemon(engine, "report", "--as-of", "last tuesday")
    assert done.returncode == 2
    assert "not an ISO 8601 timestamp: 'last tuesday'" in done.stderr


def test_reporting_an_empty_database_says_what_to_do(engine):
    done = storemon(engine, "report")
    assert done.returncode == 1
    assert "no polls are loaded yet" in done.stderr


@pytest.mark.parametrize("version", ["2023-01", "2024-10"])
def test_both_real_datasets_run_end_to_end(engine, tmp_path, version):
    assert storemon(engine, "load", str(SEED / version)).returncode == 0
    out = tmp_path / "report.csv"
    done = storemon(engine, "report", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(SEED / version / "store_status.csv", newline="") as f:
        polled = sorted({r["store_id"] for r in csv.DictReader(f)})
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["store_id"] for r in rows] == polled
    assert list(rows[0]) == ["store_id", "uptime_last_hour", "uptime_last_day", "uptime_last_week",
                             "downtime_last_hour", "downtime_last_day", "downtime_last_week"]
    for r in rows:  # up + down never exceed the window
        assert float(r["uptime_last_hour"]) + float(r["downtime_last_hour"]) <= 60.0
        assert float(r["uptime_last_week"]) + float(r["downtime_last_week"]) <= 168.0
    assert f"{len(rows)} stores, written to {out}" in done.stderr


def test_postgresql_and_sqlite_give_the_same_report(pg, sqlite, tmp_path):
    hours_csv(tmp_path, [("a", 0, "09:00", "17:00"), ("b", 6, "22:00", "03:00")])
    timezones_csv(tmp_path, [("a", "America/New_York"), ("b", "Asia/Beirut")])
    polls_csv(tmp_path, [(s, "active" if (h * 7) % 5 else "inactive", f"2023-01-{d} {h:02d}:05:00 UTC")
                         for s in ("a", "b", "c") for d in range(16, 24) for h in range(24)])
    reports = []
    for engine in (pg, sqlite):
        assert storemon(engine, "load", str(tmp_path)).returncode == 0
        done = storemon(engine, "report", "--as-of", "2023-01-23T18:00:00Z")
        assert done.returncode == 0, done.stderr
        reports.append(done.stdout)
    assert reports[0] == reports[1]
    assert reports[0].count("\n") == 4


def test_demo_sets_up_loads_the_seed_and_writes_a_report(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    done = subprocess.run([sys.executable, "-m", "storemon", "demo", "--dataset", "2024-10"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = PROJECT_ROOT / "instance" / "report-2024-10.csv"
    assert f"written to {report}" in done.stdout
    assert report.read_text().startswith("store_id,uptime_last_hour,")


def test_a_bad_setting_fails_with_one_line(tmp_path):
    env = {**os.environ, "DATABASE_URL": "mysql://nobody@nowhere/db"}
    done = subprocess.run([sys.executable, "-m", "storemon", "init-db"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: bad setting: DATABASE_URL must be a postgresql:// or sqlite:// URL, got 'mysql'"


@pytest.mark.parametrize("entry", [["-c", "import wsgi"], ["worker.py"]])
def test_the_web_and_worker_processes_also_fail_with_one_line_on_a_bad_setting(entry):
    env = {**os.environ, "REDIS_URL": "http://localhost:6379"}
    done = subprocess.run([sys.executable, *entry], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == ("bad setting: REDIS_URL must be a redis://, rediss:// or unix:// URL, "
                                   "got 'http://localhost:6379'")


def test_init_db_can_run_again(sqlite):
    for _ in range(2):
        done = storemon(sqlite, "init-db")
        assert done.returncode == 0, done.stderr
        assert "schema is up to date" in done.stdout


def test_two_overlapping_loads_at_once_both_land_and_duplicate_nothing(engine, tmp_path):
    rows = [(f"s{i % 50}", "active" if i % 3 else "inactive", f"2023-01-2{i % 5} {i % 24:02d}:{i % 60:02d}:07 UTC")
            for i in range(6000)]
    polls_csv(tmp_path / "a", rows[:4000])
    polls_csv(tmp_path / "b", rows[2000:])
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    loads = [subprocess.Popen([sys.executable, "-m", "storemon", "load", str(tmp_path / d)], cwd=PROJECT_ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in "ab"]
    outputs = [p.communicate(timeout=120) for p in loads]
    assert [p.returncode for p in loads] == [0, 0], outputs
    distinct = len({(s, t) for s, _, t in rows})
    new = sum(int(out.split(" new polls")[0].rsplit(" ", 1)[1]) for out, _ in outputs)
    assert new == distinct == scalar(engine, "SELECT count(*) FROM polls")
