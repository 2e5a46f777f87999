"""Building core inputs from readable descriptions, for the hand-computed tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import strategies as st

from storemon.core import ReportInput, compute_uptime
from storemon.core.polls import PollRows
from storemon.core.sessions import CLOSED, ZoneHistory
from storemon.sources import parse_local_time
from storemon.timeparse import format_instant, parse_instant

WINDOWS = ("hour", "day", "week")


def local_date(text: str) -> int:
    """A local date ``YYYY-MM-DD`` as the core counts it: days from 1970-01-01."""
    return (date.fromisoformat(text) - date(1970, 1, 1)).days


def _dated(day: str, start: str | None, end: str | None) -> tuple[int, int, int]:
    if start is None:
        return local_date(day), CLOSED, CLOSED
    return local_date(day), parse_local_time(start), parse_local_time(end)


def report_input(stores: dict[str, dict], polls: list[tuple[str, str, str]],
                 holidays: list[tuple[str, str | None, str | None]] = ()) -> ReportInput:
    """stores: id -> {"tz": name or None, "hours": [(day, "HH:MM", "HH:MM"), ...] (absent: 24x7),
    or "versions": [("YYYY-MM-DD" effective, hours), ...] instead, "zones": [("YYYY-MM-DD", name), ...]
    (the timezone's versions, instead of "tz"),
    "special": [("YYYY-MM-DD", "HH:MM", "HH:MM"), ...] (None, None: closed)}.
    polls: (store id, ISO instant, "active" / "inactive"). holidays: as special hours, for all."""
    ids = list(stores)
    index = {s: i for i, s in enumerate(ids)}
    hours = [(index[s], d, parse_local_time(a), parse_local_time(b), local_date(effective))
             for s, spec in stores.items()
             for effective, rows in spec.get("versions", [("1970-01-01", spec.get("hours", []))]) for d, a, b in rows]
    h = np.array(hours, np.int64).reshape(-1, 5)
    special = [(index[s], *_dated(*row)) for s, spec in stores.items() for row in spec.get("special", [])]
    return ReportInput(
        store_ids=np.array(ids),
        timezones=[spec.get("tz") for spec in stores.values()],
        hours_store=h[:, 0], hours_day=h[:, 1], hours_start_s=h[:, 2], hours_end_s=h[:, 3], hours_effective=h[:, 4],
        polls=PollRows.of(np.array([index[s] for s, _, _ in polls], np.int64),
                          np.array([parse_instant(t) for _, t, _ in polls], np.int64),
                          np.array([status == "active" for _, _, status in polls], bool)),
        special=np.array(special, np.int64).reshape(-1, 4),
        holidays=np.array([_dated(*row) for row in holidays], np.int64).reshape(-1, 3),
        zone_history=ZoneHistory(np.array([index[s] for s, spec in stores.items() for _ in spec.get("zones", [])], np.int64),
                                 np.array([local_date(d) for spec in stores.values() for d, _ in spec.get("zones", [])],
                                          np.int64),
                                 [name for spec in stores.values() for _, name in spec.get("zones", [])]),
    )


def no_data(stores: dict[str, dict], polls: list[tuple[str, str, str]], as_of: str
            ) -> dict[str, tuple[tuple[float, ...], int, str | None]]:
    """{store: ((no data in the hour, day and week, in seconds), evidence polls, the last one)}."""
    result = compute_uptime(report_input(stores, polls), parse_instant(as_of), coverage=True)
    c = result.coverage
    return {store: (tuple(n[i] / 1e6 for n in c.no_data_us), int(c.evidence_polls[i]),
                    None if c.last_evidence_us[i] < 0 else format_instant(int(c.last_evidence_us[i])))
            for i, store in enumerate(result.store_ids.tolist())}


def seconds(stores: dict[str, dict], polls: list[tuple[str, str, str]], as_of: str,
            holidays: list[tuple[str, str | None, str | None]] = ()) -> dict[str, dict[str, float]]:
    """{store: {"up_hour": s, "up_day": s, "up_week": s, "down_hour": ...}} in seconds."""
    result = compute_uptime(report_input(stores, polls, holidays), parse_instant(as_of))
    out = {}
    for i, store in enumerate(result.store_ids.tolist()):
        row = {}
        for w, window in enumerate(WINDOWS):
            row[f"up_{window}"] = result.up_us[w][i] / 1e6
            row[f"down_{window}"] = result.down_us[w][i] / 1e6
        out[store] = row
    return out


# --- the property tests' scenarios as core inputs ---

# Around both 2023 US DST changes, and a quiet January week.
AS_OF_CHOICES = [1678622400 * 10**6, 1699185600 * 10**6, 1674478800 * 10**6]  # 2023-03-12/11-05 12:00Z, 01-23 13:00Z
ZONES = [None, "America/Chicago", "America/New_York", "Asia/Beirut", "Pacific/Honolulu", "UTC", "Not/AZone",
         "Australia/Lord_Howe", "Europe/London"]
US = 10**6

times = st.integers(0, 24 * 3600 // 60).map(lambda m: min(m * 60, 86400))
hour_rows = st.lists(st.tuples(st.integers(0, 6), times, times), max_size=5)


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 4))
    as_of = draw(st.sampled_from(AS_OF_CHOICES)) + draw(st.integers(-3 * 3600, 3 * 3600)) * US
    stores = []
    for _ in range(n):
        hours = draw(hour_rows)
        tz = draw(st.sampled_from(ZONES))
        offsets = draw(st.lists(st.integers(-9 * 86400, 2 * 86400), max_size=25))
        # some polls share an instant, to exercise the tie rule
        polls = [(as_of - o * US + draw(st.sampled_from([0, 0, 123_456])), draw(st.booleans())) for o in offsets]
        stores.append((hours, tz, polls))
    return as_of, stores


def to_input(stores, special=None, holidays=(), versions=None, zones=None) -> ReportInput:
    """The core's input of scenario stores; ``special``: each store's dated rows, and
    ``holidays`` the chain's, as (days from 1970-01-01, start, end or None for closed);
    ``versions``: each store's weekly hours as (effective date, rows) versions, for its hours;
    ``zones``: each store's timezone as (effective date, name) versions (none: its own zone)."""
    if versions is None:
        hours = [(i, d, a, b, 0) for i, (h, _, _) in enumerate(stores) for d, a, b in h]
    else:
        hours = [(i, d, a, b, effective) for i, mine in enumerate(versions) for effective, rows in mine
                 for d, a, b in rows]
    h = np.array(hours, np.int64).reshape(-1, 5)
    polls = [(i, t, a) for i, (_, _, p) in enumerate(stores) for t, a in p]
    p = np.array([(i, t) for i, t, _ in polls], np.int64).reshape(-1, 2)
    closed = (lambda d, a, b: (d, CLOSED, CLOSED) if a is None else (d, a, b))
    dated = [(i, *closed(*row)) for i, rows in enumerate(special or []) for row in rows]
    return ReportInput(np.array([f"s{i}" for i in range(len(stores))]), [tz for _, tz, _ in stores],
                       h[:, 0], h[:, 1], h[:, 2], h[:, 3], PollRows.of(p[:, 0], p[:, 1], np.array([a for _, _, a in polls], bool)),
                       hours_effective=h[:, 4], special=np.array(dated, np.int64).reshape(-1, 4),
                       zone_history=ZoneHistory(
                           np.array([i for i, mine in enumerate(zones or []) for _ in mine], np.int64),
                           np.array([d for mine in zones or [] for d, _ in mine], np.int64),
                           [name for mine in zones or [] for _, name in mine]),
                       holidays=np.array([closed(*row) for row in holidays], np.int64).reshape(-1, 3))


def as_date(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days)


def _dated_rows(draw, as_of: int) -> list[tuple[int, int | None, int | None]]:
    """Rows of a few local dates around the lookback: closed, or one or two intervals."""
    rows = []
    for offset in draw(st.lists(st.integers(-10, 1), max_size=3, unique=True)):
        day = as_of // (86400 * US) + offset
        if draw(st.booleans()):
            rows.append((day, None, None))
        else:
            rows += [(day, a, b) for a, b in draw(st.lists(st.tuples(times, times), min_size=1, max_size=2))]
    return rows


def _versions(draw, as_of: int, values) -> list[tuple[int, object]]:
    """One to three versions of ``values``, effective on dates around the lookback."""
    today = as_of // (86400 * US)
    return [(today + offset, draw(values)) for offset in draw(st.lists(st.integers(-10, 1), min_size=1, max_size=3,
                                                                     unique=True))]


@st.composite
def history_scenarios(draw):
    """A scenario whose stores have one to three versions of weekly hours, and of their zone
    (the stores' own hours and zone unused)."""
    as_of, stores = draw(scenarios())
    return (as_of, stores, [_versions(draw, as_of, hour_rows.filter(bool)) for _ in stores],
            [_versions(draw, as_of, st.sampled_from(ZONES)) for _ in stores])


@st.composite
def calendar_scenarios(draw):
    """A scenario, with each store's special hours and the chain's holidays."""
    as_of, stores = draw(scenarios())
    return as_of, stores, [_dated_rows(draw, as_of) for _ in stores], _dated_rows(draw, as_of)



def by_store(result) -> dict[str, tuple[list[int], list[int]]]:
    return {s: ([int(u[i]) for u in result.up_us], [int(d[i]) for d in result.down_us])
            for i, s in enumerate(result.store_ids.tolist())}


def coverage_by_store(result) -> dict[str, tuple[list[int], int, int | None]]:
    """Each store's (no data per window, evidence polls, the last one or None), as the reference gives them."""
    c = result.coverage
    return {s: ([int(n[i]) for n in c.no_data_us], int(c.evidence_polls[i]),
                None if c.last_evidence_us[i] < 0 else int(c.last_evidence_us[i]))
            for i, s in enumerate(result.store_ids.tolist())}

