"""API benchmark: the whole service (waitress + one RQ worker) on the full-scale data in PostgreSQL.

    .venv/bin/python -m bench.bench_api [--workers N]

1. The first report of a freshly started worker (its warm-up done; nothing of a report is
   kept on a worker's disk).
2. Hourly: one more hour of polls loaded, then POST /trigger_report and GET every 20 ms
   until the CSV comes; five hours after a warm-up, on a copy of the benchmark database.
3. trigger -> Complete again, nothing loaded in between.
4. GET /get_report latency while reports are computing, from this (second) process over
   loopback on one keep-alive connection; the worker is kept busy with queued reports.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


from .bench_report import prepare
from .fixtures import ROOT, copy_database, dataset, machine_speed, measured

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn: http.client.HTTPConnection, method: str, path: str) -> tuple[int, bytes]:
    conn.request(method, path)
    response = conn.getresponse()
    return response.status, response.read()


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if request(conn, "GET", "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the web process did not come up")


def start_web(database_url: str, api_rate_limit: str = "", redis_url: str = REDIS_URL, extra: dict | None = None,
              root: Path = ROOT) -> tuple[subprocess.Popen, int, dict]:
    """waitress (8 threads) serving wsgi:app on the database and a free port, once it answers;
    no rate limit on triggers. Returns the process, its port and its environment (``extra``
    added to this process's). ``root``: the checkout whose code it runs (another commit's,
    for a comparison side by side)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "RQ_QUEUE": "bench",
           "PYTHONPATH": str(root), "LOG_LEVEL": "WARNING", "API_RATE_LIMIT": api_rate_limit,
           "TRIGGER_RATE_LIMIT": "", **(extra or {})}
    web = subprocess.Popen([sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}", "--threads=8",
                            "wsgi:app"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(port)
    return web, port, env


def start_workers(env: dict, count: int) -> list[subprocess.Popen]:
    """``count`` worker.py processes, returned once each has warmed up and registered with RQ."""
    from redis import Redis
    from rq import Worker

    redis = Redis.from_url(env["REDIS_URL"])
    before = len(Worker.all(connection=redis))
    # BENCH_WORKER_LOG=FILE keeps the workers' logs (JSON lines, with times) for a timeline
    log = open(os.environ["BENCH_WORKER_LOG"], "ab") if os.environ.get("BENCH_WORKER_LOG") else subprocess.DEVNULL
    if log is not subprocess.DEVNULL:
        env = {**env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-u", "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                start_new_session=True) for _ in range(count)]
    deadline = started + 120
    while len(Worker.all(connection=redis)) < before + count:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start")
        time.sleep(0.05)
    print(f"  {count} worker(s) ready {time.monotonic() - started:.2f} s after they started "
          "(imports, the database check, the warm-up)", flush=True)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """SIGTERM, as a platform stops a worker; SIGKILL after 30 s, as a platform would (a worker
    left running would take the next benchmark's jobs)."""
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"worker {worker.pid} still running 30 s after SIGTERM: killed", file=sys.stderr)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


@contextmanager
def service(database_url: str, api_rate_limit: str = "", workers: int = 1, redis_url: str = REDIS_URL,
            extra: dict | None = None) -> Iterator[tuple[http.client.HTTPConnection, dict]]:
    """The web process and worker.py processes on the database, their Redis database flushed;
    a keep-alive connection, and the environment the processes run in."""
    subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, capture_output=True)
    web, port, env = start_web(database_url, api_rate_limit, redis_url, extra)
    started = start_workers(env, workers)
    try:
        yield http.client.HTTPConnection("127.0.0.1", port, timeout=600), env
    finally:
        web.send_signal(signal.SIGTERM)
        stop_workers(started)
        web.wait(timeout=10)


def trigger_to_csv(conn: http.client.HTTPConnection, query: str = "") -> float:
    started = time.perf_counter()
    report_id = json.loads(request(conn, "POST", f"/trigger_report{query}")[1])["report_id"]
    while request(conn, "GET", f"/get_report/{report_id}")[0] != 200:
        time.sleep(0.02)
    return time.perf_counter() - started


LOAD_HOUR = """
from pathlib import Path
from storemon.config import load_settings
from storemon.database.engines import make_engine
from storemon.database.loader import load_directory
summary = load_directory(make_engine(load_settings().database_url), Path({directory!r}))
result = {{'new_polls': summary.new_polls}}
"""


def hours_after(source: Path, count: int) -> Iterator[Path]:
    """Directories holding the benchmark's next hour of polls moved 0, 1, ... hours later."""
    from .bench_ingest import shifted

    lines = (source / "store_status.csv").read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(count):
            directory = Path(tmp) / f"hour-{k}"
            directory.mkdir()
            (directory / "store_status.csv").write_bytes(shifted(lines, k))
            yield directory


def summary(label: str, times: list[float]) -> None:
    print(f"{label}: median {statistics.median(times):.3f} s, max {max(times):.3f} s ({len(times)} runs)")


def main() -> None:
    print(machine_speed(), flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    rate_limit = os.environ.get("BENCH_API_RATE_LIMIT", "")
    next_hour = dataset("next_hour", "--start", "2023-01-25T18:00", "--days", "0.042", schedules=False)
    url = copy_database(prepare("full"), "api")
    firsts = []
    for _ in range(5):
        with service(url, rate_limit, args.workers) as (conn, _):
            firsts.append(trigger_to_csv(conn))
    summary("first report of a freshly started worker", firsts)

    with service(url, rate_limit, args.workers) as (conn, env):
        trigger_to_csv(conn)
        hourly = []
        for k, directory in enumerate(hours_after(next_hour, 6)):
            measured(LOAD_HOUR.format(directory=str(directory)), url)
            elapsed = trigger_to_csv(conn)
            if k:  # the first pays for its process's first fork and connections
                hourly.append(elapsed)
        summary("hourly: one more hour loaded, then trigger -> CSV", hourly)
        summary("trigger -> CSV, nothing new", [trigger_to_csv(conn) for _ in range(5)])

        # eight different as_of, so that none is coalesced onto another
        ids = [json.loads(request(conn, "POST", f"/trigger_report?as_of=2023-01-25T{10 + i}:00:00Z")[1])["report_id"]
               for i in range(8)]
        latencies, statuses = [], {}
        watched = ids[-1]
        while True:
            t0 = time.perf_counter()
            status, body = request(conn, "GET", f"/get_report/{watched}")
            latencies.append(time.perf_counter() - t0)
            if status == 200:
                break
            state = json.loads(body)["status"]
            statuses[state] = statuses.get(state, 0) + 1
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
        print(f"GET /get_report while 8 reports computed: {len(latencies)} requests ({statuses}), "
              f"p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
