"""The report cache (storemon/database/pollcache.py) is an optimisation only: a report that
uses it is byte-identical to one that reads everything (REPORT_CACHE=off), through every
way the polls change: new loads, late polls, overrides, retention, hours and timezone
changes, new stores, older as_of, damaged files and a database made anew."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import text

from storemon.config import PROJECT_ROOT
from storemon.database import changes, retention
from storemon.database.engines import make_engine
from storemon.database.loader import load_directory
from storemon.database.pollcache import Cached, Delta, PollCache, PollState
from storemon.reports.build import build_report
from storemon.timeparse import format_instant, parse_instant

from .conftest import truncate
from .helpers import hours_csv, polls_csv, scalar, timezones_csv

HOUR_US = 3600 * 1_000_000
START = parse_instant("2023-01-15T00:00:00Z")
ZONES = ["America/Chicago", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Not/AZone"]
# DST ends in Lord Howe on 2023-04-02 (half an hour), so a late window crosses a change too
STORES = [f"store-{i:02d}" for i in range(12)]


def sweep(hour: int, stores=STORES, seed: int = 0) -> list[tuple[str, str, str]]:
    """One poll of each store a few minutes past the given hour after START."""
    rng = random.Random(hour * 1000 + seed)
    return [(s, rng.choice(["active", "active", "inactive"]),
             format_instant(START + hour * HOUR_US + rng.randrange(60 * 60 * 1_000_000))) for s in stores]


class Loads:
    """Loads into one database, each from a directory of its own."""

    def __init__(self, engine, tmp_path: Path):
        self.engine, self.tmp, self.count = engine, tmp_path, itertools.count()

    def __call__(self, polls=None, hours=None, zones=None) -> None:
        directory = self.tmp / f"load-{next(self.count)}"
        directory.mkdir(parents=True)
        if polls is not None:
            polls_csv(directory, polls)
        if hours is not None:
            hours_csv(directory, hours)
        if zones is not None:
            timezones_csv(directory, zones)
        load_directory(self.engine, directory)


def base_data(load: Loads, hours: int) -> None:
    rows = [(s, d, "09:00", "17:00") for s in STORES[:4] for d in range(7)]
    rows += [("store-04", d, "18:00", "02:00") for d in range(5)]  # overnight
    rows += [("store-05", d, "00:00", "23:59") for d in (5, 6)] + [("store-05", 0, "00:00", "06:00")]
    rows += [("store-06", 2, "08:00", "11:00"), ("store-06", 2, "13:00", "19:30")]  # two intervals a day
    load(polls=[p for h in range(hours) for p in sweep(h)], hours=rows,
         zones=[(s, ZONES[i % len(ZONES)]) for i, s in enumerate(STORES[:10])])


def agree(engine, cache: PollCache, as_of: int | None = None) -> str:
    """Compute the report without and with the cache; they must be the same bytes. Returns
    how the cache served (and saves it, as a job does)."""
    uncached = build_report(engine, as_of)
    cached = build_report(engine, as_of, cache=cache)
    assert cached == uncached
    outcome = cache.outcome
    cache.save()
    return outcome


@pytest.fixture
def cache(tmp_path) -> PollCache:
    return PollCache(tmp_path / "cache", "test")


def test_cached_reports_equal_uncached_through_every_change(engine, tmp_path, cache):
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    assert agree(engine, cache) == "built"
    assert agree(engine, cache) == "current"
    with engine.connect() as conn:
        assert cache.load().seq == changes.current(conn).seq

    load(polls=sweep(9 * 24))  # the next hour
    assert agree(engine, cache) == "updated"
    load(polls=sweep(100, seed=1))  # late polls: old instants, new change
    assert agree(engine, cache) == "updated"

    stored = sweep(9 * 24 - 3)  # an instant stored active turns inactive when it arrives inactive
    flipped = [(s, "inactive", t) for s, status, t in stored if status == "active"]
    assert flipped
    load(polls=flipped)
    assert agree(engine, cache) == "updated"
    assert scalar(engine, "SELECT count(*) FROM polls WHERE overridden_seq IS NOT NULL") == len(flipped)

    load(polls=sweep(9 * 24))  # the same hour again: nothing new, but a change all the same
    assert agree(engine, cache) == "updated"

    load(hours=[("store-07", 1, "10:00", "12:00"), ("store-00", 0, "07:00", "23:59")])  # no polls: no change
    assert agree(engine, cache) == "current"
    load(zones=[("store-01", "Asia/Tokyo"), ("store-11", "Europe/Berlin")])
    assert agree(engine, cache) == "current"

    load(polls=sweep(9 * 24 + 1, stores=STORES + ["newcomer"]))  # a store not seen before
    assert agree(engine, cache) == "updated"

    latest = scalar(engine, "SELECT max(ts_us) FROM polls")
    agree(engine, cache, latest - 2 * HOUR_US)  # a little older: from the cache (or rebuilt for it)
    assert agree(engine, cache, latest - 3 * 24 * HOUR_US) == "bypassed"  # well before the newest polls
    assert agree(engine, cache, latest + 2 * HOUR_US) in ("current", "updated")

    # retention deletes polls inside the cached range (a short horizon, so it reaches the lookback)
    removed = retention.apply(engine, 30, 9, now=_utc(latest + 2 * 24 * HOUR_US))
    assert removed.polls > 0
    assert agree(engine, cache) == "updated"
    load(polls=sweep(9 * 24 - 8 * 24 + 20))  # polls older than retention's last cut, loaded again
    assert agree(engine, cache) == "updated"


def test_damaged_or_foreign_files_are_never_trusted(engine, tmp_path, cache):
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    agree(engine, cache)
    whole = cache.path.read_bytes()

    cache.path.write_bytes(whole[: len(whole) // 2])  # torn: half a file
    assert cache.load() is None
    assert agree(engine, cache) == "built"
    assert cache.path.read_bytes() == whole

    cache.path.write_bytes(b"not a cache at all")
    assert agree(engine, cache) == "built"
    cache.path.write_bytes(whole[:-1] + b"?")  # the last byte wrong
    assert cache.load() is None

    left = cache.directory / f".{cache.path.name}.12345.abcd.tmp"  # a writer that died
    left.write_bytes(whole[:100])
    assert agree(engine, cache) in ("current", "built")
    assert left.exists()  # a recent one may still be someone's; only old ones are removed
    os.utime(left, (time.time() - 3600, time.time() - 3600))
    load(polls=sweep(9 * 24))
    assert agree(engine, cache) == "updated"
    assert not left.exists()


def test_an_hourly_report_writes_the_changes_not_the_whole_state(engine, tmp_path, cache):
    """The whole file stays as the first report wrote it while the changes kept beside it are
    small; past an eighth of it, the whole state is written again and the changes go. A
    changes file that is damaged, or kept for another whole file, is not trusted."""
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    assert agree(engine, cache) == "built"
    whole, polls = cache.path.read_bytes(), cache.load().key.size
    hour = 9 * 24
    for _ in range(3):
        load(polls=sweep(hour))
        hour += 1
        assert agree(engine, cache) == "updated"
        assert cache.path.read_bytes() == whole and cache.delta_path.exists()
        assert agree(engine, cache) == "current"  # from the whole file and the changes beside it
    load(polls=[(s, "inactive", t) for s, _, t in sweep(hour - 2)] + sweep(120, seed=2))  # overrides, late polls
    assert agree(engine, cache) == "updated"
    assert cache.path.read_bytes() == whole

    kept, before = cache.delta_path.read_bytes(), cache.load()
    cache.delta_path.write_bytes(kept[: len(kept) // 2])  # torn
    assert cache.loaded().delta is None
    assert agree(engine, cache) == "updated"  # the changes since the whole file, read again
    again = cache.load()
    assert again.seq == before.seq and cache.loaded().delta is not None
    assert np.array_equal(again.key, before.key) and np.array_equal(again.active, before.active)

    while cache.path.read_bytes() == whole:
        load(polls=sweep(hour))
        hour += 1
        agree(engine, cache)
        assert hour < 9 * 24 + 40, "the whole state was never written again"
    assert not cache.delta_path.exists() and cache.load().key.size > polls
    cache.delta_path.write_bytes(kept)  # kept for the whole file before: another's changes
    assert cache.loaded().delta is None
    assert agree(engine, cache) == "current"


def test_caches_on_one_machine_share_one_read_of_the_changes(pg, tmp_path):
    """Caches standing at the same change (the parts of a sharded report) read what changed
    since once: the second brings itself up to date without touching the polls table; a
    shared file that is damaged is read afresh."""
    as_of = START + 9 * 24 * HOUR_US + HOUR_US // 2
    load = Loads(pg, tmp_path)
    base_data(load, hours=9 * 24)
    url = pg.url.render_as_string(hide_password=False)
    first, second, third = (PollCache.for_database(tmp_path / "cache", url, name) for name in ("a", "b", "c"))
    for cache in (first, second, third):
        assert agree(pg, cache, as_of) == "built"
    load(polls=sweep(9 * 24) + [(s, "inactive", t) for s, _, t in sweep(9 * 24 - 2)])
    assert agree(pg, first, as_of) == "updated"
    shared = list((tmp_path / "cache").glob("*.npz"))
    assert len(shared) == 1

    expected = build_report(pg, as_of)[1]
    hold = engine_holding_polls(pg)
    try:
        impatient = make_engine(url, lock_timeout_s=2)  # a read of the polls would fail, not wait
        assert build_report(impatient, as_of, cache=second)[1] == expected
        assert second.outcome == "updated"
        impatient.dispose()
    finally:
        hold.close()

    shared[0].write_bytes(b"PK not a zip file")
    assert agree(pg, third, as_of) == "updated"


def test_caches_reading_the_same_changes_at_once_read_them_once(tmp_path):
    """Two parts starting together: the second waits for the first's read of the changes and
    takes its file, rather than asking the database again."""
    calls, start = [], threading.Barrier(2)

    def read():
        calls.append(1)
        time.sleep(0.3)
        return {"store": np.arange(5)}

    def take(name):
        start.wait()
        return PollCache(tmp_path / "cache", name, "db").shared("changes-e-1-2-0", read)

    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(take, ["part0", "part1"]))
    assert len(calls) == 1
    assert all(np.array_equal(f["store"], np.arange(5)) for f in found)


def engine_holding_polls(engine):
    """A connection holding an exclusive lock on the polls table until closed."""
    conn = engine.connect()
    conn.execute(text("LOCK TABLE polls IN ACCESS EXCLUSIVE MODE"))
    return conn


def test_a_database_made_anew_is_read_anew(engine, tmp_path, cache):
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    agree(engine, cache)
    with engine.connect() as conn:
        before = changes.current(conn)
    if engine.dialect.name == "postgresql":
        truncate(engine)
    else:
        with engine.begin() as conn:
            for table in ("polls", "stores", "business_hours", "data_version", "poll_deletions"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    base_data(Loads(engine, tmp_path / "again"), hours=5 * 24)  # other data, the same change numbers
    with engine.connect() as conn:
        after = changes.current(conn)
    assert after.seq <= before.seq and after.epoch != before.epoch
    assert agree(engine, cache) == "built"


def test_reports_through_workers_sharing_one_cache_equal_uncached(settings, app, seeded, tmp_path):
    """Two real worker processes on one machine share a cache directory; reports are queued
    between loads; every CSV equals the one computed without a cache."""
    from .services import WorkerProcess

    client = app.test_client()
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "RQ_QUEUE": settings.queue_name,
           "REPORT_CACHE_DIR": str(tmp_path / "shared-cache"), "LOG_LEVEL": "DEBUG"}
    workers = [WorkerProcess(env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        load = Loads(seeded, tmp_path)
        latest = scalar(seeded, "SELECT max(ts_us) FROM polls")
        expected = {}
        for step in range(6):
            if step:
                load(polls=[(s, "inactive" if step % 2 else "active", format_instant(latest + step * 60_000_000))
                            for s in scalar_list(seeded, "SELECT store_id FROM stores ORDER BY id LIMIT 50")])
            ids = [client.post("/trigger_report").get_json()["report_id"] for _ in range(2)]
            truth = build_report(seeded)[1]
            for report_id in ids:
                expected[report_id] = truth
            for report_id in ids:  # wait before the next load, so each report's data is known
                assert wait_for_csv(client, report_id) == truth
        logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2))
        assert "report polls: cache updated" in logs
        assert "warmed up in" in logs and "(report cache: built)" in logs  # the first worker to start built it
    finally:
        for worker in workers:
            worker.stop()


def test_a_writer_killed_mid_write_leaves_the_old_file_whole(engine, tmp_path, cache):
    load = Loads(engine, tmp_path)
    base_data(load, hours=9 * 24)
    agree(engine, cache)
    before = cache.path.read_bytes()
    # a big state (40M polls, 360 MB), so the write takes long enough to be killed in
    writer = subprocess.Popen([sys.executable, "-c", _BIG_WRITER, str(cache.directory), cache.path.stem],
                              cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"writing"
        deadline = time.monotonic() + 60
        while not list(cache.directory.glob("*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.05)
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert cache.path.read_bytes() == before  # not replaced by a part of the big one
    assert agree(engine, cache) == "current"
    load(polls=sweep(9 * 24))
    assert agree(engine, cache) == "updated"


_BIG_WRITER = """
import sys
import numpy as np
from storemon.database.pollcache import Cached, Delta, PollCache, PollState
cache = PollCache(sys.argv[1], sys.argv[2])
n = 40_000_000
cache.pending = PollState("epoch", 1, 0, np.arange(n, dtype=np.int64), np.ones(n, bool))
print("writing", flush=True)
cache.save()
print("written", flush=True)
"""


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["hour", "late", "flip", "hours", "zone", "retain", "older"]), min_size=1, max_size=6),
       st.integers(0, 1000))
def test_any_sequence_of_changes_keeps_cached_and_uncached_equal(pg, tmp_path_factory, operations, seed):
    truncate(pg)
    tmp = tmp_path_factory.mktemp("ops")
    cache = PollCache(tmp / "cache", "prop")
    load, rng, hour = Loads(pg, tmp), random.Random(seed), 9 * 24
    base_data(load, hours=hour)
    agree(pg, cache)
    for op in operations:
        if op == "hour":
            hour += 1
            load(polls=sweep(hour, seed=seed))
        elif op == "late":
            load(polls=sweep(rng.randrange(hour), seed=seed + 1))
        elif op == "flip":
            load(polls=[(s, "inactive", t) for s, _, t in sweep(rng.randrange(hour - 30, hour))])
        elif op == "hours":
            load(hours=[(rng.choice(STORES), rng.randrange(7), "06:30", rng.choice(["12:00", "23:59", "03:00"]))])
        elif op == "zone":
            load(zones=[(rng.choice(STORES), rng.choice(ZONES))])
        elif op == "retain":
            retention.apply(pg, 30, 9, now=_utc(START + (hour + rng.randrange(24, 72)) * HOUR_US))
        agree(pg, cache, None if op != "older" else START + (hour - rng.randrange(1, 30)) * HOUR_US)


def test_changes_merge_like_a_fresh_read():
    """PollState.changed against the state built from scratch, on random polls."""
    rng = np.random.default_rng(3)
    n, base = 5000, 1_000_000
    store, ts = rng.integers(0, 300, n), base + rng.integers(0, 10 ** 9, n)
    key = np.unique((store << 41) | (ts - base))
    store, ts = key >> 41, (key & ((1 << 41) - 1)) + base
    active = rng.random(key.size) < 0.7
    old = rng.random(key.size) < 0.8  # these were cached; the rest arrive as changes
    state = PollState.of("e", 1, base, store[old], ts[old], active[old])
    flip = old & active & (rng.random(key.size) < 0.1)
    cut = base + 10 ** 8
    changed = state.changed(2, cut, store[~old], ts[~old], active[~old], store[flip], ts[flip])
    final = active & ~flip
    keep = ts >= cut
    expected = PollState.of("e", 2, base, store[keep | ~old], ts[keep | ~old], final[keep | ~old])
    assert np.array_equal(changed.key, expected.key) and np.array_equal(changed.active, expected.active)
    assert np.all(np.diff(changed.key) > 0)
    held = state.restricted(np.arange(0, 300, 2))  # a part's state keeps naming its stores
    assert np.array_equal(held.changed(3, None, store[:0], ts[:0], active[:0], store[:0], ts[:0]).stores,
                          np.arange(0, 300, 2))
    rebased = changed.rebased(cut)
    stores = np.arange(300)
    assert all(np.array_equal(a, b) for a, b in zip(handed(Cached(rebased, None), cut, base + 10 ** 9, stores, 0),
                                                    handed(Cached(changed, None), cut, base + 10 ** 9, stores, 0)))


def test_changes_kept_together_equal_changes_applied_in_turn():
    """Delta.then (the changes kept beside a cache file, grown hour by hour) against applying
    each hour's changes in turn: new polls, polls stored again, overrides of polls old and
    new, and retention's cuts."""
    rng = np.random.default_rng(11)
    base = 1_000_000
    universe = np.unique(rng.integers(0, 200, 6000) << 41 | rng.integers(0, 10 ** 9, 6000))
    held = rng.random(universe.size) < 0.6
    state = PollState("e", 1, base, universe[held], rng.random(held.sum()) < 0.8)
    in_turn, kept = state, None
    for seq in range(2, 8):
        new = np.sort(rng.choice(universe, 300, replace=False))
        cut = base + int(rng.integers(0, 3 * 10 ** 8)) if rng.random() < 0.4 else None
        later = Delta(seq, cut, new, rng.random(new.size) < 0.7, np.sort(rng.choice(universe, 200, replace=False)))
        in_turn = in_turn.with_delta(later)
        kept = later if kept is None else kept.then(later, base)
        together = state.with_delta(kept)
        assert np.array_equal(together.key, in_turn.key) and np.array_equal(together.active, in_turn.active)
        assert together.seq == in_turn.seq == seq


def handed(cached: Cached, since: int, until: int, stores, key_base: int, rows: int = 250_000):
    """The polls Cached.core_chunks hands the core, joined: (keys, statuses). Each chunk holds
    whole stores, and the fractions handed grow to 1."""
    chunks = list(cached.core_chunks(since, until, stores, key_base, rows)())
    fractions = [fraction for _, _, fraction in chunks]
    assert fractions == sorted(fractions) and (not chunks or fractions[-1] == 1.0)
    for (one, _, _), (next_one, _, _) in zip(chunks, chunks[1:]):
        assert not one.size or not next_one.size or one[-1] >> 41 < next_one[0] >> 41
    if not chunks:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    return np.concatenate([k for k, _, _ in chunks]), np.concatenate([a for _, a, _ in chunks])


def test_the_core_is_handed_exactly_the_window_of_its_stores():
    """Cached.core_chunks hands the core the polls in the window of the listed stores exactly as
    the core keys unpacked polls (positions, its own base), whatever else the file holds, with
    the changes kept beside it applied, in runs of whole stores of any size."""
    rng = np.random.default_rng(5)
    base = 1_700_000_000_000_000
    store, ts = rng.integers(0, 400, 20000), base + rng.integers(0, 12 * 86_400_000_000, 20000)
    key = np.unique((store << 41) | (ts - base))
    store, ts, active = key >> 41, (key & ((1 << 41) - 1)) + base, rng.random(key.size) < 0.6
    state = PollState.of("e", 1, base, store, ts, active)
    in_file = rng.random(key.size) < 0.9  # the rest, and some turned inactive, are kept as changes
    turned = in_file & active & (rng.random(key.size) < 0.05)
    delta = Delta(2, None, key[~in_file], active[~in_file], key[turned])
    whole = PollState("e", 1, base, key[in_file], active[in_file])  # (turned: active in the file)
    final = active & ~turned
    listed = np.sort(rng.choice(np.arange(0, 420), 300, replace=False))  # some unpolled, some polled left out
    for since, until in [(base, base + 12 * 86_400_000_000), (base + 86_400_000_000, base + 9 * 86_400_000_000),
                         (base + 3_600_000_001, base + 3_600_000_001)]:
        key_base = since - 4 * 86_400_000_000
        position = np.searchsorted(listed, store)
        mine = (position < listed.size) & (listed[np.minimum(position, listed.size - 1)] == store) \
            & (ts >= since) & (ts <= until)
        expected = ((position[mine] << 41) | (ts[mine] - key_base), final[mine])
        for cached in (Cached(state.changed(2, None, store[:0], ts[:0], active[:0], store[turned], ts[turned]), None),
                       Cached(whole, "id", delta)):
            for rows in (250_000, 700, 1):
                found = handed(cached, since, until, listed, key_base, rows)
                assert all(np.array_equal(a, b) for a, b in zip(found, expected)), (since, until, rows)
                assert found[1].dtype == bool and np.all(np.diff(found[0]) > 0)
    assert handed(Cached(state, None), base, base + 1, np.zeros(0, np.int64), base)[0].size == 0


def _utc(instant_us: int):
    from datetime import datetime, UTC

    return datetime.fromtimestamp(instant_us / 1_000_000, UTC)


def scalar_list(engine, sql: str) -> list:
    from .helpers import rows

    return [r[0] for r in rows(engine, sql)]


def wait_for_csv(client, report_id: str, timeout_s: float = 60) -> bytes:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/get_report/{report_id}")
        if response.status_code == 200 and response.mimetype == "text/csv":
            return response.data
        assert response.status_code == 202 and response.get_json()["status"] in ("Pending", "Running"), \
            response.get_data(as_text=True)
        time.sleep(0.05)
    raise AssertionError(f"report {report_id} did not complete")
