"""Trends (storemon/reports/trends.py, GET /trends, the console's charts): a day's figures are
the report's as of the midnight that ends it."""

from __future__ import annotations

import csv
import io
import re

from storemon.core.polls import DAY_US
from storemon.database.trends import trend
from storemon.reports import trends
from storemon.reports.build import build_report
from storemon.timeparse import format_instant, parse_instant

from .helpers import rows


def test_a_trends_day_is_the_report_as_of_the_next_midnight(client, seeded):
    computed = trends.update(seeded)
    assert computed and computed == list(range(computed[0], computed[-1] + 1))
    sample = [r[0] for r in rows(seeded, "SELECT store_id FROM stores ORDER BY id")][::400]
    for day in computed[-3:]:
        as_of = (day + 1) * DAY_US
        report = {r["store_id"]: r for r in csv.DictReader(io.StringIO(build_report(seeded, as_of)[1].decode()))}
        for store_id in sample:
            answer = client.get("/trends", query_string={"store_id": store_id}).get_json()
            [shown] = [d for d in answer["days"] if d["date"] == format_instant(day * DAY_US)[:10]] or [None]
            if store_id not in report:  # (not polled by then: no row, no day)
                assert shown is None
                continue
            assert (shown["uptime_h"], shown["downtime_h"]) == (float(report[store_id]["uptime_last_day"]),
                                                                float(report[store_id]["downtime_last_day"]))
        # the fleet's day is the report's stores summed
        from storemon.database.queries import snapshot
        from storemon.reports.build import compute

        with snapshot(seeded) as snap:
            uptime, _ = compute(snap, as_of)
        [fleet] = trend(seeded, day, day)
        assert (fleet.up_us, fleet.down_us) == (int(uptime.up_us[1].sum()), int(uptime.down_us[1].sum()))


def test_a_second_run_recomputes_the_last_days_only_and_changes_nothing(seeded):
    first = trends.update(seeded)
    before = rows(seeded, "SELECT store, day, up_us, down_us FROM daily_uptime ORDER BY store, day")
    again = trends.update(seeded)
    assert again == first[-trends.RECOMPUTED_DAYS:]
    assert rows(seeded, "SELECT store, day, up_us, down_us FROM daily_uptime ORDER BY store, day") == before


def test_trends_of_a_group_and_bad_arguments(client, seeded):
    from sqlalchemy import text

    with seeded.begin() as conn:
        conn.execute(text("INSERT INTO store_groups (store, label) SELECT id, 'region:west' FROM stores WHERE id % 2 = 0"))
    trends.update(seeded)
    fleet = client.get("/trends").get_json()["days"]
    west = client.get("/trends?group=region:west").get_json()["days"]
    assert [d["date"] for d in west] == [d["date"] for d in fleet]
    assert all(0 < w["stores"] < f["stores"] for w, f in zip(west, fleet) if f["stores"] > 1)
    assert len(client.get("/trends?days=2").get_json()["days"]) == 2
    for bad in ("days=0", "days=91", "days=x", "group=west", "store_id=a&group=region:west"):
        assert client.get(f"/trends?{bad}").status_code == 400, bad
    assert client.get("/trends?store_id=no-such-store").status_code == 404


def test_the_fleet_and_store_pages_draw_the_trend(client, seeded):
    trends.update(seeded)
    html = {"Accept": "text/html"}
    fleet = client.get("/", headers=html).get_data(as_text=True)
    bars = re.findall(r'class="trend-up" data-date="([0-9-]+)" data-pct="([0-9.]+)"', fleet)
    days = client.get("/trends").get_json()["days"]
    assert bars == [(d["date"], str(d["uptime_pct"])) for d in days if d["uptime_pct"] is not None]
    store_id = rows(seeded, "SELECT s.store_id FROM daily_uptime d JOIN stores s ON s.id = d.store"
                            " ORDER BY s.store_id LIMIT 1")[0][0]
    page = client.get(f"/stores/{store_id}", headers=html).get_data(as_text=True)
    assert 'id="store-trend"' in page


def test_the_command_line_computes_the_trends_now(seeded):
    from .helpers import storemon

    ran = storemon(seeded, "trends")
    assert ran.returncode == 0 and ran.stdout.startswith("trends: ") and "day(s) computed" in ran.stdout
    assert rows(seeded, "SELECT count(DISTINCT day) > 0 FROM daily_uptime") == [(True,)]


def test_trends_on_sqlite_are_those_on_postgresql_and_follow_a_changed_calendar(pg, sqlite, tmp_path):
    """Stores open 09:00-17:00 UTC every day, polled over three weeks (and one store with hours but no
    poll yet); a holiday added later for a day two weeks back is computed again at once."""
    from .helpers import Loads

    found = []
    for engine in (pg, sqlite):
        load = Loads(engine, tmp_path / engine.dialect.name)
        load(hours=[(s, d, "09:00", "17:00") for s in "abc" for d in range(7)], zones=[(s, "UTC") for s in "abc"])
        load(polls=[(s, status, f"2023-01-{day:02d} 12:00:00 UTC") for day in range(3, 25)
                    for s, status in (("a", "active"), ("b", "inactive" if day % 3 else "active"))])
        trends.update(engine)
        before = rows(engine, "SELECT day, up_us, down_us FROM daily_uptime d JOIN stores s ON s.id = d.store"
                              " WHERE s.store_id = 'a' ORDER BY day")
        load(holidays=["2023-01-10,,,Closed"])
        trends.update(engine)
        after = rows(engine, "SELECT day, up_us, down_us FROM daily_uptime d JOIN stores s ON s.id = d.store"
                             " WHERE s.store_id = 'a' ORDER BY day")
        holiday = (parse_instant("2023-01-10T00:00:00Z") // DAY_US)
        assert [r for r in after if r[0] != holiday] == [r for r in before if r[0] != holiday]
        assert [r for r in before if r[0] == holiday] == [(holiday, 8 * 3600 * 10**6, 0)]
        assert [r for r in after if r[0] == holiday] == [(holiday, 0, 0)]
        found.append(rows(engine, "SELECT s.store_id, d.day, d.up_us, d.down_us FROM daily_uptime d"
                                  " JOIN stores s ON s.id = d.store ORDER BY 1, 2"))
    assert found[0] == found[1]
