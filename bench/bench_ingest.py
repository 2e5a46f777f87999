"""Ingestion benchmark: the web process (waitress) taking polls over HTTP into PostgreSQL.

    .venv/bin/python -m bench.bench_ingest

1. One hour of polls for the full-scale fleet (~10,600 rows, CSV) onto the full-scale data,
   as the poller sends them every hour: end to end from this process (request sent to answer
   read), five hours after a warm-up.
2. The whole full-scale poll file (~2M rows) as one gzip body into an empty database.
3. Bodies of 64 MiB (the default MAX_INGEST_BYTES) as CSV and as JSON.
For 2 and 3 the web process is fresh, and its peak memory (VmHWM) is read when it answers.
"""

from __future__ import annotations

import gzip
import http.client
import json
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

from .bench_api import start_web
from .bench_load import LOAD
from .fixtures import BENCH_PG, dataset, fresh_postgres, measured

MiB = 1 << 20


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class WebProcess:
    """The web process alone (no worker), freshly started, so its peak memory is this run's."""

    def __init__(self, database_url: str):
        self.database_url = database_url

    def __enter__(self) -> WebProcess:
        self.process, port, _ = start_web(self.database_url)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        return self

    def send(self, token: str, body: bytes, content_type: str = "text/csv", gzipped: bool = False) -> tuple[float, dict]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        started = time.perf_counter()
        self.conn.request("POST", "/polls", body=body, headers=headers)
        response = self.conn.getresponse()
        answer = json.loads(response.read())
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {answer}")
        return elapsed, answer

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def make_token(database_url: str) -> str:
    code = ("from storemon.database import tokens\nfrom storemon.database.engines import make_engine, upgrade\n"
            "from storemon.config import load_settings\nengine = make_engine(load_settings().database_url)\n"
            "upgrade(engine)\nresult = {'token': tokens.create(engine, 'bench', ['ingest'])}\n")
    return measured(code, database_url)["token"]


def shifted(lines: list[str], hours: int) -> bytes:
    """The hour's polls moved ``hours`` later (timestamps as synth_polls writes them)."""
    out = [lines[0]]
    for line in lines[1:]:
        store, status, stamp = line.rsplit(",", 2)
        moment = datetime.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S") + timedelta(hours=hours)
        out.append(f"{store},{status},{moment:%Y-%m-%d %H:%M:%S}{stamp[19:]}")
    return ("\n".join(out) + "\n").encode()


def body_of_size(lines: list[str], size: int) -> bytes:
    """CSV of the file's first lines, just under ``size`` bytes."""
    total, taken = 0, []
    for line in lines:
        if total + len(line) + 1 > size:
            break
        taken.append(line)
        total += len(line) + 1
    return ("\n".join(taken) + "\n").encode()


def json_of_size(lines: list[str], size: int) -> bytes:
    items, total = [], 2
    for line in lines[1:]:
        store, status, stamp = line.rsplit(",", 2)
        item = json.dumps({"store_id": store, "status": status, "timestamp_utc": stamp})
        if total + len(item) + 2 > size:
            break
        items.append(item)
        total += len(item) + 2
    return ("[" + ", ".join(items) + "]").encode()


def main() -> None:
    full = dataset("full")
    hour = dataset("next_hour", "--start", "2023-01-25T18:00", "--days", "0.042", schedules=False)
    hour_lines = (hour / "store_status.csv").read_text().splitlines()
    full_bytes = (full / "store_status.csv").read_bytes()
    full_lines = full_bytes.decode().splitlines()

    url = fresh_postgres(f"{BENCH_PG}_ingest")
    measured(LOAD.format(directory=str(full)), url)
    token = make_token(url)
    with WebProcess(url) as web:
        times, answers = [], []
        for k in range(6):
            elapsed, answer = web.send(token, shifted(hour_lines, k))
            times.append(elapsed)
            answers.append(answer)
        times = times[1:]  # the first pays for the first connections and imports
        print(f"one hour of polls ({answers[-1]['rows_read']:,} rows, {answers[-1]['new_polls']:,} new) onto "
              f"{len(full_lines) - 1:,} polls: median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms end to end")

    compressed = gzip.compress(full_bytes, 6)
    url = fresh_postgres(f"{BENCH_PG}_ingest")
    token = make_token(url)
    with WebProcess(url) as web:
        elapsed, answer = web.send(token, compressed, gzipped=True)
        print(f"the full file as one gzip body ({len(compressed) / MiB:.1f} MiB, {answer['rows_read']:,} rows, "
              f"{answer['new_polls']:,} new) into an empty database: {elapsed:.2f} s, "
              f"web process peak {peak_mb(web.process.pid):.0f} MB")

    for label, body, content_type in (("CSV", body_of_size(full_lines, 64 * MiB), "text/csv"),
                                      ("JSON", json_of_size(full_lines, 64 * MiB), "application/json")):
        url = fresh_postgres(f"{BENCH_PG}_ingest")
        token = make_token(url)
        with WebProcess(url) as web:
            elapsed, answer = web.send(token, body, content_type)
            print(f"a {len(body) / MiB:.1f} MiB {label} body ({answer['rows_read']:,} rows): {elapsed:.2f} s, "
                  f"web process peak {peak_mb(web.process.pid):.0f} MB")


if __name__ == "__main__":
    main()
