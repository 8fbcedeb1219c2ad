"""Which fields of a connection are secrets, how they read back, and how a PATCH may change them.

A secret is every field marked ``SECRET`` (``Property.type`` ``password`` in ``supported_types``),
at any depth: ``password``, ``token``, ``hooks_params.SSHTunnel.pkey``, ``hooks_params.SSL.key``…
They are found from the connector models themselves, so a new connector's secrets are covered
without a list to keep up to date.

The rebind rule (Superset's "unsafe rebind"): a PATCH that changes where a secret is sent while
leaving that secret as the mask is refused, or anyone allowed to edit a connection could send its
stored password to a server of their choosing. A connector-level secret (``password``, a token,
the TLS client key) goes to the connector's target and through the SSH tunnel, so it depends on
both; an SSH secret goes to the SSH server only.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from backend.connectors import registry
from backend.connectors.base import ConnectorModel
from backend.spec.fields import is_secret
from backend.spec.formfacts import STORED_MASK
from backend.spec.forms import target_fields

MASK = STORED_MASK
"""What a stored secret reads as; in a PATCH, "keep the stored value" (served at ``forms/`` as ``mask``)."""

SSH_PREFIX = "hooks_params.SSHTunnel."
SSH_TARGETS = ("hooks_params.SSHTunnel.host", "hooks_params.SSHTunnel.port")

TARGET_FIELDS = (
    "host",
    "port",
    "protocol",
    "bucket",
    "region",
    "storage_account_name",
    "endpoint",
    "endpoint_url",
    "cluster_path",
    "warehouse_id",
)
"""Fields that say where a connector's secrets are sent, used besides a connector's own ``target_fields``."""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside ``annotation`` (``X | None`` unwrapped)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _secret_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        if is_secret(info):
            yield prefix + name
        for nested in _models_in(info.annotation):
            yield from _secret_paths(nested, f"{prefix}{name}.")


@lru_cache
def secret_paths(connector_type: str) -> tuple[str, ...]:
    """Every secret field of a connector, as dotted paths (``hooks_params.SSHTunnel.password``)."""
    return tuple(_secret_paths(registry()[connector_type].model))


@lru_cache
def target_paths(connector_type: str) -> tuple[str, ...]:
    """The connector-level fields that say where its secrets go (its ``target_fields`` and :data:`TARGET_FIELDS`)."""
    connector = registry()[connector_type]
    names = set(target_fields(connector)) | set(TARGET_FIELDS)
    return tuple(n for n in connector.model.model_fields if n in names)


def get_path(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``data`` where its parent exists (a hook left out stays left out)."""
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node[last] = value


def split(model: ConnectorModel) -> tuple[dict[str, Any], dict[str, str]]:
    """``(the body with every secret set to None, {path: secret value})``: what is stored apart."""
    public = model.model_dump(mode="json")
    found: dict[str, str] = {}
    for path in secret_paths(public["connector_type"]):
        value = get_path(public, path)
        if isinstance(value, str):
            found[path] = value
            set_path(public, path, None)
    return public, found


def masked(public: dict[str, Any], stored: set[str] | dict[str, Any]) -> dict[str, Any]:
    """The connection as it reads: the mask where a secret is stored, null where none is."""
    shown = _copy(public)
    for path in stored:
        set_path(shown, path, MASK)
    return shown


def unmasked(public: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The connection with its secret values back in place (for a test; never for a response)."""
    whole = _copy(public)
    for path, value in values.items():
        set_path(whole, path, value)
    return whole


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in data.items()}


@dataclass
class Merge:
    """A PATCH's connection against the stored one: what to store, or why not."""

    public: dict[str, Any]
    keep: set[str] = field(default_factory=set)
    """Secrets whose stored (encrypted) value stays."""
    new: dict[str, str] = field(default_factory=dict)
    """Secrets given in clear: encrypt and store."""
    errors: dict[str, list[str]] = field(default_factory=dict)
    """``connection.<path>`` → why the mask cannot stand there (422)."""


def merge(
    model: ConnectorModel,
    stored_public: dict[str, Any] | None,
    stored_secrets: set[str],
    unreadable: Set[str] = frozenset(),
) -> Merge:
    """Merge a new connection body (secrets possibly the mask) with the stored connection.

    ``stored_public`` is None on create. The mask keeps a stored secret, unless nothing is stored
    there, the connector type changed (a new connection: nothing carries over), the stored value
    cannot be decrypted any more (``unreadable``), or a field saying where it goes changed.
    """
    public, given = split(model)
    result = Merge(public)
    connector_type = public["connector_type"]
    same_type = stored_public is not None and stored_public.get("connector_type") == connector_type
    moved_connector = [p for p in target_paths(connector_type) if same_type and _changed(p, public, stored_public)]
    moved_ssh = [p for p in SSH_TARGETS if same_type and _changed(p, public, stored_public)]
    for path, value in given.items():
        if value != MASK:
            result.new[path] = value
            continue
        where = f"connection.{path}"
        if not same_type:
            why = (
                "The connector type changed: this is a new connection. Enter this secret again."
                if stored_public is not None
                else "No secret is stored here yet: enter its value."
            )
        elif path not in stored_secrets:
            why = "No secret is stored here: enter its value."
        elif path in unreadable:
            why = "The stored value cannot be decrypted (cannot decrypt: the key changed). Enter it again."
        else:
            moved = moved_ssh if path.startswith(SSH_PREFIX) else [*moved_connector, *moved_ssh]
            if moved:
                names = ", ".join(f"connection.{p}" for p in moved)
                why = f"{names} changed: the stored secret would be sent to a new place. Enter it again to confirm."
            else:
                result.keep.add(path)
                continue
        result.errors.setdefault(where, []).append(why)
    return result


def _changed(path: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    return old is not None and get_path(new, path) != get_path(old, path)
