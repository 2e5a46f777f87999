"""Loading the CSV sources: both dataset versions, appends, replacement, strictness."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from storemon.config import PROJECT_ROOT
from storemon.database.loader import load_directory
from storemon.sources import SourceError
from storemon.timeparse import parse_instant

from .helpers import hours_csv, poll_count, polls_csv, rows, scalar, stored_polls, timezones_csv

SEED = PROJECT_ROOT / "seed"


def distinct_polls(path: Path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return len({(r["store_id"], parse_instant(r["timestamp_utc"])) for r in csv.DictReader(f)})


def distinct_ids(*paths: Path) -> int:
    ids = set()
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as f:
            ids |= {r["store_id"] for r in csv.DictReader(f)}
    return len(ids)


@pytest.mark.parametrize("version", ["2023-01", "2024-10"])
def test_both_real_dataset_versions_load_as_they_are(engine, version):
    source = SEED / version
    summary = load_directory(engine, source)
    expected_polls = distinct_polls(source / "store_status.csv")
    assert summary.new_polls == expected_polls
    assert poll_count(engine) == expected_polls
    names = [source / f"{n}.csv" for n in ("store_status", "menu_hours", "timezones")]
    assert scalar(engine, "SELECT count(*) FROM stores") == distinct_ids(*names) == summary.stores
    with open(source / "menu_hours.csv", newline="") as f:
        hour_rows = {tuple(r.values()) for r in csv.DictReader(f)}
    assert scalar(engine, "SELECT count(*) FROM business_hours") == len(hour_rows)
    # ids stay strings exactly as written: no integer parsing, no lost leading digits
    some = next(iter(hour_rows))[0]
    assert rows(engine, f"SELECT store_id FROM stores WHERE store_id = '{some}'") == [(some,)]


def test_loading_the_same_files_again_adds_nothing(engine):
    first = load_directory(engine, SEED / "2023-01")
    before = stored_polls(engine)
    again = load_directory(engine, SEED / "2023-01")
    assert first.new_polls > 0 and again.new_polls == 0
    assert stored_polls(engine) == before


def test_a_newer_overlapping_file_adds_only_its_new_polls(engine, tmp_path):
    old = [("s1", "active", "2023-01-22 10:05:00 UTC"), ("s1", "active", "2023-01-22 11:05:00.5 UTC"),
           ("s2", "inactive", "2023-01-22 10:07:00 UTC")]
    polls_csv(tmp_path / "old", old)
    newer = old[1:] + [("s1", "active", "2023-01-22 12:05:00 UTC"), ("s3", "active", "2023-01-22 12:06:00 UTC")]
    polls_csv(tmp_path / "new", newer)
    assert load_directory(engine, tmp_path / "old").new_polls == 3
    summary = load_directory(engine, tmp_path / "new")
    assert summary.new_polls == 2
    assert poll_count(engine) == 5
    assert scalar(engine, "SELECT count(*) FROM stores") == 3


def test_disagreeing_duplicates_keep_inactive_within_a_file_and_across_loads(engine, tmp_path):
    polls_csv(tmp_path / "a", [("s1", "active", "2023-01-22 10:00:00 UTC"),
                               ("s1", "inactive", "2023-01-22T10:00:00Z"),  # same instant, other spelling
                               ("s1", "active", "2023-01-22 10:00:00 UTC"),
                               ("s2", "active", "2023-01-22 10:00:00 UTC")])
    polls_csv(tmp_path / "b", [("s2", "inactive", "2023-01-22 10:00:00 UTC"),
                               ("s1", "active", "2023-01-22 10:00:00 UTC")])
    assert load_directory(engine, tmp_path / "a").new_polls == 2
    assert load_directory(engine, tmp_path / "b").new_polls == 0
    assert [(store, active) for store, _, active in stored_polls(engine)] == [("s1", False), ("s2", False)]


def test_a_file_gives_new_versions_of_the_hours_and_zones_of_the_stores_it_names(engine, tmp_path):
    """Hours keep their history: a change takes effect on the data's clock's date (the newest
    poll's, 2023-01-22, in the store's zone), and the first version holds before it."""
    polls_csv(tmp_path / "v1", [("a", "active", "2023-01-22 12:00:00 UTC")])
    hours_csv(tmp_path / "v1", [("a", 0, "09:00", "17:00"), ("a", 1, "09:00", "17:00"), ("b", 0, "10:00", "12:00")])
    timezones_csv(tmp_path / "v1", [("a", "America/New_York"), ("b", "Asia/Beirut")])
    hours_csv(tmp_path / "v2", [("a", 2, "08:00:00", "20:00:00")], day_column="dayOfWeek")
    timezones_csv(tmp_path / "v2", [("a", "America/Denver")])
    load_directory(engine, tmp_path / "v1")
    load_directory(engine, tmp_path / "v2")
    assert rows(engine, "SELECT s.store_id, h.effective_date, h.day, h.start_s, h.end_s FROM business_hours h"
                        " JOIN stores s ON s.id = h.store ORDER BY 1, 2, 3") == [
        ("a", 0, 0, 9 * 3600, 17 * 3600), ("a", 0, 1, 9 * 3600, 17 * 3600), ("a", 19379, 2, 8 * 3600, 20 * 3600),
        ("b", 0, 0, 10 * 3600, 12 * 3600)]
    load_directory(engine, tmp_path / "v2")  # the same schedule again: no change
    assert rows(engine, "SELECT count(*) FROM business_hours") == [(4,)]
    assert rows(engine, "SELECT store_id, timezone FROM stores ORDER BY 1") == [("a", "America/Denver"),
                                                                               ("b", "Asia/Beirut")]


def test_gzip_bom_no_final_newline_and_fraction_digits(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 12:09:39 UTC"), ("s1", "active", "2023-01-22 12:09:40.5 UTC"),
                         ("s1", "inactive", "2023-01-22 12:09:41.123456 UTC"),
                         ("s1", "active", "2023-01-22T13:09:41+01:00")], gz=True, bom=True, final_newline=False)
    timezones_csv(tmp_path, [("s1", "Pacific/Honolulu")], bom=True, final_newline=False)
    summary = load_directory(engine, tmp_path)
    assert summary.new_polls == 4
    assert [(ts_us, active) for _, ts_us, active in stored_polls(engine)] == [
        (parse_instant("2023-01-22 12:09:39 UTC"), True), (parse_instant("2023-01-22 12:09:40.500000 UTC"), True),
        (parse_instant("2023-01-22 12:09:41 UTC"), True), (parse_instant("2023-01-22 12:09:41.123456 UTC"), False)]
    assert scalar(engine, "SELECT timezone FROM stores") == "Pacific/Honolulu"


def test_unknown_timezones_load_and_are_listed(engine, tmp_path):
    timezones_csv(tmp_path, [("a", "America/Chicago"), ("b", "Mars/Olympus_Mons"), ("c", "Not/AZone")])
    summary = load_directory(engine, tmp_path)
    assert summary.unknown_timezones == ["Mars/Olympus_Mons", "Not/AZone"]
    assert scalar(engine, "SELECT timezone FROM stores WHERE store_id = 'b'") == "Mars/Olympus_Mons"


BAD_ROWS = [
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,2023-01-22 10:00:00 UTC", "s1,actve,2023-01-22 11:00:00 UTC"],
     "line 3: bad status 'actve'"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,2023-01-22 10:00:00 UTC", "s1,active,2023-02-30 11:00:00 UTC"],
     "line 3: bad timestamp '2023-02-30 11:00:00 UTC'"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,yesterday"], "line 2: bad timestamp 'yesterday'"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,2023-01-22 10:00:00 UTC", "", "s1,active"],
     "line 4: expected 3 fields, found 2"),
    ("store_status", ["store_id,status,timestamp_utc", ",active,2023-01-22 10:00:00 UTC"], "line 2: missing store_id"),
    ("menu_hours", ["store_id,day,start_time_local,end_time_local", "s1,7,09:00:00,17:00:00"], "line 2: bad day '7'"),
    ("menu_hours", ["store_id,dayOfWeek,start_time_local,end_time_local", "s1,0,09:00:00,17:00:00", "s1,-1,09:00,10:00"],
     "line 3: bad day '-1'"),
    ("menu_hours", ["store_id,day,start_time_local,end_time_local", "s1,1,9am,17:00:00"], "line 2: bad time '9am'"),
    ("menu_hours", ["store_id,day,start_time_local,end_time_local", "s1,1,09:00:00,25:00:00"], "line 2: bad time '25:00:00'"),
    ("menu_hours", ["store_id,day,start_time_local,end_time_local", "s1,1,,17:00:00"], "line 2: missing start_time_local"),
    ("timezones", ["store_id,tz", "s1,UTC"], "line 1: header has no timezone_str column"),
]


@pytest.mark.parametrize("name,lines,message", BAD_ROWS, ids=[m for _, _, m in BAD_ROWS])
def test_a_bad_row_stops_the_load_naming_file_and_line_and_writes_nothing(engine, tmp_path, name, lines, message):
    from .helpers import write_csv

    polls_csv(tmp_path, [("good", "active", "2023-01-22 10:00:00 UTC")])  # would load, if all were good
    write_csv(tmp_path, name, lines)
    with pytest.raises(SourceError) as caught:
        load_directory(engine, tmp_path)
    assert f"{name}.csv {message}" in str(caught.value)
    for table in ("stores", "poll_days", "business_hours"):
        assert scalar(engine, f"SELECT count(*) FROM {table}") == 0


def test_skip_bad_loads_the_good_rows_and_lists_the_bad(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC"), ("s1", "maybe", "2023-01-22 11:00:00 UTC"),
                         ("s2", "inactive", "not a time"), ("s2", "inactive", "2023-01-22 11:00:00 UTC")])
    hours_csv(tmp_path, [("s1", 0, "09:00", "17:00"), ("s1", 9, "09:00", "17:00")])
    summary = load_directory(engine, tmp_path, skip_bad=True)
    assert summary.new_polls == 2 and summary.rejected_lines == 3
    assert [str(r) for r in summary.rejected] == [
        "menu_hours.csv line 3: bad day '9' (expected 0 = Monday to 6 = Sunday)",
        "store_status.csv line 3: bad status 'maybe' (expected active or inactive)",
        "store_status.csv line 4: bad timestamp 'not a time'"]
    assert scalar(engine, "SELECT count(*) FROM business_hours") == 1


def test_first_poll_is_kept_per_store_across_loads(engine, tmp_path):
    polls_csv(tmp_path / "a", [("s1", "active", "2023-01-22 10:00:00 UTC")])
    polls_csv(tmp_path / "b", [("s1", "active", "2023-01-20 10:00:00 UTC"), ("s1", "active", "2023-01-23 10:00:00 UTC")])
    load_directory(engine, tmp_path / "a")
    load_directory(engine, tmp_path / "b")
    assert scalar(engine, "SELECT first_poll_us FROM stores") == parse_instant("2023-01-20 10:00:00")


def test_a_directory_without_sources_is_an_error(engine, tmp_path):
    with pytest.raises(SourceError, match="none of store_status.csv"):
        load_directory(engine, tmp_path)


def test_unreadable_files_are_named(engine, tmp_path):
    (tmp_path / "store_status.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(SourceError, match=r"store_status.csv.gz: cannot be read"):
        load_directory(engine, tmp_path)
    (tmp_path / "store_status.csv.gz").unlink()
    (tmp_path / "timezones.csv").write_bytes("store_id,timezone_str\ns1,Am\xe9rica/Chicago\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"timezones.csv: not UTF-8 text"):
        load_directory(engine, tmp_path)
    (tmp_path / "timezones.csv").write_bytes(b"")
    with pytest.raises(SourceError, match=r"timezones.csv: empty \(no header line\)"):
        load_directory(engine, tmp_path)
    assert scalar(engine, "SELECT count(*) FROM stores") == 0


HOSTILE = [
    ("store_status", ["store_id,status,timestamp_utc", '"a,b",active,2023-01-22 10:00:00 UTC',
                      '"=HYPERLINK(""http://evil.example/x"",""click"")",active,2023-01-22 10:00:00 UTC'],
     "line 3: store_id '=HYPERLINK(\"http://evil.example/x\",\"click\")' begins with '='"),
    ("store_status", ["store_id,status,timestamp_utc", "@SUM(A1),active,2023-01-22 10:00:00 UTC"], "line 2: store_id '@SUM"),
    ("store_status", ["store_id,status,timestamp_utc", "+1+1,active,2023-01-22 10:00:00 UTC"], "line 2: store_id '+1+1' begins"),
    ("store_status", ["store_id,status,timestamp_utc", "-1+1,active,2023-01-22 10:00:00 UTC"], "line 2: store_id '-1+1' begins"),
    ("store_status", ["store_id,status,timestamp_utc", "s\x07x,active,2023-01-22 10:00:00 UTC"],
     "line 2: store_id 's\\x07x' holds a control character"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,2023-01-22 10:00:00 UTC", "s\x00x,active,2023-01-22 10:00:00 UTC"],
     "line 3: the line holds a NUL character"),
    ("store_status", ["store_id,status,timestamp_utc", "x" * 2800 + ",active,2023-01-22 10:00:00 UTC"],
     "line 2: store_id is longer than 255 characters (2800)"),
    ("store_status", ["store_id,status,timestamp_utc", "9000000000000000077,active,9999-12-31 23:00:00 UTC"],
     "line 2: timestamp '9999-12-31 23:00:00 UTC' is in the future"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,2199-01-01 00:00:00 UTC"],
     "line 2: timestamp '2199-01-01 00:00:00 UTC' is in the future"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,1970-06-01 00:00:00 UTC"],
     "line 2: timestamp '1970-06-01 00:00:00 UTC' is before 1971-01-01T00:00:00Z"),
    ("store_status", ["store_id,status,timestamp_utc", 's1,active,2023-01-22 10:00:00 UTC', '"s2', 'x",active,2023-01-22 10:00:00 UTC'],
     "line 3: a quoted field runs past the end of the line"),
    ("store_status", ["store_id,status,timestamp_utc", "s1,active,2023-01-22 10:00:00 UTC", "\x0b\x0c\x1c"],
     "line 3: expected 3 fields, found 1"),
    ("menu_hours", ["store_id,day,start_time_local,end_time_local", "=cmd,1,09:00,17:00"], "line 2: store_id '=cmd' begins"),
    ("timezones", ["store_id,timezone_str", "s\x1bx,UTC"], "line 2: store_id 's\\x1bx' holds a control character"),
    ("timezones", ["store_id,timezone_str", "s1,Europe/\x01Paris"], "line 2: bad timezone_str"),
]


@pytest.mark.parametrize("name,lines,message", HOSTILE, ids=[m[:50] for _, _, m in HOSTILE])
def test_hostile_lines_stop_the_load_naming_the_line_and_write_nothing(engine, tmp_path, name, lines, message):
    from .helpers import write_csv

    polls_csv(tmp_path, [("good", "active", "2023-01-22 10:00:00 UTC")])
    write_csv(tmp_path, name, lines)
    with pytest.raises(SourceError) as caught:
        load_directory(engine, tmp_path)
    assert f"{name}.csv {message}" in str(caught.value)
    assert len(str(caught.value)) < 300  # a long value is cut short in the message
    for table in ("stores", "poll_days", "business_hours"):
        assert scalar(engine, f"SELECT count(*) FROM {table}") == 0


def test_skip_bad_skips_hostile_ids_and_timestamps_and_keeps_the_rest(engine, tmp_path):
    from .helpers import write_csv

    write_csv(tmp_path, "store_status", [
        "store_id,status,timestamp_utc", "ok,active,2023-01-22 10:00:00 UTC", "x" * 2800 + ",active,2023-01-22 10:00:00 UTC",
        "s\x00x,active,2023-01-22 10:00:00 UTC", "=1+1,active,2023-01-22 10:00:00 UTC",
        "late,active,9999-12-31 23:00:00 UTC", "ok,inactive,2023-01-22 11:00:00 UTC"])
    summary = load_directory(engine, tmp_path, skip_bad=True)
    assert summary.new_polls == 2 and summary.rejected_lines == 4
    assert [r.line for r in summary.rejected] == [3, 4, 5, 6]
    assert rows(engine, "SELECT store_id FROM stores") == [("ok",)]


def test_a_quoted_id_with_a_comma_loads_and_round_trips_through_the_report(engine, tmp_path):
    from storemon.reports.build import build_report

    from .helpers import write_csv

    write_csv(tmp_path, "store_status", ["store_id,status,timestamp_utc", '"a,b",active,2023-01-22 10:00:00 UTC',
                                         '"say ""hi""",inactive,2023-01-22 10:00:00 UTC'])
    load_directory(engine, tmp_path)
    _, report = build_report(engine, parse_instant("2023-01-22T10:30:00Z"))
    read = list(csv.reader(report.decode().splitlines()))
    assert [r[0] for r in read[1:]] == ["a,b", 'say "hi"']
    assert {len(r) for r in read} == {7}


def test_an_empty_timezone_name_counts_as_unknown(engine, tmp_path):
    timezones_csv(tmp_path, [("a", ""), ("b", "Europe/Paris"), ("c", "  ")])
    summary = load_directory(engine, tmp_path)
    assert summary.unknown_timezones == [""]
    assert rows(engine, "SELECT store_id, timezone FROM stores ORDER BY 1") == [
        ("a", ""), ("b", "Europe/Paris"), ("c", "")]


def test_a_poll_just_under_a_day_ahead_of_the_clock_loads(engine, tmp_path):
    import time

    from storemon.timeparse import format_instant

    soon = format_instant(int((time.time() + 23 * 3600) * 1_000_000))
    polls_csv(tmp_path, [("s1", "active", soon)])
    assert load_directory(engine, tmp_path).new_polls == 1


def test_blank_lines_of_spaces_and_tabs_are_passed_over(engine, tmp_path):
    from .helpers import write_csv

    write_csv(tmp_path, "store_status", ["store_id,status,timestamp_utc", "s1,active,2023-01-22 10:00:00 UTC",
                                         "   ", "\t", "", "s1,active,2023-01-22 11:00:00 UTC"])
    assert load_directory(engine, tmp_path).new_polls == 2


def test_polls_parsed_in_parallel_processes_are_those_parsed_in_one(tmp_path, monkeypatch):
    """Small blocks make a small file take the parallel path: the same polls, stores, line
    numbers and first error as one process reading it."""
    import numpy as np

    from storemon.sources import RejectedRows, read_polls, schemas, text

    monkeypatch.setattr(text, "BLOCK_CHARS", 2048)
    monkeypatch.setattr(schemas, "BLOCK_CHARS", 2048)
    good = [(f"s{i % 37}", "active" if i % 3 else "inactive", f"2023-01-2{i % 6} {i % 24:02d}:{i % 60:02d}:07 UTC")
            for i in range(3000)]
    bad = {500: ("s1", "up", "2023-01-22 10:00:00 UTC"), 1700: ("=cmd", "active", "2023-01-22 10:00:00 UTC"),
           2900: ("s2", "active", "yesterday")}
    path = polls_csv(tmp_path, [bad.get(i, row) for i, row in enumerate(good)])
    assert path.stat().st_size > schemas.PARALLEL_FROM_BLOCKS * 2048
    lenient = [RejectedRows(), RejectedRows()]
    (one,), (many,) = (list(read_polls(path, strict=False, rejected=r, workers=w)) for r, w in zip(lenient, (1, 2)))
    assert one.stores.ids == many.stores.ids and one.rows_read == many.rows_read == 3000
    for field in ("store", "ts_us", "active"):
        assert np.array_equal(getattr(one, field), getattr(many, field))
    assert lenient[0].first == lenient[1].first and [r.line for r in lenient[1].first] == [502, 1702, 2902]
    for workers in (1, 2):
        with pytest.raises(SourceError, match="store_status.csv line 502: bad status 'up'"):
            list(read_polls(path, workers=workers))


def test_hours_written_before_bad_polls_are_read_are_rolled_back(engine, tmp_path):
    """The stores, timezones and hours are written before the polls are read; a bad poll
    found afterwards still leaves nothing behind."""
    timezones_csv(tmp_path, [("s1", "Asia/Kolkata"), ("s2", "UTC")])
    hours_csv(tmp_path, [("s1", 0, "09:00", "17:00"), ("s2", 1, "10:00", "12:00")])
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC")] * 50 + [("s3", "maybe", "2023-01-22 10:00:00 UTC")])
    with pytest.raises(SourceError, match="store_status.csv line 52: bad status 'maybe'"):
        load_directory(engine, tmp_path)
    for table in ("stores", "poll_days", "business_hours"):
        assert scalar(engine, f"SELECT count(*) FROM {table}") == 0


def test_a_load_too_wide_to_pack_is_deduplicated_the_same_way():
    """One sort of packed (store, time, status) keys when they fit in 63 bits, lexsort else:
    the same polls, in (store, time) order, inactive winning."""
    import numpy as np

    from storemon.core.polls import distinct

    rng = np.random.default_rng(7)
    store = rng.integers(0, 50, 4000)
    steps = rng.integers(0, 40, 4000)
    active = rng.integers(0, 2, 4000).astype(bool)
    day_us, wide_us = 86_400_000_000, 1 << 56  # the second makes time and store overflow 63 bits
    packed = distinct(store, steps * day_us, active)
    wide = distinct(store, steps * wide_us, active)
    assert np.array_equal(packed[0], wide[0]) and np.array_equal(packed[2], wide[2])
    assert np.array_equal(packed[1] // day_us, wide[1] // wide_us)
    expected = {}
    for s, t, a in zip(store.tolist(), steps.tolist(), active.tolist()):
        expected[(s, t)] = expected.get((s, t), True) and a
    assert list(zip(packed[0].tolist(), (packed[1] // day_us).tolist())) == sorted(expected)
    assert packed[2].tolist() == [expected[k] for k in sorted(expected)]


def test_a_load_in_many_small_batches_stores_what_one_batch_does(engine, tmp_path, monkeypatch):
    """Polls are read and merged a batch at a time, hours and timezones a block at a time:
    with batches of 7 polls and blocks of about a hundred lines, the seed data loads exactly as in one
    go (the rows it stores, and a report of them), and a bad poll in the last batch leaves
    nothing of the earlier ones."""
    from storemon.database.loader import load_sources
    from storemon.reports.build import build_report
    from storemon.sources import HOURS, POLLS, TIMEZONES, CsvSource, schemas, text

    def everything() -> tuple:
        return (stored_polls(engine), rows(engine, "SELECT s.store_id, h.day, h.start_s, h.end_s FROM business_hours h"
                                                   " JOIN stores s ON s.id = h.store ORDER BY 1, 2, 3"),
                rows(engine, "SELECT store_id, timezone, first_poll_us FROM stores ORDER BY 1"))

    seed = SEED / "2024-10"
    whole = load_directory(engine, seed)
    expected, report = everything(), build_report(engine, parse_instant("2024-10-01T00:00:00Z"))[1]
    with engine.begin() as conn:
        for table in ("business_hours", "timezone_history", "poll_days", "stores"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    monkeypatch.setattr(schemas, "BATCH_POLLS", 7)
    monkeypatch.setattr(text, "BLOCK_CHARS", 5000)
    files = {kind: CsvSource.of_file(seed / f"{kind}.csv") for kind in (TIMEZONES, HOURS, POLLS)}
    small = load_sources(engine, files)
    assert (small.rows_read, small.new_polls, small.stores) == (whole.rows_read, whole.new_polls, whole.stores)
    assert everything() == expected
    assert build_report(engine, parse_instant("2024-10-01T00:00:00Z"))[1] == report

    late = polls_csv(tmp_path, [("fresh", "active", f"2024-10-02 {h:02d}:00:00 UTC") for h in range(20)]
                     + [("fresh", "maybe", "2024-10-02 21:00:00 UTC")])
    with pytest.raises(SourceError, match="store_status.csv line 22: bad status 'maybe'"):
        load_sources(engine, {POLLS: CsvSource.of_file(late)})
    assert everything() == expected


def test_unknown_timezone_names_are_listed_a_hundred_and_all_counted(engine, tmp_path):
    timezones_csv(tmp_path, [(f"s{i:03d}", f"Nowhere/Zone{i:03d}") for i in range(150)] + [("ok", "UTC")])
    summary = load_directory(engine, tmp_path)
    assert summary.unknown_timezones == [f"Nowhere/Zone{i:03d}" for i in range(100)]
    assert summary.unknown_timezone_count == 150 and summary.stores == 151
