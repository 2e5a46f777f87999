"""The command line: most commands run in process with click's CliRunner; the exit codes and
one-line errors a user sees, concurrency, and `flask --app wsgi` run as real processes."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys

import pytest

from storemon.config import PROJECT_ROOT

from .helpers import SEED, hours_csv, poll_count, polls_csv, run_cli, storemon, timezones_csv


def test_a_bad_line_exits_non_zero_naming_the_line_and_loads_nothing(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC"), ("s1", "up", "2023-01-22 11:00:00 UTC")])
    done = storemon(engine, "load", str(tmp_path))
    assert done.returncode == 1
    assert "store_status.csv line 3: bad status 'up' (expected active or inactive); nothing was loaded" in done.stderr
    assert poll_count(engine) == 0


def test_skip_bad_reports_the_rejected_lines_and_a_summary(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC"), ("s1", "up", "2023-01-22 11:00:00 UTC")])
    timezones_csv(tmp_path, [("s1", "Atlantis/Capital")])
    done = storemon(engine, "load", "--skip-bad", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "skipped 1 bad line(s)" in done.stderr
    assert "store_status.csv line 3: bad status 'up'" in done.stderr
    assert "unknown timezone names, these stores use America/Chicago: Atlantis/Capital" in done.stderr
    assert "3 rows read, 1 new polls, 1 stores" in done.stdout


def test_an_unreadable_as_of_is_a_usage_error(engine):
    done = storemon(engine, "report", "--as-of", "last tuesday")
    assert done.returncode == 2
    assert "not an ISO 8601 timestamp: 'last tuesday'" in done.stderr


def test_reporting_an_empty_database_says_what_to_do(engine):
    done = storemon(engine, "report")
    assert done.returncode == 1
    assert "no polls are loaded yet" in done.stderr


@pytest.mark.parametrize("version", ["2023-01", "2024-10"])
def test_both_real_datasets_run_end_to_end(engine, tmp_path, version):
    assert storemon(engine, "load", str(SEED / version)).returncode == 0
    out = tmp_path / "report.csv"
    done = storemon(engine, "report", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(SEED / version / "store_status.csv", newline="") as f:
        polled = sorted({r["store_id"] for r in csv.DictReader(f)})
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["store_id"] for r in rows] == polled
    assert list(rows[0]) == ["store_id", "uptime_last_hour", "uptime_last_day", "uptime_last_week",
                             "downtime_last_hour", "downtime_last_day", "downtime_last_week"]
    for r in rows:  # up + down never exceed the window
        assert float(r["uptime_last_hour"]) + float(r["downtime_last_hour"]) <= 60.0
        assert float(r["uptime_last_week"]) + float(r["downtime_last_week"]) <= 168.0
    assert f"{len(rows)} stores, written to {out}" in done.stderr


def test_postgresql_and_sqlite_give_the_same_report(pg, sqlite, tmp_path):
    hours_csv(tmp_path, [("a", 0, "09:00", "17:00"), ("b", 6, "22:00", "03:00")])
    timezones_csv(tmp_path, [("a", "America/New_York"), ("b", "Asia/Beirut")])
    polls_csv(tmp_path, [(s, "active" if (h * 7) % 5 else "inactive", f"2023-01-{d} {h:02d}:05:00 UTC")
                         for s in ("a", "b", "c") for d in range(16, 24) for h in range(24)])
    reports = []
    for engine in (pg, sqlite):
        assert storemon(engine, "load", str(tmp_path)).returncode == 0
        done = storemon(engine, "report", "--as-of", "2023-01-23T18:00:00Z")
        assert done.returncode == 0, done.stderr
        reports.append(done.stdout)
    assert reports[0] == reports[1]
    assert reports[0].count("\n") == 4


def test_demo_keeps_each_dataset_in_a_fresh_database_of_its_own(tmp_path):
    first = run_cli("demo", "--dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert f"written to {tmp_path / 'report-2023-01.csv'}" in first.stdout
    first_report = (tmp_path / "report-2023-01.csv").read_text()
    new_polls = first.stdout.split(" new polls")[0].rsplit(" ", 1)[1]
    other = run_cli("demo", "--dataset", "2024-10", "--dir", str(tmp_path))
    assert other.returncode == 0, other.stderr
    report = (tmp_path / "report-2024-10.csv").read_text()
    assert report.startswith("store_id,uptime_last_hour,")
    with open(SEED / "2024-10" / "store_status.csv", newline="") as f:
        polled = {r["store_id"] for r in csv.DictReader(f)}
    assert {r["store_id"] for r in csv.DictReader(io.StringIO(report))} == polled  # no 2023 stores mixed in
    again = run_cli("demo", "--dir", str(tmp_path))
    assert again.returncode == 0 and f" {new_polls} new polls" in again.stdout  # made anew: every poll is new again
    assert (tmp_path / "report-2023-01.csv").read_text() == first_report


@pytest.mark.parametrize("command, url", [
    *[(command, "postgresql://root@127.0.0.1:1/nowhere") for command in (["init-db"], ["load", str(SEED / "2023-01")],
                                                                          ["report"])],
    # (init-db creates a missing database: the race test and the role test below)
    *[(command, "postgresql://root@127.0.0.1:5432/no_such_db") for command in (["load", str(SEED / "2023-01")],
                                                                                ["report"])]])
def test_an_unreachable_or_missing_database_is_one_line(command, url):
    done = run_cli(*command, DATABASE_URL=url)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: database postgresql+psycopg://root@127.0.0.1:"), done.stderr
    assert "Traceback" not in done.stderr


def test_init_db_on_an_unreachable_server_says_so_not_createdb():
    done = run_cli("init-db", DATABASE_URL="postgresql://root@127.0.0.1:1/nowhere")
    assert done.returncode == 1 and "createdb" not in done.stderr and "Connection refused" in done.stderr, done.stderr


def test_init_db_says_the_createdb_command_when_it_may_not_create_the_database():
    import psycopg

    from .helpers import TEST_DATABASE_URL

    base, name = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    role, missing = f"{name}_nocreate", f"{name}_missing"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        url = base.replace("root@", f"{role}@") + "/" + missing
        done = run_cli("init-db", DATABASE_URL=url)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"the database '{missing}' does not exist and could not be created" in done.stderr
        assert f"create it with `createdb -h 127.0.0.1 -p 5432 -U {role} {missing}`, then run init-db again" \
            in done.stderr, done.stderr
    finally:
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_report_out_into_a_missing_directory_is_a_usage_error(sqlite, tmp_path):
    done = storemon(sqlite, "report", "--out", str(tmp_path / "nope" / "r.csv"))
    assert done.returncode == 2
    assert f"directory '{tmp_path / 'nope'}' does not exist" in done.stderr
    assert not (tmp_path / "nope").exists()


def test_report_out_writes_into_a_device_or_fifo_without_replacing_it(engine, tmp_path):
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC")])
    assert storemon(engine, "load", str(tmp_path)).returncode == 0
    # a character device like /dev/null (1, 3), but our own: a regression replaces only it
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    done = storemon(engine, "report", "--out", str(device))
    assert done.returncode == 0, done.stderr
    assert device.is_char_device()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    done = storemon(engine, "report", "--out", str(fifo))
    assert done.returncode == 0, done.stderr
    assert reader.communicate(timeout=30)[0].startswith(b"store_id,")
    assert fifo.is_fifo()
    regular = tmp_path / "r.csv"
    regular.write_text("old")
    assert storemon(engine, "report", "--out", str(regular)).returncode == 0
    assert regular.read_text().startswith("store_id,") and list(tmp_path.glob("*.part")) == []


@pytest.mark.parametrize("exists", [True, False], ids=["empty database", "no database"])
def test_init_db_runs_at_once_on_an_empty_database_create_the_schema_once(exists):
    """Two first migrations of an empty database used to collide creating the tables; a
    database that does not exist is created first, once, however many init-db run."""
    import psycopg

    from .helpers import TEST_DATABASE_URL

    base, name = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    race = f"{name}_race"
    for _ in range(2):
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {race} WITH (FORCE)")
            if exists:
                conn.execute(f"CREATE DATABASE {race}")
        env = {**os.environ, "DATABASE_URL": f"{base}/{race}"}
        runs = [subprocess.Popen([sys.executable, "-m", "storemon", "init-db"], cwd=PROJECT_ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outputs = [p.communicate(timeout=120) for p in runs]
        assert [p.returncode for p in runs] == [0, 0, 0], outputs
        assert sum("created the schema" in out for out, _ in outputs) == 1, outputs
        assert sum("created the database" in out for out, _ in outputs) == (0 if exists else 1), outputs
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {race} WITH (FORCE)")


def test_only_init_db_and_demo_migrate_the_others_say_to_run_init_db(tmp_path):
    from storemon.database.engines import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    polls_csv(tmp_path, [("s1", "active", "2023-01-22 10:00:00 UTC")])
    for args in (["load", str(tmp_path)], ["report"], ["token", "list"]):
        done = storemon(engine, *args)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            f"Error: database sqlite:///{tmp_path / 'empty.db'}: the database has no storemon schema; "
            "run `python -m storemon init-db`"]
    assert storemon(engine, "init-db").returncode == 0
    assert storemon(engine, "load", str(tmp_path)).returncode == 0
    engine.dispose()


def test_the_commands_are_flask_commands_too(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'flask.db'}"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    made = subprocess.run([*flask, "init-db"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0 and made.stdout.startswith("created the schema"), made.stderr
    loaded = subprocess.run([*flask, "load", str(SEED / "2023-01")], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert loaded.returncode == 0 and "13822 stores" in loaded.stdout, loaded.stderr
    listed = subprocess.run([*flask, "--help"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert all(f"  {name} " in listed.stdout for name in ("init-db", "load", "report", "token", "demo", "clock"))


def test_a_terminal_sees_click_progress_bars_and_a_pipe_none(engine, tmp_path):
    import pty

    polls_csv(tmp_path, [(f"s{i % 40}", "active", f"2023-01-2{i % 5} {i % 24:02d}:00:00 UTC") for i in range(3000)])
    controller, terminal = pty.openpty()
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    done = subprocess.run([sys.executable, "-m", "storemon", "load", str(tmp_path)], cwd=PROJECT_ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=terminal, timeout=120)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end is closed: all is read
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert done.returncode == 0
    assert b"store_status.csv" in shown and b"100%" in shown and b"#" in shown
    piped = run_cli("load", str(tmp_path), DATABASE_URL=env["DATABASE_URL"])
    assert piped.returncode == 0 and piped.stderr == ""


def test_a_bad_setting_fails_with_one_line(tmp_path):
    env = {**os.environ, "DATABASE_URL": "mysql://nobody@nowhere/db"}
    done = subprocess.run([sys.executable, "-m", "storemon", "init-db"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: bad setting: DATABASE_URL must be a postgresql:// or sqlite:// URL, got 'mysql'"


@pytest.mark.parametrize("entry", [["-c", "import wsgi"], ["worker.py"]])
def test_the_web_and_worker_processes_also_fail_with_one_line_on_a_bad_setting(entry):
    env = {**os.environ, "REDIS_URL": "http://localhost:6379"}
    done = subprocess.run([sys.executable, *entry], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == ("bad setting: REDIS_URL must be a redis://, rediss:// or unix:// URL, "
                                   "got 'http://localhost:6379'")


def test_init_db_says_what_it_did_and_can_run_again(tmp_path):
    from storemon.database.engines import head_revision, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    first = storemon(engine, "init-db")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"created the schema (revision {head_revision()}) in sqlite:///")
    again = storemon(engine, "init-db")
    assert again.stdout.startswith(f"the schema is already up to date (revision {head_revision()})")
    queue = again.stdout.splitlines()[-1]
    assert queue.startswith("its reports go on the RQ queue reports.") and queue in first.stdout
    # a copy used beside its original takes an identity, and so a queue, of its own
    renewed = storemon(engine, "init-db", "--new-identity")
    assert "gave the database a new identity" in renewed.stdout
    assert renewed.stdout.splitlines()[-1] != queue
    assert storemon(engine, "init-db").stdout.splitlines()[-1] == renewed.stdout.splitlines()[-1]


def test_two_overlapping_loads_at_once_both_land_and_duplicate_nothing(engine, tmp_path):
    rows = [(f"s{i % 50}", "active" if i % 3 else "inactive", f"2023-01-2{i % 5} {i % 24:02d}:{i % 60:02d}:07 UTC")
            for i in range(6000)]
    polls_csv(tmp_path / "a", rows[:4000])
    polls_csv(tmp_path / "b", rows[2000:])
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    loads = [subprocess.Popen([sys.executable, "-m", "storemon", "load", str(tmp_path / d)], cwd=PROJECT_ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in "ab"]
    outputs = [p.communicate(timeout=120) for p in loads]
    assert [p.returncode for p in loads] == [0, 0], outputs
    distinct = len({(s, t) for s, _, t in rows})
    new = sum(int(out.split(" new polls")[0].rsplit(" ", 1)[1]) for out, _ in outputs)
    assert new == distinct == poll_count(engine)


def test_tokens_from_the_command_line(sqlite):
    made = storemon(sqlite, "token", "create", "poller", "--scope", "ingest", "--scope", "report")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("sm_") and "shown only this once" in made.stderr
    again = storemon(sqlite, "token", "create", "poller", "--scope", "admin")
    assert again.returncode == 1 and "a token named 'poller' is in use; revoke it first" in again.stderr
    listed = storemon(sqlite, "token", "list").stdout.splitlines()
    assert listed[1].split()[:2] == ["poller", "ingest,report"] and token not in "".join(listed)
    assert storemon(sqlite, "token", "revoke", "poller").stdout.strip() == "token 'poller' revoked"
    assert storemon(sqlite, "token", "list").stdout.splitlines()[1].split()[-2:] != ["-", "-"]
    gone = storemon(sqlite, "token", "revoke", "poller")
    assert gone.returncode == 1 and "no active token named 'poller'" in gone.stderr
    # a revoked token's name can be given to a new token; the old token stays refused
    anew = storemon(sqlite, "token", "create", "poller", "--scope", "report")
    assert anew.returncode == 0 and anew.stdout.strip() != token, anew.stderr
    listed = storemon(sqlite, "token", "list").stdout.splitlines()
    assert len(listed) == 2 and listed[1].split()[:2] == ["poller", "report"] and listed[1].split()[-1] == "-"
    assert storemon(sqlite, "token", "create", "x", "--scope", "root").returncode == 2


def test_serve_on_a_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--host=127.0.0.1", PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")


def test_the_worker_says_how_it_is_used_and_takes_no_arguments(tmp_path):
    helped = subprocess.run([sys.executable, "worker.py", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'no.db'}"})
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: python -u worker.py")
    assert not (tmp_path / "no.db").exists()  # nothing was touched
    wrong = subprocess.run([sys.executable, "worker.py", "--queue", "x"], cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=60)
    assert wrong.returncode == 1 and wrong.stderr.strip() == ("worker.py takes no arguments (got --queue x); "
                                                              "see python worker.py --help")
