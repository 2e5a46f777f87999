"""Settings from the environment."""

from __future__ import annotations

import pytest

from storemon.config import DEFAULT_DATABASE_URL, ConfigError, load_settings


def test_defaults_are_the_embedded_database_and_local_redis():
    settings = load_settings({})
    assert settings.database_url == DEFAULT_DATABASE_URL and DEFAULT_DATABASE_URL.endswith("/instance/storemon.db")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert not settings.dashboard_enabled


@pytest.mark.parametrize("url", ["postgres://u:p@db:5432/x", "postgresql://u:p@db:5432/x",
                                 "postgresql+psycopg://u:p@db:5432/x"])
def test_heroku_and_plain_postgresql_urls_use_psycopg_3(url):
    assert load_settings({"DATABASE_URL": url}).database_url == "postgresql+psycopg://u:p@db:5432/x"


@pytest.mark.parametrize("environ,message", [
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be a postgresql:// or sqlite:// URL, got 'mysql'"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a redis://, rediss:// or unix:// URL"),
    ({"REPORT_JOB_TIMEOUT": "ten"}, "REPORT_JOB_TIMEOUT must be a whole number"),
    ({"REPORT_RESULT_TTL": "0"}, "REPORT_RESULT_TTL must be positive, got 0"),
    ({"MAX_UPLOAD_BYTES": "-5"}, "MAX_UPLOAD_BYTES must be positive, got -5"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ({"POLL_RETENTION_DAYS": "7"}, "POLL_RETENTION_DAYS must be 0 (keep all) or more than the 8-day lookback"),
    ({"RETENTION_SCHEDULE": "* * *"}, "RETENTION_SCHEDULE must be a five-field cron expression"),
    ({"REQUIRE_REPORT_TOKEN": "maybe"}, "REQUIRE_REPORT_TOKEN must be true or false"),
    ({"TRIGGER_RATE_LIMIT": "lots"}, "TRIGGER_RATE_LIMIT must be a rate limit such as '30/minute'"),
    ({"MAX_INGEST_BYTES": "0"}, "MAX_INGEST_BYTES must be positive, got 0"),
    ({"PROXY_HOPS": "-1"}, "PROXY_HOPS must be at least 0, got -1"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json, got 'xml'"),
    ({"REPORT_DATABASE_WAIT": "900"}, "REPORT_DATABASE_WAIT (900 s) must be shorter than REPORT_JOB_TIMEOUT"),
])
def test_a_bad_setting_is_one_line_naming_it(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_dashboard_needs_both_credentials():
    assert not load_settings({"DASHBOARD_USER": "ops"}).dashboard_enabled
    assert load_settings({"DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD": "pw"}).dashboard_enabled


def test_schedules_can_be_turned_off_and_polls_kept():
    settings = load_settings({"REPORT_SCHEDULE": "", "RETENTION_SCHEDULE": " ", "POLL_RETENTION_DAYS": "0"})
    assert (settings.report_schedule, settings.retention_schedule, settings.poll_retention_days) == ("", "", 0)
    assert load_settings({"API_RATE_LIMIT": ""}).api_rate_limit == ""
    assert load_settings({"TRIGGER_RATE_LIMIT": "5/second; 100/hour"}).trigger_rate_limit == "5/second; 100/hour"


def test_app_json_describes_every_setting_the_code_reads_and_the_procfiles_processes():
    import json
    import sys

    from storemon.config import PROJECT_ROOT

    read = set()

    class Recording(dict):
        def get(self, key, default=None):
            read.add(key)
            return default

    load_settings(Recording())
    manifest = json.loads((PROJECT_ROOT / "app.json").read_text())
    from_platform = {"DATABASE_URL", "REDIS_URL", "PORT"}  # set by the PostgreSQL and Redis add-ons, and the router
    assert set(manifest["env"]) | from_platform == read
    procfile = {line.split(":")[0] for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line}
    assert set(manifest["formation"]) == procfile - {"release"}
    assert (PROJECT_ROOT / ".python-version").read_text().strip() == f"{sys.version_info[0]}.{sys.version_info[1]}"
