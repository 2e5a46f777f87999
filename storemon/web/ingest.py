"""Ingestion over HTTP: POST /polls, PUT /business_hours, PUT /timezones, PUT /special_hours,
PUT /holidays, PUT /stores (the store directory).

A body is one source in the loader's sense (CSV with its header, plain or gzip, or a JSON
array of objects), read and checked by the same code as ``python -m storemon load`` and
written the same way: all or nothing, in one transaction, under the load lock, a block or
a batch at a time, so an ingestion's memory is bounded by the batch, not by the body. Once
it commits, an evaluation of the incidents is queued (storemon/alerts/): the answer does not
wait for it. A
process runs at most CONCURRENT_INGESTIONS at once (storemon/web/services.py: they would
only wait for the lock, each holding a thread); another is answered 503 with Retry-After. Every call needs a token with
the ``ingest`` scope.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from flask import Blueprint, abort, jsonify, request

from .. import sources
from .arguments import flag, text
from .services import CONCURRENT_INGESTIONS, current_services
from ..database.loader import LoadSummary, load_sources
from ..database.stores import UnknownStores
from ..database.engines import database_id
from ..memory import release_free_memory
from ..alerts.queue import enqueue_evaluation
from ..reports.tallies import tally_ingested

log = logging.getLogger(__name__)
ingest = Blueprint("ingest", __name__)

CSV_TYPES = {"text/csv", "application/csv"}
JSON_TYPES = {"application/json"}
SHOWN_REJECTED = 100  # bad rows listed in detail in an answer; all are counted
RETRY_AFTER_S = 5
RELEASE_AFTER_BYTES = 1 << 20  # after a body larger than this, freed memory is handed back (a few ms)



@ingest.before_request
def _allow_large_bodies():
    # Larger than the report endpoints' limit (MAX_CONTENT_LENGTH); Werkzeug answers 413 past it.
    request.max_content_length = current_services().settings.max_ingest_bytes


@ingest.post("/polls")
def polls():
    """Append polls; a poll stored already is stored once (inactive wins)."""
    return _ingest(sources.POLLS)


@ingest.put("/business_hours")
def business_hours():
    """A new version of the weekly hours of every store the body names (``effective_date``)."""
    return _ingest(sources.HOURS)


@ingest.put("/timezones")
def timezones():
    """A new version of the timezone of every store the body names (``effective_date``)."""
    return _ingest(sources.TIMEZONES)


@ingest.put("/special_hours")
def special_hours():
    """Replace the special hours of every store and local date the body names."""
    return _ingest(sources.SPECIAL_HOURS)


@ingest.put("/holidays")
def holidays():
    """Replace the chain's holidays on every local date the body names."""
    return _ingest(sources.HOLIDAYS)


@ingest.put("/stores")
def directory():
    """Replace the name and group labels of every store the body names."""
    return _ingest(sources.STORE_DIRECTORY)


def _body_source() -> sources.Source:
    """The request body as a source, by its Content-Type and Content-Encoding."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        abort(415, f"Content-Encoding {encoding!r} is not supported; send the body plain or gzip")
    kind_of_body = (sources.CsvSource if request.mimetype in CSV_TYPES
                    else sources.JsonSource if request.mimetype in JSON_TYPES else None)
    if kind_of_body is not None:
        return kind_of_body.of_stream("request body", request.stream, gzipped=encoding == "gzip",
                                      max_inflated=current_services().settings.max_ingest_inflated_bytes)
    abort(415, f"Content-Type must be text/csv or application/json (got {request.mimetype or 'none'})")


def _rejected(rows: list[sources.Rejected]) -> list[dict]:
    return [{"index" if r.unit == "item" else "line": r.line, "problem": r.problem} for r in rows]


def _ingest(kind: str):
    skip_bad, create = flag("skip_bad"), flag("create", default=True)
    effective_date = None
    if raw := text("effective_date"):
        if kind not in (sources.HOURS, sources.TIMEZONES):
            abort(400, f"effective_date applies to business hours and timezones, not to {kind}")
        try:
            effective_date = sources.parse_local_date(raw)
        except ValueError as exc:
            abort(400, f"bad effective_date: {exc}")
    turns = current_services().ingestions
    if not turns.acquire(blocking=False):
        return (jsonify(error=f"{CONCURRENT_INGESTIONS} ingestions are in progress in this process; "
                              f"retry in {RETRY_AFTER_S} s", status=503), 503, {"Retry-After": str(RETRY_AFTER_S)})
    try:
        return _ingested(kind, skip_bad, create, effective_date)
    finally:
        turns.release()
        if request.content_length is None or request.content_length > RELEASE_AFTER_BYTES:
            release_free_memory()  # what a large body's batches took, back to the system


def _ingested(kind: str, skip_bad: bool, create: bool, effective_date: int | None):
    services = current_services()
    try:
        summary: LoadSummary = load_sources(services.ingest_engine, {kind: _body_source()},
                                            skip_bad=skip_bad, keep_rejected=SHOWN_REJECTED, create=create,
                                            effective_date=effective_date)
    except sources.SourceTooLarge as exc:
        abort(413, f"{exc}; nothing was stored")
    except UnknownStores as exc:
        return jsonify(error=f"{exc}; nothing was stored (create=false names existing stores only)", status=400,
                       unknown_store_ids=exc.store_ids), 400
    except sources.SourceError as exc:
        answer = {"error": f"{exc}; nothing was stored (?skip_bad=true stores the good rows)"
                  if exc.rejected else f"{exc}; nothing was stored", "status": 400}
        if exc.rejected:
            answer["rejected"] = _rejected(exc.rejected)
        return jsonify(answer), 400
    tally_ingested(services.redis, database_id(services.engine), kind, summary.rows_read, summary.rejected_lines)
    try:
        enqueue_evaluation(services.alerts)
    except RedisError as exc:  # stored all the same: the clock's watch evaluates it
        log.warning("incident evaluation not queued (%s); the clock's watch will do it", exc)
    answer = {"rows_read": summary.rows_read, "new_polls": summary.new_polls, "stores": summary.stores,
              "rejected": _rejected(summary.rejected), "rejected_count": summary.rejected_lines,
              "new_stores": summary.new_stores, "new_store_ids": summary.new_store_ids,
              "seconds": round(summary.seconds, 3)}
    if summary.unknown_timezones:
        answer["unknown_timezones"] = summary.unknown_timezones
        answer["unknown_timezone_count"] = summary.unknown_timezone_count
    log.info("ingested %s: %d rows, %d new polls, %d stores, %d rejected, %.3f s", kind, summary.rows_read,
             summary.new_polls, summary.stores, summary.rejected_lines, summary.seconds)
    return jsonify(answer)
