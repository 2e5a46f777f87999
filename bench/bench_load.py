"""Load benchmark: the full-scale poll file into PostgreSQL and SQLite, the same file again,
then the next hour's polls (what production loads every hour).

    .venv/bin/python -m bench.bench_load

Generates bench/data/full (~1.97M polls, 14K stores) and bench/data/next_hour on first use.
"""

from __future__ import annotations

import tempfile

from .fixtures import BENCH_PG, dataset, fresh_postgres, measured

LOAD = """
from pathlib import Path
from sqlalchemy import text
from storemon.config import load_settings
from storemon.database.engines import make_engine, upgrade
from storemon.database.loader import load_directory
engine = make_engine(load_settings().database_url)
upgrade(engine)
started = time.perf_counter()
summary = load_directory(engine, Path({directory!r}))
result = {{'seconds': time.perf_counter() - started, 'new_polls': summary.new_polls, 'rows': summary.rows_read}}
if engine.dialect.name == 'postgresql':  # the bytes PostgreSQL keeps a stored poll in: table, TOAST, indexes
    with engine.connect() as conn:
        result['bytes_per_poll'] = conn.execute(text(
            "SELECT pg_total_relation_size('poll_days')::float / (SELECT sum(length(polls)) / 8 FROM poll_days)")).scalar()
"""


def main() -> None:
    runs = [("first", dataset("full")), ("again", dataset("full")),
            ("next hour", dataset("next_hour", "--start", "2023-01-25T18:00", "--days", "0.042",
                                          schedules=False))]
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("PostgreSQL", fresh_postgres(f"{BENCH_PG}_load")), ("SQLite", f"sqlite:///{tmp}/bench.db")]
        print(f"{'database':<11} {'run':<9} {'rows read':>10} {'new polls':>10} {'seconds':>8} {'peak MB':>8}")
        for label, url in targets:
            for run, directory in runs:
                r = measured(LOAD.format(directory=str(directory)), url)
                print(f"{label:<11} {run:<9} {r['rows']:>10} {r['new_polls']:>10} {r['seconds']:>8.2f} "
                      f"{r['peak_mb']:>8.0f}" + (f"   ({r['bytes_per_poll']:.1f} bytes a stored poll)"
                                                 if "bytes_per_poll" in r else ""))


if __name__ == "__main__":
    main()
