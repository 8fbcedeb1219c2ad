"""Limits: tests in flight (503 + Retry-After), the body size cap (413), the per-user test rate (429),
and the audit line of each test."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.connectors import registry
from backend.diagnosis.service import Busy, ConnectionTester
from backend.main import create_app
from tests.conftest import TEST_API, make_settings
from tests.helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    Captured,
    assert_within,
    auth_settings,
    base_body,
    in_flight,
    login,
    serve_settings,
    wait_until,
)
from tests.servers.common import LOOPBACK, SilentListener

SUPPORTED = "/api/v1/database_connections/supported_types/"


def pg(port: int, host: str = LOOPBACK, password: str = "limits-pw-5150") -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": host, "port": port, "database": "d", "username": "u",
            "password": password}


# --- tests in flight --------------------------------------------------------------------------


def test_saturation_answers_503_and_the_server_keeps_serving(silent_port: int) -> None:
    settings = make_settings(max_concurrent_tests=2, test_timeout_s=3.0, retry_after_s=3)
    with serve_settings(settings) as base, httpx.Client(base_url=base, timeout=10) as client:

        def run_one(_: int) -> httpx.Response:
            return client.post(TEST_API, json=pg(silent_port))

        with ThreadPoolExecutor(max_workers=6) as pool:
            started = time.monotonic()
            futures = [pool.submit(run_one, n) for n in range(6)]
            # Wait until the two admitted tests are waiting on the silent host (the gauge says so)…
            wait_until(lambda: in_flight(client) == 2, what="two tests in flight")
            for _ in range(5):
                assert client.get(SUPPORTED).status_code == 200
            # …and the other requests were served while they still were.
            assert in_flight(client) == 2
            responses = [f.result() for f in futures]
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 503, 503, 503, 503], [r.text for r in responses]
        for response in responses:
            if response.status_code == 503:
                assert response.headers["retry-after"] == "3"
                assert response.json()["code"] == "SERVICE_BUSY" and response.json()["kind"] == "error"
            else:
                assert response.json()["code"] == "CONNECTION_TIMEOUT"
        assert_within(started, 3.0 + 0.5, "six tests, two admitted on a 3 s deadline")
        # Once they are done, a new test is admitted again.
        assert client.post(TEST_API, json=pg(silent_port)).status_code == 200


def test_the_servers_own_port_is_refused() -> None:
    with serve_settings(make_settings()) as base, httpx.Client(base_url=base, timeout=10) as client:
        port = int(base.rsplit(":", 1)[1])
        for host in ("127.0.0.1", "localhost", "127.1"):
            msg = client.post(TEST_API, json=pg(port, host)).json()
            assert msg["code"] == "TARGET_NOT_ALLOWED", msg
            assert "wizard" in msg["details"]["host"][0]


def test_in_flight_limit_holds_across_threads_and_event_loops(silent_port: int) -> None:
    """One service, several event loops (threads) of one process: never more than the limit at once."""
    service = ConnectionTester(make_settings(max_concurrent_tests=2, test_timeout_s=1.0))
    params = registry()["PostgreSQLConnector"].model.model_validate(pg(silent_port))
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker() -> None:
        async def one() -> str:
            try:
                return (await service.test(params)).code
            except Busy:
                return "BUSY"

        barrier.wait()
        code = asyncio.run(one())
        with lock:
            outcomes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["BUSY"] * 4 + ["CONNECTION_TIMEOUT"] * 2
    assert service.in_flight == 0


# --- the body size cap ------------------------------------------------------------------------


def test_request_body_size_cap(closed_port: int) -> None:
    with TestClient(create_app(make_settings(max_body_bytes=2048))) as client:
        big = pg(closed_port) | {"schema_name": "x" * 4096}
        declared = client.post(TEST_API, json=big)
        assert declared.status_code == 413 and declared.json()["code"] == "REQUEST_TOO_LARGE"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts what arrives
            data = httpx.Request("POST", "/", json=big).content
            for i in range(0, len(data), 512):
                yield data[i : i + 512]

        streamed = client.post(TEST_API, content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413, streamed.text
        assert streamed.json()["code"] == "REQUEST_TOO_LARGE"
        small = client.post(TEST_API, json=pg(closed_port) | {"schema_name": "x" * 1500})
        assert small.status_code == 200 and small.json()["code"] == "PORT_CLOSED"


# --- the per-user test rate -------------------------------------------------------------------


def test_per_user_test_rate(tmp_path: Path, closed_port: int) -> None:
    settings = auth_settings(tmp_path, test_rate_per_minute=3)
    app = create_app(settings)
    with TestClient(app) as alice, TestClient(app) as bob:
        csrf = login(alice)
        app.state.auth.store.ensure_user("bob", "Bob-Pw-for-Tests-2")
        bob_csrf = login(bob, "bob", "Bob-Pw-for-Tests-2")
        for _ in range(3):
            assert alice.post(TEST_API, json=pg(closed_port), headers={"X-CSRF-Token": csrf}).status_code == 200
        limited = alice.post(TEST_API, json=pg(closed_port), headers={"X-CSRF-Token": csrf})
        assert limited.status_code == 429, limited.text
        assert limited.json()["code"] == "TOO_MANY_REQUESTS"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Other endpoints and other users are not affected.
        assert alice.get(SUPPORTED).status_code == 200
        assert bob.post(TEST_API, json=pg(closed_port), headers={"X-CSRF-Token": bob_csrf}).status_code == 200


# --- the audit line ---------------------------------------------------------------------------


def test_the_audit_line_is_written_once_the_verdict_is_sent(tmp_path: Path, closed_port: int) -> None:
    # Written after the answer (backend/ops/context.py, after_answer): the verdict waits for no log handler.
    app = create_app(make_settings(database_url=f"sqlite:///{tmp_path}/wizard.db"))
    events: list[str] = []
    body = json.dumps(pg(closed_port)).encode()

    class Audit(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(f"audit {record.getMessage()}")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        events.append(message["type"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": TEST_API, "raw_path": TEST_API.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": (LOOPBACK, 5), "server": (LOOPBACK, 80)}
    handler = Audit()
    logging.getLogger("wizard.audit").addHandler(handler)
    try:
        asyncio.run(app(scope, receive, send))
    finally:
        logging.getLogger("wizard.audit").removeHandler(handler)
    assert events[:2] == ["http.response.start", "http.response.body"], events
    assert len(events) == 3 and events[2].startswith("audit test user=- connector=PostgreSQLConnector"), events
    assert "code=PORT_CLOSED" in events[2]


def test_audit_line_per_test_without_secrets(tmp_path: Path, closed_port: int) -> None:
    password = "Audit-Canary-Pw-77"
    with TestClient(create_app(auth_settings(tmp_path))) as client, Captured() as logs:
        csrf = login(client)
        client.post(TEST_API, json=pg(closed_port, password=password), headers={"X-CSRF-Token": csrf})
        client.post(TEST_API, json=pg(closed_port, host="evil.invalid\nINFO wizard.audit forged", password=password),
                    headers={"X-CSRF-Token": csrf})
        client.post(TEST_API, json=pg(5432, host=f"postgresql://u:{password}@db.invalid"), headers={"X-CSRF-Token": csrf})
    lines = [line for line in logs.text.splitlines() if line.startswith("INFO wizard.audit")]
    assert len(lines) == 3, logs.text
    assert lines[0].startswith(f"INFO wizard.audit test user={ADMIN} connector=PostgreSQLConnector host=127.0.0.1 "
                               "code=PORT_CLOSED duration_ms=")
    assert int(lines[0].rsplit("duration_ms=", 1)[1]) >= 0
    assert "code=HOST_NOT_FOUND" in lines[1] and "forged" in lines[1], "the forged line stays inside the real one"
    assert password not in logs.text and ADMIN_PASSWORD not in logs.text
    assert "code=" in lines[2]


def test_anonymous_tests_are_audited_with_a_dash(closed_port: int) -> None:
    with TestClient(create_app(make_settings())) as client, Captured() as logs:
        client.post(TEST_API, json=pg(closed_port))
    assert "test user=- connector=PostgreSQLConnector host=127.0.0.1 code=PORT_CLOSED" in logs.text


@pytest.mark.usefixtures("netguard")
@pytest.mark.parametrize("connector_type", list(registry()))
def test_every_connector_is_audited(connector_type: str, closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{LOOPBACK}:{closed_port}")
    body = base_body(registry()[connector_type], closed_port)
    with TestClient(create_app(make_settings(test_timeout_s=1.0))) as client, Captured() as logs:
        response = client.post(TEST_API, json=body)
    assert response.status_code == 200
    line = next(line for line in logs.text.splitlines() if " wizard.audit " in line)
    assert f"connector={connector_type} " in line and f"code={response.json()['code']} " in line


# --- the test rate's storage (WIZARD_RATE_LIMIT_STORAGE_URL, backend/security/ratelimit.py) -----------------


def test_rate_storage_in_memory_counts_per_limiter_and_per_user() -> None:
    from backend.security.ratelimit import UserRateLimit

    one, two = UserRateLimit(2), UserRateLimit(2)
    assert [one.hit("u"), one.hit("u")] == [0, 0]
    assert 1 <= one.hit("u") <= 60  # the third in a minute: seconds to wait
    assert one.hit("v") == 0 and two.hit("u") == 0  # another user; another process (memory://)


def test_rate_storage_in_redis_is_shared_and_a_silent_redis_stalls_nothing(silent_port: int) -> None:
    from backend.security.ratelimit import COOL_DOWN_S, DEADLINE_S, UserRateLimit
    from tests.servers.redis import RedisServer

    server = RedisServer().start()
    try:
        one, two = UserRateLimit(3, server.url), UserRateLimit(3, server.url)
        assert [one.hit("u"), two.hit("u"), one.hit("u")] == [0, 0, 0]
        assert two.hit("u") > 0 and one.hit("u") > 0  # the processes share one count
    finally:
        server.stop()
    with Captured() as logs:
        silent = UserRateLimit(1, f"redis://:Redis-Canary-Pw@{LOOPBACK}:{silent_port}/0")
        started = time.monotonic()
        assert silent.hit("u") == 0  # let through…
        assert_within(started, 2 * DEADLINE_S + 0.5, "a hit on a silent storage")  # …within the storage's deadline
        started = time.monotonic()
        assert [silent.hit("u") for _ in range(5)] == [0] * 5  # not asked again during the cool-down
        assert time.monotonic() - started < DEADLINE_S < COOL_DOWN_S  # asking once would take the deadline
    assert "rate limit's storage does not answer" in logs.text and "Redis-Canary-Pw" not in logs.text


def test_a_slow_rate_storage_is_asked_off_the_event_loop(
    tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a test waits on a Redis that accepts and never answers, every other request is served."""
    from backend.security import ratelimit

    monkeypatch.setattr(ratelimit, "DEADLINE_S", 3.0)  # a long wait, to tell "served meanwhile" apart
    silent = SilentListener()
    settings = auth_settings(tmp_path, rate_limit_storage_url=f"redis://{LOOPBACK}:{silent.port}/0")
    with serve_settings(settings) as base, httpx.Client(base_url=base, timeout=15) as client:
        csrf = login(client)
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            waiting = pool.submit(client.post, TEST_API, json=pg(closed_port), headers={"X-CSRF-Token": csrf})
            wait_until(lambda: silent.accepted >= 1, what="the test asking the storage")
            assert client.get("/api/v1/live/").status_code == 200
            assert client.get(SUPPORTED).status_code == 200
            assert not waiting.done(), "other requests were served only after the storage's deadline"
            verdict = waiting.result()
    silent.close()
    assert verdict.json()["code"] == "PORT_CLOSED"  # let through once the storage's deadline passed
    assert time.monotonic() - started >= 3.0 - 0.1, "the test did wait on the storage"


def test_an_unusable_rate_storage_url_falls_back_to_memory() -> None:
    from backend.security.ratelimit import UserRateLimit

    with Captured() as logs:
        limiter = UserRateLimit(1, "nosuch://user:Url-Canary-Pw@host/0")
    assert [limiter.hit("u"), limiter.hit("u") > 0] == [0, True]  # counts in memory
    assert "WIZARD_RATE_LIMIT_STORAGE_URL" in logs.text and "Url-Canary-Pw" not in logs.text
