"""Down now (storemon/core/outages.py, GET /stores/down): hand-computed cases, the reference
implementation, and the endpoint on real data.

Calendar: 2023-01-23 is a Monday; the stores keep UTC, so local times are UTC's."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon.core.outages import stores_down
from storemon.timeparse import format_instant, parse_instant

from . import reference
from .core_cases import AS_OF_CHOICES, US, ZONES, hour_rows, report_input, scenarios, times, to_input

MON = 0
HOUR = 3600 * US
OPEN = {"tz": "UTC", "hours": [(MON, "09:00", "17:00")]}


def down(stores, polls, now: str, interval_us: int = HOUR) -> dict[str, tuple[str, bool, str]]:
    data = report_input(stores, polls)
    found = stores_down(data, parse_instant(now), interval_us)
    return {str(data.store_ids[s]): (format_instant(int(since)), bool(exact), format_instant(int(last)))
            for s, since, exact, last in zip(found.stores, found.since_us, found.since_exact, found.last_poll_us)}


def test_down_since_the_first_inactive_poll_after_the_last_active_one():
    polls = [("s", "2023-01-23 12:00:00", "active"), ("s", "2023-01-23 13:00:00", "inactive"),
             ("s", "2023-01-23 14:00:00", "inactive")]
    assert down({"s": OPEN}, polls, "2023-01-23T14:30:00Z") == {
        "s": ("2023-01-23T13:00:00Z", True, "2023-01-23T14:00:00Z")}
    # every poll read inactive: since the first of them, a lower bound
    assert down({"s": OPEN}, polls[1:], "2023-01-23T14:30:00Z") == {
        "s": ("2023-01-23T13:00:00Z", False, "2023-01-23T14:00:00Z")}
    # an active poll last: up
    assert down({"s": OPEN}, polls + [("s", "2023-01-23 14:20:00", "active")], "2023-01-23T14:30:00Z") == {}


def test_nobody_is_down_when_closed_quiet_or_polled_outside_business_hours():
    # closed now (open until 14:00)
    closing = {"tz": "UTC", "hours": [(MON, "09:00", "14:00")]}
    assert down({"s": closing}, [("s", "2023-01-23 13:50:00", "inactive")], "2023-01-23T14:30:00Z") == {}
    # the latest evidence poll older than the poll interval: quiet, not known down
    assert down({"s": OPEN}, [("s", "2023-01-23 13:00:00", "inactive")], "2023-01-23T14:30:00Z") == {}
    assert down({"s": OPEN}, [("s", "2023-01-23 13:00:00", "inactive")], "2023-01-23T14:30:00Z",
                interval_us=2 * HOUR) != {}
    # inactive while closed says nothing: the latest evidence poll is the active one before the break
    split = {"tz": "UTC", "hours": [(MON, "09:00", "12:00"), (MON, "13:00", "17:00")]}
    polls = [("s", "2023-01-23 11:55:00", "active"), ("s", "2023-01-23 12:30:00", "inactive")]
    assert down({"s": split}, polls, "2023-01-23T13:10:00Z") == {}


@st.composite
def recent_polls(draw):
    """Stores polled every hour or so over the last day and a half, mostly inactive."""
    as_of = draw(st.sampled_from(AS_OF_CHOICES)) + draw(st.integers(-3 * 3600, 3 * 3600)) * US
    stores = []
    for _ in range(draw(st.integers(1, 4))):
        offsets = draw(st.lists(st.integers(-600, 36 * 3600), max_size=30))
        daily = st.tuples(times, times).map(lambda ab: [(d, *ab) for d in range(7)])  # (open today too)
        stores.append((draw(st.one_of(hour_rows, daily)), draw(st.sampled_from(ZONES)),
                       [(as_of - o * US, draw(st.sampled_from([True, False, False]))) for o in offsets]))
    return as_of, stores


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(scenarios(), recent_polls()), st.sampled_from([HOUR, 3 * HOUR]))
def test_down_now_matches_the_reference(scenario, interval_us):
    as_of, stores = scenario
    data = to_input(stores)
    found = stores_down(data, as_of, interval_us)
    got = {int(s): (int(since), bool(exact), int(last))
           for s, since, exact, last in zip(found.stores, found.since_us, found.since_exact, found.last_poll_us)}
    for i, (hours, tz, polls) in enumerate(stores):
        assert got.get(i) == reference.store_down_now(hours, tz, polls, as_of, interval_us, 24 * HOUR)
    assert list(found.since_us) == sorted(found.since_us)  # longest down first


def test_get_stores_down_lists_names_groups_and_filters_by_group(client, pg, tmp_path):
    """Three stores open 09:00-17:00 UTC, polled hourly; as of 14:30 (another store's poll), a is
    down since 13:00, b since at least 10:00 (nothing but inactive), c is up."""
    from .helpers import Loads, write_csv

    load = Loads(pg, tmp_path)
    hours = [(s, MON, "09:00", "17:00") for s in "abc"]
    status = {"a": ["active"] * 3 + ["inactive"] * 2, "b": ["inactive"] * 5, "c": ["active"] * 5}
    polls = [(s, status[s][k], f"2023-01-23 {10 + k}:00:00 UTC") for s in "abc" for k in range(5)]
    load(polls=polls + [("z", "active", "2023-01-23 14:30:00 UTC")], hours=hours,
         zones=[(s, "UTC") for s in "abcz"])
    directory = tmp_path / "directory"
    directory.mkdir()
    write_csv(directory, "stores", ["store_id,name,groups", "a,Alpha,region:west", "b,Beta,region:east"])
    from storemon.database.loader import load_directory
    load_directory(pg, directory)
    answer = client.get("/stores/down").get_json()
    assert answer == {"as_of": "2023-01-23T14:30:00Z", "poll_interval_s": 3600, "group": None, "count": 2, "stores": [
        {"store_id": "b", "name": "Beta", "groups": ["region:east"], "since": "2023-01-23T10:00:00Z",
         "since_exact": False, "last_poll": "2023-01-23T14:00:00Z"},
        {"store_id": "a", "name": "Alpha", "groups": ["region:west"], "since": "2023-01-23T13:00:00Z",
         "since_exact": True, "last_poll": "2023-01-23T14:00:00Z"}]}
    west = client.get("/stores/down?group=region:west&limit=5").get_json()
    assert (west["count"], [s["store_id"] for s in west["stores"]]) == (1, ["a"])
    assert client.get("/stores/down?limit=1").get_json()["count"] == 2
    assert client.get("/stores/down?limit=0").status_code == 400
    assert client.get("/stores/down?group=west").status_code == 400
