"""Console benchmark: store timelines, the fleet page (of every store and of one group) and
who is down now (GET /stores/down), on the full-scale data in PostgreSQL with a store
directory, measured while reports compute (waitress with 8 threads and one worker, as bench_api).

    .venv/bin/python -m bench.bench_console
"""

from __future__ import annotations

import json
import random
import time

from .bench_api import LOAD_HOUR, request, service
from .bench_report import prepare
from .fixtures import DATA, measured
from .synth import write_directory


def with_directory(url: str) -> str:
    """The database, its stores named and grouped (bench/synth.py's directory) if they are not yet."""
    import psycopg

    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM stores WHERE name IS NOT NULL").fetchone()[0]:
            return url
        ids = [row[0] for row in conn.execute("SELECT store_id FROM stores ORDER BY store_id")]
    directory = DATA / "directory"
    directory.mkdir(parents=True, exist_ok=True)
    write_directory(ids, directory / "stores.csv", 7)
    measured(LOAD_HOUR.format(directory=str(directory)), url)
    return url


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    with service(with_directory(prepare("full"))) as (conn, _):
        first = json.loads(request(conn, "POST", "/trigger_report?columns=extended")[1])["report_id"]
        while request(conn, "GET", f"/get_report/{first}")[0] != 200:
            time.sleep(0.05)
        stores = [row.split(b",")[0].decode() for row in request(conn, "GET", f"/get_report/{first}")[1].splitlines()[1:]]
        sample = random.Random(7).sample(stores, 200)
        # keep the worker busy: eight reports of different as_of (identical ones would be coalesced)
        ids = [json.loads(request(conn, "POST", f"/trigger_report?as_of=2023-01-25T{10 + i}:00:00Z")[1])["report_id"]
               for i in range(8)]
        t0 = time.perf_counter()
        request(conn, "GET", "/")  # the first view parses the report's CSV; the summary is kept
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        request(conn, "GET", "/stores/down")  # the first call makes the stores' sessions around the clock
        cold_down = time.perf_counter() - t0
        timelines, pages, groups, down, busy = [], [], [], [], 0
        for i, store_id in enumerate(sample):
            t0 = time.perf_counter()
            status, _ = request(conn, "GET", f"/stores/{store_id}/timeline")
            timelines.append(time.perf_counter() - t0)
            assert status == 200
            t0 = time.perf_counter()
            status, body = request(conn, "GET", "/stores/down?limit=100")
            down.append(time.perf_counter() - t0)
            assert status == 200
            if i % 5 == 0:  # a report of its own as_of, so that one is computing while the pages are made
                ids.append(json.loads(request(conn, "POST", f"/trigger_report?as_of=2023-01-24T00:{i // 5:02d}:00Z")[1])
                           ["report_id"])
                t0 = time.perf_counter()
                status, body = request(conn, "GET", "/")
                pages.append(time.perf_counter() - t0)
                busy += b'data-status="Running"' in body
                t0 = time.perf_counter()
                status, _ = request(conn, "GET", "/?group=region:west")
                groups.append(time.perf_counter() - t0)
                assert status == 200
        print(f"GET /stores/ID/timeline, {len(timelines)} stores: p50 {percentile(timelines, 0.5):.1f} ms, "
              f"p95 {percentile(timelines, 0.95):.1f} ms, max {max(timelines) * 1000:.1f} ms")
        print(f"GET / (fleet page), {len(pages)} times: p50 {percentile(pages, 0.5):.1f} ms, "
              f"p95 {percentile(pages, 0.95):.1f} ms, max {max(pages) * 1000:.1f} ms "
              f"({busy} of them while a report was Running); the first view of a new report {cold * 1000:.0f} ms")
        print(f"GET /?group=region:west, {len(groups)} times: p50 {percentile(groups, 0.5):.1f} ms, "
              f"p95 {percentile(groups, 0.95):.1f} ms, max {max(groups) * 1000:.1f} ms")
        count = json.loads(request(conn, "GET", "/stores/down")[1])["count"]
        print(f"GET /stores/down ({count} stores down), {len(down)} times: p50 {percentile(down, 0.5):.1f} ms, "
              f"p95 {percentile(down, 0.95):.1f} ms, max {max(down) * 1000:.1f} ms; the first call {cold_down * 1000:.0f} ms")
        for report_id in ids:
            while request(conn, "GET", f"/get_report/{report_id}")[0] != 200:
                time.sleep(0.1)


if __name__ == "__main__":
    main()
