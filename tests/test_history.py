"""Weekly hours keep their history, stored: versions loaded from files and over HTTP, dated by
the data's clock when no date is given, sent again without a change, and reports as of the
past using the hours in force then (the rules themselves: tests/test_core_calendar.py)."""

from __future__ import annotations

import pytest

from storemon.database import tokens
from storemon.database.loader import load_directory
from storemon.reports.build import build_report
from storemon.sources import SourceError
from storemon.timeparse import parse_instant

from .helpers import polls_csv, rows, timezones_csv, write_csv

HEADER = "store_id,day,start_time_local,end_time_local"
WEDNESDAY = 19375  # 2023-01-18, in days since 1970-01-01
AS_OF = parse_instant("2023-01-21T00:00:00Z")  # the week from Saturday the 14th


def hours_file(directory, times: str, effective: str | None = None):
    """Store s open every day at ``times`` ("09:00,17:00"), as one version (dated if given)."""
    header = HEADER + (",effective_date" if effective is not None else "")
    return write_csv(directory, "menu_hours", [header] + [f"s,{day},{times}" + (f",{effective}" if effective is not None
                                                                               else "") for day in range(7)])


def week_up_hours(engine) -> str:
    return build_report(engine, AS_OF)[1].decode().splitlines()[1].split(",")[3]


@pytest.fixture
def first(engine, tmp_path):
    """Store s in UTC, open 09:00-17:00 every day, polled active once on Monday the 16th."""
    polls_csv(tmp_path / "first", [("s", "active", "2023-01-16 12:00:00 UTC")])
    timezones_csv(tmp_path / "first", [("s", "UTC")])
    hours_file(tmp_path / "first", "09:00,17:00")
    load_directory(engine, tmp_path / "first")
    return engine


def test_a_change_with_an_effective_date_holds_from_that_date(first, tmp_path):
    hours_file(tmp_path / "change", "12:00,14:00", "2023-01-18")
    load_directory(first, tmp_path / "change")
    assert rows(first, "SELECT DISTINCT effective_date FROM business_hours ORDER BY 1") == [(0,), (WEDNESDAY,)]
    assert week_up_hours(first) == "38.00"  # Sat 14 to Tue 17: 4 x 8 h; Wed 18 to Fri 20: 3 x 2 h


def test_a_late_change_leaves_a_past_report_as_it_was_and_a_backdated_one_changes_it(first, tmp_path):
    before = build_report(first, AS_OF)[1]
    hours_file(tmp_path / "late", "12:00,14:00", "2023-01-21")
    load_directory(first, tmp_path / "late")
    assert build_report(first, AS_OF)[1] == before
    hours_file(tmp_path / "backdated", "12:00,14:00", "2023-01-15")
    load_directory(first, tmp_path / "backdated")
    assert week_up_hours(first) == "20.00"  # Sat 14 the first version's 8 h, then 6 x 2 h


def test_sending_the_hours_in_force_again_is_no_change(first, tmp_path):
    hours_file(tmp_path / "again", "09:00,17:00")
    load_directory(first, tmp_path / "again")
    hours_file(tmp_path / "dated", "09:00,17:00", "2023-01-18")
    load_directory(first, tmp_path / "dated")
    assert rows(first, "SELECT DISTINCT effective_date FROM business_hours") == [(0,)]


def test_a_bad_effective_date_is_named_by_line_and_nothing_is_written(first, tmp_path):
    write_csv(tmp_path / "bad", "menu_hours", [HEADER + ",effective_date", "s,0,10:00,11:00,2023-01-18",
                                               "s,1,10:00,11:00,18/01/2023"])
    with pytest.raises(SourceError, match=r"^menu_hours.csv line 3: bad date '18/01/2023' \(expected YYYY-MM-DD\)"):
        load_directory(first, tmp_path / "bad")
    assert rows(first, "SELECT DISTINCT effective_date FROM business_hours") == [(0,)]


def test_over_http_a_change_names_its_date_and_the_page_shows_the_history(client, pg, tmp_path):
    polls_csv(tmp_path, [("s", "active", "2023-01-16 12:00:00 UTC")])
    timezones_csv(tmp_path, [("s", "UTC")])
    hours_file(tmp_path, "09:00,17:00")
    load_directory(pg, tmp_path)
    auth = {"Authorization": f"Bearer {tokens.create(pg, 'poller', ['ingest'])}"}
    body = [{"store_id": "s", "day": day, "start_time_local": "12:00", "end_time_local": "14:00"} for day in range(7)]
    assert client.put("/business_hours?effective_date=2023-01-18", json=body, headers=auth).status_code == 200
    assert rows(pg, "SELECT DISTINCT effective_date FROM business_hours ORDER BY 1") == [(0,), (WEDNESDAY,)]
    for query, problem in (("effective_date=18.1.2023", "bad effective_date: bad date '18.1.2023'"),
                           ("effective_date=1970-01-02", "effective_date is out of range")):
        refused = client.put(f"/business_hours?{query}", json=body, headers=auth)
        assert refused.status_code == 400 and refused.get_json()["error"].startswith(problem)
    assert client.put("/special_hours?effective_date=2023-01-18", json=[{"store_id": "s", "date": "2023-01-19"}],
                      headers=auth).status_code == 400
    calendar = client.get("/stores/s/calendar").get_json()
    assert [v["effective_date"] for v in calendar["hours_history"]] == [None, "2023-01-18"]
    assert calendar["hours"][0] == {"day": "Monday", "weekday": 0, "start": "12:00:00", "end": "14:00:00"}
    timeline = client.get("/stores/s/timeline", query_string={"as_of": "2023-01-17T12:00:00Z"}).get_json()
    assert timeline["hours"][0]["start"] == "09:00:00"  # the version in force on the 17th
    page = " ".join(client.get("/stores/s", query_string={"as_of": "2023-01-21T00:00:00Z"}).get_data(as_text=True).split())
    assert "until 2023-01-18: Mon 09:00–17:00" in page and "from 2023-01-18: Mon 12:00–14:00" in page


ZONE_HEADER = "store_id,timezone_str,effective_date"
TUESDAY_14 = 19430  # 2023-03-14: New York and Los Angeles sprang forward on the 12th


def test_a_zone_change_holds_from_its_date_and_the_zone_in_force_again_is_no_change(engine, tmp_path):
    polls_csv(tmp_path / "first", [("s", "active", "2023-03-10 15:00:00 UTC")])
    write_csv(tmp_path / "first", "menu_hours", [HEADER] + [f"s,{day},09:00,17:00" for day in range(7)])
    timezones_csv(tmp_path / "first", [("s", "America/New_York")])
    load_directory(engine, tmp_path / "first")
    write_csv(tmp_path / "moved", "timezones", [ZONE_HEADER, "s,America/Los_Angeles,2023-03-14",
                                                "s,America/New_York,2023-03-13"])  # (the zone then: no change)
    load_directory(engine, tmp_path / "moved")
    assert rows(engine, "SELECT effective_date, timezone FROM timezone_history ORDER BY 1") == [
        (0, "America/New_York"), (TUESDAY_14, "America/Los_Angeles")]
    assert rows(engine, "SELECT timezone FROM stores") == [("America/Los_Angeles",)]
    # 23:00Z on the 14th: 16:00 in Los Angeles, open (it would be 19:00, closed, in New York)
    assert build_report(engine, parse_instant("2023-03-15T00:00:00Z"))[1].decode().splitlines()[1] == \
        "s,60.00,8.00,56.00,0.00,0.00,0.00"
    timezones_csv(tmp_path / "undated", [("s", "Europe/Berlin")])
    load_directory(engine, tmp_path / "undated")  # from the data's clock's date (the 10th in Los Angeles),
    assert rows(engine, "SELECT effective_date, timezone FROM timezone_history ORDER BY 1") == [  # to the 14th
        (0, "America/New_York"), (TUESDAY_14 - 4, "Europe/Berlin"), (TUESDAY_14, "America/Los_Angeles")]


def test_the_store_page_shows_the_zone_in_force_and_its_history(client, pg, tmp_path):
    polls_csv(tmp_path, [("s", "active", "2023-03-10 15:00:00 UTC")])
    write_csv(tmp_path, "timezones", [ZONE_HEADER, "s,America/New_York,", "s,America/Los_Angeles,2023-03-14"])
    load_directory(pg, tmp_path)
    before = client.get("/stores/s/timeline", query_string={"as_of": "2023-03-10T16:00:00Z"}).get_json()
    assert before["timezone"] == "America/New_York"
    assert before["timezone_history"] == [{"effective_date": None, "timezone": "America/New_York"},
                                          {"effective_date": "2023-03-14", "timezone": "America/Los_Angeles"}]
    page = " ".join(client.get("/stores/s", query_string={"as_of": "2023-03-10T16:00:00Z"}).get_data(as_text=True)
                    .split())
    assert "Its zone has changed: America/New_York; from 2023-03-14 America/Los_Angeles." in page


def test_an_undated_change_takes_the_newest_polls_local_date_in_the_stores_zone(engine, tmp_path):
    polls_csv(tmp_path / "first", [("s", "active", "2023-01-25 03:00:00 UTC")])  # 19:00 on the 24th in Los Angeles
    timezones_csv(tmp_path / "first", [("s", "America/Los_Angeles")])
    hours_file(tmp_path / "first", "09:00,17:00")
    load_directory(engine, tmp_path / "first")
    hours_file(tmp_path / "change", "10:00,18:00")
    load_directory(engine, tmp_path / "change")
    assert rows(engine, "SELECT DISTINCT effective_date FROM business_hours ORDER BY 1") == [(0,), (19381,)]


def test_before_any_poll_an_undated_change_replaces_the_first_version(engine, tmp_path):
    hours_file(tmp_path / "first", "09:00,17:00")
    load_directory(engine, tmp_path / "first")
    hours_file(tmp_path / "change", "10:00,18:00")
    load_directory(engine, tmp_path / "change")
    assert rows(engine, "SELECT DISTINCT effective_date, start_s FROM business_hours") == [(0, 36000)]


def test_the_version_in_force_is_compared_by_the_times_as_they_count(first, tmp_path):
    hours_file(tmp_path / "late", "10:00,23:59", "2023-01-18")
    load_directory(first, tmp_path / "late")
    for times, effective in (("10:00,23:59:59", "2023-01-19"), ("10:00,00:00", "2023-01-20"),  # (all: to midnight)
                             ("09:00,17:00", "2023-01-10")):  # (the first version, in force before the 18th)
        hours_file(tmp_path / effective, times, effective)
        load_directory(first, tmp_path / effective)
    assert rows(first, "SELECT DISTINCT effective_date FROM business_hours ORDER BY 1") == [(0,), (WEDNESDAY,)]
    hours_file(tmp_path / "other", "10:00,23:00", "2023-01-20")
    load_directory(first, tmp_path / "other")
    assert rows(first, "SELECT DISTINCT effective_date FROM business_hours ORDER BY 1") == [
        (0,), (WEDNESDAY,), (WEDNESDAY + 2,)]
