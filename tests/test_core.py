"""Every SPEC rule with numbers computed by hand (all in seconds).

Calendar used below: 2023-01-22 is a Sunday, 2023-01-23 a Monday. Chicago springs
forward on Sunday 2023-03-12 (02:00 CST -> 03:00 CDT, at 08:00Z) and falls back on
Sunday 2023-11-05 (02:00 CDT -> 01:00 CST, at 07:00Z).
"""

from __future__ import annotations

import numpy as np
import pytest

from storemon.core import Uptime, to_csv

from .core_cases import seconds

MON, SUN = 0, 6
UTC = {"tz": "UTC"}


def test_the_briefs_example_up_until_the_midpoint_then_down():
    stores = {"s": {**UTC, "hours": [(MON, "09:00", "12:00")]}}
    polls = [("s", "2023-01-23 10:14:00", "active"), ("s", "2023-01-23 11:15:00", "inactive")]
    r = seconds(stores, polls, "2023-01-23T13:00:00Z")["s"]
    # up 09:00-10:44:30, down 10:44:30-12:00
    assert (r["up_day"], r["down_day"]) == (6270, 4530)
    assert (r["up_week"], r["down_week"]) == (6270, 4530)
    assert (r["up_hour"], r["down_hour"]) == (0, 0)  # closed 12:00-13:00
    r = seconds(stores, polls, "2023-01-23T11:30:00Z")["s"]
    assert (r["up_hour"], r["down_hour"]) == (870, 2730)  # [10:30, 11:30): switch at 10:44:30


def test_the_csv_rounds_minutes_and_hours_to_two_decimals():
    stores = {"s": {**UTC, "hours": [(MON, "09:00", "12:00")]}}
    polls = [("s", "2023-01-23 10:14:00", "active"), ("s", "2023-01-23 11:15:00", "inactive")]
    from storemon.core import compute_uptime
    from storemon.timeparse import parse_instant

    from .core_cases import report_input

    text = to_csv(compute_uptime(report_input(stores, polls), parse_instant("2023-01-23T11:30:00Z"))).decode()
    assert text == ("store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
                    "downtime_last_hour,downtime_last_day,downtime_last_week\n"
                    # hour: 870 s = 14.50 min up, 2730 s = 45.50 min down; day: 09:00-10:44:30 up
                    # (6270 s = 1.742 h), 10:44:30-11:30 down (2730 s = 0.758 h); the week adds the
                    # previous Monday's 11:30-12:00, a silent session taking the first later state
                    # (active): 8070 s = 2.242 h up
                    "s,14.50,1.74,2.24,45.50,0.76,0.76\n")


def test_rounding_is_half_up_on_exact_integers():
    up = (np.array([299_999, 300_000]), np.array([17_999_999, 18_000_000]), np.array([0, 0]))
    down = tuple(np.zeros(2, np.int64) for _ in range(3))
    text = to_csv(Uptime(0, np.array(["a", "b"]), up, down)).decode().splitlines()
    assert text[1] == "a,0.00,0.00,0.00,0.00,0.00,0.00"  # 0.0049999 min, 0.0049999 h
    assert text[2] == "b,0.01,0.01,0.00,0.00,0.00,0.00"  # exactly 0.005 rounds up


def test_spring_forward_night_lasts_two_hours():
    stores = {"s": {"tz": "America/Chicago", "hours": [(SUN, "01:00", "04:00")]}}
    r = seconds(stores, [("s", "2023-03-12T07:30:00Z", "active")], "2023-03-12T12:00:00Z")["s"]
    assert (r["up_day"], r["down_day"], r["up_week"]) == (7200, 0, 7200)


def test_a_local_time_skipped_by_spring_forward_moves_forward_by_the_gap():
    # 02:30 does not exist that night: it becomes 03:30 CDT (08:30Z); 05:00 CDT is 10:00Z
    stores = {"s": {"tz": "America/Chicago", "hours": [(SUN, "02:30", "05:00")]}}
    r = seconds(stores, [("s", "2023-03-12T09:00:00Z", "inactive")], "2023-03-12T12:00:00Z")["s"]
    assert (r["up_day"], r["down_day"]) == (0, 5400)


def test_fall_back_night_lasts_four_hours_and_switches_at_the_real_midpoint():
    stores = {"s": {"tz": "America/Chicago", "hours": [(SUN, "01:00", "04:00")]}}
    # 01:00 is taken at its first occurrence (CDT, 06:00Z); 04:00 CST is 10:00Z
    polls = [("s", "2023-11-05T06:30:00Z", "active"), ("s", "2023-11-05T09:30:00Z", "inactive")]
    r = seconds(stores, polls, "2023-11-05T12:00:00Z")["s"]
    assert (r["up_day"], r["down_day"]) == (7200, 7200)  # midpoint 08:00Z
    # the repeated hour counts in real time: [07:00Z, 08:00Z) is the second 01:00-02:00
    r = seconds(stores, polls, "2023-11-05T08:00:00Z")["s"]
    assert (r["up_hour"], r["down_hour"], r["up_day"]) == (3600, 0, 7200)


def test_overnight_hours_run_past_midnight():
    stores = {"s": {**UTC, "hours": [(MON, "18:00", "02:00")]}}
    polls = [("s", "2023-01-23T19:00:00Z", "active"), ("s", "2023-01-24T01:00:00Z", "inactive")]
    r = seconds(stores, polls, "2023-01-24T03:00:00Z")["s"]
    assert (r["up_day"], r["down_day"]) == (14400, 14400)  # 18:00-22:00 up, 22:00-02:00 down
    assert (r["up_hour"], r["down_hour"]) == (0, 0)
    assert (r["up_week"], r["down_week"]) == (14400, 14400)


@pytest.mark.parametrize("sunday_end", ["23:59:59", "23:59:00", "23:59"])
def test_an_end_at_23_59_joins_the_next_days_midnight_start_into_one_session(sunday_end):
    stores = {"s": {**UTC, "hours": [(SUN, "11:00", sunday_end), (MON, "00:00", "00:10")]}}
    polls = [("s", "2023-01-22T12:00:00Z", "active"), ("s", "2023-01-23T00:05:00Z", "inactive")]
    r = seconds(stores, polls, "2023-01-23T01:00:00Z")["s"]
    # one session Sun 11:00 - Mon 00:10 (13 h 10 min); midpoint 18:02:30
    assert (r["up_day"], r["down_day"]) == (25350, 22050)


def test_an_earlier_end_leaves_two_sessions():
    stores = {"s": {**UTC, "hours": [(SUN, "11:00", "23:58"), (MON, "00:00", "00:10")]}}
    polls = [("s", "2023-01-22T12:00:00Z", "active"), ("s", "2023-01-23T00:05:00Z", "inactive")]
    r = seconds(stores, polls, "2023-01-23T01:00:00Z")["s"]
    assert (r["up_day"], r["down_day"]) == (46680, 600)


def test_a_start_equal_to_the_end_means_24_hours():
    stores = {"s": {**UTC, "hours": [(MON, "06:00", "06:00")]}}
    r = seconds(stores, [("s", "2023-01-23T07:00:00Z", "active")], "2023-01-24T07:00:00Z")["s"]
    assert (r["up_day"], r["down_day"]) == (86400 - 3600, 0)  # [Mon 07:00, Tue 06:00) of Mon 06:00-Tue 06:00


@pytest.mark.parametrize("hours", [
    [(MON, "09:00", "11:00"), (MON, "11:00", "12:00"), (MON, "14:00", "16:00")],  # touching merge
    [(MON, "09:00", "11:00"), (MON, "10:00", "12:00"), (MON, "14:00", "16:00")],  # overlapping merge
])
def test_several_intervals_a_day_merge_and_silent_sessions_keep_the_last_state(hours):
    stores = {"s": {**UTC, "hours": hours}}
    polls = [("s", "2023-01-23T09:30:00Z", "active"), ("s", "2023-01-23T11:30:00Z", "inactive")]
    r = seconds(stores, polls, "2023-01-23T17:00:00Z")["s"]
    # 09-12: up until 10:30, then down; 14-16 has no poll: last known state (inactive)
    assert (r["up_day"], r["down_day"]) == (5400, 5400 + 7200)


def test_silent_sessions_before_the_first_poll_take_the_first_later_state():
    stores = {"s": {**UTC, "hours": [(d, "09:00", "10:00") for d in range(7)]}}
    polls = [("s", "2023-01-25T09:30:00Z", "inactive"), ("s", "2023-01-27T09:30:00Z", "active")]
    r = seconds(stores, polls, "2023-01-29T12:00:00Z")["s"]
    # Mon, Tue: first later (Wed) inactive; Wed inactive; Thu last known inactive;
    # Fri active; Sat, Sun last known active
    assert (r["up_week"], r["down_week"]) == (3 * 3600, 4 * 3600)
    assert (r["up_day"], r["down_day"]) == (3600, 0)


def test_a_store_without_hours_is_open_all_week():
    r = seconds({"s": UTC}, [("s", "2023-01-23T12:30:00Z", "active")], "2023-01-23T13:00:00Z")["s"]
    assert (r["up_hour"], r["up_day"], r["up_week"]) == (3600, 86400, 7 * 86400)
    assert (r["down_hour"], r["down_day"], r["down_week"]) == (0, 0, 0)


@pytest.mark.parametrize("tz", [None, "Mars/Olympus_Mons", ""])
def test_a_missing_or_unknown_timezone_means_chicago(tz):
    stores = {"s": {"tz": tz, "hours": [(MON, "09:00", "10:00")]}}  # 15:00Z-16:00Z in January
    r = seconds(stores, [("s", "2023-01-23T15:30:00Z", "active")], "2023-01-23T16:30:00Z")["s"]
    assert (r["up_hour"], r["up_day"]) == (1800, 3600)


def test_a_store_polled_only_outside_business_hours_is_down():
    stores = {"s": {**UTC, "hours": [(MON, "09:00", "10:00")]}}
    r = seconds(stores, [("s", "2023-01-23T11:00:00Z", "active")], "2023-01-23T12:00:00Z")["s"]
    assert (r["up_day"], r["down_day"]) == (0, 3600)


def test_duplicates_count_once_and_disagreeing_ones_are_inactive():
    stores = {"a": {**UTC, "hours": [(MON, "09:00", "10:00")]}, "b": {**UTC, "hours": [(MON, "09:00", "10:00")]}}
    polls = [("a", "2023-01-23T09:30:00Z", "active"), ("a", "2023-01-23T09:30:00Z", "inactive"),
             ("b", "2023-01-23T09:15:00Z", "active"), ("b", "2023-01-23T09:15:00Z", "active"),
             ("b", "2023-01-23T09:45:00Z", "inactive")]
    r = seconds(stores, polls, "2023-01-23T12:00:00Z")
    assert (r["a"]["up_day"], r["a"]["down_day"]) == (0, 3600)
    assert (r["b"]["up_day"], r["b"]["down_day"]) == (1800, 1800)


def test_polls_after_as_of_and_older_than_eight_days_are_not_evidence():
    weekday = {**UTC, "hours": [(MON, "09:00", "10:00")]}
    stores = {"old": weekday, "later": UTC, "edge": UTC, "future": UTC}
    polls = [("old", "2023-01-16T09:30:00Z", "active"),  # lookback starts 2023-01-16T12:00Z
             ("later", "2023-01-24T11:00:00Z", "active"), ("later", "2023-01-24T12:00:01Z", "inactive"),
             ("edge", "2023-01-24T10:00:00Z", "active"), ("edge", "2023-01-24T12:00:00Z", "inactive"),
             ("future", "2023-01-24T12:30:00Z", "active")]
    r = seconds(stores, polls, "2023-01-24T12:00:00Z")
    assert list(r) == ["edge", "later", "old"]  # "future" has no poll at or before as_of
    assert (r["old"]["up_week"], r["old"]["down_week"]) == (0, 3600)  # no evidence: down
    assert (r["later"]["up_hour"], r["later"]["down_hour"]) == (3600, 0)
    # a poll exactly at as_of counts: midpoint 11:00 with the 10:00 poll
    assert (r["edge"]["up_hour"], r["edge"]["down_hour"]) == (0, 3600)
    assert (r["edge"]["up_day"], r["edge"]["down_day"]) == (23 * 3600, 3600)


def test_rows_are_sorted_by_store_id_as_a_string():
    stores = {"9": UTC, "10": UTC, "a": UTC, "0010": UTC}
    polls = [(s, "2023-01-23T12:00:00Z", "active") for s in stores]
    assert list(seconds(stores, polls, "2023-01-23T13:00:00Z")) == ["0010", "10", "9", "a"]


def test_a_report_as_of_the_past_ignores_what_came_after():
    stores = {"s": {"tz": "America/New_York", "hours": [(d, "08:00", "20:00") for d in range(5)]}}
    early = [("s", f"2023-01-{d}T{h:02d}:10:00Z", "active" if (d + h) % 3 else "inactive")
             for d in range(16, 24) for h in range(24)]
    late = [("s", f"2023-01-{d}T{h:02d}:10:00Z", "inactive") for d in range(24, 27) for h in range(24)]
    as_of = "2023-01-23T18:00:00Z"
    assert seconds(stores, early, as_of) == seconds(stores, early + late, as_of)


def test_no_stores_and_no_polls_give_an_empty_report():
    assert seconds({}, [], "2023-01-23T13:00:00Z") == {}
    assert seconds({"s": UTC}, [], "2023-01-23T13:00:00Z") == {}
