"""The life of a report, in one place: Pending -> Running -> Complete | Failed.

The ``reports`` row is the durable record and the only source of a report's state; the
RQ job of the same id is how the work gets done. Every transition is one guarded UPDATE,
so Complete and Failed are final whatever order workers, callbacks and sweeps arrive in:

- ``create``: a new row, Pending, committed before its job is queued.
- ``start``: Pending or Running -> Running, one more attempt (a job that RQ runs again
  after its worker died starts again).
- ``complete``: Pending or Running -> Complete, with its CSV and as_of, in one transaction
  (``complete_parts``: a sharded report, once every part has stored its rows).
- ``fail``: Pending or Running -> Failed, with a short reason fit for clients.

Failures are settled where they happen: the job's own failure callback (which RQ runs
in the work horse, or wherever an abandoned job is cleaned up), and reconciling for what
no callback sees: a work horse killed on its last attempt, a job Redis lost. Reconciling
runs for one report when it is asked about, and for every stale one in the workers'
periodic sweep, so no report stays Pending or Running for ever.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from rq.queue import Queue
from sqlalchemy import Connection, Engine, func, insert, select, tuple_, update

from ..config import Settings
from ..database.bulk import execute, fetch_all
from ..database.engines import as_utc, database_id
from .tallies import tally_report
from ..database.models import Report
from .queue import enqueue_report, fetch_jobs, join_job_id, part_job_ids
from ..core.csvout import joined

log = logging.getLogger(__name__)

PENDING, RUNNING, COMPLETE, FAILED = "Pending", "Running", "Complete", "Failed"
UNSETTLED = (PENDING, RUNNING)
# A report whose job Redis does not know is lost only after this long: the POST commits
# the row before it enqueues, so a look in between must not call the report lost.
LOST_AFTER = timedelta(seconds=30)
_table = Report.__table__


@dataclass(frozen=True)
class ReportRow:
    id: str
    status: str
    requested_as_of_us: int | None
    as_of_us: int | None
    created_at: datetime
    error: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    row_count: int | None


@dataclass(frozen=True)
class ReportState:
    """What a client is told: the row's status, or for an unsettled report where its job is."""

    row: ReportRow
    status: str
    progress: float


def _now() -> datetime:
    return datetime.now(UTC)


def _row(found) -> ReportRow:
    values = found._asdict()
    return ReportRow(**{**values, **{k: as_utc(values[k]) for k in ("created_at", "started_at", "finished_at")}})


_COLUMNS = [_table.c[name] for name in ReportRow.__dataclass_fields__]


def create(engine: Engine, report_id: str, requested_as_of_us: int | None) -> None:
    with engine.begin() as conn:
        conn.execute(insert(_table).values(id=report_id, status=PENDING, requested_as_of_us=requested_as_of_us,
                                           created_at=_now(), attempts=0))


class QueueUnavailable(Exception):
    """Redis did not take a new report's job."""

    def __init__(self, report_id: str):
        super().__init__(f"report {report_id} could not be queued")
        self.report_id = report_id


UNQUEUED = "the report could not be queued: Redis was unavailable"


def submit(engine: Engine, queue: Queue, settings: Settings, requested_as_of_us: int | None, *,
           caller_retries: bool = True) -> tuple[str, bool]:
    """A report for ``requested_as_of_us``, and whether it was coalesced: a Pending report
    asking for the same as_of whose job is still waiting in the queue gives the same answer
    a new one would (neither has read any data yet), so its id is returned instead.

    Otherwise a new report (random, unguessable id): its row committed first, so a worker
    always finds it, then its job queued. If Redis does not take the job, QueueUnavailable
    is raised; a caller that is told so and may try again (``caller_retries``) leaves no
    report behind (the row is settled Failed), others leave it Pending for the sweep to queue."""
    twin = _queued_twin(engine, queue, requested_as_of_us)
    if twin is not None:
        return twin, True
    report_id = secrets.token_urlsafe(24)
    create(engine, report_id, requested_as_of_us)
    try:
        enqueue_report(queue, settings, report_id)
    except RedisError as exc:
        log.exception("could not enqueue report %s", report_id)
        if caller_retries:
            fail(engine, queue.connection, report_id, UNQUEUED)
        raise QueueUnavailable(report_id) from exc
    tally_report(queue.connection, database_id(engine), "triggered")
    return report_id, False


def _queued_twin(engine: Engine, queue: Queue, requested_as_of_us: int | None) -> str | None:
    wanted = _table.c.requested_as_of_us
    with engine.connect() as conn:
        found = conn.execute(select(_table.c.id).where(
            _table.c.status == PENDING, wanted.is_(None) if requested_as_of_us is None else wanted == requested_as_of_us,
        ).order_by(_table.c.created_at.desc()).limit(1)).scalar()
    if found is None:
        return None
    try:
        job = fetch_jobs(queue, [found])[0]
    except RedisError:
        return None  # the new report's own enqueue will say whether Redis is there
    return found if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED else None


def find(engine: Engine, report_id: str) -> ReportRow | None:
    """The report's state, without its CSV."""
    with engine.connect() as conn:
        found = conn.execute(select(*_COLUMNS).where(_table.c.id == report_id)).first()
    return None if found is None else _row(found)


def csv_of(engine: Engine, report_id: str) -> bytes | None:
    """A Complete report's CSV: the one stored whole, or a sharded report's header and its
    parts' rows in order."""
    with engine.connect() as conn:
        found = fetch_all(conn, "SELECT csv, parts_attempt FROM reports WHERE id = %s", (report_id,), binary=True)
        if not found or found[0][1] is None:
            return found[0][0] if found else None
        rows = fetch_all(conn, "SELECT rows FROM report_parts WHERE report_id = %s AND attempt = %s ORDER BY part",
                         (report_id, found[0][1]), binary=True)
    return joined([r[0] for r in rows])


def store_part(engine: Engine, report_id: str, attempt: int, part: int, rows: bytes, version: int) -> None:
    """Keep one part's CSV rows for the report's CSV, and the data version they were computed
    from (a part run again keeps the rows stored first). Only while the report is unsettled."""
    with engine.begin() as conn:
        execute(conn, f"""
            INSERT INTO report_parts (report_id, attempt, part, row_count, rows, version)
            SELECT %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM reports WHERE id = %s
                                                       AND status IN ('{PENDING}', '{RUNNING}'))
            ON CONFLICT (report_id, attempt, part) DO NOTHING""",
                (report_id, attempt, part, rows.count(b"\n"), rows, version, report_id))


def part_versions(conn: Connection, report_id: str, attempt: int) -> dict[int, int]:
    """The data version each stored part of a run read, by part."""
    return dict(fetch_all(conn, "SELECT part, version FROM report_parts WHERE report_id = %s AND attempt = %s",
                          (report_id, attempt)))


def complete_parts(engine: Engine, redis: Redis, report_id: str, attempt: int, count: int, as_of_us: int,
                   redone: dict[int, tuple[bytes, int]] | None = None) -> bool | None:
    """Complete a sharded report with the ``count`` parts its run ``attempt`` stored, those in
    ``redone`` (part: rows, version) replaced first, in one transaction that drops the rows of
    its other runs: True if this call did, False if the report was settled already, None if
    some of those parts' rows are missing."""
    with engine.begin() as conn:
        for part, (rows, version) in (redone or {}).items():
            execute(conn, "UPDATE report_parts SET rows = %s, row_count = %s, version = %s"
                          " WHERE report_id = %s AND attempt = %s AND part = %s",
                    (rows, rows.count(b"\n"), version, report_id, attempt, part))
        stored, rows = fetch_all(conn, "SELECT count(*), coalesce(sum(row_count), 0) FROM report_parts"
                                       " WHERE report_id = %s AND attempt = %s", (report_id, attempt))[0]
        found = None if stored != count else conn.execute(
            update(_table).where(_table.c.id == report_id, _table.c.status.in_(UNSETTLED))
            .values(status=COMPLETE, as_of_us=as_of_us, csv=None, parts_attempt=attempt, error=None,
                    finished_at=_now(), row_count=int(rows)).returning(*_COLUMNS)).first()
        if found is not None:
            execute(conn, "DELETE FROM report_parts WHERE report_id = %s AND attempt <> %s", (report_id, attempt))
    if found is not None:
        _tally_completed(engine, redis, _row(found))
        return True
    settled = find(engine, report_id)
    return None if stored != count and settled is not None and settled.status in UNSETTLED else False


def _transition(engine: Engine, report_id: str, **values) -> ReportRow | None:
    """Move an unsettled report on; the row as it now stands, or None when it was already
    Complete or Failed (or is unknown)."""
    with engine.begin() as conn:
        found = conn.execute(update(_table).where(_table.c.id == report_id, _table.c.status.in_(UNSETTLED))
                             .values(**values).returning(*_COLUMNS)).first()
    return None if found is None else _row(found)


def start(engine: Engine, report_id: str) -> ReportRow | None:
    """Running, one attempt more, unless already settled; the row as it now stands."""
    return _transition(engine, report_id, status=RUNNING, attempts=_table.c.attempts + 1,
                       started_at=func.coalesce(_table.c.started_at, _now())) or find(engine, report_id)


def record_plan(engine: Engine, report_id: str, as_of_us: int, plan: str) -> None:
    """A sharded report's as_of and plan (storemon/reports/shards.py), recorded when it is cut into
    parts: its parts read them, and retention spares the lookback of every unsettled report by it."""
    _transition(engine, report_id, as_of_us=as_of_us, plan=plan)


def plan_of(engine: Engine, report_id: str) -> tuple[int | None, str | None]:
    """A sharded report's as_of and plan, as recorded."""
    with engine.connect() as conn:
        found = conn.execute(select(_table.c.as_of_us, _table.c.plan).where(_table.c.id == report_id)).first()
    return (None, None) if found is None else (found[0], found[1])


def complete(engine: Engine, redis: Redis, report_id: str, as_of_us: int, csv: bytes) -> bool:
    """CSV, as_of and status in one transaction: a report is never Complete without its CSV.
    (Redis, where the metrics' tallies are kept, is told afterwards.)"""
    row = _transition(engine, report_id, status=COMPLETE, as_of_us=as_of_us, csv=csv, error=None, finished_at=_now(),
                      row_count=csv.count(b"\n") - 1)  # ids never hold a line break
    if row is None:
        return False
    _tally_completed(engine, redis, row)
    return True


def _tally_completed(engine: Engine, redis: Redis, row: ReportRow) -> None:
    tally_report(redis, database_id(engine), "completed", (row.finished_at - (row.started_at or row.finished_at)).total_seconds())


def fail(engine: Engine, redis: Redis, report_id: str, reason: str) -> bool:
    if _transition(engine, report_id, status=FAILED, error=reason[:500], finished_at=_now()) is not None:
        log.warning("report %s failed: %s", report_id, reason)
        with engine.begin() as conn:  # a sharded report's parts serve no CSV now
            execute(conn, "DELETE FROM report_parts WHERE report_id = %s", (report_id,))
        tally_report(redis, database_id(engine), "failed")
        return True
    return False


# --- why a job failed, in words for clients (tracebacks stay in the worker log and RQ) ---

WORKER_LOST = "the worker computing this report stopped before it finished"


def failure_reason(kind: str, message: str, timeout_s: int | None = None) -> str:
    """A short, safe reason from an exception's class name and message.

    storemon's own exceptions carry messages written for people; anything else is a bug
    or an outage, named by its class only.
    """
    name = kind.rsplit(".", 1)[-1]
    if name == "JobTimeoutException":
        return f"the report timed out after {timeout_s} s (REPORT_JOB_TIMEOUT)" if timeout_s else \
            "the report timed out (REPORT_JOB_TIMEOUT)"
    if name == "ShutDownImminentException":
        return "the report was stopped by a worker shutdown"
    if name in ("AbandonedJobError", "WorkHorseTerminated"):
        return WORKER_LOST
    if kind.startswith("storemon.") and message:
        return message
    return f"the report could not be computed: unexpected {name}; the worker log has the details"


def _rq_failure_reason(job: Job, attempts: int) -> str:
    """The reason for a job RQ has recorded as failed, stopped or canceled."""
    status = job.get_status(refresh=False)
    if status == JobStatus.STOPPED:
        return "the report was stopped by an operator"
    if status == JobStatus.CANCELED:
        return "the report was canceled in the queue"
    result = job.latest_result()
    text = (result.exc_string or "") if result is not None else ""
    if "AbandonedJobError" in text or "Work-horse terminated" in text:
        return WORKER_LOST + (f" ({attempts} attempts)" if attempts > 1 else "")
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    kind, _, message = last.partition(": ")
    return failure_reason(kind.strip(), message.strip(), job.timeout)


# --- reconciling the row with RQ ---

_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}
_ENDED = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def _progress(job: Job) -> float:
    return float(job.get_meta(refresh=False).get("progress", 0.0))


def _reconcile(engine: Engine, queue: Queue, settings: Settings, row: ReportRow, job: Job | None,
               now: datetime) -> ReportState:
    """Settle an unsettled row from what RQ knows of its job, and say where it stands."""
    if job is None:
        if now - row.created_at < LOST_AFTER:
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
        Queue(origin, connection=queue.connection).remove(job)
        queue.enqueue_job(job)
        log.warning("report %s: its job waited on queue %s, which no worker reads; moved to %s", row.id, origin,
                    queue.name)
    if status in _WAITING:
        return ReportState(row, PENDING, _progress(job))
    if status == JobStatus.STARTED:
        return ReportState(row, RUNNING, _progress(job))
    if status in _ENDED:
        fail(engine, queue.connection, row.id, _rq_failure_reason(job, row.attempts))
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
        fail(engine, queue.connection, row.id, _rq_failure_reason(join, row.attempts))
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
    now = _now()
    return [_reconcile(engine, queue, settings, r, jobs[r.id], now) if r.id in jobs else ReportState(r, r.status, 1.0)
            for r in rows]


def _state_of_row(engine: Engine, row: ReportRow, progress: float = 0.0) -> ReportState:
    fresh = find(engine, row.id) or row
    return ReportState(fresh, fresh.status, 1.0 if fresh.status not in UNSETTLED else progress)


def state(engine: Engine, queue: Queue, settings: Settings, report_id: str) -> ReportState | None:
    """Where a report stands (None if unknown); an unsettled one is reconciled with RQ first."""
    row = find(engine, report_id)
    return None if row is None else _reconciled(engine, queue, settings, [row])[0]


def _newest_first(query):
    return query.order_by(_table.c.created_at.desc(), _table.c.id.desc())


def settle_stale(engine: Engine, queue: Queue, settings: Settings, limit: int = 1000) -> int:
    """Reconcile every report unsettled for longer than LOST_AFTER; how many became settled or queued again."""
    with engine.connect() as conn:
        found = conn.execute(select(*_COLUMNS).where(_table.c.status.in_(UNSETTLED),
                                                     _table.c.created_at < _now() - LOST_AFTER)
                             .order_by(_table.c.created_at).limit(limit)).all()
    rows = [_row(f) for f in found]
    jobs = _jobs_of(queue, rows)
    after = _reconciled(engine, queue, settings, rows, jobs)
    # Every one is past LOST_AFTER, so one without a job was queued again (its status unchanged).
    return sum(state.status != row.status or jobs[row.id] is None for row, state in zip(rows, after))


def history(engine: Engine, queue: Queue, settings: Settings, *, status: str | None = None, limit: int = 20,
            before: ReportRow | None = None) -> list[ReportState]:
    """Reports newest first (those created before ``before``, if given), unsettled ones reconciled."""
    query = _newest_first(select(*_COLUMNS)).limit(limit)
    if status is not None:
        query = query.where(_table.c.status == status)
    if before is not None:
        query = query.where(tuple_(_table.c.created_at, _table.c.id) < tuple_(before.created_at, before.id))
    with engine.connect() as conn:
        rows = [_row(found) for found in conn.execute(query)]
    return _reconciled(engine, queue, settings, rows)


def latest_routine(engine: Engine) -> ReportRow | None:
    """The newest routine report that is Complete: one asked for without an as_of (the clock's,
    or any other as of the newest poll then). A report asked for as of a chosen instant is
    ad hoc: it never becomes what the fleet page, the store pages and /reports/latest show."""
    with engine.connect() as conn:
        found = conn.execute(_newest_first(select(*_COLUMNS).where(
            _table.c.status == COMPLETE, _table.c.requested_as_of_us.is_(None))).limit(1)).first()
    return None if found is None else _row(found)
