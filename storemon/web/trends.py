"""Trends as JSON (GET /trends): uptime within business hours per UTC day, of one store, one
group or the fleet, over the last days (computed by storemon/reports/trends.py, by the
report's own rules); the console draws the same."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, jsonify, request

from ..core.polls import day_of
from ..database.engines import reading
from ..database.queries import latest_poll_us
from ..database.trends import TREND_DAYS, Day, trend
from .arguments import group as group_argument, text
from .services import current_services
from ..timeparse import format_instant

trends = Blueprint("trends", __name__)
_EPOCH = date(1970, 1, 1)


def _hours(us: int) -> float:
    """Hours to 0.01, rounded half up in integers, as the report's CSV writes them."""
    return ((us + _CENTI_HOUR_US // 2) // _CENTI_HOUR_US) / 100


_CENTI_HOUR_US = 36_000_000


def day_json(d: Day) -> dict:
    return {"date": (_EPOCH + timedelta(days=d.day)).isoformat(), "uptime_h": _hours(d.up_us),
            "downtime_h": _hours(d.down_us),
            "uptime_pct": round(100 * d.up_us / d.business_us, 2) if d.business_us else None, "stores": d.stores}


def days_of(store_id: str | None = None, group: str | None = None, days: int = TREND_DAYS) -> tuple[int | None, list[Day]]:
    """(the data's clock, the complete days before it, at most ``days``, that have figures)."""
    engine = current_services().engine
    with reading(engine) as conn:
        newest = latest_poll_us(conn)
    if newest is None:
        return None, []
    last = int(day_of(newest)) - 1
    return newest, trend(engine, last - days + 1, last, store_id, group)


@trends.get("/trends")
def list_trends():
    """Uptime per day of a store (``store_id``), a group (``group``) or the fleet."""
    raw = request.args.get("days", str(TREND_DAYS))
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= TREND_DAYS:
        abort(400, f"days must be a whole number from 1 to {TREND_DAYS}")
    store_id, group = text("store_id") or None, group_argument(request.args.get("group"), empty_is_none=True)
    if store_id is not None and group is not None:
        abort(400, "give store_id or group, not both")
    newest, found = days_of(store_id, group, int(raw))
    return jsonify(as_of=format_instant(newest) if newest is not None else None, store_id=store_id, group=group,
                   days=[day_json(d) for d in found])
