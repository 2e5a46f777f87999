"""Settings from the environment: one loader for web, worker, CLI, Alembic and tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'storemon.db'}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    queue_name: str = "reports"
    report_job_timeout: int = 600
    report_result_ttl: int = 3600
    report_failure_ttl: int = 7 * 24 * 3600
    # A report whose worker dies (killed, restarted by the platform) runs again this many times.
    report_retries: int = 2
    # How long a running report waits out an unreachable database before it fails.
    report_database_wait: int = 300
    # The longest a web request waits for the database: to connect, and for each statement.
    database_timeout: int = 3
    max_upload_bytes: int = 1 << 20
    # Ingestion (POST /polls, PUT /business_hours, PUT /timezones): the largest body as sent,
    # the most it may grow to once decompressed, and the longest its transaction may wait or run.
    max_ingest_bytes: int = 64 << 20
    max_ingest_inflated_bytes: int = 256 << 20
    ingest_timeout: int = 120
    # Requests a client (its token, else its address) may make; "" turns a limit off.
    trigger_rate_limit: str = "30/minute"
    api_rate_limit: str = "1200/minute"
    # Proxies in front of the web process (Heroku's router: 1) whose X-Forwarded-For is believed.
    proxy_hops: int = 0
    # The report endpoints want a bearer token of scope report (or admin); off for the embedded demo.
    require_report_token: bool = False
    # The clock process (python -m storemon clock): cron schedules (UTC), an interval, and retention.
    report_schedule: str = "5 * * * *"
    settle_every: int = 60
    retention_schedule: str = "30 3 * * *"
    report_retention_days: int = 30
    poll_retention_days: int = 90  # 0 keeps every poll
    # Signs the console's session cookie; unset, each process makes a random one (sessions then
    # end with the process and do not cross web processes). Secure cookies: HTTPS only.
    secret_key: str | None = None
    secure_cookies: bool = False
    dashboard_user: str | None = None
    dashboard_password: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # or json: one object a line

    @property
    def dashboard_enabled(self) -> bool:
        return bool(self.dashboard_user and self.dashboard_password)


def normalise_database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` and plain ``postgresql://``; always drive them with psycopg 3."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ConfigError(
        f"DATABASE_URL must be a postgresql:// or sqlite:// URL, got {url.split('://')[0]!r}"
    )


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be {'positive' if minimum == 1 else f'at least {minimum}'}, got {value}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {environ[name]!r}")


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be {' or '.join(choices)}, got {environ[name]!r}")
    return raw


def _is_cron(value: str) -> bool:
    from croniter import croniter

    return croniter.is_valid(value) and len(value.split()) == 5


def _is_rate(value: str) -> bool:
    from limits import parse_many

    try:
        return bool(parse_many(value))
    except ValueError:
        return False


def _optional(environ: Mapping[str, str], name: str, default: str, valid: Callable[[str], bool],
              expected: str) -> str:
    """A text setting that ``valid`` accepts, or empty to turn its feature off."""
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip()
    if value and not valid(value):
        raise ConfigError(f"{name} must be {expected}, or empty, got {raw!r}")
    return value


def _cron(environ: Mapping[str, str], name: str, default: str) -> str:
    """A five-field cron expression (UTC), or empty to turn the schedule off."""
    return _optional(environ, name, default, _is_cron, "a five-field cron expression such as '5 * * * *'")


def _rate(environ: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit such as '30/minute' or '5/second; 100/hour', or empty for none."""
    return _optional(environ, name, default, _is_rate, "a rate limit such as '30/minute' or '5/second; 100/hour'")


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate every setting; raise ConfigError with one clear line on a bad one."""
    defaults = Settings()
    redis_url = environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}")
    log_level = (environ.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")
    settings = Settings(
        database_url=normalise_database_url(environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
        redis_url=redis_url,
        queue_name=environ.get("RQ_QUEUE") or defaults.queue_name,
        report_job_timeout=_int(environ, "REPORT_JOB_TIMEOUT", defaults.report_job_timeout),
        report_result_ttl=_int(environ, "REPORT_RESULT_TTL", defaults.report_result_ttl),
        report_failure_ttl=_int(environ, "REPORT_FAILURE_TTL", defaults.report_failure_ttl),
        report_retries=_int(environ, "REPORT_RETRIES", defaults.report_retries, minimum=0),
        report_database_wait=_int(environ, "REPORT_DATABASE_WAIT", defaults.report_database_wait, minimum=0),
        database_timeout=_int(environ, "DATABASE_TIMEOUT", defaults.database_timeout),
        max_upload_bytes=_int(environ, "MAX_UPLOAD_BYTES", defaults.max_upload_bytes),
        max_ingest_bytes=_int(environ, "MAX_INGEST_BYTES", defaults.max_ingest_bytes),
        max_ingest_inflated_bytes=_int(environ, "MAX_INGEST_INFLATED_BYTES", defaults.max_ingest_inflated_bytes),
        ingest_timeout=_int(environ, "INGEST_TIMEOUT", defaults.ingest_timeout),
        trigger_rate_limit=_rate(environ, "TRIGGER_RATE_LIMIT", defaults.trigger_rate_limit),
        api_rate_limit=_rate(environ, "API_RATE_LIMIT", defaults.api_rate_limit),
        proxy_hops=_int(environ, "PROXY_HOPS", defaults.proxy_hops, minimum=0),
        require_report_token=_bool(environ, "REQUIRE_REPORT_TOKEN", defaults.require_report_token),
        report_schedule=_cron(environ, "REPORT_SCHEDULE", defaults.report_schedule),
        settle_every=_int(environ, "SETTLE_EVERY", defaults.settle_every),
        retention_schedule=_cron(environ, "RETENTION_SCHEDULE", defaults.retention_schedule),
        report_retention_days=_int(environ, "REPORT_RETENTION_DAYS", defaults.report_retention_days),
        poll_retention_days=_int(environ, "POLL_RETENTION_DAYS", defaults.poll_retention_days, minimum=0),
        secret_key=environ.get("SECRET_KEY") or None,
        secure_cookies=_bool(environ, "SECURE_COOKIES", defaults.secure_cookies),
        dashboard_user=environ.get("DASHBOARD_USER") or None,
        dashboard_password=environ.get("DASHBOARD_PASSWORD") or None,
        log_level=log_level,
        log_format=_choice(environ, "LOG_FORMAT", ("text", "json"), defaults.log_format),
    )
    if 0 < settings.poll_retention_days <= 8:
        raise ConfigError(f"POLL_RETENTION_DAYS must be 0 (keep all) or more than the 8-day lookback, "
                          f"got {settings.poll_retention_days}")
    if settings.report_database_wait >= settings.report_job_timeout:
        raise ConfigError(f"REPORT_DATABASE_WAIT ({settings.report_database_wait} s) must be shorter than "
                          f"REPORT_JOB_TIMEOUT ({settings.report_job_timeout} s)")
    return settings
