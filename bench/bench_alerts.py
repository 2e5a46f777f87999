"""Alerts benchmark: incidents evaluated after each hourly batch, and their first notification,
through the service (waitress, one worker.py) on the full-scale data in PostgreSQL.

    .venv/bin/python -m bench.bench_alerts

1. Six more hours of polls sent over HTTP as the poller sends them (the first one warms up):
   each batch's answer time end to end, the evaluation's own time (the job's result), and
   from the answer (the batch committed just before it) to its notification arriving at a
   local receiver that verifies the signature.
2. The ordering platform down: every store answers inactive in one batch. How many
   notifications each of two endpoints receives for it, and how many incidents the first lists.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .bench_api import free_port, service
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
    queues = [name.decode().removeprefix("rq:queue:") for name in redis.keys("rq:queue:*.alerts")]
    finished = Queue(queues[0], connection=redis).finished_job_registry
    jobs = [Job.fetch(i, connection=redis) for i in finished.get_job_ids()]
    results = sorted((j.ended_at, j.return_value()) for j in jobs if j.func_name.endswith("evaluate_incidents"))
    return [r["seconds"] for _, r in results if r and r["evaluated"]][-count:]


def main() -> None:
    print(machine_speed(), flush=True)
    next_hour = dataset("next_hour", "--start", "2023-01-25T18:00", "--days", "0.042", schedules=False)
    lines = (next_hour / "store_status.csv").read_text().splitlines()
    url = copy_database(prepare("full"), "alerts")
    ingest, admin = make_token(url), measured(ADMIN_TOKEN, url)["token"]
    everyone, downs_only = Receiver(), Receiver()
    with service(url) as (conn, env):
        add_endpoint(conn, admin, everyone)
        answers, latencies, told = [], [], []
        for k in range(6):
            before = len(everyone.arrived)
            started = time.perf_counter()
            post(conn, "/polls", ingest, shifted(lines, k), "text/csv")
            committed = time.perf_counter()
            arrived = everyone.wait_for(before + 1)
            if k:  # the first pays for the first fork, connections and sessions
                answers.append(committed - started)
                latencies.append(arrived - committed)
                data = everyone.arrived[-1][1]["data"]
                told.append(data["opened_count"] + data["resolved_count"])
        evaluations = evaluation_seconds(env, 5)
        print(f"hourly batch over HTTP ({len(lines) - 1:,} polls), answered in: median "
              f"{statistics.median(answers) * 1000:.0f} ms, max {max(answers) * 1000:.0f} ms")
        print(f"its evaluation (the job's own time): median {statistics.median(evaluations) * 1000:.0f} ms, "
              f"max {max(evaluations) * 1000:.0f} ms")
        print(f"answer to notification received: median {statistics.median(latencies) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms (changes told: {min(told):,}-{max(told):,} a batch)")

        add_endpoint(conn, admin, downs_only, kinds=["down"])
        stores = sorted({line.split(",", 1)[0] for line in lines[1:]})
        down = "store_id,status,timestamp_utc\n" + "".join(f"{s},inactive,2023-01-26 00:10:00 UTC\n" for s in stores)
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


if __name__ == "__main__":
    main()
