"""Tallies of what happens to reports, ingested rows and notifications, kept in one Redis hash
per database.

These events happen in many processes (web, work horses, the clock's sweeps), so each adds
to the same hash and a scrape of GET /metrics (storemon/web/metrics.py) reads it. The hash is
named after the database's identity, as the report queue is, so two deployments sharing a
Redis never count each other's reports. A tally that Redis does not take is dropped: metrics
must never fail a report or a load.
"""

from __future__ import annotations

import logging
import math

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TALLIES_PREFIX = "storemon:metrics"
REPORT_OUTCOMES = ("triggered", "completed", "failed")
REPORT_DURATION_BUCKETS_S = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, math.inf)
NOTIFICATION_OUTCOMES = ("sent", "failed")  # delivered; given up on after its last attempt
DELIVERY_LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, math.inf)


def bucket_name(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))


def tallies_key(database_id: str) -> str:
    return f"{TALLIES_PREFIX}:{database_id}"


def tally_report(redis: Redis, database_id: str, outcome: str, duration_s: float | None = None) -> None:
    """One more report triggered, completed or failed (a completed one with its duration)."""
    fields = {f"reports_{outcome}": 1, **_observed("report_seconds", duration_s, REPORT_DURATION_BUCKETS_S)}
    _add(redis, tallies_key(database_id), fields, duration_s)


def tally_notification(redis: Redis, database_id: str, outcome: str, latency_s: float | None = None) -> None:
    """One more notification delivered (with its latency: from the evaluation that made it) or
    given up on."""
    fields = {f"notifications_{outcome}": 1, **_observed("delivery_seconds", latency_s, DELIVERY_LATENCY_BUCKETS_S)}
    _add(redis, tallies_key(database_id), fields, latency_s, "delivery_seconds_sum")


def _observed(name: str, value: float | None, buckets: tuple[float, ...]) -> dict[str, int]:
    """The fields one observation of a histogram adds to (none: no observation)."""
    if value is None:
        return {}
    return {f"{name}_count": 1, **{f"{name}_le_{bucket_name(b)}": 1 for b in buckets if value <= b}}


def tally_ingested(redis: Redis, database_id: str, kind: str, rows: int, rejected: int) -> None:
    """Rows read by an ingestion call, and those of them rejected."""
    _add(redis, tallies_key(database_id), {f"ingested_{kind}": rows, f"rejected_{kind}": rejected})


def _add(redis: Redis, key: str, fields: dict[str, int], duration_s: float | None = None,
         sum_field: str = "report_seconds_sum") -> None:
    try:
        with redis.pipeline(transaction=True) as pipe:  # one histogram never seen half-updated
            for name, amount in fields.items():
                pipe.hincrby(key, name, amount)
            if duration_s is not None:
                pipe.hincrbyfloat(key, sum_field, duration_s)
            pipe.execute()
    except RedisError as exc:
        log.warning("metrics: a tally was dropped, Redis did not answer (%s)", exc)
