"""Building core inputs from readable descriptions, for the hand-computed tests."""

from __future__ import annotations

import numpy as np

from storemon.core import ReportInput, compute_uptime
from storemon.core.polls import PollRows
from storemon.sources import parse_local_time
from storemon.timeparse import parse_instant

WINDOWS = ("hour", "day", "week")


def report_input(stores: dict[str, dict], polls: list[tuple[str, str, str]]) -> ReportInput:
    """stores: id -> {"tz": name or None, "hours": [(day, "HH:MM", "HH:MM"), ...] (absent: 24x7)}.
    polls: (store id, ISO instant, "active" / "inactive")."""
    ids = list(stores)
    index = {s: i for i, s in enumerate(ids)}
    hours = [(index[s], d, parse_local_time(a), parse_local_time(b))
             for s, spec in stores.items() for d, a, b in spec.get("hours", [])]
    h = np.array(hours, np.int64).reshape(-1, 4)
    return ReportInput(
        store_ids=np.array(ids),
        timezones=[spec.get("tz") for spec in stores.values()],
        hours_store=h[:, 0], hours_day=h[:, 1], hours_start_s=h[:, 2], hours_end_s=h[:, 3],
        polls=PollRows.of(np.array([index[s] for s, _, _ in polls], np.int64),
                          np.array([parse_instant(t) for _, t, _ in polls], np.int64),
                          np.array([status == "active" for _, _, status in polls], bool)),
    )


def seconds(stores: dict[str, dict], polls: list[tuple[str, str, str]], as_of: str) -> dict[str, dict[str, float]]:
    """{store: {"up_hour": s, "up_day": s, "up_week": s, "down_hour": ...}} in seconds."""
    result = compute_uptime(report_input(stores, polls), parse_instant(as_of))
    out = {}
    for i, store in enumerate(result.store_ids.tolist()):
        row = {}
        for w, window in enumerate(WINDOWS):
            row[f"up_{window}"] = result.up_us[w][i] / 1e6
            row[f"down_{window}"] = result.down_us[w][i] / 1e6
        out[store] = row
    return out
