"""API tokens: made once and shown once, kept as a SHA-256 hash, checked per request.

A token is 32 random bytes (URL-safe, prefixed ``sm_``); its hash is what is stored and
looked up, so a copy of the database gives no usable token. Scopes: ``ingest`` (sending
data), ``report`` (the report endpoints), ``admin`` (everything, and the dashboard).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from sqlalchemy import Engine, delete, insert, select, update

from .engines import as_utc
from .models import ApiToken

SCOPES = ("ingest", "report", "admin")
_table = ApiToken.__table__
# last_used_at is written at most this often per token, not on every request
_TOUCH_EVERY = timedelta(seconds=60)


class TokenError(ValueError):
    """A token command that cannot be done; the message says why."""


@dataclass(frozen=True)
class TokenInfo:
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(found) -> TokenInfo:
    return TokenInfo(found.name, tuple(found.scopes.split(",")), as_utc(found.created_at), as_utc(found.last_used_at),
                     as_utc(found.revoked_at))


def create(engine: Engine, name: str, scopes: list[str]) -> str:
    """Make a token; the only time it exists in clear is this return value."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("a token name must be 1 to 100 characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise TokenError(f"scopes must be among {', '.join(SCOPES)}" + (f"; got {', '.join(unknown)}" if unknown else ""))
    token = "sm_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        found = conn.execute(select(_table.c.id, _table.c.revoked_at).where(_table.c.name == name)).first()
        if found is not None and found.revoked_at is None:
            raise TokenError(f"a token named {name!r} is in use; revoke it first, or choose another name")
        if found is not None:  # a revoked token's name is free again: the old row goes
            conn.execute(delete(_table).where(_table.c.id == found.id))
        conn.execute(insert(_table).values(name=name, token_hash=_hash(token), scopes=",".join(sorted(set(scopes))),
                                           created_at=datetime.now(UTC)))
    return token


def list_all(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        return [_info(found) for found in conn.execute(select(_table).order_by(_table.c.name))]


def revoke(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(_table).where(_table.c.name == name, _table.c.revoked_at.is_(None))
                            .values(revoked_at=datetime.now(UTC)))
    if done.rowcount != 1:
        raise TokenError(f"no active token named {name!r}")


def verify(engine: Engine, token: str) -> TokenInfo | None:
    """The token's owner, or None for an unknown or revoked one."""
    return verify_hash(engine, _hash(token))


def hash_of(token: str) -> str:
    """What a console session keeps of the token it was signed in with."""
    return _hash(token)


def verify_hash(engine: Engine, digest: str) -> TokenInfo | None:
    """The owner of the token with this SHA-256, or None for an unknown or revoked one."""
    with engine.connect() as conn:
        found = conn.execute(select(_table).where(_table.c.token_hash == digest)).first()
    # The lookup is by hash, so timing says nothing of the token; compare anyway, in constant time.
    if found is None or found.revoked_at is not None or not secrets.compare_digest(found.token_hash, digest):
        return None
    now = datetime.now(UTC)
    last = as_utc(found.last_used_at)
    if last is None or now - last > _TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(update(_table).where(_table.c.id == found.id).values(last_used_at=now))
    return _info(found)
