"""The polls' one home: a row per store and UTC day (poll_days), replacing a row per poll.

A poll took 97 bytes of PostgreSQL as a row of its own (heap, key and three indexes); packed
a day to a row it takes about 12, and a report reads about nine rows a store straight into
NumPy instead of a row per poll, so no worker keeps the polls on its own disk any more. The
numbered changes that such local copies needed go too (data_version's epoch and counter,
poll_deletions, polls.seq, polls.overridden_seq): data_version now holds a random version,
new for every write, another new for every change to the stores, their hours or zones, and
the newest poll. report_parts notes the version each part read,
and reports the plan of a sharded report (storemon/reports/shards.py). On PostgreSQL store
ids compare byte by byte (collation "C"), the report's order, so a part's range of them is
a range of their unique index.

The layout is written out here rather than imported, so this migration means the same
whatever storemon/core/polls.py later becomes: per (store, day), ``polls`` the day's polls in
time order, 8 bytes each, big-endian, microseconds << 1 | 1 if active. The old table held
one row per (instant, store) with "inactive wins" applied already.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
import secrets

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DAY_US = 86_400_000_000
_CHUNK_STORES = 2000  # SQLite moves the polls of this many stores at a time


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.create_table("poll_days",
                    sa.Column("store", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("polls", sa.LargeBinary, nullable=False),
                    sqlite_with_rowid=False)
    if postgres:
        # A day at a time, in the server: the day's polls are a range of the old key (ts_us,
        # store), read in the order they were written, and sorted by store in memory. (One
        # statement grouping every poll by store and day read them through the per-store
        # index, a heap page for nearly every poll: at 19M polls 74 s, this way 24 s.)
        op.execute("SET LOCAL work_mem = '256MB'")
        first, last = bind.exec_driver_sql(f"SELECT min(ts_us) / {DAY_US}, max(ts_us) / {DAY_US} FROM polls").one()
        for day in range(first, last + 1) if first is not None else ():
            op.execute(f"""
                INSERT INTO poll_days (store, day, polls)
                SELECT store, {day}, string_agg(int8send((ts_us << 1) | active::int), ''::bytea ORDER BY ts_us)
                FROM polls WHERE ts_us >= {day * DAY_US} AND ts_us < {(day + 1) * DAY_US} GROUP BY store""")
    else:
        _move_sqlite_polls(bind)
    op.create_index("poll_days_by_day", "poll_days", ["day"])
    if postgres:  # (after the move, which filled its pages whole): a day's row grows in place
        op.execute("ALTER TABLE poll_days SET (fillfactor = 20)")
    newest = bind.exec_driver_sql("SELECT max(ts_us) FROM polls").scalar()
    op.drop_table("polls")
    op.drop_table("poll_deletions")
    op.drop_table("data_version")
    op.create_table("data_version",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("version", sa.BigInteger, nullable=False),
                    sa.Column("stores_version", sa.BigInteger, nullable=False),
                    sa.Column("newest_poll_us", sa.BigInteger))
    op.execute(sa.text("INSERT INTO data_version (id, version, stores_version, newest_poll_us) VALUES (1, :v, :s, :n)")
               .bindparams(v=secrets.randbits(63) or 1, s=secrets.randbits(63) or 1, n=newest))
    if postgres:  # ids compared byte by byte, the report's order, whatever the database's default
        op.execute('ALTER TABLE stores ALTER COLUMN store_id TYPE text COLLATE "C"')
    op.add_column("reports", sa.Column("plan", sa.Text))
    op.add_column("report_parts", sa.Column("version", sa.BigInteger, nullable=False, server_default="0"))
    if postgres:
        op.execute("ANALYZE poll_days")


def _move_sqlite_polls(bind) -> None:
    keys = [row[0] for row in bind.exec_driver_sql("SELECT id FROM stores ORDER BY id")]
    for lo in range(0, len(keys), _CHUNK_STORES):
        chunk = keys[lo:lo + _CHUNK_STORES]
        found = bind.exec_driver_sql("SELECT store, ts_us, active FROM polls WHERE store BETWEEN ? AND ?"
                                     " ORDER BY store, ts_us", (chunk[0], chunk[-1])).fetchall()
        if not found:
            continue
        table = np.array(found, np.int64).reshape(-1, 3)
        store, ts_us, active = table[:, 0], table[:, 1], table[:, 2]
        day = ts_us // DAY_US
        starts = np.flatnonzero(np.concatenate([[True], (store[1:] != store[:-1]) | (day[1:] != day[:-1])]))
        ends = np.append(starts[1:], store.size)
        packed = ((ts_us << 1) | active).astype(">i8").tobytes()
        bind.exec_driver_sql("INSERT INTO poll_days (store, day, polls) VALUES (?, ?, ?)", [
            (int(store[a]), int(day[a]), packed[8 * a:8 * b]) for a, b in zip(starts.tolist(), ends.tolist())])


def downgrade() -> None:
    """Back to a row per poll (every poll as change 0, as 0007 counted the polls it found)."""
    bind = op.get_bind()
    op.drop_column("report_parts", "version")
    op.drop_column("reports", "plan")
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE stores ALTER COLUMN store_id TYPE text COLLATE "default"')
    op.create_table("polls",
                    sa.Column("ts_us", sa.BigInteger, primary_key=True, autoincrement=False),
                    sa.Column("store", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("active", sa.Boolean),
                    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
                    sa.Column("overridden_seq", sa.BigInteger),
                    sqlite_with_rowid=False)
    insert = sa.text("INSERT INTO polls (ts_us, store, active) VALUES (:ts_us, :store, :active)")
    for store, packed in bind.exec_driver_sql("SELECT store, polls FROM poll_days").fetchall():
        bind.execute(insert, [{"ts_us": v >> 1, "store": store, "active": bool(v & 1)}
                              for v in np.frombuffer(bytes(packed), ">i8").tolist()])
    op.create_index("polls_by_store", "polls", ["store"])
    op.create_index("polls_by_seq", "polls", ["seq"])
    op.create_index("polls_overridden", "polls", ["overridden_seq"],
                    postgresql_where=sa.text("overridden_seq IS NOT NULL"),
                    sqlite_where=sa.text("overridden_seq IS NOT NULL"))
    op.drop_table("poll_days")
    op.drop_table("data_version")
    version = op.create_table("data_version",
                              sa.Column("id", sa.Integer, primary_key=True),
                              sa.Column("epoch", sa.String(32), nullable=False),
                              sa.Column("seq", sa.BigInteger, nullable=False))
    op.bulk_insert(version, [{"id": 1, "epoch": secrets.token_hex(16), "seq": 0}])
    op.create_table("poll_deletions",
                    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
                    sa.Column("before_us", sa.BigInteger, nullable=False))
