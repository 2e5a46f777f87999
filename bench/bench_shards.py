"""Sharded reports through the service: waitress and N worker.py processes on PostgreSQL, a
fleet ten or thirty times the full scale, REPORT_SHARD_STORES=50000 (or as set in the environment).

    .venv/bin/python -m bench.bench_shards [--scale 10] [--workers 1 2] [--hours 4] [--single]

One service per worker count (web process and workers, a copy of the data and a Redis
database of its own), all standing at once; ``--single`` adds one more with as many workers
as the largest count whose reports are never cut (REPORT_SHARD_STORES=0), to compare a
sharded report with the same report as one job. Each takes its first report right after its
workers started; then, hour by hour, each in turn has one more hour of polls loaded and
takes a report, so the services are compared in turns minutes apart rather than in runs a
quarter of an hour apart on a machine whose speed drifts. Timed from POST /trigger_report to
the CSV downloaded (polling every 100 ms: on two cores, a client asking every 20 ms takes
CPU from the workers). The peak resident memory of every worker process and work horse is
looked at every 50 ms; each last CSV is checked byte for byte against the single-job
report of the same as_of.
Each hourly report's time is shown split as RQ recorded its jobs (``timeline``): planning,
the parts, the join, and the waits between them.
Each scale is generated into bench/data/ and loaded into a database of its own on first use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import threading
import time
from dataclasses import dataclass, field

from .bench_api import REDIS_URL, hours_after, request, service, LOAD_HOUR
from .bench_report import DATASETS, prepare
from .fixtures import copy_database, dataset, machine_speed, measured

DATASETS.setdefault("scale30", ("--scale", "30"))
REDIS_BASE = REDIS_URL.rsplit("/", 1)[0]


class MemorySampler:
    """The largest peak resident set (the kernel's VmHWM) of any worker.py process or work
    horse, looked at every 50 ms. Each process's command line is read once, when it is
    first seen: opening every process's every 20 ms took CPU from the workers measured."""

    def __init__(self):
        self.peak_mb, self._stop = 0.0, threading.Event()
        self._is_worker: dict[str, bool] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for pid in self._workers():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
                except OSError:
                    pass

    def _workers(self) -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                if entry not in self._is_worker:
                    try:
                        with open(f"/proc/{entry}/cmdline", "rb") as f:
                            self._is_worker[entry] = b"worker.py" in f.read()
                    except OSError:
                        continue
                if self._is_worker[entry]:
                    found.append(entry)
        return found


def timed_report(conn) -> tuple[float, str, float, float]:
    """(seconds from trigger to CSV, the report's id, and both instants as wall-clock times)."""
    started, wall = time.perf_counter(), time.time()
    report_id = json.loads(request(conn, "POST", "/trigger_report")[1])["report_id"]
    while True:
        status, body = request(conn, "GET", f"/get_report/{report_id}")
        if status == 200 and not body.startswith(b"{"):
            elapsed = time.perf_counter() - started
            return elapsed, report_id, wall, wall + elapsed
        if status == 200:
            raise RuntimeError(body.decode())
        time.sleep(0.1)


PHASES = ("to plan", "plan", "to parts", "parts", "to join", "join", "to client")


def timeline(redis_url: str, report_id: str, triggered: float, received: float) -> dict[str, float] | None:
    """Where a report's time went, from RQ's records of its jobs (seconds): from the trigger
    to its job starting, planning, to the first part starting, the parts (first start to
    last end), to the join starting, the join, and from the join's end to the CSV received
    (negative: the client had it first, the join's result being written after completing).
    ``part-s`` is the parts' own time added up. None for a report made in one job."""
    from redis import Redis
    from rq.job import Job
    from storemon.reports.queue import join_job_id, part_job_ids

    redis = Redis.from_url(redis_url)
    report = Job.fetch(report_id, connection=redis)
    if "parts" not in report.meta:
        return None
    count, attempt = report.meta["parts"], report.meta["attempt"]
    parts = Job.fetch_many(part_job_ids(report_id, attempt, count), connection=redis)
    join = Job.fetch(join_job_id(report_id, attempt), connection=redis)
    for _ in range(100):  # (the client may have the CSV before the join has ended)
        if join.ended_at is not None:
            break
        time.sleep(0.1)
        join.refresh()
    t = lambda moment: moment.timestamp()  # noqa: E731
    first, last = min(t(p.started_at) for p in parts), max(t(p.ended_at) for p in parts)
    edges = [triggered, t(report.started_at), t(report.ended_at), first, last, t(join.started_at), t(join.ended_at),
             received]
    found = {phase: b - a for phase, a, b in zip(PHASES, edges, edges[1:])}
    found["part-s"] = sum(t(p.ended_at) - t(p.started_at) for p in parts)
    return found


def shown(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {phases[name]:.2f}" for name in (*PHASES, "part-s"))


CHECK = """
from storemon.config import load_settings
from storemon.database.engines import make_engine
from storemon.reports import lifecycle
from storemon.reports.build import build_report
engine = make_engine(load_settings().database_url)
row = lifecycle.find(engine, {report_id!r})
single = build_report(engine, row.as_of_us)[1]
result = {{'same': single == lifecycle.csv_of(engine, {report_id!r}), 'rows': single.count(b'\\n') - 1}}
"""


@dataclass
class Stack:
    workers: int
    sharded: bool
    url: str
    conn: object
    redis_url: str
    first: float = 0.0
    report_id: str = ""
    hourly: list[float] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.workers} worker(s), {'sharded' if self.sharded else 'one job'}"


def main() -> None:
    print(machine_speed(), flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--single", action="store_true", help="also a service whose reports are one job each")
    args = parser.parse_args()
    name = f"scale{args.scale}"
    DATASETS.setdefault(name, ("--scale", str(args.scale)))
    next_hour = dataset(f"next_hour_{name}", "--start", "2023-01-25T18:00", "--days", "0.042",
                        "--scale", str(args.scale), schedules=False)
    source = prepare(name)
    shard_stores = os.environ.get("REPORT_SHARD_STORES", "50000")
    with contextlib.ExitStack() as stack, MemorySampler() as memory:
        # One service per worker count, each on its own copy of the data and Redis database,
        # all standing at once: their hourly reports take turns, minutes apart, so a change in
        # this shared machine's speed falls on every one alike.
        stacks = []
        kinds = [(workers, True) for workers in args.workers] + ([(max(args.workers), False)] if args.single else [])
        for k, (workers, sharded) in enumerate(kinds):
            url = copy_database(source, f"shards_{workers}w{'' if sharded else '_single'}")
            redis_url = f"{REDIS_BASE}/{12 - k}"
            conn, _ = stack.enter_context(service(url, "", workers, redis_url=redis_url,
                                                  extra={"REPORT_SHARD_STORES": shard_stores if sharded else "0"}))
            stacks.append(Stack(workers, sharded, url, conn, redis_url))
        for one in stacks:
            one.conn.close()  # (idle while another stack worked, waitress may have closed it; it reopens)
            one.first, one.report_id, *_ = timed_report(one.conn)
        for directory in hours_after(next_hour, args.hours):
            for one in stacks:
                measured(LOAD_HOUR.format(directory=str(directory)), one.url)
                one.conn.close()
                elapsed, one.report_id, triggered, received = timed_report(one.conn)
                one.hourly.append(elapsed)
                phases = timeline(one.redis_url, one.report_id, triggered, received)
                if phases is not None:
                    one.phases.append(phases)
                    print(f"  {one.label}, {elapsed:.2f} s: {shown(phases)}", flush=True)
    for one in stacks:
        check = measured(CHECK.format(report_id=one.report_id), one.url)
        print(f"{name}, {one.label}: first report of the freshly started workers {one.first:.2f} s; hourly, one more hour "
              f"loaded: median {statistics.median(one.hourly):.2f} s, max {max(one.hourly):.2f} s "
              f"({', '.join(f'{t:.2f}' for t in one.hourly)}); {check['rows']:,} stores; "
              f"{'byte-identical to' if check['same'] else 'DIFFERENT FROM'} the single-job report", flush=True)
        if one.phases:
            print(f"  medians: {shown({k: statistics.median(p[k] for p in one.phases) for k in one.phases[0]})}")
    print(f"peak resident memory of any worker process or work horse: {memory.peak_mb:.0f} MB")
    base = stacks[0]
    for one in stacks[1:]:
        print(f"{base.label} against {one.label}: {one.label} {statistics.median(base.hourly) / statistics.median(one.hourly):.2f}x"
              f" as fast (medians; hour by hour {', '.join(f'{a / b:.2f}' for a, b in zip(base.hourly, one.hourly))})")


if __name__ == "__main__":
    main()
