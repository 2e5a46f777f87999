"""The worker: ``python -u worker.py`` (Procfile ``worker:``). It takes its database's alerts
(incident evaluations, webhook deliveries: short jobs) before its reports, and runs RQ's
scheduler, which queues a delivery's next attempt when its wait is over.

Checks the database and its schema first and stops with one line if either is wrong.
Preloads NumPy and the core, and makes the zones' transitions and reads every polled store
and makes its business sessions (storemon/reports/warm.py, made again after a job once the
stores change), so
every forked job starts warm; nothing is kept on disk: every report reads its polls from
the database. Runs RQ's HerokuWorker
(which hands a running job a warning before a platform restart kills it), made to ride out
Redis outages: a running job is not abandoned when a heartbeat cannot be sent, and when
RQ's work loop gives up on Redis a new worker starts once Redis answers again. Every
maintenance round (at start, then about every 30 s between jobs when none wait, and as
often when idle) also settles
stale reports (``storemon.reports.reconcile.settle_stale``).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from functools import cache

from redis.exceptions import RedisError

from storemon.config import ConfigError, Settings, load_settings
from storemon.logs import configure_logging

log = logging.getLogger("storemon.worker")
# Seconds between a busy worker's heartbeats: a worker killed outright is noticed by
# RQ about a minute after its last one (RQ adds a fixed 60 s), and its job run again.
JOB_MONITORING_INTERVAL = 5
# An idle worker wakes every WORKER_TTL - 15 s (RQ's dequeue timeout): for maintenance, and
# to list itself again within that time if Redis lost its registration (restarted, flushed).
WORKER_TTL = 25
MAINTENANCE_INTERVAL = 30
MAINTENANCE_DEFERRED_S = 10 * MAINTENANCE_INTERVAL
START_WAIT_S = 30  # how long a starting worker waits for Redis before it gives up
WARM_UP_LIMIT_S = 60  # the longest any one statement of the warm-up may take


@cache
def _worker_class():
    from rq.exceptions import StopRequested
    from rq.worker import HerokuWorker

    from storemon.database import engines
    from storemon.reports import jobs, reconcile, warm

    class ReportWorker(HerokuWorker):
        stopping = False

        def fork_work_horse(self, job, queue):
            # Every object alive now moves out of the cyclic collector's sight: a collection in
            # the forked horse would otherwise walk the parent's whole heap and copy every page
            # it touches (measured: the horse's first 14K-row query 52 ms instead of 10 ms).
            gc.freeze()
            return super().fork_work_horse(job, queue)

        def request_stop(self, signum, frame):
            self.stopping = True
            super().request_stop(signum, frame)

        def maintain_heartbeats(self, job, execution):
            try:
                super().maintain_heartbeats(job, execution)
                self.ensure_registered()
            except RedisError as exc:  # keep watching the horse; its job needs Redis only to finish
                self.log.warning("Redis unavailable (%s): heartbeat for job %s skipped", exc, job.id)

        def heartbeat(self, timeout=None, pipeline=None):
            super().heartbeat(timeout, pipeline)
            if pipeline is None:  # (in a pipeline, maintain_heartbeats checks once it has run)
                self.ensure_registered()

        def ensure_registered(self):
            """RQ registers a worker once, at birth: after Redis restarts empty or is flushed, a
            worker that kept running would be missing from ``rq:workers`` (the dashboard, the
            metrics, the part count of a sharded report) until it restarted. With each heartbeat
            it checks, and registers itself again at once."""
            from rq import worker_registration

            if self.connection.sismember(worker_registration.REDIS_WORKER_KEYS, self.key):
                return
            self.log.warning("this worker's registration was gone from Redis (restarted or flushed): registered again")
            with self.connection.pipeline() as pipeline:
                pipeline.hset(self.key, mapping=self.serialize())
                self.set_state(self.get_state(), pipeline=pipeline)
                worker_registration.register(self, pipeline)
                pipeline.expire(self.key, self.worker_ttl + 60)
                pipeline.execute()

        def execute_job(self, job, queue):
            try:
                super().execute_job(job, queue)
            except RedisError as exc:
                # The horse has ended; what RQ could not record is settled by its registry
                # cleanup and our sweep once Redis is back (the report row is already durable).
                self.log.warning("Redis unavailable (%s) while job %s ended", exc, job.id)
            self.prepare()

        def prepare(self):
            """The stores and their sessions made again for the next work horses, if the stores changed or
            the newest poll moved on (storemon/reports/warm.py); never fatal: a report makes
            what it lacks itself. A worker asked to stop stops here, whatever became of the
            StopRequested RQ raised (it can land anywhere an idle worker is: one a library
            swallowed once kept a worker running past its SIGTERM)."""
            if self.stopping:
                raise StopRequested()
            try:
                if warm.refresh(jobs.process_engine()):
                    self.log.info("the stores and their sessions made again for the reports to come")
            except StopRequested:  # (a shutdown signal, raised by RQ's handler wherever the worker is)
                raise
            except Exception as exc:
                self.log.warning("the stores and their sessions were not made again: %s", engines.describe(exc))

        @property
        def should_run_maintenance_tasks(self):
            if self.stopping:  # (its round stops the worker: see prepare)
                return True
            # Not while jobs wait: between the parts of a sharded report a round (RQ's registry
            # cleaning, the collector, the sweep) took 65-140 ms of the report's time. The
            # worker runs it when the queue is empty, or when idle it wakes; a worker that
            # never finds the queue empty runs it MAINTENANCE_DEFERRED_S late at most.
            if not super().should_run_maintenance_tasks:
                return False
            if self.last_cleaned_at is None or \
                    (datetime.now(UTC) - self.last_cleaned_at).total_seconds() > MAINTENANCE_DEFERRED_S:
                return True
            try:
                return all(queue.count == 0 for queue in self.queues)
            except RedisError:
                return True  # (the round itself finds out and waits for Redis as RQ does)

        def run_maintenance_tasks(self):
            super().run_maintenance_tasks()
            self.prepare()
            gc.unfreeze()  # while idle: collect what the parent made since the last fork
            gc.collect()
            try:
                settings = jobs.process_settings()
                changed = reconcile.settle_stale(jobs.process_engine(), self.queues[-1], settings)  # (the reports')
                if changed:
                    self.log.info("settled or re-queued %d stale report(s)", changed)
            except (RedisError, StopRequested):
                raise
            except Exception as exc:  # the database may be down: try again next round
                self.log.warning("could not settle stale reports: %s", engines.describe(exc))

    return ReportWorker


def build_worker(settings: Settings, worker_class=None):
    import numpy  # noqa: F401  (preloaded for the forks)

    from storemon.database.engines import database_id, make_engine
    from storemon.alerts.queue import alerts_queue
    from storemon.reports.queue import redis_client, report_queue

    redis = redis_client(settings.redis_url)
    worker_class = worker_class or _worker_class()
    # this database's queues only (a worker never takes another database's jobs): its alerts
    # first (short jobs that must not wait behind a report), then its reports
    engine = make_engine(settings.database_url, connect_timeout_s=10, statement_timeout_s=30)
    try:
        database = database_id(engine)
    finally:
        engine.dispose()
    queues = [alerts_queue(redis, settings, database), report_queue(redis, settings, database)]
    return worker_class(queues, connection=redis, worker_ttl=WORKER_TTL,
                        maintenance_interval=MAINTENANCE_INTERVAL, job_monitoring_interval=JOB_MONITORING_INTERVAL)


def check_database(settings: Settings) -> str | None:
    """None if the database answers and its schema is current; else one line saying what is wrong."""
    from storemon.database import engines

    engine = engines.make_engine(settings.database_url, connect_timeout_s=10, statement_timeout_s=30)
    try:
        engines.check_schema(engine)
    except engines.SchemaError as exc:
        return str(exc)
    except Exception as exc:
        shown = engine.url.render_as_string(hide_password=True)
        return f"the database at {shown} is unreachable: {engines.describe(exc)}"
    finally:
        engine.dispose()
    return None


def _wait_for_redis(settings: Settings, stop: threading.Event, give_up_after_s: float | None) -> bool:
    """Wait, with backoff, until Redis answers; False if stopped or out of patience first."""
    from storemon.reports.queue import redis_client

    waited, delay = 0.0, 1.0
    while not stop.is_set():
        try:
            redis_client(settings.redis_url).ping()
            return True
        except RedisError as exc:
            if give_up_after_s is not None and waited >= give_up_after_s:
                return False
            log.warning("Redis at %s is unavailable (%s); trying again in %.0f s", settings.redis_url, exc, delay)
        stop.wait(delay)
        waited += delay
        delay = min(delay * 2, 30.0)
    return False


def run(settings: Settings) -> None:
    """Work until stopped by a signal, starting a new RQ worker whenever Redis trouble ended the last one."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # RQ installs its own while it works
        signal.signal(signum, lambda *_: stop.set())
    if not _wait_for_redis(settings, stop, START_WAIT_S):
        sys.exit(f"Redis at {settings.redis_url} is unreachable")
    while not stop.is_set():
        try:
            worker = build_worker(settings)
            try:
                # (with RQ's scheduler, which queues a webhook delivery's next attempt when it is due)
                worker.work(logging_level=settings.log_level, with_scheduler=True)
            finally:
                # RQ's teardown stops the worker's pub/sub thread only if Redis answers; a
                # thread left behind would retry its connection for as long as the process lives.
                if worker.pubsub_thread is not None:
                    worker.pubsub_thread.stop()
            if worker.stopping:
                return
            log.warning("the RQ work loop ended on an error; starting a new worker once Redis answers")
        except RedisError as exc:
            log.warning("Redis unavailable (%s); starting a new worker once it answers", exc)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        _wait_for_redis(settings, stop, None)


def warm_up(settings: Settings) -> None:
    """The zones' transitions and the stores and their sessions made here in the parent, so the first
    job's work horse starts warm. Never fatal, and never long: a lock in the way (a large
    load) skips it after a second, and a report does it all itself."""
    import time

    from storemon.database import engines
    from storemon.reports import warm

    started = time.perf_counter()
    engine = engines.make_engine(settings.database_url, connect_timeout_s=5, statement_timeout_s=WARM_UP_LIMIT_S,
                                 lock_timeout_s=1)
    try:
        warm.warm_up(engine)
    except Exception as exc:
        log.warning("warm-up skipped: %s", engines.describe(exc))
        return
    finally:
        engine.dispose()
    log.info("warmed up in %.2f s", time.perf_counter() - started)


USAGE = """Usage: python -u worker.py

  The report worker: takes this database's report jobs from its RQ queue and computes them.
  It takes no arguments; its settings come from the environment (DATABASE_URL, REDIS_URL,
  RQ_QUEUE, REPORT_*: see docs/configuration.md). Run several for more reports at once;
  SIGTERM stops it after the job in hand."""


def main() -> None:
    if sys.argv[1:]:
        if sys.argv[1:] in (["--help"], ["-h"]):
            print(USAGE)
            return
        sys.exit(f"worker.py takes no arguments (got {' '.join(sys.argv[1:])}); see python worker.py --help")
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.exit(f"bad setting: {exc}")
    problem = check_database(settings)  # before logging is set up: a problem is one line, nothing else
    if problem:
        sys.exit(problem)
    configure_logging(settings)
    from storemon.memory import keep_freed_memory

    keep_freed_memory()
    warm_up(settings)
    run(settings)


if __name__ == "__main__":
    main()
