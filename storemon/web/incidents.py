"""Incidents as JSON (GET /incidents): open ones first, then the most recent; the rule is
storemon/core/incidents.py, and the console's page (storemon/web/console.py) shows the same."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from ..alerts.notifications import incident_json
from ..core.incidents import KINDS
from ..database.incidents import ANY, STATES, listed
from .arguments import group as group_argument, limit, text
from .services import current_services

incidents = Blueprint("incidents", __name__)
MAX_LISTED = 10_000


def incident_filters() -> dict:
    """state, kind, store_id and group from the query string; 400 naming a bad one."""
    state = text("state") or ANY
    if state not in STATES:
        abort(400, f"state must be {', '.join(STATES)}")
    kind = text("kind") or None
    if kind is not None and kind not in KINDS:
        abort(400, f"kind must be {', '.join(KINDS)}")
    return {"state": state, "kind": kind, "store_id": text("store_id") or None,
            "group": group_argument(request.args.get("group"), empty_is_none=True)}


@incidents.get("/incidents")
def list_incidents():
    """Incidents of a state (open, resolved or any), kind, store or group."""
    found = listed(current_services().engine, limit=limit(100, MAX_LISTED), **incident_filters())
    return jsonify(count=len(found), incidents=[incident_json(row) for row in found])
