"""The console's pages and the stores JSON, through the Flask app on real PostgreSQL and Redis."""

from __future__ import annotations

import csv
import io
import re


from storemon.database import tokens
from storemon.database.queries import snapshot
from storemon.reports.build import compute
from storemon.timeparse import parse_instant

from .helpers import AS_OF, hours_csv, polls_csv, run_jobs, timezones_csv, trigger


def test_every_stores_timeline_totals_are_its_report_row_to_the_microsecond(client, seeded):
    as_of = parse_instant(AS_OF)
    with snapshot(seeded) as snap:
        uptime, _ = compute(snap, as_of)  # as the report computes it: in pieces
    ids = uptime.store_ids.tolist()
    for k in list(range(0, len(ids), max(1, len(ids) // 60))):  # 60 stores spread over the id range
        answer = client.get(f"/stores/{ids[k]}/timeline", query_string={"as_of": AS_OF})
        assert answer.status_code == 200
        totals = answer.get_json()["totals_us"]
        assert [totals[f"uptime_last_{w}"] for w in ("hour", "day", "week")] == [int(u[k]) for u in uptime.up_us]
        assert [totals[f"downtime_last_{w}"] for w in ("hour", "day", "week")] == [int(d[k]) for d in uptime.down_us]


def test_a_timeline_explains_each_session(client, pg, tmp_path):
    from storemon.database.loader import load_directory

    timezones_csv(tmp_path, [("s1", "UTC")])
    hours_csv(tmp_path, [("s1", 0, "09:00", "12:00"), ("s1", 1, "09:00", "10:00"), ("s1", 2, "09:00", "10:00")])
    polls_csv(tmp_path, [("s1", "active", "2023-01-23 10:14:00 UTC"), ("s1", "inactive", "2023-01-23 11:15:00 UTC"),
                         ("s1", "active", "2023-01-24 13:00:00 UTC")])
    load_directory(pg, tmp_path)
    answer = client.get("/stores/s1/timeline", query_string={"as_of": "2023-01-25T12:00:00Z"}).get_json()
    words = {s["start"]["utc"]: (s["rule"], s["explanation"]) for s in answer["sessions"]}
    assert words["2023-01-23T09:00:00Z"] == ("own_polls", "from its own polls, up at first, switching at 10:44:30")
    assert words["2023-01-24T09:00:00Z"] == ("last_known", "no poll in this session: last known state, inactive, "
                                                           "from Mon 11:15")
    assert words["2023-01-18T09:00:00Z"] == ("first_later", "no poll in this session or before it: first later "
                                                            "state, active, from Mon 10:14")
    assert [p["use"] for p in answer["polls"]] == ["evidence", "evidence", "outside_hours"]
    # no data: Monday 09:00-09:14 (the first poll is at 10:14), and Tuesday's and Wednesday's
    # sessions, far from any poll: 2 h 14 min in the week, Wednesday's hour in the day
    assert answer["row"] == {"uptime_last_hour": "0.00", "uptime_last_day": "0.00", "uptime_last_week": "1.74",
                             "downtime_last_hour": "0.00", "downtime_last_day": "1.00", "downtime_last_week": "3.26",
                             "no_data_last_hour": "0.00", "no_data_last_day": "1.00", "no_data_last_week": "2.23"}
    gaps = [(g["start"]["utc"], g["end"]["utc"], g["explanation"]) for g in answer["no_data"]]
    assert gaps[-3:] == [
        ("2023-01-23T09:00:00Z", "2023-01-23T09:14:00Z", "no poll within 60 minutes: assumed up from the poll at Mon 10:14"),
        ("2023-01-24T09:00:00Z", "2023-01-24T10:00:00Z", "no poll within 60 minutes: assumed down from the poll at Mon 11:15"),
        ("2023-01-25T09:00:00Z", "2023-01-25T10:00:00Z", "no poll within 60 minutes: assumed down from the poll at Mon 11:15")]
    page = client.get("/stores/s1", query_string={"as_of": "2023-01-25T12:00:00Z"})
    assert page.status_code == 200 and b"switching at 10:44:30" in page.data
    assert "assumed down from the poll at Mon 11:15" in page.text and "down 1 h" in page.text
    assert answer["evidence"]["polls"] == 2 and answer["evidence"]["last"]["utc"] == "2023-01-23T11:15:00Z"
    assert "2 evidence polls (taken in business hours) in the 8 days up to as of; the last at 2023-01-23 11:15" \
        in page.text
    assert len(re.findall(rb'class="seg (?:up|down)"', page.data)) >= 4


def test_unknown_stores_bad_as_of_and_bad_limits_are_named(client, seeded):
    assert client.get("/stores/nope/timeline").get_json()["error"] == "unknown store 'nope'"
    assert client.get("/stores/nope").status_code == 404
    bad = client.get("/stores/nope/timeline", query_string={"as_of": "soon"})
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("bad as_of")
    assert client.get("/stores", query_string={"limit": "0"}).status_code == 400
    assert client.get("/stores", query_string={"q": "\x85" * 256}).status_code == 400  # (too long as sent)
    # no stored id holds a control character (and PostgreSQL text cannot hold a NUL)
    assert client.get("/stores/a%00b/timeline").get_json()["error"] == "unknown store 'a\\x00b'"
    assert client.get("/stores/a%00b").status_code == 404
    assert client.get("/stores", query_string={"q": "1\x00"}).get_json()["stores"] == []
    assert client.get("/search", query_string={"q": "1\x00"}).status_code == 200


def test_search_by_prefix_with_the_latest_weekly_uptime(client, app, seeded):
    first = client.get("/stores", query_string={"q": "10", "limit": 5}).get_json()
    assert first["report_id"] is None and len(first["stores"]) == 5
    assert all(s["store_id"].startswith("10") and s["weekly_uptime_pct"] is None for s in first["stores"])
    report_id = trigger(client, json={"columns": "extended"})
    run_jobs(app)
    after = client.get("/stores", query_string={"q": "10", "limit": 5}).get_json()
    assert after["report_id"] == report_id
    rows = {r[0]: r for r in csv.reader(io.StringIO(client.get(f"/get_report/{report_id}").data.decode()))}
    for s in after["stores"]:
        if s["store_id"] not in rows:  # not in the report (no poll by its as_of)
            assert s["weekly_uptime_pct"] is None
            continue
        up, down = float(rows[s["store_id"]][3]), float(rows[s["store_id"]][6])
        assert s["weekly_uptime_pct"] == (round(100 * up / (up + down), 2) if up + down else None)
    one = after["stores"][0]["store_id"]
    assert client.get("/search", query_string={"q": one}).headers["Location"].endswith(f"/stores/{one}")
    listing = client.get("/search", query_string={"q": "10"})
    assert listing.status_code == 200 and one.encode() in listing.data


def test_the_fleet_page_from_the_latest_report(client, app, seeded):
    assert b"No routine report (one as of the newest poll) is complete yet" in client.get("/").data
    standard = trigger(client)  # the standard columns: ad hoc, shown only when picked
    routine = trigger(client, json={"columns": "extended"})
    run_jobs(app)
    page = client.get("/").data.decode()
    stores = client.get(f"/get_report/{routine}").data.decode().count("\n") - 1
    assert f"<strong>{stores:,}</strong> stores" in page and f'id="report-{routine}"' in page
    assert routine[:8] in page.split("Recent reports")[0] and page.count('class="bar"') == 10
    picked = client.get(f"/?report={standard}").data.decode()
    assert "This report is a standard one" in picked  # ranked by weekly uptime, then downtime
    assert len(re.findall(r'<tr data-store="[^"]*"><td><a href="/stores/', picked.split('class="data worst"')[1])) == 25


def test_the_fleet_page_of_an_extended_report_keeps_no_data_apart(client, app, seeded, tmp_path):
    """The seed's stores, a third of them in region:west: the page shows no data per window, the
    stores without any data in their own list, the worst by downtime backed by polls, names, and
    the same for one group."""
    import csv
    import io

    from storemon.database.loader import load_directory

    from .helpers import rows as rows_of, write_csv

    ids = [r[0] for r in rows_of(seeded, "SELECT store_id FROM stores ORDER BY store_id")]
    write_csv(tmp_path, "stores", ["store_id,name,groups",
                                   *(f"{s},Store {s[-4:]},region:{'west' if k % 3 == 0 else 'east'}"
                                     for k, s in enumerate(ids))])
    load_directory(seeded, tmp_path)
    report_id = trigger(client, json={"columns": "extended"})
    run_jobs(app)
    table = list(csv.DictReader(io.StringIO(client.get(f"/get_report/{report_id}").text)))
    for group, members in ((None, set(ids)), ("region:west", set(ids[::3]))):
        mine = [r for r in table if r["store_id"] in members]
        business = [float(r["uptime_last_week"]) + float(r["downtime_last_week"]) for r in mine]
        without = sum(1 for r, b in zip(mine, business)
                      if b > 0 and 0 < float(r["no_data_last_week"]) >= b - 0.015)
        backed = sorted((max(0.0, float(r["downtime_last_week"]) - float(r["no_data_last_week"])), r["store_id"])
                        for r, b in zip(mine, business)
                        if b > 0 and not 0 < float(r["no_data_last_week"]) >= b - 0.015)
        page = client.get("/", query_string={"group": group} if group else {}).text
        assert f"<strong>{len(mine):,}</strong> stores" in page
        assert re.search(rf'id="without-data-count"><strong>{without:,}</strong> stores sent no poll inside business hours',
                         page)
        worst = re.findall(r'<tr data-store="([^"]*)"><td><a href="/stores/[^"]*"><span class="store-name">Store ',
                           page.split('class="data worst"')[1].split("</table>")[0])
        assert len(worst) == min(25, sum(1 for b, _ in backed if b > 0))
        if worst:  # ranked by backed downtime, largest first (ties by weekly uptime)
            assert max(b for b, s in backed if s == worst[0]) == max(b for b, _ in backed)
        else:
            assert "No store had downtime backed by polls this week" in page
        week = sum(float(r["no_data_last_week"]) for r in mine) / sum(business)
        assert f"no data for {100 * week:.1f} % of it" in page
        assert 'id="down-now"' in page
        assert re.search(r'The newest poll was taken at <time datetime="2023-01-25T18:11:39.622234Z">.*</time>, '
                         r'\d+ d( \d+ h)? ago by this server', page)


def test_a_failed_report_is_drawn_apart_from_a_complete_one(client, app, seeded):
    from storemon.reports import lifecycle

    done, failed = trigger(client), trigger(client, query_string={"as_of": AS_OF})
    run_jobs(app)
    lifecycle.create(seeded, "failed-one", None)
    lifecycle.fail(seeded, app.extensions["storemon"].redis, "failed-one", "the database was gone")
    page = client.get("/").text
    row = re.search(r'<tr id="report-failed-one".*?</tr>', page, re.S)[0]
    assert 'class="failed"' in row and "✕ failed" in row and "<progress" not in row
    assert "Failed: the database was gone" in row
    complete = re.search(rf'<tr id="report-{done}".*?</tr>', page, re.S)[0]
    assert 'value="100"' in complete and "failed" not in complete and failed != done


def test_the_error_pages_of_the_console_are_pages_with_a_search(client, seeded):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = client.get("/stores/nope", headers=browser)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "unknown store &#39;nope&#39;" in page.text and 'role="search"' in page.text
    assert client.get("/no/such/page", headers=browser).mimetype == "text/html"
    assert client.get("/?report=nope", headers=browser).status_code == 404
    # API clients, and anyone who takes anything, still get JSON
    assert client.get("/stores/nope/timeline", headers=browser).get_json()["error"] == "unknown store 'nope'"
    assert client.get("/stores/nope").get_json()["error"] == "unknown store 'nope'"


def test_the_console_refuses_an_as_of_after_the_newest_poll(client, app, seeded):
    token = csrf_of(client.get("/").data)
    sent = client.post("/console/trigger", data={"as_of": "2030-01-01T00:00:00Z", "csrf": token},
                       follow_redirects=True)
    assert "Not queued: as_of 2030-01-01T00:00:00Z is after the newest poll" in sent.text
    assert client.get("/reports").get_json()["reports"] == []
    wanted = client.post("/console/trigger", data={"as_of": "2030-01-01T00:00:00Z", "allow_future": "true",
                                                   "csrf": token})
    assert wanted.status_code == 302 and len(client.get("/reports").get_json()["reports"]) == 1


def csrf_of(page: bytes) -> str:
    return re.search(rb'name="csrf" value="([^"]+)"', page)[1].decode()


def test_trigger_from_the_console_needs_its_csrf_token(client, app, seeded):
    refused = client.post("/console/trigger", data={"as_of": AS_OF})
    assert refused.status_code == 400 and "this form has expired" in refused.get_json()["error"]
    token = csrf_of(client.get("/").data)
    sent = client.post("/console/trigger", data={"as_of": AS_OF, "csrf": token})
    assert sent.status_code == 302 and "#report-" in sent.headers["Location"]
    bad = client.post("/console/trigger", data={"as_of": "tomorrow", "csrf": token}, follow_redirects=True)
    assert b"Bad as_of" in bad.data


def test_with_report_tokens_required_a_person_signs_in(make_app, seeded):
    client = make_app(require_report_token=True).test_client()
    made = {scope: tokens.create(seeded, scope, [scope]) for scope in ("report", "ingest")}
    for path in ("/", "/stores/x", "/search?q=1"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/signin?next=" in answer.headers["Location"]
    assert client.get("/stores/x/timeline").status_code == 401  # JSON: the API's answer
    form = csrf_of(client.get("/signin").data)
    wrong = client.post("/signin", data={"csrf": form, "token": made["ingest"], "next": "/"})
    assert wrong.status_code == 401 and b"lacks the report scope" in wrong.data
    signed = client.post("/signin", data={"csrf": form, "token": made["report"], "next": "//evil.example/"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/"  # never off-site
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and made["report"] not in cookie
    assert client.get("/").status_code == 200
    assert client.get("/reports").status_code == 200  # the page's script reads it with the cookie
    assert client.post("/trigger_report").status_code == 401  # a cookie never authorises a change via the API
    tokens.revoke(seeded, "report")
    assert client.get("/").status_code == 302  # revoked: signed out at once


def test_every_page_sends_its_security_headers(client):
    pages = {"/": None, "/signin": None, "/search?q=nothing": None, "/docs/": None, "/rq/": ("ops", "s3cret")}
    for path, auth in pages.items():
        page = client.get(path, auth=auth)
        assert page.status_code == 200 and page.mimetype == "text/html", path
        policy = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, path
        assert ("'unsafe-inline'" in policy) == path.startswith(("/docs", "/rq")), path  # third-party pages only
        assert page.headers["X-Frame-Options"] == "DENY", path
    for page in (client.get("/"), client.get("/health"), client.get("/reports")):
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "same-origin"
