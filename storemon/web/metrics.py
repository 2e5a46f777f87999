"""Prometheus metrics at GET /metrics, in its text format (the official prometheus_client).

Three sources, each where it is true:

- Requests (count by route and status, latency histogram) are counted in the web process
  that answered them, as Prometheus expects of a process it scrapes.
- What happens to reports and ingested rows happens in many processes (web, work horses,
  the clock's sweeps), so it is tallied in one Redis hash (storemon/reports/tallies.py) that
  every process adds to and a scrape reads (a Redis flush starts the tallies again, which
  Prometheus reads as a reset).
- Queue depth, workers, unsettled reports and the newest report's age are read from RQ's
  registries and the database when scraped, so they are never stale.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from ..core.windows import WINDOWS
from ..database import incidents, version
from ..database.engines import database_id
from ..database.models import Report
from ..reports.lifecycle import UNSETTLED, ReportRow, latest_routine
from .fleet import fleet_of
from .outages import Outages
from ..reports.tallies import (DELIVERY_LATENCY_BUCKETS_S, NOTIFICATION_OUTCOMES, REPORT_DURATION_BUCKETS_S,
                               REPORT_OUTCOMES, bucket_name, tallies_key)

log = logging.getLogger(__name__)

REQUEST_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, math.inf)


# --- what one web process counts ---

class Metrics:
    """The web process's registry: its own request metrics, and what a scrape reads from Redis,
    RQ and the database."""

    def __init__(self, engine: Engine, redis: Redis, queue_of: Callable[[], Queue], outages: Outages):
        self.registry = CollectorRegistry()
        self.requests = Counter("storemon_http_requests", "HTTP requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("storemon_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=REQUEST_DURATION_BUCKETS_S, registry=self.registry)
        self.registry.register(_ScrapeTimeCollector(engine, redis, queue_of, outages))

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(duration_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseFirst(Exception):
    """Redis' figures could not be named: the database's identity was not to be read."""


class _ScrapeTimeCollector:
    def __init__(self, engine: Engine, redis: Redis, queue_of: Callable[[], Queue], outages: Outages):
        self.engine, self.redis, self.queue_of, self.outages = engine, redis, queue_of, outages

    def collect(self):
        up = GaugeMetricFamily("storemon_dependency_up", "Whether a scrape could read the dependency",
                               labels=["dependency"])
        for name, read in (("redis", self._from_redis), ("database", self._from_database)):
            try:
                families = list(read())
            except _DatabaseFirst as exc:  # Redis answers, but which queue is this database's is unknown yet
                log.warning("metrics: the queue's figures need the database first (%s)", exc.__cause__)
                families = [] if self._redis_answers() else None
            except Exception as exc:  # a scrape shows what it could read, and says what it could not
                log.warning("metrics: could not read the %s (%s)", name, exc)
                families = None
            up.add_metric([name], 0.0 if families is None else 1.0)
            yield from families or []
        yield up

    def _redis_answers(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False

    def _from_redis(self):
        try:  # (both named by the database's identity, which the process may not have read yet)
            queue, database = self.queue_of(), database_id(self.engine)
        except SQLAlchemyError as exc:
            raise _DatabaseFirst() from exc
        redis = queue.connection
        raw = {k.decode(): v.decode() for k, v in redis.hgetall(tallies_key(database)).items()}
        for outcome in REPORT_OUTCOMES:
            yield CounterMetricFamily(f"storemon_reports_{outcome}", f"Reports {outcome}",
                                      value=int(raw.get(f"reports_{outcome}", 0)))
        yield _histogram(raw, "storemon_report_duration_seconds", "Time from a report's first start to its CSV",
                         "report_seconds", REPORT_DURATION_BUCKETS_S)
        for outcome in NOTIFICATION_OUTCOMES:
            yield CounterMetricFamily(f"storemon_notifications_{outcome}",
                                      f"Webhook notifications {'delivered' if outcome == 'sent' else 'given up on'}",
                                      value=int(raw.get(f"notifications_{outcome}", 0)))
        yield _histogram(raw, "storemon_delivery_latency_seconds",
                         "Time from the evaluation that made a notification to its delivery", "delivery_seconds",
                         DELIVERY_LATENCY_BUCKETS_S)
        ingested = CounterMetricFamily("storemon_ingested_rows", "Rows read by ingestion over HTTP", labels=["kind"])
        rejected = CounterMetricFamily("storemon_rejected_rows", "Rows ingestion rejected as malformed",
                                       labels=["kind"])
        for name, value in raw.items():
            if name.startswith("ingested_"):
                ingested.add_metric([name.removeprefix("ingested_")], int(value))
            elif name.startswith("rejected_"):
                rejected.add_metric([name.removeprefix("rejected_")], int(value))
        yield ingested
        yield rejected
        jobs = GaugeMetricFamily("storemon_queue_jobs", "Report queue jobs by state (from RQ's registries)",
                                 labels=["state"])
        for state, count in (("queued", queue.count), ("started", queue.started_job_registry.count),
                             ("deferred", queue.deferred_job_registry.count),
                             ("scheduled", queue.scheduled_job_registry.count),
                             ("failed", queue.failed_job_registry.count)):
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily("storemon_workers", "RQ workers listening on the report queue",
                                value=Worker.count(connection=redis, queue=queue))

    def _from_database(self):
        table = Report.__table__
        with self.engine.connect() as conn:
            unsettled = dict(conn.execute(select(table.c.status, func.count()).where(table.c.status.in_(UNSETTLED))
                                          .group_by(table.c.status)).all())
            newest_poll_us = version.current(conn).newest_poll_us
        # the routine reports (the clock's): an ad-hoc one must not hide a clock that stopped
        latest = latest_routine(self.engine)
        waiting = GaugeMetricFamily("storemon_reports_unsettled", "Reports not yet Complete or Failed",
                                    labels=["status"])
        for status in UNSETTLED:
            waiting.add_metric([status], unsettled.get(status, 0))
        yield waiting
        open_incidents = GaugeMetricFamily("storemon_open_incidents", "Incidents open, by kind", labels=["kind"])
        for kind, count in incidents.open_counts(self.engine).items():
            open_incidents.add_metric([kind], count)
        yield open_incidents
        if newest_poll_us is not None:  # every report is as of the newest poll: a silent poller looks healthy
            yield GaugeMetricFamily("storemon_newest_poll_age_seconds",
                                    "Seconds since the newest poll stored was taken, by the wall clock",
                                    value=max(0.0, time.time() - newest_poll_us / 1e6))
        if latest is not None:
            yield GaugeMetricFamily("storemon_newest_report_age_seconds",
                                    "Seconds since the newest routine report was finished",
                                    value=max(0.0, time.time() - latest.finished_at.timestamp()))
        try:  # (figures of the data: one that cannot be made costs itself, not the database's gauges)
            yield from list(self._fleet(latest))
        except Exception as exc:
            log.warning("metrics: the fleet's figures could not be made (%s)", exc)

    def _fleet(self, latest: ReportRow | None):
        """The fleet's share of business time with no data, per window, in the newest routine
        report, and the stores down now."""
        yield GaugeMetricFamily("storemon_stores_down_now", "Stores open now whose latest poll in business hours "
                                "is inactive and at most POLL_INTERVAL old (as of the newest poll)",
                                value=self.outages.down(limit=1).count)
        summary = fleet_of(self.engine, latest.id) if latest is not None else None
        if summary is not None and summary.no_data_pct is not None:
            share = GaugeMetricFamily("storemon_fleet_no_data_ratio",
                                      "Of the fleet's business time in the newest routine report, the share no "
                                      "poll was within 60 minutes of", labels=["window"])
            for window, pct in zip(WINDOWS, summary.no_data_pct):
                if pct is not None:
                    share.add_metric([window.name], pct / 100)
            yield share


def _histogram(raw: dict[str, str], name: str, description: str, field: str, buckets) -> HistogramMetricFamily:
    """A histogram tallied in Redis (storemon/reports/tallies.py) under ``field``."""
    return HistogramMetricFamily(name, description,
                                 buckets=[(bucket_name(b), int(raw.get(f"{field}_le_{bucket_name(b)}", 0)))
                                          for b in buckets],
                                 sum_value=float(raw.get(f"{field}_sum", 0.0)))


# --- the endpoint ---

def metrics_blueprint(metrics: Metrics) -> Blueprint:
    """GET /metrics: the app's metrics in Prometheus' text format (who may read them:
    storemon/web/access.py)."""
    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def scrape():
        return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)

    return blueprint

