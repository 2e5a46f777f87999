"""What a worker keeps between reports (storemon/reports/warm.py): every store's sessions, made
once, used only for the stores version they were made from and an as_of whose lookback they
cover, and a report with them byte for byte the report without them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings as hypothesis_settings

from storemon.core import compute_uptime
from storemon.core.polls import DAY_US, LOOKBACK_US, US
from storemon.core.sessions import business_sessions
from storemon.database import version
from storemon.database.queries import EVERY_STORE, StoreRange, Stores, snapshot
from storemon.reports import warm
from storemon.reports.build import build_report
from storemon.timeparse import format_instant

from .helpers import HOUR_US, START, Loads, base_data, sweep
from .core_cases import by_store, scenarios, to_input


@pytest.fixture
def unprepared():
    """No sessions made before the test, none left after it."""
    warm._prepared = None
    yield
    warm._prepared = None


def stores_version(engine) -> int:
    with engine.connect() as conn:
        return version.current(conn).stores_version


@hypothesis_settings(max_examples=60, deadline=None)
@given(scenarios())
def test_sessions_made_over_a_longer_span_give_the_same_numbers(scenario):
    as_of, stores = scenario
    data = to_input(stores)
    wider = business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s,
                              data.hours_end_s, (as_of - LOOKBACK_US - 3 * DAY_US) // US, (as_of + 5 * DAY_US) // US)
    assert by_store(compute_uptime(data, as_of, sessions=wider)) == by_store(compute_uptime(data, as_of))


def test_reports_with_the_prepared_sessions_equal_reports_without(engine, tmp_path, unprepared):
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    latest = START + 9 * 24 * HOUR_US

    def agree(as_of: int | None = None) -> bool:
        """The report with whatever is prepared equals the report without; whether it was used."""
        made = warm._prepared
        used = made is not None and warm.sessions_for(stores_version(engine), as_of or latest) is not None
        with_them = build_report(engine, as_of)
        warm._prepared = None
        assert build_report(engine, as_of) == with_them
        warm._prepared = made
        return used

    warm.warm_up(engine)
    assert agree() and agree(latest - 20 * HOUR_US)
    assert not agree(latest - 3 * DAY_US)  # a lookback they do not cover: made by the report
    load(polls=sweep(9 * 24))  # an hour's polls of the same stores: the same stores version
    assert agree() and not warm.refresh(engine)
    for change in (dict(hours=[("store-01", 2, "06:00", "23:00")]), dict(zones=[("store-02", "Asia/Tokyo")]),
                   dict(special=["store-03,2023-01-23,,", "store-04,2023-01-22,10:00,12:00"]),
                   dict(holidays=["2023-01-22,10:00,14:00,a holiday"]),
                   dict(polls=[("newcomer", "active", format_instant(latest))]),
                   # a store with hours but no poll yet is not listed; its first poll lists it
                   dict(hours=[("quiet", 2, "06:00", "23:00")]),
                   dict(polls=[("quiet", "active", format_instant(latest))])):
        before = stores_version(engine)
        load(**change)
        assert stores_version(engine) != before, change
        assert not agree(), change  # not used: the stores changed since they were made
        assert warm.refresh(engine) and agree(), change  # made again
    assert agree(latest - 2 * HOUR_US)  # before the newcomers' first polls: listed without them
    assert warm._prepared.of(np.array([10 ** 6])).store.size == 0  # (a store it does not know has none)


def test_the_prepared_stores_of_a_range_are_the_stores_read(engine, tmp_path, unprepared):
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    load(polls=[("late-comer", "active", format_instant(START + 9 * 24 * HOUR_US))])
    warm.warm_up(engine)
    with snapshot(engine) as snap:
        for as_of in (START + 9 * 24 * HOUR_US, START + 8 * 24 * HOUR_US):
            for within in (EVERY_STORE, StoreRange("store-02", "store-05"), StoreRange(None, "store-03"),
                           StoreRange("store-04", None), StoreRange("zzz", None)):
                read, kept = Stores.read(snap.conn, as_of, within), warm._prepared.listed(as_of, within)
                assert (read.store_ids, read.timezones) == (kept.store_ids, kept.timezones), within
                assert (read.keys == kept.keys).all() and (read.first_poll_us == kept.first_poll_us).all()
                assert read.store_ids or within.first == "zzz"
