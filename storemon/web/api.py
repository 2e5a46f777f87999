"""The HTTP API of the report contract: trigger a report, poll it, download its CSV; and a health check."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, Response, abort, jsonify, request, url_for
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from ..database import engines
from ..reports import formats, lifecycle, reconcile, submission
from ..core.windows import parse_windows
from ..reports.options import COLUMN_SETS, EXTENDED_COLUMNS, ReportOptions, retention_problem
from .arguments import flag, group as group_argument, limit
from .services import current_services
from ..timeparse import format_instant, parse_as_of

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)

HEALTH_TIMEOUT_S = 1.5  # /health answers within this, whatever is down
QUEUE_UNAVAILABLE = "the report queue (Redis) is unavailable; try again shortly"



def _json_body() -> dict | None:
    """The request body as a JSON object, None if there is none; 400 naming the problem otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser follows
        abort(400, "the request body is not valid JSON; send a JSON object, e.g. {\"as_of\": \"2023-01-25T18:00:00Z\"}")
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object, e.g. {\"as_of\": \"2023-01-25T18:00:00Z\"}")
    return body


TRIGGER_FIELDS = ("as_of", "columns", "group", "windows")  # what POST /trigger_report takes, in the query or a JSON body


def _trigger_field(name: str, body: dict | None) -> str | None:
    """A field of POST /trigger_report from the query string or the JSON body (given in both:
    the same); 400 naming the problem otherwise."""
    from_query = request.args.getlist(name)
    if len(from_query) > 1:
        abort(400, f"{name} is given more than once in the query string")
    from_body = None if body is None else body.get(name)
    if from_body is not None and not isinstance(from_body, str):
        abort(400, f"{name} must be a string" + (" holding an ISO 8601 instant" if name == "as_of" else ""))
    if from_query and from_body is not None and from_query[0] != from_body:
        abort(400, f"{name} is given twice, differently, in the query string and the body")
    return from_query[0] if from_query else from_body


def _windows_shown(options: ReportOptions) -> list[str]:
    """A report's windows as ``windows=`` names them: 1h, 1d, 7d and any longer ones."""
    return ["1h", "1d", "7d", *(f"{n}d" for n in options.days)]


def _trigger_request() -> tuple[int | None, ReportOptions]:
    """The as_of and options POST /trigger_report asks for; 400 naming the problem otherwise."""
    body = _json_body()
    if body is not None and (unknown := sorted(set(body) - set(TRIGGER_FIELDS))):
        abort(400, f"unknown field(s) in the request body: {', '.join(unknown)[:200]}; "
                   f"accepted: {', '.join(TRIGGER_FIELDS)}")
    as_of, columns, group, windows = (_trigger_field(name, body) for name in TRIGGER_FIELDS)
    try:
        as_of_us = None if as_of is None else parse_as_of(as_of)
    except ValueError as exc:
        abort(400, f"bad as_of: {exc}")
    if columns is not None and columns not in COLUMN_SETS:
        abort(400, f"columns must be standard or extended (got {columns[:40]!r})")
    try:
        days = parse_windows(windows) if windows is not None else ()
    except ValueError as exc:
        abort(400, f"bad windows: {exc}")
    if problem := retention_problem(days, current_services().settings.poll_retention_days):
        abort(400, f"bad windows: {problem}")
    return as_of_us, ReportOptions(columns == EXTENDED_COLUMNS, group_argument(group), days)


@api.post("/trigger_report")
def trigger_report():
    services = current_services()
    as_of_us, options = _trigger_request()
    try:
        report_id, coalesced = submission.submit(services.engine, services.queue, services.settings, as_of_us,
                                                 allow_future=flag("allow_future"), options=options)
    except submission.AfterNewestPoll as exc:
        abort(400, f"{exc}, or add allow_future=true to report on it anyway")
    except submission.QueueUnavailable:
        abort(503, QUEUE_UNAVAILABLE)
    response = jsonify(report_id=report_id)
    response.status_code = 202
    response.headers["Location"] = f"/get_report/{report_id}"
    if coalesced:  # the same request is queued already: its report answers this one too
        response.headers["X-Report-Coalesced"] = "true"
    return response


@api.get("/get_report")
def get_report_by_query():
    report_id = request.args.get("report_id")
    if not report_id:
        abort(400, "report_id is required: /get_report?report_id=ID or /get_report/ID")
    return get_report(report_id)


@api.get("/get_report/<report_id>")
def get_report(report_id: str):
    services = current_services()
    requested_format()  # (a bad format is refused whatever the report's state)
    try:
        state = (reconcile.state(services.engine, services.queue, services.settings, report_id)
                 if lifecycle.REPORT_ID.fullmatch(report_id) else None)
    except RedisError:
        log.exception("could not read the job of report %s", report_id)
        abort(503, QUEUE_UNAVAILABLE)
    if state is None:
        shown = report_id if len(report_id) <= 64 else report_id[:64] + "..."
        abort(404, f"unknown report id {shown!r}")
    if state.status == lifecycle.COMPLETE:
        return _report_response(state.row)
    if state.status == lifecycle.FAILED:
        return jsonify(report_id=state.row.id, status=lifecycle.FAILED, error=state.row.error or "the report failed")
    return jsonify(report_id=state.row.id, status=state.status, progress=state.progress), 202


def _instant(moment) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _described(state: reconcile.ReportState) -> dict:
    row = state.row
    return {
        "report_id": row.id, "status": state.status, "progress": state.progress,
        "requested_as_of": None if row.requested_as_of_us is None else format_instant(row.requested_as_of_us),
        "as_of": None if row.as_of_us is None else format_instant(row.as_of_us),
        "created_at": _instant(row.created_at), "started_at": _instant(row.started_at),
        "finished_at": _instant(row.finished_at),
        "duration_s": (round((row.finished_at - row.started_at).total_seconds(), 3)
                       if row.finished_at and row.started_at else None),
        "rows": row.row_count, "error": row.error,
        "columns": row.options.columns, "group": row.store_group, "windows": _windows_shown(row.options),
    }


_STATUSES = (lifecycle.PENDING, lifecycle.RUNNING, lifecycle.COMPLETE, lifecycle.FAILED)
MAX_PAGE = 100


@api.get("/reports")
def report_history():
    """The newest reports first, a page at a time: ``?status=&limit=&before=REPORT_ID``."""
    services = current_services()
    status = request.args.get("status")
    if status is not None and status not in _STATUSES:
        abort(400, f"status must be one of {', '.join(_STATUSES)}")
    page_size = limit(20, MAX_PAGE)
    before = None
    if (before_id := request.args.get("before")) is not None:
        if not lifecycle.REPORT_ID.fullmatch(before_id):
            abort(400, "before must be the report_id of a report, e.g. the last one of the previous page")
        before = lifecycle.find(services.engine, before_id)
        if before is None:
            abort(404, f"before names no report: unknown report id {before_id!r}")
    try:
        page = reconcile.history(services.engine, services.queue, services.settings, status=status, limit=page_size,
                               before=before)
    except RedisError:
        log.exception("could not read the jobs of unsettled reports")
        abort(503, QUEUE_UNAVAILABLE)
    following = None
    if len(page) == page_size:
        following = url_for("api.report_history", status=status, limit=page_size, before=page[-1].row.id)
    return jsonify(reports=[_described(state) for state in page], next=following)


@api.get("/reports/latest")
def latest_report():
    """The newest routine report's CSV (asked for without an as_of), as get_report serves it."""
    row = lifecycle.latest_routine(current_services().engine)
    if row is None:
        abort(404, "no routine report (an extended one of every store, as of the newest poll) is complete yet")
    return _report_response(row)


_ACCEPTED = {"text/csv": formats.CSV, "application/jsonl": formats.JSONL, "application/x-ndjson": formats.JSONL,
             "application/vnd.apache.parquet": formats.PARQUET}


def requested_format() -> str:
    """The format a finished report is served in: ``?format=``, else the best of the Accept
    header's (CSV when it names none of them)."""
    if (asked := request.args.get("format")) is not None:
        if asked not in formats.FORMATS:
            abort(400, f"format must be one of {', '.join(formats.FORMATS)} (got {asked[:40]!r})")
        return asked
    return _ACCEPTED[request.accept_mimetypes.best_match(list(_ACCEPTED), default="text/csv")]


def _report_response(row: lifecycle.ReportRow) -> Response:
    # Served from the row, the durable copy; the job's RQ result holds the same bytes for RQ's users.
    fmt = requested_format()
    body = formats.converted(lifecycle.csv_of(current_services().engine, row.id), fmt)
    response = Response(body, mimetype=formats.MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f"attachment; filename=report-{row.id}{formats.SUFFIXES[fmt]}"
    response.vary.add("Accept")
    response.headers["X-Report-Status"] = lifecycle.COMPLETE
    response.headers["X-Report-As-Of"] = format_instant(row.as_of_us)
    return response


def _database_health(engine) -> str:
    engines.check_schema(engine)
    return "ok"


def _redis_health(services) -> tuple[str, int | None]:
    services.redis.ping()
    try:
        queue = services.queue  # (named by the database's identity, which needs the database once)
    except SQLAlchemyError:
        return "ok", None  # the database check says what is wrong with it
    return "ok", queue.count


@api.get("/health")
def health():
    """Each dependency checked in its own thread, so a frozen one costs HEALTH_TIMEOUT_S, not a hang."""
    services = current_services()
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    database = services.checks.submit(_database_health, services.engine)
    redis = services.checks.submit(_redis_health, services)
    checks, healthy = {}, True
    for name, future in (("database", database), ("redis", redis)):
        try:
            outcome = future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            checks[name], healthy = f"no answer within {HEALTH_TIMEOUT_S} s", False
        except engines.SchemaError as exc:
            checks[name], healthy = str(exc), False
        except Exception as exc:  # report, don't raise: this is what the endpoint is for
            checks[name], healthy = f"unreachable ({engines.describe(exc) if name == 'database' else exc})", False
        else:
            if name == "redis":
                checks["redis"], checks["queue_depth"] = outcome
            else:
                checks[name] = outcome
    return jsonify(status="ok" if healthy else "unavailable", **checks), 200 if healthy else 503
