"""The poll timestamp parsers: NumPy's datetime64 for blocks in the poller's layout, the
hand-written vectorised parser and parse_instant for the rest; all give the same instants."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

import numpy as np
from hypothesis import given, settings, strategies as st

from storemon.timeparse import (AS_OF_MAX_US, AS_OF_MIN_US, _parse_datetime64, _parse_fixed_layout, parse_instant,
                                parse_timestamps)

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 12, 31))


def poller_layout(moment: datetime, digits: int, style: int) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{moment.microsecond:06d}"[:digits + 1] if digits else "")
    return [text + " UTC", text.replace(" ", "T") + "Z", text][style]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(moments, st.integers(0, 6), st.integers(0, 2)), min_size=1, max_size=30))
def test_datetime64_and_the_hand_parser_agree_on_the_pollers_layout(rows):
    texts = [poller_layout(m, d, s) for m, d, s in rows]
    fast = _parse_datetime64(texts)
    hand, ok = _parse_fixed_layout(texts)
    assert fast is not None and ok.all() and (fast == hand).all()
    assert all(int(v) == parse_instant(t) for v, t in zip(fast, texts))


def test_a_block_with_anything_else_takes_the_careful_path_and_names_each_bad_value():
    good = "2023-01-22 12:09:39.388884 UTC"
    for odd in ("now", "NaT", "2023-01-22", "2023-01-22 12:09:39.", "2023-02-30 00:00:00 UTC", "-023-01-22 12:09:39",
                "2023-01-22 12:09:39.1234567 UTC", "2023-01-22 12:09:39 UTC" + " " * 30, "2023-01-22T12:09:39+05:00",
                "2023-01-22 23:59:60 UTC", "２０２３-01-22 12:09:39"):
        assert _parse_datetime64([good, odd]) is None, odd
    values, ok = parse_timestamps([good, "2023-01-22T12:09:39+05:00", "now", "2023-02-30 00:00:00 UTC"])
    assert ok.tolist() == [True, True, False, False]
    assert values[1] == int((datetime(2023, 1, 22, 7, 9, 39, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC))
                            / timedelta(microseconds=1))
    assert parse_timestamps([])[0].size == 0 and np.asarray(parse_timestamps([good])[1]).all()


def test_the_bounds_of_as_of_are_the_instants_they_stand_for():
    assert AS_OF_MIN_US == parse_instant("1971-01-01T00:00:00Z") == 31_536_000 * 10**6
    assert AS_OF_MAX_US == parse_instant("9998-12-31T00:00:00Z")
