"""Retiring stores: a store and everything kept of it deleted, by the command line or the admin API."""

from __future__ import annotations

import pytest

from storemon.database import tokens
from storemon.database.loader import load_directory
from storemon.database.queries import latest_poll_us
from storemon.database.stores import Retired, UnknownStores, retire
from storemon.reports.build import build_report
from storemon.timeparse import parse_instant

from .helpers import SEED, hours_csv, polls_csv, rows, storemon, stored_polls, timezones_csv, write_csv

LAST_OF_GONE = "2023-01-25 12:00:00 UTC"


def two_stores(engine, tmp_path) -> None:
    polls_csv(tmp_path, [("gone", "active", "2023-01-25 09:00:00 UTC"), ("gone", "inactive", LAST_OF_GONE),
                         ("kept", "active", "2023-01-25 10:00:00 UTC")])
    hours_csv(tmp_path, [("gone", 2, "09:00", "17:00"), ("kept", 2, "09:00", "17:00")])
    timezones_csv(tmp_path, [("gone", "Asia/Tokyo"), ("kept", "UTC")])
    write_csv(tmp_path, "special_hours", ["store_id,date,start_time_local,end_time_local", "gone,2023-01-26,,",
                                          "kept,2023-01-26,,"])
    load_directory(engine, tmp_path)


def test_a_retired_store_leaves_with_its_hours_and_polls(engine, tmp_path):
    two_stores(engine, tmp_path)
    with engine.connect() as conn:
        assert latest_poll_us(conn) == parse_instant(LAST_OF_GONE)
    assert retire(engine, ["gone"], dry_run=True) == Retired(1, 2, first_ids=("gone",))  # says what would go...
    assert len(stored_polls(engine)) == 3  # ...and deletes nothing
    assert retire(engine, ["gone"]) == Retired(1, 2, first_ids=("gone",))
    assert [r[0] for r in rows(engine, "SELECT store_id FROM stores")] == ["kept"]
    assert {r[0] for r in stored_polls(engine)} == {"kept"}
    for table in ("business_hours", "timezone_history", "special_hours"):  # (SQLite reuses a deleted key)
        assert rows(engine, f"SELECT count(*) FROM {table}") == [(1,)]
    with engine.connect() as conn:  # the newest poll was the retired store's: the default as_of moves back
        assert latest_poll_us(conn) == parse_instant("2023-01-25 10:00:00 UTC")
    assert build_report(engine)[1].decode().splitlines()[1].startswith("kept,")
    assert len(build_report(engine)[1].decode().splitlines()) == 2


def test_an_unknown_store_id_retires_nothing(engine, tmp_path):
    two_stores(engine, tmp_path)
    with pytest.raises(UnknownStores, match=r"1 store id\(s\) name no store: 'typo'"):
        retire(engine, ["gone", "typo"])
    assert len(stored_polls(engine)) == 3
    # ids read from data files may name stores that are not stored: those are counted, not refused
    assert retire(engine, [], where_stored=["gone", "never-loaded"]) == Retired(1, 2, 1, ("gone",))


def test_the_sample_data_can_leave_production_by_the_command_line(sqlite, tmp_path):
    load_directory(sqlite, SEED / "2024-10")
    polls_csv(tmp_path, [("production-store", "active", "2024-10-01 00:00:00 UTC")])
    load_directory(sqlite, tmp_path)
    stores_before = rows(sqlite, "SELECT count(*) FROM stores")[0][0]
    asked = storemon(sqlite, "stores", "retire", "--in", str(SEED / "2024-10"))
    assert asked.returncode == 0 and asked.stdout.startswith(f"would retire {stores_before - 1:,} store(s) with 1,000 polls")
    assert rows(sqlite, "SELECT count(*) FROM stores")[0][0] == stores_before
    done = storemon(sqlite, "stores", "retire", "--in", str(SEED / "2024-10"), "--yes")
    assert done.returncode == 0 and done.stdout.startswith(f"retired {stores_before - 1:,} store(s) with 1,000 polls")
    assert rows(sqlite, "SELECT store_id FROM stores") == [("production-store",)]
    again = storemon(sqlite, "stores", "retire", "--in", str(SEED / "2024-10"))
    assert again.stdout.startswith("nothing to retire: none of these stores is stored")
    typo = storemon(sqlite, "stores", "retire", "production-stor", "--yes")
    assert typo.returncode == 1 and "name no store: 'production-stor'; nothing was retired" in typo.stderr
    assert storemon(sqlite, "stores", "retire").returncode == 2  # nothing named


def test_the_admin_api_retires_stores(client, pg, tmp_path):
    two_stores(pg, tmp_path)
    made = {scope: tokens.create(pg, scope, [scope]) for scope in ("report", "admin")}
    admin = {"Authorization": f"Bearer {made['admin']}"}
    refused = client.delete("/stores?store_id=gone", headers={"Authorization": f"Bearer {made['report']}"})
    assert refused.status_code == 403 and "needs the admin scope" in refused.get_json()["error"]
    assert client.delete("/stores?store_id=gone").status_code == 401
    typo = client.delete("/stores?store_id=gone&store_id=typo%00", headers=admin)
    assert typo.status_code == 404 and typo.get_json()["unknown_store_ids"] == ["typo\x00"]
    assert client.delete("/stores", headers=admin).status_code == 400
    done = client.delete("/stores?store_id=gone", headers=admin)
    assert done.status_code == 200 and done.get_json() == {"retired": ["gone"], "stores": 1, "polls": 2}
    again = client.delete("/stores?store_id=gone", headers=admin)
    assert again.status_code == 404 and again.get_json()["error"].startswith("1 store id(s) name no store: 'gone'")
    assert [r[0] for r in rows(pg, "SELECT store_id FROM stores")] == ["kept"]


def test_retiring_the_stores_a_directory_names_reads_its_special_hours_too(sqlite, tmp_path):
    polls_csv(tmp_path, [("a", "active", "2023-01-25 09:00:00 UTC")])
    write_csv(tmp_path, "special_hours", ["store_id,date,start_time_local,end_time_local", "b,2023-12-25,,"])
    write_csv(tmp_path, "holidays", ["date,start_time_local,end_time_local,name", "2023-12-25,,,Christmas"])
    load_directory(sqlite, tmp_path)
    done = storemon(sqlite, "stores", "retire", "--in", str(tmp_path), "--yes")
    assert done.returncode == 0 and done.stdout.startswith("retired 2 store(s)")
    assert rows(sqlite, "SELECT count(*) FROM stores") == [(0,)]
