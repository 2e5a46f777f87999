"""Console benchmark: store timelines and the fleet page on the full-scale data in PostgreSQL,
measured while reports compute (waitress with 8 threads and one worker, as bench_api).

    .venv/bin/python -m bench.bench_console
"""

from __future__ import annotations

import json
import random
import time

from .bench_api import request, service
from .bench_report import prepare


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    with service(prepare("full")) as (conn, _):
        first = json.loads(request(conn, "POST", "/trigger_report")[1])["report_id"]
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
        timelines, pages, busy = [], [], 0
        for i, store_id in enumerate(sample):
            t0 = time.perf_counter()
            status, _ = request(conn, "GET", f"/stores/{store_id}/timeline")
            timelines.append(time.perf_counter() - t0)
            assert status == 200
            if i % 5 == 0:
                t0 = time.perf_counter()
                status, body = request(conn, "GET", "/")
                pages.append(time.perf_counter() - t0)
                busy += b'data-status="Running"' in body
        print(f"GET /stores/ID/timeline, {len(timelines)} stores: p50 {percentile(timelines, 0.5):.1f} ms, "
              f"p95 {percentile(timelines, 0.95):.1f} ms, max {max(timelines) * 1000:.1f} ms")
        print(f"GET / (fleet page), {len(pages)} times: p50 {percentile(pages, 0.5):.1f} ms, "
              f"p95 {percentile(pages, 0.95):.1f} ms, max {max(pages) * 1000:.1f} ms "
              f"({busy} of them while a report was Running); the first view of a new report {cold * 1000:.0f} ms")
        for report_id in ids:
            while request(conn, "GET", f"/get_report/{report_id}")[0] != 200:
                time.sleep(0.1)


if __name__ == "__main__":
    main()
