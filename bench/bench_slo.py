"""SLO benchmark: GET /slo for the whole fleet through the web process (waitress), and the
SLOs' evaluation after a batch, on the full-scale stores over 8 weeks (the weeks8 dataset of
bench/bench_report.py, loaded on first use), with a fleet target of 99 %.

    .venv/bin/python -m bench.bench_slo [--runs N]

1. GET /slo?window=30d (every store's SLO over 30 days, as JSON) and GET /slo?window=7d, each
   N times after one untimed, on one keep-alive connection, each at a new data version (so
   each computes its report): the median and the slowest; then GET /slo?window=30d N times
   with nothing changed (the web process keeps the last reports).
2. The SLOs' evaluation (alerts/evaluation.py's evaluate_slos, a 30-day report and the
   incidents it opens or resolves), N times, each at a new data version.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import time

from .bench_api import request, start_web
from .bench_report import prepare
from .fixtures import machine_speed


def timed_gets(conn: http.client.HTTPConnection, path: str, runs: int, engine=None) -> tuple[list[float], dict]:
    """``runs`` GETs after one untimed; with ``engine``, each after a new data version (as a
    load makes), so that each computes its report rather than finding the last one kept."""
    from sqlalchemy import text

    status, body = request(conn, "GET", path)
    assert status == 200, body[:200]
    times = []
    for _ in range(runs):
        if engine is not None:
            with engine.begin() as db:
                db.execute(text("UPDATE data_version SET version = version + 1"))
        started = time.perf_counter()
        status, body = request(conn, "GET", path)
        times.append(time.perf_counter() - started)
        assert status == 200
    return times, json.loads(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    url = prepare("weeks8")
    print(machine_speed())
    from datetime import UTC, datetime

    from sqlalchemy import text

    from storemon.alerts import evaluation
    from storemon.database import targets
    from storemon.database.engines import make_engine

    engine = make_engine(url)
    targets.set_target(engine, targets.FLEET, "", 99.0, datetime.now(UTC))
    web, port, _ = start_web(url)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for window in ("30d", "7d"):
            times, answer = timed_gets(conn, f"/slo?window={window}", runs, engine)
            print(f"GET /slo?window={window}: {len(answer['stores'])} stores, median {statistics.median(times):.3f} s, "
                  f"slowest {max(times):.3f} s; summary {answer['summary']}")
        times, _ = timed_gets(conn, "/slo?window=30d", runs)
        print(f"GET /slo?window=30d again, nothing changed (the last answer's report kept): "
              f"median {statistics.median(times):.3f} s, slowest {max(times):.3f} s")
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=10)
    times = []
    for _ in range(runs):
        with engine.begin() as conn:  # (a new data version, as a load makes, and an incident watch row)
            conn.execute(text("UPDATE data_version SET version = version + 1"))
            conn.execute(text("INSERT INTO incident_watch (id, version, evaluated_at) VALUES (1, 0, now())"
                              " ON CONFLICT (id) DO NOTHING"))
        outcome = evaluation.evaluate_slos(engine, 30, 14.4)
        assert outcome.evaluated
        times.append(outcome.seconds)
    print(f"evaluate_slos (30 days): median {statistics.median(times):.3f} s, slowest {max(times):.3f} s")
    targets.remove_target(engine, targets.FLEET, "")
    engine.dispose()


if __name__ == "__main__":
    main()
