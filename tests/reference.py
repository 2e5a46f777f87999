"""A slow, obvious, per-store implementation of SPEC, written independently of the core.

It uses datetime and zoneinfo directly (fold=0 gives SPEC's DST rules) and plain loops,
so the property tests can compare the vectorised core with it number for number.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, UTC
from zoneinfo import ZoneInfo

US = 1_000_000
LOOKBACK = 8 * 86400 * US
WINDOWS = (3600 * US, 86400 * US, 7 * 86400 * US)


def _zone(name):
    try:
        return ZoneInfo(name) if name else ZoneInfo("America/Chicago")
    except Exception:
        return ZoneInfo("America/Chicago")


def _instant_us(day: date, seconds: int, tz: ZoneInfo) -> int:
    local = datetime.combine(day, time()) + timedelta(seconds=seconds)
    return int(local.replace(tzinfo=tz, fold=0).timestamp()) * US


def _hours_of(day: date, hours, special, holidays) -> list[tuple[int, int]]:
    """The (start, end) intervals starting on a local date, from the first of special hours,
    holidays, weekly hours with rows for it; a (None, None) row closes the date."""
    for rows in ([(a, b) for d, a, b in special if d == day], [(a, b) for d, a, b in holidays if d == day],
                 [(a, b) for weekday, a, b in hours if weekday == day.weekday()]):
        if rows:
            return [(a, b) for a, b in rows if a is not None]
    return []


def _version_on(day: date, versions: list[tuple[date, list]]) -> list:
    """The weekly hours in force on a local date: the newest version effective on or before it,
    else the first."""
    ordered = sorted(versions, key=lambda v: v[0])
    on = [rows for effective, rows in ordered if effective <= day]
    return on[-1] if on else ordered[0][1]


def lookback_of(windows) -> int:
    """SPEC, "Longer windows": the lookback is the longest window (a week at least) and a day."""
    return max(max(windows), WINDOWS[2]) + 86400 * US


def sessions(hours: list[tuple[int, int, int]], tz_name, as_of_us: int, special=(), holidays=(),
             versions=None, zones=None, lookback: int = LOOKBACK) -> list[tuple[int, int]]:
    """``special`` and ``holidays``: (local date, start s, end s) rows, None for both times when closed;
    ``versions``: the weekly hours' history, (effective local date, rows), used instead of ``hours``;
    ``zones``: the timezone's, (effective local date, name), used instead of ``tz_name``."""
    if not hours and not versions:
        hours = [(d, 0, 86400) for d in range(7)]
    first_day = datetime.fromtimestamp((as_of_us - lookback) // US, UTC).date() - timedelta(days=3)
    intervals = []
    for k in range(lookback // (86400 * US) + 6):
        day = first_day + timedelta(days=k)
        weekly = _version_on(day, versions) if versions else hours
        tz = _zone(_version_on(day, zones) if zones else tz_name)
        for start, end in _hours_of(day, weekly, special, holidays):
            if end == start:
                end = start + 86400
            elif end >= 23 * 3600 + 59 * 60:
                end = 86400
            elif end < start:
                end += 86400
            a, b = _instant_us(day, start, tz), _instant_us(day, end, tz)
            if b > a:
                intervals.append((a, b))
    merged: list[list[int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _evidence(spans, polls, as_of_us, lookback: int = LOOKBACK) -> list[tuple[int, bool]]:
    """The lookback's polls taken in business time, one per instant (inactive wins), sorted."""
    status: dict[int, bool] = {}
    for t, active in polls:
        if as_of_us - lookback <= t <= as_of_us:
            status[t] = status.get(t, True) and active
    return sorted((t, a) for t, a in status.items() if any(s <= t < e for s, e in spans))


def store_uptime(hours, tz_name, polls: list[tuple[int, bool]], as_of_us: int, special=(), holidays=(),
                 versions=None, zones=None, windows=WINDOWS) -> tuple[list[int], list[int]]:
    """(up per window, down per window) in microseconds for one store; ``windows``: their lengths."""
    lookback = lookback_of(windows)
    spans = sessions(hours, tz_name, as_of_us, special, holidays, versions, zones, lookback)
    evidence = _evidence(spans, polls, as_of_us, lookback)
    pieces = []  # (start, end, up)
    for s, e in spans:
        inside = [(t, a) for t, a in evidence if s <= t < e]
        if inside:
            for i, (t, a) in enumerate(inside):
                left = s if i == 0 else (inside[i - 1][0] + t) // 2
                right = e if i == len(inside) - 1 else (t + inside[i + 1][0]) // 2
                pieces.append((left, right, a))
        else:
            earlier = [a for t, a in evidence if t < s]
            later = [a for t, a in evidence if t >= e]
            state = earlier[-1] if earlier else (later[0] if later else False)
            pieces.append((s, e, state))
    up, down = [], []
    for length in windows:
        w0, w1 = as_of_us - length, as_of_us
        u = sum(max(0, min(b, w1) - max(a, w0)) for a, b, ok in pieces if ok)
        d = sum(max(0, min(b, w1) - max(a, w0)) for a, b, ok in pieces if not ok)
        up.append(u)
        down.append(d)
    return up, down


NEAR = 3600 * US


def store_no_data(hours, tz_name, polls: list[tuple[int, bool]], as_of_us: int, special=(), holidays=(),
                  versions=None, zones=None, windows=WINDOWS) -> tuple[list[int], int, int | None]:
    """(no data per window in microseconds, evidence polls, the last one or None) for one store:
    each session's part in a window walked from its start, poll by poll, adding the stretches
    no poll's hour either side reaches."""
    lookback = lookback_of(windows)
    spans = sessions(hours, tz_name, as_of_us, special, holidays, versions, zones, lookback)
    times = [t for t, _ in _evidence(spans, polls, as_of_us, lookback)]
    no_data = []
    for length in windows:
        w0, w1 = as_of_us - length, as_of_us
        missing = 0
        for s, e in spans:
            a, b = max(s, w0), min(e, w1)
            cursor = a  # everything in [a, cursor) is accounted for
            for t in times:
                if cursor >= b or t - NEAR >= b:
                    break
                if t + NEAR <= cursor:
                    continue
                missing += max(0, t - NEAR - cursor)
                cursor = max(cursor, t + NEAR)
            missing += max(0, b - cursor)
        no_data.append(missing)
    return no_data, len(times), (times[-1] if times else None)


def _recent_evidence(hours, tz_name, polls, now_us: int, span_us: int) -> tuple[list, list[tuple[int, bool]]]:
    """The store's sessions around now, and its polls of the last ``span_us`` taken in them, one
    per instant (inactive wins), sorted."""
    spans = sessions(hours, tz_name, now_us)
    status: dict[int, bool] = {}
    for t, active in polls:
        if now_us - span_us <= t <= now_us:
            status[t] = status.get(t, True) and active
    return spans, sorted((t, a) for t, a in status.items() if any(s <= t < e for s, e in spans))


def store_down_now(hours, tz_name, polls: list[tuple[int, bool]], now_us: int, interval_us: int,
                   span_us: int) -> tuple[int, bool, int] | None:
    """(down since, whether an active poll came before it, the latest evidence poll) if the store
    is down now, else None: open now, its latest evidence poll of the last ``span_us`` inactive
    and at most ``interval_us`` old; since walked back over the inactive polls before it."""
    spans, evidence = _recent_evidence(hours, tz_name, polls, now_us, span_us)
    if not evidence or not any(s <= now_us < e for s, e in spans):
        return None
    last, active = evidence[-1]
    if active or last < now_us - interval_us:
        return None
    i = len(evidence) - 1
    while i > 0 and not evidence[i - 1][1]:
        i -= 1
    return evidence[i][0], i > 0, last


def store_incidents(hours, tz_name, polls: list[tuple[int, bool]], now_us: int, span_us: int, down_after: int,
                    silence_us: int, open_down: int | None = None, open_no_data: int | None = None,
                    first_poll_us: int | None = None) -> dict:
    """What an evaluation at ``now_us`` changes for one store: {"down" / "no_data": {"resolved":
    the resolving poll or None, "opened": (since, opening poll or -1) or None}}. ``open_down``,
    ``open_no_data``: the poll that opened the store's open incident of that kind (-1: none
    did), None when none is open. Evidence: the polls of the last ``span_us`` in business time."""
    spans, evidence = _recent_evidence(hours, tz_name, polls, now_us, span_us)
    open_now = any(s <= now_us < e for s, e in spans)
    changes = {}

    # down: resolved by the first active evidence poll after its opening one; opened by a run of
    # inactive evidence polls at the end, down_after long at least, while open now
    resolved = None
    if open_down is not None:
        resolved = next((t for t, a in evidence if a and t > open_down), None)
    opened = None
    if (open_down is None or resolved is not None) and open_now and evidence and not evidence[-1][1]:
        run = []
        for t, a in reversed(evidence):
            if a:
                break
            run.insert(0, t)
        if len(run) >= down_after:
            opened = (run[0], run[down_after - 1])
    changes["down"] = {"resolved": resolved, "opened": opened}

    # no data: resolved by any evidence poll after its opening one; opened when the business time
    # since the latest evidence poll (or the first poll, or the span's start) reaches silence_us
    resolved = None
    if open_no_data is not None:
        resolved = next((t for t, _ in evidence if t > open_no_data), None)
    opened = None
    first = first_poll_us if first_poll_us is not None else min((t for t, _ in polls), default=None)
    if (open_no_data is None or resolved is not None) and open_now and first is not None and first <= now_us:
        last = evidence[-1][0] if evidence else -1
        since = max(last, first, now_us - span_us)
        remaining = silence_us
        for s, e in spans:
            a, b = max(s, since), min(e, now_us)
            if b <= a:
                continue
            if b - a >= remaining:
                opened = (a + remaining, last)
                break
            remaining -= b - a
    changes["no_data"] = {"resolved": resolved, "opened": opened}
    return changes


def store_slo(hours, tz_name, polls: list[tuple[int, bool]], as_of_us: int, objective_pct: float, days: int,
              fast_burn: float) -> dict:
    """One store's SLO over the last ``days`` days, as exact fractions (None: no meaning), from
    its report's figures: attainment, budget left, the burn rate of the hour, day, week and
    window, and whether the budget is spent or burns fast (over both the day and the hour)."""
    from fractions import Fraction

    lengths = [*WINDOWS, days * 86400 * US]
    up, down = store_uptime(hours, tz_name, polls, as_of_us, windows=lengths)
    allowed = (100 - Fraction(objective_pct)) / 100
    burn = [Fraction(d, u + d) / allowed if u + d else None for u, d in zip(up, down)]
    business = up[3] + down[3]
    left = 1 - Fraction(down[3]) / (allowed * business) if business else None
    return {"attainment": Fraction(up[3], business) if business else None, "budget_left": left, "burn": burn,
            "exhausted": left is not None and left <= 0 and down[3] > 0,
            "burning": burn[1] is not None and burn[0] is not None and burn[1] >= fast_burn and burn[0] >= fast_burn}
