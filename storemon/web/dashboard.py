"""rq-dashboard at /rq, behind HTTP basic auth from DASHBOARD_USER / DASHBOARD_PASSWORD, or an admin token.

Who may see it is checked with every other route's access (storemon/web/access.py), in an
app-level ``before_request``, which Flask runs before the blueprint's own hook, so an
unauthenticated request never reaches rq-dashboard (nor opens a Redis connection). The dashboard's state-changing routes also take plain GETs or simple POSTs,
which a page on another site could fire with the browser's cached credentials: they are
refused unless the request's Origin (or, without one, its Referer) is this service.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import rq_dashboard
from flask import Blueprint, Flask, abort, g, jsonify, request
from rq_dashboard.web import setup_rq_connection


PREFIX = "/rq"
_CHANGES_STATE = {f"rq_dashboard.{name}" for name in
                  ("delete_job_view", "requeue_job_view", "requeue_all", "empty_queue", "compact_queue")}


def _same_origin() -> bool:
    """Whether the browser says the request comes from a page of this service."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.scheme in ("http", "https") and parts.netloc == request.host


def _guard():
    if request.blueprint != "rq_dashboard":
        return None
    # A browser never sends a bearer token by itself, so a request bearing an admin token
    # needs no same-origin check; basic auth, which a browser caches and resends, does.
    by_token = g.get("storemon_by_token", False)
    if not by_token and (request.endpoint in _CHANGES_STATE or request.method not in ("GET", "HEAD")) \
            and not _same_origin():
        return jsonify(error="refused: this dashboard action must come from the dashboard's own pages "
                             "(Origin or Referer of this service)", status=403), 403
    return None


def mount_dashboard(app: Flask, settings) -> None:
    app.config.from_object(rq_dashboard.default_settings)
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    setup_rq_connection(app)
    app.before_request(_guard)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)


# With the dashboard off, /rq says how to turn it on, to anyone (it holds nothing), instead of a bare 404.
dashboard_off = Blueprint("dashboard_off", __name__)


@dashboard_off.route(f"{PREFIX}/", defaults={"rest": ""})  # (/rq redirects here)
@dashboard_off.route(f"{PREFIX}/<path:rest>")
def explain_off(rest: str):
    abort(404, "rq-dashboard is off on this service: set DASHBOARD_USER and DASHBOARD_PASSWORD (its basic-auth "
               "login) and restart the web process; an admin token then opens it too")
