"""Helpers of the AppTest tests: find the form's widgets and fill them in."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest

from components.form import hook_key, widget_key
from components.metadata import Forms, connector_section, hook_section


def widget_keys(at: AppTest) -> set[str]:
    keys: set[str] = set()
    for kind in ("text_input", "number_input", "checkbox", "selectbox", "text_area", "toggle", "radio"):
        keys.update(str(w.key) for w in at.get(kind) if getattr(w, "key", None))
    return keys


def field_keys(at: AppTest, connector_type: str) -> set[str]:
    """The field paths of ``connector_type`` on screen (``host``, ``hooks_params.SSL.ca``, …)."""
    prefix = f"w-{connector_type}-"
    return {k[len(prefix):].replace("-", ".") for k in widget_keys(at) if k.startswith(prefix)}


def shown_fields(forms: Forms, connector_type: str, hook: str | None = None) -> set[str]:
    """The field paths a section shows at first: every field but those of an alternative's other options."""
    section = hook_section(forms, connector_type, hook) if hook else connector_section(forms, connector_type)
    hidden = {name for choice in section.choices for _, names in choice.options[1:] for name in names
              if name not in choice.options[0][1]}
    return {spec.path for spec in section.fields if spec.name not in hidden}


def choose(at: AppTest, connector_type: str, *, destination: bool = False) -> AppTest:
    at.button_group(key="direction").set_value("destination" if destination else "source").run()
    at.selectbox(key="connector").set_value(connector_type).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fill(at: AppTest, connector_type: str, values: dict[str, Any]) -> AppTest:
    """Type ``values`` (field path → value) into the form, then rerun."""
    for path, value in values.items():
        key = widget_key(connector_type, path)
        node = at.get_by_key(key)
        node.set_value(value)  # type: ignore[union-attr]
    return at.run()


def toggle_hook(at: AppTest, connector_type: str, hook: str, on: bool = True) -> AppTest:
    at.toggle(key=hook_key(connector_type, hook)).set_value(on).run()
    return at


def press_test(at: AppTest) -> AppTest:
    at.button(key="test").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def field_block(at: AppTest, connector_type: str, path: str) -> Any:
    return at.get_by_key(f"fld-{widget_key(connector_type, path)}")


def flags_of(at: AppTest, connector_type: str, path: str) -> list[str]:
    """The flag texts shown under a field (markdown carrying the error icon)."""
    block = field_block(at, connector_type, path)
    return [m.value for m in block.markdown if ":material/error:" in m.value]


def curl_body(code: str) -> dict[str, Any]:
    """The JSON body of the API page's curl snippet."""
    body = code.split("<<'JSON'\n", 1)[1].rsplit("\nJSON", 1)[0]
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def all_text(at: AppTest) -> str:
    """Every piece of text on the page, for secret leak checks."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "code", "error", "warning", "success", "info", "title", "header", "subheader", "text"):
        parts.extend(str(getattr(e, "value", "")) for e in at.get(kind))
    parts.extend(s.label for s in at.status)
    return "\n".join(parts)
