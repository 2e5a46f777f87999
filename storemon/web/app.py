"""The Flask application factory, in small register_* steps."""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from ..database import engines
from .. import logs
from .access import authorize, caller
from .limits import RateLimits
from ..config import Settings, load_settings
from .metrics import Metrics
from .outages import Outages
from .services import Services, current_services
from .storeview import duration
from ..reports.queue import redis_client
from ..timeparse import format_instant

log = logging.getLogger(__name__)


class JSONProvider(DefaultJSONProvider):
    """Bytes (a report job's CSV result, as rq-dashboard shows it) become a short text preview."""

    @staticmethod
    def default(o):
        if isinstance(o, bytes):
            head = o[:300].decode("utf-8", "replace")
            return f"{len(o):,} bytes: {head}" + ("..." if len(o) > 300 else "")
        return DefaultJSONProvider.default(o)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False
    # the console's session cookie: signed, never read by scripts, not sent by other sites' forms
    app.secret_key = settings.secret_key or secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies)
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops,
                                x_host=settings.proxy_hops)
    register_request_log(app)
    register_security_headers(app)
    register_services(app, settings)
    limits = app.extensions["storemon"].rate_limits
    app.before_request(limits.refuse_failing)  # first: a client locked out gets no answer about its credentials
    app.before_request(limits.check)
    app.before_request(authorize)
    app.after_request(limits.count_failure)
    register_blueprints(app, settings)
    register_error_handlers(app)
    return app


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_log = logging.getLogger("storemon.requests")


def register_request_log(app: Flask) -> None:
    """Each request logged once, when answered: method, path, status, duration, and its id
    (the caller's ``X-Request-ID`` if it is sane, else a new one), which the answer carries back
    and every log line written for the request shows."""

    @app.before_request
    def _begin():
        sent = request.headers.get("X-Request-ID", "")
        g.request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        g.request_id_token = logs.request_id.set(g.request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def _answered(response):
        if "request_started" in g:
            duration_ms = round((time.perf_counter() - g.request_started) * 1000, 1)
            response.headers["X-Request-ID"] = g.request_id
            route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
            current_services().metrics.observe_request(request.method, route, response.status_code,
                                                       duration_ms / 1000)
            request_log.info("%s %s %s %.1f ms", request.method, request.path, response.status_code, duration_ms,
                             extra={"method": request.method, "path": request.path,
                                    "status": response.status_code, "duration_ms": duration_ms})
        return response

    @app.teardown_request
    def _end(_exc):
        if "request_id_token" in g:
            logs.request_id.reset(g.pop("request_id_token"))


# Pages of this service never run in another site's frame, nor load or send anything
# elsewhere. The console runs no inline code; Swagger UI and rq-dashboard (third-party
# pages) carry inline scripts and styles, so their pages allow those, and rq-dashboard's
# templates (underscore's _.template) compile with eval.
_PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
                "form-action 'self'; frame-ancestors 'none'")
_THIRD_PARTY_PAGES = {"docs": "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
                      "rq_dashboard": "script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'"}


def register_security_headers(app: Flask) -> None:
    """Every answer: no MIME sniffing, no referrer beyond this site; every HTML page: a
    Content Security Policy and no framing (clickjacking)."""

    @app.after_request
    def _secure(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            policy = _PAGE_POLICY
            if request.blueprint in _THIRD_PARTY_PAGES:
                policy += "; " + _THIRD_PARTY_PAGES[request.blueprint]
            response.headers["Content-Security-Policy"] = policy
            response.headers["X-Frame-Options"] = "DENY"
        return response


def register_services(app: Flask, settings: Settings) -> None:
    redis = redis_client(settings.redis_url)
    engine = engines.make_engine(settings.database_url, connect_timeout_s=settings.database_timeout,
                            statement_timeout_s=settings.database_timeout)
    ingest_engine = engines.make_engine(settings.database_url, connect_timeout_s=settings.database_timeout,
                                   statement_timeout_s=settings.ingest_timeout)
    outages = Outages(engine, settings.poll_interval)
    app.extensions["storemon"] = Services(settings, engine, ingest_engine, redis,
                                          ThreadPoolExecutor(4, thread_name_prefix="health"), RateLimits(settings, caller),
                                          Metrics(engine, redis, lambda: app.extensions["storemon"].queue, outages),
                                          outages)


def register_blueprints(app: Flask, settings: Settings) -> None:
    from .api import api
    from .console import console
    from .incidents import incidents
    from .ingest import ingest
    from .metrics import metrics_blueprint
    from .openapi import docs, openapi
    from .stores import stores
    from .slo import slo
    from .trends import trends
    from .webhooks import webhooks

    app.register_blueprint(api)
    app.register_blueprint(ingest)
    app.register_blueprint(stores)
    app.register_blueprint(incidents)
    app.register_blueprint(slo)
    app.register_blueprint(trends)
    app.register_blueprint(webhooks)
    app.register_blueprint(console)
    app.register_blueprint(metrics_blueprint(app.extensions["storemon"].metrics))
    app.register_blueprint(openapi)
    app.register_blueprint(docs)
    app.add_template_filter(format_instant, "instant")
    app.add_template_filter(duration, "duration")
    if settings.dashboard_enabled:
        from .dashboard import mount_dashboard

        mount_dashboard(app, settings)
    else:
        from .dashboard import dashboard_off

        app.register_blueprint(dashboard_off)


_TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
           405: "Method not allowed", 413: "Too large", 429: "Too many requests", 500: "Something went wrong",
           503: "Unavailable for a moment"}


def _wants_page() -> bool:
    """A person's browser asking for a page of the console (or for a path that is none): they
    get an HTML page; API clients, and any client that prefers JSON or takes anything, JSON."""
    if request.blueprint not in (None, "console") or request.path.startswith(("/static/", "/rq")):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _error(message: str, status: int, headers=None):
    if _wants_page():
        try:
            page = render_template("error.html", status=status, title=_TITLES.get(status, "Error"), message=message)
        except Exception:  # (a page that cannot be drawn: the JSON below still says what is wrong)
            log.exception("the error page could not be drawn")
        else:
            return page, status, headers or {}
    return jsonify(error=message, status=status), status, headers or {}


def register_error_handlers(app: Flask) -> None:
    """Every error is JSON naming the problem; a 500 never shows a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        own = exc.get_response().headers
        if isinstance(exc, RequestEntityTooLarge) and exc.description == RequestEntityTooLarge.description:
            exc.description = (f"the request body is larger than the {request.max_content_length:,} bytes "
                               "this endpoint accepts")
        return _error(exc.description, exc.code or 500,
                      {name: own[name] for name in ("Allow", "WWW-Authenticate", "Retry-After") if name in own})

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def database_error(exc: sa_exc.SQLAlchemyError):
        if _schema_missing(exc):
            return _error(f"the database has no storemon schema, or an old one; {engines.INIT_DB_HINT}", 503)
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)) \
                or engines.is_transient(exc):
            log.warning("database unavailable: %s", engines.describe(exc))
            return _error("the database is unavailable; try again shortly", 503, {"Retry-After": "5"})
        return unexpected(exc)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return _error("internal error; the server log has the details", 500)


def _schema_missing(exc: sa_exc.SQLAlchemyError) -> bool:
    """A table or column the code needs is not there: the schema was never created or is behind."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate in ("42P01", "42703") or any(s in str(orig) for s in ("no such table", "no such column"))
