"""pydantic's validation errors as the API names them: per field path, in plain words.

No HTTP here: the edge (``backend/api/errors.py``) answers them as ``422 INVALID_PARAMETERS``, a
service (saved connections) raises them as its own refusal, the command line prints them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

_union_tags: tuple[str, ...] = ()
"""The request union's discriminator tags (every ``connector_type``), as the app gave them (:func:`set_union_tags`)."""


def field_path(loc: Sequence[Any], tags: Collection[str] | None = None) -> str:
    """``("body", "PostgreSQLConnector", "hooks_params", "SSL", "ca")`` → ``hooks_params.SSL.ca``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    tags = set(_union_tags if tags is None else tags)
    parts = [p for p in parts if p not in tags and not p.startswith("function-")]
    return ".".join(parts) or "body"


_READABLE = {
    "missing": "This field is required.",
    "string_too_short": "This field may not be empty.",
    "json_invalid": "The request body is not valid JSON.",
    "model_attributes_type": "Expected an object with the connector's fields.",
    "dict_type": "Expected an object.",
}


def readable(error: dict[str, Any], tags: Collection[str] | None = None) -> str:
    kind = error.get("type", "")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = str((error.get("ctx") or {}).get("expected_tags", "")).replace("'", "")
        valid = expected or ", ".join(_union_tags if tags is None else tags)
        return f"connector_type must be one of: {valid}."
    if kind in _READABLE:
        return _READABLE[kind]
    msg = str(error.get("msg", "Invalid value."))
    return msg[0].upper() + msg[1:] + ("" if msg.endswith(".") else ".")


def validation_details(errors: Iterable[dict[str, Any]], tags: Collection[str] | None = None) -> dict[str, list[str]]:
    """pydantic's errors by field path; ``tags``: the union's tags, the app's by default."""
    details: dict[str, list[str]] = {}
    for error in errors:
        loc = error.get("loc", ())
        path = field_path(loc, tags)
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            # The union's own place, if nested (a saved connection's `connection.connector_type`).
            path = "connector_type" if path == "body" else f"{path}.connector_type"
        elif error.get("type") == "json_invalid":
            path = "body"
        messages = details.setdefault(path, [])
        text = readable(error, tags)
        if text not in messages:
            messages.append(text)
    return details


def set_union_tags(tags: Iterable[str]) -> None:
    """The request union's discriminator tags (every ``connector_type``), given once by the app."""
    global _union_tags
    _union_tags = tuple(tags)
