"""Stores as JSON: find them by id prefix or name, one store's timeline (why it was up or down) and
calendar (its hours, special hours and holidays), and retiring one.

Finding and the timeline follow the report endpoints' access rule; retiring needs an admin
token. The timeline is computed on request for the one store, by the batch report's own core
(``storemon.core.timeline``).
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from ..database import stores as store_records
from ..reports import lifecycle
from .arguments import group as group_argument, limit, text
from .services import current_services
from ..core.polls import DAY_US, LOOKBACK_US
from ..core.timeline import StoreTimeline, store_timeline
from .fleet import fleet_of
from ..database.queries import StoreRecord, find_stores, latest_poll_us, store_calendar, store_input, why_no_polls
from ..sources import parse_local_date
from .storeview import dated, describe, history, in_force_on, weekly, zone_history
from ..timeparse import format_instant, parse_as_of

stores = Blueprint("stores", __name__)
MAX_FOUND = 100



def requested_as_of() -> int | None:
    raw = text("as_of")
    if not raw:
        return None
    try:
        return parse_as_of(raw)
    except ValueError as exc:
        abort(400, f"bad as_of: {exc}")


def timeline_of(store_id: str, as_of_us: int | None) -> tuple[StoreRecord, StoreTimeline]:
    """The store's timeline as of ``as_of_us`` (default: the latest poll); 404 for an unknown store."""
    engine = current_services().engine
    if as_of_us is None:
        with engine.connect() as conn:
            as_of_us = latest_poll_us(conn)
            if as_of_us is None:
                abort(404, why_no_polls(conn))
    # the lookback, and a day either side so that polls it does not use can be shown as such
    found = store_input(engine, store_id, as_of_us - LOOKBACK_US - DAY_US, as_of_us + DAY_US)
    if found is None:
        abort(404, f"unknown store {store_id[:64]!r}")
    record, data = found
    return record, store_timeline(data, as_of_us)


MAX_DOWN_LISTED = 10_000


@stores.get("/stores/down")
def down():
    """The stores down now (open at the data's clock, their latest evidence poll inactive and at
    most POLL_INTERVAL old), longest down first: ``?group=`` of one group, ``?limit=`` at most
    so many listed (all are counted)."""
    most, group = limit(100, MAX_DOWN_LISTED), group_argument(request.args.get("group"))
    services = current_services()
    found = services.outages.down(group, most)
    return jsonify(as_of=None if found.as_of_us is None else format_instant(found.as_of_us),
                   poll_interval_s=services.settings.poll_interval, group=group, count=found.count,
                   stores=[{"store_id": d.store.store_id, "name": d.store.name, "groups": list(d.store.groups),
                            "since": format_instant(d.since_us), "since_exact": d.since_exact,
                            "last_poll": format_instant(d.last_poll_us)} for d in found.stores])


@stores.get("/stores/<path:store_id>/timeline")
def timeline(store_id: str):
    record, computed = timeline_of(store_id, requested_as_of())
    return jsonify(describe(record, computed))


@stores.get("/stores/<path:store_id>/calendar")
def calendar(store_id: str):
    """The store's weekly hours and zone, and its special hours and the holidays of the dates
    asked for (``from``, ``to``: local dates; by default every date; ``from`` after ``to``: none)."""
    bounds = []
    for name, default in (("from", 0), ("to", 1 << 30)):
        raw = text(name)
        try:
            bounds.append(parse_local_date(raw) if raw else default)
        except ValueError as exc:
            abort(400, f"bad {name}: {exc}")
    record = store_calendar(current_services().engine, store_id, *bounds)
    if record is None:
        abort(404, f"unknown store {store_id[:64]!r}")
    return jsonify({"store_id": record.store_id, "name": record.name, "groups": list(record.groups),
                    "timezone": record.timezone,
                    "hours": weekly(in_force_on(record.hours, None)), "hours_history": history(record.hours),
                    "timezone_history": zone_history(record),
                    "special_hours": dated(record.special), "holidays": dated(record.holidays)})


def weekly_uptime() -> tuple[str | None, dict[str, float | None]]:
    """The newest routine report's id and weekly uptime (%) by store, or (None, {})."""
    engine = current_services().engine
    latest = lifecycle.latest_routine(engine)
    if latest is None:
        return None, {}
    return latest.id, fleet_of(engine, latest.id).weekly_pct


@stores.get("/stores")
def search():
    raw = request.args.get("q", "")
    prefix = raw.strip()
    most = limit(20, MAX_FOUND)
    if len(raw) > 255:  # (as sent: the document's limit, whatever trimming leaves)
        abort(400, "q is longer than a store id can be (255 characters)")
    report_id, weekly = weekly_uptime()
    found = find_stores(current_services().engine, prefix, most)
    return jsonify(report_id=report_id, stores=[
        {"store_id": f.store_id, "name": f.name, "groups": list(f.groups), "timezone": f.timezone,
         "weekly_uptime_pct": weekly.get(f.store_id)} for f in found])


MAX_RETIRED = 1000  # stores one call may retire (the command line takes any number)


@stores.delete("/stores")
def retire_stores():
    """Retire the stores ``?store_id=`` names (repeated for several): each, with its hours,
    timezone and polls, deleted, all or none (an admin token)."""
    store_ids = list(dict.fromkeys(request.args.getlist("store_id")))
    if not store_ids or len(store_ids) > MAX_RETIRED:
        abort(400, f"name 1 to {MAX_RETIRED} stores to retire: ?store_id=ID, repeated for several")
    try:
        retired = store_records.retire(current_services().ingest_engine, store_ids)
    except store_records.UnknownStores as exc:
        return jsonify(error=f"{exc}; nothing was retired", status=404, unknown_store_ids=exc.store_ids), 404
    return jsonify(retired=store_ids, stores=retired.stores, polls=retired.polls)
