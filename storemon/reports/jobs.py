"""RQ entry points: thin glue between a queued job, the report's lifecycle and its computation.

Importable without Flask; the worker preloads this module so every forked job starts warm.
"""

from __future__ import annotations

import logging
import os
import random
import time
from functools import lru_cache

from redis.exceptions import RedisError
from rq import Worker, get_current_job
from rq.exceptions import AbandonedJobError, ShutDownImminentException
from rq.job import Job, JobStatus
from sqlalchemy import Engine

from ..database import engines
from .. import logs
from . import failures, lifecycle, reconcile, submission
from ..config import Settings, load_settings
from .queue import enqueue_parts, fetch_jobs, part_job_ids, redis_client, report_queue
from . import shards
from .build import ReportError, build_report, resolve_as_of
from .options import EXTENDED
from ..database import version
from ..database.queries import snapshot
from ..timeparse import format_instant

log = logging.getLogger(__name__)
_PROGRESS_EVERY_S = 0.2
_PROGRESS_REDIS_TIMEOUT_S = 1.0


class DatabaseUnavailable(ReportError):
    """The database stayed unreachable for longer than the report may wait."""


class AlreadySettled(ReportError):
    """The report was settled (Failed) elsewhere while this job ran; its result is dropped."""


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    """This worker process's settings, read from the environment once."""
    return load_settings()


@lru_cache(maxsize=1)
def process_engine() -> Engine:
    """This process's database engine (a forked work horse keeps it, without its connections)."""
    settings = process_settings()
    # Statements may take as long as the job; connecting may not.
    return engines.make_engine(settings.database_url, connect_timeout_s=10, statement_timeout_s=settings.report_job_timeout)


def reset_engine() -> None:
    """Forget this process's engine and settings (the next job reads the environment again)."""
    if process_engine.cache_info().currsize:
        process_engine().dispose()
    process_engine.cache_clear()
    process_settings.cache_clear()


def _forget_parent_connections() -> None:
    """In a forked work horse: the parent's engine, without its pooled connections (shared
    sockets corrupt each other; the parent still owns them, so they are not closed). The
    engine itself is kept, with what it learnt of the database on its first connection
    (SQLAlchemy's own recipe for forked processes)."""
    if process_engine.cache_info().currsize:
        process_engine().dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


_SAVE_META_IF_JOB = """
if redis.call('HEXISTS', KEYS[1], 'data') == 1 then return redis.call('HSET', KEYS[1], 'meta', ARGV[1]) end
return 0
"""


class _Progress:
    """Writes the fraction done into the job's meta, at most every 0.2 s, and never fails the
    report: Redis being down or frozen costs a progress update, not the job (short timeout)."""

    def __init__(self, job: Job | None):
        self.job, self.last, self.redis = job, 0.0, None

    def __call__(self, _step: str, fraction: float) -> None:
        now = time.monotonic()
        if self.job is None or (now - self.last < _PROGRESS_EVERY_S and fraction < 1.0):
            return
        self.last = now
        try:
            if self.redis is None:
                self.redis = redis_client(process_settings().redis_url, timeout_s=_PROGRESS_REDIS_TIMEOUT_S)
            meta = {**self.job.meta, "progress": round(min(max(fraction, 0.0), 1.0), 3)}
            # In one step, and only into a whole job: after a flush, a meta field alone would
            # leave a fragment that RQ cannot read and that blocks queueing the report again.
            self.redis.eval(_SAVE_META_IF_JOB, 1, self.job.key, self.job.serializer.dumps(meta))
        except RedisError as exc:
            log.warning("report %s: progress not recorded (%s)", self.job.id, exc)


def _retrying(report_id: str, deadline: float, step):
    """Run ``step`` again, with backoff, while the database is unreachable, until ``deadline``
    (monotonic); the report stays Running meanwhile. Every step is idempotent, so running
    one again after an unknown outcome (a COMMIT whose answer was lost) is safe."""
    delay = 0.5
    while True:
        try:
            return step()
        except Exception as exc:
            if not engines.is_transient(exc):
                raise
            if time.monotonic() + delay > deadline:
                wait_s = process_settings().report_database_wait
                raise DatabaseUnavailable(f"the database was unreachable for {wait_s} s (REPORT_DATABASE_WAIT): "
                                          f"{engines.describe(exc)}") from exc
            log.warning("report %s: database unavailable (%s); trying again in %.1f s",
                        report_id, engines.describe(exc), delay)
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 10.0)


def generate_report(report_id: str) -> bytes:
    """Compute a report, store its CSV in the row and return it as the job's result.

    Safe to run again: a Complete report is returned as it is. A failure is raised, so RQ
    records it; ``report_failed`` (the job's failure callback) settles the row. Transient
    database errors are waited out for up to REPORT_DATABASE_WAIT in all. Every log line
    written meanwhile carries the report's id.
    """
    token = logs.report_id.set(report_id)
    try:
        return _generate(report_id)
    finally:
        logs.report_id.reset(token)


def _generate(report_id: str) -> bytes:
    engine = process_engine()
    job = get_current_job()
    progress = _Progress(job)
    tallies = _redis_of(job)
    deadline = time.monotonic() + process_settings().report_database_wait

    row = _retrying(report_id, deadline, lambda: lifecycle.start(engine, report_id))  # one attempt more
    if row is None:
        raise ReportError(f"no report {report_id} in the database")
    if row.status == lifecycle.COMPLETE:
        return _retrying(report_id, deadline, lambda: lifecycle.csv_of(engine, report_id))
    if row.status == lifecycle.FAILED:
        raise AlreadySettled(f"the report had already failed: {row.error}")

    settings = process_settings()
    as_of_us = _retrying(report_id, deadline, lambda: resolve_as_of(engine, row.requested_as_of_us))
    if _retrying(report_id, deadline, lambda: shards.sharded(engine, settings, as_of_us, row.options)):
        def cut() -> bytes:
            queue = _queue()
            plan = shards.plan(engine, settings, Worker.count(queue=queue), row.attempts, as_of_us)
            lifecycle.record_plan(engine, report_id, as_of_us, plan.dumps())  # retention spares its lookback now
            enqueue_parts(queue, settings, report_id, plan.attempt, plan.count,
                          (report_id, plan.attempt, plan.count, as_of_us))
            log.info("cut into %d parts", plan.count)
            if job is not None:
                job.meta.update(parts=plan.count, attempt=plan.attempt)
                job.save_meta()
            return b""  # the report's CSV is the join's result
        return _retrying(report_id, deadline, cut)

    def compute() -> bytes:
        started = time.perf_counter()
        _, csv = build_report(engine, as_of_us, on_progress=progress, options=row.options)
        if _delivered(engine, report_id, lifecycle.complete(engine, tallies, report_id, as_of_us, csv)):
            log.info("complete: as of %s, %d stores, %.2f s", format_instant(as_of_us), csv.count(b"\n") - 1,
                     time.perf_counter() - started)
        return csv

    return _retrying(report_id, deadline, compute)


def _delivered(engine: Engine, report_id: str, completed: bool) -> bool:
    """Whether this run completed the report (``completed``: what completing it answered): True
    if it did, False if another run of the same job already had (a retried COMMIT, a duplicate);
    AlreadySettled if it had failed meanwhile."""
    if completed:
        return True
    settled = lifecycle.find(engine, report_id)
    if settled is not None and settled.status == lifecycle.COMPLETE:
        return False
    raise AlreadySettled(f"the report failed while it was computed: {settled and settled.error}")


def _redis_of(job: Job | None):
    """The job's own Redis connection (a fresh client when run outside RQ)."""
    return job.connection if job is not None else redis_client(process_settings().redis_url)


def compute_part(report_id: str, attempt: int, index: int) -> int:
    """A part of a sharded report (storemon/reports/shards.py): its CSV rows, computed from the
    plan recorded in the report's row and stored with the data version they were computed
    from; the job's result is how many."""
    token = logs.report_id.set(report_id)
    try:
        engine = process_engine()
        deadline = time.monotonic() + process_settings().report_database_wait
        row = _retrying(report_id, deadline, lambda: lifecycle.find(engine, report_id))
        if row is None or row.status not in lifecycle.UNSETTLED:
            raise AlreadySettled(f"the report is {row.status if row else 'gone'}; part {index + 1} not computed")
        as_of_us, recorded = _retrying(report_id, deadline, lambda: lifecycle.plan_of(engine, report_id))
        plan = shards.Plan.loads(recorded) if recorded else None
        if plan is None or plan.attempt != attempt:  # planned again since: this run's join plans it anew too
            log.warning("part %d of run %d: the report's plan is another run's; nothing computed", index + 1, attempt)
            return 0
        progress = _Progress(get_current_job())

        def compute() -> int:
            with snapshot(engine) as snap:
                rows, read = shards.compute(snap, as_of_us, plan.part(index), progress, row.extended)
            lifecycle.store_part(engine, report_id, attempt, index, rows, read)
            return rows.count(b"\n")

        return _retrying(report_id, deadline, compute)
    finally:
        logs.report_id.reset(token)


def join_parts(report_id: str, attempt: int, count: int, as_of_us: int) -> bytes:
    """The last job of a sharded report: the report completed with the rows its parts stored,
    every part that read another version of the data than the rest computed again here, in
    one snapshot; then its CSV, joined in order, returned as the job's result. (Completing
    first: a client may download the CSV while the job's result is written to Redis.)"""
    token = logs.report_id.set(report_id)
    try:
        engine = process_engine()
        job = get_current_job()
        deadline = time.monotonic() + process_settings().report_database_wait
        queue = _queue()
        parts = fetch_jobs(queue, part_job_ids(report_id, attempt, count))
        for index, part in enumerate(parts):
            if part is not None and part.get_status(refresh=False) != JobStatus.FINISHED:  # it failed the report
                raise AlreadySettled(f"part {index + 1} of {count} did not finish")
        redis = _redis_of(job)
        completed = None
        if all(part is not None for part in parts):
            completed = _retrying(report_id, deadline, lambda: _complete_parts(engine, redis, report_id, attempt,
                                                                               count, as_of_us))
        if completed is None:  # Redis lost a part, or a part's stored rows are gone
            _retrying(report_id, deadline, lambda: reconcile.replan(engine, queue, process_settings(), report_id, attempt))
            return b""
        delivered = _retrying(report_id, deadline, lambda: _delivered(engine, report_id, completed))
        csv = _retrying(report_id, deadline, lambda: lifecycle.csv_of(engine, report_id))
        if delivered:
            log.info("complete: as of %s, %d stores in %d parts", format_instant(as_of_us), csv.count(b"\n") - 1, count)
        return csv
    finally:
        logs.report_id.reset(token)


def _complete_parts(engine: Engine, redis, report_id: str, attempt: int, count: int, as_of_us: int) -> bool | None:
    """Complete the report with its parts' rows, once they are one state of the data: parts
    that read another version than the others are computed again on the join's own snapshot
    (unless all agree), so the report is what one snapshot held."""
    _, recorded = lifecycle.plan_of(engine, report_id)
    with snapshot(engine) as snap:
        versions = lifecycle.part_versions(snap.conn, report_id, attempt)
        plan = shards.Plan.loads(recorded) if recorded else None
        if len(versions) != count or plan is None or plan.attempt != attempt:
            return None
        extended = lifecycle.find(engine, report_id).extended
        redone = {}
        if len(set(versions.values())) > 1:
            now = version.current(snap.conn).version
            stale = [part for part, seen in sorted(versions.items()) if seen != now]
            log.info("parts %s read another version of the data than the rest: computed again in one snapshot",
                     ", ".join(str(part + 1) for part in stale))
            redone = {part: shards.compute(snap, as_of_us, plan.part(part), extended=extended) for part in stale}
    return lifecycle.complete_parts(engine, redis, report_id, attempt, count, as_of_us, redone)


def _report_of(job: Job) -> str:
    """The report a job works for: its own id, or for a part or a join, the one its meta names."""
    return job.meta.get("report_id", job.id)


def part_failed(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """A part's failure callback: RQ runs a part whose worker died again; any other failure
    fails the report at once, naming the part (the join, which runs once every part has
    ended, then finds the report settled)."""
    where = job.description.split(", ", 1)[-1] if job.description else "a part"
    _settle_failure(job, connection, exc_type, exc_value, traceback, f"{where} failed: ")


def report_failed(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback: settle the report, unless its worker died and RQ will run it again."""
    _settle_failure(job, connection, exc_type, exc_value, traceback)


def _settle_failure(job: Job, connection, exc_type, exc_value, traceback, prefix: str = "") -> None:
    """RQ calls a failure callback for a job that raised (in its work horse) and for a job whose
    worker vanished (wherever the abandoned job is cleaned up). It reads ``job.retries_left``
    right after this returns, so setting it to 0 stops a retry that could only fail the same way."""
    report_id = _report_of(job)
    if exc_type is not None and issubclass(exc_type, (AbandonedJobError, ShutDownImminentException)) \
            and job.retries_left:
        log.warning("report %s: the worker of job %s stopped (%s); RQ runs it again, %d retries left",
                    report_id, job.id, exc_type.__name__, job.retries_left)
        return
    job.retries_left = 0
    if exc_type is not None and issubclass(exc_type, AlreadySettled):
        return  # the row is settled already; nothing to record
    kind = f"{exc_type.__module__}.{exc_type.__name__}" if exc_type is not None else "unknown"
    reason = failures.failure_reason(kind, str(exc_value or ""), job.timeout)
    if reason.startswith("the report could not be computed"):
        log.error("report %s: job %s failed", report_id, job.id, exc_info=(exc_type, exc_value, traceback))
    try:
        lifecycle.fail(process_engine(), connection, report_id, prefix + reason)
    except Exception as exc:  # the periodic sweep settles it from RQ's record once the database is back
        log.warning("report %s: could not record its failure (%s)", report_id, engines.describe(exc))


def report_stopped(job: Job, connection) -> None:
    """RQ's stopped callback: an operator stopped the job (``rq job stop``, the dashboard)."""
    lifecycle.fail(process_engine(), connection, _report_of(job), "the report was stopped by an operator")


# --- routine work the clock process enqueues (storemon/reports/clock.py) ---

def _queue():
    settings = process_settings()
    return report_queue(redis_client(settings.redis_url), settings, engines.database_id(process_engine()))


def scheduled_report() -> str:
    """The hourly report: a report as of the latest poll, made as POST /trigger_report makes one,
    extended (the console shows no data beside up and down from it). (If Redis does not take
    its job, the row stays Pending and the sweep queues it again.)"""
    report_id, _ = submission.submit(process_engine(), _queue(), process_settings(), None, caller_retries=False,
                                     options=EXTENDED)
    log.info("scheduled report %s queued", report_id)
    return report_id


def settle() -> int:
    """Settle or re-queue stale reports (the workers' maintenance does it too, less often when busy)."""
    return reconcile.settle_stale(process_engine(), _queue(), process_settings())


def update_trends() -> list[int]:
    """Compute the trends' days due: the last complete ones, and any missing (storemon/reports/trends.py)."""
    from .trends import update

    days = update(process_engine())
    log.info("trends: %d day(s) computed", len(days))
    return days


def apply_retention() -> dict:
    """Delete reports and polls past their retention."""
    from .retention import apply

    settings = process_settings()
    removed = apply(process_engine(), settings.report_retention_days, settings.poll_retention_days)
    log.info("retention removed %d report(s) and %d poll(s)", removed.reports, removed.polls)
    return {"reports": removed.reports, "polls": removed.polls}
