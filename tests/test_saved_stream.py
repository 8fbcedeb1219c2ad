"""``POST /api/v1/database_connections/{id}/test/stream/``: a saved connection's test, streamed as ``test/stream/``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI

from backend.main import create_app
from backend.settings import Settings
from tests.conftest import DB, make_settings
from tests.servers.api import serve as serve_app
from tests.servers.common import LOOPBACK

SAVED = "/api/v1/database_connections/"
NDJSON = "application/x-ndjson"
DEADLINE_S = 3.0
KEY_A = Fernet.generate_key().decode()


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON) and response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def check_shape(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The stream's contract (as ``test/stream/``'s): every stage once, in order, begun before it settles, then
    exactly one verdict, last, whose stages are those told; returns the verdict's message."""
    kinds = [e["event"] for e in events]
    assert kinds.count("verdict") == 1 and kinds[-1] == "verdict", kinds
    message: dict[str, Any] = events[-1]["message"]
    assert [e["stage"] for e in events if e["event"] == "stage"] == message["payload"]["stages"]
    started = [e["stage"]["name"] for e in events if e["event"] == "start"]
    assert len(started) == len(set(started))
    return message


def settings(tmp_path: Path) -> Settings:
    return make_settings(database_url=f"sqlite:///{tmp_path}/store/wizard.db", secret_key=KEY_A, test_timeout_s=DEADLINE_S)


@contextlib.contextmanager
def serve(tmp_path: Path) -> Iterator[tuple[httpx.Client, FastAPI]]:
    app = create_app(settings(tmp_path))
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=15) as http:
        yield http, app


def save(http: httpx.Client, body: dict[str, Any], name: str) -> str:
    made = http.post(SAVED, json={"name": name, "description": None, "connection": body})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def pg(db: DB, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": db.host, "port": db.port, "database": db.database,
            "username": db.user, "password": db.password, **overrides}


def test_the_saved_test_streams_like_test_stream_and_keeps_its_verdict(tmp_path: Path, postgres: DB,
                                                                      closed_port: int) -> None:
    with serve(tmp_path) as (http, _):
        good = save(http, pg(postgres), "good")
        streamed = http.post(f"{SAVED}{good}/test/stream/")
        assert streamed.headers["cache-control"] == "no-store"
        message = check_shape(lines_of(streamed))
        assert message["code"] == "CONNECTION_SUCCESSFUL"
        plain = http.post(f"{SAVED}{good}/test/").json()
        assert [s["name"] for s in message["payload"]["stages"]] == [s["name"] for s in plain["payload"]["stages"]]
        assert postgres.password not in streamed.text
        closed = save(http, pg(postgres, host=LOOPBACK, port=closed_port), "closed")
        message = check_shape(lines_of(http.post(f"{SAVED}{closed}/test/stream/")))
        assert message["code"] == "PORT_CLOSED"
        last = http.get(f"{SAVED}{closed}/").json()["last_test"]
        assert (last["code"], last["title"], last["elapsed_ms"]) == (
            "PORT_CLOSED", message["title"], message["payload"]["elapsed_ms"])


def test_an_unknown_id_is_404_before_any_line(tmp_path: Path) -> None:
    with serve(tmp_path) as (http, _):
        missing = http.post(f"{SAVED}{'x' * 22}/test/stream/")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
        assert missing.json()["code"] == "NOT_FOUND"


def test_a_cancelled_stream_keeps_no_verdict(tmp_path: Path, silent_port: int) -> None:
    body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": silent_port, "database": "d",
            "username": "u", "password": "Silent-Canary-Pw-4"}
    with serve(tmp_path) as (http, app):
        made = save(http, body, "silent")
        with http.stream("POST", f"{SAVED}{made}/test/stream/") as response:
            assert response.headers["content-type"].startswith(NDJSON)
            lines = response.iter_lines()  # held in a name: see tests/test_stream.py
            for line in lines:
                if json.loads(line) == {"event": "start", "stage": {"name": "tcp"}}:
                    break
            left = time.monotonic()
        while app.state.service.in_flight and time.monotonic() - left < DEADLINE_S * 2:
            time.sleep(0.02)
        assert app.state.service.in_flight == 0
        assert http.get(f"{SAVED}{made}/").json()["last_test"] is None
