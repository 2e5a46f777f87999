"""One store's timeline: every session's rule and segments, each poll's role, hand-computed;
and its totals are the batch report's row for that store, to the microsecond."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from storemon.core import compute_uptime
from storemon.core.polls import PollRows
from storemon.core.uptime import ReportInput
from storemon.core.timeline import (AFTER_AS_OF, BEFORE_LOOKBACK, EVIDENCE, FIRST_LATER, LAST_KNOWN, NO_EVIDENCE,
                                    OUTSIDE_HOURS, OWN_POLLS, Segment, store_timeline)
from storemon.timeparse import parse_instant as at

from .core_cases import report_input

MON, TUE, WED, SUN = 0, 1, 2, 6
UTC = {"tz": "UTC"}


def timeline(spec: dict, polls: list[tuple[str, str]], as_of: str):
    return store_timeline(report_input({"s": spec}, [("s", t, status) for t, status in polls]), at(as_of))


def test_own_polls_switch_at_the_midpoint():
    t = timeline({**UTC, "hours": [(MON, "09:00", "12:00")]},
                 [("2023-01-23 10:14:00", "active"), ("2023-01-23 11:15:00", "inactive")], "2023-01-23T13:00:00Z")
    earlier, session = t.sessions  # a week before: no evidence in that session, it takes the first later state
    assert (earlier.rule, earlier.lender_us, earlier.segments[0].up) == (FIRST_LATER, at("2023-01-23T10:14:00Z"), True)
    assert session.rule == OWN_POLLS and session.switches_us == (at("2023-01-23T10:44:30Z"),)
    assert session.segments == (Segment(at("2023-01-23T09:00:00Z"), at("2023-01-23T10:44:30Z"), True),
                                Segment(at("2023-01-23T10:44:30Z"), at("2023-01-23T12:00:00Z"), False))
    assert [p.role for p in t.polls] == [EVIDENCE, EVIDENCE]
    assert t.up_us == (0, 6270 * 10**6, 6270 * 10**6) and t.down_us == (0, 4530 * 10**6, 4530 * 10**6)


def test_silent_sessions_take_the_last_known_state_else_the_first_later_one():
    t = timeline({**UTC, "hours": [(d, "09:00", "10:00") for d in range(7)]},
                 [("2023-01-25 09:30:00", "inactive"), ("2023-01-27 09:30:00", "active")], "2023-01-29T12:00:00Z")
    rules = {s.start_us: (s.rule, s.segments[0].up, s.lender_us) for s in t.sessions if s.start_us >= at("2023-01-23")}
    wed, fri = at("2023-01-25T09:30:00Z"), at("2023-01-27T09:30:00Z")
    assert rules[at("2023-01-23T09:00:00Z")] == (FIRST_LATER, False, wed)
    assert rules[at("2023-01-25T09:00:00Z")] == (OWN_POLLS, False, None)
    assert rules[at("2023-01-26T09:00:00Z")] == (LAST_KNOWN, False, wed)
    assert rules[at("2023-01-28T09:00:00Z")] == (LAST_KNOWN, True, fri)
    assert t.up_us[2] == 3 * 3600 * 10**6 and t.down_us[2] == 4 * 3600 * 10**6


def test_no_evidence_is_down_and_polls_outside_hours_are_marked():
    t = timeline({**UTC, "hours": [(MON, "09:00", "10:00")]}, [("2023-01-23 11:00:00", "active")],
                 "2023-01-23T12:00:00Z")
    assert [(s.rule, s.segments) for s in t.sessions if s.start_us == at("2023-01-23T09:00:00Z")] == [
        (NO_EVIDENCE, (Segment(at("2023-01-23T09:00:00Z"), at("2023-01-23T10:00:00Z"), False),))]
    assert [p.role for p in t.polls] == [OUTSIDE_HOURS]
    assert t.up_us[1] == 0 and t.down_us[1] == 3600 * 10**6


def test_no_data_stretches_say_which_poll_their_status_comes_from():
    # open 09:00-17:00; 10:00 active and 14:00 inactive: no data 11:00-13:00, switching at 12:00
    # (up from the 10:00 poll, then down from the 14:00 one), and 15:00-17:00 (down, from 14:00)
    t = timeline({**UTC, "hours": [(MON, "09:00", "17:00")]},
                 [("2023-01-23 10:00:00", "active"), ("2023-01-23 14:00:00", "inactive")], "2023-01-23T17:00:00Z")
    a_week_before = [g for g in t.gaps if g.end_us <= at("2023-01-17T00:00:00Z")]
    assert [(g.up, g.source_us) for g in a_week_before] == [(True, at("2023-01-23T10:00:00Z"))]  # first later state
    assert [(g.start_us, g.end_us, g.up, g.source_us) for g in t.gaps[len(a_week_before):]] == [
        (at("2023-01-23T11:00:00Z"), at("2023-01-23T12:00:00Z"), True, at("2023-01-23T10:00:00Z")),
        (at("2023-01-23T12:00:00Z"), at("2023-01-23T13:00:00Z"), False, at("2023-01-23T14:00:00Z")),
        (at("2023-01-23T15:00:00Z"), at("2023-01-23T17:00:00Z"), False, at("2023-01-23T14:00:00Z"))]
    assert t.no_data_us == (3600 * 10**6, 4 * 3600 * 10**6, 4 * 3600 * 10**6)


def test_polls_after_as_of_and_before_the_lookback_are_marked_not_used():
    t = timeline(UTC, [("2023-01-16 11:59:59", "active"), ("2023-01-16 12:00:00", "inactive"),
                       ("2023-01-24 12:00:00", "active"), ("2023-01-24 12:00:01", "inactive")], "2023-01-24T12:00:00Z")
    assert [p.role for p in t.polls] == [BEFORE_LOOKBACK, EVIDENCE, EVIDENCE, AFTER_AS_OF]
    # sessions are cut at as_of and at the start of the lookback
    assert t.sessions[0].start_us == at("2023-01-16T12:00:00Z") and t.sessions[-1].end_us == at("2023-01-24T12:00:00Z")


def test_overnight_hours_and_a_dst_night():
    t = timeline({**UTC, "hours": [(MON, "18:00", "02:00")]},
                 [("2023-01-23T19:00:00Z", "active"), ("2023-01-24T01:00:00Z", "inactive")], "2023-01-24T03:00:00Z")
    [session] = [s for s in t.sessions if s.rule == OWN_POLLS]
    assert (session.start_us, session.end_us, session.switches_us) == (
        at("2023-01-23T18:00:00Z"), at("2023-01-24T02:00:00Z"), (at("2023-01-23T22:00:00Z"),))
    # fall back: 01:00-04:00 local is four real hours; the switch is at the real midpoint
    t = timeline({"tz": "America/Chicago", "hours": [(SUN, "01:00", "04:00")]},
                 [("2023-11-05T06:30:00Z", "active"), ("2023-11-05T09:30:00Z", "inactive")], "2023-11-05T12:00:00Z")
    [session] = [s for s in t.sessions if s.rule == OWN_POLLS]
    assert (session.start_us, session.end_us, session.switches_us) == (
        at("2023-11-05T06:00:00Z"), at("2023-11-05T10:00:00Z"), (at("2023-11-05T08:00:00Z"),))


def test_a_store_first_polled_after_as_of_has_no_row():
    t = timeline(UTC, [("2023-01-24 13:00:00", "active")], "2023-01-24T12:00:00Z")
    assert t.up_us is None and t.down_us is None and [p.role for p in t.polls] == [AFTER_AS_OF]


def _one_store(data: ReportInput, i: int) -> ReportInput:
    store, ts_us, active = data.polls.polls()
    mine = store == i
    hours = data.hours_store == i
    return ReportInput(np.asarray(data.store_ids)[[i]], [data.timezones[i]], np.zeros(hours.sum(), np.int64),
                       data.hours_day[hours], data.hours_start_s[hours], data.hours_end_s[hours],
                       PollRows.of(np.zeros(mine.sum(), np.int64), ts_us[mine], active[mine]))


polls_strategy = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10 * 86400), st.booleans()), max_size=40)


@settings(max_examples=60, deadline=None)
@given(polls=polls_strategy, as_of_s=st.integers(2 * 86400, 10 * 86400))
def test_every_stores_timeline_totals_are_its_report_row_and_segments_sum_to_them(polls, as_of_s):
    start = at("2023-03-06T00:00:00Z") // 10**6  # the week of a DST change in Chicago
    stores = {"a": {"tz": "America/Chicago", "hours": [(d, "08:00", "02:00") for d in range(6)]},
              "b": {"tz": "Australia/Lord_Howe", "hours": [(TUE, "09:00", "12:00"), (TUE, "11:00", "23:59")]},
              "c": {"tz": None}}
    names = list(stores)
    rows = [(names[s], f"@{start + t}", "active" if up else "inactive") for s, t, up in polls]
    data = report_input(stores, [(s, _iso(t), status) for s, t, status in rows])
    as_of = (start + as_of_s) * 10**6
    report = compute_uptime(data, as_of, coverage=True)
    row_of = {sid: k for k, sid in enumerate(report.store_ids.tolist())}
    for i, sid in enumerate(names):
        t = store_timeline(_one_store(data, i), as_of)
        if sid not in row_of:
            assert t.up_us is None
            continue
        k = row_of[sid]
        assert t.up_us == tuple(int(u[k]) for u in report.up_us)
        assert t.down_us == tuple(int(d[k]) for d in report.down_us)
        # the week's segments (cut to the window) add up to the week's totals
        week_start = as_of - 7 * 86400 * 10**6
        up = sum(max(0, s.end_us - max(s.start_us, week_start)) for x in t.sessions for s in x.segments if s.up)
        down = sum(max(0, s.end_us - max(s.start_us, week_start)) for x in t.sessions for s in x.segments if not s.up)
        assert (up, down) == (t.up_us[2], t.down_us[2])
        # and its stretches of no data to each window's no data, each with the status of its segment
        assert t.no_data_us == tuple(int(n[k]) for n in report.coverage.no_data_us)
        for w, length in enumerate((3600, 86400, 7 * 86400)):
            w0 = as_of - length * 10**6
            assert sum(max(0, g.end_us - max(g.start_us, w0)) for g in t.gaps) == t.no_data_us[w]
        for g in t.gaps:
            assert any(s.start_us <= g.start_us < g.end_us <= s.end_us and s.up == g.up
                       for x in t.sessions for s in x.segments)


def _iso(marker: str) -> str:
    from storemon.timeparse import format_instant

    return format_instant(int(marker[1:]) * 10**6)
