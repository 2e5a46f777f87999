"""RQ glue: the Redis client, the report queue, enqueueing, and RQ job states in the API's words."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from .config import Settings
from .reports import COMPLETE, FAILED, PENDING, RUNNING

# Named by path, so the web process never imports the engine (NumPy) to enqueue.
REPORT_JOB = "storemon.jobs.generate_report"

_API_STATUS = {
    JobStatus.QUEUED: PENDING, JobStatus.DEFERRED: PENDING, JobStatus.SCHEDULED: PENDING,
    JobStatus.CREATED: PENDING, JobStatus.RATE_LIMITED: PENDING, JobStatus.READY_TO_ENQUEUE: PENDING,
    JobStatus.STARTED: RUNNING, JobStatus.FINISHED: COMPLETE,
    JobStatus.FAILED: FAILED, JobStatus.STOPPED: FAILED, JobStatus.CANCELED: FAILED,
}


def redis_client(url: str) -> Redis:
    # No decode_responses: RQ stores pickled bytes.
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def report_queue(redis: Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=redis)


def enqueue_report(queue: Queue, settings: Settings, report_id: str) -> Job:
    """The job id is the report id, so the row and the job find each other."""
    return queue.enqueue_call(REPORT_JOB, args=(report_id,), job_id=report_id, description=f"report {report_id}",
                              timeout=settings.report_job_timeout, result_ttl=settings.report_result_ttl,
                              failure_ttl=settings.report_failure_ttl)


@dataclass(frozen=True)
class JobState:
    status: str  # Pending, Running, Complete or Failed
    progress: float
    job: Job


def job_state(queue: Queue, report_id: str) -> JobState | None:
    """Where RQ has the report's job; None when Redis no longer knows it."""
    try:
        job = Job.fetch(report_id, connection=queue.connection)
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        # A worker killed outright leaves its job "started" until its heartbeat lapses and
        # the registry is cleaned; clean it now, so a dead job reads Failed at once after that.
        StartedJobRegistry(queue=queue).cleanup()
        status = job.get_status(refresh=True)
    return JobState(_API_STATUS.get(status, PENDING), float(job.meta.get("progress", 0.0)), job)


def failure_reason(job: Job) -> str:
    """A short, safe reason for clients; the traceback stays in the failed registry and the logs."""
    result = job.latest_result()
    if result is not None and result.exc_string and "AbandonedJobError" in result.exc_string:
        return "the worker computing this report stopped before it finished"
    if job.get_status(refresh=False) in (JobStatus.STOPPED, JobStatus.CANCELED):
        return "the report job was stopped"
    return "the report job failed"
