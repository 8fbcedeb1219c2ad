"""The Connections page's health widget with AppTest, on the real API: state and since, expiries,
the timeline of recent verdicts, and the monitor switch (which PATCHes the connection over HTTP)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import DB
from tests.ui.conftest import new_app

pytestmark = pytest.mark.usefixtures("ui_env")
PAGE = "pages/connections.py"
SAVED = "/api/v1/database_connections/"
ROLE, PASSWORD = "ui_expiring", "Ui-Expiring-Pw-5"


def save(url: str, name: str, body: dict[str, Any], monitor: dict[str, int] | None = None) -> str:
    made = httpx.post(f"{url}{SAVED}", json={"name": name, "connection": body, "monitor": monitor}, timeout=10)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def texts(at: Any) -> str:
    return "\n".join([m.value for m in at.markdown] + [w.value for w in at.warning] + [c.value for c in at.caption])


def test_state_expiry_timeline_and_monitor_switch(ui_env: str, postgres: DB, closed_port: int) -> None:
    until = (datetime.now(tz=UTC) + timedelta(days=12, hours=1)).strftime("%Y-%m-%d %H:%M:%S+00")
    with contextlib.suppress(Exception):
        postgres.server.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'", f"GRANT CONNECT ON DATABASE appdb TO {ROLE}")
    postgres.server.sql(f"ALTER ROLE {ROLE} VALID UNTIL '{until}'")
    suffix = datetime.now(tz=UTC).strftime("%H%M%S%f")
    good = save(ui_env, f"expiring {suffix}",
                {**postgres.body("PostgreSQLConnector"), "username": ROLE, "password": PASSWORD})
    broken = save(ui_env, f"broken {suffix}", {**postgres.body("PostgreSQLConnector"), "port": closed_port},
                  monitor={"every_minutes": 1440})
    for cid in (good, broken):
        assert httpx.post(f"{ui_env}{SAVED}{cid}/test/", timeout=30).status_code == 200

    at = new_app(PAGE)
    shown = texts(at)
    assert "Warning" in shown and "Password expires in 12 days" in shown
    assert "Failing" in shown and " since " in shown
    # A failing connection opens on its recent verdicts, and its last verdict says where it broke.
    assert f"history-{broken}" in {t.key for t in at.toggle} and at.toggle(key=f"history-{broken}").value
    assert "PORT_CLOSED" in shown
    assert at.toggle(key=f"monitor-{broken}").value is True
    assert at.number_input(key=f"monitor-every-{broken}").value == 1440
    assert at.toggle(key=f"monitor-{good}").value is False

    at.number_input(key=f"monitor-every-{good}").set_value(30).run()
    at.toggle(key=f"monitor-{good}").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert httpx.get(f"{ui_env}{SAVED}{good}/", timeout=10).json()["monitor"] == {"every_minutes": 30}
    at.toggle(key=f"monitor-{broken}").set_value(False).run()
    assert httpx.get(f"{ui_env}{SAVED}{broken}/", timeout=10).json()["monitor"] is None
    for cid in (good, broken):
        httpx.delete(f"{ui_env}{SAVED}{cid}/", timeout=10)
