"""SPEC, "Evidence coverage", with numbers computed by hand (seconds): business time farther
than 60 minutes from every evidence poll of the store is no data, and it keeps the up or down
status the other rules gave it.

Calendar: 2023-01-23 is a Monday; every store keeps UTC, so local times are UTC's."""

from __future__ import annotations

from .core_cases import no_data, seconds

MON, TUE = 0, 1
HOUR = 3600.0


def test_hourly_polls_leave_no_data():
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "17:00")]}}
    polls = [("s", f"2023-01-23 {h:02d}:30:00", "active") for h in range(9, 17)]
    assert no_data(stores, polls, "2023-01-23T17:00:00Z")["s"] == ((0, 0, 0), 8, "2023-01-23T16:30:00Z")


def test_a_three_hour_gap_leaves_its_middle_hour():
    # polls at 09:00 and 12:00 vouch for 08:00-10:00 and 11:00-13:00: 10:00-11:00 is no data
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "13:00")]}}
    polls = [("s", "2023-01-23 09:00:00", "active"), ("s", "2023-01-23 12:00:00", "active")]
    assert no_data(stores, polls, "2023-01-23T13:00:00Z")["s"] == ((0, HOUR, HOUR), 2, "2023-01-23T12:00:00Z")
    # and that hour keeps its status: up, as the nearest poll (09:00 before 10:30, 12:00 after) says
    assert seconds(stores, polls, "2023-01-23T13:00:00Z")["s"]["up_day"] == 4 * HOUR


def test_a_store_without_evidence_is_no_data_all_its_business_time():
    # polled at 08:00 and 13:30, while closed: listed, down (rule 3), and no data throughout
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "13:00")]}}
    polls = [("s", "2023-01-23 08:00:00", "inactive"), ("s", "2023-01-23 13:30:00", "active")]
    assert no_data(stores, polls, "2023-01-23T14:00:00Z")["s"] == ((0, 4 * HOUR, 4 * HOUR), 0, None)
    assert seconds(stores, polls, "2023-01-23T14:00:00Z")["s"]["down_day"] == 4 * HOUR


def test_a_poll_just_outside_sixty_minutes_leaves_the_seconds_between():
    # 10:00 vouches up to 11:00:00, 12:00:02 from 11:00:02: two seconds unvouched. 09:00 is
    # exactly 60 minutes from 10:00 and 13:00 from 12:00:02 less than that: both vouched for.
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "13:00")]}}
    polls = [("s", "2023-01-23 10:00:00", "active"), ("s", "2023-01-23 12:00:02", "active")]
    assert no_data(stores, polls, "2023-01-23T13:00:00Z")["s"][0] == (0, 2, 2)


def test_a_poll_vouches_across_a_session_boundary():
    # open 09:00-12:00 and 12:30-15:00; polls at 11:45 and 13:15 vouch for 10:45-12:45 and
    # 12:15-14:15: no data is 09:00-10:45 (6300 s) and 14:15-15:00 (2700 s). The 12:30 session's
    # start is vouched for by the 11:45 poll of the session before.
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "12:00"), (MON, "12:30", "15:00")]}}
    polls = [("s", "2023-01-23 11:45:00", "active"), ("s", "2023-01-23 13:15:00", "inactive")]
    assert no_data(stores, polls, "2023-01-23T15:00:00Z")["s"][0] == (2700, 9000, 9000)


def test_a_gap_in_closed_time_is_no_data_of_none():
    # open 09:00-11:00 and 14:00-16:00, polled every hour while open: the 4 hours between the
    # 10:30 and 14:30 polls fall while the store is closed
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "11:00"), (MON, "14:00", "16:00")]}}
    polls = [("s", f"2023-01-23 {t}:00", "active") for t in ("09:30", "10:30", "14:30", "15:30")]
    assert no_data(stores, polls, "2023-01-23T16:00:00Z")["s"] == ((0, 0, 0), 4, "2023-01-23T15:30:00Z")


def test_a_window_starting_inside_a_gap_counts_only_its_part():
    # open Mondays and Tuesdays 09:00-17:00. Monday's polls at 09:00 and 13:30 leave 10:00-12:30
    # and 14:30-17:00; Tuesday is polled at 09:00 and 10:00, as of 11:00.
    # day [Mon 11:00, Tue 11:00): 11:00-12:30 (5400) + 14:30-17:00 (9000) = 14400
    # week [Tue 17 11:00, Tue 24 11:00): Tuesday the 17th's 11:00-17:00 had no poll (21600),
    # and Monday's 10:00-12:30 whole (9000) + 9000 = 39600
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "17:00"), (TUE, "09:00", "17:00")]}}
    polls = [("s", "2023-01-23 09:00:00", "active"), ("s", "2023-01-23 13:30:00", "inactive"),
             ("s", "2023-01-24 09:00:00", "active"), ("s", "2023-01-24 10:00:00", "active")]
    assert no_data(stores, polls, "2023-01-24T11:00:00Z")["s"] == ((0, 14400, 39600), 4, "2023-01-24T10:00:00Z")


def test_the_extended_csv_appends_no_data_in_each_windows_unit():
    from storemon.core import compute_uptime, to_csv
    from storemon.timeparse import parse_instant

    from .core_cases import report_input

    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "13:00")]}}
    polls = [("s", "2023-01-23 09:00:00", "active"), ("s", "2023-01-23 12:00:00", "active")]
    uptime = compute_uptime(report_input(stores, polls), parse_instant("2023-01-23T13:00:00Z"), coverage=True)
    assert to_csv(uptime, extended=True).decode() == (
        "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,"
        "downtime_last_week,no_data_last_hour,no_data_last_day,no_data_last_week\n"
        "s,60.00,4.00,4.00,0.00,0.00,0.00,0.00,1.00,1.00\n")  # the hour in minutes, day and week in hours
    assert to_csv(uptime) == to_csv(compute_uptime(report_input(stores, polls), parse_instant("2023-01-23T13:00:00Z")))


def test_a_stretch_reaching_back_into_the_session_before_its_poll():
    # open 09:00-12:00 and 12:30-15:00; polls at 09:30 and 12:45 vouch for 08:30-10:30 and
    # 11:45-13:45: the second begins inside the morning session. No data: 10:30-11:45 (4500)
    # and 13:45-15:00 (4500)
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "12:00"), (MON, "12:30", "15:00")]}}
    polls = [("s", "2023-01-23 09:30:00", "active"), ("s", "2023-01-23 12:45:00", "active")]
    assert no_data(stores, polls, "2023-01-23T15:00:00Z")["s"][0] == (HOUR, 9000, 9000)


def test_a_stretch_reaching_on_into_the_session_after_its_poll():
    # open 09:00-12:00 and 12:10-15:00; polls at 11:15 and 14:45 vouch for 10:15-12:15 and
    # 13:45-15:00: the first ends inside the afternoon session. No data: 09:00-10:15 (4500)
    # and 12:15-13:45 (5400)
    stores = {"s": {"tz": "UTC", "hours": [(MON, "09:00", "12:00"), (MON, "12:10", "15:00")]}}
    polls = [("s", "2023-01-23 11:15:00", "active"), ("s", "2023-01-23 14:45:00", "active")]
    assert no_data(stores, polls, "2023-01-23T15:00:00Z")["s"][0] == (0, 9900, 9900)
