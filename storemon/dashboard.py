"""rq-dashboard at /rq, behind HTTP basic auth from DASHBOARD_USER / DASHBOARD_PASSWORD.

The auth hook is attached to rq-dashboard's (module-level) blueprint once, at import:
attaching it inside create_app would fail for the second app built in one process.
"""

from __future__ import annotations

import secrets

import rq_dashboard
from flask import Flask, Response, current_app, request
from rq_dashboard.web import setup_rq_connection

blueprint = rq_dashboard.blueprint


@blueprint.before_request
def _require_basic_auth():
    settings = current_app.extensions["storemon"].settings
    auth = request.authorization
    ok = (auth is not None and auth.type == "basic"
          and secrets.compare_digest((auth.username or "").encode(), settings.dashboard_user.encode())
          and secrets.compare_digest((auth.password or "").encode(), settings.dashboard_password.encode()))
    if not ok:
        return Response('{"error": "authentication required", "status": 401}', 401, mimetype="application/json",
                        headers={"WWW-Authenticate": 'Basic realm="storemon rq-dashboard"'})
    return None


def mount_dashboard(app: Flask, settings) -> None:
    app.config.from_object(rq_dashboard.default_settings)
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    setup_rq_connection(app)
    app.register_blueprint(blueprint, url_prefix="/rq")
