"""Operations (docs/design.md, "Operations"): liveness and readiness, metrics, security headers,
request ids, JSON logs. The shutdown on SIGTERM is in tests/test_shutdown.py.

What only a real process shows (its log output, its counters as Prometheus reads them, the
Streamlit side) runs against ``uvicorn backend.main:app`` or ``streamlit run app.py`` in a
subprocess; the rest in process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from backend.diagnosis.stages import Deadline, run_blocking
from backend.main import create_app
from backend.ops import readiness
from backend.ops.context import REQUEST_ID, after_answer, current_request_id
from backend.ops.logs import JsonLogFormatter
from backend.ops.middleware import Operations
from backend.ops.readiness import StoreProbe
from backend.security.secrets import LIVE, MASK, SecretFilter
from tests.conftest import TEST_API, make_settings
from tests.helpers import ADMIN, ADMIN_PASSWORD, auth_settings, login, wait_until, wall_bound
from tests.servers.api import REPO, APIProcess, serve
from tests.servers.common import LOOPBACK, ServerProcess, free_port, make_workdir
from tests.servers.postgres import SUPERPASS, SUPERUSER, PostgresServer

LIVE_PATH = "/api/v1/live/"
READY_PATH = "/api/v1/ready/"
METRICS = "/api/metrics"
SUPPORTED = "/api/v1/database_connections/supported_types/"
CANARY = "Canary-Ops-Secret-4711"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def pg_body(port: int, host: str = LOOPBACK, password: str = CANARY) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": host, "port": port, "database": "d", "username": "u",
            "password": password}


def assert_security_headers(response: httpx.Response, frame_ancestors: str | None = None) -> None:
    """The headers of every response, each exactly once."""
    headers = response.headers
    for name in ("x-content-type-options", "referrer-policy", "content-security-policy", "x-request-id"):
        assert len(headers.get_list(name)) == 1, (name, response.request.url, headers)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    if frame_ancestors is None:
        assert headers["x-frame-options"] == "DENY"
        assert headers["content-security-policy"] == "frame-ancestors 'none'"
    else:
        assert "x-frame-options" not in headers
        assert headers["content-security-policy"] == f"frame-ancestors {frame_ancestors}"
    assert "strict-transport-security" not in headers  # plain http


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus exposition (0 when it is not there yet)."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


# --- liveness and readiness -------------------------------------------------------------------


def test_live_and_ready_need_no_login_and_are_documented(tmp_path: Path) -> None:
    with TestClient(create_app(auth_settings(tmp_path))) as client:
        assert client.get(SUPPORTED).status_code == 401  # the API itself wants a login…
        live = client.get(LIVE_PATH)
        ready = client.get(READY_PATH)
        schema = client.get("/api/schema/").json()
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    for path in (LIVE_PATH, READY_PATH):
        operation = schema["paths"][path]["get"]
        assert operation["tags"] == ["Health"] and operation["security"] == []
        assert "401" not in operation["responses"]
    assert "503" in schema["paths"][READY_PATH]["get"]["responses"]
    assert schema["paths"][METRICS]["get"]["tags"] == ["Health"]


def test_probes_are_not_rate_limited(tmp_path: Path) -> None:
    with TestClient(create_app(auth_settings(tmp_path, test_rate_per_minute=1))) as client:
        assert all(client.get(path).status_code == 200 for _ in range(30) for path in (LIVE_PATH, READY_PATH))


@pytest.fixture(scope="module")
def store_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own as the user store, stopped and frozen by the tests."""
    server = PostgresServer().start()
    yield server
    for process in _postgres_processes(server):  # never leave it frozen
        process.resume()
    server.stop()


def _postgres_processes(server: PostgresServer) -> list[psutil.Process]:
    pid_file = server.datadir / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


def timed_ready(client: TestClient) -> tuple[int, float, httpx.Response]:
    started = time.monotonic()
    response = client.get(READY_PATH)
    return response.status_code, time.monotonic() - started, response


def test_ready_follows_the_store_stopped_frozen_and_back(tmp_path: Path, store_pg: PostgresServer) -> None:
    url = f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{store_pg.port}/postgres"
    key = "uJ3n2BHiKXwVbL4d1Qf0l3V8Yk1sZ6o9Jm2nR5tU7wA="  # a shared store needs WIZARD_SECRET_KEY
    with TestClient(create_app(auth_settings(tmp_path, database_url=url, secret_key=key))) as client:
        assert timed_ready(client)[0] == 200

        store_pg.pause()  # refused connections
        try:
            status, took, response = timed_ready(client)
            assert status == 503 and took < 2.0
            body = response.json()
            assert body["code"] == "SERVICE_BUSY" and body["kind"] == "error" and "store" in body["body"]
            assert SUPERPASS not in response.text and response.headers["retry-after"]
            assert client.get(LIVE_PATH).status_code == 200  # alive all the same: no store for live/
        finally:
            store_pg.resume()
        assert timed_ready(client)[0] == 200

        processes = _postgres_processes(store_pg)
        for process in processes:  # a store that hangs: accepted connections, no answer
            process.suspend()
        try:
            for _ in range(2):  # the second probe waits for the same check, not for a new thread
                status, took, _ = timed_ready(client)
                # A probe waits 1 s at most for the store (2 s promised on an idle machine).
                assert status == 503 and took < wall_bound(1.0)
            assert sum(t.name == "wizard-ready" for t in threading.enumerate()) <= 1
        finally:
            for process in processes:
                process.resume()
        wait_until(lambda: timed_ready(client)[0] == 200, timeout=10, what="ready/ back with the store")


def test_a_hanging_store_holds_one_thread_until_the_check_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[int] = []

    def hangs() -> None:
        calls.append(1)
        release.wait(10)

    probe = StoreProbe(hangs, deadline_s=1.0)

    async def probes(n: int) -> list[str | None]:
        return [await probe.ready() for _ in range(n)]

    try:
        started = time.monotonic()
        assert all(why and "did not answer within 1 s" in why for why in asyncio.run(probes(3)))
        # One check, and one deadline in all: the later probes find it overdue and answer at once
        # (three full waits would take 3 s at least, however idle the machine).
        assert len(calls) == 1 and time.monotonic() - started < 3.0
        monkeypatch.setattr(readiness, "GIVE_UP_S", 0.0)
        asyncio.run(probes(1))
        assert len(calls) == 2  # a check stuck for good is abandoned, a fresh one tried
    finally:
        release.set()

    def fails() -> None:
        raise RuntimeError(f"could not connect to postgresql://u:{CANARY}@store")

    assert asyncio.run(StoreProbe(fails).ready()) == "the store failed (RuntimeError)"


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_token(tmp_path: Path) -> None:
    token = "Metrics-Token-" + "9" * 20
    with TestClient(create_app(make_settings(metrics_token=token))) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"},
                        {"Authorization": f"Bearer {token}x"}):
            refused = client.get(METRICS, headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["code"] == "NOT_AUTHENTICATED" and token not in refused.text
            assert_security_headers(refused)
        allowed = client.get(METRICS, headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain")
    assert "wizard_tests_in_flight" in allowed.text and "process_cpu_seconds_total" in allowed.text
    with TestClient(create_app(make_settings())) as client:
        assert client.get(METRICS).status_code == 200  # no token set: open


def test_each_app_counts_on_its_own(closed_port: int) -> None:
    with TestClient(create_app(make_settings())) as one, TestClient(create_app(make_settings())) as two:
        assert one.post(TEST_API, json=pg_body(closed_port)).json()["code"] == "PORT_CLOSED"
        labels = {"connector_type": "PostgreSQLConnector", "code": "PORT_CLOSED"}
        assert sample(one.get(METRICS).text, "wizard_tests_total", **labels) == 1
        assert sample(two.get(METRICS).text, "wizard_tests_total", **labels) == 0


def test_busy_rejections_are_counted_and_in_flight_is_seen(silent_port: int) -> None:
    app = create_app(make_settings(max_concurrent_tests=1, test_timeout_s=2.0))
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client, ThreadPoolExecutor(1) as pool:
        running = pool.submit(client.post, TEST_API, json=pg_body(silent_port))
        wait_until(lambda: sample(client.get(METRICS).text, "wizard_tests_in_flight") == 1, what="a test in flight")
        assert client.post(TEST_API, json=pg_body(silent_port)).status_code == 503
        assert running.result().json()["code"] == "CONNECTION_TIMEOUT"
        text = client.get(METRICS).text
    assert sample(text, "wizard_requests_rejected_total", reason="busy") == 1
    assert sample(text, "wizard_tests_in_flight") == 0
    assert sample(text, "wizard_test_duration_seconds_count", connector_type="PostgreSQLConnector") == 1
    assert 1.9 <= sample(text, "wizard_test_duration_seconds_sum", connector_type="PostgreSQLConnector") < 3.0


@pytest.fixture(scope="module")
def api_with_login() -> Iterator[APIProcess]:
    """``uvicorn backend.main:app`` with logins on and a rate limit of three tests a minute."""
    server = APIProcess().start({
        "WIZARD_AUTH_ENABLED": "true",
        "WIZARD_ADMIN_USERNAME": ADMIN,
        "WIZARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WIZARD_TEST_RATE_PER_MINUTE": "3",
    })
    yield server
    server.stop()


def test_counters_move_by_one_per_test_and_name_no_host_or_secret(api_with_login: APIProcess, closed_port: int) -> None:
    with httpx.Client(base_url=api_with_login.url, timeout=10, trust_env=False) as client:
        before = client.get(METRICS).text
        assert client.get(SUPPORTED).status_code == 401
        csrf = login(client)
        headers = {"X-CSRF-Token": csrf}
        codes = [client.post(TEST_API, json=pg_body(closed_port), headers=headers) for _ in range(4)]
        after = client.get(METRICS).text
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    labels = {"connector_type": "PostgreSQLConnector", "code": "PORT_CLOSED"}
    assert sample(after, "wizard_tests_total", **labels) - sample(before, "wizard_tests_total", **labels) == 3
    for reason, moved in (("auth", 1), ("rate", 1), ("busy", 0)):
        delta = sample(after, "wizard_requests_rejected_total", reason=reason) - sample(
            before, "wizard_requests_rejected_total", reason=reason)
        assert delta == moved, reason
    for secret_or_target in (CANARY, ADMIN_PASSWORD, LOOPBACK, str(closed_port), f'"{ADMIN}"'):
        assert secret_or_target not in after
    assert "process_resident_memory_bytes" in after


# --- security headers -------------------------------------------------------------------------


def test_headers_on_every_kind_of_api_response(tmp_path: Path) -> None:
    with TestClient(create_app(auth_settings(tmp_path))) as client:
        responses = [
            client.get(LIVE_PATH),
            client.get("/api/playground/"),
            client.get("/api/schema/"),
            client.get(SUPPORTED),  # 401
            client.get("/api/v1/nowhere/"),  # 404
            client.put(LIVE_PATH),  # 405
            client.post(TEST_API, content=b"x" * 300_000),  # 413, from the body-limit middleware
        ]
        csrf = login(client)
        responses.append(client.post(TEST_API, json={"connector_type": "Nope"}, headers={"X-CSRF-Token": csrf}))
    assert [r.status_code for r in responses] == [200, 200, 200, 401, 404, 405, 413, 422]
    for response in responses:
        assert_security_headers(response)


def test_an_internal_error_has_the_headers_too(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(make_settings())

    @app.get("/api/v1/broken/")
    async def broken() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/broken/", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 500 and response.json()["code"] == "UNEXPECTED_ERROR"
    assert_security_headers(response)
    assert response.headers["x-request-id"] == "err-1"


def test_frame_ancestors_lists_the_allowed_origins_and_refuses_the_rest() -> None:
    settings = make_settings(frame_ancestors="https://portal.example.com, https://*.intra.example.com:8443")
    with TestClient(create_app(settings)) as client:
        response = client.get(LIVE_PATH)
    assert_security_headers(response, "https://portal.example.com https://*.intra.example.com:8443")
    # Something that is no origin could open another CSP directive: it stops the start, naming the setting.
    for bad in ("javascript:alert(1)", "https://x.example.com/;script-src"):
        with pytest.raises(ValidationError, match="frame_ancestors"):
            make_settings(frame_ancestors=f"https://portal.example.com {bad}")


def test_hsts_only_when_the_request_came_over_https() -> None:
    with TestClient(create_app(make_settings())) as plain:
        assert "strict-transport-security" not in plain.get(LIVE_PATH).headers
        # A client cannot claim https itself: uvicorn trusts X-Forwarded-Proto only from its proxies.
        assert "strict-transport-security" not in plain.get(LIVE_PATH, headers={"X-Forwarded-Proto": "https"}).headers
    with TestClient(create_app(make_settings()), base_url="https://wizard.test") as tls:
        hsts = tls.get(LIVE_PATH).headers["strict-transport-security"]
    assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31_536_000


def test_hsts_behind_a_trusted_proxy_only() -> None:
    proxied = APIProcess().start(args=["--proxy-headers", "--forwarded-allow-ips", LOOPBACK])
    direct = APIProcess().start(args=["--proxy-headers", "--forwarded-allow-ips", "127.0.0.2"])
    try:
        forwarded = {"X-Forwarded-Proto": "https"}
        assert "strict-transport-security" in httpx.get(proxied.url + LIVE_PATH, headers=forwarded).headers
        assert "strict-transport-security" not in httpx.get(proxied.url + LIVE_PATH).headers
        assert "strict-transport-security" not in httpx.get(direct.url + LIVE_PATH, headers=forwarded).headers
    finally:
        proxied.stop()
        direct.stop()


@pytest.fixture(scope="module")
def streamlit_wizard() -> Iterator[str]:
    """``streamlit run app.py`` as a user starts it: the UI with the API embedded, one port."""
    server = ServerProcess(port=free_port(), workdir=make_workdir("st-ops"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    env.update(WIZARD_AUTH_ENABLED="false", WIZARD_DATABASE_URL=f"sqlite:///{server.workdir}/wizard.db",
               WIZARD_FILES_DIR=str(server.workdir / "files"), TMPDIR=str(server.workdir))
    server.spawn([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(server.port),
                  "--server.address", LOOPBACK, "--server.headless", "true", "--browser.gatherUsageStats", "false",
                  "--server.fileWatcherType", "none"], env=env, cwd=REPO, start_new_session=True)
    yield f"http://{LOOPBACK}:{server.port}"
    server.stop()


def test_headers_on_the_streamlit_side_and_its_embedded_api(streamlit_wizard: str) -> None:
    with httpx.Client(base_url=streamlit_wizard, timeout=20, trust_env=False) as client:
        wait_until(lambda: client.get("/api/v1/ready/").status_code == 200, timeout=30, what="the embedded API")
        root = client.get("/")
        script = re.search(r'src="(\./)?(static/js/[^"]+\.js)"', root.text)
        assert script is not None, root.text[:500]
        responses = [
            root,
            client.get("/capabilities"),  # a page
            client.get("/" + script.group(2)),  # a static file
            client.get("/_stcore/health"),
            client.get("/api/playground/"),
            client.get("/api/v1/nowhere/"),  # an API error
            client.get(LIVE_PATH, headers={"X-Request-ID": "st-req-1"}),
        ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 404, 200]
    for response in responses:
        assert_security_headers(response)
    assert responses[-1].headers["x-request-id"] == "st-req-1"
    assert responses[5].json()["code"] == "NOT_FOUND"


# --- request ids ------------------------------------------------------------------------------


def test_a_safe_request_id_is_echoed_and_a_malformed_one_replaced() -> None:
    with TestClient(create_app(make_settings())) as client:
        good = "Abc.def_ghi-" + "9" * 52  # 64 characters
        assert client.get(LIVE_PATH, headers={"X-Request-ID": good}).headers["x-request-id"] == good
        assert HEX_ID.fullmatch(client.get(LIVE_PATH).headers["x-request-id"])
        for bad in ("a" * 65, "has space", "tab\there", "ctl\x01char", "semi;colon", "", "ünï"):
            response = client.get(LIVE_PATH, headers=[(b"X-Request-ID", bad.encode())])
            echoed = response.headers["x-request-id"]
            assert HEX_ID.fullmatch(echoed), bad
            assert bad == "" or bad not in response.text + str(response.headers)
        two = {client.get(LIVE_PATH).headers["x-request-id"] for _ in range(2)}
    assert len(two) == 2


def test_driver_threads_carry_the_request_id() -> None:
    async def main() -> tuple[str, str]:
        REQUEST_ID.set("thread-test-1")
        in_thread = await run_blocking(current_request_id, Deadline(2.0), "probe")
        in_pool = await asyncio.to_thread(current_request_id)
        return in_thread, in_pool

    assert asyncio.run(main()) == ("thread-test-1", "thread-test-1")
    assert current_request_id() == "-"


def audit_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " wizard.audit " in line]


@pytest.fixture(scope="module")
def api_text() -> Iterator[APIProcess]:
    server = APIProcess().start()
    yield server
    server.stop()


def test_the_request_id_is_in_the_audit_line_and_the_access_log(api_text: APIProcess, closed_port: int) -> None:
    with httpx.Client(base_url=api_text.url, timeout=10, trust_env=False) as client:
        supplied = client.post(TEST_API, json=pg_body(closed_port), headers={"X-Request-ID": "trace-me.42"})
        generated = client.post(TEST_API, json=pg_body(closed_port))
        for _ in range(3):
            client.get(LIVE_PATH)
            client.get(READY_PATH)
        client.get(SUPPORTED)
    assert supplied.headers["x-request-id"] == "trace-me.42"
    new_id = generated.headers["x-request-id"]
    assert HEX_ID.fullmatch(new_id)
    # The access log line of the last request is written after its answer: wait for it.
    wait_until(lambda: SUPPORTED in api_text.output(), what="the access log line")
    output = api_text.output()
    lines = audit_lines(output)
    assert any("[trace-me.42] test user=- connector=PostgreSQLConnector" in line for line in lines), output
    assert any(f"[{new_id}] test " in line and "code=PORT_CLOSED" in line for line in lines), output
    assert any(f"[{new_id}]" in line and '"POST /api/v1/database_connections/test/' in line
               for line in output.splitlines()), output
    assert SUPPORTED in output  # the access log is on…
    assert LIVE_PATH not in output and READY_PATH not in output  # …but not for the probes
    assert CANARY not in output


# --- JSON logs --------------------------------------------------------------------------------


def test_json_logs_one_object_per_line_without_secrets(closed_port: int, garbage: Any) -> None:
    server = APIProcess().start({"WIZARD_LOG_FORMAT": "json"})
    try:
        with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as client:
            client.post(TEST_API, json=pg_body(closed_port), headers={"X-Request-ID": "json-req-1"})
            # A driver that talks to garbage: its error texts are where a password could leak.
            client.post(TEST_API, json=pg_body(garbage.port, password=CANARY))
            client.post(TEST_API, json={**pg_body(closed_port), "host": f"postgresql://u:{CANARY}@db.invalid"})
            client.get(SUPPORTED)
        wait_until(lambda: SUPPORTED in server.output(), what="the access log line")
    finally:
        output = server.output()
        server.stop()
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert CANARY not in output
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records), output
    audits = [r for r in records if r["logger"] == "wizard.audit"]
    assert len(audits) == 3
    first = audits[0]
    assert first["request_id"] == "json-req-1"
    assert {k: first[k] for k in ("user", "connector", "host", "code")} == {
        "user": "-", "connector": "PostgreSQLConnector", "host": LOOPBACK, "code": "PORT_CLOSED"}
    assert isinstance(first["duration_ms"], int) and first["duration_ms"] >= 0
    assert MASK in audits[2]["host"]
    assert any(r["logger"] == "uvicorn.access" and r["request_id"] == "json-req-1" for r in records)
    assert any(r["logger"] == "uvicorn.error" and "Started server process" in r["message"] for r in records)


def test_json_formatter_masks_like_the_text_filter() -> None:
    stream_lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stream_lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(SecretFilter())
    logger = logging.getLogger("wizard.test-json")
    logger.addHandler(handler)
    try:
        with LIVE.hold([CANARY]):
            try:
                raise ValueError(f"login failed for password {CANARY}")
            except ValueError:
                logger.exception("driver said: %s", f"password={CANARY}", extra={"password": CANARY})
    finally:
        logger.removeHandler(handler)
    (line,) = stream_lines
    record = json.loads(line)
    assert CANARY not in line and MASK in record["message"] and MASK in record["exc_info"]
    assert "password" not in record  # a library's extra never went through the filter: not printed


def test_the_ops_middleware_can_be_left_out_for_the_benchmark() -> None:
    with TestClient(create_app(make_settings(), ops=False)) as client:
        response = client.get(LIVE_PATH)
    assert response.status_code == 200 and "x-request-id" not in response.headers



def test_every_answer_says_the_servers_own_time(client: httpx.Client) -> None:
    """``Server-Timing: app;dur=<ms>`` on every answer, errors and streams included: the server's clock, which
    browsers' developer tools show and the suite judges deadlines by."""
    from tests.helpers import server_seconds

    answers = [client.get(SUPPORTED), client.get("/api/v1/database_connections/nope/"),
               client.post("/api/v1/database_connections/test/", json={"connector_type": "PostgreSQLConnector"})]
    for answer in answers:
        assert 0 <= server_seconds(answer) < 60, answer.headers


def test_clean_ups_of_a_request_run_once_its_answer_is_sent() -> None:
    # A driver's connection is closed after the verdict is sent (backend/connectors/sql.py, close_after_answer):
    # the answer waits neither for the close nor for the database server's end of the session.
    events: list[str] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        after_answer(lambda: events.append("clean-up"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"verdict"})

    async def client_side(message: Any) -> None:
        events.append(message["type"])

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "scheme": "http"}
    asyncio.run(Operations(endpoint)(scope, receive, client_side))
    assert events == ["http.response.start", "http.response.body", "clean-up"]

    # No request (the command line, the scheduler): not taken, the caller cleans up at once itself.
    assert after_answer(lambda: events.append("never")) is False
    assert events[-1] == "clean-up"
