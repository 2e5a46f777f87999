"""The clock process (``python -m storemon clock``, Procfile ``clock:``): routine work onto RQ.

RQ's own CronScheduler enqueues, each on its setting's schedule: the hourly report
(REPORT_SCHEDULE), settling stale reports (every SETTLE_EVERY seconds), retention
(RETENTION_SCHEDULE), the trends' days (TREND_SCHEDULE) and the incidents' watch (every WATCH_EVERY seconds: the poller's
silence, reminders, lost evaluations and deliveries); workers run them. Cron schedules read UTC. Only one clock works
at a time: it holds a lease in Redis, renewed with every scheduler heartbeat (at most a
minute apart), so a second clock started by mistake waits and takes over only if the
first stops or loses Redis for longer than the lease. A clock taking the lease first runs,
once, each cron schedule's latest run if it fell due while no clock held the lease.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime, UTC

from croniter import croniter
from redis.exceptions import LockError, RedisError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested
from sqlalchemy.exc import SQLAlchemyError

from . import jobs
from ..alerts import jobs as alert_jobs
from ..config import Settings
from ..database import engines
from ..alerts.queue import alerts_queue_name
from .queue import queue_name, redis_client

log = logging.getLogger(__name__)
LEASE_PREFIX = "storemon:clock:lease"  # and the database's identity: one clock per database
LEASE_S = 90  # longer than the scheduler's longest sleep (60 s) between heartbeats


class LeasedCronScheduler(CronScheduler):
    """A CronScheduler that stops when its lease on the clock's role cannot be renewed."""

    def __init__(self, *args, lease, **kwargs):
        super().__init__(*args, **kwargs)
        self.lease, self.lease_lost = lease, False

    def heartbeat(self) -> None:
        super().heartbeat()
        try:
            self.lease.extend(LEASE_S, replace_ttl=True)
        except LockError:
            self.log.warning("the clock's lease was lost; another clock may run the schedules now")
            self.lease_lost = True
            raise StopRequested() from None

    def start(self) -> None:
        self.make_up_missed()
        super().start()

    def make_up_missed(self) -> list[str]:
        """Enqueue now, once, each cron schedule's latest run that did not happen (it fell due
        while no clock held the lease: the last one died, the next one had not taken over).
        RQ's history of each schedule's jobs says when it last ran; a schedule that never ran
        has missed nothing. Returns the names of the schedules made up."""
        current = datetime.now(UTC)
        made_up = []
        for job in self.get_jobs():
            if not job.cron:
                continue
            # (schedules read UTC: run() makes the process's local time UTC for RQ's scheduler)
            due = croniter(job.cron, current.replace(tzinfo=None)).get_prev(datetime)
            due_s = due.replace(tzinfo=UTC).timestamp()
            newest = self.connection.zrange(job.job_history_key, -1, -1, withscores=True)
            if newest and newest[0][1] < due_s:
                self.log.warning("the %s due at %s did not run (no clock held the lease); enqueued now",
                                 job.name, due.strftime("%Y-%m-%d %H:%M UTC"))
                job.enqueue(self.connection)
                job.set_enqueue_time(current)
                made_up.append(job.name)
        return made_up


def schedule_name(what: str, database: str) -> str:
    return f"{what} (database {database})"


def build_scheduler(settings: Settings, redis, lease, database: str) -> LeasedCronScheduler:
    scheduler = LeasedCronScheduler(connection=redis, lease=lease, logging_level=settings.log_level)
    queue = queue_name(settings, database)
    # (named after the database too: RQ keeps each schedule's history under its name)
    if settings.report_schedule:
        scheduler.register(jobs.scheduled_report, queue, cron=settings.report_schedule,
                           name=schedule_name("hourly report", database))
    scheduler.register(jobs.settle, queue, interval=settings.settle_every,
                       name=schedule_name("settle stale reports", database))
    if settings.retention_schedule:
        scheduler.register(jobs.apply_retention, queue, cron=settings.retention_schedule,
                           name=schedule_name("retention", database))
    if settings.trend_schedule:
        scheduler.register(jobs.update_trends, queue, cron=settings.trend_schedule,
                           job_timeout=settings.report_job_timeout, name=schedule_name("trends", database))
    scheduler.register(alert_jobs.watch, alerts_queue_name(settings, database), interval=settings.watch_every,
                       name=schedule_name("incidents' watch", database))
    return scheduler


def run(settings: Settings, stop: threading.Event, retry_s: float = 2.0) -> None:
    """Wait for the lease, run the schedules while holding it; again after losing it or Redis.
    Returns once stopped (SIGTERM or SIGINT, which RQ's scheduler also answers)."""
    os.environ["TZ"] = "UTC"  # cron expressions read the local clock: make it UTC
    time.tzset()
    this_clock, waiting_for = f"{socket.gethostname()} pid {os.getpid()}", None
    database = _database_id(settings, stop, retry_s)
    lease_key = f"{LEASE_PREFIX}:{database}"
    while database is not None and not stop.is_set():
        try:
            redis = redis_client(settings.redis_url)
            lease = redis.lock(lease_key, timeout=LEASE_S)
            if not lease.acquire(blocking=False, token=f"{this_clock} {secrets.token_hex(8)}"):
                holder = _holder(redis, lease_key)
                if holder != waiting_for:
                    log.info("another clock holds the lease (%s); this one (%s) waits to take over", holder, this_clock)
                    waiting_for = holder
                stop.wait(retry_s)
                continue
            waiting_for = None
            log.info("this clock holds the lease and runs the schedules")
            scheduler = build_scheduler(settings, redis, lease, database)
            scheduler.start()
            if not scheduler.lease_lost:  # stopped by a signal: hand the role over at once
                _release(lease)
                return
        except RedisError as exc:
            log.warning("Redis unavailable (%s); the clock tries again in %g s", exc, retry_s)
            stop.wait(retry_s)


def _database_id(settings: Settings, stop: threading.Event, retry_s: float) -> str | None:
    """The database's identity, which names its queue and the clock's lease; waits for the
    database to answer (None if stopped first)."""
    engine = engines.make_engine(settings.database_url, connect_timeout_s=5, statement_timeout_s=5)
    try:
        while not stop.is_set():
            try:
                engines.check_schema(engine)  # (a schema that is missing or behind: one line, as the worker says)
                return engines.database_id(engine)
            except engines.SchemaError as exc:
                raise SystemExit(str(exc)) from None
            except SQLAlchemyError as exc:
                log.warning("the database is unavailable (%s); the clock tries again in %g s",
                            engines.describe(exc), retry_s)
                stop.wait(retry_s)
    finally:
        engine.dispose()
    return None


def _holder(redis, lease_key: str) -> str:
    """Which clock holds the lease: its host and process id (the lease's token names them)."""
    token = redis.get(lease_key)
    return token.decode(errors="replace").rsplit(" ", 1)[0] if token else "none, just released"


def _release(lease) -> None:
    try:
        lease.release()
    except (LockError, RedisError):
        pass  # expired or unreachable: it lapses by itself
