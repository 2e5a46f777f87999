"""A store's timeline for people: local times, the rule of each session in words, and the
geometry of the 7-day chart. The JSON of ``GET /stores/ID/timeline`` and the store page
are both made from ``describe``."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC
from itertools import groupby

from ..core.incidents import DOWN, KIND_NAMES, NO_DATA
from ..core.csvout import row_values
from ..core.localtime import zone
from ..core.sessions import CLOSED, version_on
from ..core.timeline import (AFTER_AS_OF, BEFORE_LOOKBACK, EVIDENCE, FIRST_LATER, LAST_KNOWN, NO_EVIDENCE,
                            OUTSIDE_HOURS, StoreTimeline)
from ..core.windows import DOWNTIME_COLUMNS, NO_DATA_COLUMNS, UPTIME_COLUMNS
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


def duration(seconds: float) -> str:
    """A length of time for people: "45 s", "12 min", "3 h 20 min", "8 d", "2 d 5 h" (to the minute
    under a day, to the hour from one day)."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" + (f" {rest} min" if rest else "")
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def local_date(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days)


def weekly(rows: list[tuple]) -> list[dict] | None:
    """Weekly hours rows, (weekday, start s, end s, ...), for people; None for none (around the clock)."""
    return [{"day": DAYS[row[0]], "weekday": row[0], "start": _clock(row[1]), "end": _clock(row[2])}
            for row in rows] or None


def in_force_on(rows: list[tuple[int, int, int, int]], day: int | None) -> list[tuple]:
    """The rows of the version of weekly hours that holds on a local date (None: the newest)."""
    effective = sorted({row[3] for row in rows})
    if not effective:
        return []
    chosen = effective[-1] if day is None else effective[version_on(effective, day)]
    return [row for row in rows if row[3] == chosen]


def history(rows: list[tuple[int, int, int, int]]) -> list[dict]:
    """Every version of the weekly hours, oldest first: its effective date (None for a first
    version given without one) and its hours."""
    return [{"effective_date": local_date(effective).isoformat() if effective else None,
             "hours": weekly(list(group))} for effective, group in groupby(rows, key=lambda row: row[3])]


def dated(rows: list[tuple]) -> list[dict]:
    """Special hours or holiday rows, (date, start s, end s[, name]), as one entry a date."""
    found = []
    for day, group in groupby(rows, key=lambda r: r[0]):
        group = list(group)
        entry = {"date": local_date(day).isoformat(), "closed": group[0][1] == CLOSED,
                 "hours": [{"start": _clock(r[1]), "end": _clock(r[2])} for r in group if r[1] != CLOSED]}
        if len(group[0]) > 3:
            entry["name"] = next((r[3] for r in group if r[3]), "")
        found.append(entry)
    return found


def day_sources(record: StoreRecord) -> dict[str, str]:
    """Each local date (ISO) of the record's whose hours are not the weekly ones, and why, in words."""
    def hours(entry: dict) -> str:
        return "closed" if entry["closed"] else ", ".join(f"{h['start'][:5]}-{h['end'][:5]}" for h in entry["hours"])

    said = {entry["date"]: f"holiday{': ' + entry['name'] if entry['name'] else ''} ({hours(entry)})"
            for entry in dated(record.holidays)}
    # (over a holiday: the store's own win)
    said.update({entry["date"]: f"special hours ({hours(entry)})" for entry in dated(record.special)})
    return said


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


def explain_gap(gap, tz) -> str:
    """A stretch of no data, in words: what it was assumed to be, and from which poll."""
    state = "up" if gap.up else "down"
    if gap.source_us is None:
        return f"no poll within 60 minutes, and none in 8 days: {state}"
    return f"no poll within 60 minutes: assumed {state} from the poll at {_short(_local(gap.source_us, tz), True)}"


def timezone_on(record: StoreRecord, us: int) -> str | None:
    """The store's timezone in force on the (UTC) date of an instant: its version then, if it
    has several, else the one it has."""
    if len(record.zones) < 2:
        return record.timezone
    return record.zones[version_on([effective for effective, _ in record.zones], us // 86_400_000_000)][1]


def zone_history(record: StoreRecord) -> list[dict]:
    """Every version of the store's zone, oldest first (None: a first version given without a date)."""
    return [{"effective_date": local_date(e).isoformat() if e else None, "timezone": name} for e, name in record.zones]


def describe(record: StoreRecord, timeline: StoreTimeline) -> dict:
    timezone = timezone_on(record, timeline.as_of_us)
    tz = zone(timezone)

    def instant(us: int) -> dict:
        return {"utc": format_instant(us), "local": _local(us, tz).isoformat()}

    sources = day_sources(record)
    sessions = [{
        "start": instant(s.start_us), "end": instant(s.end_us), "rule": s.rule, "explanation": explain(s, tz),
        "hours_from": sources.get(_local(s.start_us, tz).date().isoformat(), "weekly hours"),
        "segments": [{"start": format_instant(g.start_us), "end": format_instant(g.end_us),
                      "status": "up" if g.up else "down", "seconds": (g.end_us - g.start_us) / 1e6}
                     for g in s.segments],
    } for s in timeline.sessions]
    polls = [{"timestamp_utc": format_instant(p.ts_us), "local": _local(p.ts_us, tz).isoformat(),
              "status": "active" if p.active else "inactive", "use": p.role, "explanation": POLL_USE[p.role]}
             for p in timeline.polls]
    listed = timeline.up_us is not None
    columns = (*UPTIME_COLUMNS, *DOWNTIME_COLUMNS, *NO_DATA_COLUMNS)
    return {
        "store_id": record.store_id,
        "name": record.name,
        "groups": list(record.groups),
        "timezone": timezone,
        "timezone_history": zone_history(record),
        "timezone_used": tz.key,
        "as_of": instant(timeline.as_of_us),
        "hours": weekly(in_force_on(record.hours, _local(timeline.as_of_us, tz).date().toordinal() - EPOCH_ORDINAL)),
        "hours_history": history(record.hours),
        "special_hours": dated(record.special),  # (of the dates this page reaches)
        "holidays": dated(record.holidays),
        "listed": listed,
        "totals_us": dict(zip(columns, (*timeline.up_us, *timeline.down_us, *timeline.no_data_us)))
                      if listed else None,
        "row": dict(zip(columns, row_values(timeline.up_us, timeline.down_us, timeline.no_data_us)))
               if listed else None,
        "evidence": {"polls": timeline.evidence_polls, "last": None if timeline.last_evidence_us is None
                     else instant(timeline.last_evidence_us)},
        "sessions": sessions,
        "no_data": [{"start": instant(g.start_us), "end": instant(g.end_us), "status": "up" if g.up else "down",
                     "assumed_from": None if g.source_us is None else instant(g.source_us),
                     "seconds": (g.end_us - g.start_us) / 1e6, "explanation": explain_gap(g, tz)}
                    for g in timeline.gaps],
        "polls": polls,
    }


def chart_days(timeline: StoreTimeline, record: StoreRecord, incidents=()) -> list[dict]:
    """The last 7 local days up to as_of, one band each: positions are percentages of the
    day's real length (23 or 25 hours on a DST night), with every third local hour marked,
    what a date's hours came from when not the weekly ones, and the store's incidents (an
    open one up to as_of)."""
    tz = zone(timezone_on(record, timeline.as_of_us))
    as_of = _local(timeline.as_of_us, tz)
    sources = day_sources(record)
    bands = [_band(timeline, tz, (as_of - timedelta(days=back)).date(), back == 0, incidents)
             for back in range(CHART_DAYS - 1, -1, -1)]
    return [{**band, "calendar": sources.get(band["date"])} for band in bands]


def _band(timeline: StoreTimeline, tz, date, last: bool, incidents=()) -> dict:
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
    gaps = [{"x": x(a), "w": x(b) - x(a), "start": format_instant(a), "end": format_instant(b),
             "title": f"{_short(_local(a, tz))}-{_short(_local(b, tz))} {explain_gap(g, tz)}"}
            for g in timeline.gaps if (a := max(g.start_us, start_us)) < (b := min(g.end_us, end_us))]
    polls = [{"x": x(p.ts_us), "active": p.active, "role": p.role, "at": format_instant(p.ts_us),
              "title": f"{_short(_local(p.ts_us, tz))} {'active' if p.active else 'inactive'} ({POLL_USE[p.role]})"}
             for p in timeline.polls if start_us <= p.ts_us < end_us]
    marked = []
    for i in incidents:  # (drawn up to as_of, as the rest of the chart; an SLO's are figures, not moments)
        if i.kind not in (DOWN, NO_DATA):
            continue
        a = max(i.opened_us, start_us)
        b = min(i.resolved_us if i.resolved_us is not None else timeline.as_of_us, timeline.as_of_us, end_us)
        if b > a:
            until = f"until {_short(_local(i.resolved_us, tz))}" if i.resolved_us is not None else "still open"
            marked.append({"x": x(a), "w": max(x(b) - x(a), 0.2), "kind": i.kind, "id": i.id,
                           "title": f"incident: {KIND_NAMES.get(i.kind, i.kind)} since "
                                    f"{_short(_local(i.opened_us, tz))}, {until}"})
    ticks = [{"x": x(int(datetime(date.year, date.month, date.day, h, tzinfo=tz).timestamp()) * 1_000_000),
              "label": f"{h:02d}"} for h in range(0, 24, 3)]
    return {"date": date.isoformat(), "label": start.strftime("%a %d %b"), "hours": round(span / 3.6e9, 2),
            "sessions": sessions, "segments": segments, "gaps": gaps, "polls": polls, "ticks": ticks,
            "incidents": marked,
            "as_of_x": x(timeline.as_of_us) if last else None}
