"""``GET …/forms/``: how each connector's and hook's form reads, resolved once from the registry.

An extension beyond the seed spec. ``supported_types`` says what a field *is* (type, default,
required-ness, choices); this says how to *show* it: label, help, placeholder, order, advanced,
which fields share a row, which are alternatives, where the connection goes, which URIs paste
into it. Each fact comes from the connector's class attributes (``backend.connectors.base``) or
the hook's (``backend.hooks.forms``), else from ``formfacts.COMMON_FIELDS``, else from the
model itself — so a connector module that declares nothing still gets a complete form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from backend.connectors import registry
from backend.connectors.base import Connector
from backend.hooks.forms import HOOK_FORMS
from backend.spec.fields import TEXT, has_marker, is_secret, property_of
from backend.spec.formfacts import (
    CAPABILITY_TITLES,
    COMMON_FIELDS,
    SERVER_PARTS,
    STAGE_TITLES,
    STORED_MASK,
    Alternative,
    FieldFacts,
    URIFacts,
    readable,
)
from backend.spec.schemas import (
    HOOK_MODELS,
    ConnectionForms,
    ConnectorForm,
    FormAlternative,
    FormField,
    HookForm,
    PlainWords,
)

NOT_SHOWN = ("connector_type", "hooks_params", "is_source")
"""Model fields that are not form fields: the form's choice of connector, its hook sections, read/write."""


def field_names(model: type[BaseModel], first: Iterable[str] = ()) -> list[str]:
    """The fields in display order: ``first`` (in its order), then the others in the model's."""
    names = [name for name in model.model_fields if name not in NOT_SHOWN]
    leading = [name for name in first if name in names]
    return leading + [name for name in names if name not in leading]


PORT_RANGE = (1, 65535)


def bounds(name: str, info: FieldInfo) -> tuple[float | None, float | None]:
    """The model's numeric bounds (``Field(ge=…, le=…)``); a TCP port is 1–65535 even where the spec's
    schema says nothing (the hooks' ``port`` and ``local_port``)."""
    low: float | None = None
    high: float | None = None
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge) and isinstance(m.ge, (int, float)):
            low = m.ge
        elif isinstance(m, annotated_types.Gt) and isinstance(m.gt, int):
            low = m.gt + 1
        elif isinstance(m, annotated_types.Le) and isinstance(m.le, (int, float)):
            high = m.le
        elif isinstance(m, annotated_types.Lt) and isinstance(m.lt, int):
            high = m.lt - 1
    if low is None and high is None and (name == "port" or name.endswith("_port")):
        return PORT_RANGE
    return low, high


def resolve_field(
    name: str, info: FieldInfo, facts: FieldFacts | None, common: bool = True, group: str = "connection"
) -> FormField:
    """One field's facts: the given ones over the common ones over what the model says."""
    derived = FieldFacts(
        label=readable(name),
        help=info.description,
        advanced=False,
        upload=has_marker(info, TEXT),
    )
    base = COMMON_FIELDS[name].over(derived) if common and name in COMMON_FIELDS else derived
    resolved = facts.over(base) if facts else base
    prop = property_of(info)
    kind = prop["type"]
    low, high = bounds(name, info) if "integer" in kind or "number" in kind else (None, None)
    return FormField(
        name=name,
        label=resolved.label or readable(name),
        help=resolved.help,
        placeholder=resolved.placeholder,
        advanced=bool(resolved.advanced),
        row=resolved.row,
        upload=bool(resolved.upload),
        type=kind,
        default=prop["default"],
        values=prop["values"],
        required=not (isinstance(kind, list) and "null" in kind),
        secret=is_secret(info),
        minimum=low,
        maximum=high,
        group=group,
    )


def resolve_fields(
    model: type[BaseModel], facts: Mapping[str, FieldFacts], first: Iterable[str] = (), common: bool = True,
    group: str = "connection",
) -> list[FormField]:
    """Every field, in display order: advanced ones last, and the fields of one row side by side."""
    resolved = [
        resolve_field(name, model.model_fields[name], facts.get(name), common, group)
        for name in field_names(model, first)
    ]
    ordered: list[FormField] = []
    for item in sorted(resolved, key=lambda f: f.advanced):  # stable: the given order within each group
        mates = [i for i, placed in enumerate(ordered) if item.row is not None and placed.row == item.row]
        ordered.insert(mates[-1] + 1 if mates else len(ordered), item)
    return ordered


def target_fields(connector: Connector) -> tuple[str, ...]:
    """Where the connection goes: the connector's own facts, else ``host`` and ``port``, else its first required field."""
    if connector.target_fields:
        return connector.target_fields
    fields = connector.model.model_fields
    found = tuple(name for name in ("host", "port") if name in fields)
    if found:
        return found
    required = [name for name, info in fields.items() if info.is_required() and name not in NOT_SHOWN]
    return tuple(required[:1])


def uri_facts(connector: Connector) -> URIFacts | None:
    """How the connector's URIs read: its own facts (parts defaulting to the server form), else derived.

    Derived: a connector whose model has ``host`` and a ``protocol`` default such as
    ``postgresql+psycopg2`` reads ``postgresql://user:password@host:port/database`` and its
    ``jdbc:postgresql://`` twin; any other connector reads no URI (None).
    """
    fields = connector.model.model_fields
    if connector.uri is not None:
        facts = connector.uri
        return facts if facts.parts else replace(facts, parts=_present(SERVER_PARTS, fields))
    protocol = fields.get("protocol")
    default = protocol.default if protocol is not None else None
    if "host" not in fields or not isinstance(default, str) or not default:
        return None
    scheme = default.split("+", 1)[0].lower()
    parts = _present(SERVER_PARTS, fields)
    example = _example(connector, scheme, parts)
    return URIFacts(schemes=(scheme, f"jdbc:{scheme}"), example=example, parts=parts, spellings=(f"jdbc:{example}",))


def _present(parts: Mapping[str, str], fields: Mapping[str, FieldInfo]) -> dict[str, str]:
    return {part: name for part, name in parts.items() if name in fields}


def _example(connector: Connector, scheme: str, parts: Mapping[str, str]) -> str:
    """``scheme://user@host:port/database`` from the fields' placeholders and defaults."""

    def sample(part: str) -> str:
        name = parts.get(part)
        if name is None:
            return ""
        info = connector.model.model_fields[name]
        shown = resolve_field(name, info, connector.form_fields.get(name))
        value = shown.placeholder or (info.default if not info.is_required() else None) or name
        return str(value)

    user = f"{sample('user')}@" if "user" in parts else ""
    port = f":{sample('port')}" if "port" in parts else ""
    path = f"/{sample('path')}" if "path" in parts else ""
    return f"{scheme}://{user}{sample('host')}{port}{path}"


def _alternatives(alternatives: Iterable[Alternative]) -> list[FormAlternative]:
    return [
        FormAlternative.model_validate(
            {"name": a.name, "label": a.label,
             "options": [{"label": o.label, "fields": list(o.fields)} for o in a.options]}
        )
        for a in alternatives
    ]


def _as_supported_types_says(fields: list[FormField], props: Mapping[str, Any]) -> list[FormField]:
    """The fields with the connector's own Property metadata (``values`` it narrows, e.g. its drivers)."""
    return [
        f.model_copy(update={k: props[f.name][k] for k in ("type", "default", "values")}) if f.name in props else f
        for f in fields
    ]


def connector_form(connector: Connector) -> ConnectorForm:
    uri = uri_facts(connector)
    props = connector.properties()
    return ConnectorForm.model_validate(
        {
            "connector_type": connector.type_name,
            "label": connector.label,
            "category": connector.category,
            "source": connector.source,
            "destination": True,
            "target_fields": list(target_fields(connector)),
            "hooks": [h for h in HOOK_MODELS if h in connector.hooks],
            "overrides": {k: dict(v) for k, v in props.items() if "." in k},
            "stages": list(connector.stage_names),
            "uri": {"schemes": list(uri.schemes), "example": uri.example} if uri else None,
            "fields": _as_supported_types_says(
                resolve_fields(connector.model, connector.form_fields, connector.form_order), props
            ),
            "alternatives": _alternatives(connector.alternatives),
        }
    )


def hook_form(name: str) -> HookForm:
    """A hook's section; its fields are described by the hook's facts alone (an SSH ``host`` is not the database's)."""
    facts = HOOK_FORMS.get(name)
    model = HOOK_MODELS[name]
    return HookForm(
        label=facts.label if facts else readable(name),
        help=facts.help if facts else f"Settings of the {name} hook.",
        fields=resolve_fields(model, facts.fields if facts else {}, first=facts.fields if facts else (), common=False,
                              group=name),
        alternatives=_alternatives(facts.alternatives if facts else ()),
        target_fields=[f for f in ("host", "port") if f in model.model_fields],
    )


def display_order(connectors: Iterable[Connector]) -> list[Connector]:
    """Databases alphabetically by label, then storage alphabetically."""
    return sorted(connectors, key=lambda c: (c.category != "database", c.label.lower()))


def build_forms(connectors: Iterable[Connector]) -> ConnectionForms:
    return ConnectionForms(
        connectors=[connector_form(c) for c in display_order(connectors)],
        hooks={name: _hook_as_supported_types_says(hook_form(name), name) for name in HOOK_MODELS},
        mask=STORED_MASK,
        stages=dict(STAGE_TITLES),
        words={name: PlainWords(label=w.label, meaning=w.meaning) for name, w in CAPABILITY_TITLES.items()},
    )


def _hook_as_supported_types_says(form: HookForm, name: str) -> HookForm:
    from backend.spec.metadata import supported_types  # the union of the connectors' ssl_mode words

    props = supported_types().model_dump()["hooks"].get(name) or {}
    return form.model_copy(update={"fields": _as_supported_types_says(form.fields, props)})


@lru_cache
def forms_json() -> bytes:
    """The registry's forms, built once and served as ready bytes."""
    return build_forms(registry().values()).model_dump_json().encode()
