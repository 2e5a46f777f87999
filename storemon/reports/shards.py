"""One report over many workers: its stores cut into parts in store_id order, each part an RQ
job any worker may take, and a last job that joins the parts' CSV rows in that order.

Every part computes exactly the rows the single-job report would write for its stores, so
the joined CSV is byte-identical to it. All parts read one state of the data: the report
is planned on one snapshot, which fixes the as_of, the stores with their hours and
timezones (handed to each part through Redis), and the newest numbered change to the polls;
each part reads its own stores' polls as that change left them (storemon/database/lookback.py),
so a load that commits mid-report is wholly out of it. PostgreSQL only: SQLite, the
embedded default, computes every report in one job.

The parts' stores wait in Redis under keys named after a digest of the stores a report
lists (queries.stores_digest), so an hourly report on unchanged stores reuses the last
plan's parts instead of reading, sorting and sending every store again (0.6 s of planning
408K stores; the digest takes 80 ms).
"""

from __future__ import annotations

import json
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
from ..database.pollcache import PollCache, database_name
from ..database.queries import Stores, listed_count, part_input, plan_input
from .queue import enqueue_parts

log = logging.getLogger(__name__)
# A part whose stores expired (it waited this long after a newer plan replaced its own) has
# its report planned again, by the join.
REPLACED_PLAN_TTL_S = 3600


@dataclass(frozen=True)
class Part:
    """What one part computes: the stores kept under ``stores_key`` in Redis (as planned) for the
    report's as_of, with the polls as change ``seq`` of ``epoch`` left them."""

    report_id: str
    attempt: int  # the run of the report that planned it
    index: int
    count: int
    as_of_us: int
    epoch: str
    seq: int
    stores_key: str

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Part:
        return pickle.loads(data)

    @property
    def label(self) -> str:
        return f"part {self.index + 1} of {self.count}"


def stores_of(data: bytes) -> Stores:
    return pickle.loads(data)


def sharded(engine: Engine, settings: Settings, as_of_us: int) -> bool:
    """Whether a report as of then is cut into parts."""
    return bool(settings.report_shard_stores) and is_postgres(engine) \
        and listed_count(engine, as_of_us) > settings.report_shard_stores


def plan(engine: Engine, queue: Queue, settings: Settings, report_id: str, attempt: int, as_of_us: int) -> int:
    """Cut the report into parts of at most REPORT_SHARD_STORES stores, in store_id order, and
    queue them and their join; the number of parts."""
    redis, workers = queue.connection, Worker.count(queue=queue)
    last_plan = last_plan_key(engine)
    previous = json.loads(redis.get(last_plan) or "null")
    known = previous if _reusable(redis, previous, workers, settings) else None
    version, digest, stores = plan_input(engine, as_of_us, known["digest"] if known else None)
    if stores is None:  # the stores the last plan cut: its parts' stores are in Redis still
        keys, largest = known["keys"], known["largest"]
    else:
        order = stores.by_store_id()
        count = part_count(order.size, settings.report_shard_stores, workers)
        cuts = np.array_split(order, count)
        keys, largest = [f"storemon:part-stores:{digest}:{count}:{k}" for k in range(count)], max(map(len, cuts))
        # (named by their content: every planner that cuts the same stores writes the same values)
        with redis.pipeline() as pipe:
            for key, positions in zip(keys, cuts):
                pipe.set(key, pickle.dumps(stores.part(positions), protocol=pickle.HIGHEST_PROTOCOL),
                         ex=settings.report_failure_ttl)
            pipe.set(last_plan, json.dumps({"digest": digest, "workers": workers, "most": settings.report_shard_stores,
                                             "keys": keys, "largest": largest}),
                     ex=settings.report_failure_ttl)
            # The plan replaced keeps its parts' stores for the reports planned on it a while
            # longer, not a week: Redis holds one fleet's stores, not one per change to them.
            for key in set(previous["keys"] if previous else ()) - set(keys):
                pipe.expire(key, REPLACED_PLAN_TTL_S)
            pipe.execute()
    count = len(keys)
    parts = [Part(report_id, attempt, index, count, as_of_us, version.epoch, version.seq, key) for index, key in enumerate(keys)]
    enqueue_parts(queue, settings, report_id, attempt, [part.dumps() for part in parts],
                  (report_id, attempt, count, as_of_us))
    log.info("cut into %d parts of up to %d stores, as of change %d%s", count, largest, version.seq,
             " (the stores of the last plan)" if stores is None else "")
    return count


def last_plan_key(engine: Engine) -> str:
    """Where the last plan made for this database is kept in Redis."""
    return f"storemon:plan:{database_name(engine.url.render_as_string(hide_password=False))}"


def _reusable(redis, known: dict | None, workers: int, settings: Settings) -> bool:
    """Whether the last plan was cut for as many workers and parts as large, and its parts'
    stores are all still in Redis (then kept another REPORT_FAILURE_TTL from now)."""
    if known is None or (known["workers"], known["most"]) != (workers, settings.report_shard_stores):
        return False
    with redis.pipeline() as pipe:
        for key in known["keys"]:
            pipe.expire(key, settings.report_failure_ttl)
        return all(pipe.execute())


def part_count(stores: int, most: int, workers: int) -> int:
    """The fewest parts of at most ``most`` stores whose number is a multiple of the workers
    there are: every worker then takes as many parts as the next (3 parts on 2 workers take
    two rounds of the largest; 4 smaller ones, two rounds of a smaller)."""
    fewest = max(1, -(-stores // most))
    workers = max(1, workers)
    return -(-fewest // workers) * workers


def compute(engine: Engine, part: Part, stores: Stores, cache: PollCache | None,
            on_progress: Progress | None = None) -> bytes:
    """The part's rows of the report CSV (no header), from its ``stores`` as planned."""
    data = part_input(engine, stores, part.as_of_us, Version(part.epoch, part.seq), cache)
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
