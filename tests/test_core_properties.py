"""Property tests: the vectorised core against an independent per-store reference, and invariants."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon.core import compute_uptime
from storemon.core.polls import TIME_BITS
from storemon.core.sessions import merge_intervals
from storemon.core.uptime import fill_sessions

from . import reference
from .core_cases import (AS_OF_CHOICES, US, ZONES, as_date, by_store, calendar_scenarios, coverage_by_store,
                         history_scenarios, scenarios, to_input)

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_core_matches_the_reference_and_up_plus_down_is_business_time(scenario):
    as_of, stores = scenario
    result = by_store(compute_uptime(to_input(stores), as_of))
    for i, (hours, tz, polls) in enumerate(stores):
        name = f"s{i}"
        if not any(t <= as_of for t, _ in polls):
            assert name not in result
            continue
        up, down = result[name]
        assert (up, down) == reference.store_uptime(hours, tz, polls, as_of)
        business = reference.sessions(hours, tz, as_of)
        for w, length in enumerate(reference.WINDOWS):
            in_window = sum(max(0, min(b, as_of) - max(a, as_of - length)) for a, b in business)
            assert up[w] >= 0 and down[w] >= 0
            assert up[w] + down[w] == in_window


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from([1, 6, 30, 200]))
def test_no_data_matches_the_reference_and_lies_within_business_time(scenario, squeeze):
    """SPEC, "Evidence coverage": no data, the evidence polls and the last one, as the reference
    walks them; the polls drawn closer to as_of (``squeeze``) so that some lie within two hours
    of each other and their hours join, and others do not. Up and down stay as they were."""
    as_of, stores = scenario
    stores = [(h, tz, [(as_of - (as_of - t) // squeeze, a) for t, a in p]) for h, tz, p in stores]
    result = compute_uptime(to_input(stores), as_of, coverage=True)
    assert by_store(result) == by_store(compute_uptime(to_input(stores), as_of))
    found = coverage_by_store(result)
    for i, (hours, tz, polls) in enumerate(stores):
        if f"s{i}" not in found:
            continue
        assert found[f"s{i}"] == reference.store_no_data(hours, tz, polls, as_of)
        up, down = by_store(result)[f"s{i}"]
        for w in range(len(reference.WINDOWS)):
            assert 0 <= found[f"s{i}"][0][w] <= up[w] + down[w]


short_sessions = st.lists(st.tuples(st.integers(0, 23 * 60), st.integers(5, 90)), min_size=3, max_size=10).map(
    lambda found: [(d, 60 * a, 60 * min(a + length, 1439)) for d in range(7) for a, length in found])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_no_data_of_short_sessions_and_close_polls_matches_the_reference(scenario, data):
    """Sessions minutes apart and polls an hour or two apart: stretches an hour either side of a
    poll reach into the sessions before and after its own."""
    as_of, stores = scenario
    squeeze = data.draw(st.sampled_from([4, 12, 30]))
    stores = [(data.draw(short_sessions), tz, [(as_of - (as_of - t) // squeeze, a) for t, a in p])
              for _, tz, p in stores]
    found = coverage_by_store(compute_uptime(to_input(stores), as_of, coverage=True))
    for i, (hours, tz, polls) in enumerate(stores):
        if f"s{i}" in found:
            assert found[f"s{i}"] == reference.store_no_data(hours, tz, polls, as_of)


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_order_of_polls_does_not_matter(scenario, rng):
    as_of, stores = scenario
    shuffled = [(h, tz, rng.sample(p, len(p))) for h, tz, p in stores]
    assert by_store(compute_uptime(to_input(stores), as_of)) == by_store(compute_uptime(to_input(shuffled), as_of))


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.lists(st.tuples(st.integers(1, 5 * 86400 * US), st.booleans()), max_size=10))
def test_polls_after_as_of_change_nothing(scenario, extra):
    as_of, stores = scenario
    later = [(h, tz, p + [(as_of + dt, a) for dt, a in extra]) for h, tz, p in stores]
    assert by_store(compute_uptime(to_input(stores), as_of)) == by_store(compute_uptime(to_input(later), as_of))


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.integers(1, 7), st.integers(1, 3))
def test_slicing_the_stores_and_threads_change_nothing(scenario, slice_polls, threads):
    from unittest import mock

    from storemon.core import uptime

    as_of, stores = scenario
    whole = compute_uptime(to_input(stores), as_of, threads=1, coverage=True)
    with mock.patch.object(uptime, "_SLICE_POLLS", slice_polls):
        sliced = compute_uptime(to_input(stores), as_of, threads=threads, coverage=True)
    assert by_store(sliced) == by_store(whole)
    assert coverage_by_store(sliced) == coverage_by_store(whole)


def test_a_fleet_computed_by_several_threads_equals_one_thread():
    """Thousands of stores (so the sessions are made in runs of stores at once, and the polls in
    many slices), every zone of the scenarios: the same numbers from one thread and from three."""
    from unittest import mock

    from storemon.core import uptime

    rng = np.random.default_rng(3)
    as_of = AS_OF_CHOICES[0]
    stores = []
    for i in range(3500):
        hours = [(int(d), int(a) * 60, int(b) * 60) for d, a, b in
                 zip(rng.integers(0, 7, 3), rng.integers(0, 1441, 3), rng.integers(0, 1441, 3))][:int(rng.integers(0, 4))]
        polls = [(as_of - int(o) * US, bool(a)) for o, a in zip(rng.integers(-86400, 9 * 86400, 30), rng.integers(0, 2, 30))]
        stores.append((hours, ZONES[i % len(ZONES)], polls))
    # a calendar: special hours for every 7th store, the chain's holidays, a second zone for every
    # 11th, a second version of the hours for every 13th
    today = as_of // (86400 * US)
    special = [[(today - 2, None, None), (today - 1, 36000, 7200)] if i % 7 == 0 else [] for i in range(3500)]
    holidays = [(today - 3, 36000, 50400), (today - 5, None, None)]
    zones = [[(today - 30, tz), (today - 2, "Asia/Beirut")] if i % 11 == 0 else [] for i, (_, tz, _) in enumerate(stores)]
    versions = [([(0, h)] + ([(today - 3, [(d, 3600, 7200) for d in range(7)])] if i % 13 == 0 else [])) if h else []
                for i, (h, _, _) in enumerate(stores)]
    data = to_input(stores, special, holidays, versions, zones)
    one = compute_uptime(data, as_of, threads=1, coverage=True)
    with mock.patch.object(uptime, "_SLICE_POLLS", 997):
        three = compute_uptime(data, as_of, threads=3, coverage=True)
    assert by_store(one) == by_store(three)
    assert coverage_by_store(one) == coverage_by_store(three)
    in_dates = (lambda rows: [(as_date(d), a, b) for d, a, b in rows])
    for i in range(0, 3500, 91):  # and against the reference, on a sample (all of 7, 11 and 13 among them)
        hours, tz, polls = stores[i]
        if f"s{i}" in by_store(one):
            assert by_store(one)[f"s{i}"] == reference.store_uptime(
                hours, tz, polls, as_of, in_dates(special[i]), in_dates(holidays),
                [(as_date(d), rows) for d, rows in versions[i]] or None, [(as_date(d), z) for d, z in zones[i]] or None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(1, 8)), max_size=12),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 60), st.booleans()), max_size=40))
def test_each_sessions_evidence_and_lender_are_those_a_poll_by_poll_search_finds(intervals, polls):
    """fill_sessions finds each session's polls by a search per session: the same as asking,
    poll by poll, which session of its store holds it, and each silent session's lender the
    store's last evidence before it, else its first after."""
    merged = merge_intervals(*(np.array(c, np.int64).reshape(-1) for c in
                               zip(*[(store, start, start + length) for store, start, length in intervals]))) \
        if intervals else None
    if merged is None or not polls:
        return
    s_store, s_start, s_end = merged.store, merged.start_s, merged.end_s
    distinct_polls = sorted({(store, t): active for store, t, active in polls}.items())
    p_key = np.array([(store << TIME_BITS) | t for (store, t), _ in distinct_polls], np.int64)
    p_active = np.array([active for _, active in distinct_polls], bool)
    filled = fill_sessions(s_store, s_start, s_end, p_key, p_active)

    holder = {}  # poll -> its session, asked poll by poll
    for k, ((store, t), _) in enumerate(distinct_polls):
        for j in range(s_store.size):
            if s_store[j] == store and s_start[j] <= t < s_end[j]:
                holder[k] = j
    evidence = sorted(holder)
    assert filled.poll_rel.tolist() == [distinct_polls[k][0][1] for k in evidence]
    assert filled.poll_store.tolist() == [distinct_polls[k][0][0] for k in evidence]
    assert filled.poll_session.tolist() == [holder[k] for k in evidence]
    assert filled.poll_active.tolist() == [distinct_polls[k][1] for k in evidence]
    silent = [j for j in range(s_store.size) if j not in holder.values()]
    assert filled.silent.tolist() == silent
    for j, lender in zip(silent, filled.lender.tolist()):
        mine = [e for e, k in enumerate(evidence) if distinct_polls[k][0][0] == s_store[j]]
        earlier = [e for e in mine if distinct_polls[evidence[e]][0][1] < s_start[j]]
        later = [e for e in mine if distinct_polls[evidence[e]][0][1] >= s_end[j]]
        assert lender == (earlier[-1] if earlier else later[0] if later else -1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar_scenarios())
def test_special_hours_and_holidays_match_the_reference(scenario):
    as_of, stores, special, holidays = scenario
    computed = compute_uptime(to_input(stores, special, holidays), as_of, coverage=True)
    result, coverage = by_store(computed), coverage_by_store(computed)
    in_dates = (lambda rows: [(as_date(d), a, b) for d, a, b in rows])
    for i, (hours, tz, polls) in enumerate(stores):
        if f"s{i}" in result:
            assert result[f"s{i}"] == reference.store_uptime(hours, tz, polls, as_of, in_dates(special[i]),
                                                             in_dates(holidays))
            assert coverage[f"s{i}"] == reference.store_no_data(hours, tz, polls, as_of, in_dates(special[i]),
                                                                in_dates(holidays))


@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_calendar_rows_out_of_every_windows_reach_change_nothing(scenario):
    """Rows of dates outside every window's reach are not used (and an empty calendar is today's report)."""
    as_of, stores = scenario
    far = as_of // (86400 * US) - 40
    plain = by_store(compute_uptime(to_input(stores), as_of))
    assert by_store(compute_uptime(to_input(stores, [[(far, None, None)] for _ in stores], [(far, 0, 3600)]),
                                   as_of)) == plain


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history_scenarios())
def test_versions_of_weekly_hours_and_timezones_match_the_reference(scenario):
    as_of, stores, versions, zones = scenario
    result = by_store(compute_uptime(to_input(stores, versions=versions, zones=zones), as_of))
    for i, (_, tz, polls) in enumerate(stores):
        if f"s{i}" in result:
            assert result[f"s{i}"] == reference.store_uptime(
                [], tz, polls, as_of, versions=[(as_date(d), rows) for d, rows in versions[i]],
                zones=[(as_date(d), name) for d, name in zones[i]])
