"""The one generic form renderer: any connector's fields and hooks, from the metadata alone.

Widgets are keyed ``w-<connector_type>-<field path with dashes>`` (``w-PostgreSQLConnector-port``,
``w-PostgreSQLConnector-hooks_params-SSL-ca``), so switching connector switches fields, and the
page, the URI filler and the tests all find a field by its path. Every field sits in a
container keyed ``fld-…`` with, right under the input, a slot for the test's flag on that field.

Typed secrets stay in ``st.session_state`` (this browser session on the server): they go into
the request body and nowhere else. :func:`masked` gives the body with every secret replaced by a
placeholder, for the API page's snippets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.metadata import Bounds, FieldSpec, connector_fields, connector_hooks, connector_props, hook_fields
from components.names import HOOK_HELP, field_help, field_label, hook_name

KEY_FILE_FIELDS = frozenset({"pkey", "key", "private_key", "ssh_key"})
"""Secret fields that usually hold a key file: they get a file upload beside the masked input."""
UPLOAD_LIMIT = 256 * 1024


def widget_key(connector_type: str, path: str) -> str:
    return f"w-{connector_type}-{path.replace('.', '-')}"


def hook_key(connector_type: str, hook: str) -> str:
    return f"hook-{connector_type}-{hook}"


def file_key(connector_type: str, path: str) -> str:
    """Where an uploaded secret key file's content is kept (never in a widget)."""
    return f"file-{widget_key(connector_type, path)}"


def placeholder_for(path: str) -> str:
    """``password`` → ``<PASSWORD>``; ``hooks_params.SSHTunnel.pkey`` → ``<SSHTUNNEL_PKEY>``."""
    short = path.removeprefix("hooks_params.")
    return "<" + re.sub(r"[^A-Za-z0-9]+", "_", short).upper() + ">"


def normalize_pem(text: str) -> str:
    """Put back the line breaks a single-line (masked) input drops from a pasted PEM block."""
    match = re.fullmatch(r"\s*(-----BEGIN [A-Z0-9 ]+-----)\s*(.*?)\s*(-----END [A-Z0-9 ]+-----)\s*", text, re.S)
    if not match or "\n" in match.group(2) or ":" in match.group(2):
        return text
    body = "\n".join(match.group(2).split())
    return f"{match.group(1)}\n{body}\n{match.group(3)}\n"


@dataclass
class Form:
    """What the renderer produced: the request body, its secrets, and the flag slots."""

    connector_type: str
    body: dict[str, Any]
    secret_paths: list[str] = field(default_factory=list)
    slots: dict[str, DeltaGenerator] = field(default_factory=dict)
    specs: dict[str, FieldSpec] = field(default_factory=dict)

    def flag(self, details: dict[str, list[str]] | None) -> list[str]:
        """Show each message of ``details`` under its field; return the paths with no field on screen."""
        unplaced = []
        for path, messages in (details or {}).items():
            slot = self.slots.get(path)
            if slot is None:
                unplaced.append(path)
            else:
                show_flag(slot, messages)
        return unplaced


def masked(body: dict[str, Any], secret_paths: list[str]) -> dict[str, Any]:
    """A deep copy of ``body`` with every secret value replaced by its placeholder."""
    copy: dict[str, Any] = json.loads(json.dumps(body))
    for path in secret_paths:
        parts = path.split(".")
        node: Any = copy
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and parts[-1] in node:
            node[parts[-1]] = placeholder_for(path)
    return copy


def show_flag(slot: DeltaGenerator, messages: list[str]) -> None:
    text = " ".join(m.strip() for m in messages if m.strip()) or "Check this field."
    slot.markdown(f":red[:material/error: **{escape_md(text)}**]")


def escape_md(text: str) -> str:
    """Keep server text from being read as Markdown directives (``:red[…]``, ``$…$``)."""
    return re.sub(r"([\\`*_\[\]$:<>|#~])", r"\\\1", text)


def _initial(spec: FieldSpec) -> Any:
    if spec.kind == "boolean":
        return bool(spec.default) if spec.default is not None else False
    if spec.values:
        if spec.default in spec.values:
            return spec.default
        return None if not spec.required else spec.values[0]
    if spec.kind == "integer":
        return int(spec.default) if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool) else None
    if spec.kind == "number":
        return float(spec.default) if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool) else None
    if spec.kind == "object":
        return json.dumps(spec.default) if spec.default is not None else ""
    return "" if spec.default is None else str(spec.default)


def _copy_upload(upload_key: str, target_key: str) -> None:
    """on_change of a text field's upload: its content becomes the text area's value."""
    upload = st.session_state.get(upload_key)
    if upload is not None:
        st.session_state[target_key] = _read(upload)


def _keep_upload(upload_key: str, store_key: str) -> None:
    """on_change of a secret key's upload: keep its content aside (a masked input would lose newlines)."""
    upload = st.session_state.get(upload_key)
    if upload is None:
        st.session_state.pop(store_key, None)
    else:
        st.session_state[store_key] = {"name": upload.name, "content": _read(upload)}


def _read(upload: Any) -> str:
    data: bytes = upload.getvalue()[:UPLOAD_LIMIT]
    return data.decode("utf-8", errors="replace")


def _widget(spec: FieldSpec, connector_type: str) -> Any:
    """Draw one input for ``spec`` and return its value (as the widget holds it)."""
    key = widget_key(connector_type, spec.path)
    st.session_state.setdefault(key, _initial(spec))
    label = field_label(spec.name, spec.hook) + (" :red[\\*]" if spec.required else "")
    if spec.kind == "boolean":
        return st.checkbox(label, key=key, persist_state="session")
    if spec.values:
        options: list[str | None] = list(spec.values) if spec.required else [None, *spec.values]
        return st.selectbox(
            label,
            options,
            key=key,
            format_func=lambda v: "— not set —" if v is None else str(v),
            persist_state="session",
        )
    if spec.kind in ("integer", "number"):
        integer = spec.kind == "integer"
        cast: Callable[[float], float | int] = int if integer else float
        low = cast(spec.minimum) if spec.minimum is not None else None
        high = cast(spec.maximum) if spec.maximum is not None else None
        return st.number_input(
            label,
            min_value=low,
            max_value=high,
            step=1 if integer else None,
            key=key,
            placeholder="not set" if not spec.required else None,
            width=240,
            persist_state="session",
        )
    if spec.kind == "password":
        if spec.name in KEY_FILE_FIELDS or spec.name.endswith("pkey"):
            store = file_key(connector_type, spec.path)
            st.file_uploader(
                f"{field_label(spec.name, spec.hook)}: upload the file",
                key=f"up-{key}",
                on_change=_keep_upload,
                args=(f"up-{key}", store),
                max_upload_size=1,
            )
            loaded = st.session_state.get(store)
            if loaded:
                st.caption(f":material/key: Using the key from **{escape_md(loaded['name'])}**; remove the file to type one.")
                return loaded["content"]
            return normalize_pem(
                st.text_input(f"{label} — or paste it", type="password", key=key, persist_state="session")
            )
        return st.text_input(label, type="password", key=key, persist_state="session")
    if spec.kind in ("text", "object"):
        value = st.text_area(
            label,
            key=key,
            height=110,
            placeholder="-----BEGIN …" if spec.kind == "text" else "{}",
            persist_state="session",
        )
        if spec.kind == "text":
            st.file_uploader(
                "or upload the file",
                key=f"up-{key}",
                on_change=_copy_upload,
                args=(f"up-{key}", key),
                max_upload_size=1,
            )
        return value
    return st.text_input(label, key=key, persist_state="session")


def _value(spec: FieldSpec, raw: Any) -> Any:
    """The widget's value as the request wants it (None: leave the field out)."""
    if raw is None:
        return None
    if spec.kind == "object":
        text = str(raw).strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text  # the API answers 422 naming the field
    if spec.kind == "password":
        return raw if raw != "" else None
    if spec.kind == "text":
        return raw if str(raw).strip() else None
    if isinstance(raw, str):
        return raw.strip() or None
    return raw


def render_field(spec: FieldSpec, connector_type: str, flags: dict[str, list[str]]) -> tuple[Any, DeltaGenerator]:
    with st.container(key=f"fld-{widget_key(connector_type, spec.path)}", gap=None):
        raw = _widget(spec, connector_type)
        slot = st.empty()
        if spec.path in flags:
            show_flag(slot, flags[spec.path])
        words = field_help(spec.name, spec.hook)
        if words:
            st.caption(words)
    return _value(spec, raw), slot


def render_form(
    connector_type: str,
    is_source: bool,
    supported: dict[str, Any],
    bounds: dict[str, Bounds] | None = None,
    flags: dict[str, list[str]] | None = None,
) -> Form:
    """Draw the whole form for ``connector_type`` and return the body it describes."""
    flags = flags or {}
    props = connector_props(supported, connector_type)
    hooks_meta = supported.get("hooks") or {}
    form = Form(connector_type, {"connector_type": connector_type, "is_source": is_source})

    for spec in connector_fields(props, bounds):
        value, slot = render_field(spec, connector_type, flags)
        form.slots[spec.path], form.specs[spec.path] = slot, spec
        if value is not None:
            form.body[spec.name] = value
            if spec.secret:
                form.secret_paths.append(spec.path)

    hooks = connector_hooks(props, hooks_meta)
    if hooks:
        st.markdown("##### Connection options")
    chosen: dict[str, dict[str, Any]] = {}
    for hook in hooks:
        with st.container(key=f"sec-{hook_key(connector_type, hook)}", gap=None):
            on = st.toggle(hook_name(hook), key=hook_key(connector_type, hook), persist_state="session")
            slot = st.empty()
            form.slots[f"hooks_params.{hook}"] = slot
            if f"hooks_params.{hook}" in flags:
                show_flag(slot, flags[f"hooks_params.{hook}"])
            if hook in HOOK_HELP:
                st.caption(HOOK_HELP[hook])
        if not on:
            continue
        values: dict[str, Any] = {}
        with st.container(border=True, key=f"box-{hook_key(connector_type, hook)}"):
            for spec in hook_fields(hook, props, hooks_meta, bounds):
                value, slot = render_field(spec, connector_type, flags)
                form.slots[spec.path], form.specs[spec.path] = slot, spec
                if value is not None:
                    values[spec.name] = value
                    if spec.secret:
                        form.secret_paths.append(spec.path)
        chosen[hook] = values
    if chosen:
        form.body["hooks_params"] = chosen
    return form
