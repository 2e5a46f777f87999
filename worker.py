"""The report worker: ``python -u worker.py`` (Procfile ``worker:``).

Preloads NumPy and the engine so every forked job starts warm, opens no database
connection in the parent (jobs create their own after the fork), and runs RQ's
HerokuWorker, which hands a running job a warning before a platform restart kills it.
"""

from __future__ import annotations

import logging
import sys

from storemon.config import ConfigError, Settings, load_settings

# Seconds between a busy worker's heartbeats: a worker killed outright is noticed by
# RQ about a minute after its last one (RQ adds a fixed 60 s), and reported Failed.
JOB_MONITORING_INTERVAL = 5


def build_worker(settings: Settings, worker_class=None):
    import numpy  # noqa: F401  (preloaded for the forks)
    from rq.worker import HerokuWorker

    import storemon.jobs  # noqa: F401  (likewise)
    from storemon.queue import redis_client, report_queue

    redis = redis_client(settings.redis_url)
    worker_class = worker_class or HerokuWorker
    return worker_class([report_queue(redis, settings)], connection=redis,
                        job_monitoring_interval=JOB_MONITORING_INTERVAL)


def main() -> None:
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.exit(f"bad setting: {exc}")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_worker(settings).work(logging_level=settings.log_level)


if __name__ == "__main__":
    main()
