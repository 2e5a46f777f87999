"""A whole report from the database: resolve as_of, read arrays, compute, write CSV bytes."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
from sqlalchemy import Engine

from ..core import Progress, Uptime, compute_uptime, to_csv
from ..core.polls import PollRows, day_of
from ..core.windows import WINDOWS, Window, lookback_us
from ..database import polls, version
from ..database.engines import is_postgres
from . import warm
from .options import STANDARD, ReportOptions
from ..database.queries import (EVERY_STORE, Piece, Snapshot, Stores, StoreRange, calendar_dates, latest_poll_us,
                                snapshot, why_no_polls)

REPORTING = "computing report"
PIECE_STORES = 2000  # stores a piece: about 280K polls of a fleet polled hourly (a few MB an array)
READERS = 2  # helper connections reading pieces' polls at once
READ_AHEAD = 4 * READERS  # pieces read and not yet computed, at most


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
            raise NoData(why_no_polls(conn))
    return latest


def build_report(engine: Engine, as_of_us: int | None = None, on_progress: Progress | None = None,
                 options: ReportOptions = STANDARD) -> tuple[int, bytes]:
    """(the as_of used, the CSV bytes). ``as_of_us`` None means the latest poll. Progress is
    reported as one step, the whole report, reading its data included."""
    as_of = resolve_as_of(engine, as_of_us)
    with snapshot(engine) as snap:
        return as_of, build_csv(snap, as_of, EVERY_STORE.within(options.group), on_progress, options.extended,
                                options.windows)[0]


def build_csv(snap: Snapshot, as_of_us: int, within: StoreRange, on_progress: Progress | None = None,
              extended: bool = False, windows: tuple[Window, ...] = WINDOWS) -> tuple[bytes, int]:
    """On a snapshot, the report's CSV for the stores of a range (its header, then a row a
    store; ``extended``: the no-data columns too; ``windows``: any longer ones after the
    standard three), and the data version it was computed from."""
    uptime, seen = compute(snap, as_of_us, within, on_progress, coverage=extended, windows=windows)
    return to_csv(uptime, extended, windows), seen


def compute(snap: Snapshot, as_of_us: int, within: StoreRange = EVERY_STORE, on_progress: Progress | None = None,
            coverage: bool = False, windows: tuple[Window, ...] = WINDOWS) -> tuple[Uptime, int]:
    """On a snapshot, the report's rows for the stores of a range, and the data version read.

    The stores are read first (or taken from what the worker keeps), then cut into pieces of
    consecutive keys; each piece's polls are read by one of two helper connections while the
    pieces read before it are computed, one at a time, in this thread: PostgreSQL aggregates
    and sends the rows in processes of its own while NumPy computes (a second thread computing
    only contended for the interpreter: 10 % slower at 136K stores), and no more than a few
    pieces' arrays are alive at once (a fresh work horse pays for every page it touches the
    first time)."""
    def progress(fraction: float) -> None:
        if on_progress is not None:
            on_progress(REPORTING, fraction)

    progress(0.0)
    seen = version.current(snap.conn)
    lookback = lookback_us(windows)
    first_day, last_day = int(day_of(as_of_us - lookback)), int(day_of(as_of_us))
    parts: list[Uptime] = []
    with snap.readers(READERS) as read:  # (its helpers connect while the stores are listed)
        prepared = warm.sessions_for(seen.stores_version, as_of_us, lookback)
        # (the worker's list of stores knows no groups: a group's are read)
        stores = prepared.listed(as_of_us, within) if prepared is not None and within.group is None \
            else Stores.read(snap.conn, as_of_us, within, dates=calendar_dates(as_of_us - lookback, as_of_us))
        # (a piece read as a range of keys brings the polls of stores between its own too, which
        # its input drops: every store's report, and SQLite, which reads ranges only)
        pieces = stores.pieces(PIECE_STORES, contiguous=within == EVERY_STORE or not is_postgres(snap.conn))
        if not pieces:
            return compute_uptime(stores.report_input(PollRows.empty(), as_of_us), as_of_us,
                                  coverage=coverage, windows=windows), seen.version

        def piece_uptime(piece: Piece, rows: PollRows) -> Uptime:
            sessions = prepared.of(piece.stores.keys) if prepared is not None else None
            return compute_uptime(piece.stores.report_input(rows, as_of_us), as_of_us, threads=1, sessions=sessions,
                                  coverage=coverage, windows=windows)

        # Pieces are read at most READ_AHEAD ahead of the one computed: reading outpaces NumPy,
        # and unchecked it would hold the whole lookback.
        reads: dict[int, Future] = {}
        for i, piece in enumerate(pieces):
            for j in range(i, min(len(pieces), i + READ_AHEAD)):
                if j not in reads:
                    reads[j] = read(lambda conn, keys=pieces[j].keys: polls.read(conn, first_day, last_day, keys))
            parts.append(piece_uptime(piece, reads.pop(i).result()))
            progress((i + 1) / len(pieces))
    rank = np.concatenate([piece.rank[part.stores] for piece, part in zip(pieces, parts)])
    return Uptime.joined(parts, np.argsort(rank)), seen.version
