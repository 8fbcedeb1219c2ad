"""The session lookup is cached per process for ``SESSION_CACHE_S`` at most (docs: README, "Logging in").

Two apps on one store stand for two API processes: a logout or a password change made through one
ends the session at once there, and on the other within ``SESSION_CACHE_S`` (checked with the suite's
load-proof wall bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from backend.main import create_app
from backend.security.auth.guard import SESSION_CACHE_S
from tests.helpers import ADMIN, assert_within, auth_settings, login, wait_until

SUPPORTED = "/api/v1/database_connections/supported_types/"
AUTH = "/api/v1/auth/"


def _ends_on_the_other(tmp_path: Path, end: Callable[[TestClient, TestClient, str], None]) -> None:
    settings = auth_settings(tmp_path)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as other:
        csrf = login(one)
        other.cookies.set("sessionid", one.cookies["sessionid"])
        assert other.get(SUPPORTED).status_code == 200  # the other process has it in its cache now
        session_id = one.cookies["sessionid"]
        started = time.monotonic()
        end(one, other, csrf)
        one.cookies.set("sessionid", session_id)
        assert one.get(SUPPORTED).status_code == 401, "ended at once in the process that ended it"
        wait_until(lambda: other.get(SUPPORTED).status_code == 401, what="the end of the session in the other process")
        assert_within(started, SESSION_CACHE_S, "the end of the session in the other process")
        assert other.get(AUTH).status_code == 401


def test_a_logout_ends_the_session_in_every_process(tmp_path: Path) -> None:
    def logout(one: TestClient, _other: TestClient, csrf: str) -> None:
        assert one.delete(AUTH, headers={"X-CSRF-Token": csrf}).status_code == 204

    _ends_on_the_other(tmp_path, logout)


def test_a_password_change_ends_the_session_in_every_process(tmp_path: Path) -> None:
    def change(one: TestClient, _other: TestClient, _csrf: str) -> None:  # as `python -m backend users set-password`
        assert one.app.state.auth.store.set_password(ADMIN, "Another-Admin-Pw-9")  # type: ignore[attr-defined]

    _ends_on_the_other(tmp_path, change)


def test_the_cache_is_short() -> None:
    assert 0 < SESSION_CACHE_S <= 5


def test_concurrent_requests_of_one_session_share_one_store_lookup(tmp_path: Path) -> None:
    """A burst of one client's parallel requests on a cold cache asks the store once (its pool is bounded)."""
    import asyncio

    settings = auth_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        login(client)
        session_id = client.cookies["sessionid"]
        auth = client.app.state.auth  # type: ignore[attr-defined]
        store = auth.store
        real = store.session
        calls: list[str] = []

        def counting(sid: str) -> object:
            calls.append(sid)
            return real(sid)

        store.session = counting
        try:
            async def burst() -> list[object]:
                return await asyncio.gather(*(auth.session(session_id) for _ in range(20)))

            found = asyncio.run(burst())
        finally:
            store.session = real
        assert len(calls) == 1 and all(s is not None and s.username == ADMIN for s in found)  # type: ignore[attr-defined]


def test_a_lookup_begun_before_a_logout_keeps_nothing(tmp_path: Path) -> None:
    import asyncio

    settings = auth_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        login(client)
        session_id = client.cookies["sessionid"]
        auth = client.app.state.auth  # type: ignore[attr-defined]

        async def race() -> object:
            lookup = asyncio.ensure_future(auth.session(session_id))
            await asyncio.sleep(0)  # the lookup has started: the store is being asked
            auth.forget_session(session_id)  # as a logout in this process does, after the store's delete
            return await lookup

        assert asyncio.run(race()) is None
        assert session_id not in auth._sessions
