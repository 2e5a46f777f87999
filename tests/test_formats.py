"""A finished report as CSV, JSON Lines or Parquet (``?format=``, ``Accept:``, ``report --format``):
the same rows, in the same order, with the same numbers."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from storemon.reports.build import build_report
from storemon.reports.options import EXTENDED, STANDARD
from storemon.timeparse import parse_instant

from .helpers import AS_OF, run_jobs, storemon, trigger


def table_of_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def as_table(data: bytes, fmt: str, header: list[str]) -> list[list[str]]:
    """A report in any format as the CSV's rows of text, numbers written to two decimals."""
    if fmt == "csv":
        return table_of_csv(data)
    if fmt == "jsonl":
        objects = [json.loads(line) for line in data.decode().splitlines()]
        assert all(list(o) == header for o in objects)  # the CSV's columns, in its order
        return [header] + [[o["store_id"]] + [f"{o[c]:.2f}" for c in header[1:]] for o in objects]
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == header and str(table.schema.field("store_id").type) == "string"
    values = table.to_pydict()
    return [header] + [[values["store_id"][i]] + [f"{values[c][i]:.2f}" for c in header[1:]]
                       for i in range(table.num_rows)]


@pytest.mark.parametrize("extended", [False, True])
def test_every_format_holds_the_csvs_rows(client, app, seeded, extended):
    report_id = trigger(client, json={"as_of": AS_OF, "columns": "extended" if extended else "standard"})
    run_jobs(app)
    data = client.get(f"/get_report/{report_id}").data
    assert data == build_report(seeded, parse_instant(AS_OF), options=EXTENDED if extended else STANDARD)[1]
    expected = table_of_csv(data)
    assert len(expected[0]) == (10 if extended else 7) and len(expected) > 1000
    for fmt, media in (("jsonl", "application/jsonl"), ("parquet", "application/vnd.apache.parquet"),
                       ("csv", "text/csv")):
        by_query = client.get(f"/get_report/{report_id}?format={fmt}")
        assert by_query.status_code == 200 and by_query.mimetype == media
        assert by_query.headers["Content-Disposition"] == f"attachment; filename=report-{report_id}.{fmt}"
        assert as_table(by_query.data, fmt, expected[0]) == expected
        by_accept = client.get(f"/get_report/{report_id}", headers={"Accept": f"{media}, text/csv;q=0.5"})
        assert by_accept.mimetype == media and by_accept.data == by_query.data
        assert "Accept" in by_accept.headers["Vary"]
        cli = storemon(seeded, "report", "--as-of", AS_OF, "--format", fmt, *(["--extended"] if extended else []))
        assert cli.returncode == 0 and as_table(cli.stdout_bytes, fmt, expected[0]) == expected


def test_a_bad_format_is_a_400_and_csv_is_the_default(client, app, seeded):
    report_id = trigger(client, json={"as_of": AS_OF})
    bad = client.get(f"/get_report/{report_id}?format=xlsx")
    assert bad.status_code == 400 and bad.get_json()["error"] == "format must be one of csv, jsonl, parquet (got 'xlsx')"
    run_jobs(app)
    assert client.get(f"/get_report/{report_id}", headers={"Accept": "application/xml"}).mimetype == "text/csv"
    assert client.get(f"/get_report/{report_id}", headers={"Accept": "*/*"}).mimetype == "text/csv"


def test_parquet_is_not_written_to_a_terminal(tmp_path):
    """Binary on a terminal helps nobody: the command says to use --out (or a redirect)."""
    import os
    import subprocess
    import sys

    from storemon.config import PROJECT_ROOT

    terminal, its_other_end = os.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "storemon", "report", "--format", "parquet"], cwd=PROJECT_ROOT,
                             stdout=its_other_end, stderr=subprocess.PIPE, timeout=60,
                             env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"})
    finally:
        os.close(its_other_end)
        os.close(terminal)
    assert run.returncode == 1
    assert b"Parquet is binary: write it to a file with --out FILE (or redirect stdout)" in run.stderr
