"""One report over many workers: its stores cut by store id into parts, each part an RQ job
any worker may take, and a last job that joins the parts' rows in that order.

1. **Plan.** The report's own job, for a report listing more than REPORT_SHARD_STORES stores
   (PostgreSQL only), finds the store ids that cut them into equal runs and records them in
   the report's row (``reports.plan``, with its as_of), then queues the parts and the join.
2. **Parts.** Each reads its run of stores (a range of store ids) with their hours, zones and
   polls on one snapshot of its own, computes their rows exactly as the single-job report
   would (each row depends on its store alone), and stores them with the data version it
   read (``report_parts``).
3. **Join.** Once every part has ended, it opens a snapshot of its own. Parts that all read
   one version are one state of the data; otherwise every part that read another version
   than the join's is computed again, there, in the join's snapshot. So the report is the
   report of one state of the data: a load committing mid-report is wholly in or wholly out.
   Then the report is completed with the parts' rows in order: byte-identical to the
   single-job report.

Nothing of a plan lives in Redis but RQ's own jobs; nothing lives on a worker's disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine

from ..config import Settings
from ..core import Progress
from ..core.csvout import header_of
from ..database.engines import is_postgres
from ..database.queries import Snapshot, StoreRange, listed_count, store_id_cuts
from .build import build_csv
from .options import STANDARD, ReportOptions


@dataclass(frozen=True)
class Plan:
    """A sharded report's parts, as one run of it cut them: the store id each part after the
    first starts at (each part runs to the next one's start)."""

    attempt: int
    cuts: list[str]

    @property
    def count(self) -> int:
        return len(self.cuts) + 1

    def part(self, index: int) -> StoreRange:
        edges = [None, *self.cuts, None]
        return StoreRange(edges[index], edges[index + 1])

    def dumps(self) -> str:
        return json.dumps({"attempt": self.attempt, "cuts": self.cuts})

    @staticmethod
    def loads(text: str) -> Plan:
        found = json.loads(text)
        return Plan(int(found["attempt"]), list(found["cuts"]))


def sharded(engine: Engine, settings: Settings, as_of_us: int, options: ReportOptions = STANDARD) -> bool:
    """Whether a report as of then is cut into parts (a report of one group, or with longer
    windows, never is)."""
    return bool(settings.report_shard_stores) and is_postgres(engine) and options.group is None \
        and not options.days \
        and listed_count(engine, as_of_us) > settings.report_shard_stores


def plan(engine: Engine, settings: Settings, workers: int, attempt: int, as_of_us: int) -> Plan:
    """The report's run ``attempt`` cut into parts of at most REPORT_SHARD_STORES stores, in
    store_id order, as many as the fewest multiple of the ``workers`` listening."""
    count = part_count(listed_count(engine, as_of_us), settings.report_shard_stores, workers)
    return Plan(attempt, store_id_cuts(engine, as_of_us, count))


def part_count(stores: int, most: int, workers: int) -> int:
    """The fewest parts of at most ``most`` stores whose number is a multiple of the workers
    there are: every worker then takes as many parts as the next (3 parts on 2 workers take
    two rounds of the largest; 4 smaller ones, two rounds of a smaller)."""
    fewest = max(1, -(-stores // most))
    workers = max(1, workers)
    return -(-fewest // workers) * workers


def compute(snap: Snapshot, as_of_us: int, within: StoreRange, on_progress: Progress | None = None,
            extended: bool = False) -> tuple[bytes, int]:
    """On a snapshot, a part's rows of the report CSV (no header) and the data version read."""
    csv, version = build_csv(snap, as_of_us, within, on_progress, extended)
    return csv[len(header_of(extended)):], version


