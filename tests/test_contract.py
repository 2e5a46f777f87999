"""The OpenAPI document is true: schemathesis, with all its checks, against the live web process
(waitress) and a worker, on PostgreSQL and Redis holding the seed data.

A few hundred generated requests per operation, from a fixed seed so that a run repeats:
no 5xx, every status, header and body as the document says, schema-valid requests accepted
and schema-violating ones refused. tests/schemathesis.toml holds the places where a
JSON Schema cannot say what the service does, each with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import text

from storemon.database import tokens
from storemon.config import PROJECT_ROOT

from .helpers import TEST_DATABASE_URL, TEST_REDIS_URL
from .services import WebProcess, WorkerProcess

pytestmark = pytest.mark.slow
CASES_PER_OPERATION = 300
SEED = 1


@pytest.fixture
def live(seeded, redis_conn, tmp_path):
    with seeded.begin() as conn:  # a group for reports of one group (tests/schemathesis.toml names it)
        conn.execute(text("INSERT INTO store_groups (store, label) SELECT id, 'region:west' FROM stores WHERE id % 2 = 0"))
    env = {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "RQ_QUEUE": "reports-contract",
           "LOG_LEVEL": "WARNING", "TRIGGER_RATE_LIMIT": "", "API_RATE_LIMIT": "", "METRICS_TOKEN": "scrape",
           "WEBHOOK_ATTEMPTS": "1", "WEBHOOK_TIMEOUT": "1",  # (generated endpoints are nowhere: one try each)
           "AUTH_FAILURE_LIMIT": ""}  # (its negative cases send bad credentials: they must not lock the rest out)
    web = WebProcess(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        token = tokens.create(seeded, "schemathesis", ["admin"])
        _routine_report(web.base, token)
        yield web.base, token
    finally:
        web.stop()
        worker.stop()


def _routine_report(base: str, token: str) -> None:
    """A routine report (extended, of every store, as of the newest poll), completed: GET /reports/latest
    has one to serve (the generated triggers of one group are never routine)."""
    auth = {"Authorization": f"Bearer {token}"}
    with urllib.request.urlopen(urllib.request.Request(base + "/trigger_report?columns=extended", method="POST",
                                                       headers=auth),
                                timeout=10) as response:
        report_id = json.load(response)["report_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(urllib.request.Request(f"{base}/get_report/{report_id}", headers=auth),
                                    timeout=10) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError("the routine report did not complete")


def test_the_document_is_openapi_3_1_and_names_every_api_endpoint(live):
    base, _ = live
    with urllib.request.urlopen(base + "/openapi.json", timeout=10) as response:
        document = json.load(response)
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/trigger_report", "/get_report", "/get_report/{report_id}", "/reports", "/reports/latest", "/polls",
        "/business_hours", "/timezones", "/special_hours", "/holidays", "/stores", "/stores/down", "/stores/{store_id}/timeline",
        "/stores/{store_id}/calendar", "/incidents", "/trends", "/slo", "/slo/targets", "/slo/targets/fleet",
        "/slo/targets/groups/{group}", "/slo/targets/stores/{store_id}", "/webhooks", "/webhooks/{webhook_id}",
        "/webhooks/{webhook_id}/deliveries", "/webhooks/{webhook_id}/test", "/health", "/metrics"}
    assert set(document["paths"]["/stores"]) == {"get", "put", "delete"}


def test_schemathesis_finds_nothing_against_the_live_service(live, seeded, tmp_path):
    base, token = live
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(PROJECT_ROOT / "tests" / "schemathesis.toml"),
         "run", f"{base}/openapi.json", "--checks", "all", "--max-examples", str(CASES_PER_OPERATION),
         "--seed", str(SEED), "--workers", "1", "--no-color", "--generation-database", "none",
         "--header", f"Authorization: Bearer {token}", "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout, run.stdout[-3000:]
    with seeded.connect() as conn:  # the worker computed the reports it triggered
        assert conn.execute(text("SELECT count(*) FROM reports WHERE status = 'Complete'")).scalar() > 0
