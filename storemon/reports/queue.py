"""RQ glue: the Redis client, the report queue, enqueueing a report's job, and finding it again
(the alerts' queue: storemon/alerts/queue.py)."""

from __future__ import annotations


from redis import Redis
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Dependency, Job

from ..config import Settings

# Named by path, so the web process never imports the core (NumPy) to enqueue.
REPORT_JOB = "storemon.reports.jobs.generate_report"
ON_FAILURE = "storemon.reports.jobs.report_failed"
ON_STOPPED = "storemon.reports.jobs.report_stopped"
PART_JOB = "storemon.reports.jobs.compute_part"
JOIN_JOB = "storemon.reports.jobs.join_parts"
ON_PART_FAILURE = "storemon.reports.jobs.part_failed"
# Redis answers in well under a millisecond; one that is silent this long is down or frozen.
REDIS_TIMEOUT_S = 3


def redis_client(url: str, timeout_s: float | None = REDIS_TIMEOUT_S) -> Redis:
    # No decode_responses: RQ stores pickled bytes. (RQ's worker lengthens socket_timeout
    # on its own connection to cover its blocking dequeue.)
    return Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, health_check_interval=30)


def queue_name(settings: Settings, database_id: str) -> str:
    """The queue of one database's reports: ``RQ_QUEUE``, a dot, the database's identity
    (storemon/database/engines.py), so the workers of another database sharing this Redis (a
    demo beside production) never take its jobs."""
    return f"{settings.queue_prefix}.{database_id}"


def report_queue(redis: Redis, settings: Settings, database_id: str) -> Queue:
    return Queue(queue_name(settings, database_id), connection=redis)


def enqueue_report(queue: Queue, settings: Settings, report_id: str) -> bool:
    """Queue the report's job (its id is the report id, so the row and the job find each other).

    RQ runs it again up to ``report_retries`` times if its worker dies under it; the failure
    callback stops that for failures that another run would only repeat. Returns False if
    a job of that id is already in Redis.
    """
    def enqueue() -> None:
        queue.enqueue_call(REPORT_JOB, args=(report_id,), job_id=report_id, description=f"report {report_id}",
                           timeout=settings.report_job_timeout, result_ttl=settings.report_result_ttl,
                           failure_ttl=settings.report_failure_ttl,
                           retry=Retry(max=settings.report_retries) if settings.report_retries else None,
                           on_failure=Callback(ON_FAILURE), on_stopped=Callback(ON_STOPPED), unique=True)

    try:
        enqueue()
    except DuplicateJobError:
        if fetch_job(queue, report_id) is not None:
            return False
        # only a fragment of a job that RQ cannot read holds the id: clear it, queue anew
        queue.connection.delete(Job.key_for(report_id))
        enqueue()
    return True


def part_job_ids(report_id: str, attempt: int, count: int) -> list[str]:
    """The jobs of a sharded report's parts, as planned by its ``attempt``-th run."""
    return [f"{report_id}-{attempt}-part{index}" for index in range(count)]


def join_job_id(report_id: str, attempt: int) -> str:
    return f"{report_id}-{attempt}-join"


def enqueue_parts(queue: Queue, settings: Settings, report_id: str, attempt: int, count: int,
                  join_args: tuple) -> None:
    """Queue a sharded report's ``count`` parts (each reads what it computes from the report's
    row) and the job that joins them, which runs once every part has finished or failed for
    good (RQ watches the parts while it registers the join, so a part that ends meanwhile is
    counted as ended). Each job's meta names the report; each, the join too, runs again if
    its process dies under it, as the report's own job does."""
    ids = part_job_ids(report_id, attempt, count)
    common = dict(timeout=settings.report_job_timeout, result_ttl=settings.report_result_ttl,
                  failure_ttl=settings.report_failure_ttl, ttl=settings.report_failure_ttl,
                  retry=Retry(max=settings.report_retries) if settings.report_retries else None,
                  meta={"report_id": report_id}, on_stopped=Callback(ON_STOPPED))
    jobs = [queue.enqueue_call(PART_JOB, args=(report_id, attempt, index), job_id=job_id,
                               description=f"report {report_id}, part {index + 1} of {count}",
                               on_failure=Callback(ON_PART_FAILURE), **common)
            for index, job_id in enumerate(ids)]
    queue.enqueue_call(JOIN_JOB, args=join_args, job_id=join_job_id(report_id, attempt),
                       description=f"report {report_id}, joining {count} parts",
                       depends_on=Dependency(jobs, allow_failure=True), on_failure=Callback(ON_FAILURE), **common)


def fetch_jobs(queue: Queue, report_ids: list[str]) -> list[Job | None]:
    """The reports' jobs, None where Redis no longer knows one."""
    try:
        return Job.fetch_many(report_ids, connection=queue.connection)
    except NoSuchJobError:  # a job hash RQ cannot read (a fragment) among them: it is lost too
        return [fetch_job(queue, report_id) for report_id in report_ids]


def fetch_job(queue: Queue, report_id: str) -> Job | None:
    try:
        return Job.fetch(report_id, connection=queue.connection)
    except NoSuchJobError:
        return None
