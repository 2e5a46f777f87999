"""What a webhook endpoint may be, checked once for the API and the command line: its URL, its
secret (made when not given), the incident kinds and the stores it hears of, its body, its
reminders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from ..core.incidents import KINDS
from ..database import webhooks
from ..database.webhooks import Endpoint
from ..sources import group_label
from . import signing

MAX_URL = 2000
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# An endpoint's address: http or https, a host name (or IPv4 address), a port, then any printable
# ASCII (the OpenAPI document says the same, with this very pattern).
URL_PATTERN = rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?([/?#][\x21-\x7e]*)?$"
MAX_STORES = 1000  # store ids an endpoint may name (more: give them a group)
MAX_GROUPS = 100
REMINDERS_S = (60, 7 * 86400)  # the shortest and longest time between reminders


class BadEndpoint(ValueError):
    """An endpoint that cannot be: the message names the problem."""


@dataclass(frozen=True)
class EndpointSpec:
    url: str
    secret: str
    kinds: tuple[str, ...] | None = None
    store_ids: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    slack: bool = False
    reminder_s: int | None = None


def checked(url=None, secret=None, kinds=None, store_ids=None, groups=None, slack=False, reminder_s=None) -> EndpointSpec:
    """The endpoint these values describe, a secret made if none is given; BadEndpoint naming
    the first problem otherwise."""
    if not isinstance(url, str) or not url:
        raise BadEndpoint("url is required: the http:// or https:// address to POST notifications to")
    if len(url) > MAX_URL or not re.fullmatch(URL_PATTERN, url):
        raise BadEndpoint(f"url must be an http:// or https:// address of a host, of at most {MAX_URL} characters "
                          "of printable ASCII (percent-encode the rest)")
    if secret is None:
        secret = signing.new_secret()
    elif not isinstance(secret, str):
        raise BadEndpoint("secret must be a string, whsec_ and base64")
    else:
        try:
            signing.key_of(secret)
        except signing.BadSecret as exc:
            raise BadEndpoint(str(exc)) from None
    return EndpointSpec(url, secret, _kinds(kinds), _store_ids(store_ids), _groups(groups), _slack(slack),
                        _reminder(reminder_s))


def _strings(name: str, values, most: int) -> tuple[str, ...] | None:
    if values is None:
        return None
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) and v for v in values):
        raise BadEndpoint(f"{name} must be a list of non-empty strings")
    if len(values) > most:
        raise BadEndpoint(f"{name} may list at most {most}")
    return tuple(dict.fromkeys(values)) or None


def _kinds(kinds) -> tuple[str, ...] | None:
    found = _strings("kinds", kinds, len(KINDS))
    if found is not None and (unknown := [k for k in found if k not in KINDS]):
        raise BadEndpoint(f"unknown incident kind {unknown[0][:40]!r}; the kinds are {', '.join(KINDS)}")
    return found


def _store_ids(store_ids) -> tuple[str, ...] | None:
    found = _strings("store_ids", store_ids, MAX_STORES)
    if found is not None and any(len(s) > 200 for s in found):
        raise BadEndpoint("a store id is at most 200 characters")
    return found


def _groups(groups) -> tuple[str, ...] | None:
    found = _strings("groups", groups, MAX_GROUPS)
    if found is None:
        return None
    try:
        return tuple(group_label(g) for g in found)
    except ValueError as exc:
        raise BadEndpoint(str(exc)) from None


def _slack(slack) -> bool:
    if not isinstance(slack, bool):
        raise BadEndpoint("slack must be true or false")
    return slack


def _reminder(reminder_s) -> int | None:
    if reminder_s is None:
        return None
    if isinstance(reminder_s, float) and reminder_s.is_integer():  # (JSON's 600.0 is the whole number 600)
        reminder_s = int(reminder_s)
    if isinstance(reminder_s, bool) or not isinstance(reminder_s, int) or \
            not REMINDERS_S[0] <= reminder_s <= REMINDERS_S[1]:
        raise BadEndpoint(f"reminder_s must be a whole number of seconds from {REMINDERS_S[0]} to {REMINDERS_S[1]}")
    return reminder_s


def add(engine: Engine, spec: EndpointSpec) -> Endpoint:
    return webhooks.add(engine, spec.url, spec.secret, spec.kinds, spec.store_ids, spec.groups, spec.slack,
                        spec.reminder_s, datetime.now(UTC))


def endpoint_json(endpoint: Endpoint, with_secret: bool = False) -> dict:
    """An endpoint as the API and the command line show it (the secret only when it is made)."""
    return {"id": endpoint.id, "url": endpoint.url,
            "secret": endpoint.secret if with_secret else signing.shown(endpoint.secret),
            "kinds": list(endpoint.kinds) if endpoint.kinds else list(KINDS),
            "store_ids": list(endpoint.store_ids) if endpoint.store_ids else None,
            "groups": list(endpoint.groups) if endpoint.groups else None,
            "slack": endpoint.slack, "reminder_s": endpoint.reminder_s,
            "created_at": endpoint.created_at.isoformat().replace("+00:00", "Z")}
