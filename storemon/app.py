"""The Flask application factory, in small register_* steps."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, jsonify
from redis import Redis
from rq import Queue
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from .config import Settings, load_settings
from .db import make_engine
from .queue import redis_client, report_queue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What request handlers share: one engine, one raw Redis client, one queue (thread-safe all)."""

    settings: Settings
    engine: Engine
    redis: Redis
    queue: Queue


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False
    register_services(app, settings)
    register_blueprints(app, settings)
    register_error_handlers(app)
    return app


def register_services(app: Flask, settings: Settings) -> None:
    redis = redis_client(settings.redis_url)
    app.extensions["storemon"] = Services(settings, make_engine(settings.database_url), redis,
                                          report_queue(redis, settings))


def register_blueprints(app: Flask, settings: Settings) -> None:
    from .api import api

    app.register_blueprint(api)
    if settings.dashboard_enabled:
        from .dashboard import mount_dashboard

        mount_dashboard(app, settings)


def register_error_handlers(app: Flask) -> None:
    """Every error is JSON naming the problem; a 500 never shows a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = jsonify(error=exc.description, status=exc.code)
        response.status_code = exc.code or 500
        for name in ("Allow", "WWW-Authenticate"):
            if exc.get_response().headers.get(name):
                response.headers[name] = exc.get_response().headers[name]
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        response = jsonify(error="internal error; the server log has the details", status=500)
        response.status_code = 500
        return response
