"""Webhook endpoints and their deliveries as rows (what is sent, and how: storemon/alerts/).

An endpoint says which incident kinds and which stores (ids, group labels) it hears of; a
delivery is one notification to one endpoint, written in the transaction that changed the
incidents it tells of, so no change is told twice or lost: its job may be lost with Redis,
its row is not (the clock's watch queues a pending one again).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, literal, select, update

from .engines import as_utc, reading
from .models import Delivery, Webhook

_webhooks = Webhook.__table__
_deliveries = Delivery.__table__
_w, _d = _webhooks.c, _deliveries.c
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Endpoint:
    id: int
    url: str
    secret: str
    kinds: tuple[str, ...] | None  # None: every kind
    store_ids: tuple[str, ...] | None  # None (and no groups): every store
    groups: tuple[str, ...] | None
    slack: bool
    reminder_s: int | None
    created_at: datetime
    reminded_at: datetime | None

    @property
    def every_store(self) -> bool:
        return self.store_ids is None and self.groups is None


def _endpoint(row) -> Endpoint:
    kinds = tuple(row.kinds.split(",")) if row.kinds else None
    ids = tuple(json.loads(row.store_ids)) if row.store_ids else None
    groups = tuple(json.loads(row.groups)) if row.groups else None
    return Endpoint(row.id, row.url, row.secret, kinds, ids, groups, bool(row.slack), row.reminder_s,
                    as_utc(row.created_at), as_utc(row.reminded_at))


def add(engine: Engine, url: str, secret: str, kinds: tuple[str, ...] | None, store_ids: tuple[str, ...] | None,
        groups: tuple[str, ...] | None, slack: bool, reminder_s: int | None, now: datetime) -> Endpoint:
    with engine.begin() as conn:
        new_id = conn.execute(insert(_webhooks).returning(_w.id).values(
            url=url, secret=secret, kinds=",".join(kinds) if kinds else None,
            store_ids=json.dumps(list(store_ids)) if store_ids else None,
            groups=json.dumps(list(groups)) if groups else None, slack=slack, reminder_s=reminder_s,
            created_at=now)).scalar_one()
        return _endpoint(conn.execute(select(_webhooks).where(_w.id == new_id)).one())


def endpoints(conn_or_engine: Connection | Engine) -> list[Endpoint]:
    query = select(_webhooks).order_by(_w.id)
    if isinstance(conn_or_engine, Connection):
        return [_endpoint(r) for r in conn_or_engine.execute(query)]
    with reading(conn_or_engine) as conn:
        return [_endpoint(r) for r in conn.execute(query)]


def endpoint(engine: Engine, webhook_id: int) -> Endpoint | None:
    with reading(engine) as conn:
        found = conn.execute(select(_webhooks).where(_w.id == webhook_id)).first()
    return _endpoint(found) if found is not None else None


def remove(engine: Engine, webhook_id: int) -> bool:
    """Remove an endpoint and its delivery log; whether it existed."""
    with engine.begin() as conn:
        conn.execute(delete(_deliveries).where(_d.webhook == webhook_id))
        return conn.execute(delete(_webhooks).where(_w.id == webhook_id)).rowcount > 0


def reminded(conn: Connection, webhook_id: int, at: datetime) -> None:
    conn.execute(update(_webhooks).where(_w.id == webhook_id).values(reminded_at=at))


def new_message_id() -> str:
    """A delivery's ``webhook-id``: the same on every attempt, so a receiver can drop repeats."""
    return "msg_" + secrets.token_urlsafe(18)


def queue(conn: Connection, webhook_id: int, event: str, body: bytes, incidents: int, now: datetime) -> int:
    """A pending delivery of ``body`` to the endpoint, due now; its id."""
    return conn.execute(insert(_deliveries).returning(_d.id).values(
        webhook=webhook_id, message_id=new_message_id(), event=event, incidents=incidents, body=body,
        created_at=now, status=PENDING, attempts=0, next_attempt_at=now)).scalar_one()


def _delivery(row) -> DeliveryRow:
    return DeliveryRow(*row[:6], as_utc(row[6]), row[7], row[8], as_utc(row[9]), as_utc(row[10]), row[11], row[12],
                       as_utc(row[13]))


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    webhook: int
    message_id: str
    event: str
    incidents: int
    body: bytes
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


_FIELDS = [_d.id, _d.webhook, _d.message_id, _d.event, _d.incidents, _d.body, _d.created_at, _d.status, _d.attempts,
           _d.next_attempt_at, _d.last_attempt_at, _d.last_status, _d.last_error, _d.delivered_at]


def delivery(engine: Engine, delivery_id: int) -> DeliveryRow | None:
    with reading(engine) as conn:
        found = conn.execute(select(*_FIELDS).where(_d.id == delivery_id)).first()
    return _delivery(found) if found is not None else None


def log(engine: Engine, webhook_id: int, limit: int = 100, with_body: bool = False) -> list[DeliveryRow]:
    """The endpoint's deliveries, newest first (their bodies, a few hundred KB each, only if asked)."""
    fields = _FIELDS if with_body else [f if f is not _d.body else literal(b"").label("body") for f in _FIELDS]
    with reading(engine) as conn:
        return [_delivery(r) for r in conn.execute(select(*fields).where(_d.webhook == webhook_id)
                                                       .order_by(_d.id.desc()).limit(limit))]


def attempted(engine: Engine, delivery_id: int, attempt: int, at: datetime, status: int | None, error: str | None,
              delivered: bool, retry_in_s: float | None) -> bool:
    """Record the ``attempt``-th attempt's outcome (only if no other recorded it first):
    delivered, due again in ``retry_in_s``, or failed for good (neither). Whether it was recorded."""
    values = dict(attempts=attempt, last_attempt_at=at, last_status=status, last_error=error)
    if delivered:
        values.update(status=DELIVERED, delivered_at=at, next_attempt_at=None)
    elif retry_in_s is not None:
        values.update(next_attempt_at=at + timedelta(seconds=retry_in_s))
    else:
        values.update(status=FAILED, next_attempt_at=None)
    with engine.begin() as conn:
        return conn.execute(update(_deliveries).where(_d.id == delivery_id, _d.attempts == attempt - 1,
                                                      _d.status == PENDING).values(**values)).rowcount > 0


def overdue(engine: Engine, before: datetime, limit: int = 1000) -> list[tuple[int, int]]:
    """Pending deliveries due before then: (id, attempts made), their jobs lost or late."""
    with reading(engine) as conn:
        return [tuple(r) for r in conn.execute(select(_d.id, _d.attempts).where(_d.status == PENDING,
                                                                                _d.next_attempt_at < before)
                                               .order_by(_d.next_attempt_at).limit(limit))]


def delete_before(conn: Connection, before: datetime) -> int:
    """Retention: settled deliveries made before then."""
    return conn.execute(delete(_deliveries).where(_d.status != PENDING, _d.created_at < before)).rowcount
