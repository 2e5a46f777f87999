"""Incidents (storemon/core/incidents.py): hand-computed cases and the reference implementation.

Calendar: 2023-01-23 is a Monday; the stores keep UTC, so local times are UTC's."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon.core.incidents import NO_POLL, SPAN_US, Open, Rules, incidents_of, poller_silent
from storemon.timeparse import format_instant, parse_instant

from . import reference
from .core_cases import AS_OF_CHOICES, US, ZONES, hour_rows, report_input, times, to_input

MON, TUE = 0, 1
HOUR = 3600 * US
OPEN = {"tz": "UTC", "hours": [(MON, "09:00", "17:00"), (TUE, "09:00", "17:00")]}


def _at(text: str | None) -> int:
    return NO_POLL if text is None else parse_instant(text)


def _shown(us: int) -> str | None:
    return None if us == NO_POLL else format_instant(int(us))


def evaluated(stores, polls, now: str, rules: Rules | None = None, down=None, no_data=None) -> dict:
    """{kind: {"opened": {store: (since, opening poll)}, "resolved": {store: poll}}}; ``down`` and
    ``no_data``: {store: the poll that opened its open incident (None: none did)}."""
    data = report_input(stores, polls)
    ids = [str(s) for s in data.store_ids]

    def open_of(given: dict | None) -> Open:
        given = given or {}
        return Open(np.array([ids.index(s) for s in given], np.int64), np.array([_at(p) for p in given.values()],
                                                                                np.int64))

    opened = {"down": open_of(down), "no_data": open_of(no_data)}
    found = incidents_of(data, parse_instant(now), rules or Rules(), opened["down"], opened["no_data"])
    answer = {}
    for kind, changes in (("down", found.down), ("no_data", found.no_data)):
        answer[kind] = {
            "opened": {ids[s]: (format_instant(int(a)), _shown(b))
                       for s, a, b in zip(changes.opened_store, changes.opened_us, changes.opened_poll_us)},
            "resolved": {ids[int(opened[kind].store[i])]: format_instant(int(t))
                         for i, t in zip(changes.resolved, changes.resolved_us)}}
    return answer


def test_a_run_of_inactive_polls_opens_a_down_incident_since_its_first():
    polls = [("s", "2023-01-23 10:00:00", "active"), ("s", "2023-01-23 11:00:00", "inactive"),
             ("s", "2023-01-23 12:00:00", "inactive")]
    found = evaluated({"s": OPEN}, polls, "2023-01-23T12:00:00Z")
    assert found["down"]["opened"] == {"s": ("2023-01-23T11:00:00Z", "2023-01-23T11:00:00Z")}
    # two in a row: the second poll opens it, down since the first
    found = evaluated({"s": OPEN}, polls, "2023-01-23T12:00:00Z", Rules(down_after=2))
    assert found["down"]["opened"] == {"s": ("2023-01-23T11:00:00Z", "2023-01-23T12:00:00Z")}
    assert evaluated({"s": OPEN}, polls, "2023-01-23T12:00:00Z", Rules(down_after=3))["down"]["opened"] == {}
    # already open: nothing new
    assert evaluated({"s": OPEN}, polls, "2023-01-23T12:00:00Z", down={"s": "2023-01-23 11:00:00"})["down"] == {
        "opened": {}, "resolved": {}}


def test_an_active_evidence_poll_resolves_down_and_a_later_run_opens_anew():
    polls = [("s", "2023-01-23 11:00:00", "inactive"), ("s", "2023-01-23 13:00:00", "active"),
             ("s", "2023-01-23 14:00:00", "inactive")]
    found = evaluated({"s": OPEN}, polls[:2], "2023-01-23T13:00:00Z", down={"s": "2023-01-23 11:00:00"})
    assert found["down"] == {"opened": {}, "resolved": {"s": "2023-01-23T13:00:00Z"}}
    found = evaluated({"s": OPEN}, polls, "2023-01-23T14:00:00Z", down={"s": "2023-01-23 11:00:00"})
    assert found["down"] == {"opened": {"s": ("2023-01-23T14:00:00Z", "2023-01-23T14:00:00Z")},
                             "resolved": {"s": "2023-01-23T13:00:00Z"}}
    # an active poll outside business hours resolves nothing: Monday 18:00 is closed
    late = [("s", "2023-01-23 16:00:00", "inactive"), ("s", "2023-01-23 18:00:00", "active")]
    assert evaluated({"s": OPEN}, late, "2023-01-23T18:00:00Z", down={"s": "2023-01-23 16:00:00"})["down"] == {
        "opened": {}, "resolved": {}}


def test_nothing_opens_while_a_store_is_closed():
    closing = {"tz": "UTC", "hours": [(MON, "09:00", "12:00")]}
    polls = [("s", "2023-01-23 11:50:00", "inactive")]
    assert evaluated({"s": closing}, polls, "2023-01-23T11:55:00Z")["down"]["opened"] != {}
    assert evaluated({"s": closing}, polls, "2023-01-23T12:30:00Z")["down"]["opened"] == {}
    # an inactive poll while closed is not evidence: open again at 13:00, the latest is active
    split = {"tz": "UTC", "hours": [(MON, "09:00", "12:00"), (MON, "13:00", "17:00")]}
    polls = [("s", "2023-01-23 11:55:00", "active"), ("s", "2023-01-23 12:30:00", "inactive")]
    assert evaluated({"s": split}, polls, "2023-01-23T13:10:00Z")["down"]["opened"] == {}
    # a holiday closes the store: a Monday holiday, nothing opens however quiet or inactive
    data_polls = [("s", "2023-01-23 10:00:00", "inactive")]
    found = evaluated({"s": dict(OPEN, special=[("2023-01-23", None, None)])}, data_polls, "2023-01-23T14:00:00Z")
    assert (found["down"]["opened"], found["no_data"]["opened"]) == ({}, {})


def test_silence_in_business_time_opens_no_data_at_the_threshold():
    polls = [("s", "2023-01-23 09:00:00", "active")]
    assert evaluated({"s": OPEN}, polls, "2023-01-23T10:59:00Z")["no_data"]["opened"] == {}
    assert evaluated({"s": OPEN}, polls, "2023-01-23T11:30:00Z")["no_data"]["opened"] == {
        "s": ("2023-01-23T11:00:00Z", "2023-01-23T09:00:00Z")}
    # a break is not silence: 30 min before it and 60 after make 1.5 h at 12:00; 2 h at 12:30
    split = {"tz": "UTC", "hours": [(MON, "09:00", "10:00"), (MON, "11:00", "17:00")]}
    polls = [("s", "2023-01-23 09:30:00", "active")]
    assert evaluated({"s": split}, polls, "2023-01-23T12:00:00Z")["no_data"]["opened"] == {}
    assert evaluated({"s": split}, polls, "2023-01-23T12:30:00Z")["no_data"]["opened"] == {
        "s": ("2023-01-23T12:30:00Z", "2023-01-23T09:30:00Z")}
    # nor is the night: 30 min on Monday and 90 on Tuesday make 2 h at Tuesday 10:30
    polls = [("s", "2023-01-23 16:30:00", "inactive")]
    assert evaluated({"s": OPEN}, polls, "2023-01-24T10:00:00Z")["no_data"]["opened"] == {}
    assert evaluated({"s": OPEN}, polls, "2023-01-24T10:45:00Z")["no_data"]["opened"] == {
        "s": ("2023-01-24T10:30:00Z", "2023-01-23T16:30:00Z")}


def test_no_data_counts_from_the_first_poll_or_the_span_and_resolves_on_any_evidence():
    # first polled at 10:00 outside... of its own hours (opens at 11:00): silent from 11:00
    late_opener = {"tz": "UTC", "hours": [(MON, "11:00", "17:00")]}
    polls = [("s", "2023-01-23 10:00:00", "active")]
    assert evaluated({"s": late_opener}, polls, "2023-01-23T13:30:00Z")["no_data"]["opened"] == {
        "s": ("2023-01-23T13:00:00Z", None)}
    # a store never polled is not watched
    assert evaluated({"s": OPEN, "t": OPEN}, polls, "2023-01-23T16:00:00Z")["no_data"]["opened"].keys() == {"s"}
    # open for 24 h, last polled two days ago: silent since the span's start, a day before now
    always = {"tz": "UTC"}
    found = evaluated({"s": always}, [("s", "2023-01-21 12:00:00", "active")], "2023-01-23T12:00:00Z")
    assert found["no_data"]["opened"] == {"s": ("2023-01-22T14:00:00Z", None)}
    # an inactive evidence poll ends silence as well as an active one
    found = evaluated({"s": OPEN}, [("s", "2023-01-23 09:00:00", "active"), ("s", "2023-01-23 12:00:00", "inactive")],
                      "2023-01-23T12:00:00Z", no_data={"s": "2023-01-23 09:00:00"})
    assert found["no_data"] == {"opened": {}, "resolved": {"s": "2023-01-23T12:00:00Z"}}
    assert found["down"]["opened"] == {"s": ("2023-01-23T12:00:00Z", "2023-01-23T12:00:00Z")}


def test_a_silent_poller_is_one_past_its_threshold_by_the_wall_clock():
    rules = Rules(poller_silence_us=2 * HOUR)
    now = parse_instant("2023-01-23T12:00:00Z")
    assert not poller_silent(None, now, rules)
    assert not poller_silent(now - 2 * HOUR, now, rules)
    assert poller_silent(now - 2 * HOUR - 1, now, rules)


@st.composite
def watched_stores(draw):
    """Stores polled every hour or so over the last day and a half, mostly inactive, some with
    an incident open since one of their polls (or since none)."""
    now = draw(st.sampled_from(AS_OF_CHOICES)) + draw(st.integers(-3 * 3600, 3 * 3600)) * US
    stores = []
    for _ in range(draw(st.integers(1, 4))):
        offsets = draw(st.lists(st.integers(-600, 36 * 3600), max_size=30))
        daily = st.tuples(times, times).map(lambda ab: [(d, *ab) for d in range(7)])
        polls = [(now - o * US, draw(st.sampled_from([True, False, False]))) for o in offsets]
        opening = st.one_of(st.none(), st.just(NO_POLL), st.sampled_from([t for t, _ in polls] or [NO_POLL]))
        stores.append((draw(st.one_of(hour_rows, daily)), draw(st.sampled_from(ZONES)), polls,
                       draw(opening), draw(opening)))
    return now, stores


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(watched_stores(), st.integers(1, 3), st.sampled_from([HOUR // 2, 2 * HOUR, 5 * HOUR]))
def test_incidents_match_the_reference(scenario, down_after, silence_us):
    now, stores = scenario
    data = to_input([(hours, tz, polls) for hours, tz, polls, _, _ in stores])

    def open_of(which: int) -> Open:
        chosen = [(i, s[which]) for i, s in enumerate(stores) if s[which] is not None]
        return Open(np.array([i for i, _ in chosen], np.int64), np.array([p for _, p in chosen], np.int64))

    rules = Rules(down_after=down_after, silence_us=silence_us)
    down, no_data = open_of(3), open_of(4)
    found = incidents_of(data, now, rules, down, no_data)
    for i, (hours, tz, polls, open_down, open_no_data) in enumerate(stores):
        expected = reference.store_incidents(hours, tz, polls, now, SPAN_US, down_after, silence_us, open_down,
                                             open_no_data)
        for kind, changes, opened in (("down", found.down, down), ("no_data", found.no_data, no_data)):
            mine = np.flatnonzero(changes.opened_store == i)
            got_opened = (int(changes.opened_us[mine[0]]), int(changes.opened_poll_us[mine[0]])) if mine.size else None
            resolved = [int(t) for r, t in zip(changes.resolved, changes.resolved_us) if opened.store[r] == i]
            assert got_opened == expected[kind]["opened"], (kind, i)
            assert (resolved[0] if resolved else None) == expected[kind]["resolved"], (kind, i)


def test_store_keys_of_any_size_give_the_same_changes():
    """The rule numbers stores by position, so a database key past 2**22 (41 bits of time below
    it) cannot overflow its keys."""
    from storemon.core.incidents import evaluate
    from storemon.core.sessions import Sessions, business_sessions

    stores = {"a": OPEN, "b": OPEN}
    polls = [("a", "2023-01-23 10:00:00", "inactive"), ("b", "2023-01-23 09:00:00", "active")]
    data = report_input(stores, polls)
    now = parse_instant("2023-01-23T11:30:00Z")
    sessions = business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s,
                                 data.hours_end_s, now // US - 3 * 86400, now // US + 86400)
    store, ts_us, active = data.polls.ordered(data.polls.key).polls()
    found = []
    for offset in (0, 1 << 40):
        moved = Sessions(sessions.store + offset, sessions.start_s, sessions.end_s)
        keys = np.array([0, 1], np.int64) + offset
        result = evaluate(moved, store + offset, ts_us, active, now, (keys, np.array([ts_us.min()] * 2)), Rules(),
                          Open.none(), Open.none())
        found.append([(int(s) - offset, int(a)) for c in (result.down, result.no_data)
                      for s, a in zip(c.opened_store, c.opened_us)])
    assert found[0] == found[1] == [(0, parse_instant("2023-01-23T10:00:00Z")),
                                    (1, parse_instant("2023-01-23T11:00:00Z"))]
