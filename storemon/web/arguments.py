"""Query-string arguments read the same way by every blueprint."""

from __future__ import annotations

from flask import abort, request


def flag(name: str, default: bool = False) -> bool:
    """A boolean query argument: true or false (also 1 or 0, in any case); 400 naming it otherwise."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        abort(400, f"{name} must be true or false")
    return value in ("true", "1")
