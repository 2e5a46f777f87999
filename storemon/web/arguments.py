"""Query-string arguments read the same way by every blueprint."""

from __future__ import annotations

from flask import abort, request

from ..database.queries import group_exists
from ..sources import group_label
from .services import current_services


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


def limit(default: int, most: int) -> int:
    """``limit``: a whole number from 1 to ``most`` (default ``default``); 400 otherwise."""
    raw = request.args.get("limit", str(default))
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= most:
        abort(400, f"limit must be a whole number from 1 to {most}")
    return int(raw)


def group(raw: str | None, *, empty_is_none: bool = False) -> str | None:
    """A group label of the store directory as given (``key:value``), that some store is in: None
    when absent (or empty, for a form's "every store"); 400 naming the problem otherwise."""
    if raw is None or (empty_is_none and not raw.strip()):
        return None
    try:
        label = group_label(raw)
    except ValueError as exc:
        abort(400, str(exc))
    if not group_exists(current_services().engine, label):
        abort(400, f"no store is in group {label[:150]!r}; the store directory (PUT /stores) gives stores groups")
    return label
