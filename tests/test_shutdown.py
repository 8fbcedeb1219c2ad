"""Clean shutdown (docs/design.md, "Operations"): on SIGTERM the tests in flight end with their verdicts,
then the process exits and leaves nothing of its own in its temp folder.

uvicorn ends the app's lifespan on SIGTERM and then raises the signal again with the default
handler, so the process dies of it and ``atexit`` never runs: what the wizard leaves in ``TMPDIR``
must be removed by the lifespan, which these tests check on a real process with a TMPDIR of its own.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import TEST_API
from tests.helpers import assert_within, in_flight, wait_until
from tests.servers.api import APIProcess
from tests.servers.common import LOOPBACK

DEADLINE_S = 3.0
"""``WIZARD_TEST_TIMEOUT_S`` of :class:`APIProcess`."""


def pg_body(port: int) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": port, "database": "d", "username": "u",
            "password": "shutdown-pw-1"}


def test_sigterm_answers_the_tests_in_flight_then_exits_clean(silent_port: int, garbage: Any) -> None:
    server = APIProcess().start()
    assert server.process is not None
    try:
        with httpx.Client(base_url=server.url, timeout=15, trust_env=False) as client:
            # A test that reaches the driver makes the process's own temp folder (libpq's missing files).
            assert client.post(TEST_API, json=pg_body(garbage.port)).status_code == 200
            assert [p.name.startswith("wizard-empty-") for p in server.tmpdir.iterdir()] == [True]

            started = threading.Barrier(6)

            def run_one(_: int) -> httpx.Response:
                with httpx.Client(base_url=server.url, timeout=15, trust_env=False) as own:
                    started.wait()
                    return own.post(TEST_API, json=pg_body(silent_port))

            with ThreadPoolExecutor(max_workers=5) as pool:
                futures = [pool.submit(run_one, n) for n in range(5)]
                started.wait()
                wait_until(lambda: in_flight(client) == 5, what="five tests waiting on the silent host")
                signalled = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                responses = [f.result() for f in futures]
        assert [r.status_code for r in responses] == [200] * 5
        assert [r.json()["code"] for r in responses] == ["CONNECTION_TIMEOUT"] * 5
        # Each ended at its own deadline, as the server measured it, not cut short nor held up.
        assert all(r.json()["payload"]["elapsed_ms"] < (DEADLINE_S + 0.5) * 1000 for r in responses)
        assert_within(signalled, DEADLINE_S + 0.5, "the answers after SIGTERM")
        server.process.wait(timeout=DEADLINE_S + 5)  # exits once they are answered
        assert list(server.tmpdir.iterdir()) == []
        assert "Application shutdown complete" in server.output()
    finally:
        server.stop()


def test_a_new_connection_after_sigterm_is_refused_while_the_tests_finish(silent_port: int) -> None:
    server = APIProcess().start()
    assert server.process is not None
    try:
        with ThreadPoolExecutor(max_workers=1) as pool, httpx.Client(base_url=server.url, timeout=5) as client:
            running = pool.submit(httpx.post, server.url + TEST_API, json=pg_body(silent_port), timeout=15)
            wait_until(lambda: in_flight(client) == 1, what="the test waiting on the silent host")
            server.process.send_signal(signal.SIGTERM)

            def refused() -> bool:
                try:
                    httpx.get(server.url + "/api/v1/live/", timeout=2)
                except httpx.TransportError:
                    return True
                return False

            # The listening socket is closed at once (a load balancer moves on) while the test still runs.
            wait_until(refused, timeout=DEADLINE_S, what="the listening socket's close")
            assert not running.done()
            assert running.result().json()["code"] == "CONNECTION_TIMEOUT"
        server.process.wait(timeout=DEADLINE_S + 5)
        assert list(server.tmpdir.iterdir()) == []
    finally:
        server.stop()
