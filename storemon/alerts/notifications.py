"""What an endpoint is told: which incidents it hears of, and the body that tells it.

Grouped as Alertmanager groups alerts: the changes one evaluation makes (one ingested batch)
reach each endpoint as one notification, however many stores they touch, and each change of
an incident's state (opened, resolved) is told once. A reminder lists what is still open.

A body is JSON in the Standard Webhooks envelope, ``{"type", "timestamp", "data"}``, or, for an
endpoint that asks for it, a Slack-compatible ``{"text"}`` for people.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection

from ..core.incidents import KIND_NAMES
from ..database import webhooks
from ..database.incidents import IncidentRow
from ..database.webhooks import Endpoint
from ..timeparse import format_instant

CHANGED, REMINDER, TEST = "incidents.changed", "incidents.reminder", "webhook.test"
LISTED = 1000  # incidents a JSON body lists of each state (all are counted)
SLACK_LINES = 20  # incidents a Slack body lists


def incident_json(row: IncidentRow) -> dict:
    """An incident as the API and the notifications show it."""
    return {"id": row.id, "kind": row.kind, "store_id": row.store_id, "name": row.name, "groups": list(row.groups),
            "open": row.open, "since": _instant(row.opened_us), "opened_by_poll": _instant(row.opened_poll_us),
            "resolved": _instant(row.resolved_us), "resolved_by_poll": _instant(row.resolved_poll_us),
            "noticed_at": _iso(row.noticed_at), "resolved_noticed_at": _iso(row.resolved_at)}


# A body lists up to thousands of incidents whose instants repeat (the poll that opened one is
# often its start; one evaluation notices all of them at once): each is written once.
@lru_cache(maxsize=4096)
def _instant(us: int | None) -> str | None:
    return None if us is None else format_instant(us)


@lru_cache(maxsize=256)
def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(int(moment.timestamp() * 1_000_000))


def hears_of(endpoint: Endpoint, row: IncidentRow) -> bool:
    """Whether the endpoint is told of this incident: its kind, and its store (by id or group);
    the poller's concerns every store."""
    if endpoint.kinds is not None and row.kind not in endpoint.kinds:
        return False
    if endpoint.every_store or row.store_id is None:
        return True
    return (endpoint.store_ids is not None and row.store_id in endpoint.store_ids) or \
        (endpoint.groups is not None and any(label in endpoint.groups for label in row.groups))


def body(endpoint: Endpoint, event: str, now: datetime, opened: list[IncidentRow] = (),
         resolved: list[IncidentRow] = (), still_open: list[IncidentRow] = ()) -> bytes:
    if endpoint.slack:
        return json.dumps({"text": _slack_text(event, opened, resolved, still_open)}).encode()
    data: dict = {}
    if event == CHANGED:
        data = {"opened_count": len(opened), "resolved_count": len(resolved),
                "opened": [incident_json(r) for r in opened[:LISTED]],
                "resolved": [incident_json(r) for r in resolved[:LISTED]]}
    elif event == REMINDER:
        data = {"open_count": len(still_open), "open": [incident_json(r) for r in still_open[:LISTED]]}
    elif event == TEST:
        data = {"message": "a test notification from storemon", "webhook": endpoint.id}
    envelope = {"type": event, "timestamp": _iso(now), "data": data}
    return json.dumps(envelope, separators=(",", ":")).encode()


def _slack_text(event: str, opened, resolved, still_open) -> str:
    if event == TEST:
        return "storemon: a test notification"
    if event == REMINDER:
        head, listed = f"storemon: {len(still_open)} incident(s) still open", [("open", r) for r in still_open]
    else:
        head = f"storemon: {len(opened)} incident(s) opened, {len(resolved)} resolved"
        listed = [("opened", r) for r in opened] + [("resolved", r) for r in resolved]
    lines = [head] + [f"• {what}: {KIND_NAMES.get(r.kind, r.kind)} — {_who(r)} since {_short(r.opened_us)}"
                      + (f", until {_short(r.resolved_us)}" if r.resolved_us is not None else "")
                      for what, r in listed[:SLACK_LINES]]
    if len(listed) > SLACK_LINES:
        lines.append(f"… and {len(listed) - SLACK_LINES} more")
    return "\n".join(lines)


def _who(row: IncidentRow) -> str:
    if row.store_id is None:
        return "the poller"
    return f"{row.name} ({row.store_id})" if row.name else row.store_id


def _short(us: int) -> str:
    return format_instant(us - us % 1_000_000).replace("T", " ").replace("Z", " UTC")


def queue_changes(conn: Connection, changed: list[IncidentRow], now: datetime) -> list[int]:
    """One pending delivery per endpoint that hears of any of these changes; their ids."""
    made = []
    for endpoint in webhooks.endpoints(conn):
        mine = [r for r in changed if hears_of(endpoint, r)]
        if not mine:
            continue
        opened = [r for r in mine if r.open]
        resolved = [r for r in mine if not r.open]
        made.append(webhooks.queue(conn, endpoint.id, CHANGED, body(endpoint, CHANGED, now, opened, resolved),
                                   len(mine), now))
    return made


def queue_reminders(conn: Connection, endpoints: list[Endpoint], still_open: list[IncidentRow], now: datetime
                    ) -> list[int]:
    """A reminder to each of these endpoints with one due (``reminder_s`` since its last
    reminder, and since the oldest open incident it hears of was first told) listing the open
    incidents it hears of."""
    made = []
    for endpoint in endpoints:
        mine = [r for r in still_open if hears_of(endpoint, r)]
        if not mine:
            continue
        first_told = min(r.noticed_at for r in mine)
        last = first_told if endpoint.reminded_at is None else max(endpoint.reminded_at, first_told)
        if (now - last).total_seconds() < endpoint.reminder_s:
            continue
        made.append(webhooks.queue(conn, endpoint.id, REMINDER, body(endpoint, REMINDER, now, still_open=mine),
                                   len(mine), now))
        webhooks.reminded(conn, endpoint.id, now)
    return made
