"""The numbered changes to the polls (table data_version), which incremental reads rely on.

A load that stores polls and each retention batch takes the next number inside its own
transaction. Taking it updates the one data_version row, which that transaction then holds
until it commits, so the numbers commit in order: a reader that sees change N committed
has seen every change before it, and reads "what changed since N" with polls.seq,
polls.overridden_seq and poll_deletions.seq.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from .bulk import fetch_all


@dataclass(frozen=True)
class Version:
    """Where the polls stand: ``seq`` changes made under ``epoch``. A reader that saw another
    epoch (the database made anew, the counter reset) must read everything again."""

    epoch: str
    seq: int


NONE_YET = Version("", 0)


def next_change(conn: Connection) -> int:
    """Take the next change number, inside the caller's transaction (creating the counter,
    with a new epoch, if it has none)."""
    return fetch_all(conn, "INSERT INTO data_version (id, epoch, seq) VALUES (1, %s, 1)"
                           " ON CONFLICT (id) DO UPDATE SET seq = data_version.seq + 1 RETURNING seq",
                     (secrets.token_hex(16),))[0][0]


def current(conn: Connection) -> Version:
    """The newest committed change, as the caller's transaction sees it."""
    found = fetch_all(conn, "SELECT epoch, seq FROM data_version WHERE id = 1")
    return Version(*found[0]) if found else NONE_YET
