"""``python -m storemon``: init-db, load, report, and demo (the quick start's main job)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .config import PROJECT_ROOT, ConfigError, load_settings

SEED_DIR = PROJECT_ROOT / "seed"


class _Bar:
    """A one-line progress bar on stderr, drawn only on a terminal and at most 10 times a second."""

    def __init__(self, enabled: bool):
        self.enabled, self._last, self._label, self._drawn = enabled, 0.0, "", False

    def __call__(self, label: str, fraction: float) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and fraction < 1.0 and label == self._label):
            return
        self._last, self._label, self._drawn = now, label, True
        filled = int(30 * min(fraction, 1.0))
        sys.stderr.write(f"\r{label:<24.24} [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%")
        sys.stderr.flush()

    def done(self) -> None:
        if self._drawn:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
            self._drawn = False


def _engine():
    """The configured database, its schema created or upgraded first."""
    from .db import make_engine, upgrade

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"bad setting: {exc}") from None
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def _parse_as_of(_ctx, _param, value: str | None) -> int | None:
    if value is None:
        return None
    from .timeparse import parse_as_of

    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def cli() -> None:
    """storemon: business-hours uptime reports for polled stores."""


@cli.command("init-db")
def init_db() -> None:
    """Create the schema or upgrade it to the newest migration (safe to run again)."""
    engine = _engine()
    click.echo(f"schema is up to date in {engine.url.render_as_string(hide_password=True)}")


def _load(engine, directory: Path, skip_bad: bool) -> None:
    from .loader import load_directory
    from .sources import SourceError

    bar = _Bar(sys.stderr.isatty())
    try:
        summary = load_directory(engine, directory, skip_bad=skip_bad,
                                 on_progress=lambda name, done, total: bar(name, done / max(total, 1)))
    except SourceError as exc:
        bar.done()
        raise click.ClickException(f"{exc}; nothing was loaded") from None
    bar.done()
    if summary.unknown_timezones:
        click.echo(f"warning: unknown timezone names, these stores use America/Chicago: "
                   f"{', '.join(summary.unknown_timezones)}", err=True)
    if summary.rejected_lines:
        click.echo(f"skipped {summary.rejected_lines} bad line(s); the first ones:", err=True)
        for rejected in summary.rejected[:5]:
            click.echo(f"  {rejected}", err=True)
    click.echo(f"loaded {', '.join(summary.files)}: {summary.rows_read} rows read, {summary.new_polls} new polls, "
               f"{summary.stores} stores, {summary.seconds:.1f} s")


@cli.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Load the good rows and list the bad ones instead of stopping.")
def load(directory: Path, skip_bad: bool) -> None:
    """Load store_status.csv, menu_hours.csv and timezones.csv (plain or .gz) from DIRECTORY.

    Polls are appended (nothing already stored is duplicated); hours and timezones
    replace those of the stores the files name. Any bad line stops the load and
    nothing is written, unless --skip-bad.
    """
    engine = _engine()
    _load(engine, directory, skip_bad)


def _report(engine, as_of: int | None, out: Path | None) -> tuple[int, int]:
    from .reporting import NoData, build_report

    bar = _Bar(sys.stderr.isatty())
    try:
        as_of_used, csv_bytes = build_report(engine, as_of, on_progress=lambda f: bar("computing report", f))
    except NoData as exc:
        bar.done()
        raise click.ClickException(str(exc)) from None
    bar.done()
    if out is None:
        sys.stdout.buffer.write(csv_bytes)
        sys.stdout.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(csv_bytes)
        tmp.replace(out)  # never leave a half-written report behind
    return as_of_used, csv_bytes.count(b"\n") - 1


@cli.command("report")
@click.option("--as-of", callback=_parse_as_of, metavar="ISO8601",
              help="The report's reference instant (default: the latest poll).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the CSV here (default: stdout).")
def report(as_of: int | None, out: Path | None) -> None:
    """Compute the uptime report now, synchronously."""
    from .timeparse import format_instant

    engine = _engine()
    as_of_used, rows = _report(engine, as_of, out)
    click.echo(f"report as of {format_instant(as_of_used)}: {rows} stores"
               + (f", written to {out}" if out else ""), err=True)


@cli.command("demo")
@click.option("--dataset", type=click.Choice(["2023-01", "2024-10"]), default="2023-01", show_default=True)
def demo(dataset: str) -> None:
    """Set up the database, load seed/DATASET and write a report into instance/."""
    from .timeparse import format_instant

    engine = _engine()
    _load(engine, SEED_DIR / dataset, skip_bad=False)
    out = PROJECT_ROOT / "instance" / f"report-{dataset}.csv"
    as_of_used, rows = _report(engine, None, out)
    click.echo(f"report as of {format_instant(as_of_used)} for {rows} stores written to {out}")


def main() -> None:
    cli(prog_name="python -m storemon")
