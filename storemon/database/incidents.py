"""Incidents as rows: the open ones an evaluation starts from, the changes it writes, and the
lists people and notifications read (the rule: storemon/core/incidents.py).

Every write runs in the evaluation's transaction; the unique index on the open incidents
(kind, store) is the last word, so two evaluations can never open one incident twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy import (Connection, DateTime, Engine, and_, bindparam, column, delete, func, insert, or_, select, table,
                        text, update)

from ..core.incidents import KINDS, NO_POLL, POLLER_SILENT, Changes, Open
from .bulk import staged
from .engines import as_utc, reading
from .models import Incident, IncidentWatch, Store, StoreGroup
from .queries import groups_of, never_stored

POLLER = 0  # the poller's incidents' store (no store has key 0)
_incidents = Incident.__table__
_c = _incidents.c
_watch = IncidentWatch.__table__


@dataclass(frozen=True)
class OpenRows:
    """The open incidents of one kind: their row ids, and their stores and opening polls."""

    ids: np.ndarray
    open: Open


def open_incidents(conn: Connection, kinds: tuple[str, ...]) -> dict[str, OpenRows]:
    """The open incidents of the stores, of these kinds, by kind."""
    found = conn.execute(select(_c.kind, _c.id, _c.store, _c.opened_poll_us)
                         .where(_c.resolved_us.is_(None), _c.store != POLLER, _c.kind.in_(kinds))).all()
    by_kind = {}
    for kind in kinds:
        mine = [r for r in found if r[0] == kind]
        by_kind[kind] = OpenRows(np.array([r[1] for r in mine], np.int64),
                                 Open(np.array([r[2] for r in mine], np.int64),
                                      np.array([NO_POLL if r[3] is None else r[3] for r in mine], np.int64)))
    return by_kind


def record(conn: Connection, kind: str, changes: Changes, rows: OpenRows, noticed: datetime,
           by_polls: bool = True) -> list[int]:
    """Write one kind's changes, set-based (a batch may change thousands): resolve those it
    resolves, open those it opens; the ids of the incidents changed. ``by_polls`` False: a
    condition read off the figures (an SLO's), which no poll resolves."""
    when = {"noticed": noticed, "kind": kind}
    resolved_poll = "t.at" if by_polls else "NULL"
    noticed_type = bindparam("noticed", type_=DateTime(timezone=True))
    resolved = rows.ids[changes.resolved]
    if resolved.size:
        with staged(conn, "resolved_incidents", [("id", "int4", resolved), ("at", "int8", changes.resolved_us)],
                    analyze=False) as t:
            conn.execute(text(f"UPDATE incidents SET resolved_us = t.at, resolved_poll_us = {resolved_poll}, resolved_at = :noticed"
                              f" FROM {t} t WHERE incidents.id = t.id AND incidents.resolved_us IS NULL")
                         .bindparams(noticed_type), when)
    opened: list[int] = []
    if changes.opened_store.size:
        with staged(conn, "opened_incidents", [("store", "int4", changes.opened_store),
                                               ("opened_us", "int8", changes.opened_us),
                                               ("poll_us", "int8", changes.opened_poll_us)], analyze=False) as t:
            opened = list(conn.execute(text(
                f"INSERT INTO incidents (store, kind, opened_us, opened_poll_us, noticed_at)"
                f" SELECT store, :kind, opened_us, NULLIF(poll_us, {NO_POLL}), :noticed FROM {t} ORDER BY store"
                " RETURNING id").bindparams(noticed_type), when).scalars())
    return [int(i) for i in resolved] + sorted(opened)


def set_poller(conn: Connection, silent: bool, newest_poll_us: int | None, silence_us: int, noticed: datetime
               ) -> list[int]:
    """Open the poller's incident when it is silent and none is open, resolve the open one when
    it is not; the id changed, if any. Its instants are the wall clock's: it opens at the
    instant the silence passed its threshold (the newest poll then having opened it), and is
    resolved when a newer poll is noticed (which names that poll)."""
    open_id = conn.execute(select(_c.id).where(_c.kind == POLLER_SILENT, _c.resolved_us.is_(None))).scalar()
    if silent and open_id is None:
        return [conn.execute(insert(_incidents).returning(_c.id).values(
            store=POLLER, kind=POLLER_SILENT, opened_us=newest_poll_us + silence_us, opened_poll_us=newest_poll_us,
            noticed_at=noticed)).scalar_one()]
    if not silent and open_id is not None and newest_poll_us is not None:
        conn.execute(update(_incidents).where(_c.id == open_id).values(
            resolved_us=int(noticed.timestamp() * 1_000_000), resolved_poll_us=newest_poll_us,
            resolved_at=noticed))
        return [open_id]
    return []


def watched_version(conn: Connection) -> int | None:
    """The data version the incidents were last evaluated at (None: never)."""
    return conn.execute(select(_watch.c.version).where(_watch.c.id == 1)).scalar()


def set_watched(conn: Connection, version: int, at: datetime) -> None:
    if conn.execute(update(_watch).where(_watch.c.id == 1).values(version=version, evaluated_at=at)).rowcount == 0:
        conn.execute(insert(_watch).values(id=1, version=version, evaluated_at=at))


def slo_evaluated(conn: Connection) -> str | None:
    """What the SLOs' alerts were last evaluated at (storemon/alerts/evaluation.py's key; None: never)."""
    return conn.execute(select(_watch.c.slo_evaluated).where(_watch.c.id == 1)).scalar()


def set_slo_evaluated(conn: Connection, key: str) -> bool:
    """Record it; False if the watch has no row yet (no evaluation of the incidents ever ran:
    it writes the row, and the SLOs are evaluated again after it)."""
    return conn.execute(update(_watch).where(_watch.c.id == 1).values(slo_evaluated=key)).rowcount > 0


class IncidentRow(NamedTuple):  # (a tuple: a batch may read back thousands, each made in a fraction of a dataclass's time)
    id: int
    kind: str
    store_id: str | None  # None: the poller's
    name: str | None
    groups: tuple[str, ...]
    opened_us: int
    opened_poll_us: int | None
    resolved_us: int | None
    resolved_poll_us: int | None
    noticed_at: datetime
    resolved_at: datetime | None

    @property
    def open(self) -> bool:
        return self.resolved_us is None


OPEN, RESOLVED, ANY = "open", "resolved", "any"
STATES = (OPEN, RESOLVED, ANY)


def listed(engine: Engine, *, state: str = ANY, kind: str | None = None, store_id: str | None = None,
           group: str | None = None, limit: int = 100) -> list[IncidentRow]:
    """Incidents, open ones first, then the most recent: of one state, kind, store or group
    (a group's: its stores', and the poller's, which concerns every store)."""
    if store_id is not None and never_stored(store_id):
        return []
    with reading(engine) as conn:
        return _rows(conn, state=state, kind=kind, store_id=store_id, group=group, limit=limit)


def open_rows(conn: Connection) -> list[IncidentRow]:
    """Every open incident, the most recent first."""
    return _rows(conn, state=OPEN)


def rows_of(conn: Connection, ids: list[int]) -> list[IncidentRow]:
    """These incidents (ids, staged for a join: a batch may change thousands), in id order."""
    if not ids:
        return []
    with staged(conn, "changed_incidents", [("id", "int4", ids)]) as t:
        found = _rows(conn, within=select(column("id")).select_from(table(t)))
    return sorted(found, key=lambda row: row.id)


def _rows(conn: Connection, *, state: str = ANY, kind: str | None = None, store_id: str | None = None,
          group: str | None = None, limit: int | None = None, within=None) -> list[IncidentRow]:
    s = Store.__table__.c
    query = select(_c.id, _c.kind, s.store_id, s.name, _c.opened_us, _c.opened_poll_us, _c.resolved_us,
                   _c.resolved_poll_us, _c.noticed_at, _c.resolved_at, _c.store) \
        .select_from(_incidents.outerjoin(Store.__table__, s.id == _c.store))
    if state == OPEN:
        query = query.where(_c.resolved_us.is_(None))
    elif state == RESOLVED:
        query = query.where(_c.resolved_us.is_not(None))
    if kind is not None:
        query = query.where(_c.kind == kind)
    if store_id is not None:
        query = query.where(s.store_id == store_id)
    if group is not None:
        g = StoreGroup.__table__.c
        query = query.where(or_(_c.store == POLLER, _c.store.in_(select(g.store).where(g.label == group))))
    if within is not None:  # (a select of incident ids)
        query = query.where(_c.id.in_(within))
    query = query.order_by(_c.resolved_us.is_not(None), _c.opened_us.desc(), _c.id.desc()).limit(limit)
    found = conn.execute(query).all()
    labels = groups_of(conn, query.with_only_columns(_c.store)) if found else {}
    return [IncidentRow(r[0], r[1], r[2], r[3], labels.get(r[10], ()), *r[4:8], as_utc(r[8]), as_utc(r[9]))
            for r in found]


def open_counts(engine: Engine, group: str | None = None) -> dict[str, int]:
    """How many incidents of each kind are open (of one group's stores, the poller's with them)."""
    query = select(_c.kind, func.count()).where(_c.resolved_us.is_(None))
    if group is not None:
        g = StoreGroup.__table__.c
        query = query.where(or_(_c.store == POLLER, _c.store.in_(select(g.store).where(g.label == group))))
    with reading(engine) as conn:
        found = dict(conn.execute(query.group_by(_c.kind)).all())
    return {kind: int(found.get(kind, 0)) for kind in KINDS}


def delete_resolved_before(conn: Connection, before: datetime) -> int:
    """Retention: incidents resolved (by the wall clock: when storemon noticed) before then."""
    return conn.execute(delete(_incidents).where(and_(_c.resolved_at.is_not(None), _c.resolved_at < before))).rowcount
