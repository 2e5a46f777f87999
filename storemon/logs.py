"""Logging for every process (web, worker, clock, CLI), set up in one place.

``LOG_LEVEL`` and ``LOG_FORMAT`` (``text``, or ``json``: one object a line for log
platforms). Every line carries the request id or the report id it was written for, when
there is one: the web process sets the first per request, the report job the second.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import datetime, UTC

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
report_id: ContextVar[str | None] = ContextVar("report_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s"
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "ids", "request_id", "report_id"}


class _Ids(logging.Filter):
    """Puts the current request and report ids on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or request_id.get()
        record.report_id = getattr(record, "report_id", None) or report_id.get()
        parts = [f"request={record.request_id}" if record.request_id else "",
                 f"report={record.report_id}" if record.report_id else ""]
        record.ids = "".join(f" [{p}]" for p in parts if p)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ids, any ``extra`` fields, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in ("request_id", "report_id"):
            if getattr(record, key, None):
                line[key] = getattr(record, key)
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(settings) -> None:
    """Replace the root logger's handlers with one on stderr, in the settings' level and format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Ids())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Alembic narrates every migration step at INFO; init-db says in one line what it did.
    logging.getLogger("alembic").setLevel("DEBUG" if settings.log_level == "DEBUG" else "WARNING")
