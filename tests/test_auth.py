"""Authentication: sessions (SQLite and PostgreSQL stores), OIDC bearer tokens, CSRF, the login throttle."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import time_machine
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.main import create_app
from tests.conftest import DB, make_settings
from tests.helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    AUDIENCE,
    ISSUER,
    Captured,
    FakeClock,
    JWKSServer,
    Keys,
    app_client,
    assert_within,
    auth_settings,
    bearer,
    claims,
    login,
    oidc_settings,
    sign,
    wait_until,
)
from tests.servers.common import LOOPBACK
from tests.servers.redis import RedisServer

AUTH = "/api/v1/auth/"
SUPPORTED = "/api/v1/database_connections/supported_types/"
FUNCTIONALITIES = "/api/v1/database_connections/functionalities/?connector_type=PostgreSQLConnector"
TEST = "/api/v1/database_connections/test/"


def closed_body(port: int) -> dict[str, Any]:
    return {
        "connector_type": "PostgreSQLConnector",
        "host": LOOPBACK,
        "port": port,
        "database": "db",
        "username": "u",
        "password": "not-a-real-password",
    }


def protected_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) under /api/v1/database_connections: endpoints added later are covered."""
    schema: dict[str, Any] = app.openapi()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/database_connections")
        for method in operations
    ]


def call(client: httpx.Client, method: str, path: str, closed_port: int, **kwargs: Any) -> httpx.Response:
    if path.endswith("/functionalities/"):
        path += "?connector_type=PostgreSQLConnector"
    if method == "POST":
        return client.request(method, path, json=closed_body(closed_port), **kwargs)
    return client.request(method, path, **kwargs)


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "NOT_AUTHENTICATED" and body["kind"] == "error" and body["title"] and body["body"]
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- sessions ---------------------------------------------------------------------------------


def test_every_protected_endpoint_needs_credentials(tmp_path: Path, closed_port: int) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        routes = protected_routes(client.app)
        assert len(routes) >= 3
        for method, path in routes:
            assert_401(call(client, method, path, closed_port))
            # a made-up session id is no better
            assert_401(call(client, method, path, closed_port, headers={"Cookie": "sessionid=made-up"}))
        assert_401(client.get(AUTH))
        assert_401(client.delete(AUTH))


def test_session_grants_access_and_logout_revokes_it(tmp_path: Path, closed_port: int) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        csrf = login(client)
        session_id = client.cookies["sessionid"]
        for method, path in protected_routes(client.app):
            response = call(client, method, path, closed_port, headers={"X-CSRF-Token": csrf})
            # Let in: the spec's endpoints answer 200; the others (saved connections with a made-up
            # `{id}`, bodies of other shapes) answer by their own rules, but never 401/403.
            assert response.status_code not in (401, 403), (method, path, response.text)
            if "{" not in path and path.rstrip("/").rsplit("/", 1)[-1] in ("supported_types", "functionalities", "test"):
                assert response.status_code == 200, (method, path, response.text)
        assert client.post(TEST, json=closed_body(closed_port), headers={"X-CSRF-Token": csrf}).json()["code"] == "PORT_CLOSED"
        me = client.get(AUTH)
        assert me.status_code == 200 and me.json()["username"] == ADMIN and me.json()["method"] == "session"
        assert me.json()["csrf_token"] == csrf
        out = client.delete(AUTH, headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert "sessionid=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
        assert_401(client.get(SUPPORTED))
        # The old cookie, replayed, is dead on the server too.
        client.cookies.set("sessionid", session_id)
        assert_401(client.get(SUPPORTED))
        assert_401(client.get(AUTH))


def test_login_always_starts_a_new_session(tmp_path: Path) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        login(client)
        first = client.cookies["sessionid"]
        login(client)  # the browser sends the old cookie along
        second = client.cookies["sessionid"]
        assert first != second and client.get(SUPPORTED).status_code == 200
        client.cookies.set("sessionid", first)
        assert_401(client.get(SUPPORTED))


def test_login_cookie_is_httponly_lax_and_secure_over_https(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path)
    with app_client(settings) as client:
        response = client.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("sessionid=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Path=/" in cookie and "Secure" not in cookie and f"Max-Age={settings.session_ttl_s}" in cookie
        assert response.headers["x-csrf-token"] == response.json()["csrf_token"]
        assert response.headers["cache-control"] == "no-store"
        assert ADMIN_PASSWORD not in response.text and ADMIN_PASSWORD not in str(response.headers)
    with app_client(settings, base_url="https://wizard.test") as client:
        cookie = client.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_expired_session_is_refused(tmp_path: Path) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        login(client)
        assert client.get(SUPPORTED).status_code == 200
        store = client.app.state.auth.store  # type: ignore[attr-defined]
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE wizard_sessions SET expires_at = :t"), {"t": time.time() - 1})
        # Changed behind this process's back (as by another process): seen once the session's cache
        # entry lapses (SESSION_CACHE_S), then refused and removed.
        wait_until(lambda: client.get(SUPPORTED).status_code == 401, what="the expired session's refusal")
        assert_401(client.get(SUPPORTED))
        with store.engine.connect() as conn:  # an expired session is removed when it is seen
            assert conn.execute(text("SELECT count(*) FROM wizard_sessions")).scalar() == 0


def test_store_keeps_hashes_only(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path)
    with app_client(settings) as client:
        login(client)
        session_id = client.cookies["sessionid"]
    db = Path(str(settings.database_url).removeprefix("sqlite:///"))
    assert db.parent.is_dir() and (db.stat().st_mode & 0o077) == 0, "the store file is for its owner only"
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("wizard.db-*"))
    assert session_id.encode() not in raw and ADMIN_PASSWORD.encode() not in raw
    with sqlite3.connect(db) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM wizard_sessions")]
        (hashed,) = conn.execute("SELECT password_hash FROM wizard_users").fetchone()
    assert stored == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert hashed.startswith("$argon2id$")


def test_wrong_password_and_unknown_user_get_the_same_answer(tmp_path: Path) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        wrong = client.post(AUTH, json={"username": ADMIN, "password": "nope"})
        unknown = client.post(AUTH, json={"username": "nobody", "password": "nope"})
        assert_401(wrong)
        assert_401(unknown)
        assert wrong.json() == unknown.json()
        assert "set-cookie" not in wrong.headers
        bad = client.post(AUTH, json={"username": ADMIN})
        assert bad.status_code == 422 and bad.json()["code"] == "INVALID_PARAMETERS" and "password" in bad.json()["details"]


def test_login_throttle_slows_the_guesser_not_the_owner(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path, login_max_failures=3, login_max_failures_per_address=5, login_window_s=60)
    app = create_app(settings)
    with TestClient(app, client=("10.1.1.1", 5000)) as guesser, TestClient(app, client=("10.2.2.2", 5000)) as owner:
        for _ in range(3):
            assert guesser.post(AUTH, json={"username": ADMIN, "password": "wrong"}).status_code == 401
        # The guesser's address is locked out of this user, even with the right password…
        locked = guesser.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert locked.status_code == 429, locked.text
        assert locked.json()["code"] == "TOO_MANY_REQUESTS"
        assert 1 <= int(locked.headers["retry-after"]) <= 61
        # …the owner, from another address, is not.
        assert owner.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 200
        # The guesser's address, for every user name, after 5 failures in all.
        assert guesser.post(AUTH, json={"username": "x", "password": "y"}).status_code == 401
        assert guesser.post(AUTH, json={"username": "z", "password": "y"}).status_code == 401
        assert guesser.post(AUTH, json={"username": "v", "password": "y"}).status_code == 429
        # A success clears its (user, address) count: two failures, a login, three more failures.
        for _ in range(2):
            assert owner.post(AUTH, json={"username": ADMIN, "password": "wrong"}).status_code == 401
        assert owner.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 200
        for _ in range(2):
            assert owner.post(AUTH, json={"username": ADMIN, "password": "wrong"}).status_code == 401
        assert owner.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 200
    with TestClient(app, client=("10.3.3.3", 5000)) as three:
        # Another address, another user: not affected.
        assert three.post(AUTH, json={"username": "v", "password": "y"}).status_code == 401


def test_only_the_embedding_ui_can_name_the_browser_address(tmp_path: Path) -> None:
    from backend.security.auth.throttle import ADDRESS_HEADER, PROOF_HEADER, embed_headers

    settings = auth_settings(tmp_path, login_max_failures=2, login_window_s=60)
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 5000)) as ui:
        browser = embed_headers("198.51.100.7")
        for _ in range(2):
            assert ui.post(AUTH, json={"username": ADMIN, "password": "wrong"}, headers=browser).status_code == 401
        assert ui.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}, headers=browser).status_code == 429
        # Another browser behind the same UI process is another address.
        other = embed_headers("203.0.113.9")
        assert ui.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}, headers=other).status_code == 200
        # A forged claim (no proof, or another address's proof) counts the socket's peer instead.
        forged = {ADDRESS_HEADER: "198.51.100.7", PROOF_HEADER: other[PROOF_HEADER]}
        assert ui.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}, headers=forged).status_code == 200
        assert ui.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD},
                       headers={ADDRESS_HEADER: "198.51.100.7"}).status_code == 200


def test_a_throttle_storage_that_does_not_answer_lets_logins_through(tmp_path: Path, closed_port: int) -> None:
    settings = auth_settings(tmp_path, login_max_failures=1, login_window_s=60,
                             rate_limit_storage_url=f"redis://{LOOPBACK}:{closed_port}/0")
    with Captured() as logs, app_client(settings) as client:
        for _ in range(3):
            assert client.post(AUTH, json={"username": ADMIN, "password": "wrong"}).status_code == 401
        login(client)
    assert "login throttle's storage does not answer" in logs.text


def test_login_throttle_ends_after_the_window(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path, login_max_failures=2, login_window_s=2)
    with app_client(settings) as client:
        for _ in range(2):
            client.post(AUTH, json={"username": ADMIN, "password": "wrong"})
        assert client.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 429
        # The throttle counts on the wall clock (time.time, the limits library's): move it past the window.
        with time_machine.travel(time.time() + 2.2, tick=True):
            login(client)


# --- CSRF -------------------------------------------------------------------------------------


def test_cookie_writes_need_the_csrf_token_or_a_same_origin_header(tmp_path: Path, closed_port: int) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        csrf = login(client)
        body = closed_body(closed_port)

        def post(**headers: str) -> httpx.Response:
            return client.post(TEST, json=body, headers=headers)

        refused = post()
        assert refused.status_code == 403 and refused.json()["code"] == "CSRF_FAILED"
        assert post(**{"X-CSRF-Token": "0" * 64}).status_code == 403
        assert post(**{"X-CSRF-Token": csrf}).status_code == 200
        # Browsers send Origin with every write: the wizard's own origin passes, another never does.
        assert post(Origin="http://testserver").status_code == 200
        assert post(Referer="http://testserver/api/playground/").status_code == 200
        assert post(Origin="http://evil.example", **{"X-CSRF-Token": csrf}).status_code == 403
        assert post(Origin="http://testserver:8080").status_code == 403
        assert post(Origin="null", **{"X-CSRF-Token": csrf}).status_code == 403
        assert post(Referer="http://evil.example/page").status_code == 403
        assert post(**{"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf}).status_code == 403
        # Reads need nothing; logging out is a write.
        assert client.get(SUPPORTED).status_code == 200
        assert client.delete(AUTH).status_code == 403
        assert client.get(AUTH).status_code == 200, "a refused logout leaves the session alone"
        # A login from a foreign page is refused too (login CSRF).
        foreign = client.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403


def test_trusted_origin_may_write(tmp_path: Path, closed_port: int) -> None:
    with app_client(auth_settings(tmp_path, trusted_origins="https://ui.example.com")) as client:
        login(client)
        ok = client.post(TEST, json=closed_body(closed_port), headers={"Origin": "https://ui.example.com"})
        assert ok.status_code == 200
        assert client.post(TEST, json=closed_body(closed_port), headers={"Origin": "http://ui.example.com"}).status_code == 403


# --- the first user ---------------------------------------------------------------------------


def test_generated_admin_password_is_printed_once_per_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = auth_settings(tmp_path, admin_password=None)
    with Captured() as logs, app_client(settings) as client:
        printed = capsys.readouterr().out
        assert "first user 'admin'" in printed
        password = printed.split("password\n\n", 1)[1].split()[0]
        assert len(password) >= 16
        login(client, ADMIN, password)
    assert password not in logs.text, "the password is printed on the console, never logged"
    assert "printed it on the console" in logs.text
    with app_client(settings) as client:  # a restart on the same store: nothing new to print
        assert "first user" not in capsys.readouterr().out
        login(client, ADMIN, password)


def test_configured_admin_password_wins(tmp_path: Path) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        login(client)
    with app_client(auth_settings(tmp_path, admin_password="Another-Pw-5678")) as client:
        assert client.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 401
        login(client, ADMIN, "Another-Pw-5678")


def test_auth_disabled_lets_everyone_in(closed_port: int) -> None:
    with app_client(make_settings()) as client:
        assert client.get(SUPPORTED).status_code == 200
        assert client.post(TEST, json=closed_body(closed_port)).json()["code"] == "PORT_CLOSED"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_store_on_postgresql_is_shared_by_several_processes(postgres: DB, tmp_path: Path, redis: RedisServer) -> None:
    from tests.servers.postgres import SUPERPASS, SUPERUSER

    with contextlib.suppress(Exception):
        postgres.server.sql("CREATE DATABASE wizard_auth")
    url = f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{postgres.port}/wizard_auth"
    settings = auth_settings(tmp_path, database_url=url, login_max_failures=2, login_window_s=60,
                             secret_key=Fernet.generate_key().decode(), rate_limit_storage_url=redis.url)
    one, two = create_app(settings), create_app(settings)  # two API processes behind a load balancer
    with TestClient(one) as a, TestClient(two) as b:
        csrf = login(a)
        b.cookies.set("sessionid", a.cookies["sessionid"])
        assert b.get(SUPPORTED).status_code == 200
        assert b.get(AUTH).json()["csrf_token"] == csrf
        assert a.delete(AUTH, headers={"X-CSRF-Token": csrf}).status_code == 204
        # b trusts the session it has just seen for SESSION_CACHE_S at most (tests/test_session_cache.py)
        wait_until(lambda: b.get(SUPPORTED).status_code == 401, what="the logout seen by the other process")
        assert_401(b.get(SUPPORTED))
        # failed logins on one process count on the other (the throttle's counts live in the shared Redis)
        for _ in range(2):
            assert a.post(AUTH, json={"username": ADMIN, "password": "wrong"}).status_code == 401
        assert b.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 429
        with b.app.state.auth.store.engine.connect() as conn:  # type: ignore[attr-defined]
            assert conn.execute(text("SELECT count(*) FROM wizard_users")).scalar() == 1


def test_unreachable_store_is_a_503_without_the_url_password(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql+psycopg2://wizard:Store-Canary-Pw-91@{LOOPBACK}:{closed_port}/nodb"
    settings = auth_settings(tmp_path, database_url=url, secret_key=Fernet.generate_key().decode())
    with Captured() as logs, app_client(settings) as client:
        response = client.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert response.status_code == 503 and response.json()["code"] == "STORE_UNAVAILABLE"
        assert "retry-after" in response.headers
        client.cookies.set("sessionid", "x" * 43)
        assert client.get(SUPPORTED).status_code == 503
    assert "Store-Canary-Pw-91" not in logs.text and "Store-Canary-Pw-91" not in response.text
    assert "user store" in logs.text


# --- bearer tokens (OIDC) ---------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(kid: str) -> str:
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': kid}).encode())}.{b64(json.dumps(claims()).encode())}."


def hmac_with_public_key(keys: Keys, kid: str) -> str:
    """HS256 keyed with the RSA public key's PEM: what a verifier that trusts the header would accept."""
    secret = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims()).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def tampered(token: str) -> str:
    head, _body, signature = token.split(".")
    return f"{head}.{b64(json.dumps(claims(sub='admin', preferred_username='root')).encode())}.{signature}"


def test_bearer_tokens_only_the_good_ones_pass(tmp_path: Path, jwks: JWKSServer, keys: Keys, closed_port: int) -> None:
    good_rsa = sign(keys.rsa, "rsa-1")
    good_ec = sign(keys.ec, "ec-1", "ES256")
    bad = {
        "expired": sign(keys.rsa, "rsa-1", exp=int(time.time()) - 600),
        "wrong audience": sign(keys.rsa, "rsa-1", aud="another-api"),
        "wrong issuer": sign(keys.rsa, "rsa-1", iss="https://evil.example"),
        "unknown kid": sign(keys.other, "rsa-2"),
        "unpublished key, known kid": sign(keys.other, "rsa-1"),
        "alg none": unsigned("rsa-1"),
        "HMAC with the public key": hmac_with_public_key(keys, "rsa-1"),
        "tampered": tampered(good_rsa),
        "no exp": jwt.encode({k: v for k, v in claims().items() if k != "exp"}, keys.rsa, "RS256", headers={"kid": "rsa-1"}),
        "RS256 header on the EC key": sign(keys.rsa, "ec-1"),
        "PS256 on a key published for RS256": sign(keys.rsa, "rsa-1", "PS256"),
        "not a JWT": "hello",
        "empty signature": good_rsa.rsplit(".", 1)[0] + ".",
    }
    with app_client(oidc_settings(tmp_path, jwks)) as client:
        for token in (good_rsa, good_ec):
            assert client.get(SUPPORTED, headers=bearer(token)).status_code == 200
            me = client.get(AUTH, headers=bearer(token)).json()
            assert me["username"] == "alice" and me["method"] == "oidc" and me["csrf_token"] is None
            # a bearer token needs no CSRF token: browsers never attach it on their own
            posted = client.post(TEST, json=closed_body(closed_port), headers=bearer(token))
            assert posted.status_code == 200 and posted.json()["code"] == "PORT_CLOSED"
        for why, token in bad.items():
            for method, path in protected_routes(client.app):
                response = call(client, method, path, closed_port, headers=bearer(token))
                assert response.status_code == 401, (why, method, path, response.text)
                assert token not in response.text
        assert_401(client.get(SUPPORTED, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}))
        assert_401(client.get(SUPPORTED, headers={"Authorization": "Bearer"}))
        expired = client.get(SUPPORTED, headers=bearer(bad["expired"])).json()
        assert "expired" in expired["body"]


def test_invalid_bearer_is_refused_even_with_a_valid_session(tmp_path: Path, jwks: JWKSServer, keys: Keys) -> None:
    with app_client(oidc_settings(tmp_path, jwks)) as client:
        login(client)
        assert_401(client.get(SUPPORTED, headers=bearer(sign(keys.other, "rsa-2"))))


def test_bearer_refused_when_oidc_is_not_configured(tmp_path: Path, keys: Keys) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        response = client.get(SUPPORTED, headers=bearer(sign(keys.rsa, "rsa-1")))
        assert_401(response)
        assert "not configured" in response.json()["body"]


def test_jwks_is_cached_and_refetched_for_new_keys_at_most_every_few_seconds(
    tmp_path: Path, jwks: JWKSServer, keys: Keys
) -> None:
    with app_client(oidc_settings(tmp_path, jwks)) as client:
        verifier = client.app.state.auth.verifier  # type: ignore[attr-defined]
        assert 1 <= verifier.refresh_interval_s <= 10
        clock = FakeClock()
        verifier.clock = clock  # the cache's time is the test's: exact, whatever the machine's load
        for _ in range(5):
            assert client.get(SUPPORTED, headers=bearer(sign(keys.rsa, "rsa-1"))).status_code == 200
        assert jwks.fetches == 1
        # Unknown key ids: within the interval, no fetch at all; after it, one fetch for a burst.
        assert client.get(SUPPORTED, headers=bearer(sign(keys.other, "made-up"))).status_code == 401
        assert jwks.fetches == 1
        clock.advance(verifier.refresh_interval_s - 0.1)
        assert client.get(SUPPORTED, headers=bearer(sign(keys.other, "made-up-early"))).status_code == 401
        assert jwks.fetches == 1, "not before the interval"
        clock.advance(0.1)
        for n in range(5):
            assert client.get(SUPPORTED, headers=bearer(sign(keys.other, f"made-up-{n}"))).status_code == 401
        assert jwks.fetches == 2
        # The issuer rotates its keys: after the interval, a token with the new kid passes.
        jwks.keys.append(keys.jwk(keys.other, "rsa-2", "RS256"))
        clock.advance(verifier.refresh_interval_s)
        assert client.get(SUPPORTED, headers=bearer(sign(keys.other, "rsa-2"))).status_code == 200
        assert client.get(SUPPORTED, headers=bearer(sign(keys.other, "rsa-2"))).status_code == 200
        assert jwks.fetches == 3


def test_concurrent_first_requests_share_one_jwks_fetch(tmp_path: Path, jwks: JWKSServer, keys: Keys) -> None:
    import asyncio

    jwks.delay_s = 0.3
    app = create_app(oidc_settings(tmp_path, jwks))
    token = sign(keys.rsa, "rsa-1")

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answers = await asyncio.gather(*(client.get(SUPPORTED, headers=bearer(token)) for _ in range(5)))
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * 5
    assert jwks.fetches == 1


def test_silent_jwks_endpoint_is_bounded_by_a_deadline(tmp_path: Path, keys: Keys, silent_port: int) -> None:
    settings = auth_settings(
        tmp_path, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=f"http://{LOOPBACK}:{silent_port}/jwks"
    )
    with app_client(settings) as client:
        client.app.state.auth.verifier.fetch_timeout_s = 1.0  # type: ignore[attr-defined]
        started = time.monotonic()
        response = client.get(SUPPORTED, headers=bearer(sign(keys.rsa, "rsa-1")))
        assert_401(response)
        # The 1 s fetch deadline (a silent endpoint without it would hold the request for the
        # client's own timeout); the wall bound leaves room for a loaded machine.
        assert_within(started, 1.0, "a bearer request on a silent key endpoint")
        assert "could not be fetched" in response.json()["body"]


# --- the OpenAPI document ---------------------------------------------------------------------


def test_openapi_shows_the_auth_endpoints_and_both_schemes(tmp_path: Path) -> None:
    with app_client(auth_settings(tmp_path)) as client:
        schema = client.get("/api/schema/").json()
    assert set(schema["components"]["securitySchemes"]) == {"authentication", "OIDC", "csrf"}
    assert schema["components"]["securitySchemes"]["authentication"]["name"] == "sessionid"
    assert schema["security"] == [{"authentication": []}, {"OIDC": []}]
    auth = schema["paths"]["/api/v1/auth/"]
    assert {m: op["operationId"] for m, op in auth.items()} == {
        "post": "auth_create", "get": "auth_retrieve", "delete": "auth_destroy"
    }
    assert all(op["tags"] == ["Auth"] for op in auth.values())
    assert auth["post"]["security"] == []  # logging in needs no credentials
    ref = auth["get"]["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ApplicationMessage")
