"""SLOs as JSON: each store's attainment, error budget and burn rates (GET /slo), and the
targets, set and removed with an admin token (/slo/targets). The figures are a report's as of
the newest poll (storemon/reports/slo.py); what they mean: storemon/core/slo.py."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, request
from redis.exceptions import RedisError

from ..alerts.queue import enqueue_evaluation
from ..core.slo import objective_problem
from ..database import targets, version
from ..database.engines import reading
from ..database.queries import named_stores
from ..reports.options import slo_window_days
from ..sources import group_label
from ..timeparse import format_instant
from .arguments import group as group_argument, limit, text
from .services import current_services

log = logging.getLogger(__name__)
slo = Blueprint("slo", __name__)
MAX_LISTED = 100_000
RETRY_AFTER_S = 2
SLO_WAIT_S = 1.0  # how long a request waits for another's SLO report before it is told to retry


def window_days() -> int:
    """``window`` (``30d``; default the SLO_WINDOW_DAYS setting); 400 naming a bad one or one longer
    than the polls are kept."""
    try:
        return slo_window_days(request.args.get("window", ""), current_services().settings)
    except ValueError as exc:
        abort(400, str(exc))


@slo.get("/slo")
def list_slo():
    """Every store's SLO over a window (of one group, or one store), least budget left first."""
    from ..reports.slo import measure, measure_store, store_rows, summary, worst_first  # (not at the web's start)

    services = current_services()
    days, fast_burn = window_days(), services.settings.slo_fast_burn
    store_id, group = text("store_id") or None, group_argument(request.args.get("group"), empty_is_none=True)
    most = limit(MAX_LISTED, MAX_LISTED)
    if store_id is not None and not named_stores(services.engine, [store_id]):
        abort(404, f"unknown store {store_id[:64]!r}")
    if store_id is not None:
        measured = measure_store(services.engine, store_id, days)
    else:
        def kept():
            with reading(services.engine) as conn:
                return services.slos.get((version.current(conn).version, targets.current_fingerprint(conn), days,
                                          group))

        measured = kept()
        if measured is None:
            # (another request may be computing this very report: wait for it a moment, then look again)
            if not services.slo_reports.acquire(timeout=SLO_WAIT_S):
                return (jsonify(error=f"the SLOs of other requests are being computed in this process; retry in "
                                      f"{RETRY_AFTER_S} s", status=503), 503, {"Retry-After": str(RETRY_AFTER_S)})
            try:
                measured = kept() or measure(services.engine, days, group)
                if measured is not None:
                    services.slos.put((measured.version, measured.targets_read, days, group), measured)
            finally:
                services.slo_reports.release()
    if measured is None:
        return jsonify(as_of=None, window=f"{days}d", fast_burn=fast_burn, summary=None, stores=[])
    order = worst_first(measured)
    return jsonify(as_of=format_instant(measured.as_of_us), window=f"{days}d", fast_burn=fast_burn,
                   summary=summary(measured, fast_burn), stores=store_rows(measured, fast_burn, order[:most]))


def target_json(target: targets.Target) -> dict:
    return {"scope": target.scope, "name": target.name or None, "objective_pct": target.objective_pct,
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
    if problem := objective_problem(value):  # (before float(): an integer of 400 digits overflows one)
        abort(400, problem)
    return float(value)


def _address(scope: str, name: str | None) -> str:
    """A target's name from its address (a group's label as stored; 400 for a bad one)."""
    if scope == targets.GROUP:
        try:
            return group_label(name or "")
        except ValueError as exc:
            abort(400, str(exc))
    return name or ""


def _queue_evaluation() -> None:
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
    objective, name = _objective(), _address(scope, name)
    if scope == targets.STORE and not named_stores(current_services().engine, [name]):
        abort(404, f"unknown store {name[:64]!r}")
    target, new = targets.set_target(current_services().engine, scope, name, objective, datetime.now(UTC))
    _queue_evaluation()
    return jsonify(target_json(target)), 201 if new else 200


@slo.delete("/slo/targets/fleet", defaults={"scope": targets.FLEET, "name": None})
@slo.delete("/slo/targets/groups/<path:name>", defaults={"scope": targets.GROUP})
@slo.delete("/slo/targets/stores/<path:name>", defaults={"scope": targets.STORE})
def remove_target(scope: str, name: str | None):
    """Remove a target: 204, or 404 if there was none."""
    name = _address(scope, name)
    if not targets.remove_target(current_services().engine, scope, name):
        abort(404, f"no {scope} target{' for ' + repr(name[:64]) if name else ''}")
    _queue_evaluation()
    return "", 204
