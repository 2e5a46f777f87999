"""Incidents end to end: batches sent over HTTP, evaluated by RQ jobs after they commit, kept as
rows, listed by GET /incidents; evaluations run twice, lost, or cut off by a database outage.

Calendar: 2023-01-23 is a Monday; the stores keep UTC, so local times are UTC's. The data is
years old by the wall clock, so the poller's own incident is open throughout: the tests
look at the stores' kinds unless they look at the poller's."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from rq import SimpleWorker
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storemon.alerts import evaluation
from storemon.database import tokens

from .helpers import Loads, csv_body, rows, scalar, send
from .services import OwnPostgres, free_port

MON = 0


@pytest.fixture
def ingest_token(pg):
    return tokens.create(pg, "ingest", ["ingest"])


def run_alerts(app) -> None:
    """Run the alerts queue's jobs in this process and stop."""
    services = app.extensions["storemon"]
    SimpleWorker([services.alerts], connection=services.redis).work(burst=True)


def batch(client, token, *polls: tuple[str, str, str]) -> None:
    """Send polls (store, status, "HH:MM" on Monday 2023-01-23)."""
    body = csv_body("store_id,status,timestamp_utc",
                    *(f"{s},{status},2023-01-23 {hhmm}:00.000000 UTC" for s, status, hhmm in polls))
    assert send(client, token, body=body).status_code == 200


def stores_incidents(engine, state: str = "open") -> set[tuple]:
    """(store, kind, since "HH:MM", resolved "HH:MM" or None) of the stores' incidents."""
    where = "i.resolved_us IS NULL" if state == "open" else "TRUE"
    found = rows(engine, "SELECT s.store_id, i.kind, i.opened_us, i.resolved_us FROM incidents i"
                         f" JOIN stores s ON s.id = i.store WHERE {where}")

    def hhmm(us):
        return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).strftime("%H:%M")

    return {(store, kind, hhmm(opened), hhmm(resolved)) for store, kind, opened, resolved in found}


@pytest.fixture
def three_stores(pg, tmp_path):
    """Stores a, b and c, open 09:00-17:00 UTC on Mondays."""
    Loads(pg, tmp_path)(hours=[(s, MON, "09:00", "17:00") for s in "abc"], zones=[(s, "UTC") for s in "abc"])


def test_a_batch_opens_and_resolves_incidents_after_it_commits(client, app, pg, ingest_token, three_stores):
    batch(client, ingest_token, ("a", "active", "10:00"), ("b", "active", "10:00"), ("c", "active", "10:00"))
    batch(client, ingest_token, ("a", "inactive", "11:00"), ("b", "active", "11:00"), ("c", "inactive", "11:00"))
    assert stores_incidents(pg) == set()  # (queued, not yet evaluated: the answer did not wait)
    run_alerts(app)
    assert stores_incidents(pg) == {("a", "down", "11:00", None), ("c", "down", "11:00", None)}
    batch(client, ingest_token, ("a", "active", "12:00"), ("b", "active", "12:00"), ("c", "inactive", "12:00"))
    run_alerts(app)
    assert stores_incidents(pg, "any") == {("a", "down", "11:00", "12:00"), ("c", "down", "11:00", None)}
    # b falls silent: 1.5 h of business time at 13:30, 2 h at 14:00, noticed at 14:10
    batch(client, ingest_token, ("a", "active", "13:30"), ("c", "active", "13:30"))
    run_alerts(app)
    assert ("b", "no_data", "14:00", None) not in stores_incidents(pg)
    batch(client, ingest_token, ("a", "active", "14:10"), ("c", "active", "14:10"))
    run_alerts(app)
    assert stores_incidents(pg) == {("b", "no_data", "14:00", None)}
    # the incident's row names the polls that opened and resolved it
    assert rows(pg, "SELECT opened_poll_us = opened_us, resolved_poll_us = resolved_us FROM incidents i"
                    " JOIN stores s ON s.id = i.store WHERE s.store_id = 'a'") == [(True, True)]


def test_get_incidents_lists_open_ones_first_and_filters(client, app, pg, ingest_token, three_stores, tmp_path):
    from storemon.database.loader import load_directory
    from .helpers import write_csv

    directory = tmp_path / "directory"
    directory.mkdir()
    write_csv(directory, "stores", ["store_id,name,groups", "a,Alpha,region:west", "c,Gamma,region:east"])
    load_directory(pg, directory)
    batch(client, ingest_token, ("a", "inactive", "10:00"), ("b", "active", "10:00"), ("c", "inactive", "10:00"))
    run_alerts(app)
    batch(client, ingest_token, ("a", "active", "11:00"), ("b", "active", "11:00"), ("c", "inactive", "11:00"))
    run_alerts(app)
    answer = client.get("/incidents?kind=down").get_json()
    assert [(i["store_id"], i["open"]) for i in answer["incidents"]] == [("c", True), ("a", False)]
    first = answer["incidents"][0]
    assert first | {"id": 0, "noticed_at": "", "resolved_noticed_at": None} == {
        "id": 0, "kind": "down", "store_id": "c", "name": "Gamma", "groups": ["region:east"], "open": True,
        "since": "2023-01-23T10:00:00Z", "opened_by_poll": "2023-01-23T10:00:00Z", "resolved": None,
        "resolved_by_poll": None, "noticed_at": "", "resolved_noticed_at": None}
    assert [i["store_id"] for i in client.get("/incidents?state=resolved").get_json()["incidents"]] == ["a"]
    # (a group's incidents: its stores', and the poller's, which concerns every store)
    assert [i["store_id"] for i in client.get("/incidents?group=region:west").get_json()["incidents"]] == [None, "a"]
    assert [i["store_id"] for i in client.get("/incidents?store_id=c").get_json()["incidents"]] == ["c"]
    poller = client.get("/incidents?kind=poller_silent").get_json()["incidents"]
    assert [(i["store_id"], i["opened_by_poll"]) for i in poller] == [(None, "2023-01-23T10:00:00Z")]  # (still open)
    for bad in ("state=closed", "kind=late", "group=west", "limit=0"):
        assert client.get(f"/incidents?{bad}").status_code == 400, bad
    # no stored id holds a NUL (PostgreSQL text cannot): none of its incidents, not an error
    assert client.get("/incidents?store_id=c%00").get_json() == {"count": 0, "incidents": []}
    assert client.get("/trends?store_id=c%00").status_code == 404


def test_nothing_opens_on_a_holiday(client, app, pg, ingest_token, three_stores, tmp_path):
    Loads(pg, tmp_path / "holidays")(holidays=["2023-01-23,,,Closed for inventory"])
    batch(client, ingest_token, ("a", "inactive", "10:00"), ("b", "inactive", "10:00"))
    batch(client, ingest_token, ("c", "inactive", "15:00"))
    run_alerts(app)
    assert stores_incidents(pg, "any") == set()


def test_an_evaluation_run_again_or_lost_changes_nothing_twice(client, app, pg, ingest_token, three_stores, settings):
    batch(client, ingest_token, ("a", "inactive", "10:00"), ("b", "active", "10:00"), ("c", "active", "10:00"))
    run_alerts(app)
    before = rows(pg, "SELECT id, store, kind, opened_us, resolved_us FROM incidents ORDER BY id")
    rules = evaluation.rules_of(settings)
    again = evaluation.evaluate(pg, rules)
    assert (again.evaluated, again.opened, again.resolved) == (False, 0, 0)
    with pg.begin() as conn:  # as if the evaluation of this version had never been recorded
        conn.execute(text("UPDATE incident_watch SET version = 0"))
    again = evaluation.evaluate(pg, rules)
    assert (again.evaluated, again.opened, again.resolved) == (True, 0, 0)
    assert rows(pg, "SELECT id, store, kind, opened_us, resolved_us FROM incidents ORDER BY id") == before


def test_a_load_whose_evaluation_was_not_queued_is_evaluated_by_the_watch(make_app, pg, three_stores, ingest_token):
    """Redis unreachable as the batch commits: the batch is stored, its evaluation not queued;
    the clock's watch evaluates it, once."""
    from storemon.alerts import jobs

    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    batch(app.test_client(), ingest_token, ("a", "inactive", "10:00"), ("b", "active", "10:00"))
    assert stores_incidents(pg) == set()
    assert jobs.watch()["evaluated"] is True
    assert jobs.watch()["evaluated"] is False
    assert stores_incidents(pg) == {("a", "down", "10:00", None)}


def test_a_silent_poller_opens_an_incident_by_the_wall_clock(client, pg, ingest_token, three_stores, settings):
    batch(client, ingest_token, ("a", "active", "10:00"))
    rules = evaluation.rules_of(settings)
    newest = datetime(2023, 1, 23, 10, tzinfo=UTC)

    def poller() -> list[tuple]:
        return rows(pg, "SELECT opened_us, opened_poll_us, resolved_poll_us FROM incidents"
                        " WHERE kind = 'poller_silent' ORDER BY id")

    evaluation.evaluate(pg, rules, newest.replace(hour=12))  # two hours: not yet
    assert poller() == []
    evaluation.evaluate(pg, rules, newest.replace(hour=12, second=1))
    ten, twelve = int(newest.timestamp() * 1e6), int(newest.replace(hour=12).timestamp() * 1e6)
    assert poller() == [(twelve, ten, None)]
    batch(client, ingest_token, ("a", "active", "12:05"))
    evaluation.evaluate(pg, rules, newest.replace(hour=12, minute=6))
    assert poller() == [(twelve, ten, twelve + 5 * 60 * 10**6)]


def test_incidents_on_sqlite_are_those_on_postgresql(pg, sqlite, tmp_path, settings):
    """The same loads into both: the same incidents."""
    found = []
    for engine in (pg, sqlite):
        load = Loads(engine, tmp_path / engine.dialect.name)
        load(hours=[(s, MON, "09:00", "17:00") for s in "abc"], zones=[(s, "UTC") for s in "abc"])
        load(polls=[("a", "inactive", "2023-01-23 10:00:00 UTC"), ("b", "active", "2023-01-23 11:10:00 UTC"),
                    ("c", "active", "2023-01-23 09:00:00 UTC")])
        evaluation.evaluate(engine, evaluation.rules_of(settings))
        found.append(stores_incidents(engine, "any"))
        load(polls=[("a", "active", "2023-01-23 11:20:00 UTC"), ("c", "active", "2023-01-23 11:20:00 UTC")])
        evaluation.evaluate(engine, evaluation.rules_of(settings))  # (resolving: UPDATE ... FROM a staged table)
        found.append(stores_incidents(engine, "any"))
    assert found[0] == found[2] == {("a", "down", "10:00", None), ("c", "no_data", "11:00", None)}
    assert found[1] == found[3] == {("a", "down", "10:00", "11:20"), ("c", "no_data", "11:00", "11:20")}


@pytest.mark.slow
def test_postgresql_stopped_during_an_evaluation_loses_and_doubles_nothing(tmp_path, settings):
    from storemon.database.engines import make_engine, upgrade

    own = OwnPostgres()
    try:
        own.start()
        own.create_database()
        engine = make_engine(own.url, connect_timeout_s=2, statement_timeout_s=5)
        upgrade(engine)
        load = Loads(engine, tmp_path)
        load(hours=[(s, MON, "09:00", "17:00") for s in "ab"], zones=[(s, "UTC") for s in "ab"])
        load(polls=[("a", "inactive", "2023-01-23 10:00:00 UTC"), ("b", "inactive", "2023-01-23 10:00:00 UTC")])
        rules = evaluation.rules_of(replace(settings, poller_silence=10**9))
        own.stop()
        with pytest.raises(OperationalError):
            evaluation.evaluate(engine, rules)
        own.start()
        engine.dispose()
        assert evaluation.evaluate(engine, rules).opened == 2
        assert evaluation.evaluate(engine, rules).opened == 0
        assert scalar(engine, "SELECT count(*) FROM incidents") == 2
        engine.dispose()
    finally:
        own.remove()


def test_the_console_shows_incidents_on_their_page_the_fleet_and_the_store(client, app, pg, ingest_token,
                                                                           three_stores):
    batch(client, ingest_token, ("a", "active", "10:00"), ("b", "active", "10:00"), ("c", "active", "10:00"))
    batch(client, ingest_token, ("a", "inactive", "11:00"), ("b", "active", "11:00"), ("c", "inactive", "11:00"))
    run_alerts(app)
    batch(client, ingest_token, ("a", "active", "12:00"), ("b", "active", "12:00"), ("c", "inactive", "12:00"))
    run_alerts(app)
    html = {"Accept": "text/html"}
    page = client.get("/console/incidents", headers=html).get_data(as_text=True)
    # open first, the most recent first (the poller's, since 13:00, two hours after the newest poll
    # when first evaluated; c, since 11:00), then a, resolved after an hour
    assert re.findall(r'data-kind="(\w+)" data-state="(\w+)"', page) == [
        ("poller_silent", "open"), ("down", "open"), ("down", "resolved")]
    assert "1 h" in page and "over 1 h" in page  # (a lasted an hour; c has lasted over an hour, at 12:00)
    only_down = client.get("/console/incidents?kind=down&state=open", headers=html).get_data(as_text=True)
    assert re.findall(r'data-kind="(\w+)" data-state="(\w+)"', only_down) == [("down", "open")]
    assert client.get("/console/incidents?kind=late", headers=html).status_code == 400
    fleet = client.get("/", headers=html).get_data(as_text=True)
    assert 'id="open-incidents"' in fleet and 'data-kind="down">down: 1' in fleet
    store = client.get("/stores/c", headers=html).get_data(as_text=True)
    assert re.findall(r'class="incident (\w+)" data-incident', store) == ["down"]
    assert 'id="incidents-h"' in store
