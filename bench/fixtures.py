"""Full-scale benchmark data, generated on demand into bench/data/ (never committed) by bench/synth.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
SYNTH = ROOT / "bench" / "synth.py"
# Every database a benchmark makes (or drops and makes again) is named after this one.
BENCH_PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/storemon_bench")


def dataset(name: str, *synth_args: str, schedules: bool = True) -> Path:
    """bench/data/NAME holding synthetic polls, and the 2023-01 hours and timezones if ``schedules``."""
    directory = DATA / name
    if not (directory / "store_status.csv").exists():
        directory.mkdir(parents=True, exist_ok=True)
        for source in ("menu_hours.csv", "timezones.csv") if schedules else ():
            shutil.copyfile(ROOT / "seed" / "2023-01" / source, directory / source)
        subprocess.run([sys.executable, str(SYNTH), str(ROOT / "seed" / "2023-01"),
                        str(directory / "store_status.csv"), *synth_args], check=True)
    return directory


def bench_url(suffix: str) -> str:
    """The URL of a benchmark's own database: BENCH_DATABASE_URL's name, ``_`` and ``suffix``."""
    return f"{BENCH_PG}_{suffix}"


def _ours(url: str) -> str:
    """The database's name, if it is one the benchmarks make (named after BENCH_DATABASE_URL's)."""
    name, ours = url.rsplit("/", 1)[1], BENCH_PG.rsplit("/", 1)[1]
    if name != ours and not name.startswith(ours + "_"):
        raise ValueError(f"{name}: not a benchmark database; a benchmark drops only those it makes "
                         f"(named after BENCH_DATABASE_URL's {ours})")
    return name


MARK = "made by storemon's benchmarks"  # the comment on every database they make; they drop only those


def _drop_ours(conn, name: str) -> None:
    """Drop the database if it is one the benchmarks made (it bears MARK); refuse any other."""
    found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                         (name,)).fetchone()
    if found is None:
        return
    if found[0] != MARK:
        raise SystemExit(f"database {name} exists and was not made by the benchmarks: it is left alone; "
                         "set BENCH_DATABASE_URL to another name")
    conn.execute(f'DROP DATABASE "{name}"')


def _create_ours(conn, name: str, template: str | None = None) -> None:
    conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    conn.execute(f"COMMENT ON DATABASE \"{name}\" IS " + "'" + MARK.replace("'", "''") + "'")


def fresh_postgres(url: str = BENCH_PG) -> str:
    """Drop and create a benchmark database (only one named after BENCH_DATABASE_URL's, and made
    by the benchmarks); its URL."""
    name = _ours(url)
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        _drop_ours(conn, name)
        _create_ours(conn, name)
    return url


def copy_database(url: str, suffix: str) -> str:
    """A fresh copy of the database at ``url`` (PostgreSQL's template copy), as the benchmark
    database named after BENCH_DATABASE_URL's with ``suffix``; its URL."""
    target = bench_url(suffix)
    name = _ours(target)
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        _drop_ours(conn, name)
        _create_ours(conn, name, template=url.rsplit("/", 1)[1])
    return target


def measured(code: str, database_url: str) -> dict:
    """Run CODE in a fresh interpreter (so peak memory is its own); it prints a JSON dict last."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    prologue = "import json, resource, time\n"
    epilogue = "\nresult['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\nprint(json.dumps(result))\n"
    done = subprocess.run([sys.executable, "-c", prologue + code + epilogue], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine_speed() -> str:
    """A fixed piece of Python and NumPy work, timed (best of 3), to print beside a benchmark's
    figures: this VM's speed varies by up to 2x over a day, and figures compare only at
    equal speed."""
    import time

    import numpy as np

    def best(work) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        return min(times)

    values = np.random.default_rng(0).integers(0, 1 << 40, 4_000_000)
    python_s = best(lambda: sum(range(5_000_000)))
    numpy_s = best(lambda: np.sort(values))
    # (what slows most on a slow day: page faults and file reads, as in a fresh process's imports)
    imports_s = best(lambda: subprocess.run([sys.executable, "-c", "import storemon.reports.build, storemon.cli"],
                                            cwd=ROOT, check=True))
    return (f"machine: summing 5M ints in Python {python_s:.3f} s, sorting 4M int64 {numpy_s:.3f} s, "
            f"a fresh interpreter importing the report's modules {imports_s:.3f} s (best of 3)")
