"""Who is calling, what they may do, and how often: credentials, rate limits, failed sign-ins.

**Deny by default.** Every route needs the credentials its blueprint is given in ``NEEDS``,
unless its endpoint is in ``PUBLIC``; a route in neither is refused with 401 until someone
gives it a rule (tests walk the URL map). One app-level hook, ``authorize``, decides, before
any blueprint's own code runs.

A request's token is checked at most once (the answer is kept on ``flask.g``). Rate limits
count per token, or per client address for a request without a valid one, in the Redis the
queue uses (the ``limits`` library's moving window: exact, and atomic there). Failed
authentications count per client address, and per user name for basic auth, on every
credentialed route: past AUTH_FAILURE_LIMIT (ten times that for a user name, which many
clients may share) the client's next credentials get 429, right or wrong, before anything
checks them, until the window has room again; a client that does not fail is never slowed. If
Redis does not answer, requests are let through, and for a few seconds limits are not even
tried, so a frozen Redis costs one timeout, not one per request: limits protect the
service, they must not take it down.
"""

from __future__ import annotations

import logging
import math
import secrets
import time

from flask import abort, g, jsonify, redirect, request, session, url_for
from limits import parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import ConnectionPool
from redis.exceptions import RedisError
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
# dashboard its login or an admin token.
NEEDS = {"api": REPORT, "stores": REPORT, "console": REPORT, "ingest": INGEST, "metrics": METRICS,
         "rq_dashboard": DASHBOARD}
# Routes that change what every report says need an admin token, whatever their blueprint.
ADMIN_ONLY = frozenset({"stores.retire_stores"})

# Not rate-limited: the health check (probes), metrics (scrapers) and the dashboard (behind its own login).
UNLIMITED = {"api.health", "static", "metrics.scrape"}
TRIGGERS = {"api.trigger_report", "console.trigger"}
PAUSE_S = 10
USER_FAILURE_FACTOR = 10


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


_CHECKS = {REPORT: _report_access, INGEST: lambda: require_scope(INGEST) and None, METRICS: _metrics_access,
           DASHBOARD: _dashboard_access, ADMIN: lambda: require_scope(ADMIN) and None}


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


class RateLimits:
    """The trigger limit for POST /trigger_report, the general one for every other API call,
    and the limit on failed authentications."""

    def __init__(self, settings):
        self.trigger = parse_many(settings.trigger_rate_limit) if settings.trigger_rate_limit else []
        self.general = parse_many(settings.api_rate_limit) if settings.api_rate_limit else []
        self.failures = parse_many(settings.auth_failure_limit) if settings.auth_failure_limit else []
        self.user_failures = [type(item)(item.amount * USER_FAILURE_FACTOR, item.multiples) for item in self.failures]
        # Connections of its own with short timeouts: a frozen Redis delays a call by half a second.
        self._pool = ConnectionPool.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        storage = RedisStorage(settings.redis_url, connection_pool=self._pool, wrap_exceptions=True)
        self.limiter = MovingWindowRateLimiter(storage)
        self._paused_until = 0.0  # monotonic time until which Redis is not asked (it did not answer)

    def check(self):
        """Before each request: None to go on, or the 429 answer."""
        endpoint = request.endpoint or ""
        if endpoint in UNLIMITED or not endpoint or endpoint.startswith("rq_dashboard."):
            return None
        group, items = ("trigger", self.trigger) if endpoint in TRIGGERS else ("api", self.general)
        owner = caller()
        key = f"token:{owner.name}" if owner else f"address:{request.remote_addr}"
        wait_s, item = self._exceeded(items, group, [key], hit=True)
        if wait_s is None:
            return None
        return _too_many(f"rate limit exceeded: at most {item} for this {'token' if owner else 'client address'}; "
                         f"retry in {wait_s} s", wait_s)

    def refuse_failing(self):
        """Before each request bearing credentials: the 429 answer if this client, or the user
        name it signs in as, has failed to authenticate too often lately; else None."""
        if "Authorization" not in request.headers:
            return None
        wait_s = self.failing_wait()
        if wait_s is None:
            return None
        return _too_many(f"too many failed authentications from this client; retry in {wait_s} s", wait_s)

    def failing_wait(self) -> int | None:
        """Seconds this client must wait before its credentials are checked again, or None."""
        for items, key in self._failure_keys():
            wait_s = self._exceeded(items, "auth", [key], hit=False)[0]
            if wait_s is not None:
                return wait_s
        return None

    def count_failure(self, response=None):
        """After a request (or from the sign-in form): count it if it presented a wrong credential."""
        if response is None or g.get("storemon_auth_failed"):
            for items, key in self._failure_keys():
                for item in items:
                    self._ask(self.limiter.hit, item, "storemon", "auth", key)
        return response

    def _failure_keys(self) -> list[tuple[list, str]]:
        """(limits, key): the client's address, and a basic-auth user name, which many addresses
        may share, with limits USER_FAILURE_FACTOR times larger (so guessing from many places
        is held back without one place shutting the user out)."""
        keys = [(self.failures, f"address:{request.remote_addr}")]
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username:
            keys.append((self.user_failures, f"user:{auth.username[:200]}"))
        return keys

    def _exceeded(self, items, group: str, keys: list[str], hit: bool) -> tuple[int | None, object]:
        """(seconds to wait, the limit) for the first limit the keys exceed, hitting it if ``hit``;
        (None, None) if none is exceeded or Redis does not answer."""
        for item in items:
            for key in keys:
                if self._ask(self.limiter.hit if hit else self.limiter.test, item, "storemon", group, key) is False:
                    stats = self._ask(self.limiter.get_window_stats, item, "storemon", group, key)
                    reset_at = stats.reset_time if stats is not None else time.time()
                    return max(1, math.ceil(reset_at - time.time())), item
        return None, None

    def _ask(self, question, *args):
        """Redis's answer to ``question(*args)``, or None while it does not answer."""
        if time.monotonic() < self._paused_until:
            return None
        try:
            return question(*args)
        except (StorageError, RedisError) as exc:
            self._paused_until = time.monotonic() + PAUSE_S
            log.warning("rate limits not checked for %d s, Redis did not answer: %s", PAUSE_S, exc)
            return None

    def close(self) -> None:
        self._pool.disconnect()


def _too_many(message: str, wait_s: int):
    return jsonify(error=message, status=429), 429, {"Retry-After": str(wait_s)}
