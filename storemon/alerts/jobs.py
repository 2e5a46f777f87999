"""RQ entry points of the alerts queue: evaluating incidents, delivering a notification, and
the clock's watch. Thin glue, as storemon/reports/jobs.py is for reports (whose process
engine and settings these share)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from ..database import engines, webhooks
from ..reports.jobs import process_engine, process_settings
from ..reports.queue import redis_client
from .queue import alerts_queue, enqueue_delivery, enqueue_slo_evaluation
from ..reports.tallies import tally_notification
from . import delivery, evaluation

log = logging.getLogger(__name__)
_LATE = timedelta(seconds=60)  # a pending delivery this late is taken for lost, and queued again


def _queue():
    settings = process_settings()
    return alerts_queue(redis_client(settings.redis_url), settings, engines.database_id(process_engine()))


def _queue_deliveries(found: list[tuple[int, int]]) -> int:
    """Queue these deliveries' next attempts ((id, attempts made)); how many were queued.
    Redis being down loses nothing: the rows stay pending, and the watch queues them later."""
    queued = 0
    try:
        queue = _queue()
        for delivery_id, attempts in found:
            queued += enqueue_delivery(queue, delivery_id, attempts)
    except RedisError as exc:
        log.warning("deliveries not queued (%s); the watch queues them once Redis answers", exc)
    return queued


def evaluate_incidents() -> dict:
    """Evaluate the incidents at the data's version (after a load, or a change of SLO targets),
    queue their notifications, then an evaluation of the SLOs' alerts behind them."""
    outcome = evaluation.evaluate(process_engine(), evaluation.rules_of(process_settings()))
    _queue_deliveries([(d, 0) for d in outcome.deliveries])
    _log("incidents", outcome)
    try:
        enqueue_slo_evaluation(_queue())
    except RedisError as exc:
        log.warning("SLO evaluation not queued (%s); the clock's watch will do it", exc)
    return _result(outcome)


def evaluate_slos() -> dict:
    """Evaluate the SLOs' alerts at the data's version and targets, and queue the notifications."""
    settings = process_settings()
    outcome = evaluation.evaluate_slos(process_engine(), settings.slo_window_days, settings.slo_fast_burn)
    _queue_deliveries([(d, 0) for d in outcome.deliveries])
    _log("SLO incidents", outcome)
    return _result(outcome)


def _log(what: str, outcome: evaluation.Outcome) -> None:
    if outcome.opened or outcome.resolved:
        log.info("%s: %d opened, %d resolved, %d notification(s) in %.3f s", what, outcome.opened,
                 outcome.resolved, len(outcome.deliveries), outcome.seconds)


def _result(outcome: evaluation.Outcome) -> dict:
    """An evaluation job's result, as RQ keeps it (the benchmark reads its seconds)."""
    return {"evaluated": outcome.evaluated, "opened": outcome.opened, "resolved": outcome.resolved,
            "deliveries": len(outcome.deliveries), "seconds": round(outcome.seconds, 3)}


def deliver(delivery_id: int) -> str:
    """One attempt of a delivery; the next is queued to run after its wait, if any is left."""
    settings, engine = process_settings(), process_engine()
    found = webhooks.delivery(engine, delivery_id)
    if found is None or found.status != webhooks.PENDING:
        return "settled already"
    endpoint = webhooks.endpoint(engine, found.webhook)
    if endpoint is None:
        return "endpoint removed"
    answer = delivery.attempt(endpoint.url, endpoint.secret, found.message_id, found.body, settings.webhook_timeout)
    attempt = found.attempts + 1
    wait_s = None
    if not answer.delivered and attempt < settings.webhook_attempts:
        wait_s = delivery.wait_before(attempt, settings.webhook_backoff)
    if not webhooks.attempted(engine, delivery_id, attempt, datetime.now(UTC), answer.status, answer.error,
                              answer.delivered, wait_s):
        return "recorded by another attempt"
    if answer.delivered or wait_s is None:
        _tally("sent" if answer.delivered else "failed",
               (datetime.now(UTC) - found.created_at).total_seconds() if answer.delivered else None)
    if answer.delivered:
        return f"delivered: {answer.status}"
    if wait_s is None:
        log.warning("webhook delivery %d to %s failed for good after %d attempts: %s", delivery_id, endpoint.url,
                    attempt, answer.error)
        return f"failed for good: {answer.error}"
    try:
        enqueue_delivery(_queue(), delivery_id, attempt, wait_s)
    except RedisError as exc:  # (the watch queues it once it is late)
        log.warning("delivery %d: next attempt not queued (%s)", delivery_id, exc)
    return f"failed: {answer.error}; again in {wait_s:g} s"


def _tally(outcome: str, latency_s: float | None) -> None:
    settings = process_settings()
    redis = redis_client(settings.redis_url)
    try:
        tally_notification(redis, engines.database_id(process_engine()), outcome, latency_s)
    finally:
        redis.close()


def watch() -> dict:
    """The clock's watch: the poller's silence by the wall clock, any load (or change of SLO
    targets) whose evaluation was lost, the reminders due, and the deliveries whose jobs were lost."""
    engine, now = process_engine(), datetime.now(UTC)
    outcome = evaluation.evaluate(engine, evaluation.rules_of(process_settings()), now)
    reminders = evaluation.remind(engine, now)
    late = webhooks.overdue(engine, now - _LATE)
    queued = _queue_deliveries([(d, 0) for d in outcome.deliveries + reminders] + late)
    enqueue_slo_evaluation(_queue())  # (behind those; one with nothing new to do returns at once)
    return {"evaluated": outcome.evaluated, "opened": outcome.opened, "resolved": outcome.resolved,
            "reminders": len(reminders), "queued": queued}
