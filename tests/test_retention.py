"""Retention: old reports and polls go, polls a whole day at a time; what an unsettled report needs stays."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

import pytest

from storemon.reports import lifecycle
from storemon.reports import retention
from storemon.database.loader import load_directory
from storemon.database.queries import latest_poll_us
from storemon.reports.build import NoData, build_report
from storemon.timeparse import format_instant

from .helpers import poll_count, polls_csv, rows, scalar, stored_polls

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> str:
    return format_instant(int((NOW - timedelta(days=days)).timestamp() * 1_000_000))


@pytest.fixture
def history(engine, tmp_path, redis_conn):
    polls_csv(tmp_path, [(f"s{i}", "active", days_ago(d)) for i, d in enumerate([100, 91, 89.5, 1, 95.5])])
    load_directory(engine, tmp_path)
    for report_id, status, age in [("old-done", "Complete", 40), ("old-failed", "Failed", 40),
                                   ("recent", "Complete", 10), ("old-waiting", "Pending", 40)]:
        lifecycle.create(engine, report_id, None)
        if report_id == "old-done":  # completed as a sharded report: its parts' rows go with it
            lifecycle.store_part(engine, report_id, 1, 0, b"row\n", 1)
            lifecycle.complete_parts(engine, redis_conn, report_id, 1, 1, 1)
        elif status == "Complete":
            lifecycle.complete(engine, redis_conn, report_id, 1, b"h\n")
        elif status == "Failed":
            lifecycle.fail(engine, redis_conn, report_id, "no")
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE reports SET created_at = '{(NOW - timedelta(days=age)).isoformat()}'"
                                 f" WHERE id = '{report_id}'")
    return engine


def test_old_reports_and_polls_go_and_first_polls_stay(history):
    first_polls = rows(history, "SELECT store_id, first_poll_us FROM stores ORDER BY 1")
    assert scalar(history, "SELECT count(*) FROM report_parts") == 1
    removed = retention.apply(history, report_days=30, poll_days=90, now=NOW)
    assert removed == retention.Removed(reports=2, polls=3)
    assert rows(history, "SELECT id FROM reports ORDER BY id") == [("old-waiting",), ("recent",)]
    assert scalar(history, "SELECT count(*) FROM report_parts") == 0
    assert poll_count(history) == 2
    assert rows(history, "SELECT store_id, first_poll_us FROM stores ORDER BY 1") == first_polls  # still listed


def test_an_unsettled_report_keeps_its_lookback(history):
    from storemon.timeparse import parse_instant

    lifecycle.create(history, "past", parse_instant(days_ago(95)))  # needs polls back to 103 days ago
    removed = retention.apply(history, report_days=30, poll_days=90, now=NOW)
    assert removed.polls == 0


def test_a_sharded_report_in_progress_keeps_its_lookback(history):
    from storemon.timeparse import parse_instant

    lifecycle.create(history, "parts", None)  # as of the latest poll, which its planning fixed
    lifecycle.record_plan(history, "parts", parse_instant(days_ago(95)), '{"attempt": 1, "cuts": []}')
    assert retention.apply(history, report_days=30, poll_days=90, now=NOW).polls == 0


def test_whole_days_go_and_take_a_new_data_version(history, tmp_path):
    """Every UTC day that ends before the cutoff goes whole; the day the cutoff falls in stays."""
    from storemon.database import version

    polls_csv(tmp_path / "early", [("s9", "active", days_ago(90.25))])  # before the cutoff, on its day
    load_directory(history, tmp_path / "early")
    with history.connect() as conn:
        before = version.current(conn)
    removed = retention.apply(history, report_days=30, poll_days=90, now=NOW)
    with history.connect() as conn:
        after = version.current(conn)
    assert removed.polls == 3 and after.version != before.version
    assert after.newest_poll_us == before.newest_poll_us  # the newest poll stays, and is the default as_of
    cutoff_day = int((NOW - timedelta(days=90)).timestamp()) // 86400
    assert scalar(history, "SELECT min(day) FROM poll_days") == cutoff_day
    assert sorted(store for store, _, _ in stored_polls(history)) == ["s2", "s3", "s9"]


def test_keeping_all_is_possible_and_an_emptied_database_has_no_default_as_of(history):
    assert retention.apply(history, report_days=30, poll_days=0, now=NOW).polls == 0
    assert retention.apply(history, report_days=30, poll_days=10, now=NOW + timedelta(days=100)).polls == 5
    assert poll_count(history) == 0
    with history.connect() as conn:
        assert latest_poll_us(conn) is None
    # and a report says that the polls were loaded, then retired, not that none ever came
    with pytest.raises(NoData, match=r"^no polls are left: 5 store\(s\) were polled, but retention deleted every poll"):
        build_report(history)


def test_a_store_page_after_retention_emptied_everything_says_why(client, pg, tmp_path):
    polls_csv(tmp_path, [("s1", "active", days_ago(100))])
    load_directory(pg, tmp_path)
    retention.apply(pg, report_days=30, poll_days=10, now=NOW)
    answer = client.get("/stores/s1/timeline")
    assert answer.status_code == 404 and answer.get_json()["error"].startswith("no polls are left: 1 store(s) were polled")


def test_a_database_never_loaded_says_so():
    from storemon.database.engines import make_engine, upgrade

    engine = make_engine("sqlite://")
    upgrade(engine)
    with pytest.raises(NoData, match=r"^no polls are loaded yet"):
        build_report(engine)
