"""Trends as JSON (GET /trends): uptime within business hours per UTC day, of one store, one
group or the fleet, over the last days (computed by storemon/reports/trends.py, by the
report's own rules); the console draws the same."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, jsonify, request

from ..core.csvout import in_hundredths
from ..core.polls import HOUR_US, day_of
from ..database.engines import reading
from ..database.queries import latest_poll_us, named_stores
from ..database.trends import TREND_DAYS, Day, trend
from .arguments import group as group_argument, text
from .services import current_services
from ..timeparse import format_instant

trends = Blueprint("trends", __name__)
_EPOCH = date(1970, 1, 1)


def day_json(d: Day) -> dict:
    """A day as the API and the charts show it, its hours as the report's CSV writes them."""
    return {"date": _date(d.day), "uptime_h": in_hundredths(d.up_us, HOUR_US),
            "downtime_h": in_hundredths(d.down_us, HOUR_US),
            "uptime_pct": round(100 * d.up_us / d.business_us, 2) if d.business_us else None, "stores": d.stores}


def _date(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat()


def days_of(store_id: str | None = None, group: str | None = None, days: int = TREND_DAYS
            ) -> tuple[int | None, range, list[Day]]:
    """(the data's clock, the last ``days`` complete days before it, those of them that have figures)."""
    engine = current_services().engine
    with reading(engine) as conn:
        newest = latest_poll_us(conn)
    if newest is None:
        return None, range(0), []
    last = int(day_of(newest)) - 1
    return newest, range(last - days + 1, last + 1), trend(engine, last - days + 1, last, store_id, group)


def chart_of(span: range, found: list[Day]) -> list[dict]:
    """Every day of the span, as ``day_json`` or, without figures, its date alone: a chart's bars by date."""
    by_day = {d.day: d for d in found}
    first = next((d for d in span if d in by_day), span.stop)  # (from the first day with figures)
    return [day_json(by_day[d]) if d in by_day else {"date": _date(d), "uptime_pct": None, "missing": True}
            for d in span if d >= first]


@trends.get("/trends")
def list_trends():
    """Uptime per day of a store (``store_id``), a group (``group``) or the fleet."""
    raw = request.args.get("days", str(TREND_DAYS))
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= TREND_DAYS:
        abort(400, f"days must be a whole number from 1 to {TREND_DAYS}")
    store_id, group = text("store_id") or None, group_argument(request.args.get("group"), empty_is_none=True)
    if store_id is not None and group is not None:
        abort(400, "give store_id or group, not both")
    if store_id is not None and not named_stores(current_services().engine, [store_id]):
        abort(404, f"unknown store {store_id[:64]!r}")
    newest, _, found = days_of(store_id, group, int(raw))
    return jsonify(as_of=format_instant(newest) if newest is not None else None, store_id=store_id, group=group,
                   days=[day_json(d) for d in found])
