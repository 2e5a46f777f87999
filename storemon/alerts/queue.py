"""RQ glue of the alerts: their queue, and enqueueing an evaluation or a delivery's next attempt."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from ..config import Settings
from ..reports.queue import queue_name

# Named by path, so the web process never imports the jobs to enqueue.
EVALUATE_JOB = "storemon.alerts.jobs.evaluate_incidents"
EVALUATE_SLOS_JOB = "storemon.alerts.jobs.evaluate_slos"
DELIVER_JOB = "storemon.alerts.jobs.deliver"


def alerts_queue_name(settings: Settings, database_id: str) -> str:
    """The queue of one database's incident evaluations and webhook deliveries: short jobs that
    a worker takes before any report, so a long report never holds up an alert."""
    return f"{queue_name(settings, database_id)}.alerts"


def alerts_queue(redis: Redis, settings: Settings, database_id: str) -> Queue:
    return Queue(alerts_queue_name(settings, database_id), connection=redis)


def enqueue_evaluation(queue: Queue) -> None:
    """Queue an evaluation of the incidents (after a load commits). One that finds the data's
    version evaluated already does nothing, so a burst of loads costs little; one lost with
    Redis is made up by the clock's watch."""
    queue.enqueue_call(EVALUATE_JOB, description="evaluate incidents", timeout=120, result_ttl=600,
                       failure_ttl=24 * 3600, retry=Retry(max=2))


def enqueue_slo_evaluation(queue: Queue) -> None:
    """Queue an evaluation of the SLOs' alerts (after the incidents', behind the deliveries
    that one queued: a report over the SLOs' window takes longer than a notification)."""
    queue.enqueue_call(EVALUATE_SLOS_JOB, description="evaluate SLOs", timeout=600, result_ttl=600,
                       failure_ttl=24 * 3600, retry=Retry(max=2))


_DELIVERY_JOB_S = 120  # (an attempt itself waits WEBHOOK_TIMEOUT at most, per connect and read)


def enqueue_delivery(queue: Queue, delivery_id: int, attempts: int, wait_s: float = 0.0) -> bool:
    """Queue a delivery's next attempt (after ``attempts`` made), now or after a wait (RQ's
    scheduler, which every worker runs, queues it then). The job's id names the attempt, so
    the watch queuing it again while it waits or runs is refused; False then. (A job that
    fails, the database down, runs again after a wait; given up on, it is forgotten after five
    minutes, and its row, still pending, queued again by the watch.)"""
    options = dict(args=(delivery_id,), job_id=f"delivery-{delivery_id}-{attempts + 1}",
                   description=f"webhook delivery {delivery_id}, attempt {attempts + 1}",
                   result_ttl=0, failure_ttl=300, retry=Retry(max=3, interval=[5, 30, 60]), unique=True)
    try:
        if wait_s > 0:
            queue.enqueue_in(timedelta(seconds=wait_s), DELIVER_JOB, job_timeout=_DELIVERY_JOB_S, **options)
        else:
            queue.enqueue_call(DELIVER_JOB, timeout=_DELIVERY_JOB_S, **options)
    except DuplicateJobError:
        return False
    return True
