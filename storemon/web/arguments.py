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


def text(name: str) -> str:
    """A query argument's text, spaces and tabs around it trimmed ("" when absent). Only those:
    Python's ``strip`` also takes separators such as U+0085 off, which would turn a value the
    document refuses into an empty one, accepted."""
    return request.args.get(name, "").strip(" \t")
