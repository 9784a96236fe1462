"""A Content-Type header's media type, and whether it is JSON."""

from __future__ import annotations


def of(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower-cased, without its parameters ('' if none)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    media_type = of(content_type)
    return media_type == "application/json" or media_type.endswith("+json")
