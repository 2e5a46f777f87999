"""SLO targets as rows, and which applies to each store (what they mean: storemon/core/slo.py).

A target is the fleet's, a group's (a label of the store directory) or a store's; a store's
own applies, else the strictest of its groups' (even if looser than the fleet's), else the
fleet's, else none. The targets' ``fingerprint`` names their content, so that an evaluation of
the SLOs' alerts can tell whether it read the targets in force.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, DateTime, Engine, bindparam, delete, select, text

from .engines import as_utc, reading
from .models import SloTarget, Store, StoreGroup
from .queries import never_stored

FLEET, GROUP, STORE = "fleet", "group", "store"
SCOPES = (FLEET, GROUP, STORE)
_targets = SloTarget.__table__
_t = _targets.c


@dataclass(frozen=True)
class Target:
    scope: str  # fleet, group or store
    name: str  # the group's label or the store's id ('' for the fleet)
    objective_pct: float
    updated_at: datetime | None = None


def targets(engine: Engine) -> list[Target]:
    """Every target: the fleet's, then the groups', then the stores'."""
    with reading(engine) as conn:
        return _all(conn)


def _all(conn: Connection) -> list[Target]:
    found = conn.execute(select(_t.scope, _t.name, _t.objective_pct, _t.updated_at)).all()
    return sorted((Target(s, n, float(o), as_utc(u)) for s, n, o, u in found),
                  key=lambda t: (SCOPES.index(t.scope), t.name))


def fingerprint(found: list[Target]) -> str:
    """A short name of these targets' content (scope, name, objective): equal for equal targets."""
    content = "\n".join(f"{t.scope}\t{t.name}\t{t.objective_pct!r}" for t in found)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


NONE = fingerprint([])  # no target at all


def current_fingerprint(conn: Connection) -> str:
    return fingerprint(_all(conn))


def set_target(engine: Engine, scope: str, name: str, objective_pct: float, now: datetime) -> tuple[Target, bool]:
    """Set a target's objective; the target, and whether it is new (two setting one at once
    both say new, and the later objective stays)."""
    with engine.begin() as conn:
        new = conn.execute(select(_t.scope).where(_t.scope == scope, _t.name == name)).first() is None
        conn.execute(text("INSERT INTO slo_targets (scope, name, objective_pct, updated_at)"
                          " VALUES (:scope, :name, :objective, :now) ON CONFLICT (scope, name) DO UPDATE"
                          " SET objective_pct = excluded.objective_pct, updated_at = excluded.updated_at")
                     .bindparams(bindparam("now", type_=DateTime(timezone=True))),
                     {"scope": scope, "name": name, "objective": objective_pct, "now": now})
    return Target(scope, name, objective_pct, now), new


def remove_target(engine: Engine, scope: str, name: str) -> bool:
    """Remove a target; whether it existed."""
    if never_stored(name):
        return False
    with engine.begin() as conn:
        return conn.execute(delete(_targets).where(_t.scope == scope, _t.name == name)).rowcount > 0


def objectives(conn: Connection, store_ids: np.ndarray) -> tuple[np.ndarray, list[Target | None], str]:
    """For each of these stores (ids), the objective that applies in percent (NaN: none) and
    the target it comes from; and the fingerprint of the targets read."""
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
            if best is None or (this.objective_pct, best.name) > (best.objective_pct, this.name):  # (ties: the first label)
                strictest[store_id] = this
    applied = [own.get(i) or strictest.get(i) or fleet for i in store_ids.tolist()] if found else \
        [None] * store_ids.size
    objective = np.array([np.nan if t is None else t.objective_pct for t in applied], np.float64)
    return objective, applied, fingerprint(found)
