"""The data's version (table data_version, one row): a new random number for every write to
what a report reads (polls, business hours, timezones, retention's deletions), another for
every change to the stores themselves (a new store, new hours, a new timezone, a store's
earlier first poll: which stores a report lists), and the
newest poll stored, which is the default as_of.

Both change in the writer's own transaction, so whatever snapshot reads the row reads the
data that goes with it. The parts of a sharded report each note the version they read; the
job that joins them recomputes, in one snapshot of its own, every part that read another
(storemon/reports/shards.py). A version is random rather than counted, so a database restored
from a dump and written to again never repeats one that a report saw before.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text



@dataclass(frozen=True)
class DataVersion:
    version: int  # 0 before anything was written
    stores_version: int  # the stores, their hours, timezones and first polls as they stand (0 before any)
    newest_poll_us: int | None


def bump(conn: Connection, newest_poll_us: int | None = None, stores_changed: bool = False) -> None:
    """A new version, inside the writer's transaction; ``newest_poll_us`` is the newest poll it
    stored, if any (the row keeps the newest of all); ``stores_changed``: it created stores,
    wrote hours or timezones, or gave a store an earlier first poll."""
    stores_version = secrets.randbits(63) or 1
    conn.execute(text("""
        INSERT INTO data_version (id, version, stores_version, newest_poll_us) VALUES (1, :version, :stores, :newest)
        ON CONFLICT (id) DO UPDATE SET version = excluded.version,
            stores_version = CASE WHEN :stores_changed THEN excluded.stores_version ELSE data_version.stores_version END,
            newest_poll_us = CASE WHEN excluded.newest_poll_us IS NULL
                                       OR data_version.newest_poll_us > excluded.newest_poll_us
                                  THEN data_version.newest_poll_us ELSE excluded.newest_poll_us END"""),
                 {"version": secrets.randbits(63) or 1, "stores": stores_version, "newest": newest_poll_us,
                  "stores_changed": stores_changed})


def set_newest(conn: Connection, newest_poll_us: int | None) -> None:
    """The newest poll after polls were deleted (retention, a store retired); None when no poll
    is left, so there is no default as_of."""
    conn.execute(text("UPDATE data_version SET newest_poll_us = :newest"), {"newest": newest_poll_us})


def current(conn: Connection) -> DataVersion:
    """The version the caller's transaction sees."""
    found = conn.execute(text("SELECT version, stores_version, newest_poll_us FROM data_version WHERE id = 1")).first()
    return DataVersion(*found) if found is not None else DataVersion(0, 0, None)
