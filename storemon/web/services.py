"""What a request's handlers share, made once per app by the factory (storemon/web/app.py)."""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from threading import BoundedSemaphore, Lock
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue
from sqlalchemy import Engine

from ..config import Settings
from ..database.engines import database_id
from ..alerts.queue import alerts_queue
from ..reports.queue import report_queue

from .limits import RateLimits
from .metrics import Metrics
from .outages import Outages

CONCURRENT_INGESTIONS = 2  # ingestions one web process runs at once
CONCURRENT_SLO_REPORTS = 1  # SLOs of the fleet or a group (a report over their window) one web process computes at once


class Kept:
    """The last few results of some work, the least recently used forgotten first, by a key
    that names everything they depend on (so a result found is always right), shared by a
    process's request threads."""

    def __init__(self, size: int):
        self.size, self._found, self._lock = size, OrderedDict(), Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            if key in self._found:
                self._found.move_to_end(key)  # (the least recently used goes first)
            return self._found.get(key)

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._found[key] = value
            while len(self._found) > self.size:
                self._found.popitem(last=False)


@dataclass(frozen=True)
class Services:
    """What request handlers share: an engine for quick requests, one for ingestion (longer
    timeouts), one raw Redis client, the report queue (thread-safe all), a few threads that let
    /health give up on a dependency that does not answer, and the ingestions' and SLO reports' turns."""

    settings: Settings
    engine: Engine
    ingest_engine: Engine
    redis: Redis
    checks: ThreadPoolExecutor
    rate_limits: RateLimits
    metrics: Metrics
    outages: Outages  # who is down now (it keeps the stores' sessions around the clock)
    # One writes, one is ready to: loads take turns under the loads' lock, each holding a thread.
    ingestions: BoundedSemaphore = field(default_factory=lambda: BoundedSemaphore(CONCURRENT_INGESTIONS))
    # A GET /slo of many stores computes a report (0.8 s of a core at full scale over 30 days):
    # one at a time, so that a burst of them cannot take every request thread and core.
    slo_reports: BoundedSemaphore = field(default_factory=lambda: BoundedSemaphore(CONCURRENT_SLO_REPORTS))
    # and the last two kept, by the data's version, the targets, the window and the group: a
    # dashboard asking every minute gets the same answer at once until a load or a target changes it
    slos: Kept = field(default_factory=lambda: Kept(2))

    @cached_property
    def queue(self) -> Queue:
        """The queue of this database's reports, named by its identity, read from the database
        when first needed (a web process starts, and answers /health, with the database down)."""
        return report_queue(self.redis, self.settings, database_id(self.engine))

    @cached_property
    def alerts(self) -> Queue:
        """The queue of this database's incident evaluations and webhook deliveries."""
        return alerts_queue(self.redis, self.settings, database_id(self.engine))

    def close(self) -> None:
        """Let go of every connection and thread (tests make many apps)."""
        self.engine.dispose()
        self.ingest_engine.dispose()
        self.redis.close()
        self.rate_limits.close()
        self.checks.shutdown(wait=False)


def current_services() -> Services:
    """The services of the app handling the current request."""
    return current_app.extensions["storemon"]
