"""A saved connection's health on the Connections page: its state and since when, what will expire,
a small timeline of its recent verdicts, and the monitor switch with its interval.

Everything comes from the API over HTTP (``health/``, ``{id}/history/``, ``PATCH {id}/``) through
``components/api_client.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from components.api_client import ApiClient, ApiProblem
from components.form import escape_md

STATE_MARK = {
    "ok": ":green-badge[:material/check_circle: OK]",
    "warning": ":orange-badge[:material/warning: Warning]",
    "failing": ":red-badge[:material/cancel: Failing]",
    "unknown": ":gray-badge[:material/help: Not tested yet]",
}
WHAT = {"tls_certificate": "Certificate", "password": "Password"}
EVERY_DEFAULT = 15
FLASH = "saved_flash"


def load_health(api: ApiClient) -> dict[str, dict[str, Any]]:
    """Every connection's health by id (empty when the API has none to give: the page still works)."""
    try:
        return {str(item.get("id")): item for item in api.health()}
    except ApiProblem:
        return {}


def when(iso: str | None) -> str:
    """``2026-12-07 08:00 UTC`` from an ISO 8601 UTC time."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def expiry_text(item: dict[str, Any]) -> str:
    """``Certificate expires in 12 days`` (or ``expired 3 days ago``, ``expires today``)."""
    what = WHAT.get(str(item.get("what")), str(item.get("what")))
    days = int(item.get("days_left") or 0)
    if days < 0:
        return f"{what} expired {-days} day{'s' if -days != 1 else ''} ago"
    if days == 0:
        return f"{what} expires today"
    return f"{what} expires in {days} day{'s' if days != 1 else ''}"


def _set_monitor(api: ApiClient, connection_id: str, name: str, toggle_key: str, every_key: str) -> None:
    on = bool(st.session_state.get(toggle_key))
    every = int(st.session_state.get(every_key) or EVERY_DEFAULT)
    try:
        api.update_saved(connection_id, {"monitor": {"every_minutes": every} if on else None})
    except ApiProblem as problem:
        st.session_state[FLASH] = ("error", f"**{escape_md(name)}**: {escape_md(problem.title)}. {escape_md(problem.body)}")
        return
    st.session_state[FLASH] = ("success", f"**{escape_md(name)}** is now tested every {every} minutes."
                               if on else f"**{escape_md(name)}** is no longer monitored.")


def render_health(api: ApiClient, saved: dict[str, Any], health: dict[str, Any] | None) -> None:
    """The health of one saved connection, inside its box on the Connections page."""
    connection_id = str(saved["id"])
    name = str(saved.get("name"))
    state = str((health or {}).get("state") or "unknown")
    since = (health or {}).get("since")
    line = STATE_MARK.get(state, state) + (f" since {when(since)}" if since and state != "unknown" else "")
    p50, p95 = (health or {}).get("elapsed_ms_p50"), (health or {}).get("elapsed_ms_p95")
    if p50 is not None:
        line += f" · :gray[{p50} ms typical, {p95} ms slowest (7 days)]"
    st.markdown(line)
    for item in (health or {}).get("expires") or []:
        text = expiry_text(item)
        days = int(item.get("days_left") or 0)
        (st.warning if days <= 14 else st.caption)(f"{text} ({when(item.get('at'))})")

    monitor = saved.get("monitor") or (health or {}).get("monitor")
    toggle_key, every_key = f"monitor-{connection_id}", f"monitor-every-{connection_id}"
    left, right = st.columns([1, 1], vertical_alignment="center")
    left.toggle("Monitor", value=bool(monitor), key=toggle_key,
                help="The server tests this connection on a schedule and alerts when its state changes.",
                on_change=_set_monitor, args=(api, connection_id, name, toggle_key, every_key))
    right.number_input("Every (minutes)", min_value=1, max_value=1440, step=5, key=every_key,
                       value=int(monitor["every_minutes"]) if monitor else EVERY_DEFAULT,
                       on_change=_set_monitor if monitor else None,
                       args=(api, connection_id, name, toggle_key, every_key) if monitor else None)

    if state == "unknown":
        return
    if st.toggle("Recent verdicts", key=f"history-{connection_id}", value=state == "failing"):
        _timeline(api, connection_id, state)


def _timeline(api: ApiClient, connection_id: str, state: str) -> None:
    try:
        entries = api.history(connection_id, page_size=30)
    except ApiProblem as problem:
        st.caption(f"The history cannot be shown: {escape_md(problem.title)}.")
        return
    if not entries:
        return
    rows = [{"at": e.get("at"), "elapsed_ms": e.get("elapsed_ms") or 0, "verdict": _kind(e), "code": e.get("code"),
             "by": e.get("trigger")} for e in entries]
    try:
        import altair as alt
        import pandas as pd

        frame = pd.DataFrame(rows)
        frame["at"] = pd.to_datetime(frame["at"])
        chart = alt.Chart(frame).mark_circle(size=70).encode(
            x=alt.X("at:T", title=None), y=alt.Y("elapsed_ms:Q", title="ms"),
            color=alt.Color("verdict:N", scale=alt.Scale(domain=["ok", "warning", "failing"],
                                                         range=["#2e7d32", "#ef6c00", "#c62828"])),
            tooltip=["at:T", "code:N", "elapsed_ms:Q", "by:N"],
        ).properties(height=140)
        st.altair_chart(chart, width="stretch")
    except ImportError:  # pragma: no cover - altair and pandas come with Streamlit
        pass
    latest = entries[0]
    if state == "failing":
        # The last verdict, stage by stage: where it broke.
        st.markdown(f"**Last verdict** ({when(str(latest.get('at')))}): `{latest.get('code')!s}` — "
                    f"{escape_md(str(latest.get('title')))}")
        for stage in latest.get("stages") or []:
            if stage.get("status") in ("failed", "warning"):
                st.caption(f"{escape_md(str(stage.get('name')))}: {escape_md(str(stage.get('detail') or stage.get('status')))}")
    st.dataframe([{"when": when(str(r["at"])), "verdict": r["code"], "ms": r["elapsed_ms"], "by": r["by"]} for r in rows],
                 hide_index=True, height=180)


def _kind(entry: dict[str, Any]) -> str:
    if entry.get("code") == "CONNECTION_SUCCESSFUL":
        return "warning" if entry.get("kind") == "warning" else "ok"
    return "failing"
