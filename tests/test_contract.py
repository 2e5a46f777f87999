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
    env = {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "RQ_QUEUE": "reports-contract",
           "LOG_LEVEL": "WARNING", "TRIGGER_RATE_LIMIT": "", "API_RATE_LIMIT": "", "METRICS_TOKEN": "scrape"}
    web = WebProcess(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        yield web.base, tokens.create(seeded, "schemathesis", ["admin"])
    finally:
        web.stop()
        worker.stop()


def test_the_document_is_openapi_3_1_and_names_every_api_endpoint(live):
    base, _ = live
    with urllib.request.urlopen(base + "/openapi.json", timeout=10) as response:
        document = json.load(response)
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/trigger_report", "/get_report", "/get_report/{report_id}", "/reports", "/reports/latest", "/polls",
        "/business_hours", "/timezones", "/special_hours", "/holidays", "/stores", "/stores/{store_id}/timeline",
        "/stores/{store_id}/calendar", "/health", "/metrics"}
    assert set(document["paths"]["/stores"]) == {"get", "delete"}


def test_schemathesis_finds_nothing_against_the_live_service(live, seeded, tmp_path):
    base, token = live
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(PROJECT_ROOT / "tests" / "schemathesis.toml"),
         "run", f"{base}/openapi.json", "--checks", "all", "--max-examples", str(CASES_PER_OPERATION),
         "--seed", str(SEED), "--workers", "1", "--no-color", "--generation-database", "none",
         "--header", f"Authorization: Bearer {token}", "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout
    with seeded.connect() as conn:  # the worker computed the reports it triggered
        assert conn.execute(text("SELECT count(*) FROM reports WHERE status = 'Complete'")).scalar() > 0
