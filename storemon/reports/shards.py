"""One report over many workers: its stores cut into parts in store_id order, each part an RQ
job any worker may take, and a last job that joins the parts' CSV rows in that order.

Every part computes exactly the rows the single-job report would write for its stores, so
the joined CSV is byte-identical to it. All parts read one state of the data: the report
is planned on one snapshot, which fixes the as_of, the stores with their hours and
timezones (handed to each part in its job), and the newest numbered change to the polls;
each part reads its own stores' polls as that change left them (storemon/database/lookback.py),
so a load that commits mid-report is wholly out of it. PostgreSQL only: SQLite, the
embedded default, computes every report in one job.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass

import numpy as np
from rq import Worker
from rq.queue import Queue
from sqlalchemy import Engine

from ..config import Settings
from ..core import Progress, compute_uptime, to_csv
from ..core.csvout import HEADER
from ..database.changes import Version
from ..database.engines import is_postgres
from ..database.pollcache import PollCache
from ..database.queries import Stores, listed_count, part_input, plan_input
from .queue import enqueue_parts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    """What one part computes: its stores (as planned) for the report's as_of, with the polls as
    change ``seq`` of ``epoch`` left them."""

    report_id: str
    index: int
    count: int
    as_of_us: int
    epoch: str
    seq: int
    stores: Stores

    def dumps(self) -> bytes:
        """A part's input travels through Redis, for minutes at most (the join deletes it):
        self-contained, and not compressed (compressing took 0.14 s of planning 408K stores)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Part:
        return pickle.loads(data)

    @property
    def label(self) -> str:
        return f"part {self.index + 1} of {self.count}"


def sharded(engine: Engine, settings: Settings, as_of_us: int) -> bool:
    """Whether a report as of then is cut into parts."""
    return bool(settings.report_shard_stores) and is_postgres(engine) \
        and listed_count(engine, as_of_us) > settings.report_shard_stores


def plan(engine: Engine, queue: Queue, settings: Settings, report_id: str, attempt: int, as_of_us: int) -> int:
    """Cut the report into parts of at most REPORT_SHARD_STORES stores, in store_id order, and
    queue them and their join; the number of parts."""
    version, stores = plan_input(engine, as_of_us)
    order = stores.by_store_id()
    count = part_count(order.size, settings.report_shard_stores, Worker.count(queue=queue))
    parts = [Part(report_id, index, count, as_of_us, version.epoch, version.seq, stores.part(positions))
             for index, positions in enumerate(np.array_split(order, count))]
    enqueue_parts(queue, settings, report_id, attempt, [part.dumps() for part in parts],
                  (report_id, attempt, count, as_of_us))
    log.info("cut into %d parts of up to %d stores, as of change %d", count, -(-order.size // count),
             version.seq)
    return count


def part_count(stores: int, most: int, workers: int) -> int:
    """The fewest parts of at most ``most`` stores whose number is a multiple of the workers
    there are: every worker then takes as many parts as the next (3 parts on 2 workers take
    two rounds of the largest; 4 smaller ones, two rounds of a smaller)."""
    fewest = max(1, -(-stores // most))
    workers = max(1, workers)
    return -(-fewest // workers) * workers


def compute(engine: Engine, part: Part, cache: PollCache | None, on_progress: Progress | None = None) -> bytes:
    """The part's rows of the report CSV (no header)."""
    data = part_input(engine, part.stores, part.as_of_us, Version(part.epoch, part.seq), cache)
    if cache is not None:
        log.info("report polls (%s): cache %s", part.label, cache.outcome)
    csv = to_csv(compute_uptime(data, part.as_of_us, on_progress=on_progress))
    return csv[len(HEADER):]


def joined(parts: list[bytes]) -> bytes:
    """The report CSV from its parts' rows, in order."""
    return HEADER.encode() + b"".join(parts)


def part_cache(settings: Settings, engine: Engine, part: Part) -> PollCache | None:
    """The part's own cache file: any worker on the machine that takes part k of n next reads
    what it holds (the stores at the parts' edges move a little as stores are added)."""
    from .build import report_cache

    return report_cache(settings, engine, part=f"part{part.index}of{part.count}")
