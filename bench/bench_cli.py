"""The command line as a whole process: ``python -m storemon report --out FILE`` on the full-scale
data in PostgreSQL, from start-up to exit.

    .venv/bin/python -m bench.bench_cli

Runs it five times after one more hour of polls is loaded each time, on a copy of the
benchmark database (every run reads what it needs from the database: nothing is kept on disk).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from .bench_api import LOAD_HOUR, hours_after
from .bench_report import prepare
from .fixtures import ROOT, copy_database, dataset, machine_speed, measured


def run(env: dict, out: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "storemon", "report", "--out", out], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    print(machine_speed(), flush=True)
    next_hour = dataset("next_hour", "--start", "2023-01-25T18:00", "--days", "0.042", schedules=False)
    url = copy_database(prepare("full"), "cli")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        out = f"{tmp}/report.csv"
        first = run(env, out)
        hourly = []
        for directory in hours_after(next_hour, 6):
            measured(LOAD_HOUR.format(directory=str(directory)), url)
            hourly.append(run(env, out))
        hourly = hourly[1:]
    print(f"python -m storemon report, whole process: first {first:.2f} s; after one more hour "
          f"loaded: median {statistics.median(hourly):.2f} s, max {max(hourly):.2f} s ({len(hourly)} runs)")


if __name__ == "__main__":
    main()
