"""A store's timeline for people: local times, the rule of each session in words, and the
geometry of the 7-day chart. The JSON of ``GET /stores/ID/timeline`` and the store page
are both made from ``describe``."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

from ..core.csvout import row_values
from ..core.localtime import zone
from ..core.timeline import (AFTER_AS_OF, BEFORE_LOOKBACK, EVIDENCE, FIRST_LATER, LAST_KNOWN, NO_EVIDENCE,
                            OUTSIDE_HOURS, StoreTimeline)
from ..core.windows import DOWNTIME_COLUMNS, UPTIME_COLUMNS
from ..database.queries import StoreRecord
from ..timeparse import format_instant

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CHART_DAYS = 7
POLL_USE = {EVIDENCE: "evidence", OUTSIDE_HOURS: "ignored: outside business hours",
            BEFORE_LOOKBACK: "ignored: before the 8-day lookback", AFTER_AS_OF: "ignored: after as_of"}


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _local(us: int, tz) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000).astimezone(tz)


def _short(moment: datetime, with_day: bool = False) -> str:
    """10:44:30, or Tue 14:10 (seconds shown only when there are some)."""
    text = moment.strftime("%H:%M:%S" if moment.second or moment.microsecond else "%H:%M")
    return f"{moment.strftime('%a')} {text}" if with_day else text


def explain(session, tz) -> str:
    """The rule that filled a session, in words."""
    if session.rule == NO_EVIDENCE:
        return "no evidence poll in 8 days: down"
    if session.rule in (LAST_KNOWN, FIRST_LATER):
        state = "active" if session.lender_up else "inactive"
        when = _short(_local(session.lender_us, tz), with_day=True)
        if session.rule == LAST_KNOWN:
            return f"no poll in this session: last known state, {state}, from {when}"
        return f"no poll in this session or before it: first later state, {state}, from {when}"
    state = "up" if session.segments[0].up else "down"
    if not session.switches_us:
        return f"from its own polls: {state} throughout"
    switches = ", ".join(_short(_local(us, tz)) for us in session.switches_us)
    return f"from its own polls, {state} at first, switching at {switches}"


def describe(record: StoreRecord, timeline: StoreTimeline) -> dict:
    tz = zone(record.timezone)

    def instant(us: int) -> dict:
        return {"utc": format_instant(us), "local": _local(us, tz).isoformat()}

    sessions = [{
        "start": instant(s.start_us), "end": instant(s.end_us), "rule": s.rule, "explanation": explain(s, tz),
        "segments": [{"start": format_instant(g.start_us), "end": format_instant(g.end_us),
                      "status": "up" if g.up else "down", "seconds": (g.end_us - g.start_us) / 1e6}
                     for g in s.segments],
    } for s in timeline.sessions]
    polls = [{"timestamp_utc": format_instant(p.ts_us), "local": _local(p.ts_us, tz).isoformat(),
              "status": "active" if p.active else "inactive", "use": p.role, "explanation": POLL_USE[p.role]}
             for p in timeline.polls]
    listed = timeline.up_us is not None
    return {
        "store_id": record.store_id,
        "timezone": record.timezone,
        "timezone_used": tz.key,
        "as_of": instant(timeline.as_of_us),
        "hours": [{"day": DAYS[day], "weekday": day, "start": _clock(start), "end": _clock(end)}
                  for day, start, end in record.hours] or None,
        "listed": listed,
        "totals_us": dict(zip((*UPTIME_COLUMNS, *DOWNTIME_COLUMNS), (*timeline.up_us, *timeline.down_us)))
                      if listed else None,
        "row": dict(zip((*UPTIME_COLUMNS, *DOWNTIME_COLUMNS), row_values(timeline.up_us, timeline.down_us)))
               if listed else None,
        "sessions": sessions,
        "polls": polls,
    }


def chart_days(timeline: StoreTimeline, timezone: str | None) -> list[dict]:
    """The last 7 local days up to as_of, one band each: positions are percentages of the
    day's real length (23 or 25 hours on a DST night), with every third local hour marked."""
    tz = zone(timezone)
    as_of = _local(timeline.as_of_us, tz)
    return [_band(timeline, tz, (as_of - timedelta(days=back)).date(), back == 0)
            for back in range(CHART_DAYS - 1, -1, -1)]


def _band(timeline: StoreTimeline, tz, date, last: bool) -> dict:
    start = datetime(date.year, date.month, date.day, tzinfo=tz)
    following = date + timedelta(days=1)
    start_us = int(start.timestamp()) * 1_000_000
    end_us = int(datetime(following.year, following.month, following.day, tzinfo=tz).timestamp()) * 1_000_000
    span = end_us - start_us

    def x(us: int) -> float:
        return round(100 * (min(max(us, start_us), end_us) - start_us) / span, 4)

    sessions, segments = [], []
    for s in timeline.sessions:
        if min(s.end_us, end_us) > max(s.start_us, start_us):
            sessions.append({"x": x(s.start_us), "w": x(s.end_us) - x(s.start_us),
                             "title": f"business session {_short(_local(s.start_us, tz))}-"
                                      f"{_short(_local(s.end_us, tz))}: {explain(s, tz)}"})
        for g in s.segments:
            a, b = max(g.start_us, start_us), min(g.end_us, end_us)
            if b > a:
                segments.append({"x": x(a), "w": x(b) - x(a), "up": g.up, "start": format_instant(a),
                                 "end": format_instant(b),
                                 "title": f"{'up' if g.up else 'down'} {_short(_local(a, tz))}-{_short(_local(b, tz))}"})
    polls = [{"x": x(p.ts_us), "active": p.active, "role": p.role, "at": format_instant(p.ts_us),
              "title": f"{_short(_local(p.ts_us, tz))} {'active' if p.active else 'inactive'} ({POLL_USE[p.role]})"}
             for p in timeline.polls if start_us <= p.ts_us < end_us]
    ticks = [{"x": x(int(datetime(date.year, date.month, date.day, h, tzinfo=tz).timestamp()) * 1_000_000),
              "label": f"{h:02d}"} for h in range(0, 24, 3)]
    return {"date": date.isoformat(), "label": start.strftime("%a %d %b"), "hours": round(span / 3.6e9, 2),
            "sessions": sessions, "segments": segments, "polls": polls, "ticks": ticks,
            "as_of_x": x(timeline.as_of_us) if last else None}
