"""Who is calling, what they may do, and how often: bearer tokens and rate limits.

A request's token is checked at most once (the answer is kept on ``flask.g``). Rate
limits count per token, or per client address for a request without a valid one, in
the Redis the queue uses (the ``limits`` library's moving window: exact, and atomic there).
If Redis does not answer, requests are let through: limits protect the service, they
must not take it down.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, abort, current_app, g, jsonify, request
from limits import parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from . import tokens

log = logging.getLogger(__name__)

# Not limited: the health check (probes) and the dashboard (behind its own login).
UNLIMITED = {"api.health", "static"}
TRIGGER = "api.trigger_report"


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def caller() -> tokens.TokenInfo | None:
    """The owner of the request's valid token, or None (no token, or an unknown or revoked one)."""
    if "storemon_caller" not in g:
        token = bearer_token()
        g.storemon_caller = tokens.verify(current_app.extensions["storemon"].engine, token) if token else None
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

    def __init__(self, settings, redis_url: str):
        self.trigger = parse_many(settings.trigger_rate_limit) if settings.trigger_rate_limit else []
        self.general = parse_many(settings.api_rate_limit) if settings.api_rate_limit else []
        storage = RedisStorage(redis_url, wrap_exceptions=True, socket_timeout=1, socket_connect_timeout=1)
        self.limiter = MovingWindowRateLimiter(storage)

    def check(self):
        """Before each request: None to go on, or the 429 answer."""
        endpoint = request.endpoint or ""
        if endpoint in UNLIMITED or not endpoint or endpoint.startswith("rq_dashboard."):
            return None
        group, items = ("trigger", self.trigger) if endpoint == TRIGGER else ("api", self.general)
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
            log.warning("rate limits not checked, Redis did not answer: %s", exc)
        return None


def register_rate_limits(app: Flask, settings) -> None:
    limits = RateLimits(settings, settings.redis_url)
    app.before_request(limits.check)
