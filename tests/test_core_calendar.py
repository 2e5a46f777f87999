"""SPEC's "Special hours, holidays and closures" and "History of weekly hours and timezones", with
numbers computed by hand (all in seconds).

Calendar used below: 2023-01-20 is a Friday; New York springs forward on Sunday 2023-03-12
(02:00 EST -> 03:00 EDT, at 07:00Z); 2023-07-04 is a Tuesday (New York UTC-4, Los Angeles
UTC-7); 2023-12-25 is a Monday.
"""

from __future__ import annotations

from .core_cases import seconds

FRI, SAT = 4, 5
UTC = {"tz": "UTC"}


def test_a_holiday_on_the_night_clocks_spring_forward_lasts_its_real_time():
    stores = {"s": {"tz": "America/New_York"}}  # open around the clock, but for the holiday
    holidays = [("2023-03-12", "01:00", "05:00")]  # 06:00Z to 09:00Z: three real hours
    polls = [("s", "2023-03-11 12:00:00", "inactive"),  # Saturday, the session before the holiday
             ("s", "2023-03-12 07:00:00", "active"),  # inside the holiday's hours: evidence
             ("s", "2023-03-12 12:00:00", "inactive")]  # after them, on the holiday: no evidence
    r = seconds(stores, polls, "2023-03-13T00:00:00Z", holidays)["s"]
    # the day [03-12 00:00Z, 03-13 00:00Z): Saturday's hours to its midnight, 05:00Z, down (its
    # one poll); the holiday's 06:00Z-09:00Z up; nothing after it on the 12th
    assert (r["up_day"], r["down_day"]) == (3 * 3600, 5 * 3600)
    assert (r["up_hour"], r["down_hour"]) == (0, 0)  # 19:00-20:00 EDT on the holiday: closed
    without = seconds(stores, polls, "2023-03-13T00:00:00Z")["s"]
    assert without["up_hour"] + without["down_hour"] == 3600


def test_friday_night_runs_into_a_closed_saturday_which_counts_nothing():
    stores = {"s": {**UTC, "hours": [(FRI, "18:00", "02:00"), (SAT, "10:00", "14:00")],
                    "special": [("2023-01-21", None, None)]}}  # Saturday closed all day
    polls = [("s", "2023-01-20 20:00:00", "active"), ("s", "2023-01-21 01:00:00", "inactive"),
             ("s", "2023-01-21 12:00:00", "active")]  # on the closed Saturday: no evidence
    r = seconds(stores, polls, "2023-01-21T23:00:00Z")["s"]
    # Friday's 18:00-02:00 still runs to 02:00 Saturday; the switch is at 22:30
    assert (r["up_week"], r["down_week"]) == (4.5 * 3600, 3.5 * 3600)
    assert (r["up_day"], r["down_day"]) == (0, 3 * 3600)  # [Fri 23:00, Sat 23:00): 23:00-02:00, down
    opened = seconds({"s": {**UTC, "hours": stores["s"]["hours"]}}, polls, "2023-01-21T23:00:00Z")["s"]
    assert (opened["up_day"], opened["down_day"]) == (4 * 3600, 3 * 3600)  # Saturday 10-14 up, as polled


def test_a_stores_special_hours_win_over_the_chains_holiday():
    stores = {"closed": UTC, "open": {**UTC, "special": [("2023-12-25", "12:00", "16:00")]}}
    polls = [("closed", "2023-12-25 13:00:00", "active"), ("open", "2023-12-25 13:00:00", "active")]
    r = seconds(stores, polls, "2023-12-26T00:00:00Z", holidays=[("2023-12-25", None, None)])
    assert (r["closed"]["up_day"], r["closed"]["down_day"]) == (0, 0)
    assert (r["open"]["up_day"], r["open"]["down_day"]) == (4 * 3600, 0)
    # the week [12-19, 12-26): six open days before; "closed" has no evidence (its poll fell on
    # the holiday) and is down for them; "open" takes its first later poll's state, up
    assert (r["closed"]["up_week"], r["closed"]["down_week"]) == (0, 144 * 3600)
    assert (r["open"]["up_week"], r["open"]["down_week"]) == (148 * 3600, 0)


def test_a_holiday_holds_in_each_stores_own_zone():
    stores = {"la": {"tz": "America/Los_Angeles"}, "ny": {"tz": "America/New_York"}}
    polls = [("la", "2023-07-04 17:30:00", "active"), ("ny", "2023-07-04 17:30:00", "active")]
    r = seconds(stores, polls, "2023-07-05T00:00:00Z", holidays=[("2023-07-04", "10:00", "14:00", )])
    # the day [07-04 00:00Z, 07-05 00:00Z): the 3rd's hours to local midnight (04:00Z in New York,
    # 07:00Z in Los Angeles), then 10:00-14:00 local (14-18Z, 17-21Z); the 5th starts after the day
    assert (r["ny"]["up_day"], r["ny"]["down_day"]) == ((4 + 4) * 3600, 0)
    assert (r["la"]["up_day"], r["la"]["down_day"]) == ((7 + 4) * 3600, 0)
    assert r["ny"]["up_hour"] == r["la"]["up_hour"] == 0  # 23:00Z: both closed for the holiday


# SPEC's "History of weekly hours and timezones". 2023-01-16 is a Monday; the week as of Saturday
# 2023-01-21 00:00Z runs from Saturday the 14th.
EVERY_DAY = range(7)
LONG = [(d, "09:00", "17:00") for d in EVERY_DAY]  # 8 h a day
SHORT = [(d, "12:00", "14:00") for d in EVERY_DAY]  # 2 h a day
ONE_POLL = [("s", "2023-01-16 12:00:00", "active")]  # every session takes its state: up


def week_up(versions) -> float:
    return seconds({"s": {**UTC, "versions": versions}}, ONE_POLL, "2023-01-21T00:00:00Z")["s"]["up_week"] / 3600


def test_a_change_of_hours_mid_week_holds_from_its_effective_date():
    # Sat 14 to Tue 17 the first version (4 x 8 h), Wed 18 to Fri 20 the second (3 x 2 h)
    assert week_up([("2023-01-01", LONG), ("2023-01-18", SHORT)]) == 32 + 6


def test_a_first_version_holds_before_its_effective_date_too():
    assert week_up([("2023-01-19", LONG)]) == 7 * 8
    assert week_up([("2023-01-19", LONG), ("2023-01-20", SHORT)]) == 6 * 8 + 2


def test_a_change_effective_after_the_windows_leaves_a_past_report_as_it_was():
    assert week_up([("2023-01-01", LONG), ("2023-01-21", SHORT)]) == week_up([("2023-01-01", LONG)]) == 7 * 8


def test_a_backdated_correction_changes_a_past_report_on_purpose():
    assert week_up([("2023-01-01", LONG), ("2023-01-18", SHORT), ("2023-01-15", SHORT)]) == 8 + 6 * 2


# Zones with a history: 2023-03-12 is the Sunday both New York and Los Angeles spring forward;
# from then New York is UTC-4, Los Angeles UTC-7. The store moves zone on Tuesday the 14th.
NY_THEN_LA = [("2023-01-01", "America/New_York"), ("2023-03-14", "America/Los_Angeles")]


def test_each_dates_hours_are_built_in_the_zone_in_force_that_date():
    polls = [("s", "2023-03-10 15:00:00", "active")]
    hours = [(d, "09:00", "17:00") for d in EVERY_DAY]
    moved = seconds({"s": {"zones": NY_THEN_LA, "hours": hours}}, polls, "2023-03-15T00:00:00Z")["s"]
    stayed = seconds({"s": {"tz": "America/New_York", "hours": hours}}, polls, "2023-03-15T00:00:00Z")["s"]
    # 23:00Z on the 14th: 16:00 in Los Angeles, open; 19:00 in New York, closed
    assert (moved["up_hour"], stayed["up_hour"]) == (3600, 0)
    # the week: 8 h a day either way, 03-08 to 03-11 at 14-22Z (EST), 03-12 and 03-13 at 13-21Z
    # (EDT), and the 14th at 13-21Z in New York or 16-24Z in Los Angeles
    assert moved["up_week"] == stayed["up_week"] == 7 * 8 * 3600


def test_a_change_of_zone_leaves_a_gap_at_its_midnight_and_time_covered_twice_counts_once():
    polls = [("s", "2023-03-13 12:00:00", "active")]
    west = seconds({"s": {"zones": NY_THEN_LA}}, polls, "2023-03-15T00:00:00Z")["s"]
    # the 13th in New York ends at 04:00Z on the 14th; the 14th in Los Angeles starts at 07:00Z
    assert west["up_day"] + west["down_day"] == (4 + 17) * 3600
    east = seconds({"s": {"zones": [("2023-01-01", "America/Los_Angeles"), ("2023-03-14", "America/New_York")]}},
                   polls, "2023-03-15T00:00:00Z")["s"]
    # the 13th in Los Angeles runs to 07:00Z, the 14th in New York from 04:00Z: together, the whole day
    assert east["up_day"] + east["down_day"] == 24 * 3600
