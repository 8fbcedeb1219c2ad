"""Field markers that turn pydantic models into ``supported_types`` Property metadata.

A marker lives in a field's ``Annotated`` metadata, so it never changes the field's
JSON schema (the OpenAPI stays identical to the spec) but tells the metadata builder,
the secret sanitiser and the UI what kind of value the field holds.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypedDict, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


class PropertyDict(TypedDict):
    type: str | list[str]
    default: str | int | float | bool | None
    values: list[str] | None


@dataclass(frozen=True)
class _Marker:
    name: str


SECRET = _Marker("secret")
"""A password, token, key or connection string: ``password`` typed, never echoed back."""

TEXT = _Marker("text")
"""Multi-line text, e.g. PEM contents."""


_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Return (inner type, optional?) of ``X | None``."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        return (args[0] if len(args) == 1 else args), optional
    return annotation, False


def has_marker(info: FieldInfo, marker: object) -> bool:
    return any(m is marker for m in info.metadata)


def is_secret(info: FieldInfo) -> bool:
    return has_marker(info, SECRET)


def property_of(info: FieldInfo) -> PropertyDict:
    """Property metadata (type, default, values) of one model field (docs/design.md, "Metadata")."""
    inner, optional = _unwrap(info.annotation)
    if is_secret(info):
        kind = "password"
    elif has_marker(info, TEXT):
        kind = "text"
    elif isinstance(inner, type) and issubclass(inner, BaseModel):
        kind = "object"
    else:
        kind = _SCALARS.get(inner, "string") if isinstance(inner, type) else "string"
    default = None if info.is_required() else info.default
    if isinstance(default, BaseModel):
        default = None
    return {
        "type": [kind, "null"] if optional else kind,
        "default": default,
        "values": None,  # a connector fills in its choices (protocols, ssl_mode) from what it knows
    }


def iter_fields(model: type[BaseModel], skip: tuple[str, ...] = ()) -> Iterator[tuple[str, FieldInfo]]:
    for name, info in model.model_fields.items():
        if name not in skip:
            yield name, info


def secret_values(model: BaseModel) -> Iterator[str]:
    """Every non-empty secret value in a model, nested models included."""
    for name, secret in _secret_layout(type(model)):
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from secret_values(value)
        elif secret and isinstance(value, str) and value:
            yield value


@functools.cache
def _secret_layout(model: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """Each field of ``model`` and whether it is marked secret: read once per model class, not per test."""
    return tuple((name, is_secret(info)) for name, info in model.model_fields.items())
