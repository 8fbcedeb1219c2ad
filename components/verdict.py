"""The result of a connection test: the stage timeline (live while the test runs) and the verdict, in plain words."""

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
RUNNING_ICON = ":blue[:material/progress_activity:]"
STOPPED_ICON = ":gray[:material/pause_circle:]"
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
            # A stage passed over on purpose says why (e.g. no SSH tunnel asked for); else it was not reached.
            why = escape_md(str(s["detail"])) if s.get("detail") else "not reached"
            lines.append(f"{icon} :gray[{name} · {why}]")
            continue
        took = duration(s.get("duration_ms"))
        line = f"{icon} **{name}**" + (f" · {took}" if took else "")
        if s.get("detail"):
            line += f" :gray[— {escape_md(str(s['detail']))}]"
        lines.append(line)
    return lines


def running_line(name: str, stopped: bool = False) -> str:
    """The stage under way (or the one the answer stopped at)."""
    label = escape_md(stage_name(name))
    if stopped:
        return f"{STOPPED_ICON} **{label}** :gray[· stopped waiting]"
    return f"{RUNNING_ICON} **{label}** :gray[· in progress…]"


class LiveTimeline:
    """The stages of a running test, drawn into an ``st.status`` as they arrive.

    Pass it as ``ApiClient.test_stream``'s ``on_stage``: each settled stage gets its line (icon,
    name, duration, detail) in ``slot`` (an ``st.empty`` inside the status box), the stage under way
    a line of its own, and the box's label says what the test is doing.
    """

    def __init__(self, slot: Any, status: Any, label: str) -> None:
        self.slot, self.status, self.label = slot, status, label
        self.stages: dict[str, dict[str, Any]] = {}
        self.running: str | None = None

    @property
    def received(self) -> int:
        return len(self.stages) + (1 if self.running else 0)

    def __call__(self, event: str, stage: dict[str, Any]) -> None:
        name = str(stage.get("name") or "?")
        if event == "start":
            self.running = name
        else:
            self.stages[name] = stage
            if self.running == name:
                self.running = None
        self.draw()
        now = f"{self.label}: {stage_name(self.running)}…" if self.running else f"{self.label}…"
        self.status.update(label=now, expanded=True)  # an update without ``expanded`` folds the box

    def draw(self, stopped: bool = False) -> None:
        lines = stage_lines(list(self.stages.values()))
        if self.running and self.running not in self.stages:
            lines.append(running_line(self.running, stopped))
        if lines:
            self.slot.markdown("  \n".join(lines))

    def stop(self) -> None:
        """The answer never came: the stage under way is shown as where the wait stopped."""
        if self.received:
            self.draw(stopped=True)
        else:
            self.slot.empty()


def status_state(kind: str | None) -> Literal["complete", "error"]:
    return "complete" if kind in ("success", "warning", "info") else "error"


def render_timeline(message: dict[str, Any], status: Any | None = None, label: str = "Test", slot: Any | None = None) -> None:
    """The stages of a finished test inside ``status`` (an ``st.status``), or a fresh one.

    ``slot`` (an ``st.empty`` in the box, e.g. the live timeline's) is drawn over rather than added to.
    """
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    stages = [s for s in (payload or {}).get("stages") or [] if isinstance(s, dict)]
    elapsed = duration((payload or {}).get("elapsed_ms"))
    title = f"{label}: {message.get('title', '')}" + (f" ({elapsed})" if elapsed else "")
    box = status if status is not None else st.status(title, state=status_state(message.get("kind")), expanded=True)
    with box:
        text = "  \n".join(stage_lines(stages)) if stages else "The API checked the settings before trying to connect."
        (slot if slot is not None else st).markdown(text)
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
