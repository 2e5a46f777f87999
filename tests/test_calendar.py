"""Special hours and holidays, stored: loaded from files and over HTTP, each date's rows replaced,
bad rows refused by line with nothing written, and the report following them (the rules
themselves: tests/test_core_calendar.py)."""

from __future__ import annotations

import re

import pytest

from storemon.database import tokens, version
from storemon.database.loader import load_directory
from storemon.reports.build import build_report
from storemon.sources import SourceError
from storemon.timeparse import parse_instant

from .helpers import hours_csv, polls_csv, rows, timezones_csv, write_csv

CHRISTMAS = 19716  # 2023-12-25, in days since 1970-01-01
SPECIAL_HEADER = "store_id,date,start_time_local,end_time_local"
HOLIDAY_HEADER = "date,start_time_local,end_time_local,name"


def christmas(directory):
    """Two stores open around the clock in UTC, a chain holiday closing Christmas, and one store
    opening for it anyway (tests/test_core_calendar.py has the same case, computed by hand)."""
    polls_csv(directory, [("closed", "active", "2023-12-25 13:00:00 UTC"), ("open", "active", "2023-12-25 13:00:00 UTC")])
    timezones_csv(directory, [("closed", "UTC"), ("open", "UTC")])
    write_csv(directory, "special_hours", [SPECIAL_HEADER, "open,2023-12-25,12:00,16:00"])
    write_csv(directory, "holidays", [HOLIDAY_HEADER, "2023-12-25,,,Christmas"])
    return directory


def test_a_loaded_holiday_closes_stores_and_special_hours_open_one(engine, tmp_path):
    load_directory(engine, christmas(tmp_path))
    _, csv = build_report(engine, parse_instant("2023-12-26T00:00:00Z"))
    # closed: no business time on the 25th; its poll (on the holiday) is no evidence, so the six
    # days before are down. open: 12:00-16:00 up, and the days before take its poll's state.
    assert csv.decode().splitlines()[1:] == ["closed,0.00,0.00,0.00,0.00,0.00,144.00",
                                             "open,0.00,4.00,148.00,0.00,0.00,0.00"]


def test_each_dates_rows_are_replaced_and_the_other_dates_kept(engine, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write_csv(first, "special_hours", [SPECIAL_HEADER, "a,2023-12-24,10:00,14:00", "a,2023-12-24,16:00,18:00",
                                       "a,2023-12-25,10:00,11:00", "b,2023-12-25,,"])
    write_csv(first, "holidays", [HOLIDAY_HEADER, "2023-12-24,10:00,14:00,Christmas Eve", "2023-12-25,,,Christmas"])
    load_directory(engine, first)
    write_csv(second, "special_hours", [SPECIAL_HEADER, "a,2023-12-25,,"])
    write_csv(second, "holidays", [HOLIDAY_HEADER, "2023-12-24,09:00,13:00,Christmas Eve"])
    load_directory(engine, second)
    assert rows(engine, "SELECT s.store_id, d.date, d.start_s, d.end_s FROM special_hours d JOIN stores s"
                        " ON s.id = d.store ORDER BY 1, 2, 3") == [
        ("a", CHRISTMAS - 1, 36000, 50400), ("a", CHRISTMAS - 1, 57600, 64800), ("a", CHRISTMAS, -1, -1),
        ("b", CHRISTMAS, -1, -1)]
    assert rows(engine, "SELECT date, start_s, end_s, name FROM holidays ORDER BY 1, 2") == [
        (CHRISTMAS - 1, 32400, 46800, "Christmas Eve"), (CHRISTMAS, -1, -1, "Christmas")]


@pytest.mark.parametrize("source, lines, problem", [
    ("special_hours", ["a,2023-12-25,,", "a,2023-12-25,10:00,11:00"], "line 3: 2023-12-25 has both a closed row and hours"),
    ("special_hours", ["a,2023-12-25,10:00,"], "line 2: missing end_time_local (both empty: closed all day)"),
    ("special_hours", ["a,25/12/2023,10:00,11:00"], "line 2: bad date '25/12/2023' (expected YYYY-MM-DD)"),
    ("special_hours", ["a,1970-12-25,,"], "line 2: date '1970-12-25' is out of range (1971-01-01 to 2025-01-2"),
    ("holidays", ["2023-12-25,10:00,11:00,Christmas", "2023-12-25,,,Christmas"], "line 3: 2023-12-25 has both"),
    ("holidays", ["2027-12-25,,,Christmas"], "line 2: date '2027-12-25' is out of range"),
])
def test_a_bad_calendar_row_is_named_by_line_and_nothing_is_written(pg, tmp_path, source, lines, problem):
    polls_csv(tmp_path, [("a", "active", "2023-01-22 12:00:00 UTC")])
    load_directory(pg, tmp_path)  # the data's clock: 2023-01-22, so dates run to two years past it
    header = SPECIAL_HEADER if source == "special_hours" else HOLIDAY_HEADER
    write_csv(tmp_path, source, [header, *lines])
    hours_csv(tmp_path, [("a", 0, "09:00", "17:00")])
    with pytest.raises(SourceError, match=f"^{re.escape(source)}.csv {re.escape(problem)}"):
        load_directory(pg, tmp_path)
    assert rows(pg, "SELECT count(*) FROM special_hours") == rows(pg, "SELECT count(*) FROM holidays") == [(0,)]
    assert rows(pg, "SELECT count(*) FROM business_hours") == [(0,)]  # (the same load's hours: not written either)


def test_a_calendar_change_is_a_change_of_the_stores(pg, tmp_path):
    """A worker keeps every store's sessions for the stores version they were made from."""
    polls_csv(tmp_path / "polls", [("a", "active", "2023-12-25 13:00:00 UTC")])
    load_directory(pg, tmp_path / "polls")
    before = stores_version(pg)
    write_csv(tmp_path / "holidays", "holidays", [HOLIDAY_HEADER, "2023-12-25,,,Christmas"])
    load_directory(pg, tmp_path / "holidays")
    assert stores_version(pg) != before


def stores_version(engine) -> int:
    with engine.connect() as conn:
        return version.current(conn).stores_version


@pytest.fixture
def ingest_token(pg):
    return tokens.create(pg, "poller", ["ingest"])


def test_special_hours_and_holidays_over_http(client, pg, ingest_token):
    auth = {"Authorization": f"Bearer {ingest_token}"}
    special = client.put("/special_hours", headers=auth, json=[
        {"store_id": "a", "date": "2023-12-24", "start_time_local": "10:00", "end_time_local": "14:00"},
        {"store_id": "a", "date": "2023-12-25"}])  # no times: closed
    assert special.status_code == 200, special.get_json()
    assert special.get_json()["new_store_ids"] == ["a"]
    holidays = client.put("/holidays", headers={**auth, "Content-Type": "text/csv"},
                          data=f"{HOLIDAY_HEADER}\n2023-12-25,,,Christmas\n".encode())
    assert holidays.status_code == 200 and holidays.get_json()["rows_read"] == 1
    assert rows(pg, "SELECT date, start_s, end_s FROM special_hours ORDER BY 1") == [
        (CHRISTMAS - 1, 36000, 50400), (CHRISTMAS, -1, -1)]
    assert rows(pg, "SELECT date, name FROM holidays") == [(CHRISTMAS, "Christmas")]
    bad = client.put("/holidays", headers=auth, json=[{"date": "2023-12-26", "start_time_local": "10:00"}])
    assert bad.status_code == 400
    assert bad.get_json()["rejected"] == [{"index": 0, "problem": "missing end_time_local (both empty: closed all day)"}]
    assert rows(pg, "SELECT count(*) FROM holidays") == [(1,)]


def test_the_timeline_page_and_calendar_say_where_a_dates_hours_came_from(client, pg, tmp_path):
    christmas(tmp_path)
    write_csv(tmp_path, "holidays", [HOLIDAY_HEADER, "2023-12-24,10:00,14:00,Christmas Eve", "2023-12-25,,,Christmas"])
    load_directory(pg, tmp_path)
    as_of = {"as_of": "2023-12-26T00:00:00Z"}
    timeline = client.get("/stores/open/timeline", query_string=as_of).get_json()
    assert timeline["special_hours"] == [{"date": "2023-12-25", "closed": False,
                                          "hours": [{"start": "12:00:00", "end": "16:00:00"}]}]
    assert [h["date"] for h in timeline["holidays"]] == ["2023-12-24", "2023-12-25"]
    assert timeline["holidays"][0] | {"hours": None} == {"date": "2023-12-24", "closed": False, "hours": None,
                                                         "name": "Christmas Eve"}
    by_start = {s["start"]["utc"]: s["hours_from"] for s in timeline["sessions"]}
    assert by_start["2023-12-25T12:00:00Z"] == "special hours (12:00-16:00)"
    assert by_start["2023-12-24T10:00:00Z"] == "holiday: Christmas Eve (10:00-14:00)"
    page = client.get("/stores/closed", query_string=as_of).get_data(as_text=True)
    assert "holiday: Christmas, closed" in page and "Dates with other hours" in page
    calendar = client.get("/stores/open/calendar", query_string={"from": "2023-12-25"}).get_json()
    assert calendar == {"store_id": "open", "name": None, "groups": [], "timezone": "UTC", "hours": None, "hours_history": [],
                        "timezone_history": [{"effective_date": None, "timezone": "UTC"}],
                        "special_hours": timeline["special_hours"],
                        "holidays": [{"date": "2023-12-25", "closed": True, "hours": [], "name": "Christmas"}]}
    assert client.get("/stores/nope/calendar").status_code == 404
    assert client.get("/stores/open/calendar", query_string={"to": "25 Dec"}).get_json()["error"].startswith("bad to:")


def test_the_fleet_page_lists_recent_and_upcoming_holidays(client, pg, tmp_path):
    polls_csv(tmp_path, [("a", "active", "2023-12-20 12:00:00 UTC")])
    write_csv(tmp_path, "holidays", [HOLIDAY_HEADER, "2023-12-01,,,Long ago", "2023-12-08,,,Recent",
                                      "2023-12-25,10:00,14:00,Christmas", "2024-03-01,,,Too far"])
    load_directory(pg, tmp_path)
    page = client.get("/").get_data(as_text=True)
    table = page[page.index('id="holidays"'):page.index("</table>", page.index('id="holidays"'))]
    assert "Recent" in table and "Christmas" in table and "10:00–14:00" in table
    assert "Long ago" not in table and "Too far" not in table
    assert table.index("Recent") < table.index("Christmas")
