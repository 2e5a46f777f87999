"""Settings from the environment: one loader for web, worker, CLI, Alembic and tests.

Each setting is written once, as a field of ``Settings``: its default, the environment
variable it is read from, and how that variable's text is read and checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from collections.abc import Callable, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'storemon.db'}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


Reader = Callable[[str, "str | None", object], object]  # (variable, its text or None when unset, default) -> value


def _text(name: str, raw: str | None, default):
    return (raw or "").strip() or default


def _int(name: str, raw: str | None, default: int, minimum: int = 1) -> int:
    if not (raw or "").strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be {'positive' if minimum == 1 else f'at least {minimum}'}, got {value}")
    return value


def _float(name: str, raw: str | None, default: float) -> float:
    if not (raw or "").strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def _bool(name: str, raw: str | None, default: bool) -> bool:
    value = (raw or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(name: str, raw: str | None, default: str, choices: tuple[str, ...] = (), upper: bool = False) -> str:
    value = (raw or "").strip()
    value = value.upper() if upper else value.lower()
    if not value:
        return default
    if value not in choices:
        raise ConfigError(f"{name} must be {', '.join(choices[:-1])} or {choices[-1]}, got {raw!r}")
    return value


def _is_cron(value: str) -> bool:
    from croniter import croniter

    return croniter.is_valid(value) and len(value.split()) == 5


def _is_rate(value: str) -> bool:
    from limits import parse_many

    try:
        return bool(parse_many(value))
    except ValueError:
        return False


def _optional(name: str, raw: str | None, default: str, valid: Callable[[str], bool], expected: str) -> str:
    """A text setting that ``valid`` accepts, or set but empty to turn its feature off."""
    if raw is None:
        return default
    value = raw.strip()
    if value and not valid(value):
        raise ConfigError(f"{name} must be {expected}, or empty, got {raw!r}")
    return value


_cron = partial(_optional, valid=_is_cron, expected="a five-field cron expression such as '5 * * * *'")
_rate = partial(_optional, valid=_is_rate, expected="a rate limit such as '30/minute' or '5/second; 100/hour'")


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


def _database_url(name: str, raw: str | None, default: str) -> str:
    return normalise_database_url(_text(name, raw, default))


def _redis_url(name: str, raw: str | None, default: str) -> str:
    url = _text(name, raw, default)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL, got {url!r}")
    return url


def setting(env: str, default, read: Reader = _text, **options):
    """A field read from the environment variable ``env`` with ``read`` (empty or unset: the default)."""
    return field(default=default, metadata={"env": env, "read": partial(read, **options) if options else read})


@dataclass(frozen=True)
class Settings:
    database_url: str = setting("DATABASE_URL", DEFAULT_DATABASE_URL, _database_url)
    redis_url: str = setting("REDIS_URL", DEFAULT_REDIS_URL, _redis_url)
    queue_prefix: str = setting("RQ_QUEUE", "reports")  # the report queue is this, a dot and the database's id
    report_job_timeout: int = setting("REPORT_JOB_TIMEOUT", 600, _int)
    report_result_ttl: int = setting("REPORT_RESULT_TTL", 3600, _int)
    report_failure_ttl: int = setting("REPORT_FAILURE_TTL", 7 * 24 * 3600, _int)
    # A report whose worker dies (killed, restarted by the platform) runs again this many times.
    report_retries: int = setting("REPORT_RETRIES", 2, _int, minimum=0)
    # How long a running report waits out an unreachable database before it fails.
    report_database_wait: int = setting("REPORT_DATABASE_WAIT", 300, _int, minimum=0)
    # On PostgreSQL, a report listing more stores than this is cut into parts of at most this
    # many, in store_id order, each an RQ job, joined by a last one; 0 never cuts one. Off by
    # default: one job already keeps a machine's cores busy, and measured on one machine it
    # is faster than its parts (docs/internals/sharded-reports.md).
    report_shard_stores: int = setting("REPORT_SHARD_STORES", 0, _int, minimum=0)
    # How often the poller polls each store, in seconds: a store whose latest evidence poll is
    # older than this is not listed as down now (GET /stores/down), it has gone quiet.
    poll_interval: int = setting("POLL_INTERVAL", 3600, _int)
    # Incidents (docs/incidents.md): inactive evidence polls in a row that open a "down" incident;
    # business time without an evidence poll that opens a "no data" one (under a day); wall-clock
    # time without a new poll that opens the poller's own; how often the clock watches for it.
    incident_down_after: int = setting("INCIDENT_DOWN_AFTER", 1, _int)
    incident_silence: int = setting("INCIDENT_SILENCE", 7200, _int)
    poller_silence: int = setting("POLLER_SILENCE", 7200, _int)
    watch_every: int = setting("WATCH_EVERY", 60, _int)
    # SLOs (docs/slo.md): the window of their budgets (whole days), and the burn rate, over the
    # last day and the last hour both, at which a store's budget "burns fast".
    slo_window_days: int = setting("SLO_WINDOW_DAYS", 30, _int)
    slo_fast_burn: float = setting("SLO_FAST_BURN", 14.4, _float)
    # Webhook deliveries: the longest an attempt waits for an answer, how many attempts a
    # notification gets, and the wait before the second (doubling after each, up to an hour).
    webhook_timeout: int = setting("WEBHOOK_TIMEOUT", 5, _int)
    webhook_attempts: int = setting("WEBHOOK_ATTEMPTS", 12, _int)
    webhook_backoff: int = setting("WEBHOOK_BACKOFF", 10, _int)
    # The longest a web request waits for the database: to connect, and for each statement.
    database_timeout: int = setting("DATABASE_TIMEOUT", 3, _int)
    max_upload_bytes: int = setting("MAX_UPLOAD_BYTES", 1 << 20, _int)
    # Ingestion (POST /polls, PUT /business_hours, PUT /timezones): the largest body as sent,
    # the most it may grow to once decompressed, and the longest its transaction may wait or run.
    max_ingest_bytes: int = setting("MAX_INGEST_BYTES", 64 << 20, _int)
    max_ingest_inflated_bytes: int = setting("MAX_INGEST_INFLATED_BYTES", 256 << 20, _int)
    ingest_timeout: int = setting("INGEST_TIMEOUT", 120, _int)
    # Requests a client (its token, else its address) may make; "" turns a limit off.
    trigger_rate_limit: str = setting("TRIGGER_RATE_LIMIT", "30/minute", _rate)
    api_rate_limit: str = setting("API_RATE_LIMIT", "1200/minute", _rate)
    # Failed authentications a client address (and a basic-auth user name) may make before its
    # credentials, right or wrong, are answered 429 until the window has room again.
    auth_failure_limit: str = setting("AUTH_FAILURE_LIMIT", "10/minute;50/hour", _rate)
    # The web process (python -m storemon serve): its port, request threads, and how many
    # connections it holds open at once (slow or idle ones included; see docs/deployment.md).
    port: int = setting("PORT", 8000, _int)
    web_threads: int = setting("WEB_THREADS", 8, _int)
    web_connection_limit: int = setting("WEB_CONNECTION_LIMIT", 1000, _int)
    # Proxies in front of the web process (Heroku's router: 1) whose X-Forwarded-For is believed.
    proxy_hops: int = setting("PROXY_HOPS", 0, _int, minimum=0)
    # The report endpoints want a bearer token of scope report (or admin); off for the embedded demo.
    require_report_token: bool = setting("REQUIRE_REPORT_TOKEN", False, _bool)
    # The clock process (python -m storemon clock): cron schedules (UTC), an interval, and retention.
    report_schedule: str = setting("REPORT_SCHEDULE", "5 * * * *", _cron)
    settle_every: int = setting("SETTLE_EVERY", 60, _int)
    retention_schedule: str = setting("RETENTION_SCHEDULE", "30 3 * * *", _cron)
    trend_schedule: str = setting("TREND_SCHEDULE", "20 * * * *", _cron)  # each store's uptime per day
    report_retention_days: int = setting("REPORT_RETENTION_DAYS", 30, _int)
    poll_retention_days: int = setting("POLL_RETENTION_DAYS", 90, _int, minimum=0)  # 0 keeps every poll
    # Signs the console's session cookie; unset, each process makes a random one (sessions then
    # end with the process and do not cross web processes). Secure cookies: HTTPS only.
    secret_key: str | None = setting("SECRET_KEY", None)
    secure_cookies: bool = setting("SECURE_COOKIES", False, _bool)
    dashboard_user: str | None = setting("DASHBOARD_USER", None)
    dashboard_password: str | None = setting("DASHBOARD_PASSWORD", None)
    # A bearer token a Prometheus scraper may read /metrics with (as well as the dashboard's login).
    metrics_token: str | None = setting("METRICS_TOKEN", None)
    log_level: str = setting("LOG_LEVEL", "INFO", _choice, choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                             upper=True)
    log_format: str = setting("LOG_FORMAT", "text", _choice, choices=("text", "json"))  # json: one object a line

    @property
    def dashboard_enabled(self) -> bool:
        return bool(self.dashboard_user and self.dashboard_password)


def environment_names() -> set[str]:
    """Every environment variable a setting is read from."""
    return {f.metadata["env"] for f in fields(Settings)}


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate every setting; raise ConfigError with one clear line on a bad one."""
    values = {}
    for f in fields(Settings):
        env, read = f.metadata["env"], f.metadata["read"]
        values[f.name] = read(env, environ.get(env), f.default)
    settings = Settings(**values)
    if 0 < settings.poll_retention_days <= 8:
        raise ConfigError(f"POLL_RETENTION_DAYS must be 0 (keep all) or more than the 8-day lookback, "
                          f"got {settings.poll_retention_days}")
    if settings.report_database_wait >= settings.report_job_timeout:
        raise ConfigError(f"REPORT_DATABASE_WAIT ({settings.report_database_wait} s) must be shorter than "
                          f"REPORT_JOB_TIMEOUT ({settings.report_job_timeout} s)")
    if settings.slo_window_days > 90:  # (storemon/core/windows.py's MAX_DAYS)
        raise ConfigError(f"SLO_WINDOW_DAYS must be 90 days at most, got {settings.slo_window_days}")
    if settings.poll_retention_days and settings.slo_window_days + 1 > settings.poll_retention_days \
            and not (environ.get("SLO_WINDOW_DAYS") or "").strip():  # (the default: as long as the polls allow)
        settings = replace(settings, slo_window_days=settings.poll_retention_days - 1)
    if settings.poll_retention_days and settings.slo_window_days + 1 > settings.poll_retention_days:
        raise ConfigError(f"SLO_WINDOW_DAYS ({settings.slo_window_days}) looks back a day longer, past the polls "
                          f"kept (POLL_RETENTION_DAYS={settings.poll_retention_days})")
    if settings.incident_silence >= 86400:
        raise ConfigError(f"INCIDENT_SILENCE must be under a day (86400 s), got {settings.incident_silence}")
    return settings
