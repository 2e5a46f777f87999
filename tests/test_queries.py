"""Reading a report's inputs back out of the database, on both databases."""

from __future__ import annotations

import pytest

from storemon.core import DAY_US, LOOKBACK_US
from storemon.database.loader import load_directory
from storemon.timeparse import format_instant, parse_instant

from .helpers import HOUR_US, START, Loads, base_data, hours_csv, polls_csv, read_input, timezones_csv

AS_OF = parse_instant("2023-01-25T12:00:00Z")


def test_the_lookback_is_read_whole_and_nothing_outside_its_days(engine, tmp_path):
    """The polls of the lookback's UTC days are read, all those of the lookback among them (the
    core keeps the lookback's own)."""
    # the edges of the lookback and of the UTC days its polls are stored by
    offsets = [LOOKBACK_US + 1, LOOKBACK_US, LOOKBACK_US - 1, 5 * DAY_US, 5 * DAY_US - 1, DAY_US, 1, 0, -1]
    instants = [AS_OF - o for o in offsets]
    polls_csv(tmp_path, [(f"s{i % 3}", "active" if i % 2 else "inactive", format_instant(t))
                         for i, t in enumerate(instants)])
    hours_csv(tmp_path, [("s1", 3, "09:00", "17:00")])
    timezones_csv(tmp_path, [("s2", "Asia/Beirut")])
    load_directory(engine, tmp_path)
    data = read_input(engine, AS_OF)
    ids = data.store_ids.tolist()
    assert sorted(ids) == ["s0", "s1", "s2"]
    assert dict(zip(ids, data.timezones)) == {"s0": None, "s1": None, "s2": "Asia/Beirut"}
    assert ([ids[i] for i in data.hours_store], data.hours_day.tolist()) == (["s1"], [3])
    store, ts_us, active = data.polls.polls()
    read = sorted(zip(ts_us.tolist(), data.store_ids[store].tolist(), active.tolist()))
    expected = sorted((t, f"s{i % 3}", bool(i % 2)) for i, t in enumerate(instants)
                      if (AS_OF - LOOKBACK_US) // DAY_US <= t // DAY_US <= AS_OF // DAY_US)
    assert read == expected and len(read) == 9
    assert len([r for r in read if AS_OF - LOOKBACK_US <= r[0] <= AS_OF]) == 7


def test_stores_first_polled_after_as_of_are_left_out(engine, tmp_path):
    polls_csv(tmp_path, [("early", "active", "2023-01-20 10:00:00 UTC"), ("late", "active", "2023-01-26 10:00:00 UTC")])
    load_directory(engine, tmp_path)
    assert read_input(engine, AS_OF).store_ids.tolist() == ["early"]


@pytest.mark.parametrize("size", [1, 2, 5])
def test_a_report_computed_in_pieces_is_the_one_computed_whole(engine, tmp_path, monkeypatch, size):
    """The stores cut into pieces of consecutive keys, read and computed at once: the same CSV
    as one piece, for the whole fleet and (PostgreSQL) for a range of store ids."""
    from storemon.database.queries import StoreRange, snapshot
    from storemon.reports import build

    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    load(polls=[(s, "active", format_instant(START + 3 * HOUR_US)) for s in ("zeta", "alpha", "mid")])  # new keys
    as_of = START + 9 * 24 * HOUR_US - HOUR_US
    ranges = [StoreRange(), StoreRange("mid", "store-07")] if engine.dialect.name == "postgresql" else [StoreRange()]
    with snapshot(engine) as snap:
        whole = [build.build_csv(snap, as_of, r)[0] for r in ranges]
    monkeypatch.setattr(build, "PIECE_STORES", size)
    with snapshot(engine) as snap:
        assert [build.build_csv(snap, as_of, r)[0] for r in ranges] == whole
    assert whole[0].count(b"\n") == 1 + 15 and (len(whole) == 1 or whole[1].count(b"\n") == 1 + 8)
