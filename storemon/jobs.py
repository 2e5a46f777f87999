"""RQ entry points: thin glue between a queued job, the reports table and the engine.

Importable without Flask; the worker preloads this module so every forked job starts warm.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache

from rq import get_current_job
from sqlalchemy import Engine

from . import reports
from .config import load_settings
from .db import make_engine
from .reporting import NoData, build_report

log = logging.getLogger(__name__)
_PROGRESS_EVERY_S = 0.2


@lru_cache(maxsize=1)
def _engine() -> Engine:
    return make_engine(load_settings().database_url)


def reset_engine(close: bool = True) -> None:
    """Forget this process's engine (the next job makes a new one from the environment)."""
    if _engine.cache_info().currsize:
        _engine().dispose(close=close)
    _engine.cache_clear()


# A forked job must not use the parent's pooled connections (shared sockets corrupt each
# other): forget them in the child without closing them, the parent still owns them.
os.register_at_fork(after_in_child=lambda: reset_engine(close=False))


class _Progress:
    """Writes the fraction done into the job's meta, at most every 0.2 s."""

    def __init__(self, job):
        self.job, self.last = job, 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if self.job is None or (now - self.last < _PROGRESS_EVERY_S and fraction < 1.0):
            return
        self.last = now
        self.job.meta["progress"] = round(min(max(fraction, 0.0), 1.0), 3)
        self.job.save_meta()


def generate_report(report_id: str) -> bytes:
    """Compute a report and store its CSV in the row and (returned) as the job's result.

    Safe to run again: a Complete report is returned as it is. On error the row is marked
    Failed with a short message and the exception is re-raised, so RQ records the failure.
    """
    engine = _engine()
    row = reports.mark_running(engine, report_id)
    if row is None:
        raise LookupError(f"no report {report_id} in the database")
    if row.status == reports.COMPLETE:
        return reports.csv_of(engine, report_id)
    try:
        as_of_us, csv = build_report(engine, row.requested_as_of_us, on_progress=_Progress(get_current_job()))
    except NoData as exc:
        reports.mark_failed(engine, report_id, str(exc))
        raise
    except Exception:
        log.exception("report %s failed", report_id)
        reports.mark_failed(engine, report_id, "the report could not be computed; the worker log has the details")
        raise
    reports.mark_complete(engine, report_id, as_of_us, csv)
    return csv
