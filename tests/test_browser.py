"""The console in a real browser: headless Chromium (the OS's package) driven by Selenium,
against the real web process (waitress), a worker, PostgreSQL and Redis.

Screenshots of every page go to tests/screenshots/ (ignored by git).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storemon.config import PROJECT_ROOT
from storemon.database.loader import load_directory

from .helpers import TEST_DATABASE_URL, TEST_REDIS_URL
from .helpers import hours_csv, polls_csv, timezones_csv
from .services import WebProcess, WorkerProcess, wait_for

pytestmark = pytest.mark.slow
SHOTS = PROJECT_ROOT / "tests" / "screenshots"
AS_OF = "2023-01-25T12:00:00Z"
DST_AS_OF = "2023-03-12T12:00:00Z"
# A store for each SPEC rule: (store id, as_of, the rule its sessions must show)
RULES = [("rule-switch", AS_OF, "own_polls"), ("rule-last-known", AS_OF, "last_known"),
         ("rule-first-later", AS_OF, "first_later"), ("rule-no-evidence", AS_OF, "no_evidence"),
         ("rule-overnight", AS_OF, "own_polls"), ("rule-dst", DST_AS_OF, "own_polls")]


def _rules_dataset(directory: Path) -> Path:
    timezones_csv(directory, [(s, "UTC") for s, _, _ in RULES[:-1]] + [("rule-dst", "America/Chicago")])
    hours_csv(directory, [("rule-switch", 0, "09:00", "12:00"), ("rule-no-evidence", 0, "09:00", "10:00"),
                          ("rule-overnight", 1, "18:00", "02:00"), ("rule-dst", 6, "01:00", "04:00")]
              + [(s, d, "09:00", "10:00") for s in ("rule-last-known", "rule-first-later") for d in range(7)])
    polls_csv(directory, [
        ("rule-switch", "active", "2023-01-23 10:14:00 UTC"), ("rule-switch", "inactive", "2023-01-23 11:15:00 UTC"),
        ("rule-last-known", "inactive", "2023-01-19 09:30:00 UTC"),
        ("rule-first-later", "active", "2023-01-25 09:30:00 UTC"),
        ("rule-no-evidence", "active", "2023-01-23 11:00:00 UTC"),
        ("rule-overnight", "active", "2023-01-24 19:00:00 UTC"), ("rule-overnight", "inactive", "2023-01-25 01:00:00 UTC"),
        ("rule-dst", "active", "2023-03-12 07:30:00 UTC"), ("rule-dst", "inactive", "2023-03-12 08:45:00 UTC")])
    return directory


@pytest.fixture
def served(pg, redis_conn, tmp_path):
    """The seed data and the rule stores, served by waitress, with a worker."""
    load_directory(pg, PROJECT_ROOT / "seed" / "2023-01")
    load_directory(pg, _rules_dataset(tmp_path / "rules"))
    env = {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "RQ_QUEUE": "reports-test",
           "LOG_LEVEL": "WARNING"}
    web = WebProcess(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        yield web.base
    finally:
        web.stop()
        worker.stop()


@contextmanager
def other_site(directory: Path):
    """Another origin: a static file server of the directory, on a port of its own."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    directory.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _post(url: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=30) as response:
        return response.read()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.implicitly_wait(0)
    SHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> None:
    """The whole page, not only the window."""
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(900, driver.execute_script("return document.body.scrollHeight") + 40))
    driver.save_screenshot(str(SHOTS / name))
    driver.set_window_size(width, 900)


def no_console_errors(driver) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def fits_a_phone(driver, shot: str) -> None:
    driver.set_window_size(390, 844)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    screenshot(driver, shot)
    driver.set_window_size(1280, 900)


def keyboard_reaches(driver, *element_ids: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    reached = set()
    for _ in range(60):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.add(driver.execute_script("return document.activeElement.id"))
    assert set(element_ids) <= reached


def test_trigger_watch_progress_and_download_from_the_fleet_page(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served + "/")
    assert "No routine report (one as of the newest poll) is complete yet" in browser.page_source
    keyboard_reaches(browser, "q", "as_of", "trigger")
    browser.find_element(By.ID, "as_of").send_keys(AS_OF)
    browser.find_element(By.ID, "trigger").click()
    wait_for(lambda: "#report-" in browser.current_url, 10, "the page to come back")
    report_id = browser.current_url.split("#report-")[1]
    row = f"tr[data-report-id='{report_id}']"
    seen = []

    def complete() -> bool:
        status = browser.find_element(By.CSS_SELECTOR, row).get_attribute("data-status")
        seen.append(int(browser.find_element(By.CSS_SELECTOR, f"{row} progress").get_attribute("value")))
        return status == "Complete"

    wait_for(complete, 60, "the report to complete in the page", every_s=0.05)
    assert seen[-1] == 100 and seen == sorted(seen)  # it only rises
    assert browser.find_element(By.CSS_SELECTOR, f"{row} .pct").text == "100 %"
    browser.find_element(By.CSS_SELECTOR, f"{row} .download a").click()
    downloaded = tmp_path / "downloads" / f"report-{report_id}.csv"
    wait_for(downloaded.exists, 30, "the download")
    assert downloaded.read_bytes() == _get(f"{served}/get_report/{report_id}")
    no_console_errors(browser)

    # A report triggered elsewhere (the clock, the API) appears on the open page by itself, and
    # once complete the page shows it: it is a routine one, as of the newest poll.
    routine = json.loads(_post(f"{served}/trigger_report?columns=extended"))["report_id"]
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"tr[data-report-id='{routine}']"), 15,
             "the report triggered elsewhere to appear")
    wait_for(lambda: routine[:8] in browser.find_element(By.CLASS_NAME, "lede").text, 60,
             "the page to show the new routine report")
    assert browser.find_element(By.CSS_SELECTOR, f"tr[data-report-id='{routine}']").get_attribute("data-status") \
        == "Complete"
    no_console_errors(browser)

    # the report made by the form is as of a chosen instant: a person picks it to see it
    browser.find_element(By.CSS_SELECTOR, f"{row} a.show").click()
    wait_for(lambda: f"report={report_id}" in browser.current_url, 10, "the chosen report's page")
    assert "You chose this report" in browser.find_element(By.CLASS_NAME, "lede").text
    stores = _get(f"{served}/get_report/{report_id}").count(b"\n") - 1
    assert f"{stores:,} stores" in browser.find_element(By.CLASS_NAME, "lede").text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".histogram .bar")) == 10
    # the worst: the stores whose downtime polls back (few in the sparse sample; most stores'
    # time is no data, and they are listed apart)
    worst = browser.find_elements(By.CSS_SELECTOR, "table.worst a")
    assert 1 <= len(worst) <= 25 and browser.find_element(By.ID, "without-data-count")
    screenshot(browser, "fleet.png")
    fits_a_phone(browser, "fleet-phone.png")
    no_console_errors(browser)

    worst[0].click()  # a real store of the sample, from the worst list
    assert browser.find_elements(By.CSS_SELECTOR, ".band") and browser.find_elements(By.ID, "sessions")
    screenshot(browser, "store-worst.png")
    no_console_errors(browser)
    # and the sample's puzzle: a store down all week although its polls are active (they fall
    # outside its business hours), which its page shows as faded polls beside the hatched hours
    rows = [line.split(",") for line in _get(f"{served}/get_report/{report_id}").decode().splitlines()[1:]]
    puzzling = next(r[0] for r in rows if not r[0].startswith("rule-") and float(r[3]) == 0 < float(r[6])
                    and (polls := json.loads(_get(f"{served}/stores/{r[0]}/timeline?as_of={AS_OF}"))["polls"])
                    and all(p["status"] == "active" and p["use"] == "outside_hours" for p in polls))
    browser.get(f"{served}/stores/{puzzling}?as_of={AS_OF}")
    assert browser.find_elements(By.CSS_SELECTOR, "rect.seg.down")
    assert browser.find_elements(By.CSS_SELECTOR, "circle.poll.active.ignored[data-role='outside_hours']")
    screenshot(browser, "store.png")
    fits_a_phone(browser, "store-phone.png")
    no_console_errors(browser)

    browser.find_element(By.ID, "q").send_keys("rule-sw\n")  # a unique prefix goes straight to the store
    wait_for(lambda: browser.current_url.endswith("/stores/rule-switch"), 10, "the store page")
    browser.find_element(By.ID, "q").send_keys("rule-\n")
    wait_for(lambda: "/search?q=rule-" in browser.current_url, 10, "the search page")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.data tbody tr")) == len(RULES)
    screenshot(browser, "search.png")
    no_console_errors(browser)


def _chart_range(timezone: str, as_of: str) -> tuple[str, str]:
    """The chart's span in UTC: local midnight 6 days before as_of's local date, to as_of."""
    tz = ZoneInfo(timezone)
    moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    first = (moment.astimezone(tz) - timedelta(days=6)).date()
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return start.isoformat().replace("+00:00", "Z"), as_of


def _merged(pieces: list[tuple]) -> list[tuple]:
    """(start, end, status) pieces, those that touch with the same status joined."""
    out: list[tuple] = []
    for start, end, status in sorted(pieces):
        if out and out[-1][2] == status and out[-1][1] == start:
            out[-1] = (out[-1][0], end, status)
        else:
            out.append((start, end, status))
    return out


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_each_rules_store_page_matches_its_timeline_json_and_report_row(served, browser):
    from selenium.webdriver.common.by import By

    report_rows = {}
    for as_of in (AS_OF, DST_AS_OF):
        # (the DST store's day ends after the newest poll: asked for on purpose)
        request = urllib.request.Request(f"{served}/trigger_report?as_of={as_of}&allow_future=true&columns=extended",
                                         method="POST")
        report_id = json.loads(urllib.request.urlopen(request, timeout=10).read())["report_id"]
        wait_for(lambda report_id=report_id: _status(f"{served}/get_report/{report_id}") == 200, 60, "the report")
        for line in _get(f"{served}/get_report/{report_id}").decode().splitlines()[1:]:
            store_id, *values = line.split(",")
            report_rows[(store_id, as_of)] = values

    for store_id, as_of, rule in RULES:
        browser.get(f"{served}/stores/{store_id}?as_of={as_of}")
        timeline = json.loads(_get(f"{served}/stores/{store_id}/timeline?as_of={as_of}"))
        assert rule in {s["rule"] for s in timeline["sessions"]}
        # the page's report row is the JSON's and the full (extended) report's
        cells = {c.get_attribute("data-col"): c.text for c in browser.find_elements(By.CSS_SELECTOR, "#report-row td")}
        assert cells == timeline["row"]
        assert list(cells.values()) == report_rows[(store_id, as_of)]
        # the chart's stretches, joined across midnights, are the JSON's segments cut to the chart's days
        drawn = _merged([(_instant(r.get_attribute("data-start")), _instant(r.get_attribute("data-end")),
                          r.get_attribute("data-status"))
                         for r in browser.find_elements(By.CSS_SELECTOR, "rect.seg[data-start]")])
        lo, hi = _chart_range(timeline["timezone_used"], as_of)
        expected = []
        for session in timeline["sessions"]:
            for g in session["segments"]:
                start, end = max(_instant(g["start"]), _instant(lo)), min(_instant(g["end"]), _instant(hi))
                if end > start:
                    expected.append((start, end, g["status"]))
        assert drawn == _merged(expected) and drawn
        words = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#sessions td.rule")]
        assert set(words) == {s["explanation"] for s in timeline["sessions"]}
        screenshot(browser, f"{store_id}.png")
        no_console_errors(browser)
    # the DST night's band is 23 hours long
    browser.get(f"{served}/stores/rule-dst?as_of={DST_AS_OF}")
    assert "(23 h)" in browser.find_element(By.CSS_SELECTOR, ".band[data-date='2023-03-12'] .band-label").text


def test_pages_need_sign_in_when_tokens_are_required(pg, redis_conn, browser, tmp_path):
    """Signed in with a report token, a person reads pages, triggers a report from the fleet
    page's form, and signs out; no page of the service can be framed by another site."""
    from selenium.webdriver.common.by import By

    from storemon.database import tokens

    load_directory(pg, _rules_dataset(tmp_path / "rules"))
    token = tokens.create(pg, "person", ["report"])
    env = {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "RQ_QUEUE": "reports-test",
           "LOG_LEVEL": "WARNING", "REQUIRE_REPORT_TOKEN": "true"}
    web = WebProcess(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        browser.get(f"{web.base}/stores/rule-switch?as_of={AS_OF}")
        assert "/signin" in browser.current_url
        keyboard_reaches(browser, "token")
        browser.find_element(By.ID, "token").send_keys(token + "\n")
        wait_for(lambda: browser.current_url.endswith(f"/stores/rule-switch?as_of={AS_OF}"), 10, "the store page")
        assert browser.find_elements(By.CSS_SELECTOR, "rect.seg")
        screenshot(browser, "signed-in-store.png")
        no_console_errors(browser)

        browser.get(web.base + "/")  # the trigger form posts with the session, and its CSRF token
        browser.find_element(By.ID, "as_of").send_keys(AS_OF)
        browser.find_element(By.ID, "trigger").click()
        wait_for(lambda: "#report-" in browser.current_url, 10, "the page to come back")
        report_id = browser.current_url.split("#report-")[1]
        assert f"Report {report_id} queued." in browser.find_element(By.CSS_SELECTOR, ".flash").text
        row = f"tr[data-report-id='{report_id}']"
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, row).get_attribute("data-status") == "Complete", 60,
                 "the report to complete in the page")
        no_console_errors(browser)

        browser.find_element(By.CSS_SELECTOR, "form[action='/signout'] button").click()
        wait_for(lambda: "/signin" in browser.current_url, 10, "the sign-in page")
        browser.get(web.base + "/")  # signed out: the session no longer opens pages
        assert "/signin" in browser.current_url

        # another site framing a page: the browser shows its error page instead (frame-ancestors
        # 'none'), where it shows a resource that sets no policy (/health, the control)
        with other_site(tmp_path / "elsewhere") as elsewhere:
            def framed(path: str) -> str:
                page = f"frame{path.replace('/', '-')}.html"
                (tmp_path / "elsewhere" / page).write_text(f"<iframe src='{web.base}{path}'></iframe>")
                browser.get(f"{elsewhere}/{page}")
                browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
                try:
                    return wait_for(lambda: browser.execute_script("return document.readyState") == "complete"
                                    and browser.execute_script("return location.href"), 10, "the frame to load")
                finally:
                    browser.switch_to.default_content()

            assert framed("/health") == f"{web.base}/health"
            assert framed("/signin").startswith("chrome-error://")
    finally:
        worker.stop()
        web.stop()


def test_the_dashboard_renders_under_its_content_security_policy(pg, redis_conn, browser, tmp_path):
    """rq-dashboard's pages (behind basic auth) render their lists with no error in the console."""

    env = {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "RQ_QUEUE": "reports-test",
           "LOG_LEVEL": "INFO", "DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD": "s3cret"}
    web = WebProcess(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: "Listening on" in worker.output(), 60, "the worker to start")
        browser.get(web.base.replace("http://", "http://ops:s3cret@") + "/rq/0/view/workers")
        # the worker's row, drawn by the page's script from a template, names its queue
        wait_for(lambda: "reports-test" in browser.execute_script(
            "return Array.from(document.querySelectorAll('td')).map(td => td.innerText).join(' ')"),
                 20, "the worker to be listed")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
                  and "/static/favicon.ico" not in e["message"]]  # (rq-dashboard asks the root for its icon)
        assert errors == []
    finally:
        worker.stop()
        web.stop()


def test_the_api_docs_render_from_the_service_alone(served, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{served}/docs/")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) >= 12, 30, "the operations to render")
    assert "storemon" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(served) for url in loaded), loaded  # nothing from a CDN
    screenshot(browser, "docs.png")
    no_console_errors(browser)


def test_a_report_failing_while_the_page_is_open_is_drawn_apart(pg, redis_conn, browser, tmp_path):
    """Nothing is loaded, so a report triggered elsewhere fails in the worker: the open fleet page
    lists it by itself, and once it fails draws it with the failed mark instead of a bar."""
    from selenium.webdriver.common.by import By

    env = {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "LOG_LEVEL": "WARNING"}
    web = WebProcess(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        browser.get(web.base + "/")
        report_id = json.loads(_post(f"{web.base}/trigger_report"))["report_id"]
        row = f"tr[data-report-id='{report_id}']"
        wait_for(lambda: [r.get_attribute("data-status") for r in browser.find_elements(By.CSS_SELECTOR, row)]
                 == ["Failed"], 30, "the report to fail on the open page")
        assert "failed" in browser.find_element(By.CSS_SELECTOR, row).get_attribute("class").split()
        assert browser.find_element(By.CSS_SELECTOR, f"{row} .failed-mark").text == "✕ failed"
        assert not browser.find_elements(By.CSS_SELECTOR, f"{row} progress")
        assert "no polls are loaded yet" in browser.find_element(By.CSS_SELECTOR, f"{row} .status").text
        no_console_errors(browser)
    finally:
        worker.stop()
        web.stop()


def test_the_fleet_page_shows_who_is_down_no_data_and_groups(served, pg, browser, tmp_path):
    """A store down since 08:04 at the data's clock (the rule-dst store's last poll, 2023-03-12
    08:45), names and groups for the rule stores: the down-now panel, the no-data figures and list, the group filter, and a store page
    shading its no-data stretches with the rule in words."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from .helpers import write_csv

    down = tmp_path / "down"
    down.mkdir()
    polls_csv(down, [("down-now", "active", "2023-03-12 07:50:00 UTC"), ("down-now", "inactive", "2023-03-12 08:04:00 UTC")])
    write_csv(down, "stores", ["store_id,name,groups", "down-now,Corner Café,region:west",
                               *(f"{s},Rule {s[5:]},region:west" for s, _, _ in RULES)])
    load_directory(pg, down)
    report_id = json.loads(_post(f"{served}/trigger_report?columns=extended"))["report_id"]
    wait_for(lambda: _status(f"{served}/get_report/{report_id}") == 200 and b"no_data_last_week" in _get(
        f"{served}/get_report/{report_id}"), 60, "the extended report")

    browser.get(served + "/")
    row = browser.find_element(By.CSS_SELECTOR, "#down-list tr[data-store='down-now']")
    assert "Corner Café" in row.text and "41 min" in row.text and "region:west" in row.text
    assert "no data for" in browser.find_element(By.CSS_SELECTOR, ".tile-split").text
    without = browser.find_element(By.ID, "without-data-count").text
    assert "sent no poll inside business hours this week" in without
    screenshot(browser, "fleet-down-now.png")
    fits_a_phone(browser, "fleet-down-now-phone.png")
    no_console_errors(browser)

    Select(browser.find_element(By.ID, "group")).select_by_value("region:west")
    browser.find_element(By.CSS_SELECTOR, "#group-filter button").click()
    wait_for(lambda: "group=region" in browser.current_url, 10, "the group's page")
    assert f"{len(RULES) + 1} stores in this group" in browser.find_element(By.CLASS_NAME, "lede").text
    assert browser.find_elements(By.CSS_SELECTOR, "#down-list tr[data-store='down-now']")
    listed = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.worst a, #without-data-list a")]
    assert listed and all(name.startswith(("Rule ", "Corner Café")) for name in listed)
    no_console_errors(browser)

    browser.get(f"{served}/stores/rule-no-evidence?as_of={AS_OF}")
    assert "Rule no-evidence" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_elements(By.CSS_SELECTOR, "rect.gap")
    words = browser.find_element(By.ID, "gaps").text
    assert "no poll within 60 minutes, and none in 8 days: down" in words
    screenshot(browser, "store-no-data.png")
    no_console_errors(browser)
