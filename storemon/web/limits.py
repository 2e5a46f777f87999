"""How often: the rate limits of the API, and the limit on failed authentications.

Rate limits count per token, or per client address for a request without a valid one, in the
Redis the queue uses (the ``limits`` library's moving window: exact, and atomic there). Failed
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
import time
from collections.abc import Callable

from flask import g, jsonify, request
from limits import parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import ConnectionPool
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Not rate-limited: the health check (probes), metrics (scrapers) and the dashboard (behind its own login).
UNLIMITED = {"api.health", "static", "metrics.scrape"}
TRIGGERS = {"api.trigger_report", "console.trigger"}
PAUSE_S = 10
USER_FAILURE_FACTOR = 10


class RateLimits:
    """The trigger limit for POST /trigger_report, the general one for every other API call,
    and the limit on failed authentications."""

    def __init__(self, settings, owner_of_request: Callable[[], object | None]):
        self.trigger = parse_many(settings.trigger_rate_limit) if settings.trigger_rate_limit else []
        self.general = parse_many(settings.api_rate_limit) if settings.api_rate_limit else []
        self.failures = parse_many(settings.auth_failure_limit) if settings.auth_failure_limit else []
        self.user_failures = [type(item)(item.amount * USER_FAILURE_FACTOR, item.multiples) for item in self.failures]
        # Connections of its own with short timeouts: a frozen Redis delays a call by half a second.
        self._pool = ConnectionPool.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        storage = RedisStorage(settings.redis_url, connection_pool=self._pool, wrap_exceptions=True)
        self.limiter = MovingWindowRateLimiter(storage)
        self._paused_until = 0.0  # monotonic time until which Redis is not asked (it did not answer)
        self.owner_of_request = owner_of_request  # the request's valid token's owner (it has a .name), or None

    def check(self):
        """Before each request: None to go on, or the 429 answer."""
        endpoint = request.endpoint or ""
        if endpoint in UNLIMITED or not endpoint or endpoint.startswith("rq_dashboard."):
            return None
        group, items = ("trigger", self.trigger) if endpoint in TRIGGERS else ("api", self.general)
        owner = self.owner_of_request()
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
