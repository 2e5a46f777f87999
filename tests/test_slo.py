"""SLOs (storemon/core/slo.py, GET /slo, /slo/targets, their incidents), by hand.

Stores a to d keep UTC and open Mondays 09:00-17:00; polls on Monday 2023-01-23 at 10:00,
11:00, 12:00 and 13:00, so as of 13:00 each has 4 h of business time in the last day
(09:00-13:00), and 8 in the week (Monday 16th 13:00-17:00 too, which takes each store's first
evidence poll: up):

    a  active, inactive, active, active      up 09:00-10:30 and 11:30-13:00: up 3 h, down 1 h
    b  active, active, inactive, inactive    up 09:00-11:30: up 2.5 h, down 1.5 h (all the last hour)
    c  active x4                             up 4 h
    d  active x4                             up 4 h

Targets: the fleet 90 %, group region:east 80 % (a and b), group region:west 95 % (b), store c
99 %. So a's is east's 80 (a group's before the fleet's), b's west's 95 (the strictest of its
groups), c's its own 99, d's the fleet's 90.

Over the last day (window=1d):

    a  attainment 75 %;   budget 0.2 x 4 h = 48 min, down 60: left 1 - 60/48 = -25 %;
       burn 1d = (1/4)/0.2 = 1.25, 1h = 0, 7d = (1/8)/0.2 = 0.625
    b  attainment 62.5 %; budget 0.05 x 4 h = 12 min, down 90: left 1 - 90/12 = -650 %;
       burn 1d = (1.5/4)/0.05 = 7.5, 1h = 1/0.05 = 20, 7d = (1.5/8)/0.05 = 3.75
    c  100 %; budget 0.01 x 4 h = 2.4 min, left 100 %, burn 0
    d  100 %; budget 0.1 x 4 h = 24 min, left 100 %, burn 0
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from storemon.alerts import evaluation
from storemon.core import compute_uptime
from storemon.core.slo import figures_of
from storemon.core.uptime import Uptime
from storemon.database import tokens
from storemon.reports.slo import windows_for

from . import reference
from .core_cases import scenarios, to_input
from .helpers import Loads, rows, write_csv

MON = 0
HOUR_US = 3_600_000_000
POLLS = {"a": "active inactive active active", "b": "active active inactive inactive",
         "c": "active active active active", "d": "active active active active"}


@pytest.fixture
def admin(pg):
    return {"Authorization": f"Bearer {tokens.create(pg, 'admin', ['admin'])}"}


def load_four_stores(engine, tmp_path) -> None:
    from storemon.database.loader import load_directory

    load = Loads(engine, tmp_path)
    load(polls=[(s, status, f"2023-01-23 {10 + i}:00:00 UTC") for s, statuses in POLLS.items()
                for i, status in enumerate(statuses.split())],
         hours=[(s, MON, "09:00", "17:00") for s in POLLS], zones=[(s, "UTC") for s in POLLS])
    directory = tmp_path / "directory"
    write_csv(directory, "stores", ["store_id,name,groups", "a,Alpha,region:east", "b,Beta,region:east;region:west"])
    load_directory(engine, directory)


@pytest.fixture
def four_stores(pg, tmp_path):
    load_four_stores(pg, tmp_path)


def set_targets(client, admin) -> None:
    for path, objective in (("fleet", 90), ("groups/region:east", 80), ("groups/region:west", 95),
                            ("stores/c", 99)):
        assert client.put(f"/slo/targets/{path}", json={"objective_pct": objective}, headers=admin).status_code == 201


def test_slo_figures_by_hand(client, four_stores, admin):
    set_targets(client, admin)
    answer = client.get("/slo?window=1d").get_json()
    assert (answer["as_of"], answer["window"], answer["fast_burn"]) == ("2023-01-23T13:00:00Z", "1d", 14.4)
    by_store = {s["store_id"]: s for s in answer["stores"]}
    assert [s["store_id"] for s in answer["stores"]] == ["b", "a", "c", "d"]  # least budget left first
    assert by_store["a"] == {
        "store_id": "a", "target": "group:region:east", "objective_pct": 80.0, "uptime_h": 3.0, "downtime_h": 1.0,
        "attainment_pct": 75.0, "budget_h": 0.8, "budget_left_pct": -25.0,
        "burn_rate": {"1h": 0.0, "1d": 1.25, "7d": 0.62}, "exhausted": True, "burning": False}
    b = by_store["b"]
    assert (b["target"], b["objective_pct"], b["attainment_pct"], b["budget_h"], b["budget_left_pct"]) == \
        ("group:region:west", 95.0, 62.5, 0.2, -650.0)
    assert b["burn_rate"] == {"1h": 20.0, "1d": 7.5, "7d": 3.75} and b["exhausted"] and not b["burning"]
    c, d = by_store["c"], by_store["d"]
    assert (c["target"], c["objective_pct"], c["budget_h"], c["budget_left_pct"]) == ("store:c", 99.0, 0.04, 100.0)
    assert (d["target"], d["objective_pct"], d["budget_h"], d["budget_left_pct"]) == ("fleet", 90.0, 0.4, 100.0)
    assert answer["summary"] == {"stores": 4, "with_objective": 4, "meeting": 2, "exhausted": 2, "burning": 0,
                                 "attainment_pct": round(100 * 13.5 / 16, 3)}
    # one store's, one group's
    assert client.get("/slo?window=1d&store_id=b").get_json()["stores"] == [b]
    assert [s["store_id"] for s in client.get("/slo?window=1d&group=region:east").get_json()["stores"]] == ["b", "a"]


def test_a_longer_window_adds_its_burn_rate_and_no_target_means_no_budget(client, four_stores, admin):
    """30 days as of 13:00 reach back to Monday 26 Dec: four more Mondays of 8 h without
    polls before them, which take each store's first evidence poll (all active): 32 h more up."""
    answer = client.get("/slo?window=30d").get_json()
    a = next(s for s in answer["stores"] if s["store_id"] == "a")
    assert (a["uptime_h"], a["downtime_h"], a["attainment_pct"]) == (35.0, 1.0, round(100 * 35 / 36, 3))
    assert (a["target"], a["objective_pct"], a["budget_h"], a["budget_left_pct"]) == (None, None, None, None)
    assert a["burn_rate"] == {"1h": None, "1d": None, "7d": None, "30d": None}
    assert not a["exhausted"] and not a["burning"]
    assert client.get("/slo").get_json()["window"] == "30d"  # SLO_WINDOW_DAYS


def test_bad_arguments_and_targets_are_refused(client, four_stores, admin):
    for bad in ("window=0d", "window=91d", "window=30", "window=1h", "window=030d", "window=30d%09", "window=%2B30d",
                "group=west", "limit=0"):
        assert client.get(f"/slo?{bad}").status_code == 400, bad
    assert client.get("/slo?store_id=zz").status_code == 404
    assert client.get("/slo?store_id=a%00").status_code == 404  # (no id holds a NUL: PostgreSQL text cannot)
    assert client.delete("/slo/targets/stores/a%00", headers=admin).status_code == 404
    for body in ({"objective_pct": 100}, {"objective_pct": 0.5}, {"objective_pct": "99"}, {"objective_pct": True},
                 {"objective": 99}, [99], {}):
        assert client.put("/slo/targets/fleet", json=body, headers=admin).status_code == 400, body
    assert client.put("/slo/targets/groups/west", json={"objective_pct": 99}, headers=admin).status_code == 400
    assert client.put("/slo/targets/stores/zz", json={"objective_pct": 99}, headers=admin).status_code == 404
    assert client.delete("/slo/targets/fleet", headers=admin).status_code == 404
    # an admin's: a report token may read them, not set them
    reader = {"Authorization": f"Bearer {tokens.create(client.application.extensions['storemon'].engine, 'r', ['report'])}"}
    assert client.put("/slo/targets/fleet", json={"objective_pct": 99}, headers=reader).status_code == 403
    assert client.get("/slo/targets", headers=reader).status_code == 200


def test_targets_are_set_changed_listed_and_removed(client, four_stores, admin):
    set_targets(client, admin)
    changed = client.put("/slo/targets/fleet", json={"objective_pct": 99.95}, headers=admin)
    assert changed.status_code == 200 and changed.get_json()["objective_pct"] == 99.95
    listed = client.get("/slo/targets").get_json()["targets"]
    assert [(t["scope"], t["name"], t["objective_pct"]) for t in listed] == [
        ("fleet", None, 99.95), ("group", "region:east", 80.0), ("group", "region:west", 95.0), ("store", "c", 99.0)]
    assert client.delete("/slo/targets/groups/region:east", headers=admin).status_code == 204
    a = client.get("/slo?window=1d&store_id=a").get_json()["stores"][0]
    assert (a["target"], a["objective_pct"]) == ("fleet", 99.95)


def test_core_burn_rates_and_budgets_by_hand():
    """Two windows' figures: a store down 1 h of 10 (objective 99 %) and one without business time."""
    hour = HOUR_US
    uptime = Uptime(0, np.array(["x", "y"]), (np.array([0, 0]), np.array([9 * hour, 0]), np.array([9 * hour, 0])),
                    (np.array([hour, 0]), np.array([hour, 0]), np.array([hour, 0])))
    figures = figures_of(uptime, np.array([99, 99]), 2)
    assert figures.attainment[0] == pytest.approx(0.9) and np.isnan(figures.attainment[1])
    assert figures.budget_us[0] == pytest.approx(0.01 * 10 * hour)
    assert figures.budget_left[0] == pytest.approx(1 - 10) and np.isnan(figures.budget_left[1])
    assert figures.burn_rate(0)[0] == pytest.approx(100) and figures.burn_rate(1)[0] == pytest.approx(10)
    assert figures.exhausted().tolist() == [True, False] and figures.meeting().tolist() == [False, False]
    assert figures.burning(9.9).tolist() == [True, False] and figures.burning(10.1).tolist() == [False, False]
    with pytest.raises(ValueError):
        figures_of(uptime, np.array([99, 99]), 0)  # (the hour is no SLO's window)


def test_budget_and_burn_alerts_open_and_resolve_as_incidents(client, app, pg, four_stores, admin):
    from .test_incidents import run_alerts

    set_targets(client, admin)
    run_alerts(app)  # (the targets' change queued an evaluation)
    found = set(rows(pg, "SELECT s.store_id, i.kind, i.opened_us, i.opened_poll_us FROM incidents i"
                         " JOIN stores s ON s.id = i.store WHERE i.kind LIKE 'slo%'"))
    as_of = 1674478800 * 1_000_000  # 2023-01-23 13:00 UTC
    # over the default 30 days (36 h of business time) no budget is spent: a's 0.2 x 36 h = 7.2 h
    # against 1 h down, b's 0.05 x 36 h = 1.8 h against 1.5 h; and b's 7.5x burns below 14.4
    assert found == set()
    assert not evaluation.evaluate_slos(pg, 30, 14.4).evaluated  # (this data and these targets were evaluated)
    hook = client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "kinds": ["slo_exhausted"]},
                       headers=admin).get_json()
    outcome = evaluation.evaluate_slos(pg, 1, 5.0)  # other settings: the day, burning at 5x
    assert (outcome.evaluated, outcome.opened, outcome.resolved) == (True, 3, 0)
    assert not evaluation.evaluate_slos(pg, 1, 5.0).evaluated
    # one notification to the endpoint, of the kind it hears of only
    [sent] = client.get(f"/webhooks/{hook['id']}/deliveries?body=true", headers=admin).get_json()["deliveries"]
    assert [(i["store_id"], i["kind"], i["opened_by_poll"]) for i in sent["body"]["data"]["opened"]] == [
        ("a", "slo_exhausted", None), ("b", "slo_exhausted", None)]
    assert set(rows(pg, "SELECT s.store_id, i.kind, i.opened_us, i.opened_poll_us FROM incidents i"
                        " JOIN stores s ON s.id = i.store WHERE i.kind LIKE 'slo%'")) == {
        ("a", "slo_exhausted", as_of, None), ("b", "slo_exhausted", as_of, None), ("b", "slo_burn", as_of, None)}
    # a's own target of 70 % allows 0.3 x 4 h = 1.2 h down, more than its 1 h: resolved
    assert client.put("/slo/targets/stores/a", json={"objective_pct": 70}, headers=admin).status_code == 201
    outcome = evaluation.evaluate_slos(pg, 1, 5.0)
    assert (outcome.opened, outcome.resolved) == (0, 1)
    assert rows(pg, "SELECT s.store_id, i.resolved_us, i.resolved_poll_us FROM incidents i JOIN stores s"
                    " ON s.id = i.store WHERE i.resolved_us IS NOT NULL AND i.kind LIKE 'slo%'") == [("a", as_of, None)]
    # no target at all: every SLO incident resolves
    for path in ("fleet", "groups/region:east", "groups/region:west", "stores/c", "stores/a"):
        assert client.delete(f"/slo/targets/{path}", headers=admin).status_code == 204
    outcome = evaluation.evaluate_slos(pg, 1, 5.0)
    assert (outcome.opened, outcome.resolved) == (0, 2)
    assert rows(pg, "SELECT count(*) FROM incidents WHERE kind LIKE 'slo%' AND resolved_us IS NULL") == [(0,)]


def test_the_store_page_shows_its_slo(client, four_stores, admin):
    html = {"Accept": "text/html"}
    page = client.get("/stores/a", headers=html).get_data(as_text=True)
    assert 'id="store-slo"' in page and "No objective applies" in page and 'id="slo-budget"' not in page
    set_targets(client, admin)
    page = client.get("/stores/b", headers=html).get_data(as_text=True)
    # over the default 30 days: 36 h of business time, 1.5 h down; b's 95 % allows 1.8 h
    assert '<strong id="slo-attainment">95.833 %</strong>' in page and "95.0 %" in page
    assert 'data-left="16.67"' in page and "budget spent" not in page


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from([1, 7, 3, 30]), st.data())
def test_the_core_slo_matches_the_reference(scenario, days, data):
    """Figures to a relative 1e-9 of the reference's exact fractions; the alerts alike, unless a
    figure lies within that of its threshold (where floats may round either way)."""
    as_of, stores = scenario
    objectives = [data.draw(st.sampled_from([50, 90, 99, 99.5, 99.999])) for _ in stores]
    fast_burn = data.draw(st.sampled_from([1.0, 2.0, 14.4]))
    windows, window = windows_for(days)
    uptime = compute_uptime(to_input(stores), as_of, windows=windows)
    at = {s: i for i, s in enumerate(uptime.store_ids.tolist())}
    figures = figures_of(uptime, np.array([objectives[int(s[1:])] for s in uptime.store_ids.tolist()]), window)
    for i, (hours, tz, polls) in enumerate(stores):
        if f"s{i}" not in at:
            continue
        j = at[f"s{i}"]
        expected = reference.store_slo(hours, tz, polls, as_of, objectives[i], days, fast_burn)

        def same(found, exact):
            assert (exact is None) == bool(np.isnan(found)) and (exact is None or found == pytest.approx(float(exact), rel=1e-9, abs=1e-12))

        same(figures.attainment[j], expected["attainment"])
        same(figures.budget_left[j], expected["budget_left"])
        for w, rate in zip((0, 1, 2, window), expected["burn"][:3] + [expected["burn"][3]]):
            same(figures.burn_rate(w)[j], rate)
        near = lambda value, threshold: value is not None and abs(float(value) - threshold) <= 1e-9 * max(1, threshold)
        if not near(expected["budget_left"], 0):
            assert bool(figures.exhausted()[j]) == expected["exhausted"]
        if not any(near(r, fast_burn) for r in expected["burn"][:2]):
            assert bool(figures.burning(fast_burn)[j]) == expected["burning"]


def test_slos_on_sqlite_are_those_on_postgresql(pg, sqlite, tmp_path):
    """The same loads and targets into both: the same figures, the same incidents."""
    from datetime import UTC, datetime

    from storemon.core.incidents import Rules
    from storemon.database import targets
    from storemon.reports.slo import measure

    found = []
    for engine in (pg, sqlite):
        load_four_stores(engine, tmp_path / engine.dialect.name)
        for scope, name, objective in (("fleet", "", 90), ("group", "region:west", 95), ("store", "c", 99)):
            targets.set_target(engine, scope, name, objective, datetime.now(UTC))
        evaluation.evaluate(engine, Rules())  # (the incidents' evaluation writes the watch's row)
        outcome = evaluation.evaluate_slos(engine, 1, 5.0)
        figures = measure(engine, 1).figures
        found.append((outcome.opened, figures.store_ids.tolist(), figures.objective_pct, figures.budget_left,
                      figures.burn_rate(0),
                      sorted(rows(engine, "SELECT s.store_id, i.kind FROM incidents i JOIN stores s ON s.id = i.store"
                                          " WHERE i.kind LIKE 'slo%'"))))
    np.testing.assert_equal(found[0], found[1])
    assert found[0][-1] == [("a", "slo_exhausted"), ("b", "slo_burn"), ("b", "slo_exhausted")]


def test_the_command_line_sets_lists_and_removes_targets(pg, four_stores, settings):
    from storemon.core.incidents import KINDS

    from .helpers import storemon

    assert storemon(pg, "slo", "set", "fleet", "90").returncode == 0
    done = storemon(pg, "slo", "set", "group", "region:west", "95")
    assert (done.returncode, done.stdout.strip()) == (0, "group region:west target set: 95 %")
    assert storemon(pg, "slo", "set", "group", "region:west", "96").stdout.strip() == \
        "group region:west target changed: 96 %"
    listed = storemon(pg, "slo", "list", "--window", "1d", "--limit", "2").stdout.splitlines()
    assert listed[:2] == ["target: fleet 90 %", "target: group region:west 96 %"]
    assert "4 stores, 4 with an objective, 2 meeting it, 2 with the budget spent" in listed[2]
    assert [line.split()[:2] for line in listed[4:]] == [["b", "group:region:west"], ["a", "fleet"]]
    for bad in (("set", "fleet"), ("set", "fleet", "100"), ("set", "group", "west", "99"), ("set", "moon", "99"),
                ("list", "--window", "91d")):
        assert storemon(pg, "slo", *bad).returncode == 2, bad
    assert storemon(pg, "slo", "set", "store", "zz", "99").returncode == 1
    assert storemon(pg, "slo", "remove", "group", "region:west").returncode == 0
    assert storemon(pg, "slo", "remove", "group", "region:west").returncode == 1
    help_text = storemon(pg, "webhook", "add", "--help").stdout
    assert all(kind in help_text for kind in KINDS)


def test_an_slo_evaluation_lost_with_redis_is_made_up_by_the_watch(client, pg, four_stores, admin, settings,
                                                                   monkeypatch):
    """Targets set while Redis was gone (their evaluation never queued): the clock's watch opens
    their incidents; a second watch changes nothing."""
    from storemon.alerts import jobs as alert_jobs
    from storemon.reports import jobs

    from .test_incidents import run_alerts

    set_targets(client, admin)  # (its evaluations are queued on a Redis no worker reads, then flushed)
    client.application.extensions["storemon"].redis.flushdb()
    monkeypatch.setenv("SLO_WINDOW_DAYS", "1")
    monkeypatch.setenv("SLO_FAST_BURN", "5")
    jobs.reset_engine()
    assert rows(pg, "SELECT count(*) FROM incidents WHERE kind LIKE 'slo%'") == [(0,)]
    alert_jobs.watch()  # (queues an evaluation of the SLOs, behind what it queued itself)
    run_alerts(client.application)
    found = rows(pg, "SELECT s.store_id, i.kind FROM incidents i JOIN stores s ON s.id = i.store"
                     " WHERE i.kind LIKE 'slo%' ORDER BY 1, 2")
    assert found == [("a", "slo_exhausted"), ("b", "slo_burn"), ("b", "slo_exhausted")]
    alert_jobs.watch()
    run_alerts(client.application)
    assert rows(pg, "SELECT count(*) FROM incidents WHERE kind LIKE 'slo%'") == [(3,)]


def test_targets_changed_while_the_slos_compute_are_not_overwritten(pg, four_stores, monkeypatch):
    """An evaluation that read the targets before a change writes nothing; the next one reads it."""
    from datetime import UTC, datetime

    from storemon.core.incidents import Rules
    from storemon.database import targets

    evaluation.evaluate(pg, Rules())
    targets.set_target(pg, "fleet", "", 90, datetime.now(UTC))  # (a and b spend their day's budgets)
    computed = evaluation.slo.measure

    def then_a_target_changes(engine, days, group=None):
        found = computed(engine, days, group)
        targets.set_target(engine, "store", "a", 70, datetime.now(UTC))  # (0.3 x 4 h: a keeps its budget)
        return found

    monkeypatch.setattr(evaluation.slo, "measure", then_a_target_changes)
    assert not evaluation.evaluate_slos(pg, 1, 5.0).evaluated
    assert rows(pg, "SELECT count(*) FROM incidents WHERE kind LIKE 'slo%'") == [(0,)]
    monkeypatch.setattr(evaluation.slo, "measure", computed)
    outcome = evaluation.evaluate_slos(pg, 1, 5.0)
    assert (outcome.evaluated, outcome.opened) == (True, 1)
    assert rows(pg, "SELECT s.store_id, i.kind FROM incidents i JOIN stores s ON s.id = i.store"
                    " WHERE i.kind LIKE 'slo%'") == [("b", "slo_exhausted")]


def test_the_slo_settings_are_checked_and_the_window_follows_a_short_retention():
    from storemon.config import ConfigError, load_settings
    from storemon.core.windows import MAX_DAYS

    assert (load_settings({}).slo_window_days, load_settings({}).slo_fast_burn) == (30, 14.4)
    assert load_settings({"POLL_RETENTION_DAYS": "20"}).slo_window_days == 19  # (the default follows)
    assert load_settings({"POLL_RETENTION_DAYS": "0", "SLO_WINDOW_DAYS": str(MAX_DAYS)}).slo_window_days == MAX_DAYS
    for bad in ({"POLL_RETENTION_DAYS": "20", "SLO_WINDOW_DAYS": "30"}, {"SLO_WINDOW_DAYS": str(MAX_DAYS + 1)},
                {"SLO_WINDOW_DAYS": "0"}, {"SLO_FAST_BURN": "fast"}, {"SLO_FAST_BURN": "0"}, {"SLO_FAST_BURN": "inf"},
                {"SLO_FAST_BURN": "nan"}):
        with pytest.raises(ConfigError):
            load_settings(bad)


def test_a_retired_store_takes_its_target_with_it(client, pg, four_stores, admin):
    from storemon.database.stores import retire

    assert client.put("/slo/targets/stores/d", json={"objective_pct": 99}, headers=admin).status_code == 201
    retire(pg, ["d"])
    assert client.get("/slo/targets").get_json()["targets"] == []


def test_the_documents_window_is_the_cores():
    import re

    from storemon.core.windows import MAX_DAYS
    from storemon.web.openapi import SLO_WINDOW

    accepted = [w for w in ("", "1d", "30D", " 7d ", f"{MAX_DAYS}d", f"{MAX_DAYS + 1}d", "0d", "030d", "1h")
                if re.search(SLO_WINDOW["pattern"], w)]
    assert accepted == ["", "1d", "30D", " 7d ", f"{MAX_DAYS}d"]


def test_one_slo_report_at_a_time_and_the_next_is_told_to_retry(client, four_stores):
    """Every store's SLOs take a report (a core for most of a second at full scale): a web
    process computes one at a time; another asks again after Retry-After. One store's never waits."""
    turns = client.application.extensions["storemon"].slo_reports
    assert turns.acquire(blocking=False)  # (a request computing)
    try:
        busy = client.get("/slo")
        assert (busy.status_code, busy.headers["Retry-After"]) == (503, "2")
        assert "retry in 2 s" in busy.get_json()["error"]
        assert client.get("/slo?store_id=a").status_code == 200
    finally:
        turns.release()
    assert client.get("/slo").status_code == 200


def test_the_fleets_slos_are_kept_until_a_load_or_a_target_changes_them(client, pg, four_stores, admin, tmp_path,
                                                                          monkeypatch):
    from storemon.reports import slo as slo_reports

    computed = []
    measure = slo_reports.measure

    def counted(engine, days, group=None):
        computed.append(days)
        return measure(engine, days, group)

    monkeypatch.setattr(slo_reports, "measure", counted)
    first = client.get("/slo?window=1d").get_json()
    assert client.get("/slo?window=1d").get_json() == first and computed == [1]
    client.get("/slo?window=7d")
    assert computed == [1, 7]
    set_targets(client, admin)  # (the targets change)
    assert client.get("/slo?window=1d").get_json()["summary"]["with_objective"] == 4 and computed == [1, 7, 1]
    Loads(pg, tmp_path / "later")(polls=[("a", "active", "2023-01-23 14:00:00 UTC")])  # (the data changes)
    assert client.get("/slo?window=1d").get_json()["as_of"] == "2023-01-23T14:00:00Z" and computed == [1, 7, 1, 1]


def test_a_groups_slos_are_kept_apart_from_the_fleets(client, four_stores):
    fleet = client.get("/slo?window=1d").get_json()["stores"]
    east = client.get("/slo?window=1d&group=region:east").get_json()["stores"]
    assert sorted(s["store_id"] for s in fleet) == ["a", "b", "c", "d"] and sorted(s["store_id"] for s in east) == ["a", "b"]
    assert client.get("/slo?window=1d").get_json()["stores"] == fleet


def test_the_last_results_kept_are_the_most_recently_used():
    from storemon.web.services import Kept

    kept = Kept(2)
    kept.put(("a",), 1)
    kept.put(("b",), 2)
    assert kept.get(("a",)) == 1  # (a used last)
    kept.put(("c",), 3)
    assert (kept.get(("a",)), kept.get(("b",)), kept.get(("c",))) == (1, None, 3)
