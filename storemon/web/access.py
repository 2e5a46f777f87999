"""Who is calling, what they may do, and how often: bearer tokens and rate limits.

A request's token is checked at most once (the answer is kept on ``flask.g``). Rate
limits count per token, or per client address for a request without a valid one, in
the Redis the queue uses (the ``limits`` library's moving window: exact, and atomic there).
If Redis does not answer, requests are let through, and for a few seconds limits are not
even tried, so a frozen Redis costs one timeout, not one per request: limits protect
the service, they must not take it down.
"""

from __future__ import annotations

import logging
import math
import secrets
import time

from flask import abort, g, jsonify, request, session
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

# Not limited: the health check (probes), metrics (scrapers) and the dashboard (behind its own login).
UNLIMITED = {"api.health", "static", "metrics.scrape"}
TRIGGERS = {"api.trigger_report", "console.trigger"}
PAUSE_S = 10


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def dashboard_login(settings) -> bool:
    """Whether the request bears the dashboard's basic-auth login (never, if none is set)."""
    auth = request.authorization
    return (settings.dashboard_enabled and auth is not None and auth.type == "basic"
            and secrets.compare_digest((auth.username or "").encode(), settings.dashboard_user.encode())
            and secrets.compare_digest((auth.password or "").encode(), settings.dashboard_password.encode()))


def caller() -> tokens.TokenInfo | None:
    """The owner of the request's valid token, or None (no token, or an unknown or revoked one).

    The token is the bearer token, or for a GET the one a person signed in to the console
    with (its hash is in the signed session cookie; a cookie never authorises a change,
    which a page elsewhere could make a browser send)."""
    if "storemon_caller" not in g:
        engine = current_services().engine
        token = bearer_token()
        if token:
            g.storemon_caller = tokens.verify(engine, token)
        elif request.method in ("GET", "HEAD") and isinstance(digest := session.get("token_hash"), str):
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


class RateLimits:
    """The trigger limit for POST /trigger_report, the general one for every other API call."""

    def __init__(self, settings):
        self.trigger = parse_many(settings.trigger_rate_limit) if settings.trigger_rate_limit else []
        self.general = parse_many(settings.api_rate_limit) if settings.api_rate_limit else []
        # Connections of its own with short timeouts: a frozen Redis delays a call by half a second.
        self._pool = ConnectionPool.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        storage = RedisStorage(settings.redis_url, connection_pool=self._pool, wrap_exceptions=True)
        self.limiter = MovingWindowRateLimiter(storage)
        self._paused_until = 0.0  # monotonic time until which Redis is not asked (it did not answer)

    def check(self):
        """Before each request: None to go on, or the 429 answer."""
        endpoint = request.endpoint or ""
        if endpoint in UNLIMITED or not endpoint or endpoint.startswith("rq_dashboard.") \
                or time.monotonic() < self._paused_until:
            return None
        group, items = ("trigger", self.trigger) if endpoint in TRIGGERS else ("api", self.general)
        owner = caller()
        key = f"token:{owner.name}" if owner else f"address:{request.remote_addr}"
        try:
            for item in items:
                if not self.limiter.hit(item, "storemon", group, key):
                    reset_at = self.limiter.get_window_stats(item, "storemon", group, key).reset_time
                    wait_s = max(1, math.ceil(reset_at - time.time()))
                    response = jsonify(error=f"rate limit exceeded: at most {item} for this "
                                             f"{'token' if owner else 'client address'}; retry in {wait_s} s",
                                       status=429)
                    return response, 429, {"Retry-After": str(wait_s)}
        except (StorageError, RedisError) as exc:
            self._paused_until = time.monotonic() + PAUSE_S
            log.warning("rate limits not checked for %d s, Redis did not answer: %s", PAUSE_S, exc)
        return None

    def close(self) -> None:
        self._pool.disconnect()
