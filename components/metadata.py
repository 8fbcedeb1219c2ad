"""A typed view of ``supported_types`` (and the spec's bounds), for the generic form renderer.

Nothing here knows a connector: fields, kinds, choices, hooks and overrides all come from
the metadata the API serves, so a connector added to the backend needs no UI change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Keys of a connector's Property map that are not fields of the form.
META_KEYS = frozenset({"hooks_params", "is_source", "connector_type"})
HOOK_ORDER = ("SSHTunnel", "SSL", "Kerberos")
PORT_RANGE = (1, 65535)


@dataclass(frozen=True)
class FieldSpec:
    """One input of the form."""

    name: str
    """The field's own name (``ca``)."""
    path: str
    """Its path in the request and in ``details`` (``hooks_params.SSL.ca``)."""
    kind: str
    """``string``, ``integer``, ``number``, ``boolean``, ``password``, ``text`` or ``object``."""
    required: bool
    default: Any = None
    values: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    hook: str | None = None

    @property
    def secret(self) -> bool:
        return self.kind == "password"


@dataclass(frozen=True)
class Bounds:
    minimum: float | None = None
    maximum: float | None = None


def parse_type(spec: Any) -> tuple[str, bool]:
    """``"string"`` → (string, required); ``["integer", "null"]`` → (integer, optional)."""
    if isinstance(spec, list):
        kinds = [str(k) for k in spec if k != "null"]
        return (kinds[0] if kinds else "string"), "null" in spec
    if isinstance(spec, str):
        return spec, False
    return "string", True


def _field(name: str, path: str, prop: dict[str, Any], bounds: Bounds | None, hook: str | None) -> FieldSpec:
    kind, optional = parse_type(prop.get("type"))
    values = prop.get("values")
    minimum = bounds.minimum if bounds else None
    maximum = bounds.maximum if bounds else None
    if kind == "integer" and minimum is None and maximum is None and (name == "port" or name.endswith("_port")):
        minimum, maximum = PORT_RANGE
    return FieldSpec(
        name=name,
        path=path,
        kind=kind,
        required=not optional,
        default=prop.get("default"),
        values=tuple(str(v) for v in values) if isinstance(values, list) and values else None,
        minimum=minimum,
        maximum=maximum,
        hook=hook,
    )


def connector_fields(props: dict[str, Any], bounds: dict[str, Bounds] | None = None) -> list[FieldSpec]:
    """The connector's own fields, in the metadata's order."""
    bounds = bounds or {}
    return [
        _field(name, name, prop or {}, bounds.get(name), None)
        for name, prop in props.items()
        if name not in META_KEYS and "." not in name
    ]


def connector_hooks(props: dict[str, Any], hooks_meta: dict[str, Any]) -> list[str]:
    """The hooks this connector supports (``hooks_params``'s ``values``), known to ``hooks``."""
    listed = (props.get("hooks_params") or {}).get("values") or []
    known = [h for h in listed if h in hooks_meta]
    return sorted(known, key=lambda h: HOOK_ORDER.index(h) if h in HOOK_ORDER else len(HOOK_ORDER))


def hook_fields(
    hook: str, props: dict[str, Any], hooks_meta: dict[str, Any], bounds: dict[str, Bounds] | None = None
) -> list[FieldSpec]:
    """A hook's fields, with this connector's overrides (``hooks_params.SSL.ssl_mode``) applied."""
    bounds = bounds or {}
    fields = []
    for name, prop in (hooks_meta.get(hook) or {}).items():
        path = f"hooks_params.{hook}.{name}"
        merged = {**(prop or {}), **(props.get(path) or {})}
        fields.append(_field(name, path, merged, bounds.get(path), hook))
    return fields


def connector_types(supported: dict[str, Any], is_source: bool) -> list[str]:
    """Connector types usable in this direction: ``connectors`` (sources) or ``write_connectors``."""
    group = supported.get("connectors" if is_source else "write_connectors") or {}
    return list(group)


def all_connector_types(supported: dict[str, Any]) -> list[str]:
    """Every connector type, sources and destinations, in the metadata's order."""
    seen: dict[str, None] = {}
    for group in ("write_connectors", "connectors"):
        for name in supported.get(group) or {}:
            seen.setdefault(name, None)
    return list(seen)


def connector_props(supported: dict[str, Any], connector_type: str) -> dict[str, Any]:
    props = (supported.get("write_connectors") or {}).get(connector_type)
    if props is None:
        props = (supported.get("connectors") or {}).get(connector_type)
    return dict(props or {})


# --- bounds from the OpenAPI document ----------------------------------------------------------


def _bounds_of(schema: dict[str, Any]) -> Bounds | None:
    for option in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        if isinstance(option, dict) and ("minimum" in option or "maximum" in option):
            return Bounds(option.get("minimum"), option.get("maximum"))
    return None


def spec_bounds(openapi: dict[str, Any]) -> dict[str, dict[str, Bounds]]:
    """``connector_type`` → field path → numeric bounds, read from the schema the API serves.

    A connector's request schema is the one whose ``connector_type`` is a constant; hook
    schemas are reached through its ``hooks_params`` references.
    """
    schemas: dict[str, Any] = (openapi.get("components") or {}).get("schemas") or {}

    def deref(node: Any) -> dict[str, Any]:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            return dict(schemas.get(node["$ref"].rsplit("/", 1)[-1]) or {})
        return node if isinstance(node, dict) else {}

    def first_object(node: dict[str, Any]) -> dict[str, Any]:
        for option in [node, *node.get("anyOf", []), *node.get("oneOf", [])]:
            target = deref(option)
            if target.get("properties"):
                return target
        return {}

    found: dict[str, dict[str, Bounds]] = {}
    for schema in schemas.values():
        props = schema.get("properties") or {} if isinstance(schema, dict) else {}
        const = (props.get("connector_type") or {}).get("const")
        if not isinstance(const, str):
            continue
        bounds: dict[str, Bounds] = {}
        for name, prop in props.items():
            b = _bounds_of(prop) if isinstance(prop, dict) else None
            if b:
                bounds[name] = b
        hooks = first_object(props.get("hooks_params") or {})
        for hook, hook_ref in (hooks.get("properties") or {}).items():
            for name, prop in (first_object(hook_ref).get("properties") or {}).items():
                b = _bounds_of(prop) if isinstance(prop, dict) else None
                if b:
                    bounds[f"hooks_params.{hook}.{name}"] = b
        found[const] = bounds
    return found
