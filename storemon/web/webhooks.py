"""Webhook endpoints, managed over HTTP with an admin token: add, list, show, remove, their
delivery log, and a test notification (what they are sent: storemon/alerts/)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, request
from redis.exceptions import RedisError

from ..alerts import endpoints, notifications
from ..database import webhooks as endpoint_rows
from ..alerts.queue import enqueue_delivery
from .arguments import flag, limit
from .services import current_services

webhooks = Blueprint("webhooks", __name__)
FIELDS = ("url", "secret", "kinds", "store_ids", "groups", "slack", "reminder_s")


def _body() -> dict:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError):
        abort(400, "the request body is not valid JSON; send an object such as {\"url\": \"https://...\"}")
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object such as {\"url\": \"https://...\"}")
    if unknown := [k for k in body if k not in FIELDS]:
        abort(400, f"unknown field {unknown[0][:40]!r}; an endpoint has {', '.join(FIELDS)}")
    return body


@webhooks.post("/webhooks")
def add():
    """Add an endpoint; the answer shows its secret (made if none was sent) this once."""
    try:
        spec = endpoints.checked(**_body())
    except endpoints.BadEndpoint as exc:
        abort(400, str(exc))
    added = endpoints.add(current_services().engine, spec)
    return jsonify(endpoints.endpoint_json(added, with_secret=True)), 201


@webhooks.get("/webhooks")
def list_endpoints():
    return jsonify(webhooks=[endpoints.endpoint_json(e) for e in endpoint_rows.endpoints(current_services().engine)])


_LARGEST_ID = 2**31 - 1  # (an id is an int4; a larger one names no endpoint)


def _endpoint(webhook_id: int) -> endpoint_rows.Endpoint:
    found = endpoint_rows.endpoint(current_services().engine, webhook_id) if webhook_id <= _LARGEST_ID else None
    if found is None:
        abort(404, f"no webhook endpoint {webhook_id}")
    return found


@webhooks.get("/webhooks/<int:webhook_id>")
def show(webhook_id: int):
    return jsonify(endpoints.endpoint_json(_endpoint(webhook_id)))


@webhooks.delete("/webhooks/<int:webhook_id>")
def remove(webhook_id: int):
    """Remove an endpoint and its delivery log."""
    if webhook_id > _LARGEST_ID or not endpoint_rows.remove(current_services().engine, webhook_id):
        abort(404, f"no webhook endpoint {webhook_id}")
    return "", 204


def delivery_json(row: endpoint_rows.DeliveryRow, with_body: bool = False) -> dict:
    def iso(moment):
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")

    shown = {"id": row.id, "webhook": row.webhook, "message_id": row.message_id, "event": row.event,
             "incidents": row.incidents, "status": row.status, "attempts": row.attempts,
             "created_at": iso(row.created_at), "last_attempt_at": iso(row.last_attempt_at),
             "next_attempt_at": iso(row.next_attempt_at), "last_status": row.last_status,
             "last_error": row.last_error, "delivered_at": iso(row.delivered_at)}
    if with_body:
        try:
            shown["body"] = json.loads(row.body)
        except ValueError:
            shown["body"] = base64.b64encode(row.body).decode()
    return shown


MOST_LOGGED, MOST_WITH_BODIES = 1000, 20  # (a body may list 2,000 incidents: half a megabyte)


@webhooks.get("/webhooks/<int:webhook_id>/deliveries")
def deliveries(webhook_id: int):
    """The endpoint's delivery log, newest first; ``body=true``: with what each sent (fewer at a time)."""
    _endpoint(webhook_id)
    with_body = flag("body")
    found = endpoint_rows.log(current_services().engine, webhook_id,
                              limit(20 if with_body else 50, MOST_WITH_BODIES if with_body else MOST_LOGGED), with_body)
    return jsonify(webhook=webhook_id, deliveries=[delivery_json(row, with_body) for row in found])


@webhooks.post("/webhooks/<int:webhook_id>/test")
def test(webhook_id: int):
    """Send the endpoint a test notification (signed as every other); its delivery's id."""
    endpoint = _endpoint(webhook_id)
    services, now = current_services(), datetime.now(UTC)
    with services.engine.begin() as conn:
        delivery_id = endpoint_rows.queue(conn, webhook_id, notifications.TEST,
                                          notifications.body(endpoint, notifications.TEST, now), 0, now)
    try:
        enqueue_delivery(services.alerts, delivery_id, 0)
    except RedisError:
        pass  # (pending: the clock's watch queues it)
    return jsonify(delivery=delivery_id, webhook=webhook_id), 202
