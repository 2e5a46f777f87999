"""The HTTP API of SPEC's contract: trigger a report, poll it, download its CSV; and a health check."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta, UTC

from flask import Blueprint, Response, abort, current_app, jsonify, request
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import text

from . import reports
from .queue import enqueue_report, failure_reason, job_state
from .timeparse import format_instant, parse_as_of

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)

_REPORT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A row with no job is "lost" only after this long: the POST commits the row before it
# enqueues, so a GET in between must not call the report lost.
_ENQUEUE_GRACE = timedelta(seconds=30)


def _services():
    return current_app.extensions["storemon"]


def _requested_as_of() -> int | None:
    """``as_of`` from the query string or a JSON body; 400 naming the problem otherwise."""
    from_query = request.args.get("as_of")
    from_body = None
    if request.get_data(cache=True):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, "the request body must be a JSON object, e.g. {\"as_of\": \"2023-01-25T18:00:00Z\"}")
        unknown = sorted(set(body) - {"as_of"})
        if unknown:
            abort(400, f"unknown field(s) in the request body: {', '.join(unknown)}; only as_of is accepted")
        from_body = body.get("as_of")
        if from_body is not None and not isinstance(from_body, str):
            abort(400, "as_of must be a string holding an ISO 8601 instant")
    if from_query is not None and from_body is not None and from_query != from_body:
        abort(400, "as_of is given twice, differently, in the query string and the body")
    value = from_query if from_query is not None else from_body
    if value is None:
        return None
    try:
        return parse_as_of(value)
    except ValueError as exc:
        abort(400, f"bad as_of: {exc}")


@api.post("/trigger_report")
def trigger_report():
    services = _services()
    as_of_us = _requested_as_of()
    report_id = secrets.token_urlsafe(24)
    # The row is committed before the job exists, so the worker always finds it.
    reports.create(services.engine, report_id, as_of_us)
    try:
        enqueue_report(services.queue, services.settings, report_id)
    except RedisError:
        log.exception("could not enqueue report %s", report_id)
        reports.mark_failed(services.engine, report_id, "the report could not be queued")
        abort(503, "the report queue is unavailable; try again shortly")
    response = jsonify(report_id=report_id)
    response.status_code = 202
    response.headers["Location"] = f"/get_report/{report_id}"
    return response


@api.get("/get_report")
def get_report_by_query():
    report_id = request.args.get("report_id")
    if not report_id:
        abort(400, "report_id is required: /get_report?report_id=ID or /get_report/ID")
    return get_report(report_id)


@api.get("/get_report/<report_id>")
def get_report(report_id: str):
    services = _services()
    row = reports.find(services.engine, report_id) if _REPORT_ID.fullmatch(report_id) else None
    if row is None:
        abort(404, f"unknown report id {report_id!r}")
    job = None
    if row.status not in (reports.COMPLETE, reports.FAILED):
        try:
            state = job_state(services.queue, report_id)
        except RedisError:
            log.exception("could not read job %s", report_id)
            abort(503, "the report queue is unavailable; try again shortly")
        if state is not None and state.status in (reports.PENDING, reports.RUNNING):
            return _progress(row.id, state.status, state.progress)
        if state is None and datetime.now(UTC) - row.created_at < _ENQUEUE_GRACE:
            return _progress(row.id, reports.PENDING, 0.0)
        # The job is over, or lost: settle the row (a killed worker never ran our failure code).
        if state is None:
            reports.mark_failed(services.engine, report_id, "the report job was lost from the queue")
        elif state.status == reports.FAILED:
            reports.mark_failed(services.engine, report_id, failure_reason(state.job))
        row, job = reports.find(services.engine, report_id), state and state.job
    if row.status == reports.COMPLETE:
        return _csv_response(row, job)
    if row.status == reports.FAILED:
        return _failed(row.id, row.error)
    return _progress(row.id, reports.RUNNING, 1.0)  # finished in RQ; its commit is not visible yet


def _progress(report_id: str, status: str, progress: float):
    response = jsonify(report_id=report_id, status=status, progress=progress)
    response.status_code = 202
    return response


def _failed(report_id: str, error: str | None):
    return jsonify(report_id=report_id, status=reports.FAILED, error=error or "the report failed")


def _csv_response(row: reports.ReportRow, job=None) -> Response:
    try:  # the job's result while RQ keeps it; the row is the durable copy
        csv = (job or Job.fetch(row.id, connection=_services().redis)).return_value()
    except (NoSuchJobError, RedisError):  # expired, flushed or unreachable: the database has it
        csv = None
    if not isinstance(csv, bytes):
        csv = reports.csv_of(_services().engine, row.id)
    response = Response(csv, mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=report-{row.id}.csv"
    response.headers["X-Report-Status"] = reports.COMPLETE
    response.headers["X-Report-As-Of"] = format_instant(row.as_of_us)
    return response


@api.get("/health")
def health():
    services = _services()
    checks, healthy = {}, True
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't raise: this is what the endpoint is for
        checks["database"], healthy = f"unreachable ({type(exc).__name__})", False
    try:
        services.redis.ping()
        checks["redis"] = "ok"
        checks["queue_depth"] = services.queue.count
    except RedisError as exc:
        checks["redis"], healthy = f"unreachable ({type(exc).__name__})", False
    response = jsonify(status="ok" if healthy else "unavailable", **checks)
    response.status_code = 200 if healthy else 503
    return response
