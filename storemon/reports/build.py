"""A whole report from the database: resolve as_of, read arrays, compute, write CSV bytes."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from ..core import LOOKBACK_US, Progress, compute_uptime, to_csv
from ..core.csvout import written_hundredths
from ..core.polls import DayRows
from ..core.sessions import business_sessions
from ..database.queries import EVERY_STORE, Stores, StoreRange, latest_poll_us, report_input, snapshot

REPORTING = "computing report"


class ReportError(Exception):
    """A report that cannot be made; the message says why, in words fit for clients."""


class NoData(ReportError):
    """There are no polls, so there is no default as_of and nothing to report."""


def resolve_as_of(engine: Engine, as_of_us: int | None) -> int:
    if as_of_us is not None:
        return as_of_us
    with engine.connect() as conn:
        latest = latest_poll_us(conn)
    if latest is None:
        raise NoData("no polls are loaded yet: load a store_status.csv first (python -m storemon load DIR)")
    return latest


def build_report(engine: Engine, as_of_us: int | None = None, on_progress: Progress | None = None
                 ) -> tuple[int, bytes]:
    """(the as_of used, the CSV bytes). ``as_of_us`` None means the latest poll. Progress is
    reported as one step, the whole report, reading its data included."""
    as_of = resolve_as_of(engine, as_of_us)
    with snapshot(engine) as conn:
        return as_of, build_csv(conn, as_of, EVERY_STORE, on_progress)[0]


def build_csv(conn: Connection, as_of_us: int, within: StoreRange, on_progress: Progress | None = None
              ) -> tuple[bytes, int]:
    """On a ``snapshot``, the report's CSV for the stores of a range (its header, then a row a
    store), and the data version it was computed from."""
    def progress(fraction: float) -> None:
        if on_progress is not None:
            on_progress(REPORTING, fraction)

    progress(0.0)
    data, version = report_input(conn, as_of_us, within)
    progress(0.4)
    uptime = compute_uptime(data, as_of_us, on_progress=lambda _step, f: progress(0.4 + 0.55 * f))
    csv_bytes = to_csv(uptime)
    progress(1.0)
    return csv_bytes, version


def warm_up(engine: Engine) -> None:
    """Do, for the newest polls, what a fresh process's first report would do before its own
    work: compute the zone transitions of the stored zones and the CSV's number table. A
    worker does it before it takes jobs, so every work horse it forks starts warm."""
    with snapshot(engine) as conn:
        as_of = latest_poll_us(conn)
        if as_of is None:
            return
        stores = Stores.read(conn, as_of)
    written_hundredths(1 << 15)  # the CSV's number table (a week in hours is 16,800 hundredths)
    data = stores.report_input(DayRows.empty(), as_of)
    business_sessions(list(data.timezones), data.hours_store, data.hours_day, data.hours_start_s, data.hours_end_s,
                      (as_of - LOOKBACK_US) // 1_000_000, -(-as_of // 1_000_000))
