"""The result of a connection test: the stage timeline and the verdict, in plain words."""

from __future__ import annotations

from typing import Any, Literal

import streamlit as st

from components.form import escape_md
from components.names import path_label, stage_name

STAGE_ICONS = {
    "passed": ":green[:material/check_circle:]",
    "failed": ":red[:material/cancel:]",
    "warning": ":orange[:material/warning:]",
    "skipped": ":gray[:material/radio_button_unchecked:]",
}
KIND_BOX = {"success": st.success, "error": st.error, "warning": st.warning, "info": st.info}
KIND_ICON = {
    "success": ":material/check_circle:",
    "error": ":material/error:",
    "warning": ":material/warning:",
    "info": ":material/info:",
}


def duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return ""
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{int(ms)} ms"


def stage_lines(stages: list[dict[str, Any]]) -> list[str]:
    lines = []
    for s in stages:
        status = str(s.get("status") or "skipped")
        icon = STAGE_ICONS.get(status, ":gray[:material/help:]")
        name = escape_md(stage_name(str(s.get("name") or "?")))
        if status == "skipped":
            lines.append(f"{icon} :gray[{name} · not reached]")
            continue
        took = duration(s.get("duration_ms"))
        line = f"{icon} **{name}**" + (f" · {took}" if took else "")
        if s.get("detail"):
            line += f" :gray[— {escape_md(str(s['detail']))}]"
        lines.append(line)
    return lines


def status_state(kind: str | None) -> Literal["complete", "error"]:
    return "complete" if kind in ("success", "warning", "info") else "error"


def render_timeline(message: dict[str, Any], status: Any | None = None, label: str = "Test") -> None:
    """The stages of a finished test inside ``status`` (an ``st.status``), or a fresh one."""
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    stages = [s for s in (payload or {}).get("stages") or [] if isinstance(s, dict)]
    elapsed = duration((payload or {}).get("elapsed_ms"))
    title = f"{label}: {message.get('title', '')}" + (f" ({elapsed})" if elapsed else "")
    box = status if status is not None else st.status(title, state=status_state(message.get("kind")), expanded=True)
    with box:
        if stages:
            st.markdown("  \n".join(stage_lines(stages)))
        else:
            st.markdown("The API checked the settings before trying to connect.")
    if status is not None:
        status.update(label=title, state=status_state(message.get("kind")), expanded=True)


def render_verdict(message: dict[str, Any], unplaced: list[str] | None = None) -> None:
    """Title and body of the verdict, what to fix per field, and the server facts."""
    kind = str(message.get("kind") or "info")
    box = KIND_BOX.get(kind, st.info)
    box(f"**{escape_md(str(message.get('title', '')))}**\n\n{escape_md(str(message.get('body', '')))}", icon=KIND_ICON.get(kind))
    details = message.get("details") if isinstance(message.get("details"), dict) else {}
    if details:
        st.markdown("**What to fix**")
        lines = []
        for path, messages in details.items():
            text = " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
            marker = "" if unplaced is None or path not in unplaced else " :gray[(not on the form)]"
            lines.append(f"- **{escape_md(path_label(path))}**{marker}: {escape_md(text)}")
        st.markdown("\n".join(lines))
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    facts = {k: v for k, v in (payload or {}).items() if k in ("server", "tls", "ssh") and v}
    if facts:
        with st.expander("What the server told us", icon=":material/dns:"):
            for section, values in facts.items():
                st.markdown(f"**{section.upper() if section != 'server' else 'Server'}**")
                if isinstance(values, dict):
                    st.markdown("\n".join(f"- {escape_md(str(k))}: {escape_md(str(v))}" for k, v in values.items()))
                else:
                    st.markdown(escape_md(str(values)))
