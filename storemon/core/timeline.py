"""One store's part of a report, laid open: its sessions, the rule that filled each, its polls.

The batch report's own code runs on the one store's data (``compute_uptime``'s steps for the totals,
and the same session and fill steps for the detail), so a timeline and a report cannot
disagree: the totals are the store's report row, to the microsecond. The stretches of no
data are walked here, for the one store, apart from the batch code's sums; a property test
holds them to the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .polls import LOOKBACK_US
from .uptime import NEAR_US, ReportInput, keyed_input, no_progress, uptime_of_keyed, fill_sessions

# How a session was filled (SPEC, "From polls to up and down")
OWN_POLLS, LAST_KNOWN, FIRST_LATER, NO_EVIDENCE = "own_polls", "last_known", "first_later", "no_evidence"
# What a poll was to the report
EVIDENCE, OUTSIDE_HOURS, BEFORE_LOOKBACK, AFTER_AS_OF = "evidence", "outside_hours", "before_lookback", "after_as_of"


@dataclass(frozen=True)
class Segment:
    start_us: int
    end_us: int
    up: bool


@dataclass(frozen=True)
class Session:
    """A business session, cut to the lookback and to as_of, and how it was filled."""

    start_us: int
    end_us: int
    rule: str
    segments: tuple[Segment, ...]
    switches_us: tuple[int, ...] = ()  # OWN_POLLS: where the state changes
    lender_us: int | None = None  # LAST_KNOWN, FIRST_LATER: the poll whose state it takes
    lender_up: bool | None = None


@dataclass(frozen=True)
class Gap:
    """A stretch of no data (SPEC, "Evidence coverage"): business time farther than 60 minutes
    from every evidence poll, with the status the rules gave it and the poll that status came
    from (None: the store had no evidence poll, so it is down)."""

    start_us: int
    end_us: int
    up: bool
    source_us: int | None


@dataclass(frozen=True)
class PollMark:
    ts_us: int
    active: bool
    role: str


@dataclass(frozen=True)
class StoreTimeline:
    as_of_us: int
    sessions: tuple[Session, ...]
    polls: tuple[PollMark, ...]
    # (hour, day, week) microseconds, as the report's row; None if no report lists the store
    # at this as_of (its first poll is later)
    up_us: tuple[int, int, int] | None
    down_us: tuple[int, int, int] | None
    no_data_us: tuple[int, int, int] | None = None
    gaps: tuple[Gap, ...] = ()
    evidence_polls: int = 0  # in the lookback
    last_evidence_us: int | None = None


def _merged(stretches: list[tuple[int, int, bool]]) -> list[Segment]:
    segments: list[Segment] = []
    for start, end, up in stretches:
        if end <= start:
            continue
        if segments and segments[-1].up == up and segments[-1].end_us == start:
            segments[-1] = Segment(segments[-1].start_us, end, up)
        else:
            segments.append(Segment(start, end, up))
    return segments


def store_timeline(data: ReportInput, as_of_us: int) -> StoreTimeline:
    """``data`` holds one store (index 0) with any of its polls: those outside the lookback or
    after as_of are marked as such, not used (as the report would not use them)."""
    if len(data.store_ids) != 1:
        raise ValueError("a timeline is of one store")
    keyed = keyed_input(data, as_of_us, no_progress)
    uptime = uptime_of_keyed(data, as_of_us, keyed, no_progress, coverage=True)
    runs = [keyed.keys(run) for run in keyed.runs]  # (one store's polls: one run, or none)
    p_key = np.concatenate([key for key, _ in runs]) if runs else np.zeros(0, np.int64)
    p_active = np.concatenate([active for _, active in runs]) if runs else np.zeros(0, bool)
    filled = fill_sessions(keyed.s_store, keyed.s_start, keyed.s_end, p_key, p_active, keyed.bits)
    base, lookback_start = keyed.base, as_of_us - LOOKBACK_US
    poll_us = filled.poll_rel + base
    lender_of = dict(zip(filled.silent.tolist(), filled.lender.tolist()))

    sessions = []
    for i in range(keyed.s_start.size):
        lo, hi = max(int(keyed.s_start[i]) + base, lookback_start), min(int(keyed.s_end[i]) + base, as_of_us)
        if hi <= lo:
            continue
        if i in lender_of:
            lender = lender_of[i]
            if lender < 0:
                sessions.append(Session(lo, hi, NO_EVIDENCE, (Segment(lo, hi, False),)))
                continue
            lent_us, lent_up = int(poll_us[lender]), bool(filled.poll_active[lender])
            rule = LAST_KNOWN if lent_us < lo else FIRST_LATER
            sessions.append(Session(lo, hi, rule, (Segment(lo, hi, lent_up),), lender_us=lent_us, lender_up=lent_up))
            continue
        own = np.flatnonzero(filled.poll_session == i)
        segments = _merged([(max(int(filled.own_start[j]) + base, lo), min(int(filled.own_end[j]) + base, hi),
                             bool(filled.poll_active[j])) for j in own.tolist()])
        switches = tuple(s.start_us for s in segments[1:])
        sessions.append(Session(lo, hi, OWN_POLLS, tuple(segments), switches_us=switches))

    evidence_us = np.sort(poll_us).tolist()
    gaps = tuple(gap for session in sessions for gap in _gaps(session, evidence_us))

    _, ts_us, active = data.polls.ordered(data.polls.day()).polls()
    evidence = np.isin(ts_us, poll_us)
    roles = np.where(ts_us > as_of_us, AFTER_AS_OF, np.where(ts_us < lookback_start, BEFORE_LOOKBACK,
                                                             np.where(evidence, EVIDENCE, OUTSIDE_HOURS)))
    polls = tuple(PollMark(t, a, r) for t, a, r in zip(ts_us.tolist(), active.tolist(), roles.tolist()))

    listed = uptime.store_ids.size == 1
    return StoreTimeline(as_of_us, tuple(sessions), polls,
                         tuple(int(u[0]) for u in uptime.up_us) if listed else None,
                         tuple(int(d[0]) for d in uptime.down_us) if listed else None,
                         tuple(int(n[0]) for n in uptime.coverage.no_data_us) if listed else None, gaps,
                         len(evidence_us), evidence_us[-1] if evidence_us else None)


def _gaps(session: Session, evidence_us: list[int]) -> list[Gap]:
    """The session's stretches of no data, cut where its status changes."""
    found, cursor = [], session.start_us
    unvouched = []
    for t in evidence_us:
        if cursor >= session.end_us or t - NEAR_US >= session.end_us:
            break
        if t + NEAR_US <= cursor:
            continue
        if t - NEAR_US > cursor:
            unvouched.append((cursor, t - NEAR_US))
        cursor = max(cursor, t + NEAR_US)
    if cursor < session.end_us:
        unvouched.append((cursor, session.end_us))
    own = [t for t in evidence_us if session.start_us <= t <= session.end_us]  # (a poll at as_of included)
    for a, b in unvouched:
        for segment in session.segments:
            lo, hi = max(a, segment.start_us), min(b, segment.end_us)
            if hi <= lo:
                continue
            if session.rule == OWN_POLLS:  # (the status of an instant is its nearest poll's)
                source = min(own, key=lambda t: abs(t - (lo + hi) // 2))
            else:
                source = session.lender_us
            found.append(Gap(lo, hi, segment.up, source))
    return found
