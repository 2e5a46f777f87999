"""The store directory (stores.csv, PUT /stores): names and groups, found by name, and reports
of one group, which hold exactly that group's rows of the whole report."""

from __future__ import annotations

import pytest

from storemon.database import tokens
from storemon.database.loader import load_directory
from storemon.reports.build import build_report
from storemon.reports.options import EXTENDED, ReportOptions
from storemon.sources import SourceError
from storemon.timeparse import parse_instant

from .helpers import AS_OF, csv_body, queue_of, rows, run_jobs, send, storemon, trigger, write_csv

DIRECTORY = ["store_id,name,groups", "a,Acme Main St,region:west;brand:acme", "b,Bolt Depot,region:east;brand:bolt",
             "c,,region:west"]


def directory(engine, tmp_path, lines=DIRECTORY):
    write_csv(tmp_path, "stores", lines)
    return load_directory(engine, tmp_path)


def test_a_directory_names_stores_and_gives_them_groups(engine, tmp_path):
    summary = directory(engine, tmp_path)
    assert (summary.rows_read, summary.new_stores) == (3, 3)
    assert rows(engine, "SELECT store_id, name FROM stores ORDER BY store_id") == [
        ("a", "Acme Main St"), ("b", "Bolt Depot"), ("c", None)]
    assert rows(engine, "SELECT s.store_id, g.label FROM store_groups g JOIN stores s ON s.id = g.store"
                        " ORDER BY 1, 2") == [("a", "brand:acme"), ("a", "region:west"), ("b", "brand:bolt"),
                                              ("b", "region:east"), ("c", "region:west")]
    # a later directory replaces what it names: c renamed and ungrouped; a and b as they were
    (tmp_path / "again").mkdir()
    directory(engine, tmp_path / "again", ["store_id,name,groups", "c, Corner Café ,"])
    assert rows(engine, "SELECT store_id, name FROM stores WHERE store_id = 'c'") == [("c", "Corner Café")]
    assert rows(engine, "SELECT count(*) FROM store_groups") == [(4,)]


@pytest.mark.parametrize("line, problem", [
    ("d,Dee,region", "line 3: bad group 'region' (key:value"),
    ("d,Dee,region:west;:x", "line 3: bad group ':x'"),
    ("a,Again,", "line 3: store 'a' is named on an earlier line too"),
    ("d,\x07bell,", "line 3: bad name"),
    ("d,Dee," + ";".join(f"k{i}:v" for i in range(21)), "line 3: 21 groups; a store has at most 20"),
])
def test_a_bad_directory_row_names_its_line_and_nothing_is_written(engine, tmp_path, line, problem):
    with pytest.raises(SourceError) as raised:
        directory(engine, tmp_path, ["store_id,name,groups", "a,Acme,region:west", line])
    assert problem in str(raised.value)
    assert rows(engine, "SELECT count(*) FROM stores") == [(0,)]
    assert rows(engine, "SELECT count(*) FROM store_groups") == [(0,)]


def test_put_stores_over_http_and_search_by_name(client, pg):
    ingest = tokens.create(pg, "poller", ["ingest"])
    put = send(client, ingest, "/stores", csv_body(*DIRECTORY), method="put")
    assert put.status_code == 200 and put.get_json()["rows_read"] == 3
    as_json = client.put("/stores", json=[{"store_id": "b", "name": "Bolt Depot 2", "groups": "region:east"}],
                         headers={"Authorization": f"Bearer {ingest}"})
    assert as_json.status_code == 200
    bad = send(client, ingest, "/stores", csv_body("store_id,name,groups", "x,Ex,nokey"), method="put")
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("request body line 2: bad group 'nokey'")
    found = client.get("/stores?q=DEPOT").get_json()["stores"]
    assert found == [{"store_id": "b", "name": "Bolt Depot 2", "groups": ["region:east"], "timezone": None,
                      "weekly_uptime_pct": None}]
    assert [s["store_id"] for s in client.get("/stores?q=%25").get_json()["stores"]] == []  # (no wildcard)
    assert client.get("/stores/a/calendar").get_json()["groups"] == ["brand:acme", "region:west"]


def test_a_groups_report_holds_the_whole_reports_rows_of_its_stores(client, app, seeded, tmp_path):
    """Every third seed store in region:west: the group's report (API and CLI, standard and
    extended) is the whole report's header and those stores' rows, in order."""
    ids = [r[0] for r in rows(seeded, "SELECT store_id FROM stores ORDER BY store_id")]
    west = set(ids[::3])
    directory(seeded, tmp_path, ["store_id,name,groups", *(f"{s},,region:{'west' if s in west else 'east'}"
                                                           for s in ids)])
    for options in (ReportOptions(group="region:west"), ReportOptions(extended=True, group="region:west")):
        whole = build_report(seeded, parse_instant(AS_OF), options=ReportOptions(options.extended))[1].decode()
        header, *lines = whole.splitlines(keepends=True)
        expected = header + "".join(line for line in lines if line.split(",", 1)[0] in west)
        assert build_report(seeded, parse_instant(AS_OF), options=options)[1].decode() == expected
        report_id = trigger(client, json={"as_of": AS_OF, "group": "region:west",
                                          "columns": "extended" if options.extended else "standard"})
        run_jobs(app)
        assert client.get(f"/get_report/{report_id}").data.decode() == expected
        cli = storemon(seeded, "report", "--as-of", AS_OF, "--group", "region:west",
                       *(["--extended"] if options.extended else []))
        assert cli.returncode == 0 and cli.stdout == expected
    unknown = client.post("/trigger_report", json={"group": "region:north"})
    assert unknown.status_code == 400 and "no store is in group 'region:north'" in unknown.get_json()["error"]
    assert client.post("/trigger_report?group=north").status_code == 400
    assert storemon(seeded, "report", "--group", "region:north").returncode != 0
    assert not queue_of(app).count


def test_reports_coalesce_only_with_the_same_options(client, app, seeded):
    standard = trigger(client, query_string={"as_of": AS_OF})
    extended = trigger(client, query_string={"as_of": AS_OF, "columns": "extended"})
    again = client.post("/trigger_report", query_string={"as_of": AS_OF, "columns": "extended"})
    assert len({standard, extended}) == 2 and again.get_json()["report_id"] == extended
    assert again.headers["X-Report-Coalesced"] == "true"
    run_jobs(app)
    assert client.get(f"/get_report/{standard}").data == build_report(seeded, parse_instant(AS_OF))[1]
    assert client.get(f"/get_report/{extended}").data == build_report(seeded, parse_instant(AS_OF), options=EXTENDED)[1]
    assert client.post("/trigger_report?columns=wide").get_json()["error"] == \
        "columns must be standard or extended (got 'wide')"


def test_a_report_of_a_group_of_scattered_stores_on_both_databases(engine, tmp_path):
    """Stores a to f, every other one in the group (so its keys are no range): the group's report
    is the whole report's rows of a, c and e, on SQLite (which reads ranges of stores only) as on
    PostgreSQL."""
    from .helpers import Loads

    Loads(engine, tmp_path / "data")(
        polls=[(s, "active" if k % 3 else "inactive", f"2023-01-25 {10 + k}:00:00 UTC")
               for k, s in enumerate("abcdef")], zones=[(s, "UTC") for s in "abcdef"])
    directory(engine, tmp_path, ["store_id,name,groups", *(f"{s},,region:{'west' if s in 'ace' else 'east'}"
                                                           for s in "abcdef")])
    for extended in (False, True):
        header, *lines = build_report(engine, options=ReportOptions(extended))[1].decode().splitlines(keepends=True)
        group = build_report(engine, options=ReportOptions(extended, "region:west"))[1].decode()
        assert group == header + "".join(line for line in lines if line[0] in "ace") and group.count("\n") == 4
