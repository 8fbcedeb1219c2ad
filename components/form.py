"""The one generic form renderer: any connector's fields and hooks, from the API's metadata alone.

Widgets are keyed ``w-<connector_type>-<field path with dashes>`` (``w-<type>-port``,
``w-<type>-hooks_params-SSL-ca``), so switching connector switches fields, and the
page, the URI filler and the tests all find a field by its path. Every field sits in a
container keyed ``fld-…`` with, right under the input, a slot for the test's flag on that field.

Layout comes from ``forms/`` (see ``components/metadata.py``): fields of one ``row`` side by side
(host and port), ``advanced`` ones folded in an **Advanced** expander, and alternatives (SSH
password or private key) as a choice that shows only the picked option's fields.

**No typed value is lost.** Streamlit's text input commits its value on blur, but not when focus
moves to an element inside the same widget: its blur handler skips a ``relatedTarget`` inside
the widget (``TextInput.tsx``, ``onBlur``), and a password input holds such an element, the
show-password eye. Tab from the password lands on the eye; clicking **Test** from there never
commits the password, and the test is sent without it. Text inputs are therefore ``live`` with
``on_change="ignore"``: every keystroke stages the value in the browser without a rerun, so the
next run (the **Test** click) carries it however the field was left. Number inputs and text
areas commit on every blur (their inner buttons are out of the tab order), and choices commit
on change.

Typed secrets stay in ``st.session_state`` (this browser session on the server): they go into
the request body and nowhere else. :func:`masked` gives the body with every secret replaced by a
placeholder, for the API page's snippets.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.metadata import (
    FieldSpec,
    Forms,
    Section,
    connector_hooks,
    connector_section,
    hook_section,
)
from components.words import stored_mask

UPLOAD_LIMIT = 256 * 1024
STORED = "stored — leave as is to keep"
"""How the form says it, in a stored secret's field (the API's mask, ``forms/`` ``mask``, is in the field)."""
STAGE_NOW = "0ms"
"""``live`` of text inputs: stage every change in the browser at once (see the module's docstring)."""


FORM_PREFIXES = ("w-", "hook-", "choice-", "file-w-", "up-w-")
"""Session keys of the form's values: widgets, hook switches, alternatives, uploaded key files."""


def clear_form_state(*also: str) -> None:
    """Forget every value typed into the form (secrets included), and the keys in ``also``: a clean slate."""
    for key in [k for k in st.session_state if str(k).startswith(FORM_PREFIXES) or k in also]:
        del st.session_state[key]


def widget_key(connector_type: str, path: str) -> str:
    return f"w-{connector_type}-{path.replace('.', '-')}"


def hook_key(connector_type: str, hook: str) -> str:
    return f"hook-{connector_type}-{hook}"


def choice_key(connector_type: str, hook: str | None, name: str) -> str:
    return f"choice-{connector_type}-{hook or 'main'}-{name}"


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
    """What the renderer produced: the request body, its secrets, and the flag slots.

    ``fields`` and ``hooks_on`` record what was drawn (each field with its hook, the hooks switched on), so that
    :meth:`read` gives the body the widgets hold now without drawing them again: the **Test** button's fragment
    (``pages/connect.py``) reruns alone, and reads what was typed since the page was last drawn.
    """

    connector_type: str
    body: dict[str, Any]
    secret_paths: list[str] = field(default_factory=list)
    slots: dict[str, DeltaGenerator] = field(default_factory=dict)
    specs: dict[str, FieldSpec] = field(default_factory=dict)
    fields: list[tuple[FieldSpec, str | None]] = field(default_factory=list)
    hooks_on: list[str] = field(default_factory=list)

    def read(self) -> tuple[dict[str, Any], list[str]]:
        """The request body the drawn fields hold now (from ``st.session_state``), and its secrets' paths."""
        body: dict[str, Any] = {"connector_type": self.connector_type, "is_source": self.body.get("is_source")}
        hooks: dict[str, dict[str, Any]] = {hook: {} for hook in self.hooks_on}
        secret_paths: list[str] = []
        for spec, hook in self.fields:
            value = _value(spec, _current(spec, self.connector_type))
            if value is None:
                continue
            (hooks[hook] if hook else body)[spec.name] = value
            if spec.secret:
                secret_paths.append(spec.path)
        if hooks:
            body["hooks_params"] = hooks
        return body, secret_paths

    def flag(self, details: dict[str, list[str]] | None) -> list[str]:
        """Show each message of ``details`` under its field; return the paths with no field on screen."""
        unplaced = []
        for path, messages in (details or {}).items():
            slot = self.slots.get(path.removeprefix("connection."))
            if slot is None:
                unplaced.append(path)
            else:
                spec = self.specs.get(path.removeprefix("connection."))
                show_flag(slot, messages, spec.label if spec else None)
        return unplaced

    def value(self, path: str) -> Any:
        node: Any = self.body
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node


_SALT = secrets.token_bytes(16)


def fingerprint(value: Any) -> str:
    """A salted digest of a field's value: to tell later whether the field still holds what was tested."""
    text = value.strip() if isinstance(value, str) else value
    return hashlib.sha256(_SALT + json.dumps(text, sort_keys=True, default=str).encode()).hexdigest()


def fingerprints(body: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Field path → :func:`fingerprint` of every value of a request body."""
    found: dict[str, str] = {}
    for name, value in body.items():
        if (isinstance(value, dict) and name == "hooks_params") or (prefix and isinstance(value, dict)):
            found.update(fingerprints(value, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = fingerprint(value)
    return found


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


def show_flag(slot: DeltaGenerator, messages: list[str], label: str | None = None) -> None:
    """The verdict's message right under its field, naming the field (a screen reader hears whose it is)."""
    text = " ".join(m.strip() for m in messages if m.strip()) or "Check this field."
    named = f"{escape_md(label)}: " if label else ""
    slot.markdown(f":red[:material/error: **{named}{escape_md(text)}**]")


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
    if spec.kind in ("integer", "number"):
        default = spec.default
        if default is None and spec.placeholder and spec.placeholder.isdigit():
            default = int(spec.placeholder)  # "empty means 22": show the 22 the server will use
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            return int(default) if spec.kind == "integer" else float(default)
        return None
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


def _label(spec: FieldSpec) -> str:
    """The label as plain text: it is the input's accessible name (the required mark goes under the field)."""
    return escape_md(spec.label)


def _text(label: str, key: str, *, password: bool = False, placeholder: str | None = None) -> str:
    """A text input whose every keystroke is staged (see the module's docstring)."""
    return st.text_input(
        label,
        type="password" if password else "default",
        key=key,
        placeholder=placeholder,
        live=STAGE_NOW,
        on_change="ignore",
        autocomplete="new-password" if password else "off",
        persist_state="session",
    )


def _widget(spec: FieldSpec, connector_type: str) -> Any:
    """Draw one input for ``spec`` and return its value (as the widget holds it)."""
    key = widget_key(connector_type, spec.path)
    st.session_state.setdefault(key, _initial(spec))
    label = _label(spec)
    mask = stored_mask()
    stored = mask is not None and st.session_state.get(key) == mask
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
        return st.number_input(
            label,
            min_value=cast(spec.minimum) if spec.minimum is not None else None,
            max_value=cast(spec.maximum) if spec.maximum is not None else None,
            step=1 if integer else None,
            key=key,
            placeholder=spec.placeholder or ("not set" if not spec.required else None),
            persist_state="session",
        )
    if spec.kind == "password":
        hint = STORED if stored else spec.placeholder
        if spec.upload:
            store = file_key(connector_type, spec.path)
            loaded = st.session_state.get(store)
            if loaded:
                st.markdown(label)
                st.caption(f":material/key: Using **{escape_md(loaded['name'])}**; remove the file below to type instead.")
            else:
                typed = normalize_pem(_text(f"{label} — paste it, or upload the file below", key, password=True,
                                            placeholder=hint))
            st.file_uploader(
                f"Upload the {spec.label.lower()} file",
                key=f"up-{key}",
                on_change=_keep_upload,
                args=(f"up-{key}", store),
                max_upload_size=1,
                label_visibility="collapsed",
            )
            return loaded["content"] if loaded else typed
        typed = _text(label, key, password=True, placeholder=hint)
        if stored:
            st.caption(":material/lock: Stored with the saved connection: leave it as it is to keep it, or type a new one.")
        return typed
    if spec.kind in ("text", "object"):
        value = st.text_area(
            f"{label} — paste it, or upload the file below" if spec.upload else label,
            key=key,
            height=110,
            placeholder=spec.placeholder or ("{}" if spec.kind == "object" else None),
            persist_state="session",
        )
        if spec.upload:
            st.file_uploader(
                f"Upload the {spec.label.lower()} file",
                key=f"up-{key}",
                on_change=_copy_upload,
                args=(f"up-{key}", key),
                max_upload_size=1,
                label_visibility="collapsed",
            )
        return value
    return _text(label, key, placeholder=spec.placeholder)


def _current(spec: FieldSpec, connector_type: str) -> Any:
    """What a field's widget holds now, as :func:`_widget` returns it (an uploaded key file's content first)."""
    key = widget_key(connector_type, spec.path)
    raw = st.session_state.get(key)
    if spec.kind == "password" and spec.upload:
        loaded = st.session_state.get(file_key(connector_type, spec.path))
        if loaded:
            return loaded["content"]
        return normalize_pem(raw) if isinstance(raw, str) else raw
    return raw


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


def render_field(spec: FieldSpec, connector_type: str, flags: dict[str, list[str]]) -> DeltaGenerator:
    """Draw one field, its flag (if ``flags`` names it) and its help; returns the flag's slot.

    Its value is read from the widget's state afterwards (:meth:`Form.read`), not from what the widget returns.
    """
    with st.container(key=f"fld-{widget_key(connector_type, spec.path)}", gap=None):
        _widget(spec, connector_type)
        slot = st.empty()
        if spec.path in flags:
            show_flag(slot, flags[spec.path], spec.label)
        words = " ".join(w for w in ("Required." if spec.required else "", escape_md(spec.help or "")) if w)
        if words:
            st.caption(words)
    return slot


def _rows(specs: list[FieldSpec]) -> Iterator[list[FieldSpec]]:
    """Consecutive fields with the same ``row`` together; every other field alone."""
    for row, group in groupby(specs, key=lambda s: s.row or f"\0{s.path}"):
        yield list(group)
        del row


def _draw(specs: list[FieldSpec], connector_type: str, flags: dict[str, list[str]],
          put: Callable[[FieldSpec, DeltaGenerator], None]) -> None:
    for row in _rows(specs):
        if len(row) == 1:
            put(row[0], render_field(row[0], connector_type, flags))
            continue
        # Side by side; a number (a port) needs less room than a name.
        weights = [1 if s.kind in ("integer", "number") else 3 for s in row]
        for spec, column in zip(row, st.columns(weights), strict=True):
            with column:
                put(spec, render_field(spec, connector_type, flags))


def _picked(section: Section, connector_type: str) -> set[str]:
    """Names of the fields hidden because another option of their choice is picked."""
    hidden: set[str] = set()
    for choice in section.choices:
        labels = [label for label, _ in choice.options]
        key = choice_key(connector_type, section.hook, choice.name)
        if st.session_state.get(key) not in labels:
            # The first option whose fields already hold a value (a pasted URI, a saved connection), else the first.
            filled = [label for label, names in choice.options
                      if any(_has_value(connector_type, section, n) for n in names)]
            st.session_state[key] = filled[0] if filled else labels[0]
        chosen = st.session_state[key]
        for label, names in choice.options:
            if label != chosen:
                hidden.update(n for n in names if n not in dict(choice.options).get(chosen, ()))
    return hidden


def _has_value(connector_type: str, section: Section, name: str) -> bool:
    prefix = f"hooks_params.{section.hook}." if section.hook else ""
    value = st.session_state.get(widget_key(connector_type, prefix + name))
    return value not in (None, "") or bool(st.session_state.get(file_key(connector_type, prefix + name)))


def render_section(section: Section, connector_type: str, flags: dict[str, list[str]], form: Form) -> None:
    """Draw one section (rows, choices, an Advanced expander) and note its fields in ``form``."""
    hidden = _picked(section, connector_type)
    in_choice = {name: choice for choice in section.choices for name in choice.fields()}

    def put(spec: FieldSpec, slot: DeltaGenerator) -> None:
        form.slots[spec.path], form.specs[spec.path] = slot, spec
        form.fields.append((spec, section.hook))

    plain = [s for s in section.fields if not s.advanced]
    advanced = [s for s in section.fields if s.advanced and s.name not in hidden]
    drawn_choices: set[str] = set()
    pending: list[FieldSpec] = []
    for spec in plain:  # hidden fields too: a choice is drawn where its first field stands
        choice = in_choice.get(spec.name)
        if choice is not None and choice.name not in drawn_choices:
            _draw(pending, connector_type, flags, put)
            pending = []
            drawn_choices.add(choice.name)
            st.radio(
                escape_md(choice.label),
                [label for label, _ in choice.options],
                key=choice_key(connector_type, section.hook, choice.name),
                horizontal=True,
                persist_state="session",  # the option picked stays when another page is opened, as the fields do
            )
        if spec.name not in hidden:
            pending.append(spec)
    _draw(pending, connector_type, flags, put)
    if advanced:
        flagged = any(s.path in flags for s in advanced)
        with st.expander("Advanced", icon=":material/tune:", expanded=flagged):
            _draw(advanced, connector_type, flags, put)


ENTER_RUNS = """<script>
(() => {
  // Enter in a field of the form presses Test, as in any form on the web. Once per page.
  const doc = window.parent && window.parent.document ? window.parent.document : document;
  if (doc.__wizardEnterRunsTest) return;
  doc.__wizardEnterRunsTest = true;
  doc.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing || event.shiftKey) return;
    const target = event.target;
    if (!(target instanceof doc.defaultView.HTMLInputElement)) return;
    if (!target.closest('[class*="st-key-fld-w-"]')) return;
    const button = doc.querySelector(".st-key-test button");
    if (!button) return;
    // After the field commits its value (on Enter), so the test sends what was typed.
    setTimeout(() => button.click(), 150);
  }, true);
})();
</script>"""


def enter_runs_test() -> None:
    """Enter in any field of the form presses **Test** (a small script, added once per page)."""
    st.html(ENTER_RUNS, unsafe_allow_javascript=True)


def render_form(
    connector_type: str,
    is_source: bool,
    forms: Forms,
    flags: dict[str, list[str]] | None = None,
) -> Form:
    """Draw the whole form for ``connector_type`` and return the body it describes."""
    flags = flags or {}
    form = Form(connector_type, {"connector_type": connector_type, "is_source": is_source})
    render_section(connector_section(forms, connector_type), connector_type, flags, form)

    hooks = connector_hooks(forms, connector_type)
    if hooks:
        st.markdown("### Connection options")
    for hook in hooks:
        info = forms.hooks.get(hook)
        with st.container(key=f"sec-{hook_key(connector_type, hook)}", gap=None):
            on = st.toggle(escape_md(forms.hook_label(hook)), key=hook_key(connector_type, hook), persist_state="session")
            slot = st.empty()
            form.slots[f"hooks_params.{hook}"] = slot
            if f"hooks_params.{hook}" in flags:
                show_flag(slot, flags[f"hooks_params.{hook}"])
            if info and info.help:
                st.caption(escape_md(info.help))
        if not on:
            continue
        form.hooks_on.append(hook)
        with st.container(border=True, key=f"box-{hook_key(connector_type, hook)}"):
            render_section(hook_section(forms, connector_type, hook), connector_type, flags, form)
    form.body, form.secret_paths = form.read()
    return form
