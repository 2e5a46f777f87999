"""Webhook secrets and signatures as the Standard Webhooks specification defines them, so any
receiver library verifies a delivery and rejects a replay.

A secret is ``whsec_`` and the base64 of 24 to 64 random bytes (the HMAC key). Each attempt
sends ``webhook-id`` (the delivery's, the same on every attempt), ``webhook-timestamp`` (the
attempt's, in Unix seconds) and ``webhook-signature``: ``v1,`` and the base64 of the
HMAC-SHA256 of ``id.timestamp.body``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
KEY_BYTES = (24, 64)  # the key's length a secret may have (Svix makes 24, we make 32)


class BadSecret(ValueError):
    """A secret that is not whsec_ and the base64 of a key of 24 to 64 bytes."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (BadSecret if it is none)."""
    if not secret.startswith(PREFIX):
        raise BadSecret("a webhook secret starts with whsec_ (leave it out to have one made)")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret("a webhook secret is whsec_ followed by base64") from None
    if not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
        raise BadSecret(f"a webhook secret's key is {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes (this one: {len(key)})")
    return key


def signature(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, message_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt."""
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp_s),
            "webhook-signature": signature(secret, message_id, timestamp_s, body)}


def shown(secret: str) -> str:
    """A secret as lists show it: enough to tell two apart, not to sign."""
    return secret[:len(PREFIX) + 4] + "…"
