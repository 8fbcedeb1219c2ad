"""A typed view of the API's ``forms/`` document, for the generic form renderer.

One endpoint describes a form, and nothing here knows a connector: ``forms/`` says what each field
*is* (type, default, required-ness, choices, bounds, whether it is a secret) and how to *show* it
(label, help, placeholder, advanced, row, alternatives), where the connection goes, its URI
schemes, its hooks and their overrides, the stage words and the stored-secret mask.

:func:`connector_section` and :func:`hook_section` turn it into :class:`Section`\\ s of
:class:`FieldSpec`\\ s, so a connector added to the backend shows a complete form with no UI change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.words import readable


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
    destination: bool = True
    target_fields: tuple[str, ...] = ()
    uri_schemes: tuple[str, ...] = ()
    uri_example: str | None = None
    fields: tuple[dict[str, Any], ...] = ()
    choices: tuple[Choice, ...] = ()
    hooks: tuple[str, ...] = ()
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class HookInfo:
    label: str
    help: str | None
    fields: tuple[dict[str, Any], ...] = ()
    choices: tuple[Choice, ...] = ()
    target_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Forms:
    """``GET …/forms/``: every connector in display order, and the hooks' sections."""

    connectors: dict[str, ConnectorInfo] = field(default_factory=dict)
    hooks: dict[str, HookInfo] = field(default_factory=dict)
    mask: str = "**********"
    """How the API shows a stored secret; sent back unchanged, it keeps the stored value."""
    stages: dict[str, str] = field(default_factory=dict)
    words: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Capability, functionality and access names → (label, meaning)."""

    def stage(self, name: str) -> str:
        return self.stages.get(name) or readable(name)

    def word(self, name: str) -> str:
        """The plain label of a fixed name (``FOREIGN_KEY_MANAGEMENT`` → "Manage foreign keys")."""
        return self.words[name][0] if name in self.words else readable(name)

    def meaning(self, name: str) -> str:
        return self.words[name][1] if name in self.words else ""

    def label(self, connector_type: str) -> str:
        info = self.connectors.get(connector_type)
        return info.label if info else readable(connector_type.removesuffix("Connector"))

    def hook_label(self, hook: str) -> str:
        info = self.hooks.get(hook)
        return info.label if info else readable(hook)


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
            destination=bool(item.get("destination", True)),
            hooks=tuple(str(h) for h in item.get("hooks") or []),
            overrides={str(k): dict(v) for k, v in (item.get("overrides") or {}).items() if isinstance(v, dict)},
            stages=tuple(str(n) for n in item.get("stages") or []),
        )
    hooks: dict[str, HookInfo] = {}
    for name, item in (data.get("hooks") or {}).items():
        if isinstance(item, dict):
            hooks[str(name)] = HookInfo(
                label=str(item.get("label") or readable(str(name))),
                help=item.get("help"),
                fields=_field_list(item.get("fields")),
                choices=_choices(item.get("alternatives")),
                target_fields=tuple(str(t) for t in item.get("target_fields") or []),
            )
    words = {
        str(k): (str(v.get("label") or readable(str(k))), str(v.get("meaning") or ""))
        for k, v in (data.get("words") or {}).items() if isinstance(v, dict)
    }
    stages = {str(k): str(v) for k, v in (data.get("stages") or {}).items()}
    return Forms(connectors, hooks, str(data.get("mask") or "**********"), stages, words)


def parse_type(spec: Any) -> tuple[str, bool]:
    """``"string"`` → (string, required); ``["integer", "null"]`` → (integer, optional)."""
    if isinstance(spec, list):
        kinds = [str(k) for k in spec if k != "null"]
        return (kinds[0] if kinds else "string"), "null" in spec
    if isinstance(spec, str):
        return spec, False
    return "string", True


def _spec(path: str, shown: dict[str, Any], hook: str | None) -> FieldSpec:
    name = str(shown["name"])
    kind, optional = parse_type(shown.get("type"))
    values = shown.get("values")
    required = bool(shown["required"]) if "required" in shown else not optional
    if shown.get("secret"):
        kind = "password"
    return FieldSpec(
        name=name,
        path=path,
        kind=kind,
        required=required,
        default=shown.get("default"),
        values=tuple(str(v) for v in values) if isinstance(values, list) and values else None,
        minimum=_number(shown.get("minimum")),
        maximum=_number(shown.get("maximum")),
        hook=hook,
        label=str(shown.get("label") or readable(name)),
        help=shown.get("help") or None,
        placeholder=shown.get("placeholder") or None,
        advanced=bool(shown.get("advanced")),
        row=shown.get("row") or None,
        upload=bool(shown.get("upload")),
    )


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _join(
    shown: tuple[dict[str, Any], ...], prefix: str, hook: str | None, overrides: dict[str, dict[str, Any]] | None = None
) -> tuple[FieldSpec, ...]:
    """The fields in the ``forms/`` order, with this connector's overrides (its own ``ssl_mode`` words) applied."""
    specs = []
    for item in shown:
        path = f"{prefix}{item['name']}"
        specs.append(_spec(path, {**item, **((overrides or {}).get(path) or {})}, hook))
    return tuple(specs)


def connector_section(forms: Forms, connector_type: str) -> Section:
    info = forms.connectors.get(connector_type)
    return Section(_join(info.fields, "", None), info.choices) if info else Section(())


def hook_section(forms: Forms, connector_type: str, hook: str) -> Section:
    """A hook's fields, with this connector's overrides (``hooks_params.SSL.ssl_mode``) applied."""
    info = forms.hooks.get(hook)
    connector = forms.connectors.get(connector_type)
    overrides = connector.overrides if connector else {}
    fields = _join(info.fields if info else (), f"hooks_params.{hook}.", hook, overrides)
    return Section(fields, info.choices if info else (), hook)


def connector_hooks(forms: Forms, connector_type: str) -> list[str]:
    """The hooks this connector supports, in the order ``forms/`` lists hooks."""
    info = forms.connectors.get(connector_type)
    listed = [h for h in (info.hooks if info else ()) if h in forms.hooks]
    order = list(forms.hooks)
    return sorted(listed, key=order.index)


def connector_types(forms: Forms, is_source: bool) -> list[str]:
    """Connector types usable in this direction, in the display order of ``forms/``."""
    return [ct for ct, info in forms.connectors.items() if (info.source if is_source else info.destination)]


def target_paths(forms: Forms, connector_type: str) -> set[str]:
    """Every field path that says where the connection goes: the connector's and its hooks' target fields."""
    info = forms.connectors.get(connector_type)
    found = set(info.target_fields if info else ())
    for hook in connector_hooks(forms, connector_type):
        found.update(f"hooks_params.{hook}.{name}" for name in forms.hooks[hook].target_fields)
    return found


def path_label(forms: Forms, connector_type: str, path: str) -> str:
    """A field path of ``details`` (``hooks_params.SSL.ca``) in the form's own words (``SSL / TLS › CA …``)."""
    parts = path.removeprefix("connection.").split(".")
    if parts[0] == "hooks_params" and len(parts) >= 2:
        hook = parts[1]
        if len(parts) == 2:
            return forms.hook_label(hook)
        for spec in hook_section(forms, connector_type, hook).fields:
            if spec.name == parts[2]:
                return f"{forms.hook_label(hook)} › {spec.label}"
        return f"{forms.hook_label(hook)} › {readable(parts[2])}"
    if parts[0] in ("body", "connector_type"):
        return "Connection type" if parts[0] == "connector_type" else "Request"
    for spec in connector_section(forms, connector_type).fields:
        if spec.name == parts[0]:
            return spec.label
    return readable(parts[-1])


# --- the OpenAPI document (the API page's list of endpoints) -----------------------------------


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
