"""The command line: ``python -m storemon COMMAND``, or ``flask --app wsgi COMMAND`` (wsgi.py
registers the same commands on its app's ``app.cli``).

Only ``init-db`` and ``demo`` create or upgrade the schema; every other command checks it
first and, when it is missing or behind, stops with one line saying to run ``init-db``.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

from .reports.formats import FORMATS

from .config import PROJECT_ROOT, ConfigError, load_settings

SEED_DIR = PROJECT_ROOT / "seed"
DEMO_DIR = PROJECT_ROOT / "instance"


class _ProgressBars:
    """The long steps' progress as click progress bars on stderr, one a step, on a terminal only
    (a pipe or a log file gets no bar)."""

    STEPS = 1000

    def __init__(self):
        self.enabled = sys.stderr.isatty()
        self._stack, self._bar, self._step = ExitStack(), None, None

    def __call__(self, step: str, fraction: float) -> None:
        if not self.enabled:
            return
        if step != self._step:
            self.close()
            self._step = step
            self._bar = self._stack.enter_context(click.progressbar(length=self.STEPS, label=f"{step:<24.24}",
                                                                    file=sys.stderr, show_eta=False))
        self._bar.update(round(min(max(fraction, 0.0), 1.0) * self.STEPS) - self._bar.pos)

    def close(self) -> None:
        self._stack.close()
        self._bar = self._step = None


def _settings():
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"bad setting: {exc}") from None


@contextmanager
def _database(database_url: str, *, check: bool = True):
    """An engine on the database, whose schema is checked first unless ``check`` is off (for
    init-db and demo, which create or upgrade it). A schema that is missing or behind, and a
    database error inside the block (unreachable, missing, refusing), end the command with
    one line naming the database, not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from .database.engines import SchemaError, check_schema, describe, make_engine

    failures: tuple[type[Exception], ...] = (SQLAlchemyError,)
    if not check:  # the command migrates: Alembic's own errors too (a command that only checks never imports it)
        from alembic.util.exc import CommandError

        failures += (CommandError,)
    engine = make_engine(database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        if check:
            check_schema(engine)
        yield engine
    except SchemaError as exc:
        raise click.ClickException(f"database {where}: {exc}") from None
    except failures as exc:
        raise click.ClickException(f"database {where}: {describe(exc)}") from None
    finally:
        engine.dispose()


def _parse_as_of(_ctx, _param, value: str | None) -> int | None:
    if value is None:
        return None
    from .timeparse import parse_as_of

    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_out(_ctx, _param, value: Path | None) -> Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"directory '{value.parent}' does not exist")
    return value


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """storemon: business-hours uptime reports for polled stores."""
    if ctx.invoked_subcommand != "report":
        gc.enable()  # (main turned it off for start-up; a load or the clock makes garbage to collect)


@cli.command("init-db")
@click.option("--new-identity", is_flag=True,
              help="Give the database a new identity, so its reports go on a queue of their own: for a copy "
                   "(a restored backup) used beside the database it was copied from, on the same Redis.")
def init_db(new_identity: bool) -> None:
    """Create the database if it is missing, then create the schema or upgrade it to the
    newest migration (safe to run again), and say which queue its reports go on."""
    from .database.engines import create_database_if_missing, database_id, renew_database_id, upgrade
    from .reports.queue import queue_name

    settings = _settings()
    with _database(settings.database_url, check=False) as engine:
        where = engine.url.render_as_string(hide_password=True)
        if create_database_if_missing(engine):
            click.echo(f"created the database {where}")
        before, after = upgrade(engine)
        if before is None:
            click.echo(f"created the schema (revision {after}) in {where}")
        elif before != after:
            click.echo(f"upgraded the schema from revision {before} to {after} in {where}")
        else:
            click.echo(f"the schema is already up to date (revision {after}) in {where}")
        if new_identity:
            renew_database_id(engine)
            click.echo("gave the database a new identity: restart its web, worker and clock processes")
        click.echo(f"its reports go on the RQ queue {queue_name(settings, database_id(engine))}")


def _load(engine, directory: Path, skip_bad: bool) -> None:
    from .database.loader import load_directory
    from .sources import SourceError

    bars = _ProgressBars()
    try:
        summary = load_directory(engine, directory, skip_bad=skip_bad, on_progress=bars)
    except SourceError as exc:
        raise click.ClickException(f"{exc}; nothing was loaded") from None
    finally:
        bars.close()
    if summary.unknown_timezones:
        names = ", ".join(n if n else "(empty)" for n in summary.unknown_timezones)
        more = summary.unknown_timezone_count - len(summary.unknown_timezones)
        names += f" and {more} more" if more else ""
        click.echo(f"warning: unknown timezone names, these stores use America/Chicago: {names}", err=True)
    if summary.rejected_lines:
        click.echo(f"skipped {summary.rejected_lines} bad line(s); the first ones:", err=True)
        for rejected in summary.rejected[:5]:
            click.echo(f"  {rejected}", err=True)
    click.echo(f"loaded {', '.join(summary.files)}: {summary.rows_read} rows read, {summary.new_polls} new polls, "
               f"{summary.stores} stores ({summary.new_stores} new), {summary.seconds:.1f} s")


@cli.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Load the good rows and list the bad ones instead of stopping.")
def load(directory: Path, skip_bad: bool) -> None:
    """Load store_status.csv, menu_hours.csv, timezones.csv and the optional special_hours.csv,
    holidays.csv and stores.csv (plain or .gz) from DIRECTORY.

    Polls are appended (nothing already stored is duplicated); hours and timezones take a
    new version for the stores the files name, and names and groups replace theirs. Any bad line stops the load and
    nothing is written, unless --skip-bad.
    """
    settings = _settings()
    with _database(settings.database_url) as engine:
        _load(engine, directory, skip_bad)
        _queue_evaluation(settings, engine)


def _queue_evaluation(settings, engine) -> None:
    """Queue an evaluation of the incidents, as an ingestion over HTTP does; without Redis (a
    load before any service runs) the clock's watch does it later."""
    from redis.exceptions import RedisError

    from .database.engines import database_id
    from .alerts.queue import alerts_queue, enqueue_evaluation
    from .reports.queue import redis_client

    redis = redis_client(settings.redis_url, timeout_s=1)
    try:
        enqueue_evaluation(alerts_queue(redis, settings, database_id(engine)))
    except RedisError:
        pass
    finally:
        redis.close()


def write_file(out: Path, data: bytes) -> None:
    """Write a whole file or nothing: a regular file (or a new one) by renaming a finished
    temporary file over it; anything else (a device such as /dev/null, a FIFO) directly,
    since renaming would replace the device itself."""
    try:
        regular = stat.S_ISREG(out.stat().st_mode)
    except FileNotFoundError:
        regular = True
    if not regular:
        with open(out, "wb") as f:
            f.write(data)
        return
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _report(engine, as_of: int | None, out: Path | None, options=None, fmt: str = "csv") -> tuple[int, int]:
    from .reports.build import NoData, build_report
    from .reports.formats import converted
    from .reports.options import STANDARD
    from .memory import keep_freed_memory

    keep_freed_memory()
    bars = _ProgressBars()
    try:
        as_of_used, csv_bytes = build_report(engine, as_of, on_progress=bars, options=options or STANDARD)
    except NoData as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bars.close()
    body = converted(csv_bytes, fmt)
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        write_file(out, body)
    return as_of_used, csv_bytes.count(b"\n") - 1


def _check_group(ctx, param, value: str | None) -> str | None:
    if value is None:
        return None  # (and the sources' parsers are not imported: a report reads none)
    from .sources import group_label

    try:
        return group_label(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_windows(ctx, param, value: str | None) -> tuple[int, ...]:
    from .core.windows import parse_windows

    try:
        return parse_windows(value) if value else ()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command("report")
@click.option("--as-of", callback=_parse_as_of, metavar="ISO8601",
              help="The report's reference instant (default: the latest poll).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=_check_out,
              help="Write the report here (default: stdout); its directory must exist.")
@click.option("--extended", is_flag=True, help="Add the no-data columns (no poll within 60 minutes).")
@click.option("--group", callback=_check_group, metavar="KEY:VALUE",
              help="Only the stores of this group of the store directory, e.g. region:west.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="CSV, JSON Lines (an object a store) or Parquet; the same rows and numbers.")
@click.option("--windows", "days", callback=_check_windows, metavar="1h,1d,7d,30d",
              help="Windows beyond the standard three, of whole days (up to 90), e.g. 1h,1d,7d,30d.")
def report(as_of: int | None, out: Path | None, extended: bool, group: str | None, fmt: str,
           days: tuple[int, ...]) -> None:
    """Compute the uptime report now, synchronously."""
    from .database.queries import group_exists
    from .reports.options import ReportOptions, retention_problem
    from .timeparse import format_instant

    if fmt == "parquet" and out is None and sys.stdout.isatty():
        raise click.ClickException("Parquet is binary: write it to a file with --out FILE (or redirect stdout)")
    settings = _settings()
    if problem := retention_problem(days, settings.poll_retention_days):
        raise click.BadParameter(problem, param_hint="--windows")
    with _database(settings.database_url) as engine:
        if group is not None and not group_exists(engine, group):
            raise click.ClickException(f"no store is in group {group!r}; a store directory (stores.csv) gives stores "
                                       "groups")
        as_of_used, rows = _report(engine, as_of, out, ReportOptions(extended, group, days), fmt)
    click.echo(f"report as of {format_instant(as_of_used)}: {rows} stores"
               + (f", written to {out}" if out else ""), err=True)


@cli.command("demo")
@click.option("--dataset", type=click.Choice(["2023-01", "2024-10"]), default="2023-01", show_default=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=DEMO_DIR,
              help="Where the demo's database and report go (default: instance/ in the checkout).")
def demo(dataset: str, directory: Path) -> None:
    """Load seed/DATASET into a fresh SQLite database of its own and write its report.

    Each dataset gets its own database file (DIR/demo-DATASET.db), made anew on every
    run, so demos never mix datasets and never touch DATABASE_URL's database.
    """
    from .timeparse import format_instant

    directory.mkdir(parents=True, exist_ok=True)
    database = directory / f"demo-{dataset}.db"
    for leftover in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)
    out = directory / f"report-{dataset}.csv"
    from .database.engines import upgrade

    with _database(f"sqlite:///{database}", check=False) as engine:
        upgrade(engine)
        _load(engine, SEED_DIR / dataset, skip_bad=False)
        as_of_used, rows = _report(engine, None, out)
    click.echo(f"report as of {format_instant(as_of_used)} for {rows} stores written to {out}")
    click.echo(f"(the demo's database is {database}; DATABASE_URL=sqlite:///{database} points the service at it)")


@cli.group("token")
def token() -> None:
    """API tokens: create (shown once), list, revoke."""


@token.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["ingest", "report", "admin"]),
              help="What the token may do; give it once per scope.")
def token_create(name: str, scopes: tuple[str, ...]) -> None:
    """Make a token called NAME and print it, the only time it is shown."""
    from .database.tokens import TokenError, create

    with _database(_settings().database_url) as engine:
        try:
            made = create(engine, name, list(scopes))
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(made)
    click.echo(f"token {name!r} ({', '.join(sorted(set(scopes)))}) created; it is shown only this once", err=True)


@token.command("list")
def token_list() -> None:
    """The tokens: name, scopes, created, last used, revoked."""
    from .database.tokens import list_all

    def when(moment) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"

    with _database(_settings().database_url) as engine:
        found = list_all(engine)
    click.echo(f"{'name':<24} {'scopes':<20} {'created':<21} {'last used':<21} revoked")
    for t in found:
        click.echo(f"{t.name:<24} {','.join(t.scopes):<20} {when(t.created_at):<21} {when(t.last_used_at):<21} "
                   f"{when(t.revoked_at)}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke the token called NAME; it is refused from the next request on."""
    from .database.tokens import TokenError, revoke

    with _database(_settings().database_url) as engine:
        try:
            revoke(engine, name)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"token {name!r} revoked")


@cli.command("trends")
def trends_now() -> None:
    """Compute the trends' days now, as the clock does every hour: the last 8 complete UTC days
    again, and any of the last 90 not computed yet."""
    from .reports.trends import update

    with _database(_settings().database_url) as engine:
        days = update(engine)
    click.echo(f"trends: {len(days)} day(s) computed")


@cli.group("webhook")
def webhook() -> None:
    """Webhook endpoints told of incidents: add, list, remove."""


@webhook.command("add")
@click.argument("url")
@click.option("--secret", metavar="whsec_...", help="The signing secret (Standard Webhooks); made if not given.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="An incident kind it hears of (down, no_data, poller_silent, slo_exhausted, slo_burn); once per "
                   "kind (none: every kind).")
@click.option("--store", "store_ids", multiple=True, metavar="STORE_ID", help="A store it hears of; once per store.")
@click.option("--group", "groups", multiple=True, metavar="KEY:VALUE",
              help="A group whose stores it hears of; once per group (no store or group: every store).")
@click.option("--slack", is_flag=True, help="Send a Slack-compatible body ({\"text\": ...}) instead of JSON.")
@click.option("--reminder", "reminder_s", type=int, metavar="SECONDS",
              help="Remind it of incidents still open this often.")
def webhook_add(url: str, secret: str | None, kinds, store_ids, groups, slack: bool, reminder_s: int | None) -> None:
    """Add an endpoint notified at URL; prints its id and its secret."""
    from .alerts import endpoints

    try:
        spec = endpoints.checked(url, secret, list(kinds) or None, list(store_ids) or None, list(groups) or None,
                                 slack, reminder_s)
    except endpoints.BadEndpoint as exc:
        raise click.ClickException(str(exc)) from None
    with _database(_settings().database_url) as engine:
        added = endpoints.add(engine, spec)
    click.echo(f"webhook {added.id} added: {added.url}")
    click.echo(f"secret: {added.secret}")


@webhook.command("list")
def webhook_list() -> None:
    """The endpoints: id, URL, kinds, stores, body."""
    from .alerts.endpoints import endpoint_json
    from .database.webhooks import endpoints

    with _database(_settings().database_url) as engine:
        found = [endpoint_json(e) for e in endpoints(engine)]
    click.echo(f"{'id':>4} {'url':<40} {'kinds':<28} {'stores':<24} body")
    for e in found:
        stores = ", ".join((e["store_ids"] or []) + (e["groups"] or [])) or "every store"
        click.echo(f"{e['id']:>4} {e['url']:<40} {','.join(e['kinds']):<28} {stores:<24} "
                   f"{'slack' if e['slack'] else 'json'}")


@webhook.command("remove")
@click.argument("webhook_id", type=int, metavar="ID")
def webhook_remove(webhook_id: int) -> None:
    """Remove the endpoint ID and its delivery log."""
    from .database.webhooks import remove

    with _database(_settings().database_url) as engine:
        if not remove(engine, webhook_id):
            raise click.ClickException(f"no webhook endpoint {webhook_id}")
    click.echo(f"webhook {webhook_id} removed")


@cli.group("stores")
def stores() -> None:
    """Stores: retire those closed for good, or data that never belonged (the sample data)."""


@stores.command("retire")
@click.argument("store_ids", nargs=-1)
@click.option("--in", "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Also every store the data files in DIR name (those not stored are passed over).")
@click.option("--yes", is_flag=True, help="Retire them; without it, only say what would go.")
def stores_retire(store_ids: tuple[str, ...], directory: Path | None, yes: bool) -> None:
    """Remove stores with their business hours, timezone and polls, all or none.

    Reports already made keep their rows; the next report no longer lists the stores."""
    from .database.stores import UnknownStores, retire
    from .sources import SourceError, store_ids_in

    if not store_ids and directory is None:
        raise click.UsageError("name the stores to retire, or a data directory with --in")
    try:
        from_files = store_ids_in(directory) if directory is not None else []
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    with _database(_settings().database_url) as engine:
        try:
            retired = retire(engine, list(store_ids), where_stored=from_files, dry_run=not yes)
        except UnknownStores as exc:
            raise click.ClickException(f"{exc}; nothing was retired") from None
    passed_over = f" ({retired.unknown:,} store(s) named in {directory} are not stored)" if retired.unknown else ""
    if not retired.stores:
        click.echo(f"nothing to retire: none of these stores is stored{passed_over}")
        return
    if not yes:
        click.echo(f"would retire {retired.stores:,} store(s) with {retired.polls:,} polls, their hours and "
                   f"timezones{passed_over}: {', '.join(retired.first_ids)}{' ...' if retired.stores > 5 else ''}; "
                   "run again with --yes to do it")
        return
    click.echo(f"retired {retired.stores:,} store(s) with {retired.polls:,} polls, their hours and "
               f"timezones{passed_over}")


@cli.command("serve")
@click.option("--host", default="0.0.0.0", show_default=True, help="The address to listen on.")
def serve(host: str) -> None:
    """Run the web process: the API, the console and the dashboard on PORT (waitress)."""
    from .logs import configure_logging
    from .web.server import serve as run

    settings = _settings()
    configure_logging(settings)
    try:
        run(settings, host)
    except OSError as exc:  # (the port is taken, or the address is not this machine's)
        raise click.ClickException(f"cannot listen on {host}:{settings.port}: {exc.strerror or exc}; "
                                   "is another web process running? PORT sets another port") from None


@cli.command("clock")
def clock() -> None:
    """Run the clock process: enqueue the hourly report, settling and retention on schedule."""
    import signal
    import threading

    from .reports.clock import run
    from .logs import configure_logging

    settings = _settings()
    configure_logging(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(settings, stop)


def main() -> None:
    # Start-up builds some 100K long-lived objects (modules, classes) that the cycle collector
    # would walk again and again for nothing: 40 ms of a 0.7 s report, which itself makes few
    # Python objects (its data is NumPy arrays) and keeps it off.
    gc.disable()
    from dataclasses import replace

    from .logs import configure_logging

    try:
        settings = load_settings()
    except ConfigError:
        settings = None  # the command itself stops with the bad setting named
    if settings is not None:
        # A command speaks for itself: library chatter (Alembic's INFO lines) only with LOG_LEVEL=DEBUG.
        # The clock, a long-running process, logs at LOG_LEVEL.
        configure_logging(settings if settings.log_level in ("DEBUG", "WARNING", "ERROR", "CRITICAL")
                          else replace(settings, log_level="WARNING"))
    try:
        cli(prog_name="python -m storemon")
        code = 0
    except SystemExit as done:
        code = done.code
    _exit_now(code)


def _exit_now(code: int | str | None) -> None:
    """End the process without the interpreter's teardown, which spends about 0.1 s of a
    report's 0.7 s freeing modules and arrays that the OS takes back at once. Whatever the
    command wrote is flushed first; its connections and files are closed already."""
    import logging

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), a closed stream
            pass
    os._exit(code or 0)


@cli.group("slo")
def slo() -> None:
    """SLOs: each store's attainment and error budget against its target; the targets."""


def _slo_target(words: tuple[str, ...], with_objective: bool) -> tuple[str, str, float | None]:
    """``fleet [OBJECTIVE]``, ``group KEY:VALUE [OBJECTIVE]`` or ``store ID [OBJECTIVE]``."""
    from .core.slo import objective_problem
    from .database.targets import FLEET, GROUP, SCOPES

    wanted = (1 if words and words[0] == FLEET else 2) + with_objective
    if not words or words[0] not in SCOPES or len(words) != wanted:
        raise click.UsageError(f"give fleet, group KEY:VALUE or store ID{' and an objective' if with_objective else ''}")
    name = words[1] if words[0] != FLEET else ""
    if words[0] == GROUP:
        from .sources import group_label

        try:
            name = group_label(name)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    objective = None
    if with_objective:
        try:
            objective = float(words[-1])
        except ValueError:
            raise click.UsageError(f"the objective is a percentage, such as 99.5 (got {words[-1]!r})") from None
        if problem := objective_problem(objective):
            raise click.UsageError(problem)
    return words[0], name, objective


@slo.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("target", nargs=-1, required=True, metavar="fleet|group KEY:VALUE|store ID OBJECTIVE")
def slo_set(target: tuple[str, ...]) -> None:
    """Set the fleet's, a group's or a store's objective, in percent (slo set group region:west 99.5)."""
    from datetime import UTC, datetime

    from .database.queries import named_stores
    from .database.targets import STORE, set_target

    scope, name, objective = _slo_target(target, True)
    settings = _settings()
    with _database(settings.database_url) as engine:
        if scope == STORE and not named_stores(engine, [name]):
            raise click.ClickException(f"unknown store {name[:64]!r}")
        _, new = set_target(engine, scope, name, objective, datetime.now(UTC))
        _queue_evaluation(settings, engine)
    click.echo(f"{scope} {name + ' ' if name else ''}target {'set' if new else 'changed'}: {objective:g} %")


@slo.command("remove")
@click.argument("target", nargs=-1, required=True, metavar="fleet|group KEY:VALUE|store ID")
def slo_remove(target: tuple[str, ...]) -> None:
    """Remove the fleet's, a group's or a store's target."""
    from .database.targets import remove_target

    scope, name, _ = _slo_target(target, False)
    settings = _settings()
    with _database(settings.database_url) as engine:
        if not remove_target(engine, scope, name):
            raise click.ClickException(f"no {scope} target{' for ' + repr(name[:64]) if name else ''}")
        _queue_evaluation(settings, engine)
    click.echo(f"{scope} {name + ' ' if name else ''}target removed")


@slo.command("list")
@click.option("--window", default=None, metavar="30d", help="The SLOs' window (default SLO_WINDOW_DAYS).")
@click.option("--group", callback=_check_group, metavar="KEY:VALUE", help="Only the stores of this group.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="The worst this many stores.")
def slo_list(window: str | None, group: str | None, limit: int) -> None:
    """The targets, then the stores with the least budget left, as of the newest poll."""
    from .database.targets import targets
    from .reports.options import slo_window_days
    from .reports.slo import measure, store_rows, summary, worst_first

    settings = _settings()
    try:
        days = slo_window_days(window, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with _database(settings.database_url) as engine:
        for t in targets(engine):
            click.echo(f"target: {t.scope}{' ' + t.name if t.name else ''} {t.objective_pct:g} %")
        measured = measure(engine, days, group)
    if measured is None:
        raise click.ClickException("no polls are loaded yet")
    together = summary(measured, settings.slo_fast_burn)
    click.echo(f"as of the newest poll, over {days} days: {together['stores']} stores, {together['with_objective']} "
               f"with an objective, {together['meeting']} meeting it, {together['exhausted']} with the budget spent, "
               f"{together['burning']} burning fast")
    click.echo(f"{'store':<24} {'target':<24} {'up %':>8} {'obj %':>7} {'left %':>9} {'burn 1h':>8} {'1d':>6}")
    for row in store_rows(measured, settings.slo_fast_burn, worst_first(measured)[:limit]):
        def shown(value, digits=2):
            return "-" if value is None else f"{value:.{digits}f}"
        click.echo(f"{row['store_id'][:24]:<24} {(row['target'] or '-')[:24]:<24} {shown(row['attainment_pct'], 3):>8} "
                   f"{shown(row['objective_pct'], 3):>7} {shown(row['budget_left_pct']):>9} "
                   f"{shown(row['burn_rate']['1h']):>8} {shown(row['burn_rate']['1d']):>6}")
