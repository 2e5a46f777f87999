"""Stores retired: a store and everything kept of it (business hours, timezone, polls) deleted.

For a store closed for good, or data that never belonged (the sample data loaded to try the
service). One transaction under the loads' lock: every named store goes, or none. Reports
already made keep their rows and CSVs; the next report no longer lists the stores. A store
named again later (a poll, hours or a timezone) comes back as a new store.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from . import polls, version
from .bulk import staged
from .engines import WRITE_LOCK, is_postgres
from .queries import never_stored
from ..sources.text import shown

SHOWN_UNKNOWN = 100  # unknown store ids an error lists


class UnknownStores(LookupError):
    """Store ids that name no store; ``store_ids`` holds the first SHOWN_UNKNOWN."""

    def __init__(self, store_ids: list[str]):
        listed = ", ".join(shown(s) for s in store_ids[:SHOWN_UNKNOWN])
        more = f" and {len(store_ids) - SHOWN_UNKNOWN} more" if len(store_ids) > SHOWN_UNKNOWN else ""
        super().__init__(f"{len(store_ids)} store id(s) name no store: {listed}{more}")
        self.store_ids = store_ids[:SHOWN_UNKNOWN]


@dataclass(frozen=True)
class Retired:
    stores: int
    polls: int
    unknown: int = 0  # ids of ``where_stored`` that named no store
    first_ids: tuple[str, ...] = ()  # the first few retired, in the order named


def retire(engine: Engine, store_ids: list[str], *, where_stored: list[str] = (), dry_run: bool = False) -> Retired:
    """Delete these stores with their hours and polls, and those of ``where_stored`` that are
    stored (ids read from data files: the others are counted as unknown and passed over). An
    id of ``store_ids`` that names no store raises UnknownStores, and nothing is deleted.
    ``dry_run``: say what would go, and delete nothing."""
    wanted = list(dict.fromkeys([*store_ids, *where_stored]))
    with engine.connect() as conn, conn.begin() as transaction:
        if is_postgres(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": WRITE_LOCK})
        storable = [s for s in wanted if not never_stored(s)]
        with staged(conn, "retired_ids", [("store_id", "text", storable)]):
            keys = dict(conn.execute(text("SELECT s.store_id, s.id FROM stores s"
                                          " WHERE s.store_id IN (SELECT store_id FROM retired_ids)")).all())
        if missing := [s for s in dict.fromkeys(store_ids) if s not in keys]:
            raise UnknownStores(missing)
        retired = _delete(conn, sorted(keys.values()))
        if dry_run:
            transaction.rollback()
    return Retired(retired.stores, retired.polls, len(wanted) - len(keys), tuple(s for s in wanted if s in keys)[:5])


def _delete(conn: Connection, keys: list[int]) -> Retired:
    if not keys:
        return Retired(0, 0)
    with staged(conn, "retired_keys", [("store", "int4", keys)]):
        gone = "(SELECT store FROM retired_keys)"
        count = conn.execute(text(f"SELECT coalesce(sum(length(polls)), 0) FROM poll_days WHERE store IN {gone}")).scalar()
        # (the newest poll is worked out again only if it may have been theirs: that reads a whole day)
        newest_day = conn.execute(text(f"SELECT 1 FROM poll_days WHERE store IN {gone}"
                                       " AND day = (SELECT max(day) FROM poll_days) LIMIT 1")).first() is not None
        # (a store's own SLO target goes too: one made again later with its id starts without)
        conn.execute(text("DELETE FROM slo_targets WHERE scope = 'store'"
                          f" AND name IN (SELECT store_id FROM stores WHERE id IN {gone})"))
        for table, column in (("poll_days", "store"), ("business_hours", "store"), ("special_hours", "store"),
                              ("timezone_history", "store"), ("store_groups", "store"), ("incidents", "store"),
                              ("daily_uptime", "store"),
                              ("stores", "id")):
            conn.execute(text(f"DELETE FROM {table} WHERE {column} IN {gone}"))
    version.bump(conn, stores_changed=True)
    if newest_day:
        version.set_newest(conn, polls.newest_us(conn))
    return Retired(len(keys), int(count) // polls.POLL_DTYPE.itemsize)
