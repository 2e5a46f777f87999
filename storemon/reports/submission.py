"""Submitting a report: its row committed, then its job queued; or, for a request identical
to one still waiting in the queue, that report (coalescing)."""

from __future__ import annotations

import logging
import secrets

from redis.exceptions import RedisError
from rq.job import JobStatus
from rq.queue import Queue
from sqlalchemy import Engine

from ..config import Settings
from ..database.engines import database_id
from ..database.queries import latest_poll_us
from .lifecycle import create, fail, newest_pending
from .options import STANDARD, ReportOptions
from .queue import enqueue_report, fetch_jobs
from .tallies import tally_report
from ..timeparse import format_instant

log = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """Redis did not take a new report's job."""

    def __init__(self, report_id: str):
        super().__init__(f"report {report_id} could not be queued")
        self.report_id = report_id


UNQUEUED = "the report could not be queued: Redis was unavailable"


class AfterNewestPoll(ValueError):
    """An as_of later than the newest poll, not asked for on purpose: every store would come
    out down after its last poll (most likely a typo of the year)."""

    def __init__(self, as_of_us: int, newest_us: int):
        super().__init__(f"as_of {format_instant(as_of_us)} is after the newest poll ({format_instant(newest_us)}), "
                         "so every store would come out down after it; ask for an as_of at or before the newest poll")


def submit(engine: Engine, queue: Queue, settings: Settings, requested_as_of_us: int | None, *,
           caller_retries: bool = True, allow_future: bool = False, options: ReportOptions = STANDARD
           ) -> tuple[str, bool]:
    """A report for ``requested_as_of_us`` (with its ``options``), and whether it was coalesced:
    a Pending report asking for the same as_of and options whose job is still waiting in the queue gives the same answer
    a new one would (neither has read any data yet), so its id is returned instead.

    Otherwise a new report (random, unguessable id): its row committed first, so a worker
    always finds it, then its job queued. If Redis does not take the job, QueueUnavailable
    is raised; a caller that is told so and may try again (``caller_retries``) leaves no
    report behind (the row is settled Failed), others leave it Pending for the sweep to queue.

    An as_of after the newest poll raises AfterNewestPoll unless ``allow_future``."""
    if requested_as_of_us is not None and not allow_future:
        with engine.connect() as conn:
            newest_us = latest_poll_us(conn)
        if newest_us is not None and requested_as_of_us > newest_us:
            raise AfterNewestPoll(requested_as_of_us, newest_us)
    twin = _queued_twin(engine, queue, requested_as_of_us, options)
    if twin is not None:
        return twin, True
    report_id = secrets.token_urlsafe(24)
    create(engine, report_id, requested_as_of_us, options)
    try:
        enqueue_report(queue, settings, report_id)
    except RedisError as exc:
        log.exception("could not enqueue report %s", report_id)
        if caller_retries:
            fail(engine, queue.connection, report_id, UNQUEUED)
        raise QueueUnavailable(report_id) from exc
    tally_report(queue.connection, database_id(engine), "triggered")
    return report_id, False


def _queued_twin(engine: Engine, queue: Queue, requested_as_of_us: int | None, options: ReportOptions
                 ) -> str | None:
    """The newest Pending report asking for the same as_of and options whose job still waits in the queue."""
    found = newest_pending(engine, requested_as_of_us, options)
    if found is None:
        return None
    try:
        job = fetch_jobs(queue, [found])[0]
    except RedisError:
        return None  # the new report's own enqueue will say whether Redis is there
    return found if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED else None
