"""Alerts benchmark: incidents evaluated after each hourly batch, and their first notification,
through the service (waitress, one worker.py) on the full-scale data in PostgreSQL.

    .venv/bin/python -m bench.bench_alerts [--against CHECKOUT]

1. Twenty-one more batches of an hour's polls sent over HTTP as the poller sends them (the
   first one warms up), six hours of the US afternoon a day (18:00-23:00 UTC), every other
   batch with each status flipped so that thousands of incidents open or resolve each time:
   each batch's answer time end to end, the evaluation's own time (the job's result), and
   from the answer (the batch committed just before it) to its notification arriving at a
   local receiver that verifies the signature.
   Then ten batches none of them flipped (an ordinary hour's changes, after the first): their
   evaluations' own times.
2. The ordering platform down: every store answers inactive in one batch. How many
   notifications each of two endpoints receives for it, and how many incidents the first lists.
3. The trends' days computed (``python -m storemon trends``, timed), then GET /trends for one
   store and for the fleet (median of 20 and of 5).
3. With ``--against`` (a checkout of another commit, e.g. ``git worktree add /tmp/old REF``):
   the hourly batch's answer time of this checkout (and its worker evaluating each batch) and
   that one, alternating, each on a copy of the database of its own, side by side.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .bench_api import free_port, service, start_web, start_workers, stop_workers
from .bench_ingest import make_token, shifted
from .bench_report import prepare
from .fixtures import copy_database, dataset, machine_speed, measured

ADMIN_TOKEN = """
from storemon.database import tokens
from storemon.config import load_settings
from storemon.database.engines import make_engine
result = {'token': tokens.create(make_engine(load_settings().database_url), 'bench-admin', ['admin'])}
"""


class Receiver:
    """A webhook receiver in a thread: each notification verified, kept with its arrival time."""

    def __init__(self):
        from standardwebhooks.webhooks import Webhook

        self.arrived: list[tuple[float, dict]] = []
        self.verifier_of = Webhook
        self.verifier = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                at = time.perf_counter()
                parsed = receiver.verifier.verify(body, dict(self.headers))
                receiver.arrived.append((at, parsed))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 60) -> float:
        deadline = time.perf_counter() + timeout_s
        while len(self.arrived) < count:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{len(self.arrived)} notifications arrived, {count} expected")
            time.sleep(0.002)
        return self.arrived[count - 1][0]


def post(conn: http.client.HTTPConnection, path: str, token: str, body: bytes, content_type: str) -> dict:
    conn.request("POST", path, body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status >= 300:
        raise RuntimeError(f"{path}: {response.status} {answer}")
    return answer


def add_endpoint(conn, admin: str, receiver: Receiver, **filters) -> None:
    made = post(conn, "/webhooks", admin, json.dumps({"url": receiver.url, **filters}).encode(), "application/json")
    receiver.verifier = receiver.verifier_of(made["secret"])


def evaluation_seconds(env: dict, count: int) -> list[float]:
    """The last ``count`` evaluations' own times, from their jobs' results."""
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    redis = Redis.from_url(env["REDIS_URL"])
    queues = [name.decode().removeprefix("rq:queue:") for name in redis.smembers("rq:queues")
              if name.decode().endswith(".alerts")]
    finished = Queue(queues[0], connection=redis).finished_job_registry
    jobs = [Job.fetch(i, connection=redis) for i in finished.get_job_ids()]
    results = sorted((j.ended_at, j.return_value()) for j in jobs if j.func_name.endswith("evaluate_incidents"))
    return [r["seconds"] for _, r in results if r and r["evaluated"]][-count:]


TRENDS = """
from storemon.config import load_settings
from storemon.database.engines import make_engine
from storemon.reports.trends import update
result = {'days': len(update(make_engine(load_settings().database_url)))}
"""
READ_TOKEN = """
from storemon.database import tokens
from storemon.config import load_settings
from storemon.database.engines import make_engine
result = {'token': tokens.create(make_engine(load_settings().database_url), 'bench-reader', ['report'])}
"""
DOWNGRADE = """
from alembic import command
from storemon.config import load_settings
from storemon.database.engines import alembic_config, make_engine
command.downgrade(alembic_config(make_engine(load_settings().database_url)), {revision!r})
result = {{}}
"""


def head_of(root: str) -> str:
    """The newest migration of a checkout."""
    import re

    found = re.search(r'HEAD_REVISION = "(\w+)"', (Path(root) / "storemon/database/engines.py").read_text())
    return found.group(1)


def busy_hour(lines: list[str], k: int) -> bytes:
    """The ``k``-th batch: the hour moved on by an hour, six a day, then to the next day's; every
    other one with each status flipped."""
    body = shifted(lines, k % 6 + 24 * (k // 6))
    if k % 2:
        body = body.replace(b",active,", b",was-active,").replace(b",inactive,", b",active,")
        body = body.replace(b",was-active,", b",inactive,")
    return body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def side_by_side(against: str, lines: list[str]) -> None:
    """The hourly batch answered, this checkout against another, alternating."""
    from .fixtures import ROOT

    runs = {}
    try:
        for label, root in (("this checkout", ROOT), ("against", against)):
            url = copy_database(prepare("full"), f"ingest_{len(runs)}")
            token = make_token(url)  # (which brings the schema up to this checkout's newest)
            if root != ROOT:  # (its own schema: this checkout's migrations taken back to its newest)
                measured(DOWNGRADE.format(revision=head_of(root)), url)
            web, port, env = start_web(url, root=root, extra={"RQ_QUEUE": f"bench{len(runs)}"})
            runs[label] = (web, [], http.client.HTTPConnection("127.0.0.1", port, timeout=60), token, [])
            if root == ROOT:  # (the other enqueues nothing after a load: no worker of its own)
                runs[label][1].extend(start_workers(env, 1))
        for k in range(8):
            for _, _, conn, token, times in runs.values():
                started = time.perf_counter()
                post(conn, "/polls", token, shifted(lines, k), "text/csv")
                if k:
                    times.append(time.perf_counter() - started)
                time.sleep(1)  # (the evaluation, if any, done before the other's batch)
    finally:
        for web, workers, *_ in runs.values():
            web.send_signal(signal.SIGTERM)
            stop_workers(workers)
    for label, (*_, times) in runs.items():
        print(f"hourly batch answered, {label}: median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms ({len(times)} runs)")


def main() -> None:
    print(machine_speed(), flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", help="a checkout of another commit, to time the hourly batch beside")
    args = parser.parse_args()
    next_hour = dataset("next_hour", "--start", "2023-01-25T18:00", "--days", "0.042", schedules=False)
    lines = (next_hour / "store_status.csv").read_text().splitlines()
    if args.against:
        side_by_side(os.path.abspath(args.against), lines)
        return
    full = dataset("full")
    url = copy_database(prepare("full"), "alerts")
    ingest, admin = make_token(url), measured(ADMIN_TOKEN, url)["token"]
    everyone, downs_only = Receiver(), Receiver()
    with service(url) as (conn, env):
        add_endpoint(conn, admin, everyone)
        answers, latencies, told = [], [], []
        for k in range(21):
            before = len(everyone.arrived)
            started = time.perf_counter()
            post(conn, "/polls", ingest, busy_hour(lines, k), "text/csv")
            committed = time.perf_counter()
            arrived = everyone.wait_for(before + 1)
            if k:  # the first pays for the first fork, connections and sessions
                answers.append(committed - started)
                latencies.append(arrived - committed)
                data = everyone.arrived[-1][1]["data"]
                told.append(data["opened_count"] + data["resolved_count"])
        evaluations = evaluation_seconds(env, 20)
        quiet = []  # then ten batches as the poller sends them, none flipped: the changes of an ordinary hour
        for k in range(22, 42, 2):
            before = len(everyone.arrived)
            post(conn, "/polls", ingest, busy_hour(lines, k), "text/csv")
            if k > 22:
                everyone.wait_for(before + 1)
                quiet.append(everyone.arrived[-1][1]["data"])
        time.sleep(1)
        ordinary = evaluation_seconds(env, 9)
        print(f"hourly batch over HTTP ({len(lines) - 1:,} polls), answered in: median "
              f"{statistics.median(answers) * 1000:.0f} ms, max {max(answers) * 1000:.0f} ms")
        print(f"its evaluation (the job's own time): median {statistics.median(evaluations) * 1000:.0f} ms, "
              f"max {max(evaluations) * 1000:.0f} ms")
        print(f"answer to notification received: median {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
              f"({len(latencies)} batches; changes told: {min(told):,}-{max(told):,} a batch)")
        changes = [d["opened_count"] + d["resolved_count"] for d in quiet]
        print(f"an ordinary hour's evaluation ({min(changes):,}-{max(changes):,} changes): median "
              f"{statistics.median(ordinary) * 1000:.0f} ms, max {max(ordinary) * 1000:.0f} ms")

        add_endpoint(conn, admin, downs_only, kinds=["down"])
        zones = (full / "timezones.csv").read_text().splitlines()[1:]
        stores = sorted({line.split(",", 1)[0] for line in zones})
        newest = max(line.rsplit(",", 1)[1] for line in busy_hour(lines, 40).decode().splitlines()[1:])
        at = (datetime.strptime(newest[:19], "%Y-%m-%d %H:%M:%S") + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S")
        down = "store_id,status,timestamp_utc\n" + "".join(f"{s},inactive,{at} UTC\n" for s in stores)
        before_everyone, before_downs = len(everyone.arrived), len(downs_only.arrived)
        post(conn, "/polls", ingest, down.encode(), "text/csv")
        everyone.wait_for(before_everyone + 1)
        downs_only.wait_for(before_downs + 1)
        time.sleep(3)  # (anything more would have come by now)
        data = everyone.arrived[-1][1]["data"]
        print(f"every store inactive in one batch ({len(stores):,} stores): "
              f"{len(everyone.arrived) - before_everyone} notification(s) to one endpoint, "
              f"{len(downs_only.arrived) - before_downs} to the other; the first lists {len(data['opened']):,} of "
              f"{data['opened_count']:,} incidents opened")

        started = time.perf_counter()
        computed = measured(TRENDS, url)["days"]
        print(f"the trends' days computed: {computed} in {time.perf_counter() - started:.1f} s (a whole process)")
        reader = measured(READ_TOKEN, url)["token"]
        for label, query, runs in (("one store", f"?store_id={stores[len(stores) // 2]}", 20), ("the fleet", "", 5)):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                conn.request("GET", f"/trends{query}", headers={"Authorization": f"Bearer {reader}"})
                response = conn.getresponse()
                days = len(json.loads(response.read())["days"])
                times.append(time.perf_counter() - t0)
            print(f"GET /trends, {label} ({days} days): median {statistics.median(times) * 1000:.1f} ms, "
                  f"max {max(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
