"""The ``reports`` table: the durable record of every requested report and its CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC

from sqlalchemy import Engine, insert, select, update

from .models import Report

PENDING, RUNNING, COMPLETE, FAILED = "Pending", "Running", "Complete", "Failed"
_table = Report.__table__


@dataclass(frozen=True)
class ReportRow:
    id: str
    status: str
    requested_as_of_us: int | None
    as_of_us: int | None
    created_at: datetime
    error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def create(engine: Engine, report_id: str, requested_as_of_us: int | None) -> None:
    with engine.begin() as conn:
        conn.execute(insert(_table).values(id=report_id, status=PENDING, requested_as_of_us=requested_as_of_us,
                                           created_at=_now()))


def find(engine: Engine, report_id: str) -> ReportRow | None:
    """The report's state, without its CSV."""
    columns = [_table.c[name] for name in ReportRow.__dataclass_fields__]
    with engine.connect() as conn:
        row = conn.execute(select(*columns).where(_table.c.id == report_id)).first()
    if row is None:
        return None
    created_at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return ReportRow(**{**row._asdict(), "created_at": created_at})


def csv_of(engine: Engine, report_id: str) -> bytes | None:
    with engine.connect() as conn:
        return conn.execute(select(_table.c.csv).where(_table.c.id == report_id)).scalar()


def mark_running(engine: Engine, report_id: str) -> ReportRow | None:
    """Running, unless already Complete (a re-run job must not undo a finished report)."""
    with engine.begin() as conn:
        conn.execute(update(_table).where(_table.c.id == report_id, _table.c.status != COMPLETE)
                     .values(status=RUNNING, error=None))
    return find(engine, report_id)


def mark_complete(engine: Engine, report_id: str, as_of_us: int, csv: bytes) -> None:
    """CSV, as_of and status in one transaction: a report is never Complete without its CSV."""
    with engine.begin() as conn:
        conn.execute(update(_table).where(_table.c.id == report_id)
                     .values(status=COMPLETE, as_of_us=as_of_us, csv=csv, error=None, finished_at=_now()))


def mark_failed(engine: Engine, report_id: str, error: str) -> None:
    """Failed with a short message for clients; a Complete report stays Complete."""
    with engine.begin() as conn:
        conn.execute(update(_table).where(_table.c.id == report_id, _table.c.status != COMPLETE)
                     .values(status=FAILED, error=error[:500], finished_at=_now()))
