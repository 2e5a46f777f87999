"""SLOs as JSON: each store's attainment, error budget and burn rates (GET /slo), and the
targets, set and removed with an admin token (/slo/targets). The figures are a report's as of
the newest poll (storemon/reports/slo.py); what they mean: storemon/core/slo.py."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from flask import Blueprint, abort, jsonify, request
from redis.exceptions import RedisError

from ..alerts.queue import enqueue_evaluation
from ..core.csvout import in_hundredths
from ..core.polls import HOUR_US
from ..core.slo import HOUR, objective_problem
from ..core.windows import DAY, WEEK, parse_days
from ..database import slo as targets
from ..database.queries import named_stores
from ..reports.options import retention_problem
from ..sources import group_label
from ..timeparse import format_instant
from .arguments import group as group_argument, limit, text
from .services import current_services

if TYPE_CHECKING:
    from ..reports.slo import Measured

log = logging.getLogger(__name__)
slo = Blueprint("slo", __name__)
MAX_LISTED = 100_000


def window_days() -> int:
    """``window`` (``30d``; default the SLO_WINDOW_DAYS setting); 400 naming a bad one or one longer
    than the polls are kept."""
    settings = current_services().settings
    raw = request.args.get("window", "")
    try:
        days = parse_days(raw) if raw else settings.slo_window_days
    except ValueError as exc:
        abort(400, str(exc))
    if problem := retention_problem((days,), settings.poll_retention_days):
        abort(400, problem)
    return days


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    """Values rounded for JSON, NaN as null."""
    return [None if v != v else v for v in np.round(values, digits).tolist()]


def status_json(measured: Measured, fast_burn: float, order: np.ndarray | None = None) -> list[dict]:
    """Each row's SLO (in ``order``, if given): hours as the report's CSV writes them,
    percentages to 0.01 (attainment to 0.001), burn rates to 0.01; null where a figure has
    no meaning (no objective, no business time)."""
    s = measured.status
    order = np.arange(s.store_ids.size) if order is None else order
    name = measured.window.name.removeprefix("last_")
    windows = {"1h": HOUR, "1d": DAY, "7d": WEEK, **({name: s.window} if s.window > WEEK else {})}
    burn = {label: _rounded(s.burn_rate(w)[order], 2) for label, w in windows.items()}
    columns = {
        "uptime_h": in_hundredths(s.uptime.up_us[s.window][order], HOUR_US).tolist(),
        "downtime_h": in_hundredths(s.down_us()[order], HOUR_US).tolist(),
        "attainment_pct": _rounded(100 * s.attainment[order], 3),
        "objective_pct": _rounded(s.objective_pct[order], 3),
        "budget_h": _rounded(s.budget_us[order] / HOUR_US, 2),
        "budget_left_pct": _rounded(100 * s.budget_left[order], 2),
    }
    exhausted, burning = s.exhausted()[order].tolist(), s.burning(fast_burn)[order].tolist()
    ids = s.store_ids[order].tolist()
    rows = []
    for i, store_id in enumerate(ids):
        target = measured.targets[order[i]]
        row = {"store_id": store_id, "target": None if target is None else _scope(target)}
        row.update((key, values[i]) for key, values in columns.items())
        row["burn_rate"] = {label: values[i] for label, values in burn.items()}
        row["exhausted"], row["burning"] = exhausted[i], burning[i]
        rows.append(row)
    return rows


def _scope(target: targets.Target) -> str:
    return target.scope if target.scope == targets.FLEET else f"{target.scope}:{target.name}"


def summary_json(measured: Measured, fast_burn: float) -> dict:
    """The stores' SLOs taken together: how many have an objective, meet it, have spent their
    budget or burn fast, and the attainment of all their business time summed."""
    s = measured.status
    has = ~np.isnan(s.objective_pct)
    business = int(s.business_us().sum())
    with np.errstate(invalid="ignore"):
        meeting = int((has & (100 * s.attainment >= s.objective_pct)).sum())
    return {"stores": int(s.store_ids.size), "with_objective": int(has.sum()), "meeting": meeting,
            "exhausted": int(s.exhausted().sum()), "burning": int(s.burning(fast_burn).sum()),
            "attainment_pct": round(100 * int(s.uptime.up_us[s.window].sum()) / business, 3) if business else None}


@slo.get("/slo")
def list_slo():
    """Every store's SLO over a window (of one group, or one store), least budget left first."""
    from ..reports.slo import measure, measure_store, worst_first  # (the report's code: not at the web's start)

    services = current_services()
    days, fast_burn = window_days(), services.settings.slo_fast_burn
    store_id, group = text("store_id") or None, group_argument(request.args.get("group"), empty_is_none=True)
    most = limit(MAX_LISTED, MAX_LISTED)
    if store_id is not None and not named_stores(services.engine, [store_id]):
        abort(404, f"unknown store {store_id[:64]!r}")
    measured = measure_store(services.engine, store_id, days) if store_id is not None else \
        measure(services.engine, days, group)
    if measured is None:
        return jsonify(as_of=None, window=f"{days}d", fast_burn=fast_burn, summary=None, stores=[])
    order = worst_first(measured)
    return jsonify(as_of=format_instant(measured.as_of_us), window=f"{days}d", fast_burn=fast_burn,
                   summary=summary_json(measured, fast_burn), stores=status_json(measured, fast_burn, order[:most]))


def target_json(target: targets.Target) -> dict:
    return {"scope": target.scope, "name": target.name or None, "objective_pct": target.objective,
            "updated_at": format_instant(int(target.updated_at.timestamp() * 1_000_000))
            if target.updated_at is not None else None}


@slo.get("/slo/targets")
def list_targets():
    return jsonify(targets=[target_json(t) for t in targets.targets(current_services().engine)])


def _objective() -> float:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError):
        abort(400, "the request body is not valid JSON; send an object such as {\"objective_pct\": 99.5}")
    if not isinstance(body, dict) or set(body) != {"objective_pct"}:
        abort(400, "the request body must be exactly {\"objective_pct\": <a percentage>}")
    value = body["objective_pct"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        abort(400, "objective_pct must be a number")
    if problem := objective_problem(float(value)):
        abort(400, problem)
    return float(value)


def _scope_of(scope: str, name: str | None) -> tuple[str, str]:
    """(scope, name) of a target's address; 404 for a store unknown, 400 for a bad label."""
    if scope == targets.GROUP:
        try:
            return scope, group_label(name or "")
        except ValueError as exc:
            abort(400, str(exc))
    if scope == targets.STORE and not named_stores(current_services().engine, [name or ""]):
        abort(404, f"unknown store {(name or '')[:64]!r}")
    return scope, name or ""


def _changed() -> None:
    """Queue an evaluation: the SLOs' alerts follow the new targets."""
    try:
        enqueue_evaluation(current_services().alerts)
    except RedisError as exc:
        log.warning("SLO evaluation not queued (%s); the clock's watch will do it", exc)


@slo.put("/slo/targets/fleet", defaults={"scope": targets.FLEET, "name": None})
@slo.put("/slo/targets/groups/<path:name>", defaults={"scope": targets.GROUP})
@slo.put("/slo/targets/stores/<path:name>", defaults={"scope": targets.STORE})
def set_target(scope: str, name: str | None):
    """Set the fleet's, a group's or a store's objective; 201 when new, 200 when changed."""
    objective = _objective()
    scope, name = _scope_of(scope, name)
    created = targets.set_target(current_services().engine, scope, name, objective, datetime.now(UTC))
    _changed()
    found = next(t for t in targets.targets(current_services().engine) if (t.scope, t.name) == (scope, name))
    return jsonify(target_json(found)), 201 if created else 200


@slo.delete("/slo/targets/fleet", defaults={"scope": targets.FLEET, "name": None})
@slo.delete("/slo/targets/groups/<path:name>", defaults={"scope": targets.GROUP})
@slo.delete("/slo/targets/stores/<path:name>", defaults={"scope": targets.STORE})
def remove_target(scope: str, name: str | None):
    """Remove a target: 204, or 404 if there was none."""
    name = name or ""
    if not targets.remove_target(current_services().engine, scope, name):
        abort(404, f"no {scope} target{' for ' + repr(name[:64]) if name else ''}")
    _changed()
    return "", 204
