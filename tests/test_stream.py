"""``POST /api/v1/database_connections/test/stream/``: the stages as NDJSON lines while the test runs, then the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.connectors import registry
from backend.connectors.base import DATABASE_STAGES
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Deadline, Diagnosis, Failure, Stage
from backend.main import create_app
from backend.security.secrets import MASK
from backend.settings import Settings
from tests.conftest import DB, NASTY_PASSWORD, TEST_API, make_settings
from tests.helpers import (
    CERT,
    KEY,
    Captured,
    auth_settings,
    base_body,
    leftovers,
    login,
    redirect_tmp,
    secrets_in,
    wait_until,
    wall_bound,
)
from tests.servers.api import serve as serve_app
from tests.servers.common import LOOPBACK

STREAM_API = "/api/v1/database_connections/test/stream/"
NDJSON = "application/x-ndjson"
DEADLINE_S = 3.0  # the suite's test deadline (make_settings)


def pg_body(db: DB, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": db.host, "port": db.port, "database": db.database,
            "username": db.user, "password": db.password, **overrides}


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def check_shape(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The stream's contract; returns the verdict's message."""
    kinds = [e["event"] for e in events]
    assert kinds.count("verdict") == 1 and kinds[-1] == "verdict", kinds
    message: dict[str, Any] = events[-1]["message"]
    settled = [e["stage"] for e in events if e["event"] == "stage"]
    # Every stage once, in stage order, exactly as the verdict records them.
    assert settled == message["payload"]["stages"]
    started = [e["stage"]["name"] for e in events if e["event"] == "start"]
    assert len(started) == len(set(started)), "each stage begins once"
    for name in started:
        begun = events.index({"event": "start", "stage": {"name": name}})
        told = next(i for i, e in enumerate(events) if e["event"] == "stage" and e["stage"]["name"] == name)
        assert begun < told, f"{name} begins before it settles"
    return message


@pytest.fixture
def legacy_and_stream(client: TestClient) -> Any:
    """Run a body through ``test/`` and ``test/stream/``; return both messages."""

    def run(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        plain = client.post(TEST_API, json=body)
        assert plain.status_code == 200, plain.text
        events = lines_of(client.post(STREAM_API, json=body))
        return plain.json(), check_shape(events), events

    return run


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    """A verdict without what changes from run to run (durations, timings, ports of the relay)."""
    payload = dict(message["payload"])
    payload.pop("elapsed_ms")
    payload["stages"] = [{**s, "duration_ms": s["duration_ms"] is not None} for s in payload["stages"]]
    body = message["body"].split(" The test took ")[0]
    return {**message, "payload": payload, "body": body}


# --- the stream's contract ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("success", "CONNECTION_SUCCESSFUL"),
        ("wrong password", "AUTHENTICATION_FAILED"),
        ("unknown database", "DATABASE_NOT_FOUND"),
        ("closed port", "PORT_CLOSED"),
        ("unknown host", "HOST_NOT_FOUND"),
        ("unknown protocol", "INVALID_PARAMETERS"),
    ],
)
def test_stages_in_order_then_the_same_verdict_as_test(
    legacy_and_stream: Any, postgres: DB, closed_port: int, case: str, code: str
) -> None:
    changes: dict[str, dict[str, Any]] = {
        "success": {},
        "wrong password": {"password": "not-the-password"},
        "unknown database": {"database": "no_such_db"},
        "closed port": {"port": closed_port},
        "unknown host": {"host": "db.example.invalid"},
        "unknown protocol": {"protocol": "gopher"},
    }
    body = pg_body(postgres, schema_name="sales", **changes[case])
    plain, streamed, events = legacy_and_stream(body)
    assert streamed["code"] == plain["code"] == code
    assert comparable(streamed) == comparable(plain)
    assert [s["name"] for s in streamed["payload"]["stages"]] == list(DATABASE_STAGES)
    started = [e["stage"]["name"] for e in events if e["event"] == "start"]
    assert started[0] == "parameters" and started == sorted(started, key=DATABASE_STAGES.index)
    failed = [s["name"] for s in streamed["payload"]["stages"] if s["status"] == "failed"]
    assert (failed == []) == (code == "CONNECTION_SUCCESSFUL")
    if failed:
        # The failing stage's step (a login step covers tls, authentication and database) was the last to begin.
        assert DATABASE_STAGES.index(started[-1]) <= DATABASE_STAGES.index(failed[0])


@pytest.mark.usefixtures("netguard")
@pytest.mark.parametrize("connector_type", list(registry()))
def test_every_connector_streams_its_stages_then_its_verdict(
    connector_type: str, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a connector's stages, the stream tells each once, in order, as its verdict records them;
    none of its canary secrets comes back."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{LOOPBACK}:{closed_port}")
    connector = registry()[connector_type]
    body = base_body(connector, closed_port)
    with TestClient(create_app(make_settings(test_timeout_s=1.0))) as client:
        response = client.post(STREAM_API, json=body)
    message = check_shape(lines_of(response))
    assert [s["name"] for s in message["payload"]["stages"]] == list(connector.stage_names)
    for secret in secrets_in(connector, body):
        assert secret not in response.text


def test_no_secret_in_any_line(client: TestClient, postgres: DB) -> None:
    """PostgreSQL names the user in its refusal: a user name equal to the password is masked in the
    stage detail as in the verdict; the nasty password of the success case never comes back either."""
    canary = "Stream-Canary-Pw-4471"
    response = client.post(STREAM_API, json=pg_body(postgres, username=canary, password=canary))
    events = lines_of(response)
    message = check_shape(events)
    assert message["code"] == "AUTHENTICATION_FAILED"
    assert canary not in response.text
    failed = next(e["stage"] for e in events if e["event"] == "stage" and e["stage"]["status"] == "failed")
    assert MASK in failed["detail"], failed

    ok = client.post(STREAM_API, json=pg_body(postgres))
    assert check_shape(lines_of(ok))["code"] == "CONNECTION_SUCCESSFUL"
    for spelling in (NASTY_PASSWORD, json.dumps(NASTY_PASSWORD)[1:-1]):
        assert spelling not in ok.text


# --- refusals before the test starts: ordinary JSON, as for test/ -------------------------------


def test_an_invalid_body_is_the_same_422_as_for_test(client: TestClient) -> None:
    for body in (
        {"connector_type": "PostgreSQLConnector", "host": "db.example.invalid", "database": "d", "username": "u"},
        {"connector_type": "NoSuchConnector"},
        {"connector_type": "PostgreSQLConnector", "host": "h", "port": "5432", "database": "d", "username": "u",
         "password": "p"},
    ):
        streamed = client.post(STREAM_API, json=body)
        plain = client.post(TEST_API, json=body)
        assert streamed.status_code == plain.status_code == 422
        assert streamed.headers["content-type"] == "application/json"
        assert streamed.json() == plain.json() and streamed.json()["code"] == "INVALID_PARAMETERS"
    broken = client.post(STREAM_API, content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["details"]


def test_authentication_csrf_and_the_rate_limit_as_for_test(tmp_path: Path, closed_port: int) -> None:
    body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": closed_port, "database": "d",
            "username": "u", "password": "Rate-Canary-Pw-9"}
    app = create_app(auth_settings(tmp_path, test_rate_per_minute=2))
    with TestClient(app) as anonymous, TestClient(app) as alice:
        refused = anonymous.post(STREAM_API, json=body)
        assert refused.status_code == 401 and refused.json()["code"] == "NOT_AUTHENTICATED"
        csrf = login(alice)
        no_csrf = alice.post(STREAM_API, json=body)
        assert no_csrf.status_code == 403 == alice.post(TEST_API, json=body).status_code
        headers = {"X-CSRF-Token": csrf}
        assert check_shape(lines_of(alice.post(STREAM_API, json=body, headers=headers)))["code"] == "PORT_CLOSED"
        assert alice.post(TEST_API, json=body, headers=headers).status_code == 200
        # The stream and test/ share one budget per user: the third test of the minute is refused.
        limited = alice.post(STREAM_API, json=body, headers=headers)
        assert limited.status_code == 429 and limited.json()["code"] == "TOO_MANY_REQUESTS"
        assert limited.headers["content-type"] == "application/json"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert alice.post(TEST_API, json=body, headers=headers).status_code == 429


# --- over a real HTTP server: incremental, busy, cancelled ---------------------------------------


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """The app on uvicorn on a loopback port (the in-process TestClient delivers a body only whole)."""
    app = create_app(settings)
    with serve_app(app) as base:
        yield base, app


def silent_body(port: int, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": port, "database": "d",
            "username": "u", "password": "Silent-Canary-Pw-3", **overrides}


def test_a_silent_host_streams_its_first_stages_long_before_the_verdict(silent_port: int) -> None:
    with serve(make_settings(test_timeout_s=DEADLINE_S)) as (base, _), httpx.Client(base_url=base, timeout=10) as http:
        arrivals: list[tuple[float, dict[str, Any]]] = []
        started = time.monotonic()
        with http.stream("POST", STREAM_API, json=silent_body(silent_port)) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith(NDJSON)
            for line in response.iter_lines():
                arrivals.append((time.monotonic() - started, json.loads(line)))
    events = [e for _, e in arrivals]
    message = check_shape(events)
    assert message["code"] == "CONNECTION_TIMEOUT"

    def when(kind: str, name: str) -> float:
        return next(t for t, e in arrivals if e["event"] == kind and e["stage"]["name"] == name)

    verdict_at = arrivals[-1][0]
    # The silent host accepts the connection and never answers: dns and tcp settle at once, the
    # login (the tls step) waits until the deadline.
    # Measured against the verdict's arrival, not the start, so that a slow machine shifts both.
    early = verdict_at - DEADLINE_S / 2
    assert when("stage", "dns") < early and when("start", "tcp") < early
    assert when("stage", "tcp") < early and when("start", "tls") < early, "the first lines were held back"
    failed = next(s for s in message["payload"]["stages"] if s["status"] == "failed")
    assert failed["name"] in ("tls", "authentication") and when("stage", failed["name"]) >= DEADLINE_S - 0.1
    assert message["payload"]["elapsed_ms"] <= (DEADLINE_S + 0.5) * 1000  # the contract, as the server measured it
    assert verdict_at < wall_bound(DEADLINE_S + 0.5)


def test_the_in_flight_limit_answers_503_before_streaming(silent_port: int, closed_port: int) -> None:
    settings = make_settings(max_concurrent_tests=1, test_timeout_s=DEADLINE_S, retry_after_s=4)
    with serve(settings) as (base, app), httpx.Client(base_url=base, timeout=10) as http:
        with http.stream("POST", STREAM_API, json=silent_body(silent_port)) as holding:
            lines = holding.iter_lines()
            first = json.loads(next(lines))
            assert first == {"event": "start", "stage": {"name": "parameters"}}
            assert app.state.service.in_flight == 1
            for path in (STREAM_API, TEST_API):
                busy = http.post(path, json=silent_body(closed_port))
                assert busy.status_code == 503, busy.text
                assert busy.headers["content-type"] == "application/json" and busy.headers["retry-after"] == "4"
                assert busy.json()["code"] == "SERVICE_BUSY"
            rest = [json.loads(line) for line in lines]
        assert rest[-1]["message"]["code"] == "CONNECTION_TIMEOUT"
        assert app.state.service.in_flight == 0
        assert check_shape(lines_of(http.post(STREAM_API, json=silent_body(closed_port))))["code"] == "PORT_CLOSED"


def test_a_client_that_goes_away_cancels_the_test_and_its_temp_files(
    silent_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline TLS material is written to a private temp dir at the parameters stage; the client leaves
    while tcp waits on the silent host: the test ends at once, its files are removed, its slot freed."""
    private_tmp = redirect_tmp(tmp_path, monkeypatch)
    body = silent_body(silent_port, hooks_params={"SSL": {"ssl_mode": "require", "cert": CERT, "key": KEY}})
    with (
        serve(make_settings(test_timeout_s=DEADLINE_S)) as (base, app),
        httpx.Client(base_url=base, timeout=10) as http,
        Captured() as logs,
    ):
        with http.stream("POST", STREAM_API, json=body) as response:
            # Held in a name: a generator left by `break` would be closed at once, and httpcore
            # would drop the connection before the checks below.
            lines = response.iter_lines()
            for line in lines:
                if json.loads(line) == {"event": "start", "stage": {"name": "tcp"}}:
                    break
            assert leftovers(private_tmp), "the TLS material is on disk while the test runs"
            assert app.state.service.in_flight == 1
        # The response is closed here (the connection is dropped).
        wait_until(lambda: not (app.state.service.in_flight or leftovers(private_tmp)), timeout=2 * DEADLINE_S,
                   what="the test's end and its files' removal")
        # Cancelled, not run to its deadline: the audit line says so (a deadline would say CONNECTION_TIMEOUT).
        wait_until(lambda: "code=" in logs.text, what="the audit line")
    assert "test user=- connector=PostgreSQLConnector host=127.0.0.1 code=CANCELLED" in logs.text
    assert KEY.splitlines()[1] not in logs.text


# --- the listener of Diagnosis ------------------------------------------------------------------


def test_each_stage_is_told_once_in_order_and_a_broken_listener_breaks_nothing() -> None:
    asyncio.run(_told_once_in_order())


async def _told_once_in_order() -> None:
    told: list[tuple[str, Stage]] = []

    def listener(event: str, stage: Stage) -> None:
        told.append((event, stage))
        raise RuntimeError("a listener that always fails")

    d = Diagnosis(("parameters", "dns", "tcp", "tls", "authentication"), Deadline(DEADLINE_S), listener=listener)

    async def ok() -> None:
        return None

    async def refused() -> None:
        raise Failure(Code.AUTHENTICATION_FAILED, "refused", stage="authentication")

    await d.step("parameters", ok)
    await d.step("parameters", ok)  # a second step of the same stage (the SSH hook does that): still one start
    d.note("parameters", "checked")
    await d.step("dns", ok)
    d.mark("tcp", "skipped", "not needed here")
    with pytest.raises(Failure) as caught:
        await d.step("tls", refused, covers=("authentication",))
    message = d.failure_message(caught.value)
    assert message.code == "AUTHENTICATION_FAILED"
    assert [(e, s.name) for e, s in told] == [
        ("start", "parameters"), ("stage", "parameters"), ("start", "dns"), ("stage", "dns"), ("stage", "tcp"),
        ("start", "tls"), ("stage", "tls"), ("stage", "authentication"),
    ]
    assert [s.as_dict() for e, s in told if e == "stage"] == message.payload["stages"]
    assert told[1][1].detail == "checked", "a stage is told with the notes written after its step"
    d.note("dns", "changed later")
    assert next(s for e, s in told if e == "stage" and s.name == "dns").detail is None, "the listener gets copies"


def test_the_stream_is_documented_and_the_spec_operation_is_untouched(client: TestClient) -> None:
    document = client.get("/api/schema/").json()
    operation = document["paths"][STREAM_API]["post"]
    assert operation["operationId"] == "database_connections_test_stream_create"
    assert operation["tags"] == ["Database Connections"]
    assert operation["requestBody"] == document["paths"][TEST_API]["post"]["requestBody"]
    lines = operation["responses"]["200"]["content"][NDJSON]
    assert lines["schema"]["type"] == "string", "a string body: generators keep the 200 and return the text"
    item = lines["x-itemSchema"]["$ref"].rsplit("/", 1)[-1]
    kinds = [document["components"]["schemas"][k["$ref"].rsplit("/", 1)[-1]] for k in document["components"]["schemas"][item]["oneOf"]]
    assert {k["properties"]["event"]["const"] for k in kinds} == {"start", "stage", "verdict"}
    for line in lines["example"].splitlines():
        assert json.loads(line)["event"] in ("start", "stage", "verdict")
    ref = {"$ref": "#/components/schemas/ApplicationMessage"}
    for status in ("401", "403", "413", "422", "429", "503"):
        assert operation["responses"][status]["content"]["application/json"]["schema"] == ref, status
