"""Reconciling a report's row with its RQ job: where an unsettled report stands, and settling
(or queueing again) what no callback settled: a job RQ recorded as failed, stopped or
canceled; a work horse killed on its last attempt; a job Redis lost. It runs for one report
when it is asked about, for a page of the history, and for every stale one in the workers'
periodic sweep, so no report stays Pending or Running for ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from rq.job import Job, JobStatus
from rq.queue import Queue
from sqlalchemy import Engine

from ..config import Settings
from .failures import rq_failure_reason
from .lifecycle import PENDING, RUNNING, UNSETTLED, ReportRow, fail, find, newest, now, unsettled_since
from .queue import enqueue_report, fetch_jobs, join_job_id, part_job_ids

log = logging.getLogger(__name__)

# A report whose job Redis does not know is lost only after this long: the POST commits
# the row before it enqueues, so a look in between must not call the report lost.
LOST_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class ReportState:
    """What a client is told: the row's status, or for an unsettled report where its job is."""

    row: ReportRow
    status: str
    progress: float


_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}
_ENDED = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def _progress(job: Job) -> float:
    return float(job.get_meta(refresh=False).get("progress", 0.0))


def _reconcile(engine: Engine, queue: Queue, settings: Settings, row: ReportRow, job: Job | None,
               moment: datetime) -> ReportState:
    """Settle an unsettled row from what RQ knows of its job, as of ``moment``, and say where it stands."""
    if job is None:
        if moment - row.created_at < LOST_AFTER:
            return ReportState(row, row.status, 0.0)
        # Redis lost the job (flushed, restarted, or the web process died before enqueueing):
        # the row holds all a job needs, so queue it again, as often as a dead worker would be.
        if row.attempts > settings.report_retries:
            fail(engine, queue.connection, row.id,
                 f"the report's job was lost from the queue after {row.attempts} attempts")
        elif enqueue_report(queue, settings, row.id):
            log.warning("report %s: its job was lost from Redis; queued again", row.id)
        return _state_of_row(engine, row)
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED and job.origin != queue.name:
        # queued by an older version on the queue of no database (before 0011), which no worker
        # reads now: moved to this database's own
        origin = job.origin
        if Queue(origin, connection=queue.connection).remove(job):  # (whoever removes it moves it: once)
            queue.enqueue_job(job)
            log.warning("report %s: its job waited on queue %s, which no worker reads; moved to %s", row.id,
                        origin, queue.name)
    if status in _WAITING:
        return ReportState(row, PENDING, _progress(job))
    if status == JobStatus.STARTED:
        return ReportState(row, RUNNING, _progress(job))
    if status in _ENDED:
        fail(engine, queue.connection, row.id, rq_failure_reason(job, row.attempts))
        return _state_of_row(engine, row)
    if "parts" in job.get_meta(refresh=False):
        return _reconcile_parts(engine, queue, settings, row, job)
    # Finished: the job committed the row before it returned, so the row is settled now.
    return _state_of_row(engine, row, progress=1.0)


def replan(engine: Engine, queue: Queue, settings: Settings, report_id: str, attempt: int) -> None:
    """A part of a sharded report, or its join, was lost from Redis: plan the report again from
    the start (a new run of its job), as often as a lost job is queued again. ``attempt`` is
    the run whose plan was lost: a later plan is left alone."""
    row = find(engine, report_id)
    if row is None or row.status not in UNSETTLED:
        return
    planning = fetch_jobs(queue, [report_id])[0]
    if planning is not None and planning.get_meta(refresh=False).get("attempt") not in (attempt, None):
        return  # planned again already
    if row.attempts > settings.report_retries:
        fail(engine, queue.connection, report_id, f"the report's parts were lost from the queue after {row.attempts} attempts")
        return
    if planning is not None:
        planning.delete()
    if enqueue_report(queue, settings, report_id):
        log.warning("report %s: a part or its join was lost from Redis; planned again", report_id)


def _reconcile_parts(engine: Engine, queue: Queue, settings: Settings, row: ReportRow, job: Job) -> ReportState:
    """A sharded report whose planning job has finished: it stands where its parts and their
    join stand. Its progress is the parts' progress; a join that failed fails it; a part or
    the join that Redis lost means planning it again, as often as a lost job is queued again."""
    meta = job.get_meta(refresh=False)
    count, attempt = int(meta["parts"]), int(meta["attempt"])
    *parts, join = fetch_jobs(queue, part_job_ids(row.id, attempt, count) + [join_job_id(row.id, attempt)])
    if join is not None and join.get_status(refresh=False) == JobStatus.FINISHED:
        return _state_of_row(engine, row, progress=1.0)
    if join is None or (join.get_status(refresh=False) in _WAITING and any(p is None for p in parts)):
        # (The planning job queued every part and the join before it finished.)
        replan(engine, queue, settings, row.id, attempt)
        return _state_of_row(engine, row)
    if join.get_status(refresh=False) in _ENDED:
        fail(engine, queue.connection, row.id, rq_failure_reason(join, row.attempts))
        return _state_of_row(engine, row)
    done = [1.0 if p is not None and p.get_status(refresh=False) == JobStatus.FINISHED
            else (_progress(p) if p is not None else 0.0) for p in parts]
    return ReportState(row, RUNNING, round(0.99 * sum(done) / len(done), 3))


def _jobs_of(queue: Queue, rows: list[ReportRow]) -> dict[str, Job | None]:
    """The jobs of the unsettled reports among ``rows``, fetched in one go (None where Redis lost one)."""
    unsettled = [r.id for r in rows if r.status in UNSETTLED]
    return dict(zip(unsettled, fetch_jobs(queue, unsettled))) if unsettled else {}


def _reconciled(engine: Engine, queue: Queue, settings: Settings, rows: list[ReportRow],
                jobs: dict[str, Job | None] | None = None) -> list[ReportState]:
    """Where each report stands; the unsettled ones reconciled with their jobs."""
    jobs = _jobs_of(queue, rows) if jobs is None else jobs
    moment = now()
    return [_reconcile(engine, queue, settings, r, jobs[r.id], moment) if r.id in jobs else ReportState(r, r.status, 1.0)
            for r in rows]


def _state_of_row(engine: Engine, row: ReportRow, progress: float = 0.0) -> ReportState:
    fresh = find(engine, row.id) or row
    return ReportState(fresh, fresh.status, 1.0 if fresh.status not in UNSETTLED else progress)


def state(engine: Engine, queue: Queue, settings: Settings, report_id: str) -> ReportState | None:
    """Where a report stands (None if unknown); an unsettled one is reconciled with RQ first."""
    row = find(engine, report_id)
    return None if row is None else _reconciled(engine, queue, settings, [row])[0]


def settle_stale(engine: Engine, queue: Queue, settings: Settings, limit: int = 1000) -> int:
    """Reconcile every report unsettled for longer than LOST_AFTER; how many became settled or queued again."""
    rows = unsettled_since(engine, now() - LOST_AFTER, limit)
    jobs = _jobs_of(queue, rows)
    after = _reconciled(engine, queue, settings, rows, jobs)
    # Every one is past LOST_AFTER, so one without a job was queued again (its status unchanged).
    return sum(state.status != row.status or jobs[row.id] is None for row, state in zip(rows, after))


def history(engine: Engine, queue: Queue, settings: Settings, *, status: str | None = None, limit: int = 20,
            before: ReportRow | None = None) -> list[ReportState]:
    """Reports newest first (those created before ``before``, if given), unsettled ones reconciled."""
    return _reconciled(engine, queue, settings, newest(engine, status=status, limit=limit, before=before))
