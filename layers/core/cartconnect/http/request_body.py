"""What a request body must be before the API's validation reads it: JSON, not nested deeper than
a small limit, with no number longer than any field needs.

Checked in front of Powertools' validation, which would otherwise answer a form-encoded body with a
422 that echoes it (a client secret included), and whose JSON parser recurses (a deeply nested body
ends in a RecursionError, a 500) and turns a 5,000-digit integer into a ValueError.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cartconnect.http import media_type

MAX_DEPTH = 8  # the deepest body of the API is 2 ({"scopes": [...]})
MAX_NUMBER_CHARS = 32  # no field of the API takes a number this long
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class BodyRefused:
    status: int
    title: str
    detail: str
    type_slug: str


def check(event: dict[str, Any]) -> BodyRefused | None:
    """None when the body may go on to validation, else why it may not."""
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    raw = event.get("body")
    if method not in _WITH_BODY or not raw:
        return None
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    if not media_type.is_json(headers.get("content-type")):
        return BodyRefused(
            415,
            "Unsupported media type",
            "send the body as JSON with Content-Type: application/json",
            "unsupported-media-type",
        )
    text = _text(raw, bool(event.get("isBase64Encoded")))
    if text is None:
        return None  # not UTF-8: the resolver's own check answers 400
    depth, longest_number = _shape(text)
    if depth > MAX_DEPTH:
        return BodyRefused(
            400,
            "Malformed request body",
            f"the body is nested deeper than {MAX_DEPTH} levels",
            "malformed-body",
        )
    if longest_number > MAX_NUMBER_CHARS:
        return BodyRefused(
            400,
            "Malformed request body",
            f"the body holds a number longer than {MAX_NUMBER_CHARS} characters",
            "malformed-body",
        )
    return None


def _text(raw: str, encoded: bool) -> str | None:
    if not encoded:
        return raw
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _shape(text: str) -> tuple[int, int]:
    """The deepest nesting of arrays and objects, and the longest number, outside strings."""
    depth = deepest = longest = run = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in "0123456789+-.eE":
            run += 1
            longest = max(longest, run)
            continue
        run = 0
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest, longest
