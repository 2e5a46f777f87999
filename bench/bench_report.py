"""Report benchmark on PostgreSQL: database read to CSV written, and the core alone.

    .venv/bin/python -m bench.bench_report [--extended] [full] [calendar] [scale10] [weeks8]

full:    the full-scale file (~1.97M polls, 14K stores, 7.75 days)
calendar: the same polls, with 10 holidays in the lookback, special hours for 10 % of the
         stores on 3 dates each (closed, or one or two intervals), and three versions of the
         weekly hours for another 10 %
scale10: ten times wider (~20M polls, 140K stores)
weeks8:  the full-scale stores over 8 weeks (~14M polls): only the 8-day lookback is read
Each dataset is generated into bench/data/ and loaded into its own database on first use.

--extended: the standard report and the extended one (no data too), alternating in one process,
read to CSV bytes, ten of each: their medians and the ratio.
"""

from __future__ import annotations

import sys

from .fixtures import BENCH_PG, bench_url, dataset, fresh_postgres, measured

DATASETS = {
    "full": (),
    "calendar": (),
    "scale10": ("--scale", "10"),
    "weeks8": ("--days", "56", "--start", "2022-12-01"),
}

LOAD = """
from pathlib import Path
from storemon.config import load_settings
from storemon.database.engines import make_engine, upgrade
from storemon.database.loader import load_directory
engine = make_engine(load_settings().database_url)
upgrade(engine)
summary = load_directory(engine, Path({directory!r}))
result = {{'polls': summary.new_polls}}
"""

REPORT = """
import statistics, tempfile
from sqlalchemy import text
from pathlib import Path
from storemon.config import load_settings
from storemon.core import to_csv
from storemon.database.engines import make_engine
from storemon.database.queries import latest_poll_us, snapshot
from storemon.reports.build import compute
engine = make_engine(load_settings().database_url)
out = Path(tempfile.mkdtemp()) / 'report.csv'
runs = []
for _ in range(5):
    t0 = time.perf_counter()
    with snapshot(engine) as snap:
        as_of = latest_poll_us(snap.conn)
        uptime, _ = compute(snap, as_of)
    t1 = time.perf_counter()
    out.write_bytes(to_csv(uptime))
    t2 = time.perf_counter()
    runs.append((t2 - t0, t1 - t0, t2 - t1))
first = runs[0]
median = [statistics.median(r[i] for r in runs) for i in range(3)]
with engine.connect() as conn:
    polls = conn.execute(text("SELECT sum(length(polls)) / 8 FROM poll_days WHERE day BETWEEN :first AND :last"),
                         {"first": (as_of - 8 * 86400 * 10**6) // (86400 * 10**6), "last": as_of // (86400 * 10**6)}).scalar()
result = {'polls': int(polls), 'stores': int(uptime.store_ids.size), 'first': first, 'median': median}
"""


EXTENDED = """
import statistics
from storemon.config import load_settings
from storemon.core import to_csv
from storemon.database.engines import make_engine
from storemon.database.queries import latest_poll_us, snapshot
from storemon.reports.build import compute
engine = make_engine(load_settings().database_url)
times = {False: [], True: []}
for k in range(20):
    extended = k % 2 == 1
    t0 = time.perf_counter()
    with snapshot(engine) as snap:
        as_of = latest_poll_us(snap.conn)
        uptime, _ = compute(snap, as_of, coverage=extended)
    to_csv(uptime, extended)
    times[extended].append(time.perf_counter() - t0)
result = {'standard': statistics.median(times[False]), 'extended': statistics.median(times[True])}
"""


def database_for(name: str) -> str:
    return BENCH_PG if name == "full" else bench_url(name)


def prepare(name: str) -> str:
    import psycopg

    url = database_for(name)
    try:
        with psycopg.connect(url) as conn:
            loaded = conn.execute("SELECT count(*) FROM poll_days").fetchone()[0] > 0
    except psycopg.Error:
        loaded = False
    if not loaded:
        directory = dataset(name, *DATASETS[name])  # (the data first: a database is dropped only to load it)
        if name == "calendar":
            write_calendar(directory)
        fresh_postgres(url)
        measured(LOAD.format(directory=str(directory)), url)
    else:  # loaded by an older checkout: bring its schema up to date (the worker checks it)
        from storemon.database.engines import make_engine, upgrade

        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    vacuumed(url)
    return url


def write_calendar(directory) -> None:
    """holidays.csv: 10 of the 12 dates around the polls (2023-01-15 to 01-26), closed or
    10:00-16:00; special_hours.csv: 10 % of the stores, 3 of those dates each, closed, 11:00-15:00,
    or 08:00-12:00 and 18:00-02:00; menu_hours.csv: 10 % of the stores get two more versions of
    their week, from 2023-01-20 and 2023-01-23 (seeded)."""
    import csv
    import random
    from datetime import date, timedelta

    rng = random.Random(25)
    dates = [(date(2023, 1, 15) + timedelta(days=k)).isoformat() for k in range(12)]
    with open(directory / "holidays.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["date", "start_time_local", "end_time_local", "name"])
        for k, day in enumerate(sorted(rng.sample(dates, 10))):
            out.writerow([day, "", "", f"holiday {k}"] if k % 2 else [day, "10:00", "16:00", f"holiday {k}"])
    with open(directory / "timezones.csv", newline="") as f:
        stores = sorted({row["store_id"] for row in csv.DictReader(f)})
    with open(directory / "special_hours.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["store_id", "date", "start_time_local", "end_time_local"])
        for store in rng.sample(stores, len(stores) // 10):
            for day in rng.sample(dates, 3):
                kind = rng.randrange(3)
                rows = [("", "")] if kind == 0 else [("11:00", "15:00")] if kind == 1 else \
                    [("08:00", "12:00"), ("18:00", "02:00")]
                out.writerows([store, day, start, end] for start, end in rows)
    with open(directory / "menu_hours.csv", newline="") as f:
        hours = list(csv.reader(f))
    with open(directory / "menu_hours.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([*hours[0], "effective_date"])
        out.writerows([*row, ""] for row in hours[1:])
        for store in rng.sample(stores, len(stores) // 10):
            out.writerows([store, day, "10:00:00", "18:00:00", "2023-01-20"] for day in range(5))
            out.writerows([store, day, "07:00:00", "23:00:00", "2023-01-23"] for day in range(7))


def vacuumed(url: str) -> None:
    """VACUUM the polls once after loading, as autovacuum would in production (a server with it
    off, as some test machines have, leaves a fresh load without a visibility map, and the
    first reads write hint bits to each page)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT coalesce(last_vacuum, last_autovacuum) FROM pg_stat_user_tables"
                        " WHERE relname = 'poll_days'").fetchone()[0] is None:
            conn.execute("VACUUM (ANALYZE) poll_days")


def main(names: list[str]) -> None:
    if "--extended" in names:
        print(f"{'dataset':<8} {'standard s':>10} {'extended s':>10} {'ratio':>6}")
        for name in [n for n in names if n != "--extended"] or ["full"]:
            r = measured(EXTENDED, prepare(name))
            print(f"{name:<8} {r['standard']:>10.3f} {r['extended']:>10.3f} {r['extended'] / r['standard']:>6.3f}")
        return
    print(f"{'dataset':<8} {'polls read':>11} {'stores':>7} {'whole s':>8} {'read and core s':>16} "
          f"{'csv s':>6} {'first whole s':>13} {'peak MB':>8}")
    for name in names:
        r = measured(REPORT, prepare(name))
        whole, computed, csv = r["median"]
        print(f"{name:<8} {r['polls']:>11} {r['stores']:>7} {whole:>8.2f} {computed:>16.2f} {csv:>6.2f} "
              f"{r['first'][0]:>13.2f} {r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(DATASETS))
