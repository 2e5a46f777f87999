"""Large ingestion bodies: the web process's peak memory, and what it keeps afterwards.

    .venv/bin/python -m bench.bench_bodies [--against DIR]

Bodies of about 250 MiB once inflated (under MAX_INGEST_INFLATED_BYTES), sent gzipped
(MAX_INGEST_BYTES raised to 128 MiB for the CSV, which gzips to 78 MiB):
the full-scale polls repeated with earlier years, as CSV (accepted, into an empty database)
and as JSON with a bad last row (refused, nothing stored); then three of the JSON bodies
at once. Each in a fresh web process, whose peak (VmHWM) is read once it has answered and
its resident memory (VmRSS) 3 s later. ``--against DIR`` runs the same against the code of
another checkout first (e.g. a worktree of an earlier commit), side by side.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import threading
import time
from pathlib import Path

from .bench_api import start_web
from .bench_ingest import MiB, make_token, peak_mb
from .fixtures import BENCH_PG, ROOT, dataset, fresh_postgres

SIZE = 250 * MiB


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bodies() -> tuple[bytes, bytes]:
    """(CSV, JSON with a bad last row), each about SIZE bytes, gzipped."""
    text = (dataset("full") / "store_status.csv").read_text()
    header, rows = text.split("\n", 1)
    csv_parts, size, year = [header + "\n"], len(header) + 1, 2023
    while size < SIZE:
        part = rows if year == 2023 else rows.replace(",2023-", f",{year}-")
        part = part[:SIZE - size]
        part = part[:part.rfind("\n") + 1]
        if not part:
            break
        csv_parts.append(part)
        size += len(part)
        year -= 1
    csv = "".join(csv_parts)
    items = []
    size = 0
    for line in csv.split("\n")[1:]:
        if not line:
            continue
        store, status, stamp = line.split(",")
        item = f'{{"store_id": "{store}", "status": "{status}", "timestamp_utc": "{stamp}"}}'
        size += len(item) + 2
        if size > SIZE:
            break
        items.append(item)
    items[-1] = items[-1].replace('"status": "active"', '"status": "maybe"').replace('"status": "inactive"',
                                                                                    '"status": "maybe"')
    return gzip.compress(csv.encode(), 6), gzip.compress(("[" + ", ".join(items) + "]").encode(), 6)


def send(port: int, token: str, body: bytes, content_type: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("POST", "/polls", body=body, headers={"Authorization": f"Bearer {token}",
                                                       "Content-Type": content_type, "Content-Encoding": "gzip"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def run(label: str, root: Path, csv: bytes, json_body: bytes) -> None:
    for what, body, content_type, copies in (("CSV, accepted", csv, "text/csv", 1),
                                             ("JSON, last row bad", json_body, "application/json", 1),
                                             ("JSON, last row bad, three at once", json_body, "application/json", 3)):
        url = fresh_postgres(f"{BENCH_PG}_bodies")
        token = make_token(url)
        # (the CSV, random synthetic polls, gzips to 78 MiB: past the default 64 MiB as sent)
        web, port, _ = start_web(url, root=root, extra={"MAX_INGEST_BYTES": str(128 * MiB)})
        try:
            answers: list[tuple[int, float]] = []
            threads = [threading.Thread(target=lambda port=port, token=token, body=body, content_type=content_type,
                                               answers=answers:
                                        answers.append(send(port, token, body, content_type)))
                       for _ in range(copies)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak = peak_mb(web.pid)
            time.sleep(3)
            print(json.dumps({"code": label, "body": what, "sent_mib": round(len(body) / MiB, 1),
                              "answers": sorted(status for status, _ in answers),
                              "seconds": round(max(s for _, s in answers), 2), "peak_mb": round(peak),
                              "resident_after_mb": round(resident_mb(web.pid))}), flush=True)
        finally:
            web.terminate()
            web.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="another checkout, measured first")
    args = parser.parse_args()
    csv, json_body = bodies()
    if args.against:
        run(str(args.against), args.against, csv, json_body)
    run("this checkout", ROOT, csv, json_body)


if __name__ == "__main__":
    main()
