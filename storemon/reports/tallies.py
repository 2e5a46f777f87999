"""Tallies of what happens to reports and ingested rows, kept in one Redis hash per database.

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


def bucket_name(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))


def tallies_key(database_id: str) -> str:
    return f"{TALLIES_PREFIX}:{database_id}"


def tally_report(redis: Redis, database_id: str, outcome: str, duration_s: float | None = None) -> None:
    """One more report triggered, completed or failed (a completed one with its duration)."""
    fields = {f"reports_{outcome}": 1}
    if duration_s is not None:
        fields["report_seconds_count"] = 1
        for bound in REPORT_DURATION_BUCKETS_S:
            if duration_s <= bound:
                fields[f"report_seconds_le_{bucket_name(bound)}"] = 1
    _add(redis, tallies_key(database_id), fields, duration_s)


def tally_ingested(redis: Redis, database_id: str, kind: str, rows: int, rejected: int) -> None:
    """Rows read by an ingestion call, and those of them rejected."""
    _add(redis, tallies_key(database_id), {f"ingested_{kind}": rows, f"rejected_{kind}": rejected})


def _add(redis: Redis, key: str, fields: dict[str, int], duration_s: float | None = None) -> None:
    try:
        with redis.pipeline(transaction=True) as pipe:  # one histogram never seen half-updated
            for name, amount in fields.items():
                pipe.hincrby(key, name, amount)
            if duration_s is not None:
                pipe.hincrbyfloat(key, "report_seconds_sum", duration_s)
            pipe.execute()
    except RedisError as exc:
        log.warning("metrics: a tally was dropped, Redis did not answer (%s)", exc)
