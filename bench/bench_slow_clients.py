"""Slow clients: how long /health takes while many connections dribble a request a byte at a time.

    .venv/bin/python -m bench.bench_slow_clients

The web process as the Procfile runs it (``python -m storemon serve``), and for comparison
``waitress-serve`` with waitress's own defaults (what the Procfile ran before), each fresh on
the benchmark database. For 0, 150, 500 and 900 slow connections (each sends a request
line, then a byte every 5 s), 20 calls of /health one after another: the median and the
slowest, or how many got no answer within 2 s.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

from .bench_api import free_port, wait_until_up
from .fixtures import BENCH_PG, ROOT, fresh_postgres

COMMANDS = {"python -m storemon serve": lambda port: [sys.executable, "-m", "storemon", "serve", "--host=127.0.0.1"],
            "waitress-serve, waitress's defaults": lambda port: [sys.executable, "-m", "waitress", "--host=127.0.0.1",
                                                                 f"--port={port}", "--threads=8", "wsgi:app"]}


def health_ms(port: int) -> float | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    started = time.perf_counter()
    try:
        conn.request("GET", "/health")
        conn.getresponse().read()
        return (time.perf_counter() - started) * 1000
    except OSError:
        return None
    finally:
        conn.close()


def measure(name: str, url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING",
           "REDIS_URL": "redis://127.0.0.1:6379/12"}
    web = subprocess.Popen(COMMANDS[name](port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    slow: list[socket.socket] = []
    stop = threading.Event()

    def dribble():
        while not stop.wait(5):
            for client in list(slow):
                try:
                    client.sendall(b"X")
                except OSError:
                    pass

    threading.Thread(target=dribble, daemon=True).start()
    try:
        wait_until_up(port)
        for count in (0, 150, 500, 900):
            while len(slow) < count:
                try:
                    client = socket.create_connection(("127.0.0.1", port), timeout=2)
                    client.sendall(b"GET /health HTTP/1.1\r\n")
                except OSError:
                    break
                slow.append(client)
            time.sleep(6)
            times = [health_ms(port) for _ in range(20)]
            answered = [t for t in times if t is not None]
            shown = (f"median {statistics.median(answered):.1f} ms, slowest {max(answered):.1f} ms"
                     if answered else "")
            print(f"{name}: {count} slow connections: {len(answered)}/20 answered within 2 s {shown}", flush=True)
    finally:
        stop.set()
        for client in slow:
            client.close()
        web.terminate()
        web.wait(timeout=30)


def main() -> None:
    url = fresh_postgres(f"{BENCH_PG}_slow")
    subprocess.run([sys.executable, "-m", "storemon", "init-db"], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    for name in COMMANDS:
        measure(name, url)


if __name__ == "__main__":
    main()
