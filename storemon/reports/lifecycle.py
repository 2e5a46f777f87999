"""The ``reports`` rows: a report's life, Pending -> Running -> Complete | Failed.

The row is the durable record and the only source of a report's state; the RQ job of the
same id is how the work gets done (submitting one: submission.py; settling a row from what
RQ says of its job: reconcile.py; the words of a failure: failures.py). Every transition
is one guarded UPDATE, so Complete and Failed are final whatever order workers, callbacks
and sweeps arrive in:

- ``create``: a new row, Pending, committed before its job is queued.
- ``start``: Pending or Running -> Running, one more attempt (a job that RQ runs again
  after its worker died starts again).
- ``complete``: Pending or Running -> Complete, with its CSV and as_of, in one transaction
  (``complete_parts``: a sharded report, once every part has stored its rows).
- ``fail``: Pending or Running -> Failed, with a short reason fit for clients.

Failures are settled where they happen: the job's own failure callback (which RQ runs
in the work horse, or wherever an abandoned job is cleaned up), and reconciling for what
no callback sees: a work horse killed on its last attempt, a job Redis lost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, UTC

from redis import Redis
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, tuple_, update

from ..database.bulk import binary_rows
from ..database.engines import as_utc, database_id, reading
from .tallies import tally_report
from ..database.models import Report, ReportPart
from ..core.csvout import joined
from .options import STANDARD, ReportOptions

log = logging.getLogger(__name__)

PENDING, RUNNING, COMPLETE, FAILED = "Pending", "Running", "Complete", "Failed"
# What a report id can be (ours are 32 URL-safe characters; a longer or odder one is unknown).
REPORT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
UNSETTLED = (PENDING, RUNNING)
_table = Report.__table__
_parts = ReportPart.__table__


@dataclass(frozen=True)
class ReportRow:
    id: str
    status: str
    requested_as_of_us: int | None
    as_of_us: int | None
    created_at: datetime
    error: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    row_count: int | None
    extended: bool = False
    store_group: str | None = None
    windows: str | None = None  # the longer windows' days (``ReportOptions.windows_text``)

    @property
    def options(self) -> ReportOptions:
        return ReportOptions(bool(self.extended), self.store_group, ReportOptions.days_of(self.windows))


def now() -> datetime:
    return datetime.now(UTC)


def _row(found) -> ReportRow:
    values = found._asdict()
    return ReportRow(**{**values, **{k: as_utc(values[k]) for k in ("created_at", "started_at", "finished_at")}})


_COLUMNS = [_table.c[name] for name in ReportRow.__dataclass_fields__]


def create(engine: Engine, report_id: str, requested_as_of_us: int | None, options: ReportOptions = STANDARD) -> None:
    with engine.begin() as conn:
        conn.execute(insert(_table).values(id=report_id, status=PENDING, requested_as_of_us=requested_as_of_us,
                                           created_at=now(), attempts=0, extended=options.extended,
                                           store_group=options.group, windows=options.windows_text))


def find(engine: Engine, report_id: str) -> ReportRow | None:
    """The report's state, without its CSV."""
    with engine.connect() as conn:
        found = conn.execute(select(*_COLUMNS).where(_table.c.id == report_id)).first()
    return None if found is None else _row(found)


def csv_of(engine: Engine, report_id: str) -> bytes | None:
    """A Complete report's CSV: the one stored whole, or a sharded report's header and its
    parts' rows in order."""
    with reading(engine) as conn:
        found = binary_rows(conn, select(_table.c.csv, _table.c.parts_attempt, _table.c.extended)
                            .where(_table.c.id == report_id))
        if not found or found[0][1] is None:
            return found[0][0] if found else None
        rows = binary_rows(conn, select(_parts.c.rows).where(_parts.c.report_id == report_id,
                                                             _parts.c.attempt == found[0][1]).order_by(_parts.c.part))
    return joined([r[0] for r in rows], bool(found[0][2]))


def store_part(engine: Engine, report_id: str, attempt: int, part: int, rows: bytes, version: int) -> None:
    """Keep one part's CSV rows for the report's CSV, and the data version they were computed
    from (a part run again keeps the rows stored first). Only while the report is unsettled."""
    with engine.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO report_parts (report_id, attempt, part, row_count, rows, version)
            SELECT id, :attempt, :part, :row_count, :rows, :version
            FROM reports WHERE id = :report_id AND status IN ('{PENDING}', '{RUNNING}')
            ON CONFLICT (report_id, attempt, part) DO NOTHING"""),
                     {"report_id": report_id, "attempt": attempt, "part": part, "row_count": rows.count(b"\n"),
                      "rows": rows, "version": version})


def part_versions(conn: Connection, report_id: str, attempt: int) -> dict[int, int]:
    """The data version each stored part of a run read, by part."""
    return dict(conn.execute(select(_parts.c.part, _parts.c.version)
                             .where(_parts.c.report_id == report_id, _parts.c.attempt == attempt)).all())


def complete_parts(engine: Engine, redis: Redis, report_id: str, attempt: int, count: int, as_of_us: int,
                   redone: dict[int, tuple[bytes, int]] | None = None) -> bool | None:
    """Complete a sharded report with the ``count`` parts its run ``attempt`` stored, those in
    ``redone`` (part: rows, version) replaced first, in one transaction that drops the rows of
    its other runs: True if this call did, False if the report was settled already, None if
    some of those parts' rows are missing."""
    with engine.begin() as conn:
        for part, (rows, version) in (redone or {}).items():
            conn.execute(update(_parts).where(_parts.c.report_id == report_id, _parts.c.attempt == attempt,
                                              _parts.c.part == part)
                         .values(rows=rows, row_count=rows.count(b"\n"), version=version))
        stored, rows = conn.execute(select(func.count(), func.coalesce(func.sum(_parts.c.row_count), 0))
                                    .where(_parts.c.report_id == report_id, _parts.c.attempt == attempt)).one()
        found = None if stored != count else conn.execute(
            update(_table).where(_table.c.id == report_id, _table.c.status.in_(UNSETTLED))
            .values(status=COMPLETE, as_of_us=as_of_us, csv=None, parts_attempt=attempt, error=None,
                    finished_at=now(), row_count=int(rows)).returning(*_COLUMNS)).first()
        if found is not None:
            conn.execute(delete(_parts).where(_parts.c.report_id == report_id, _parts.c.attempt != attempt))
    if found is not None:
        _tally_completed(engine, redis, _row(found))
        return True
    settled = find(engine, report_id)
    return None if stored != count and settled is not None and settled.status in UNSETTLED else False


def _transition(engine: Engine, report_id: str, **values) -> ReportRow | None:
    """Move an unsettled report on; the row as it now stands, or None when it was already
    Complete or Failed (or is unknown)."""
    with engine.begin() as conn:
        found = conn.execute(update(_table).where(_table.c.id == report_id, _table.c.status.in_(UNSETTLED))
                             .values(**values).returning(*_COLUMNS)).first()
    return None if found is None else _row(found)


def start(engine: Engine, report_id: str) -> ReportRow | None:
    """Running, one attempt more, unless already settled; the row as it now stands."""
    return _transition(engine, report_id, status=RUNNING, attempts=_table.c.attempts + 1,
                       started_at=func.coalesce(_table.c.started_at, now())) or find(engine, report_id)


def record_plan(engine: Engine, report_id: str, as_of_us: int, plan: str) -> None:
    """A sharded report's as_of and plan (storemon/reports/shards.py), recorded when it is cut into
    parts: its parts read them, and retention spares the lookback of every unsettled report by it."""
    _transition(engine, report_id, as_of_us=as_of_us, plan=plan)


def plan_of(engine: Engine, report_id: str) -> tuple[int | None, str | None]:
    """A sharded report's as_of and plan, as recorded."""
    with engine.connect() as conn:
        found = conn.execute(select(_table.c.as_of_us, _table.c.plan).where(_table.c.id == report_id)).first()
    return (None, None) if found is None else (found[0], found[1])


def complete(engine: Engine, redis: Redis, report_id: str, as_of_us: int, csv: bytes) -> bool:
    """CSV, as_of and status in one transaction: a report is never Complete without its CSV.
    (Redis, where the metrics' tallies are kept, is told afterwards.)"""
    row = _transition(engine, report_id, status=COMPLETE, as_of_us=as_of_us, csv=csv, error=None, finished_at=now(),
                      row_count=csv.count(b"\n") - 1)  # ids never hold a line break
    if row is None:
        return False
    _tally_completed(engine, redis, row)
    return True


def _tally_completed(engine: Engine, redis: Redis, row: ReportRow) -> None:
    tally_report(redis, database_id(engine), "completed", (row.finished_at - (row.started_at or row.finished_at)).total_seconds())


def fail(engine: Engine, redis: Redis, report_id: str, reason: str) -> bool:
    if _transition(engine, report_id, status=FAILED, error=reason[:500], finished_at=now()) is not None:
        log.warning("report %s failed: %s", report_id, reason)
        with engine.begin() as conn:  # a sharded report's parts serve no CSV now
            conn.execute(delete(_parts).where(_parts.c.report_id == report_id))
        tally_report(redis, database_id(engine), "failed")
        return True
    return False


def _newest_first(query):
    return query.order_by(_table.c.created_at.desc(), _table.c.id.desc())


def newest(engine: Engine, *, status: str | None = None, limit: int = 20,
           before: ReportRow | None = None) -> list[ReportRow]:
    """Reports newest first, optionally of one status, those created before ``before`` if given."""
    query = _newest_first(select(*_COLUMNS)).limit(limit)
    if status is not None:
        query = query.where(_table.c.status == status)
    if before is not None:
        query = query.where(tuple_(_table.c.created_at, _table.c.id) < tuple_(before.created_at, before.id))
    with engine.connect() as conn:
        return [_row(found) for found in conn.execute(query)]


def unsettled_since(engine: Engine, created_before: datetime, limit: int) -> list[ReportRow]:
    """Unsettled reports created before then, oldest first."""
    with engine.connect() as conn:
        found = conn.execute(select(*_COLUMNS).where(_table.c.status.in_(UNSETTLED),
                                                     _table.c.created_at < created_before)
                             .order_by(_table.c.created_at).limit(limit)).all()
    return [_row(f) for f in found]


def newest_pending(engine: Engine, requested_as_of_us: int | None, options: ReportOptions = STANDARD) -> str | None:
    """The newest Pending report that asked for this as_of (or, like it, for none) and these options."""
    wanted, group = _table.c.requested_as_of_us, _table.c.store_group
    with engine.connect() as conn:
        return conn.execute(select(_table.c.id).where(
            _table.c.status == PENDING, wanted.is_(None) if requested_as_of_us is None else wanted == requested_as_of_us,
            _table.c.extended == options.extended,
            group.is_(None) if options.group is None else group == options.group,
            _table.c.windows.is_(None) if options.windows_text is None else _table.c.windows == options.windows_text,
        ).order_by(_table.c.created_at.desc()).limit(1)).scalar()


def latest_routine(engine: Engine) -> ReportRow | None:
    """The newest routine report that is Complete: an extended one of every store asked for
    without an as_of (the clock's, the console's, or any other as of the newest poll then).
    A report asked for as of a chosen instant, of one group, with longer windows, or with the
    standard columns only, is ad hoc: it never becomes what the fleet page, the store pages, the metrics and
    /reports/latest show, so they always show no data beside up and down."""
    with engine.connect() as conn:
        found = conn.execute(_newest_first(select(*_COLUMNS).where(
            _table.c.status == COMPLETE, _table.c.requested_as_of_us.is_(None), _table.c.store_group.is_(None),
            _table.c.windows.is_(None), _table.c.extended.is_(True))).limit(1)).first()
    return None if found is None else _row(found)
