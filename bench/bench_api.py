"""API benchmark: the whole service (waitress + one RQ worker) on the full-scale data in PostgreSQL.

    .venv/bin/python -m bench.bench_api

1. trigger -> Complete: POST /trigger_report, then GET every 20 ms until the CSV comes.
2. GET /get_report latency while reports are computing, from this (second) process over
   loopback on one keep-alive connection; the worker is kept busy with queued reports.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .bench_report import prepare
from .fixtures import ROOT

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


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


def start_web(database_url: str, api_rate_limit: str = "") -> tuple[subprocess.Popen, int, dict]:
    """waitress (8 threads) serving wsgi:app on the database and a free port, once it answers;
    no rate limit on triggers. Returns the process, its port and its environment."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": "bench",
           "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", "API_RATE_LIMIT": api_rate_limit,
           "TRIGGER_RATE_LIMIT": ""}
    web = subprocess.Popen([sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}", "--threads=8",
                            "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(port)
    return web, port, env


@contextmanager
def service(database_url: str, api_rate_limit: str = "") -> Iterator[http.client.HTTPConnection]:
    """The web process and one worker.py on the database, Redis flushed; a keep-alive connection."""
    subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, capture_output=True)
    web, port, env = start_web(database_url, api_rate_limit)
    worker = subprocess.Popen([sys.executable, "-u", "worker.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    finally:
        web.send_signal(signal.SIGTERM)
        os.killpg(worker.pid, signal.SIGTERM)
        web.wait(timeout=10)
        worker.wait(timeout=30)


def main() -> None:
    with service(prepare("full"), os.environ.get("BENCH_API_RATE_LIMIT", "")) as conn:

        completions = []
        for _ in range(6):
            started = time.perf_counter()
            report_id = json.loads(request(conn, "POST", "/trigger_report")[1])["report_id"]
            while request(conn, "GET", f"/get_report/{report_id}")[0] != 200:
                time.sleep(0.02)
            completions.append(time.perf_counter() - started)
        completions = completions[1:]  # the first pays for the worker's first fork and zone caches
        print(f"trigger -> Complete, 5 runs after a warm-up: median {statistics.median(completions):.2f} s, "
              f"max {max(completions):.2f} s")

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
