"""Ingestion over HTTP: POST /polls, PUT /business_hours, PUT /timezones, with tokens, on real services."""

from __future__ import annotations

import gzip
import threading

import pytest

from storemon.database import tokens
from storemon.config import PROJECT_ROOT
from storemon.database.engines import make_engine, upgrade
from storemon.reports.build import build_report
from storemon.timeparse import parse_instant

from .helpers import HEADER, POLLS, csv_body, poll_count, polls_body, rows, scalar, send, stored_polls

SEED = PROJECT_ROOT / "seed"


@pytest.fixture
def made(pg):
    return {scope: tokens.create(pg, scope, [scope]) for scope in tokens.SCOPES}


def test_a_batch_sent_twice_is_stored_once(client, pg, made):
    first = send(client, made["ingest"], body=polls_body())
    assert first.status_code == 200
    answer = first.get_json()
    assert answer | {"seconds": 0} == {"rows_read": 3, "new_polls": 3, "stores": 2, "rejected": [],
                                       "rejected_count": 0, "new_stores": 2, "new_store_ids": ["s1", "s2"],
                                       "seconds": 0}
    before = stored_polls(pg)
    again = send(client, made["ingest"], body=polls_body(), gzipped=True)
    assert again.status_code == 200 and again.get_json()["new_polls"] == 0
    assert stored_polls(pg) == before == [("s1", 1674640800500000, True), ("s1", 1674644400000000, True),
                                          ("s2", 1674640860000000, False)]


def test_json_polls_and_inactive_wins(client, pg, made):
    ok = client.post("/polls", json=[{"store_id": "s1", "status": "active", "timestamp_utc": "2023-01-25 10:00:00 UTC"},
                                     {"store_id": 42, "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}],
                     headers={"Authorization": f"Bearer {made['ingest']}"})
    assert ok.status_code == 200 and ok.get_json()["new_polls"] == 2
    # the same instant arriving inactive overrides the stored active poll (SPEC: inactive wins)
    send(client, made["ingest"], body=csv_body(HEADER, "s1,inactive,2023-01-25 10:00:00 UTC"))
    assert stored_polls(pg) == [("42", 1674640800000000, True), ("s1", 1674640800000000, False)]


def test_a_rejected_batch_changes_nothing_and_names_its_lines(client, pg, made):
    send(client, made["ingest"], body=polls_body())
    before = stored_polls(pg), scalar(pg, "SELECT count(*) FROM stores")
    bad = polls_body() + csv_body("s3,maybe,2023-01-25 10:00:00 UTC", ",active,2023-01-25 10:00:00 UTC",
                                  "s4,active,2023-01-25 10:00:00 UTC,extra")
    refused = send(client, made["ingest"], body=bad)
    assert refused.status_code == 400
    answer = refused.get_json()
    assert answer["error"].startswith("request body line 5: bad status 'maybe' (expected active or inactive)")
    assert "nothing was stored" in answer["error"]
    assert answer["rejected"] == [{"line": 5, "problem": "bad status 'maybe' (expected active or inactive)"},
                                  {"line": 6, "problem": "missing store_id"},
                                  {"line": 7, "problem": "expected 3 fields, found 4"}]
    assert (stored_polls(pg), scalar(pg, "SELECT count(*) FROM stores")) == before


def test_skip_bad_stores_the_good_rows_and_lists_the_rejected(client, pg, made):
    body = csv_body(HEADER, "s1,active,2023-01-25 10:00:00 UTC", "s2,active,not a time", "s3,inactive,2023-01-25 10:00:00 UTC")
    answer = send(client, made["ingest"], body=body, query_string={"skip_bad": "true"}).get_json()
    assert (answer["new_polls"], answer["rejected_count"]) == (2, 1)
    assert answer["rejected"] == [{"line": 3, "problem": "bad timestamp 'not a time'"}]
    assert [p[0] for p in stored_polls(pg)] == ["s1", "s3"]


def test_json_rows_are_named_by_their_array_index(client, pg, made):
    items = [{"store_id": "s1", "status": "active", "timestamp_utc": "2023-01-25 10:00:00 UTC"}, 7,
             {"store_id": "s2", "status": True, "timestamp_utc": "2023-01-25 10:00:00 UTC"},
             {"store_id": "s3", "status": "active"},
             {"store_id": "s4", "status": "active", "timestamp": "2023-01-25 10:00:00 UTC"},
             {"store_id": 5.0, "status": "active", "timestamp_utc": "2023-01-25 10:00:00 UTC"},
             {"store_id": 5.5, "status": "active", "timestamp_utc": "2023-01-25 10:00:00 UTC"}]
    refused = client.post("/polls", json=items, headers={"Authorization": f"Bearer {made['ingest']}"})
    assert refused.status_code == 400
    assert refused.get_json()["rejected"] == [
        {"index": 1, "problem": "expected a JSON object, found int"},
        {"index": 2, "problem": "status must be a string, found bool"},
        {"index": 3, "problem": "missing timestamp_utc"},
        {"index": 4, "problem": "unknown field 'timestamp' (expected store_id, status, timestamp_utc)"},
        {"index": 6, "problem": "store_id must be a string, found float"}]  # 5.0 is a whole number: "5"
    assert stored_polls(pg) == []
    for body, message in ((b"{not json", "request body: not valid JSON"),
                          (b'{"store_id": "s1"}', "request body: expected a JSON array of objects")):
        answer = send(client, made["ingest"], body=body, content_type="application/json")
        assert answer.status_code == 400 and answer.get_json()["error"].startswith(message)


def test_json_is_read_as_a_stream_and_nothing_in_it_is_built_whole(client, pg, made):
    """Nested values make bad rows without being built; a whole number of any size is an id;
    a stretch of more than 1 MiB without a string (endless nesting, an endless number) or a
    string longer than that stops the body, as an over-long CSV line does."""
    stamp = "2023-01-25 10:00:00 UTC"
    items = [{"store_id": 12562562445007437824, "status": "active", "timestamp_utc": stamp},
             {"store_id": "s2", "status": {"deep": [[[["active"]]]]}, "timestamp_utc": stamp},
             [[[{"store_id": "s3"}]]], {"store_id": "s4", "status": "active", "timestamp_utc": stamp}]
    kept = client.post("/polls?skip_bad=true", json=items, headers={"Authorization": f"Bearer {made['ingest']}"})
    assert kept.status_code == 200, kept.get_json()
    assert kept.get_json()["rejected"] == [{"index": 1, "problem": "status must be a string, found dict"},
                                           {"index": 2, "problem": "expected a JSON object, found list"}]
    assert [p[0] for p in stored_polls(pg)] == ["12562562445007437824", "s4"]
    endless = {"nesting": b"[" * (2 << 20), "string": b'[{"store_id": "' + b"x" * (2 << 20) + b'"}]',
               "number": b'[{"store_id": ' + b"7" * (2 << 20) + b"}]"}
    for what, body in endless.items():
        answer = send(client, made["ingest"], body=body, content_type="application/json", gzipped=True)
        assert answer.status_code == 400, what
        assert answer.get_json()["error"].startswith("request body item 0: a value longer than 1,048,576 bytes"), what


def test_hours_and_timezones_change_for_the_stores_named(client, pg, made):
    token = made["ingest"]
    send(client, token, body=csv_body(HEADER, "a,active,2023-01-25 12:00:00 UTC"))  # the data's clock: the 25th
    hours = csv_body("store_id,day,start_time_local,end_time_local", "a,0,09:00:00,17:00:00", "b,1,10:00,23:59")
    assert send(client, token, "/business_hours", hours, method="put").get_json()["stores"] == 2
    # the 2024-10 layout (dayOfWeek), as JSON: store a's hours change from the clock's date (in
    # Chicago, its zone: 2023-01-25); its first version holds before, and b's are left alone
    replaced = client.put("/business_hours", headers={"Authorization": f"Bearer {token}"}, json=[
        {"store_id": "a", "dayOfWeek": 2, "start_time_local": "08:00", "end_time_local": "12:00"},
        {"store_id": "a", "dayOfWeek": "3", "start_time_local": "08:00", "end_time_local": "12:00"}])
    assert replaced.status_code == 200
    assert rows(pg, "SELECT s.store_id, h.effective_date, h.day, h.start_s, h.end_s FROM business_hours h"
                    " JOIN stores s ON s.id = h.store ORDER BY 1, 2, 3") == [
        ("a", 0, 0, 32400, 61200), ("a", 19382, 2, 28800, 43200), ("a", 19382, 3, 28800, 43200),
        ("b", 0, 1, 36000, 86340)]
    zones = send(client, token, "/timezones", csv_body("store_id,timezone_str", "a,Asia/Kolkata", "b,Mars/Olympus"),
                 method="put", gzipped=True)
    assert zones.status_code == 200 and zones.get_json()["unknown_timezones"] == ["Mars/Olympus"]
    assert rows(pg, "SELECT store_id, timezone FROM stores ORDER BY 1") == [("a", "Asia/Kolkata"), ("b", "Mars/Olympus")]
    bad = send(client, token, "/business_hours", csv_body("store_id,day,start_time_local,end_time_local",
                                                          "a,7,08:00,09:00"), method="put")
    assert bad.status_code == 400 and bad.get_json()["rejected"] == [
        {"line": 2, "problem": "bad day '7' (expected 0 = Monday to 6 = Sunday)"}]


def test_the_real_2024_sample_ingests_as_load_would(client, pg, made):
    token = made["ingest"]
    for path, method, kind in (("/timezones", "put", "timezones"), ("/business_hours", "put", "menu_hours"),
                               ("/polls", "post", "store_status")):
        body = (SEED / "2024-10" / f"{kind}.csv").read_bytes()
        answer = send(client, token, path, body, method=method, gzipped=kind == "store_status")
        assert answer.status_code == 200 and answer.get_json()["rejected_count"] == 0
    sample_rows = (SEED / "2024-10" / "store_status.csv").read_text().count("\n") - 1
    assert poll_count(pg) == sample_rows


def test_ingestion_needs_an_ingest_token(client, pg, made):
    for headers in ({}, {"Authorization": "Bearer sm_unknown"}):
        refused = client.post("/polls", data=polls_body(), headers={**headers, "Content-Type": "text/csv"})
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].lower().startswith("bearer")
    wrong = send(client, made["report"], body=polls_body())
    assert wrong.status_code == 403 and "needs the ingest scope" in wrong.get_json()["error"]
    assert send(client, made["admin"], body=polls_body()).status_code == 200
    tokens.revoke(pg, "ingest")
    assert send(client, made["ingest"], "/timezones", b"store_id,timezone_str\n", method="put").status_code == 401


def test_what_cannot_be_read_is_refused_by_name(client, pg, made):
    token = made["ingest"]
    for kind in ("image/png", "text/plain"):
        refused = send(client, token, body=polls_body(), content_type=kind)
        assert refused.status_code == 415
        assert refused.get_json()["error"] == f"Content-Type must be text/csv or application/json (got {kind})"
    assert stored_polls(pg) == []
    deflated = client.post("/polls", data=polls_body(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "text/csv", "Content-Encoding": "br"})
    assert deflated.status_code == 415 and "Content-Encoding 'br' is not supported" in deflated.get_json()["error"]
    not_gzip = client.post("/polls", data=polls_body(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "text/csv", "Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400 and not_gzip.get_json()["error"].startswith("request body: cannot be read")
    for body, message in ((b"", "request body: empty (no header line)"),
                          (b"store_id,when\ns1,x\n", "request body line 1: header has no status column"),
                          (b"\xff\xfe" + polls_body(), "request body: not UTF-8 text"),
                          (HEADER.encode() + b"\n" + b"s" * (2 << 20), "request body line 2: longer than")):
        answer = send(client, token, body=body)
        assert answer.status_code == 400 and answer.get_json()["error"].startswith(message), answer.get_json()
    assert send(client, token, body=polls_body(), query_string={"skip_bad": "maybe"}).status_code == 400
    assert stored_polls(pg) == []


def test_bodies_past_the_limits_are_413_and_store_nothing(make_app, pg, made):
    client = make_app(max_ingest_bytes=65536, max_ingest_inflated_bytes=1 << 20).test_client()
    big = polls_body(POLLS * 2000)
    assert len(big) > 65536 > len(gzip.compress(polls_body(POLLS * 20_000)))
    too_big = send(client, made["ingest"], body=big)
    assert too_big.status_code == 413
    assert too_big.get_json()["error"].startswith("the request body is larger than the 65,536 bytes this endpoint")
    # a small gzip body that inflates past the limit (a gzip bomb)
    bomb = send(client, made["ingest"], body=polls_body(POLLS * 20_000), gzipped=True)
    assert bomb.status_code == 413 and "larger than 1,048,576 bytes once decompressed" in bomb.get_json()["error"]
    assert send(client, made["ingest"], body=polls_body(), gzipped=True).status_code == 200
    # the report endpoints keep their own small limit
    assert client.post("/trigger_report", data=b"{}" + b" " * (2 << 20),
                       content_type="application/json").status_code == 413
    assert len(stored_polls(pg)) == 3


def test_ingestion_on_the_embedded_sqlite_default(make_app, tmp_path, redis_conn):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    engine = make_engine(url)
    upgrade(engine)
    token = tokens.create(engine, "poller", ["ingest"])
    client = make_app(database_url=url).test_client()
    assert send(client, token, body=polls_body()).get_json()["new_polls"] == 3
    assert send(client, token, body=polls_body()).get_json()["new_polls"] == 0
    assert send(client, token, body=polls_body() + b"s9,up,2023\n").status_code == 400
    assert len(stored_polls(engine)) == 3
    engine.dispose()


def test_a_report_sees_a_batch_wholly_or_not_at_all(client, pg, made):
    """Reports built while a large batch is being written match the data before it or after it."""
    from storemon.database.loader import load_directory

    load_directory(pg, SEED / "2023-01")
    as_of = parse_instant("2023-01-25T18:00:00Z")
    before = build_report(pg, as_of)[1]
    stores = [r[0] for r in rows(pg, "SELECT store_id FROM stores ORDER BY id LIMIT 2000")]
    batch = [(s, "inactive", f"2023-01-25 {h:02d}:{m:02d}:07 UTC") for s in stores for h in range(10, 18)
             for m in range(0, 60, 6)]
    body = polls_body(batch)
    outcome = {}
    sender = threading.Thread(target=lambda: outcome.update(answer=send(client, made["ingest"], body=body)))
    sender.start()
    seen = set()
    while sender.is_alive():
        seen.add(build_report(pg, as_of)[1])
    sender.join()
    assert outcome["answer"].status_code == 200 and outcome["answer"].get_json()["new_polls"] == len(batch)
    after = build_report(pg, as_of)[1]
    assert after != before and seen <= {before, after}


def test_ingestions_past_the_cap_are_answered_503_with_retry_after(client, pg, made):
    from storemon.web.services import CONCURRENT_INGESTIONS

    turns = client.application.extensions["storemon"].ingestions
    held = [turns.acquire(blocking=False) for _ in range(CONCURRENT_INGESTIONS)]
    try:
        assert all(held)  # as many ingestions as a process runs at once
        busy = send(client, made["ingest"], body=polls_body())
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
        assert "ingestions are in progress" in busy.get_json()["error"]
        assert stored_polls(pg) == []
    finally:
        for _ in held:
            turns.release()
    assert send(client, made["ingest"], body=polls_body()).status_code == 200


def test_stores_a_body_creates_are_reported_and_create_false_refuses_them(client, pg, made):
    """PUT /timezones or /business_hours for a store never seen creates it, and the answer
    says so; with ?create=false such a body is refused whole, naming the unknown ids."""
    send(client, made["ingest"], body=polls_body())  # s1 and s2 exist
    zones = [{"store_id": "s1", "timezone_str": "Asia/Tokyo"}, {"store_id": "typo-s2", "timezone_str": "UTC"}]
    answer = client.put("/timezones", json=zones, headers={"Authorization": f"Bearer {made['ingest']}"}).get_json()
    assert (answer["new_stores"], answer["new_store_ids"]) == (1, ["typo-s2"])
    refused = client.put("/business_hours?create=false", headers={"Authorization": f"Bearer {made['ingest']}"},
                         json=[{"store_id": "s2", "dayOfWeek": 0, "start_time_local": "09:00:00",
                                "end_time_local": "17:00:00"},
                               {"store_id": "nope", "dayOfWeek": 0, "start_time_local": "09:00:00",
                                "end_time_local": "17:00:00"}])
    assert refused.status_code == 400 and refused.get_json()["unknown_store_ids"] == ["nope"]
    assert refused.get_json()["error"].startswith("1 store id(s) name no store: 'nope'; nothing was stored")
    assert scalar(pg, "SELECT count(*) FROM business_hours") == 0  # s2's row was not kept either
    known = send(client, made["ingest"], "/business_hours?create=false", method="put",
                 body=csv_body("store_id,day,start_time_local,end_time_local", "s2,0,09:00:00,17:00:00"))
    assert known.status_code == 200 and known.get_json()["new_stores"] == 0
    assert sorted(r[0] for r in rows(pg, "SELECT store_id FROM stores")) == ["s1", "s2", "typo-s2"]


def test_an_answer_lists_the_first_hundred_new_stores_and_counts_them_all(client, pg, made):
    zones = [{"store_id": f"new-{i:03d}", "timezone_str": "UTC"} for i in range(150)]
    answer = client.put("/timezones", json=zones, headers={"Authorization": f"Bearer {made['ingest']}"}).get_json()
    assert answer["new_stores"] == 150 and answer["new_store_ids"] == [f"new-{i:03d}" for i in range(100)]
