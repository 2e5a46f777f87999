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
names the stores it holds in its header. Beside it, a small file keeps the changes since
(``Delta``: an hourly report writes those, not the whole lookback again; the whole file is
written again when they pass an eighth of it, or its base moves, about once a day). The core
is handed the polls a run of stores at a time, each run of the file with its changes applied
(``Cached.core_chunks``), so the lookback never stands in memory as one new array. Writers
write under a temporary name and rename over the old file, so readers (other workers on
the machine, a work horse killed mid-write) see one whole version or the one before; the
changes file names the whole file it was kept for, and any other is not trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.uptime import TIME_BITS as CORE_TIME_BITS, PollChunk

log = logging.getLogger(__name__)

TIME_BITS = 41  # ~25 days of microseconds below the store key in a cache key
_LOW = (1 << TIME_BITS) - 1
MAX_STORE_KEY = (1 << (63 - TIME_BITS)) - 1  # 4M stores
MAX_SPAN_US = _LOW
_MAGIC, _END = b"SMPOLLS1", b"SMPOLLS$"
_ALIGN = 64
_STALE_TEMP_S = 600  # a temporary file this old was left by a writer that died
# The whole state is written again once the changes kept beside it pass this fraction of it
# (an hour's polls are about 1/190 of the lookback: a whole write about once a day).
_WHOLE_AFTER = 8
_CHUNK_POLLS = 250_000  # polls handed to the core at a time (a few MB an array: they stay in cache)


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
        key, status = _sorted_keys(store, ts_us, active, base_us)
        return PollState(epoch, seq, base_us, key, status, stores)

    def restricted(self, stores: np.ndarray) -> PollState:
        """Only the polls of these stores (sorted keys), and holding them: the caller adds the
        polls of those it did not hold before."""
        kept = np.isin(self.key >> TIME_BITS, stores)
        return replace(self, key=self.key[kept], active=self.active[kept], stores=np.asarray(stores, np.int64))

    def changed(self, seq: int, deleted_before_us: int | None, store: np.ndarray, ts_us: np.ndarray,
                active: np.ndarray, overridden_store: np.ndarray, overridden_ts_us: np.ndarray) -> PollState:
        """This state brought to change ``seq``: retention deleted every poll before
        ``deleted_before_us`` (None: nothing), these polls were stored (at or after base),
        and these were turned inactive."""
        return self.with_delta(Delta.of(seq, deleted_before_us, store, ts_us, active, overridden_store,
                                        overridden_ts_us, self.base_us))

    def with_delta(self, delta: Delta) -> PollState:
        """This state with what ``delta`` says changed since, in one pass over its polls."""
        key, status = self.key, np.asarray(self.active, bool)
        if delta.cut_us is not None and delta.cut_us > self.base_us:
            kept = (key & _LOW) >= delta.cut_us - self.base_us
            key, status = key[kept], status[kept]
        if delta.overridden.size:
            status = status.copy()
            found, at = _find(key, delta.overridden)
            status[at[found]] = False
        new_key, new_active = delta.key, delta.active
        if new_key.size:
            found, at = _find(key, new_key)
            if found.any():  # stored again after retention removed it: inactive still wins
                status = status.copy()
                status[at[found]] &= new_active[found]
                new_key, new_active, at = new_key[~found], new_active[~found], at[~found]
            key, status = np.insert(key, at, new_key), np.insert(status, at, new_active)
        return replace(self, seq=delta.seq, key=key, active=status)

    def rebased(self, base_us: int) -> PollState:
        """Without the polls before ``base_us`` (only moves forward)."""
        if base_us <= self.base_us:
            return self
        shift = base_us - self.base_us
        kept = (self.key & _LOW) >= shift
        return replace(self, base_us=base_us, key=self.key[kept] - shift, active=self.active[kept])


@dataclass(frozen=True)
class Delta:
    """What changed in the polls from a state's change to change ``seq``, in that state's key
    terms: retention's latest cut (None: none), the polls stored since (sorted keys and their
    statuses; one the state holds was stored again after retention removed it, and inactive
    wins), and the state's polls turned inactive (sorted keys). Kept beside a cache file, so an
    hourly report writes the hour's changes rather than the whole lookback again."""

    seq: int
    cut_us: int | None
    key: np.ndarray
    active: np.ndarray
    overridden: np.ndarray

    @staticmethod
    def of(seq: int, cut_us: int | None, store: np.ndarray, ts_us: np.ndarray, active: np.ndarray,
           overridden_store: np.ndarray, overridden_ts_us: np.ndarray, base_us: int) -> Delta:
        """From the polls stored (distinct, in any order) and turned inactive, in a state's
        terms whose polls start at ``base_us``."""
        key, status = _sorted_keys(store, ts_us, active, base_us)
        return Delta(seq, cut_us, key, status, np.sort(pack(overridden_store, overridden_ts_us, base_us)))

    @property
    def size(self) -> int:
        return int(self.key.size + self.overridden.size)

    def then(self, later: Delta, base_us: int) -> Delta:
        """This delta followed by a later one: what applying both in turn does, as one."""
        key, status, overridden, cut = self.key, self.active.copy(), self.overridden, self.cut_us
        if later.cut_us is not None and later.cut_us > base_us:  # retention reaches what this one added too
            low = later.cut_us - base_us
            kept = (key & _LOW) >= low
            key, status, overridden = key[kept], status[kept], overridden[(overridden & _LOW) >= low]
            cut = later.cut_us if cut is None else max(cut, later.cut_us)
        found, at = _find(key, later.overridden)  # turned inactive: one this delta added, or the state's
        status[at[found]] = False
        overridden = _merged(overridden, later.overridden[~found])
        found, at = _find(key, later.key)  # stored: again (inactive wins), or new
        status[at[found]] &= later.active[found]
        new = ~found
        key, status = np.insert(key, at[new], later.key[new]), np.insert(status, at[new], later.active[new])
        return Delta(later.seq, cut, key, status, overridden)


@dataclass(frozen=True)
class Cached:
    """What a cache's files hold: a whole state (``base``, written with the id ``base_id``) and
    the changes since it (``delta``; None: none kept)."""

    base: PollState
    base_id: str | None
    delta: Delta | None = None

    epoch = property(lambda self: self.base.epoch)
    base_us = property(lambda self: self.base.base_us)
    stores = property(lambda self: self.base.stores)
    seq = property(lambda self: self.base.seq if self.delta is None else self.delta.seq)

    def state(self) -> PollState:
        return self.base if self.delta is None else self.base.with_delta(self.delta)

    def core_chunks(self, since_us: int, until_us: int, stores: np.ndarray, key_base_us: int,
                    rows: int = _CHUNK_POLLS) -> Callable[[], Iterator[PollChunk]]:
        """The polls in ``[since, until]`` of these ``stores`` (sorted keys) in the core's terms
        (``ReportInput.poll_chunks``), a run of whole stores of about ``rows`` polls at a time:
        each the file's run with the changes kept beside it applied, less the polls outside the
        range or of other stores, its keys given the store's position and the core's time
        base. Nothing the size of all the polls is made: on two busy cores, the pages a fresh
        work horse touched for its first time were what slowed each other most."""
        base, delta = self.base, self.delta
        stores = np.asarray(stores, np.int64)
        assert since_us >= base.base_us
        top = stores << TIME_BITS
        since_rel, until_rel = since_us - base.base_us, min(until_us - base.base_us, _LOW)
        lo = np.searchsorted(base.key, top | since_rel, side="left")
        hi = np.searchsorted(base.key, top | until_rel, side="right")
        held = np.cumsum(hi - lo)
        total = int(held[-1]) if held.size else 0
        ends = np.searchsorted(held, np.arange(rows, total, rows), side="left") + 1
        ends = [int(e) for e in ends.tolist() if e < stores.size] + [stores.size]
        edges = [0] + sorted(set(ends))  # (a store of more than ``rows`` polls ends two runs at once)
        position = np.full(int(stores.max(initial=-1)) + 1, -1, np.int64)
        position[stores] = np.arange(stores.size)
        shift = base.base_us - key_base_us

        def chunks() -> Iterator[PollChunk]:
            for first, end in zip(edges, edges[1:]):
                if first == end:
                    continue
                run = PollState(base.epoch, base.seq, base.base_us, base.key[lo[first]:hi[end - 1]],
                                base.active[lo[first]:hi[end - 1]])
                if delta is not None:  # the changes to these stores' polls
                    low, high = top[first], top[end - 1] | _LOW
                    d0, d1 = _between(delta.key, low, high)
                    o0, o1 = _between(delta.overridden, low, high)
                    run = run.with_delta(Delta(delta.seq, delta.cut_us, delta.key[d0:d1], delta.active[d0:d1],
                                               delta.overridden[o0:o1]))
                key, active = run.key, np.asarray(run.active, bool)
                rel, at = key & _LOW, position[key >> TIME_BITS]
                keep = (at >= 0) & (rel >= since_rel) & (rel <= until_rel)
                if not keep.all():
                    rel, at, active = rel[keep], at[keep], active[keep]
                at <<= CORE_TIME_BITS
                at |= rel + shift
                yield at, active, (int(held[end - 1]) / total if total else 1.0)
        return chunks


def _between(sorted_keys: np.ndarray, low: int, high: int) -> tuple[int, int]:
    """Where the keys from ``low`` to ``high`` (both included) lie in sorted keys."""
    return int(np.searchsorted(sorted_keys, low, side="left")), int(np.searchsorted(sorted_keys, high, side="right"))


def _merged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted, distinct keys of two sorted, distinct arrays. (Not np.union1d: np.unique
    imports numpy.ma, 13 ms in every fresh work horse.)"""
    found, at = _find(a, b)
    return np.insert(a, at[~found], b[~found])


def _sorted_keys(store: np.ndarray, ts_us: np.ndarray, active: np.ndarray, base_us: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct polls as sorted keys and their statuses."""
    key = pack(store, ts_us, base_us)
    order = np.argsort(key)  # (distinct keys: any sort gives the one order)
    return key[order], np.asarray(active, bool)[order]


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
        self.delta_path = self.directory / f"{name}.changes"  # (not .npz: those are the shared reads, removed when old)
        self.pending: PollState | Cached | None = None  # a newer state to write when the report is done
        # How the last read used it: "current" (nothing had changed), "updated" (changes read),
        # "built" (everything read, then cached), "bypassed" (an as_of it does not cover).
        self.outcome: str | None = None

    @classmethod
    def for_database(cls, directory: Path, database_url: str, part: str = "all") -> PollCache:
        """The cache of one database and one part of its stores."""
        database = database_name(database_url)
        return cls(directory, f"{database}-{part}", database)

    def load(self) -> PollState | None:
        """The state the files hold; None if there is none."""
        found = self.loaded()
        return None if found is None else found.state()

    def loaded(self) -> Cached | None:
        """The whole state the file holds, mapped rather than read, and the changes kept beside
        it since; None if there is no file or it is not whole (a reader never trusts a file it
        cannot account for to the byte). Changes kept for another file than this one are left
        out: the report then reads them again."""
        base = self._load_whole()
        if base is None:
            return None
        state, base_id = base
        return Cached(state, base_id, self._load_delta(base_id, state.seq) if base_id else None)

    def advanced(self, cached: Cached, later: Delta) -> Cached:
        """The cached state brought on by ``later`` (changes after its own), pending: a report
        then writes the changes since the whole file, not the whole state, while they stay
        small (and the whole state is only put together then)."""
        delta = later if cached.delta is None else cached.delta.then(later, cached.base_us)
        self.pending = Cached(cached.base, cached.base_id, delta)
        return self.pending

    def _load_whole(self) -> tuple[PollState, str | None] | None:
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
            state = PollState(str(header["epoch"]), int(header["seq"]), int(header["base_us"]), key, active, stores)
            return state, header.get("id")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _load_delta(self, base_id: str, base_seq: int) -> Delta | None:
        found = _read_arrays(self.delta_path)
        if found is None:
            return None
        try:
            header = json.loads(found["header"].tobytes())
            if header.get("base_id") != base_id or int(header["seq"]) < base_seq:
                return None
            cut = header["cut_us"]
            return Delta(int(header["seq"]), None if cut is None else int(cut), found["key"],
                         found["active"].astype(bool), found["overridden"])
        except (ValueError, KeyError, TypeError):  # not one of ours
            return None

    def shared(self, name: str, read: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """What ``read`` returns (arrays, the same whoever reads them), kept in a file beside
        the caches of this database for the others on this machine (the parts of one sharded
        report all read the same changes). The first to need it reads it while the others
        wait for its file (two parts starting together read the changes once); a file that
        cannot be read or written costs a read."""
        path = self.directory / f"{self.database}-{name}.npz"
        found = _read_arrays(path)
        if found is not None:
            return found
        with self._held(path.with_name(f".{path.name}.lock")):
            found = _read_arrays(path)
            if found is not None:  # another read it meanwhile
                return found
            arrays = read()
            tmp = self._temporary(path)
            try:
                # (this old, they serve no report)
                self._remove_stale(f"{self.database}-*.npz", f".{self.database}-*.npz.*.tmp",
                                   f".{self.database}-*.npz.lock")
                with open(tmp, "wb") as f:
                    np.savez(f, **arrays)
                os.replace(tmp, path)
            except OSError as exc:
                log.warning("%s was not written (%s)", path, exc)
            finally:
                tmp.unlink(missing_ok=True)
        return arrays

    @contextmanager
    def _held(self, lock: Path) -> Iterator[None]:
        """An exclusive lock on this file while inside (released when the holder ends, however
        it ends); without one if the file cannot be made."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save(self) -> None:
        """Write the pending state, if any: the changes since the whole file while they are
        small (a few thousandths of it an hour), else the whole state. Each is written under a
        temporary name, then renamed over the old file, so a reader sees one whole version or
        the one before; a failure costs the next report a longer read, never a wrong one. (No
        fsync: a process that dies leaves the old file or the new one, and after a machine's
        crash a file whose length or end marker is off is read afresh.)"""
        state, self.pending = self.pending, None
        if state is None:
            return
        started = time.perf_counter()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._remove_stale(f".{self.path.name}.*.tmp", f".{self.delta_path.name}.*.tmp")
            if isinstance(state, Cached) and state.base_id is not None and state.delta is not None \
                    and state.delta.size <= state.base.key.size // _WHOLE_AFTER:
                self._write_delta(state.base_id, state.delta)
                written = f"the changes since its whole file ({state.delta.size} polls)"
            else:
                state = state.state() if isinstance(state, Cached) else state
                self._write_whole(state)
                self.delta_path.unlink(missing_ok=True)  # (it was kept for the file replaced)
                written = f"{state.key.size} polls"
        except OSError as exc:
            log.warning("the report cache %s was not written (%s)", self.path, exc)
            return
        log.debug("report cache %s: %s as of change %d written in %.3f s", self.path, written, state.seq,
                  time.perf_counter() - started)

    def _temporary(self, path: Path) -> Path:
        return self.directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"

    def _write_whole(self, state: PollState) -> None:
        stores = None if state.stores is None else np.asarray(state.stores).tolist()
        fields = {"epoch": state.epoch, "seq": state.seq, "base_us": state.base_us, "count": int(state.key.size),
                  "stores": stores}
        # What names the state, for the changes kept beside it: these fields fix its polls
        # (every poll of those stores from base_us on, as change seq of epoch left them).
        fields["id"] = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]
        header = json.dumps(fields).encode()
        tmp = self._temporary(self.path)
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

    def _write_delta(self, base_id: str, delta: Delta) -> None:
        header = json.dumps({"base_id": base_id, "seq": delta.seq, "cut_us": delta.cut_us}).encode()
        tmp = self._temporary(self.delta_path)
        try:
            with open(tmp, "wb") as f:
                np.savez(f, header=np.frombuffer(header, np.uint8), key=delta.key, active=delta.active,
                         overridden=delta.overridden)
            os.replace(tmp, self.delta_path)
        finally:
            tmp.unlink(missing_ok=True)

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


def _read_arrays(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with open(path, "rb") as f, np.load(f) as found:  # (np.load leaves a torn file open)
            return {key: found[key] for key in found.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
