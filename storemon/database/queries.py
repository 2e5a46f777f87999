"""Reading what a report needs out of the database, as arrays, in a few bulk queries, all
inside one ``snapshot``: PostgreSQL's REPEATABLE READ transaction (exported, so that helper
connections read parts of it at once), SQLite's read transaction, so a report sees the
database as one moment left it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, or_, select, text

from . import polls, version
from .bulk import binary_rows
from .engines import is_postgres, reading
from .models import Store, StoreGroup
from ..core import ReportInput
from ..core.uptime import store_id_order
from ..core.polls import LOOKBACK_US, PollRows, day_of
from ..core.sessions import NO_DATED_ROWS, NO_ZONE_HISTORY, ZoneHistory

__all__ = ["EVERY_STORE", "FoundStore", "Piece", "Snapshot", "StoreRange", "StoreRecord", "Stores", "find_stores",
           "group_exists", "group_keys", "group_store_ids", "groups", "latest_poll_us", "listed_count",
           "named_stores", "snapshot", "store_id_cuts", "store_input"]


class Snapshot:
    """One consistent view of the database: ``conn`` reads it, and ``readers`` runs reads on it
    at once (PostgreSQL: on helper connections joined to the exported snapshot, while the
    server works on them in processes of its own)."""

    def __init__(self, engine: Engine, conn: Connection):
        self.engine, self.conn = engine, conn
        self._exported: str | None = None

    @contextmanager
    def readers(self, count: int) -> Iterator[Callable[[Callable[[Connection], Any]], Future]]:
        """``submit(read)``: the future of what ``read(connection)`` returns, run by one of
        ``count`` helper connections as soon as one is free (SQLite: at once, on this one).
        The helpers start connecting at once, each in a thread of its own, so they are ready
        by the time the caller knows what to read."""
        if not is_postgres(self.conn):
            def run_now(read: Callable[[Connection], Any]) -> Future:
                done: Future = Future()
                done.set_result(read(self.conn))
                return done
            yield run_now
            return
        if self._exported is None:
            self._exported = self.conn.execute(text("SELECT pg_export_snapshot()")).scalar()
        helpers, local, lock, closed = [], threading.local(), threading.Lock(), threading.Event()

        def run(read: Callable[[Connection], Any]) -> Any:
            if getattr(local, "conn", None) is None:  # the thread's own connection, on this snapshot
                # (opened in the thread, not by a thread initializer: a connection that fails
                # raises its own error, which a job knows to wait out, not a broken pool's)
                conn = self.engine.connect().execution_options(isolation_level="REPEATABLE READ")
                with lock:
                    if closed.is_set():  # (the readers were interrupted meanwhile: not left open)
                        conn.invalidate()
                        conn.close()
                        raise RuntimeError("the snapshot's readers are closed")
                    helpers.append(conn)
                conn.execute(text(f"SET TRANSACTION SNAPSHOT '{self._exported}'"))  # (takes no parameter)
                local.conn = conn
            return read(local.conn)

        pool = ThreadPoolExecutor(count, thread_name_prefix="snapshot-reader")
        # (a helper that fails to connect here tries again on its first read)
        ahead = [pool.submit(run, lambda conn: None) for _ in range(count)]
        try:
            yield lambda read: pool.submit(run, read)
        except BaseException:
            # Interrupted (an error, a worker's shutdown signal): a helper may be blocked in its
            # query (on a lock, a frozen server), and closing its connection would wait for it.
            with lock:
                closed.set()
            for conn in list(helpers):
                try:
                    conn.connection.driver_connection.cancel_safe(timeout=1)
                except Exception:  # (already gone, or the server does not answer: the process ends it)
                    pass
            raise
        else:
            wait(ahead)  # (a report that read nothing still ends with its helpers connected, not connecting)
        finally:
            with lock:
                closed.set()
            pool.shutdown(wait=False, cancel_futures=True)
            for conn in list(helpers):
                if not conn.closed:
                    try:
                        conn.close()
                    except Exception:
                        pass


@contextmanager
def snapshot(engine: Engine) -> Iterator[Snapshot]:
    """A view of the database as one moment left it, for every read made on it."""
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            yield Snapshot(engine, conn)
        return
    with reading(engine) as conn, conn.begin():  # (WAL: every read sees the database as of the first)
        yield Snapshot(engine, conn)


def latest_poll_us(conn: Connection) -> int | None:
    """The newest poll's instant: the default as_of (the data is a recording, not live)."""
    return version.current(conn).newest_poll_us


def why_no_polls(conn: Connection) -> str:
    """Why there is no poll: none was ever loaded, or retention deleted every one (stores stay
    listed with their first poll when their polls go)."""
    polled = conn.execute(text("SELECT count(*) FROM stores WHERE first_poll_us IS NOT NULL")).scalar()
    if polled:
        return (f"no polls are left: {polled:,} store(s) were polled, but retention deleted every poll as older than "
                "POLL_RETENTION_DAYS days; load newer polls (or set POLL_RETENTION_DAYS=0 to keep them all)")
    return "no polls are loaded yet: load a store_status.csv first (python -m storemon load DIR)"


@dataclass(frozen=True)
class StoreRange:
    """The stores whose id is at or after ``first`` and before ``end`` (None: unbounded), in the
    report's order (code points: store ids compare byte by byte in both databases), and of one
    group only if ``group`` names one (a label of the store directory, ``key:value``)."""

    first: str | None = None
    end: str | None = None
    group: str | None = None

    def where(self, table: str = "s") -> tuple[str, dict]:
        """The SQL condition on ``table`` (stores) and its parameters."""
        clauses, params = [], {}
        for name, bound, op in (("first_id", self.first, ">="), ("end_id", self.end, "<")):
            if bound is not None:
                clauses.append(f"{table}.store_id {op} :{name}")
                params[name] = bound
        if self.group is not None:
            clauses.append(f"{table}.id IN (SELECT g.store FROM store_groups g WHERE g.label = :group_label)")
            params["group_label"] = self.group
        return " AND ".join(clauses) or "true", params

    def within(self, group: str | None) -> StoreRange:
        """This range, of one group's stores only (None: as it is)."""
        return self if group is None else StoreRange(self.first, self.end, group)


EVERY_STORE = StoreRange()


@dataclass
class Stores:
    """The stores a report lists (polled at or before its as_of) in the report's order, their
    hours, and the calendar of the dates around the report (special hours and holidays)."""

    keys: np.ndarray  # int64 database keys
    store_ids: list[str]
    timezones: list[str | None]
    first_poll_us: np.ndarray
    hours: np.ndarray  # (store key, day, start_s, end_s, effective_date) rows of these stores
    special: np.ndarray = field(default_factory=lambda: NO_DATED_ROWS)  # (store key, date, start_s, end_s) rows
    holidays: np.ndarray = field(default_factory=lambda: NO_DATED_ROWS[:, :3])  # (date, start_s, end_s) rows
    zones: ZoneHistory = NO_ZONE_HISTORY  # the zone versions of those of these stores with more than one (by key)

    @staticmethod
    def read(conn: Connection, as_of_us: int, within: StoreRange = EVERY_STORE,
             dates: tuple[int, int] | None = None) -> Stores:
        """The stores listed as of then (of a range of store ids, or all), with their hours and
        the calendar of local ``dates`` (first, last; by default those a report as of then reaches)."""
        where, params = listed(conn, as_of_us, within)
        special, holidays = _calendar(conn, dates or calendar_dates(as_of_us - LOOKBACK_US, as_of_us), where, params)
        zone_history = _zone_history(conn, where, params)
        if is_postgres(conn):
            # (a few packed values rather than a row a store: 136K stores in 40 ms, not 100 ms; one
            # scan of the sorted stores feeds the aggregates row by row, so they agree on the order,
            # which PostgreSQL keeps from the subquery as a rule, not a promise: it is checked here)
            keys, first, ids, zones = binary_rows(conn, f"""
                SELECT string_agg(int4send(s.id), ''::bytea), string_agg(int8send(s.first_poll_us), ''::bytea),
                       string_agg(s.store_id, E'\\n'), string_agg(coalesce(s.timezone, ''), E'\\n')
                FROM (SELECT * FROM stores s WHERE {where} ORDER BY s.store_id) s""",
                                                  params)[0]
            hours = binary_rows(conn, f"""
                SELECT string_agg(int4send(h.store) || int2send(h.day) || int4send(h.start_s) || int4send(h.end_s)
                                  || int4send(h.effective_date), ''::bytea)
                FROM business_hours h JOIN stores s ON s.id = h.store WHERE {where}""", params)[0][0]
            found = Stores(np.frombuffer(keys or b"", ">i4").astype(np.int64), (ids or "").split("\n") if ids else [],
                           [name or None for name in (zones or "").split("\n")] if ids else [],
                           np.frombuffer(first or b"", ">i8").astype(np.int64), _hours(hours), special, holidays,
                           zone_history)
            return found.in_order()
        found = conn.execute(text(f"SELECT s.id, s.store_id, s.timezone, s.first_poll_us FROM stores s WHERE {where}"
                                  " ORDER BY s.store_id"), params).all()
        hours = conn.execute(text("SELECT h.store, h.day, h.start_s, h.end_s, h.effective_date FROM business_hours h"
                                  f" JOIN stores s ON s.id = h.store WHERE {where}"), params).all()
        return Stores(np.array([s[0] for s in found], np.int64), [s[1] for s in found], [s[2] for s in found],
                      np.array([s[3] for s in found], np.int64),
                      np.array([tuple(h) for h in hours], np.int64).reshape(-1, 5), special, holidays, zone_history).in_order()

    def pieces(self, size: int, contiguous: bool) -> list[Piece]:
        """These stores in runs of consecutive keys, about ``size`` stores each, with the keys
        to read their polls by: the range from a run's first key to its last (``contiguous``:
        the caller takes any other store of the range being read too, as the report does,
        whose input drops the rows of stores it does not list), or the keys themselves."""
        by_key = np.argsort(self.keys, kind="stable")
        keys = self.keys[by_key]
        hours = self.hours[np.argsort(self.hours[:, 0], kind="stable")]
        special = self.special[np.argsort(self.special[:, 0], kind="stable")]
        found = []
        for a in range(0, keys.size, size):
            chosen = by_key[a:a + size]
            mine = keys[a:a + size]
            stores = self.taken(chosen, *(rows[slice(*np.searchsorted(rows[:, 0], [mine[0], mine[-1] + 1]))]
                                          for rows in (hours, special)),
                                self.zones.of_stores(int(mine[0]), int(mine[-1]) + 1, shift=False))
            # (a run of stores numbered one after another, as a load numbers new ones, is a range)
            whole = contiguous or int(mine[-1]) - int(mine[0]) + 1 == mine.size
            found.append(Piece(stores, chosen, (int(mine[0]), int(mine[-1])) if whole else mine))
        return found

    def taken(self, rows: np.ndarray, hours: np.ndarray | None = None, special: np.ndarray | None = None,
              zones: ZoneHistory | None = None) -> Stores:
        """These stores (positions), in this order, with these hours, special hours and zone
        versions (none unless given), and the holidays."""
        picked = rows.tolist()
        return Stores(self.keys[rows], [self.store_ids[i] for i in picked], [self.timezones[i] for i in picked],
                      self.first_poll_us[rows], NO_HOURS if hours is None else hours,
                      NO_DATED_ROWS if special is None else special, self.holidays,
                      NO_ZONE_HISTORY if zones is None else zones)

    def in_order(self) -> Stores:
        """These stores in the report's order (as read, when it is)."""
        ids = np.array(self.store_ids, dtype=str)
        if ids.size < 2 or (ids[1:] > ids[:-1]).all():
            return self
        return self.taken(store_id_order(ids), self.hours, self.special, self.zones)

    def report_input(self, rows: PollRows, as_of_us: int) -> ReportInput:
        """The core's input from these stores and the rows of their polls, read in any order
        (rows of other stores are left out; the core keeps its lookback of the rest)."""
        # Database keys to positions 0..n-1 through a lookup table from the lowest key (keys are
        # serials: a piece's span a few thousand).
        keys = np.concatenate([self.keys, rows.store, self.hours[:, 0], self.special[:, 0], self.zones.store])
        low, high = (int(keys.min()), int(keys.max())) if keys.size else (0, 0)
        position = np.full(high - low + 1, -1, np.int64)
        position[self.keys - low] = np.arange(self.keys.size)
        at = position[rows.store - low]
        mine = PollRows(at, rows.start, rows.count, rows.packed)
        if at.size and at.min() < 0:  # rows of stores first polled after as_of (on its own day)
            mine = mine.taken(np.flatnonzero(at >= 0))
        hours = self.hours[position[self.hours[:, 0] - low] >= 0] if self.hours.size else self.hours
        special = self.special[position[self.special[:, 0] - low] >= 0] if self.special.size else self.special
        zones = self.zones.taken(np.flatnonzero(position[self.zones.store - low] >= 0)) if self.zones.names \
            else self.zones
        return ReportInput(
            store_ids=np.array(self.store_ids, dtype=str) if self.store_ids else np.zeros(0, str),
            timezones=self.timezones,
            hours_store=position[hours[:, 0] - low], hours_day=hours[:, 1], hours_start_s=hours[:, 2], hours_end_s=hours[:, 3],
            hours_effective=hours[:, 4],
            polls=mine, first_poll_us=self.first_poll_us,
            special=np.column_stack([position[special[:, 0] - low], special[:, 1:]]), holidays=self.holidays,
            zone_history=zones.taken(np.arange(len(zones.names)), store=position[zones.store - low]),
        )


@dataclass
class Piece:
    """A run of consecutive keys of a report's stores, computed on its own."""

    stores: Stores  # in key order
    rank: np.ndarray  # each one's position in the report's order
    keys: tuple[int, int] | np.ndarray  # what its polls are read by (storemon.database.polls.read)


NO_HOURS = np.zeros((0, 5), np.int64)  # (the columns of ``Stores.hours``)
_HOURS_ROW = np.dtype([("store", ">i4"), ("day", ">i2"), ("start", ">i4"), ("end", ">i4"), ("effective", ">i4")])


def _hours(packed: bytes | None) -> np.ndarray:
    rows = np.frombuffer(packed or b"", _HOURS_ROW)
    return np.stack([rows[name].astype(np.int64) for name in _HOURS_ROW.names], axis=1).reshape(-1, 5)


def _calendar(conn: Connection, dates: tuple[int, int], where: str, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The special hours of the stores ``where`` selects (on ``stores s``), and the holidays, of
    these local dates (first, last): (store key, date, start_s, end_s) and (date, start_s, end_s) rows."""
    between = {"first_date": dates[0], "last_date": dates[1]}
    special = conn.execute(text("SELECT d.store, d.date, d.start_s, d.end_s FROM special_hours d"
                                " JOIN stores s ON s.id = d.store"
                                f" WHERE d.date BETWEEN :first_date AND :last_date AND {where}"), {**params, **between})
    return (np.array([tuple(r) for r in special], np.int64).reshape(-1, 4),
            np.array([r[:3] for r in _named_holidays(conn, dates)], np.int64).reshape(-1, 3))


def _zone_history(conn: Connection, where: str, params: dict) -> ZoneHistory:
    """The zone versions of the stores ``where`` selects (on ``stores s``) that have more than one."""
    found = conn.execute(text(
        "SELECT z.store, z.effective_date, z.timezone FROM timezone_history z JOIN stores s ON s.id = z.store"
        " WHERE z.store IN (SELECT store FROM timezone_history GROUP BY store HAVING count(*) > 1)"
        f" AND {where}"), params).all()
    return ZoneHistory(np.array([r[0] for r in found], np.int64), np.array([r[1] for r in found], np.int64),
                       [r[2] for r in found])


def calendar_dates(first_us: int, last_us: int) -> tuple[int, int]:
    """The local dates (days since 1970-01-01) whose hours can reach UTC ``[first_us, last_us]``:
    a day either side for the zone's offset, one more before for hours past midnight (and one
    after, as an instant rounded up to the second may reach it)."""
    return int(day_of(first_us)) - 2, int(day_of(last_us)) + 2


def listed(conn: Connection, as_of_us: int, within: StoreRange = EVERY_STORE) -> tuple[str, dict]:
    """The SQL condition on ``stores s`` of the stores a report lists: polled at or before as_of,
    of a range of store ids (or all)."""
    where, params = within.where("s")
    return f"s.first_poll_us <= :as_of_us AND {where}", {"as_of_us": as_of_us, **params}


def listed_count(engine: Engine, as_of_us: int) -> int:
    """How many stores a report as of then lists."""
    with reading(engine) as conn:
        return conn.execute(text("SELECT count(*) FROM stores WHERE first_poll_us <= :as_of_us"),
                            {"as_of_us": as_of_us}).scalar()


def store_id_cuts(engine: Engine, as_of_us: int, parts: int) -> list[str]:
    """The store ids that cut the stores a report lists into ``parts`` runs of (nearly) equal
    size, in the report's order: the first id of every run after the first."""
    with reading(engine) as conn:
        found = conn.execute(text("""
            SELECT store_id FROM (SELECT store_id, row_number() OVER (ORDER BY store_id) - 1 AS at,
                                         count(*) OVER () AS total
                                  FROM stores WHERE first_poll_us <= :as_of_us) ranked
            WHERE at > 0 AND at * :parts / total > (at - 1) * :parts / total ORDER BY store_id"""),
                             {"as_of_us": as_of_us, "parts": parts}).all()
    return [row[0] for row in found]


@dataclass(frozen=True)
class StoreRecord:
    store_id: str
    timezone: str | None
    # (weekday, local start s, local end s, effective date) of every version of its weekly hours,
    # in (effective date, weekday, start) order
    hours: list[tuple[int, int, int, int]]
    # of the dates asked for, in order: (local date, start s, end s), CLOSED for both when closed
    special: list[tuple[int, int, int]] = field(default_factory=list)
    holidays: list[tuple[int, int, int, str]] = field(default_factory=list)  # (date, start, end, name)
    zones: list[tuple[int, str | None]] = field(default_factory=list)  # (effective date, name) of every version, in order
    name: str | None = None  # the store directory's
    groups: tuple[str, ...] = ()


def _named_holidays(conn: Connection, dates: tuple[int, int]) -> list[tuple[int, int, int, str]]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT date, start_s, end_s, name FROM holidays WHERE date BETWEEN :first_date AND :last_date"
        " ORDER BY date, start_s"), {"first_date": dates[0], "last_date": dates[1]})]


def holidays_between(engine: Engine, first_date: int, last_date: int) -> list[tuple[int, int, int, str]]:
    """The chain's holidays of these local dates: (date, start s, end s, name) rows in order."""
    with reading(engine) as conn:
        return _named_holidays(conn, (first_date, last_date))


def never_stored(text: str) -> bool:
    """Whether no stored id or name can be this text: it holds a control character, which the
    sources refuse (and PostgreSQL text cannot hold a NUL, so asking would fail)."""
    from ..sources import CONTROL_CHARACTER  # (here: a report never imports the sources' parsers)

    return CONTROL_CHARACTER.search(text) is not None


def store_calendar(engine: Engine, store_id: str, first_date: int, last_date: int) -> StoreRecord | None:
    """One store's weekly hours and zone, and the special hours and holidays of these local dates;
    None for an unknown store."""
    if never_stored(store_id):
        return None
    with snapshot(engine) as snap:
        found = snap.conn.execute(text("SELECT id, timezone, name FROM stores WHERE store_id = :store_id"),
                                  {"store_id": store_id}).first()
        if found is None:
            return None
        return _record(snap.conn, store_id, *found, (first_date, last_date))


def _record(conn: Connection, store_id: str, key: int, timezone: str | None, name: str | None,
            dates: tuple[int, int]) -> StoreRecord:
    hours = [tuple(h) for h in conn.execute(text(
        "SELECT day, start_s, end_s, effective_date FROM business_hours WHERE store = :key"
        " ORDER BY effective_date, day, start_s"), {"key": key})]
    special = [tuple(r) for r in conn.execute(text(
        "SELECT date, start_s, end_s FROM special_hours WHERE store = :key AND date BETWEEN :first_date AND :last_date"
        " ORDER BY date, start_s"), {"key": key, "first_date": dates[0], "last_date": dates[1]})]
    zones = [tuple(r) for r in conn.execute(text("SELECT effective_date, timezone FROM timezone_history"
                                                 " WHERE store = :key ORDER BY effective_date"), {"key": key})]
    return StoreRecord(store_id, timezone, hours, special, _named_holidays(conn, dates), zones, name,
                       groups_of(conn, [key]).get(key, ()))


def store_input(engine: Engine, store_id: str, since_us: int, until_us: int) -> tuple[StoreRecord, ReportInput] | None:
    """One store's record, and its report input holding its polls in ``[since, until]`` (its
    own rows, by key); None for an unknown store."""
    if never_stored(store_id):
        return None
    with snapshot(engine) as snap:
        conn = snap.conn
        found = conn.execute(text("SELECT id, timezone, name, first_poll_us FROM stores WHERE store_id = :store_id"),
                             {"store_id": store_id}).first()
        if found is None:
            return None
        key, timezone, name, first_poll_us = found
        record = _record(conn, store_id, key, timezone, name, calendar_dates(since_us, until_us))
        ts_us, active = polls.read_store(conn, key, since_us, until_us)
    h = np.array(record.hours, np.int64).reshape(-1, 4)
    special = np.array(record.special, np.int64).reshape(-1, 3)
    data = ReportInput(
        store_ids=np.array([store_id]), timezones=[timezone],
        hours_store=np.zeros(len(h), np.int64), hours_day=h[:, 0], hours_start_s=h[:, 1], hours_end_s=h[:, 2],
        hours_effective=h[:, 3],
        zone_history=ZoneHistory(np.zeros(len(record.zones), np.int64), np.array([z[0] for z in record.zones], np.int64),
                                 [z[1] for z in record.zones]) if len(record.zones) > 1 else NO_ZONE_HISTORY,
        polls=PollRows.of(np.zeros(ts_us.size, np.int64), ts_us, active),
        first_poll_us=np.array([first_poll_us if first_poll_us is not None else np.iinfo(np.int64).max], np.int64),
        special=np.column_stack([np.zeros(len(special), np.int64), special]),
        holidays=np.array([r[:3] for r in record.holidays], np.int64).reshape(-1, 3))
    return record, data


def store_keys(conn: Connection, store_ids: np.ndarray) -> np.ndarray:
    """The database keys of these stores (ids), -1 for one that no longer exists."""
    c = Store.__table__.c
    keys = dict(conn.execute(select(c.store_id, c.id)).all())
    return np.fromiter((keys.get(i, -1) for i in store_ids.tolist()), np.int64, store_ids.size)


def group_keys(conn: Connection, label: str) -> np.ndarray:
    """The database keys of the stores of a group, sorted."""
    g = StoreGroup.__table__.c
    return np.array(conn.execute(select(g.store).where(g.label == label).order_by(g.store)).scalars().all(), np.int64)


def group_store_ids(conn: Connection, label: str) -> set[str]:
    """The ids of the stores of a group."""
    g, c = StoreGroup.__table__.c, Store.__table__.c
    return set(conn.execute(select(c.store_id).join(StoreGroup.__table__, g.store == c.id)
                            .where(g.label == label)).scalars())


def group_exists(engine: Engine, label: str) -> bool:
    """Whether some store carries this group label."""
    g = StoreGroup.__table__.c
    with reading(engine) as conn:
        return conn.execute(select(g.store).where(g.label == label).limit(1)).first() is not None


@dataclass(frozen=True)
class FoundStore:
    """A store as a list of stores shows it: its id, zone, and the store directory's name and groups."""

    store_id: str
    timezone: str | None = None
    name: str | None = None
    groups: tuple[str, ...] = ()


def find_stores(engine: Engine, query: str, limit: int) -> list[FoundStore]:
    """The stores whose id starts with ``query`` or whose name holds it, ignoring case, in id
    order. A scan of the stores table (14K rows: a few ms), as a collation-aware index range
    on a prefix is not reliable."""
    if never_stored(query):
        return []
    c = Store.__table__.c
    wanted = query.lower()
    return _found(engine, or_(func.lower(func.substr(c.store_id, 1, len(query))) == wanted,
                              func.lower(c.name).contains(wanted, autoescape=True)), limit)


def named_stores(engine: Engine, store_ids: list[str]) -> dict[str, FoundStore]:
    """The stores of these ids (those that exist) with their names and groups, by id."""
    store_ids = [i for i in store_ids if not never_stored(i)]
    if not store_ids:
        return {}
    return {f.store_id: f for f in _found(engine, Store.__table__.c.store_id.in_(list(dict.fromkeys(store_ids))))}


def _found(engine: Engine, where, limit: int | None = None) -> list[FoundStore]:
    """The stores ``where`` (on ``stores``) selects, in id order, with their groups."""
    c = Store.__table__.c
    with reading(engine) as conn:
        found = conn.execute(select(c.id, c.store_id, c.timezone, c.name).where(where).order_by(c.store_id)
                             .limit(limit)).all()
        groups = groups_of(conn, [f[0] for f in found])
    return [FoundStore(f[1], f[2], f[3], groups.get(f[0], ())) for f in found]


def groups_of(conn: Connection, keys) -> dict[int, tuple[str, ...]]:
    """The group labels of the stores of these keys (a list, or a select of them), each store's in order."""
    if isinstance(keys, list) and not keys:
        return {}
    g = StoreGroup.__table__.c
    found: dict[int, list[str]] = {}
    for key, label in conn.execute(select(g.store, g.label).where(g.store.in_(keys)).order_by(g.store, g.label)):
        found.setdefault(key, []).append(label)
    return {key: tuple(labels) for key, labels in found.items()}


def groups(engine: Engine) -> list[tuple[str, int]]:
    """Every group label and how many stores carry it, in label order."""
    g = StoreGroup.__table__.c
    with reading(engine) as conn:
        return [tuple(r) for r in conn.execute(select(g.label, func.count()).group_by(g.label).order_by(g.label))]
