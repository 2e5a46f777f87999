"""The polls' one home (storemon/database/polls.py, encoded by storemon/core/polls.py): the
layout pinned byte for byte, every way in keeping one poll per instant with inactive winning,
only the rows a batch changes written, and the same report from SQLite as from PostgreSQL."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from storemon.core.polls import DAY_US, PollRows, merged
from storemon.database.loader import load_directory
from storemon.reports.build import build_report
from storemon.timeparse import format_instant, parse_instant

from .helpers import truncate
from .helpers import HOUR_US, START, Loads, base_data, poll_count, polls_csv, rows, stored_polls, sweep

T = parse_instant("2023-01-22T10:00:00Z")


def test_the_layout_is_pinned(engine, tmp_path):
    """A row per store and UTC day, 8 bytes a poll in time order: big-endian microseconds
    shifted left by one, the lowest bit 1 when active. Changing this needs a migration."""
    polls_csv(tmp_path, [("s", "inactive", format_instant(T + 1)), ("s", "active", format_instant(T)),
                         ("s", "active", format_instant(T + DAY_US))])
    load_directory(engine, tmp_path)
    assert [(day, bytes(packed)) for day, packed in rows(engine, "SELECT day, polls FROM poll_days ORDER BY day")] == [
        (T // DAY_US, (T * 2 + 1).to_bytes(8, "big") + ((T + 1) * 2).to_bytes(8, "big")),
        (T // DAY_US + 1, ((T + DAY_US) * 2 + 1).to_bytes(8, "big"))]


def test_rows_round_trip_through_their_bytes():
    rows_ = PollRows.of(np.array([3, 1, 1, 3]), np.array([T + DAY_US, T, T, T]), np.array([True, True, False, True]))
    assert rows_.store.tolist() == [1, 3, 3] and rows_.count.tolist() == [1, 1, 1]
    assert [a.tolist() for a in rows_.polls()] == [[1, 3, 3], [T, T, T + DAY_US], [False, True, True]]
    back = PollRows.decode(rows_.store[::-1], rows_.count[::-1] * 8,  # rows in any order
                           rows_.taken(np.array([2, 1, 0])).encoded().tobytes())
    back = back.ordered(back.key)
    assert [a.tolist() for a in back.polls()] == [a.tolist() for a in rows_.polls()]
    assert back.day().tolist() == rows_.day().tolist()
    for sizes, stored in (([16], T.to_bytes(8, "big")), ([7], T.to_bytes(8, "big")[:7]), ([0], b"")):
        with pytest.raises(ValueError, match="do not add up"):
            PollRows.decode([1], sizes, stored)


def test_a_merge_returns_only_the_rows_it_changes():
    stored = PollRows.of(np.array([1, 1, 2]), np.array([T, T + DAY_US, T]), np.array([True, True, True]))
    # a duplicate of store 1's first day, store 1's second day turned inactive, a new day for store 2
    changed, new = merged(stored, np.array([1, 1, 2]), np.array([T, T + DAY_US, T + 2 * DAY_US]),
                          np.array([True, False, True]))
    assert new == 1
    assert list(zip(changed.store.tolist(), (changed.day() - T // DAY_US).tolist())) == [(1, 1), (2, 2)]
    assert changed.polls()[2].tolist() == [False, True]


@st.composite
def batches(draw):
    """Batches of polls of a few stores over three days: exact duplicates, disagreeing ones,
    late polls into earlier days, and polls sent again."""
    instants = [T + k * 7 * HOUR_US // 3 for k in range(30)]
    return [[(f"s{draw(st.integers(0, 3))}", draw(st.sampled_from(["active", "active", "inactive"])),
              format_instant(draw(st.sampled_from(instants)))) for _ in range(draw(st.integers(1, 12)))]
            for _ in range(draw(st.integers(1, 6)))]


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(loads=batches())
def test_every_load_keeps_one_poll_per_instant_inactive_winning(pg, tmp_path_factory, loads):
    truncate(pg)
    tmp = tmp_path_factory.mktemp("loads")
    model: dict[tuple[str, int], bool] = {}
    for k, batch in enumerate(loads):
        polls_csv(tmp / str(k), batch)
        before = len(model)
        for store, status, at in batch:
            key = (store, parse_instant(at))
            model[key] = model.get(key, True) and status == "active"
        assert load_directory(pg, tmp / str(k)).new_polls == len(model) - before
        assert stored_polls(pg) == sorted((s, t, a) for (s, t), a in model.items())


def test_a_batch_writes_only_the_rows_it_changes(pg, tmp_path):
    """PostgreSQL's row versions (xmin) show which rows a load wrote: an hour's polls write the
    day's rows of the stores polled, a late poll only its own day's row, a batch sent again none."""
    load = Loads(pg, tmp_path)
    base_data(load, hours=48)  # two days
    versions = dict((((s, d), x) for s, d, x in rows(pg, "SELECT store, day, xmin::text FROM poll_days")))

    def written() -> set:
        now = dict((((s, d), x) for s, d, x in rows(pg, "SELECT store, day, xmin::text FROM poll_days")))
        changed = {k for k, x in now.items() if versions.get(k) != x}
        versions.update(now)
        return changed

    load(polls=sweep(47))  # the same hour again
    assert written() == set()
    load(polls=sweep(48)[:3])  # the next hour, a new day, for three stores
    assert {d for _, d in written()} == {START // DAY_US + 2} and poll_count(pg) == 48 * 12 + 3
    load(polls=[("store-00", "active", format_instant(START + 5 * HOUR_US + 1))])  # a late poll, into the first day
    assert written() == {(int(rows(pg, "SELECT id FROM stores WHERE store_id = 'store-00'")[0][0]), START // DAY_US)}


def test_sqlite_and_postgresql_give_the_same_report(pg, sqlite, tmp_path):
    rng = random.Random(5)
    hours = [(f"store-{i:02d}", d, f"{rng.randrange(0, 12):02d}:00", f"{rng.randrange(12, 24):02d}:30")
             for i in range(12) for d in range(7) if rng.random() < 0.8]
    for engine in (pg, sqlite):
        load = Loads(engine, tmp_path / engine.dialect.name)
        base_data(load, hours=9 * 24)
        load(hours=hours, polls=[(s, "inactive", t) for s, _, t in sweep(100)])  # overrides
    for as_of in (None, START + 5 * 24 * HOUR_US + 17):
        assert build_report(pg, as_of) == build_report(sqlite, as_of)


def test_a_read_gives_the_rows_of_its_stores_and_days_in_order(engine, tmp_path):
    """A report's read (by a range of keys, or on PostgreSQL by the keys themselves) spanning
    several of the buckets PostgreSQL packs: every row of those stores and days, in (store,
    day) order, each with its polls."""
    from storemon.database import polls as stored

    rng = random.Random(3)
    batch = [(f"s{i:03d}", rng.choice(["active", "inactive"]), format_instant(T + day * DAY_US + rng.randrange(DAY_US)))
             for i in range(300) for day in range(4) for _ in range(rng.randrange(0, 3))]
    polls_csv(tmp_path, batch)
    load_directory(engine, tmp_path)
    first, last = T // DAY_US + 1, T // DAY_US + 2
    every = rows(engine, "SELECT store, day, polls FROM poll_days ORDER BY store, day")
    keys = sorted({store for store, _, _ in every})
    ranges = [(keys[0], keys[-1]), (keys[5], keys[200]), (keys[130], keys[130]), (10 ** 6, 10 ** 6 + 5)]
    chosen = [np.array(sorted(rng.sample(keys, 200))), np.array(keys[140:141])] if engine.dialect.name == "postgresql" else []
    with engine.connect() as conn:
        for wanted in ranges + chosen:
            found = stored.read(conn, first, last, wanted)
            inside = set(range(wanted[0], wanted[1] + 1)) if isinstance(wanted, tuple) else set(wanted.tolist())
            expected = [(s, d, bytes(p)) for s, d, p in every if s in inside and first <= d <= last]
            at = (found.start * 8).tolist()
            assert [(s, d, found.packed.tobytes()[a:a + 8 * c]) for s, d, a, c in zip(
                found.store.tolist(), found.day().tolist(), at, found.count.tolist())] == expected, wanted


def test_a_load_that_begins_a_new_day_brings_the_polls_statistics_up_to_date(pg, tmp_path):
    """ANALYZE once a load has begun a new UTC day (PostgreSQL's plans for the newest days
    depend on it), and not for every load."""
    import time

    from .helpers import Loads, scalar
    from .services import wait_for

    def analyzed() -> int:
        return scalar(pg, "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'poll_days'")

    load = Loads(pg, tmp_path)
    before = analyzed()
    load(polls=[("s", "active", "2023-01-23 10:00:00 UTC")])
    once = wait_for(lambda: analyzed() > before and analyzed(), 10, "the first day's ANALYZE")
    load(polls=[("s", "active", "2023-01-23 11:00:00 UTC")])  # the same day: none
    time.sleep(1.5)  # (past the statistics' flush: an ANALYZE would show by now)
    assert analyzed() == once
    load(polls=[("s", "inactive", "2023-01-24 09:00:00 UTC")])
    wait_for(lambda: analyzed() > once, 10, "the next day's ANALYZE")


def test_a_first_load_of_several_batches_is_as_compact_as_one_of_a_single_batch(pg, tmp_path, monkeypatch):
    """Each batch of a first load rewrites day rows an earlier one wrote; the load writes its
    rows again, whole pages, before it commits: the table takes the pages one batch would."""
    from storemon.database import loader
    from storemon.sources import text as text_sources

    from .helpers import scalar

    directory = tmp_path / "polls"
    polls_csv(directory, [(f"s{store:03d}", "active" if (store + hour) % 5 else "inactive",
                           format_instant(START + hour * HOUR_US).replace("T", " ").replace("Z", " UTC"))
                          for hour in range(48) for store in range(200)])  # (in time order, as a poller writes)

    monkeypatch.setattr(text_sources, "BLOCK_CHARS", 16_384)  # (a batch ends between blocks: about 360 lines)

    def loaded(batch_polls: int) -> tuple[int, list]:
        truncate(pg)
        monkeypatch.setattr(loader, "LOCAL_BATCH_POLLS", batch_polls)
        load_directory(pg, directory)
        return scalar(pg, "SELECT pg_relation_size('poll_days')"), stored_polls(pg)

    one = loaded(1_000_000)
    several = loaded(1000)  # (ten batches: each rewrites the rows of the day the one before ended in)
    assert several == one


def test_a_compaction_that_cannot_be_safe_or_quick_leaves_the_rows_as_written(pg, tmp_path, monkeypatch):
    """Not under a snapshot older than its statements (TRUNCATE would empty rows the load cannot
    see), and not while a reader holds the table past COMPACT_LOCK_WAIT: the rows stay."""
    from sqlalchemy import text

    from storemon.database import polls

    Loads(pg, tmp_path)(polls=[("a", "active", "2023-01-23 10:00:00 UTC"), ("b", "inactive", "2023-01-23 11:00:00 UTC")])
    before = stored_polls(pg)
    with pg.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        assert not polls.compact(conn)
        conn.rollback()
    monkeypatch.setattr(polls, "COMPACT_LOCK_WAIT", "200ms")
    with pg.connect() as reader, pg.connect() as conn:
        reader.execute(text("SELECT count(*) FROM poll_days"))  # (its transaction holds the table)
        assert not polls.compact(conn)
        assert conn.execute(text("SELECT count(*) FROM poll_days")).scalar() == 2  # (the transaction goes on)
        conn.commit()
    assert stored_polls(pg) == before
    with pg.begin() as conn:
        assert polls.compact(conn)
    assert stored_polls(pg) == before
