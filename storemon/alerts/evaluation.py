"""Evaluating the incidents: after every load, and on the clock's watch.

One transaction, under a lock of its own (loads are never held up), reads the data's
version, the open incidents and the last day of polls, applies the rule
(storemon/core/incidents.py) with the stores' business sessions (the worker's, made once:
storemon/reports/warm.py), writes the changes and one pending delivery per endpoint that
hears of them. A data version evaluated already is not evaluated again; the poller's
silence, read by the wall clock, is checked every time.

The SLOs' alerts (``evaluate_slos``, a job of their own) compute the SLOs first, a report
over their window, outside the lock; then, under it, write their changes as above, unless
the data or the targets changed while they computed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Connection, Engine, text

from ..config import Settings
from ..core.incidents import (DOWN, NO_DATA, SLO_BURN, SLO_EXHAUSTED, SPAN_US, Rules, changes_to,
                              evaluate as evaluated, poller_silent)
from ..core.polls import DAY_US, US, day_of
from ..database import incidents, polls, targets, version, webhooks
from ..database.engines import is_postgres, reading
from ..database.queries import store_keys
from ..reports import slo, warm
from . import notifications

log = logging.getLogger(__name__)
ALERT_LOCK = 0x616C7274  # evaluations take turns under it (loads take another)


def rules_of(settings: Settings) -> Rules:
    return Rules(down_after=settings.incident_down_after, silence_us=settings.incident_silence * US,
                 poller_silence_us=settings.poller_silence * US)


@dataclass(frozen=True)
class Outcome:
    evaluated: bool  # the stores were (False: this data version was already, or there is no poll yet)
    opened: int
    resolved: int
    deliveries: list[int]  # pending deliveries made, to queue
    seconds: float


def evaluate(engine: Engine, rules: Rules, now: datetime | None = None) -> Outcome:
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        _lock(conn)
        current = version.current(conn)
        newest = current.newest_poll_us
        changed = incidents.set_poller(conn, poller_silent(newest, int(now.timestamp() * US), rules), newest,
                                       rules.poller_silence_us, now)
        stores = newest is not None and incidents.watched_version(conn) != current.version
        if stores:
            changed += _evaluate_stores(engine, conn, current, rules, now)
            incidents.set_watched(conn, current.version, now)
        rows = incidents.rows_of(conn, changed)
        deliveries = notifications.queue_changes(conn, rows, now)
    opened = sum(r.open for r in rows)
    return Outcome(stores, opened, len(rows) - opened, deliveries, time.perf_counter() - started)


def _evaluate_stores(engine: Engine, conn: Connection, current: version.DataVersion, rules: Rules,
                     now: datetime) -> list[int]:
    newest = current.newest_poll_us
    prepared = warm.sessions_for(current.stores_version, newest) or warm.prepare(engine, SPAN_US + 2 * DAY_US, DAY_US)
    if prepared is None or not prepared.stores.keys.size:
        return []
    keys = prepared.stores.keys
    order = np.argsort(keys)
    rows = polls.read(conn, int(day_of(newest - SPAN_US)), int(day_of(newest)), (int(keys.min()), int(keys.max())))
    open_rows = incidents.open_incidents(conn, (DOWN, NO_DATA))
    found = evaluated(prepared.sessions, *rows.ordered(rows.key).polls(), newest,
                      (keys[order], np.asarray(prepared.stores.first_poll_us, np.int64)[order]), rules,
                      open_rows[DOWN].open, open_rows[NO_DATA].open)
    return (incidents.record(conn, DOWN, found.down, open_rows[DOWN], now)
            + incidents.record(conn, NO_DATA, found.no_data, open_rows[NO_DATA], now))


def evaluate_slos(engine: Engine, window_days: int, fast_burn: float, now: datetime | None = None) -> Outcome:
    """Open and resolve the SLOs' incidents (budget exhausted, burning fast: storemon/core/slo.py),
    unless they were evaluated at this data version, with these targets and settings already.
    The SLOs are computed (a report over the window) before the lock is taken; if the data or
    the targets changed meanwhile, nothing is written: the change queued an evaluation of its
    own, which reads them. Without any target, the open ones all resolve."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    with reading(engine) as conn:
        current, read = version.current(conn), targets.current_fingerprint(conn)
        if current.newest_poll_us is None or \
                incidents.slo_evaluated(conn) == _slo_key(current.version, read, window_days, fast_burn):
            return Outcome(False, 0, 0, [], time.perf_counter() - started)
    exhausted = burning = np.zeros(0, np.int64)
    at_us, seen = current.newest_poll_us, current.version
    if read != targets.NONE:
        measured = slo.measure(engine, window_days)
        if measured is None:  # (every poll deleted meanwhile)
            return Outcome(False, 0, 0, [], time.perf_counter() - started)
        at_us, seen, read, figures = measured.as_of_us, measured.version, measured.targets_read, measured.figures
        with reading(engine) as conn:
            keys = store_keys(conn, figures.store_ids)  # (a store retired meanwhile: -1, and no incident)
        exhausted = keys[figures.exhausted() & (keys >= 0)]
        burning = keys[figures.burning(fast_burn) & (keys >= 0)]
    key = _slo_key(seen, read, window_days, fast_burn)
    with engine.begin() as conn:
        _lock(conn)
        if version.current(conn).version != seen or targets.current_fingerprint(conn) != read \
                or incidents.slo_evaluated(conn) == key:
            return Outcome(False, 0, 0, [], time.perf_counter() - started)
        open_rows = incidents.open_incidents(conn, (SLO_EXHAUSTED, SLO_BURN))
        changed = [i for kind, wanted in ((SLO_EXHAUSTED, exhausted), (SLO_BURN, burning))
                   for i in incidents.record(conn, kind, changes_to(wanted, open_rows[kind].open, at_us),
                                             open_rows[kind], now, by_polls=False)]
        incidents.set_slo_evaluated(conn, key)
        rows = incidents.rows_of(conn, changed)
        deliveries = notifications.queue_changes(conn, rows, now)
    opened = sum(r.open for r in rows)
    return Outcome(True, opened, len(rows) - opened, deliveries, time.perf_counter() - started)


def _slo_key(data_version: int, targets_read: str, window_days: int, fast_burn: float) -> str:
    """What an evaluation of the SLOs' alerts depends on: the data, the targets, and the rule's settings."""
    return f"{data_version}:{targets_read}:{window_days}:{fast_burn!r}"


def remind(engine: Engine, now: datetime | None = None) -> list[int]:
    """Queue the reminders due (endpoints with ``reminder_s``), under the evaluations' lock so
    that two watches never send one twice; the deliveries made."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        if not any(e.reminder_s for e in webhooks.endpoints(conn)):
            return []
        _lock(conn)  # (then read again: a watch that waited reads the reminders just sent)
        reminded = [e for e in webhooks.endpoints(conn) if e.reminder_s]
        still_open = incidents.open_rows(conn)
        return notifications.queue_reminders(conn, reminded, still_open, now) if still_open else []


def _lock(conn: Connection) -> None:
    """Take the evaluations' turn (SQLite: the transaction's write lock is already one)."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": ALERT_LOCK})
