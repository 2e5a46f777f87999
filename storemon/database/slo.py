"""SLO targets as rows, and which applies to each store (what they mean: storemon/core/slo.py).

A target is the fleet's, a group's (a label of the store directory) or a store's; a store's
own applies, else the strictest of its groups', else the fleet's, else none. Changing a target
clears the version the SLOs' alerts were evaluated at, so that the next evaluation reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from .engines import as_utc, reading
from .models import IncidentWatch, SloTarget, Store, StoreGroup

FLEET, GROUP, STORE = "fleet", "group", "store"
SCOPES = (FLEET, GROUP, STORE)
_targets = SloTarget.__table__
_t = _targets.c
_watch = IncidentWatch.__table__


@dataclass(frozen=True)
class Target:
    scope: str  # fleet, group or store
    name: str  # the group's label or the store's id ('' for the fleet)
    objective: float  # percent
    updated_at: datetime | None = None


def targets(engine: Engine) -> list[Target]:
    """Every target: the fleet's, then the groups', then the stores'."""
    with reading(engine) as conn:
        return _all(conn)


def _all(conn: Connection) -> list[Target]:
    found = conn.execute(select(_t.scope, _t.name, _t.objective, _t.updated_at)).all()
    return sorted((Target(s, n, float(o), as_utc(u)) for s, n, o, u in found),
                  key=lambda t: (SCOPES.index(t.scope), t.name))


def set_target(engine: Engine, scope: str, name: str, objective: float, now: datetime) -> bool:
    """Set a target's objective (percent); whether it is new."""
    with engine.begin() as conn:
        changed = conn.execute(update(_targets).where(_t.scope == scope, _t.name == name)
                               .values(objective=objective, updated_at=now)).rowcount
        if not changed:
            conn.execute(insert(_targets).values(scope=scope, name=name, objective=objective, updated_at=now))
        _changed(conn)
    return not changed


def remove_target(engine: Engine, scope: str, name: str) -> bool:
    """Remove a target; whether it existed."""
    if "\x00" in name:
        return False  # (none is named so: PostgreSQL text cannot hold it)
    with engine.begin() as conn:
        removed = conn.execute(delete(_targets).where(_t.scope == scope, _t.name == name)).rowcount > 0
        if removed:
            _changed(conn)
    return removed


def _changed(conn: Connection) -> None:
    conn.execute(update(_watch).values(slo_version=None))


def evaluated_version(conn: Connection) -> int | None:
    """The data version the SLOs' alerts were last evaluated at (None: never, or targets changed)."""
    return conn.execute(select(_watch.c.slo_version).where(_watch.c.id == 1)).scalar()


def set_evaluated(conn: Connection, version: int) -> bool:
    """Record the version evaluated; False if the watch has no row yet (no incidents evaluation
    ever ran: it writes the row, and the SLOs are evaluated again after it)."""
    return conn.execute(update(_watch).where(_watch.c.id == 1).values(slo_version=version)).rowcount > 0


def objectives(conn: Connection, store_ids: np.ndarray) -> tuple[np.ndarray, list[Target | None]]:
    """For each of these stores (ids), the objective that applies in percent (NaN: none) and
    the target it comes from."""
    found = _all(conn)
    fleet = next((t for t in found if t.scope == FLEET), None)
    own = {t.name: t for t in found if t.scope == STORE}
    by_label = {t.name: t for t in found if t.scope == GROUP}
    strictest: dict[str, Target] = {}
    if by_label:
        s, g = Store.__table__.c, StoreGroup.__table__.c
        for store_id, label in conn.execute(select(s.store_id, g.label).join(StoreGroup.__table__, g.store == s.id)
                                            .where(g.label.in_(list(by_label)))):
            best, this = strictest.get(store_id), by_label[label]
            if best is None or (this.objective, best.name) > (best.objective, this.name):  # (ties: the first label)
                strictest[store_id] = this
    applied = [own.get(i) or strictest.get(i) or fleet for i in store_ids.tolist()] if found else \
        [None] * store_ids.size
    objective = np.array([np.nan if t is None else t.objective for t in applied], np.float64)
    return objective, applied


def fingerprint(conn: Connection) -> tuple:
    """What changes whenever a target is set or removed: their count and latest change."""
    return tuple(conn.execute(select(func.count(), func.max(_t.updated_at))).one())


def keys_of(conn: Connection, store_ids: np.ndarray) -> np.ndarray:
    """The database keys of these stores (ids)."""
    s = Store.__table__.c
    keys = dict(conn.execute(select(s.store_id, s.id)).all())
    return np.fromiter((keys[i] for i in store_ids.tolist()), np.int64, store_ids.size)
