"""The lookback's polls kept between reports in a local file, as of a numbered change.

Polls are append-only but for two changes, both numbered (storemon/database/changes.py):
an inactive poll overriding an active one, and retention deleting the oldest. So a report
need not read eight days of polls to learn one new hour: it maps the file a previous
report left, reads what changed since its change number, and writes the result back for
the next one. The cache is an optimisation only; a report with it is byte-identical to
one without (REPORT_CACHE=off), and any doubt about a file (another database, another
epoch, a torn or foreign file, a range it does not cover) means reading everything.

The file holds the polls at or after ``base`` as one sorted int64 key each, store key
above and time since ``base`` below, and a status byte each; a part of a sharded report
names the stores it holds in its header. Writers write a whole file
under a temporary name and rename it over the old one, so readers (other workers on the
machine, a work horse killed mid-write) see one whole version or the one before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.uptime import TIME_BITS as CORE_TIME_BITS

log = logging.getLogger(__name__)

TIME_BITS = 41  # ~25 days of microseconds below the store key in a cache key
_LOW = (1 << TIME_BITS) - 1
MAX_STORE_KEY = (1 << (63 - TIME_BITS)) - 1  # 4M stores
MAX_SPAN_US = _LOW
_MAGIC, _END = b"SMPOLLS1", b"SMPOLLS$"
_ALIGN = 64
_STALE_TEMP_S = 600  # a temporary file this old was left by a writer that died


@dataclass(frozen=True)
class PollState:
    """Every poll at or after ``base_us`` as of change ``seq`` of ``epoch``: sorted, distinct
    (store key, time) keys and their statuses."""

    epoch: str
    seq: int
    base_us: int
    key: np.ndarray  # int64, store << TIME_BITS | (ts_us - base_us), strictly increasing
    active: np.ndarray  # bool
    stores: np.ndarray | None = None  # the store keys it holds the polls of (sorted); None: every store

    @staticmethod
    def of(epoch: str, seq: int, base_us: int, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray,
           stores: np.ndarray | None = None) -> PollState:
        """From distinct polls at or after ``base_us``, in any order."""
        key = pack(store, ts_us, base_us)
        order = np.argsort(key)  # (distinct keys: any sort gives the one order)
        return PollState(epoch, seq, base_us, key[order], np.asarray(active, bool)[order], stores)

    def restricted(self, stores: np.ndarray) -> PollState:
        """Only the polls of these stores (sorted keys), and holding them: the caller adds the
        polls of those it did not hold before."""
        kept = np.isin(self.key >> TIME_BITS, stores)
        return replace(self, key=self.key[kept], active=self.active[kept], stores=np.asarray(stores, np.int64))

    def keyed(self, since_us: int, until_us: int, stores: np.ndarray, key_base_us: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The polls in ``[since, until]`` of these ``stores`` (sorted keys), in the core's terms
        (``ReportInput.poll_key``): (store position, position << TIME_BITS | (ts_us - key_base),
        active). Each store's polls are one run of the sorted keys, found by a search per store,
        and take one offset each: a few passes over the polls instead of unpacking and packing
        them again (on two busy cores, those passes were what slowed each other most)."""
        stores = np.asarray(stores, np.int64)
        assert since_us >= self.base_us
        top = stores << TIME_BITS
        lo = np.searchsorted(self.key, top | (since_us - self.base_us), side="left")
        hi = np.searchsorted(self.key, top | min(until_us - self.base_us, _LOW), side="right")
        counts = hi - lo
        positions = np.arange(stores.size, dtype=np.int64)
        position = np.repeat(positions, counts)
        # per store: its key becomes its position, its instants count from key_base
        offset = (positions << CORE_TIME_BITS) - top + (self.base_us - key_base_us)
        key = offset.take(position)
        if position.size == self.key.size:  # every poll held is inside (runs cover all of them)
            key += self.key
            return position, key, np.array(self.active, bool)
        at = np.arange(position.size, dtype=np.int64)
        at += np.repeat(lo - (np.cumsum(counts) - counts), counts)  # each one's place among the held
        key += self.key.take(at)
        return position, key, np.asarray(self.active, bool).take(at)

    def changed(self, seq: int, deleted_before_us: int | None, store: np.ndarray, ts_us: np.ndarray,
                active: np.ndarray, overridden_store: np.ndarray, overridden_ts_us: np.ndarray) -> PollState:
        """This state brought to change ``seq``: retention deleted every poll before
        ``deleted_before_us`` (None: nothing), these polls were stored (at or after base),
        and these were turned inactive."""
        key, status = self.key, np.asarray(self.active, bool)
        if deleted_before_us is not None and deleted_before_us > self.base_us:
            kept = (key & _LOW) >= deleted_before_us - self.base_us
            key, status = key[kept], status[kept]
        if overridden_store.size:
            status = status.copy()
            found, at = _find(key, pack(overridden_store, overridden_ts_us, self.base_us))
            status[at[found]] = False
        if store.size:
            new_key = pack(store, ts_us, self.base_us)
            order = np.argsort(new_key)
            new_key, new_active = new_key[order], np.asarray(active, bool)[order]
            found, at = _find(key, new_key)
            if found.any():  # stored again after retention removed it: inactive still wins
                status = status.copy()
                status[at[found]] &= new_active[found]
                new_key, new_active, at = new_key[~found], new_active[~found], at[~found]
            key, status = np.insert(key, at, new_key), np.insert(status, at, new_active)
        return replace(self, seq=seq, key=key, active=status)

    def rebased(self, base_us: int) -> PollState:
        """Without the polls before ``base_us`` (only moves forward)."""
        if base_us <= self.base_us:
            return self
        shift = base_us - self.base_us
        kept = (self.key & _LOW) >= shift
        return replace(self, base_us=base_us, key=self.key[kept] - shift, active=self.active[kept])


def database_name(database_url: str) -> str:
    """A short name for a database, from its URL with the password left out."""
    from sqlalchemy.engine import make_url

    shown = make_url(database_url).render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def pack(store: np.ndarray, ts_us: np.ndarray, base_us: int) -> np.ndarray:
    return (np.asarray(store, np.int64) << TIME_BITS) | (np.asarray(ts_us, np.int64) - base_us)


def fits(max_store_key: int, base_us: int, newest_us: int) -> bool:
    """Whether polls of these store keys from ``base`` to ``newest`` fit a cache key."""
    return max_store_key <= MAX_STORE_KEY and 0 <= newest_us - base_us <= MAX_SPAN_US


def _find(sorted_keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found?, insertion point) of each wanted key in the sorted keys."""
    at = np.searchsorted(sorted_keys, wanted)
    found = at < sorted_keys.size
    found[found] = sorted_keys[at[found]] == wanted[found]
    return found, at


class PollCache:
    """One cache file: ``DIR/NAME.polls``, named after the database it caches."""

    def __init__(self, directory: Path, name: str, database: str | None = None):
        self.directory = Path(directory)
        self.path = self.directory / f"{name}.polls"
        self.database = database or name  # what names the files it shares with the database's other caches
        self.pending: PollState | None = None  # a newer state to write when the report is done
        # How the last read used it: "current" (nothing had changed), "updated" (changes read),
        # "built" (everything read, then cached), "bypassed" (an as_of it does not cover).
        self.outcome: str | None = None

    @classmethod
    def for_database(cls, directory: Path, database_url: str, part: str = "all") -> PollCache:
        """The cache of one database and one part of its stores."""
        database = database_name(database_url)
        return cls(directory, f"{database}-{part}", database)

    def load(self) -> PollState | None:
        """The state the file holds, mapped rather than read; None if there is none or it is
        not whole (a reader never trusts a file it cannot account for to the byte)."""
        try:
            with open(self.path, "rb") as f:
                head = f.read(16)
                if len(head) < 16 or head[:8] != _MAGIC:
                    return None
                size = int.from_bytes(head[8:], "little")
                header = json.loads(f.read(size))
            count, start = int(header["count"]), _aligned(16 + size)
            ends = start + 8 * count
            if os.path.getsize(self.path) != ends + count + len(_END):
                return None
            mapped = np.memmap(self.path, np.uint8, "r")
            if bytes(mapped[ends + count:]) != _END:
                return None
            key = mapped[start:ends].view(np.int64)
            active = mapped[ends:ends + count].view(np.bool_)
            stores = None if header.get("stores") is None else np.array(header["stores"], np.int64)
            return PollState(str(header["epoch"]), int(header["seq"]), int(header["base_us"]), key, active, stores)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def shared(self, name: str, read: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """What ``read`` returns (arrays, the same whoever reads them), kept in a file beside
        the caches of this database for the others on this machine (the parts of one sharded
        report all read the same changes). A file that cannot be read or written costs a read."""
        path = self.directory / f"{self.database}-{name}.npz"
        try:
            with np.load(path) as found:
                return {key: found[key] for key in found.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass
        arrays = read()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._remove_stale(f"{self.database}-*.npz", f".{self.database}-*.npz.*.tmp")  # (this old, it serves no report)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("%s was not written (%s)", path, exc)
        finally:
            tmp.unlink(missing_ok=True)
        return arrays

    def save(self) -> None:
        """Write the pending state, if any: whole, under a temporary name, then renamed over
        the old file. A failure costs the next report a full read, never a wrong one. (No
        fsync: a process that dies leaves the old file or the new one, and after a machine's
        crash a file whose length or end marker is off is read afresh.)"""
        state, self.pending = self.pending, None
        if state is None:
            return
        started = time.perf_counter()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._remove_stale(f".{self.path.name}.*.tmp")
            stores = None if state.stores is None else np.asarray(state.stores).tolist()
            header = json.dumps({"epoch": state.epoch, "seq": state.seq, "base_us": state.base_us,
                                 "count": int(state.key.size), "stores": stores}).encode()
            tmp = self.directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                with open(tmp, "wb") as f:
                    f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
                    f.write(b"\0" * (_aligned(16 + len(header)) - 16 - len(header)))
                    # straight from the arrays, no copies (a fresh work horse pays for every page it touches)
                    f.write(memoryview(np.ascontiguousarray(state.key, np.int64)).cast("B"))
                    f.write(memoryview(np.ascontiguousarray(state.active, np.bool_)).cast("B"))
                    f.write(_END)
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("the report cache %s was not written (%s)", self.path, exc)
            return
        log.debug("report cache %s: %d polls as of change %d written in %.3f s", self.path, state.key.size,
                  state.seq, time.perf_counter() - started)

    def _remove_stale(self, *patterns: str) -> None:
        """Remove the files matching these patterns that are older than _STALE_TEMP_S (left by
        a writer that died, or serving no report any more); one another process removed
        first is no concern."""
        now = time.time()
        for pattern in patterns:
            for path in self.directory.glob(pattern):
                try:
                    if now - path.stat().st_mtime > _STALE_TEMP_S:
                        path.unlink()
                except OSError:
                    pass


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
