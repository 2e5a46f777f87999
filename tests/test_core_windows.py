"""Longer windows (SPEC, "Longer windows"): hand-computed cases, the CSV's columns, and the core
against the reference implementation over windows of up to 90 days."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon.core import compute_uptime, to_csv
from storemon.core.windows import MAX_DAYS, header_columns, lookback_us, parse_windows, windows_of
from storemon.timeparse import parse_instant

from . import reference
from .core_cases import AS_OF_CHOICES, US, ZONES, by_store, coverage_by_store, hour_rows, report_input, to_input

DAY = 86400 * US


def test_windows_are_parsed_and_the_standard_ones_are_always_there():
    assert parse_windows("1h,1d,7d,30d") == (30,)
    assert parse_windows(" 90d , 14D,1h,30d,14d") == (14, 30, 90)
    assert parse_windows("1h,1d,7d") == ()
    for bad in ("30", "1w", "0d", "91d", "30d,,1h", "-5d", "1e3d", "३०d"):
        with pytest.raises(ValueError):
            parse_windows(bad)
    assert lookback_us(windows_of()) == 8 * DAY  # SPEC: exactly the standard 8 days
    assert lookback_us(windows_of((30,))) == 31 * DAY
    assert lookback_us(windows_of((MAX_DAYS,))) == (MAX_DAYS + 1) * DAY


def test_the_columns_of_longer_windows_follow_the_standard_ones():
    assert header_columns(windows_of((30,)), extended=False)[7:] == ("uptime_last_30d", "downtime_last_30d")
    assert header_columns(windows_of((14, 30)), extended=True)[7:] == (
        "no_data_last_hour", "no_data_last_day", "no_data_last_week",
        "uptime_last_14d", "downtime_last_14d", "no_data_last_14d",
        "uptime_last_30d", "downtime_last_30d", "no_data_last_30d")


def test_a_longer_lookback_lends_an_older_polls_state_to_every_window():
    """A store open around the clock, polled once, active, 20 days before as_of. In the standard
    report's 8-day lookback it has no evidence, so it is down; with a 30-day window the poll is
    evidence, and its session (all of time, for a store always open) is up, hour, day and week
    columns included."""
    as_of = "2023-01-25T12:00:00Z"
    data = report_input({"s": {"tz": "UTC"}}, [("s", "2023-01-05T12:00:00Z", "active")])
    standard = to_csv(compute_uptime(data, parse_instant(as_of)))
    assert standard.decode().splitlines()[1] == "s,0.00,0.00,0.00,60.00,24.00,168.00"
    windows = windows_of((30,))
    longer = to_csv(compute_uptime(data, parse_instant(as_of), coverage=True, windows=windows), True, windows)
    header, row = longer.decode().splitlines()
    assert header.split(",")[-3:] == ["uptime_last_30d", "downtime_last_30d", "no_data_last_30d"]
    # up the whole 30 days (720 h); no data but the hour either side of the poll (2 h, well out of the week)
    assert row == "s,60.00,24.00,168.00,0.00,0.00,0.00,60.00,24.00,168.00,720.00,0.00,718.00"


@st.composite
def long_scenarios(draw):
    """Stores polled now and then over the last 100 days, and some near where the lookback of
    the longest window begins (a day before the window); windows of 2 to 90 days."""
    as_of = draw(st.sampled_from(AS_OF_CHOICES)) + draw(st.integers(-3 * 3600, 3 * 3600)) * US
    days = tuple(sorted(draw(st.sets(st.integers(2, MAX_DAYS).filter(lambda n: n != 7), min_size=1, max_size=2))))
    edge = (max(days[-1], 7) + 1) * 86400
    stores = []
    for _ in range(draw(st.integers(1, 3))):
        offsets = draw(st.lists(st.integers(-2 * 86400, 100 * 86400), max_size=20))
        offsets += draw(st.lists(st.integers(edge - 2 * 86400, edge + 86400), max_size=6))
        stores.append((draw(hour_rows), draw(st.sampled_from(ZONES)),
                       [(as_of - o * US, draw(st.booleans())) for o in offsets]))
    return as_of, stores, days


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_scenarios())
def test_longer_windows_match_the_reference(scenario):
    as_of, stores, days = scenario
    windows = windows_of(days)
    lengths = [w.length_us for w in windows]
    result = compute_uptime(to_input(stores), as_of, coverage=True, windows=windows)
    rows, covered = by_store(result), coverage_by_store(result)
    for i, (hours, tz, polls) in enumerate(stores):
        if f"s{i}" not in rows:
            continue
        assert rows[f"s{i}"] == reference.store_uptime(hours, tz, polls, as_of, windows=lengths)
        assert covered[f"s{i}"] == reference.store_no_data(hours, tz, polls, as_of, windows=lengths)
