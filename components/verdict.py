"""The result of a connection test: the stage timeline (live while it runs) and the verdict, plain words first.

What a person reads, in order: one sentence saying what happened (the verdict's title) and what
to do (its body: the API keeps the driver's own words out of it), then the fields to fix (also
flagged in place on the form), then — folded away in **Technical details** — the code, each
stage's detail and the driver's words, once. The stages are drawn as the API settled them: it
marks the stage a deadline hit as the failed one, and an unchecked certificate as a warning.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Literal

import streamlit as st

from components.form import escape_md
from components.session import stop_for_a_click
from components.words import readable, stage_name

STAGE_ICONS = {
    "passed": ":green[:material/check_circle:]",
    "failed": ":red[:material/cancel:]",
    "warning": ":orange[:material/warning:]",
    "skipped": ":gray[:material/radio_button_unchecked:]",
}
RUNNING_ICON = ":blue[:material/progress_activity:]"
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
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{int(ms)} ms"


def stages_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    return [s for s in (payload or {}).get("stages") or [] if isinstance(s, dict)]


def stage_line(stage: dict[str, Any]) -> str:
    """One stage in plain words: icon, name, and how it went; its detail goes to Technical details."""
    status = str(stage.get("status") or "skipped")
    icon = STAGE_ICONS.get(status, ":gray[:material/help:]")
    name = escape_md(stage_name(str(stage.get("name") or "?")))
    if status == "skipped":
        why = "not needed" if stage.get("detail") else "not reached"
        return f"{icon} :gray[{name} · {why}]"
    took = duration(stage.get("duration_ms"))
    word = {"failed": "failed here", "warning": "see below", "passed": "passed"}.get(status, "")
    extra = " · ".join(w for w in (took, word) if w)
    return f"{icon} **{name}**" + (f" :gray[· {extra}]" if extra else "")


class LiveTimeline:
    """The stages of a running test, drawn into ``slot`` as they arrive, with the time it has been waiting.

    Pass it as ``ApiClient.test_stream``'s ``on_stage``, and its :meth:`tick` as ``tick``: every
    tick redraws the elapsed time, and every tick and stage is where the run stops for a **Cancel** (a click
    elsewhere stops it there by itself; a click inside the running fragment needs :func:`stop_for_a_click`).

    With ``frame`` (instead of ``slot`` and ``clock``), the box is drawn only once the test has taken ``quiet_s``:
    ``frame()`` draws it and returns its ``(clock, slot)``. A test that ends sooner shows its verdict alone, without
    a box drawn and taken away in the meantime (each is sent to the browser and laid out, before the verdict).
    """

    def __init__(self, slot: Any, clock: Any, label: str, deadline_s: float, *,
                 frame: Callable[[], tuple[Any, Any]] | None = None, quiet_s: float = 0.0) -> None:
        self.slot, self.clock, self.label, self.deadline_s = slot, clock, label, deadline_s
        self.frame, self.quiet_s = frame, quiet_s
        self.stages: dict[str, dict[str, Any]] = {}
        self.running: str | None = None
        self.started = time.monotonic()
        self.waits: dict[str, float] = {}
        """Seconds between each stage's start and its settling, as this page saw them."""
        self._began: dict[str, float] = {}

    def __call__(self, event: str, stage: dict[str, Any]) -> None:
        stop_for_a_click()
        name = str(stage.get("name") or "?")
        now = time.monotonic()
        if event == "start":
            self.running = name
            self._began[name] = now
        else:
            self.stages[name] = stage
            if name in self._began:
                self.waits[name] = now - self._began[name]
            if self.running == name:
                self.running = None
        self.draw()

    @property
    def waited_on(self) -> str | None:
        """The stage under way now, else the one this page waited longest for (where a deadline hit)."""
        if self.running:
            return self.running
        return max(self.waits, key=lambda n: self.waits[n]) if self.waits else None

    def _shown(self) -> bool:
        """Whether the box is on screen (drawn now if ``quiet_s`` has passed)."""
        if self.slot is not None:
            return True
        if self.frame is None or time.monotonic() - self.started < self.quiet_s:
            return False
        self.clock, self.slot = self.frame()
        self.draw()
        return True

    def tick(self) -> None:
        stop_for_a_click()
        if not self._shown():
            return
        waited = time.monotonic() - self.started
        doing = f" — {stage_name(self.running).lower()}" if self.running else ""
        self.clock.markdown(
            f":blue[:material/timer:] **{escape_md(self.label)}{escape_md(doing)}** · {waited:.1f} s "
            f":gray[(gives up after about {self.deadline_s:g} s)]"
        )

    def draw(self) -> None:
        if not self._shown():
            return
        lines = [stage_line(s) for s in self.stages.values()]
        if self.running and self.running not in self.stages:
            lines.append(f"{RUNNING_ICON} **{escape_md(stage_name(self.running))}** :gray[· in progress…]")
        if lines:
            self.slot.markdown("  \n".join(lines))


def status_state(kind: str | None) -> Literal["complete", "error"]:
    return "complete" if kind in ("success", "warning", "info") else "error"


def unverified_tls(message: dict[str, Any]) -> bool:
    """A working connection whose encryption did not check the server's certificate."""
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    tls = (payload or {}).get("tls")
    return isinstance(tls, dict) and tls.get("enabled") is True and tls.get("verified") is False


def render_timeline(stages: list[dict[str, Any]], title: str, kind: str | None) -> None:
    """The stages of a finished test, in a box that starts folded on success."""
    with st.status(title, state=status_state(kind), expanded=kind != "success"):
        st.markdown("  \n".join(stage_line(s) for s in stages) if stages else "The settings were checked before connecting.")


def render_verdict(
    message: dict[str, Any],
    label_of: Any,
    unplaced: list[str] | None = None,
) -> None:
    """The verdict: one plain sentence and the action, the fields to fix, then Technical details (folded).

    ``label_of`` turns a field path of ``details`` into the form's label for it.
    """
    kind = str(message.get("kind") or "info")
    body = str(message.get("body") or "").strip()
    if message.get("code") == "CONNECTION_SUCCESSFUL":  # the headline follows the code: a success reads as one
        render_success(message)
        render_technical(message)
        return
    box = KIND_BOX.get(kind, st.info)
    box(f"**{escape_md(str(message.get('title', '')))}**" + (f"\n\n{escape_md(body)}" if body else ""),
        icon=KIND_ICON.get(kind))
    details = message.get("details") if isinstance(message.get("details"), dict) else {}
    if details:
        lines = []
        for path, messages in details.items():
            text = " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
            where = " :gray[(not on the form)]" if unplaced and path in unplaced else " :gray[(marked on the form)]"
            lines.append(f"- **{escape_md(label_of(path))}**{where}: {escape_md(text)}")
        st.markdown("**What to fix**\n" + "\n".join(lines))
    render_technical(message)


def sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z'\"(])", text.strip()) if p.strip()]


def headline(message: dict[str, Any]) -> tuple[str, str]:
    """A success in two sentences at most: "Connected to <the database>", and where and as whom."""
    title = str(message.get("title") or "Connected").split(", but ", 1)[0]
    said = sentences(str(message.get("body") or ""))
    where = next((x for x in said if x.startswith("Connected to")), said[0] if said and message.get("kind") == "success" else "")
    return title, where


def render_success(message: dict[str, Any]) -> None:
    """Green, two sentences at most; an unchecked certificate is a secondary line, not the headline."""
    title, where = headline(message)
    st.success(f"**{escape_md(title)}**" + (f"  \n{escape_md(where)}" if where else ""), icon=":material/check_circle:")
    if unverified_tls(message):
        st.markdown(":orange[:material/gpp_maybe:] **Not checked: the server's certificate.** "
                    ":gray[The link is encrypted, but without the CA certificate that signed the server's certificate "
                    "the wizard cannot be sure it reached the real server.]")


FACT_WORDS = {"enabled": "encrypted", "verified": "certificate checked", "hostname_verified": "host name checked"}
"""``payload`` keys whose readable form would still be jargon (``hostname verified: False``)."""


def fact(key: str, value: Any) -> str:
    """One fact of ``payload.server``/``tls``/``ssh`` in words: ``host name checked: no``; a nested one
    (the SSH host key) as words too, never as a Python dict."""
    if isinstance(value, bool):
        shown: Any = "yes" if value else "no"
    elif isinstance(value, dict):
        shown = "; ".join(fact(str(k), v) for k, v in value.items() if v is not None)
    elif isinstance(value, list):
        shown = "; ".join(fact("", v).removeprefix(": ") if isinstance(v, (dict, list)) else str(v) for v in value)
    else:
        shown = value
    return f"{FACT_WORDS.get(key, readable(key).lower())}: {shown}" if key else f": {shown}"


def render_technical(message: dict[str, Any]) -> None:
    """Everything a specialist may want, once: the code, each stage's detail, what the server reported."""
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    lines = [f"- Verdict code: `{message.get('code') or '?'}`"]  # in code: shown as it is, no escaping
    if message.get("code") == "CONNECTION_SUCCESSFUL" and message.get("body"):
        lines.append(f"- What the server said: {escape_md(str(message['body']))}")
    elapsed = duration((payload or {}).get("elapsed_ms"))
    if elapsed:
        lines.append(f"- The test took {elapsed}")
    for stage in stages_of(message):
        if stage.get("detail"):
            lines.append(f"- {escape_md(stage_name(str(stage.get('name'))))}: {escape_md(str(stage['detail']))}")
    for section in ("server", "tls", "ssh"):
        values = (payload or {}).get(section)
        if isinstance(values, dict) and values:
            facts = ", ".join(fact(str(k), v) for k, v in values.items() if v is not None and v != [] and v != {})
            lines.append(f"- {'Encryption' if section == 'tls' else section.upper() if section == 'ssh' else 'Server'}: "
                         f"{escape_md(facts)}")
    with st.expander("Technical details", icon=":material/code:", expanded=False):
        st.markdown("\n".join(lines))
