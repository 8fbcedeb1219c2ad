"""A typed view of the API's metadata, for the generic form renderer.

Two endpoints describe a form, and nothing here knows a connector:

- ``supported_types`` says what each field *is*: type, default, required-ness, choices (and a
  connector's own ``ssl_mode`` values under ``hooks_params.SSL.ssl_mode``);
- ``forms/`` says how to *show* it: the connector's label and category, each field's label,
  help, placeholder, whether it is advanced, which fields share a row, which fields are
  alternatives (SSH password *or* private key), where the connection goes, and its URI schemes.

:func:`connector_section` and :func:`hook_section` join the two into :class:`Section`\\ s of
:class:`FieldSpec`\\ s, so a connector added to the backend shows a complete form with no UI change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.words import readable

# Keys of a connector's Property map that are not fields of the form.
META_KEYS = frozenset({"hooks_params", "is_source", "connector_type"})
PORT_RANGE = (1, 65535)


@dataclass(frozen=True)
class FieldSpec:
    """One input of the form: what it is (``supported_types``) and how it shows (``forms/``)."""

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
    label: str = ""
    help: str | None = None
    placeholder: str | None = None
    advanced: bool = False
    row: str | None = None
    upload: bool = False

    @property
    def secret(self) -> bool:
        return self.kind == "password"


@dataclass(frozen=True)
class Choice:
    """Fields given one way or another: only the picked option's fields are shown and sent."""

    name: str
    label: str
    options: tuple[tuple[str, tuple[str, ...]], ...]
    """(option label, its field names), in order."""

    def fields(self) -> set[str]:
        return {name for _, names in self.options for name in names}


@dataclass(frozen=True)
class Section:
    """The connector's own fields, or one hook's."""

    fields: tuple[FieldSpec, ...]
    choices: tuple[Choice, ...] = ()
    hook: str | None = None


@dataclass(frozen=True)
class ConnectorInfo:
    connector_type: str
    label: str
    category: str
    """``database`` or ``storage``."""
    source: bool
    target_fields: tuple[str, ...] = ()
    uri_schemes: tuple[str, ...] = ()
    uri_example: str | None = None
    fields: tuple[dict[str, Any], ...] = ()
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class HookInfo:
    label: str
    help: str | None
    fields: tuple[dict[str, Any], ...] = ()
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Forms:
    """``GET …/forms/``: every connector in display order, and the hooks' sections."""

    connectors: dict[str, ConnectorInfo] = field(default_factory=dict)
    hooks: dict[str, HookInfo] = field(default_factory=dict)

    def label(self, connector_type: str) -> str:
        info = self.connectors.get(connector_type)
        return info.label if info else readable(connector_type.removesuffix("Connector"))

    def hook_label(self, hook: str) -> str:
        info = self.hooks.get(hook)
        return info.label if info else readable(hook)


@dataclass(frozen=True)
class Bounds:
    minimum: float | None = None
    maximum: float | None = None


def _choices(items: Any) -> tuple[Choice, ...]:
    found = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        options = tuple(
            (str(o.get("label") or "?"), tuple(str(f.get("name") if isinstance(f, dict) else f) for f in o.get("fields") or []))
            for o in item.get("options") or []
            if isinstance(o, dict)
        )
        if options:
            found.append(Choice(str(item.get("name") or "choice"), str(item.get("label") or ""), options))
    return tuple(found)


def _field_list(items: Any) -> tuple[dict[str, Any], ...]:
    return tuple(f for f in items or [] if isinstance(f, dict) and isinstance(f.get("name"), str))


def parse_forms(data: Any) -> Forms:
    """The ``forms/`` document as :class:`Forms` (unknown keys ignored, missing ones defaulted)."""
    data = data if isinstance(data, dict) else {}
    connectors: dict[str, ConnectorInfo] = {}
    for item in data.get("connectors") or []:
        if not isinstance(item, dict) or not isinstance(item.get("connector_type"), str):
            continue
        ct = item["connector_type"]
        uri = item.get("uri") if isinstance(item.get("uri"), dict) else {}
        connectors[ct] = ConnectorInfo(
            connector_type=ct,
            label=str(item.get("label") or readable(ct.removesuffix("Connector"))),
            category="storage" if item.get("category") == "storage" else "database",
            source=bool(item.get("source", True)),
            target_fields=tuple(str(t) for t in item.get("target_fields") or []),
            uri_schemes=tuple(str(s) for s in (uri or {}).get("schemes") or []),
            uri_example=(uri or {}).get("example"),
            fields=_field_list(item.get("fields")),
            choices=_choices(item.get("alternatives")),
        )
    hooks: dict[str, HookInfo] = {}
    for name, item in (data.get("hooks") or {}).items():
        if isinstance(item, dict):
            hooks[str(name)] = HookInfo(
                label=str(item.get("label") or readable(str(name))),
                help=item.get("help"),
                fields=_field_list(item.get("fields")),
                choices=_choices(item.get("alternatives")),
            )
    return Forms(connectors, hooks)


def parse_type(spec: Any) -> tuple[str, bool]:
    """``"string"`` → (string, required); ``["integer", "null"]`` → (integer, optional)."""
    if isinstance(spec, list):
        kinds = [str(k) for k in spec if k != "null"]
        return (kinds[0] if kinds else "string"), "null" in spec
    if isinstance(spec, str):
        return spec, False
    return "string", True


def _spec(
    name: str, path: str, prop: dict[str, Any], shown: dict[str, Any], bounds: Bounds | None, hook: str | None
) -> FieldSpec:
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
        label=str(shown.get("label") or readable(name)),
        help=shown.get("help") or None,
        placeholder=shown.get("placeholder") or None,
        advanced=bool(shown.get("advanced")),
        row=shown.get("row") or None,
        upload=bool(shown.get("upload")),
    )


def _join(
    props: dict[str, Any],
    shown: tuple[dict[str, Any], ...],
    bounds: dict[str, Bounds],
    prefix: str,
    hook: str | None,
    overrides: dict[str, Any] | None = None,
) -> tuple[FieldSpec, ...]:
    """Fields in the ``forms/`` order; any field it does not list comes after, with a readable label."""
    names = [n for n in props if n not in META_KEYS and "." not in n]
    facts = {str(f["name"]): f for f in shown}
    ordered = [n for n in facts if n in names] + [n for n in names if n not in facts]
    specs = []
    for name in ordered:
        path = f"{prefix}{name}"
        prop = {**(props.get(name) or {}), **((overrides or {}).get(path) or {})}
        specs.append(_spec(name, path, prop, facts.get(name, {}), bounds.get(path), hook))
    return tuple(specs)


def connector_section(
    forms: Forms, supported: dict[str, Any], connector_type: str, bounds: dict[str, Bounds] | None = None
) -> Section:
    info = forms.connectors.get(connector_type)
    props = connector_props(supported, connector_type)
    fields = _join(props, info.fields if info else (), bounds or {}, "", None)
    return Section(fields, info.choices if info else ())


def hook_section(
    forms: Forms, supported: dict[str, Any], connector_type: str, hook: str, bounds: dict[str, Bounds] | None = None
) -> Section:
    """A hook's fields, with this connector's overrides (``hooks_params.SSL.ssl_mode``) applied."""
    info = forms.hooks.get(hook)
    props = (supported.get("hooks") or {}).get(hook) or {}
    overrides = connector_props(supported, connector_type)
    fields = _join(props, info.fields if info else (), bounds or {}, f"hooks_params.{hook}.", hook, overrides)
    return Section(fields, info.choices if info else (), hook)


def connector_hooks(props: dict[str, Any], supported: dict[str, Any], forms: Forms) -> list[str]:
    """The hooks this connector supports (``hooks_params``'s ``values``), in the order ``forms/`` lists hooks."""
    listed = [h for h in (props.get("hooks_params") or {}).get("values") or [] if h in (supported.get("hooks") or {})]
    order = list(forms.hooks)
    return sorted(listed, key=lambda h: order.index(h) if h in order else len(order))


def connector_types(supported: dict[str, Any], forms: Forms, is_source: bool) -> list[str]:
    """Connector types usable in this direction, in the display order of ``forms/``."""
    group = list(supported.get("connectors" if is_source else "write_connectors") or {})
    order = list(forms.connectors)
    return sorted(group, key=lambda t: order.index(t) if t in order else len(order))


def connector_props(supported: dict[str, Any], connector_type: str) -> dict[str, Any]:
    props = (supported.get("write_connectors") or {}).get(connector_type)
    if props is None:
        props = (supported.get("connectors") or {}).get(connector_type)
    return dict(props or {})


def path_label(forms: Forms, supported: dict[str, Any], connector_type: str, path: str) -> str:
    """A field path of ``details`` (``hooks_params.SSL.ca``) in the form's own words (``SSL / TLS › CA …``)."""
    parts = path.removeprefix("connection.").split(".")
    if parts[0] == "hooks_params" and len(parts) >= 2:
        hook = parts[1]
        if len(parts) == 2:
            return forms.hook_label(hook)
        for spec in hook_section(forms, supported, connector_type, hook).fields:
            if spec.name == parts[2]:
                return f"{forms.hook_label(hook)} › {spec.label}"
        return f"{forms.hook_label(hook)} › {readable(parts[2])}"
    if parts[0] in ("body", "connector_type"):
        return "Connection type" if parts[0] == "connector_type" else "Request"
    for spec in connector_section(forms, supported, connector_type).fields:
        if spec.name == parts[0]:
            return spec.label
    return readable(parts[-1])


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


def endpoints(openapi: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every operation of the OpenAPI document: (method, path, summary, tag), in the document's order."""
    found = []
    for path, item in (openapi.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method.lower() not in ("get", "post", "put", "patch", "delete") or not isinstance(operation, dict):
                continue
            tags = operation.get("tags") or [""]
            summary = str(operation.get("summary") or operation.get("description") or operation.get("operationId") or "")
            found.append((method.upper(), str(path), summary.split("\n", 1)[0], str(tags[0])))
    return found
