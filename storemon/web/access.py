"""Who is calling and what they may do: credentials, access rules, CSRF (how often: limits.py).

**Deny by default.** Every route needs the credentials its blueprint is given in ``NEEDS``,
unless its endpoint is in ``PUBLIC``; a route in neither is refused with 401 until someone
gives it a rule (tests walk the URL map). One app-level hook, ``authorize``, decides, before
any blueprint's own code runs.

A request's token is checked at most once (the answer is kept on ``flask.g``); a wrong
credential is marked there for the failed-authentication limit (storemon/web/limits.py).
"""

from __future__ import annotations

import logging
import secrets

from flask import abort, g, jsonify, redirect, request, session, url_for
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from ..database import tokens
from .services import current_services

log = logging.getLogger(__name__)

# Open to anyone: the health check (platforms probe it), static files, the console's sign-in
# and sign-out (which only ends the caller's own session), and the API's description
# (OpenAPI and Swagger UI: the contract is no secret, and they hold no data).
PUBLIC = frozenset({"api.health", "static", "console.static", "console.signin", "console.signout",
                    "openapi.openapi_json", "docs.show", "dashboard_off.explain_off"})
REPORT, INGEST, METRICS, DASHBOARD, ADMIN = "report", "ingest", "metrics", "dashboard", "admin"
# What every other route needs, by blueprint: report routes a token of scope report when
# REQUIRE_REPORT_TOKEN is set (the console: the token a person signed in with); ingestion a
# token of scope ingest; metrics METRICS_TOKEN, an admin token or the dashboard's login; the
# dashboard its login or an admin token; webhook endpoints an admin token.
NEEDS = {"api": REPORT, "stores": REPORT, "incidents": REPORT, "trends": REPORT, "slo": REPORT, "console": REPORT,
         "ingest": INGEST,
         "metrics": METRICS, "rq_dashboard": DASHBOARD, "webhooks": ADMIN}
# Routes that change what every report says or what alerts, or show where notifications go,
# need an admin token, whatever their blueprint.
ADMIN_ONLY = frozenset({"stores.retire_stores", "console.webhooks", "slo.set_target", "slo.remove_target"})



def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _failed() -> None:
    """The request presented a credential that is wrong (counted once, when it is answered)."""
    g.storemon_auth_failed = True


def dashboard_login(settings) -> bool:
    """Whether the request bears the dashboard's basic-auth login (never, if none is set)."""
    auth = request.authorization
    if not settings.dashboard_enabled or auth is None or auth.type != "basic":
        return False
    right = (secrets.compare_digest((auth.username or "").encode(), settings.dashboard_user.encode())
             & secrets.compare_digest((auth.password or "").encode(), settings.dashboard_password.encode()))
    if not right:
        _failed()
    return right


def csrf_token() -> str:
    """The session's token that every console form carries back."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _csrf_sent() -> bool:
    sent = request.form.get("csrf", "")
    return bool(sent) and secrets.compare_digest(sent, session.get("csrf", ""))


def caller() -> tokens.TokenInfo | None:
    """The owner of the request's valid token, or None (no token, or an unknown or revoked one).

    The token is the bearer token, or the one a person signed in to the console with (its
    hash is in the signed session cookie) for a GET, or for a form that carries the session's
    CSRF token: a page elsewhere can make a browser send the cookie, never that token."""
    if "storemon_caller" not in g:
        engine = current_services().engine
        token = bearer_token()
        if token:
            g.storemon_caller = tokens.verify(engine, token)
            if g.storemon_caller is None:
                _failed()
        elif (request.method in ("GET", "HEAD") or _csrf_sent()) \
                and isinstance(digest := session.get("token_hash"), str):
            g.storemon_caller = tokens.verify_hash(engine, digest)
        else:
            g.storemon_caller = None
    return g.storemon_caller


def require_scope(scope: str) -> tokens.TokenInfo:
    """The caller's token if it grants ``scope``: 401 (with WWW-Authenticate: Bearer) when it is
    missing, unknown or revoked, 403 when it lacks the scope."""
    owner = caller()
    if owner is None:
        raise Unauthorized("a valid API token is required: Authorization: Bearer TOKEN"
                           + (" (this one is unknown or revoked)" if bearer_token() else ""),
                           www_authenticate=WWWAuthenticate("bearer", {"realm": "storemon"}))
    if not owner.allows(scope):
        abort(403, f"this token may not do this: it needs the {scope} scope (it has {', '.join(owner.scopes)})")
    return owner


def _report_access():
    if not current_services().settings.require_report_token:
        return None
    if request.blueprint == "console" and bearer_token() is None:  # a person: to the sign-in page
        owner = caller()
        if owner is None or not owner.allows(REPORT):
            return redirect(url_for("console.signin", next=request.full_path.rstrip("?")))
        return None
    require_scope(REPORT)
    return None


def _metrics_access():
    settings = current_services().settings
    token = bearer_token()
    if token and settings.metrics_token and secrets.compare_digest(token.encode(), settings.metrics_token.encode()):
        return None
    owner = caller() if token else None
    if (owner is not None and owner.allows("admin")) or dashboard_login(settings):
        return None
    raise Unauthorized("metrics need METRICS_TOKEN or an admin token (Authorization: Bearer), "
                       "or the dashboard's login (basic auth)",
                       www_authenticate=WWWAuthenticate("basic", {"realm": "storemon metrics"}))


def _dashboard_access():
    # A browser never sends a bearer token by itself; basic auth it caches and resends, so the
    # dashboard checks where its state-changing requests come from (storemon/web/dashboard.py).
    if bearer_token() and (owner := caller()) is not None and owner.allows("admin"):
        g.storemon_by_token = True  # (never by the console's cookie: a browser sends that by itself)
        return None
    if dashboard_login(current_services().settings):
        return None
    return (jsonify(error="authentication required: basic auth, or an admin token", status=401), 401,
            {"WWW-Authenticate": 'Basic realm="storemon rq-dashboard"'})


def _admin_access():
    if request.blueprint == "console" and bearer_token() is None and caller() is None:  # a person: to sign in
        return redirect(url_for("console.signin", next=request.full_path.rstrip("?")))
    require_scope(ADMIN)
    return None


_CHECKS = {REPORT: _report_access, INGEST: lambda: require_scope(INGEST) and None, METRICS: _metrics_access,
           DASHBOARD: _dashboard_access, ADMIN: _admin_access}


def authorize():
    """Before each request: None to go on, or the answer (a 4xx, or the console's sign-in)."""
    endpoint = request.endpoint
    if request.blueprint == "console" and request.method == "POST" and not _csrf_sent():
        abort(400, "this form has expired or did not come from this console; reload the page and try again")
    if endpoint is None or endpoint in PUBLIC:  # (None: Flask answers 404 or 405 itself)
        return None
    need = ADMIN if endpoint in ADMIN_ONLY else NEEDS.get(request.blueprint or "")
    if need is None:
        log.error("refused %s %s: its endpoint %s has no access rule", request.method, request.path, endpoint)
        return jsonify(error="this route has no access rule yet, so it is closed", status=401), 401
    return _CHECKS[need]()
