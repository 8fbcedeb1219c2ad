"""Saved connections over HTTP (docs/design.md, "Saved connections"), with real servers.

The contract (paths, bodies, statuses, the mask, pagination), bad input, owners, canary secrets in
responses / logs / the database, key rotation across restarts, the admin command line, and two API
processes on one PostgreSQL and one Redis serving as one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from backend.saved.masking import MASK
from backend.settings import Settings
from backend.store.migrations import head
from tests.conftest import DB, make_settings
from tests.helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    Captured,
    JWKSServer,
    Keys,
    app_client,
    assert_within,
    bearer,
    login,
    oidc_settings,
    raw_dump,
    server_seconds,
    sign,
    tunnelled_body,
)
from tests.servers.api import APIProcess, two_processes
from tests.servers.common import LOOPBACK
from tests.servers.postgres import SUPERPASS, SUPERUSER
from tests.servers.redis import RedisServer

SAVED = "/api/v1/database_connections/"
AUTH = "/api/v1/auth/"
TEST = "/api/v1/database_connections/test/"
SUPPORTED = "/api/v1/database_connections/supported_types/"
CANARY_ROLE = "saved_canary"
CANARY = "Saved-Canary-Pw-5e21"
SSH_CANARY = "Saved-Ssh-Canary-9b07"
REPO = Path(__file__).resolve().parents[1]
KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))
SAVED_FIELDS = {"id", "name", "description", "connector_type", "connection", "owner", "created_at", "updated_at", "last_test",
                "version", "monitor"}


@pytest.fixture(scope="module")
def target(postgres: DB) -> DB:
    """The suite's PostgreSQL with a role whose password is a canary."""
    with contextlib.suppress(Exception):  # made by an earlier module of the same session
        postgres.server.sql(f"CREATE ROLE {CANARY_ROLE} LOGIN PASSWORD '{CANARY}'", f"GRANT CONNECT ON DATABASE appdb TO {CANARY_ROLE}")
    return DB(postgres.host, postgres.port, CANARY_ROLE, CANARY, "appdb", postgres.server)


def sqlite_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path}/store/wizard.db", "secret_key": KEY_A, **overrides}
    return make_settings(**values)


def save(client: httpx.Client, body: dict[str, Any], name: str = "warehouse", **headers: str) -> dict[str, Any]:
    response = client.post(SAVED, json={"name": name, "description": "for the team", "connection": body}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def unreachable_body(**overrides: Any) -> dict[str, Any]:
    return tunnelled_body(CANARY, SSH_CANARY, **overrides)


def assert_not_found(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 404, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "NOT_FOUND"
    return body


# --- the contract ----------------------------------------------------------------------------------


def test_create_read_list_update_delete(tmp_path: Path) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        made = save(client, unreachable_body())
        assert set(made) == SAVED_FIELDS and isinstance(made["id"], str) and made["last_test"] is None
        assert made["connector_type"] == "PostgreSQLConnector" and made["owner"] == "anonymous"
        assert made["created_at"].endswith("Z") and made["created_at"] == made["updated_at"]
        assert made["connection"]["password"] == MASK and made["connection"]["port"] == 5432
        assert client.get(f"{SAVED}{made['id']}/").json() == made
        listed = client.get(SAVED).json()
        assert listed == {"count": 1, "next": None, "previous": None, "results": [made]}
        changed = client.patch(f"{SAVED}{made['id']}/", json={"name": "renamed"})
        assert changed.status_code == 200 and changed.json()["name"] == "renamed"
        assert changed.json()["connection"] == made["connection"]
        deleted = client.delete(f"{SAVED}{made['id']}/")
        assert deleted.status_code == 204 and deleted.content == b""
        assert_not_found(client.get(f"{SAVED}{made['id']}/"))
        assert_not_found(client.delete(f"{SAVED}{made['id']}/"))
        assert client.get(SAVED).json()["count"] == 0


# --- concurrent edits (docs/design.md, "Concurrent edits") ------------------------------------------


def test_versions_etags_and_if_match(tmp_path: Path) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        created = client.post(SAVED, json={"name": "warehouse", "connection": unreachable_body()})
        assert created.status_code == 201
        made = created.json()
        item = f"{SAVED}{made['id']}/"
        assert created.headers["location"] == f"/api/v1/database_connections/{made['id']}/"
        assert made["version"] == 1 and created.headers["etag"] == '"1"'
        for response in (created, client.get(item), client.get(SAVED)):
            assert response.headers["cache-control"] == "no-store"
        assert client.get(item).headers["etag"] == '"1"'
        assert "etag" not in client.get(SAVED).headers  # a list carries none
        renamed = client.patch(item, json={"name": "renamed"}, headers={"If-Match": '"1"'})
        assert renamed.status_code == 200 and renamed.json()["version"] == 2 and renamed.headers["etag"] == '"2"'
        assert renamed.headers["cache-control"] == "no-store"
        stale = client.patch(item, json={"name": "lost"}, headers={"If-Match": '"1"'})
        assert stale.status_code == 412 and stale.json()["code"] == "PRECONDITION_FAILED", stale.text
        assert client.get(item).json()["name"] == "renamed"  # nothing changed
        assert client.patch(item, json={"name": "weak"}, headers={"If-Match": 'W/"2"'}).json()["version"] == 3
        assert client.patch(item, json={"name": "any"}, headers={"If-Match": "*"}).json()["version"] == 4
        assert client.patch(item, json={"name": "x"}, headers={"If-Match": "garbage"}).status_code == 412
        # Without If-Match a PATCH applies whatever the version: never a 412.
        assert client.patch(item, json={"description": "blind"}).json()["version"] == 5
        refused = client.delete(item, headers={"If-Match": '"4"'})
        assert refused.status_code == 412 and refused.json()["code"] == "PRECONDITION_FAILED"
        assert client.get(item).status_code == 200
        assert client.delete(item, headers={"If-Match": '"5"'}).status_code == 204
        assert_not_found(client.patch(item, json={"name": "gone"}, headers={"If-Match": '"5"'}))
        assert_not_found(client.delete(item, headers={"If-Match": "*"}))


def test_a_patch_that_changes_nothing_changes_nothing(tmp_path: Path, target: DB) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        body = target.body("PostgreSQLConnector", hooks_params={"SSHTunnel": None})
        made = save(client, body)
        item = f"{SAVED}{made['id']}/"
        tested = client.post(f"{item}test/")
        assert tested.status_code == 200 and tested.headers["cache-control"] == "no-store"
        before = client.get(item).json()
        # A test changes neither version nor updated_at.
        assert before["last_test"]["code"] == "CONNECTION_SUCCESSFUL"
        assert (before["version"], before["updated_at"]) == (1, made["updated_at"])
        same = {**body, "password": MASK}
        for patch in ({}, {"name": made["name"]}, {"description": made["description"]}, {"connection": same},
                      {"connection": body}, {"name": made["name"], "connection": same}):
            answered = client.patch(item, json=patch, headers={"If-Match": '"1"'})
            assert answered.status_code == 200 and answered.json() == before, (patch, answered.text)
        moved = client.patch(item, json={"connection": {**body, "database": "postgres"}})
        assert moved.json()["version"] == 2 and moved.json()["last_test"] is None


def test_search_folds_case_in_every_script(tmp_path: Path) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        for name in ("ünïcødé warehouse", "STRASSE", "Ελληνικά", "100%_done", "plain"):
            save(client, unreachable_body(), name=name)

        def found(search: str) -> set[str]:
            return {c["name"] for c in client.get(SAVED, params={"search": search}).json()["results"]}

        assert found("Ünïcødé") == {"ünïcødé warehouse"}
        assert found("straße") == {"STRASSE"}  # casefold: ß is ss
        assert found("ΕΛΛΗΝΙΚΆ") == {"Ελληνικά"}
        assert found("%_") == {"100%_done"} and found("_") == {"100%_done"} and found("%") == {"100%_done"}


def test_pagination_links_and_limits(tmp_path: Path) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        for i in range(5):
            save(client, unreachable_body(), name=f"c{i}")
        first = client.get(SAVED, params={"page_size": 2}).json()
        assert first["count"] == 5 and [c["name"] for c in first["results"]] == ["c4", "c3"]
        assert first["previous"] is None and "page=2" in first["next"]
        second = client.get(first["next"]).json()
        assert [c["name"] for c in second["results"]] == ["c2", "c1"] and "page=1" in second["previous"]
        last = client.get(second["next"]).json()
        assert [c["name"] for c in last["results"]] == ["c0"] and last["next"] is None
        assert client.get(SAVED, params={"search": "C3"}).json()["count"] == 1
        for bad in ({"page_size": 0}, {"page": 0}, {"page": "x"}):
            refused = client.get(SAVED, params=bad)
            assert refused.status_code == 422 and set(refused.json()["details"]) == set(bad)
        for i in range(5, 101):
            save(client, unreachable_body(), name=f"c{i}")
        largest = client.get(SAVED, params={"page_size": 1000}).json()  # served as the largest page, not refused
        assert largest["count"] == 101 and len(largest["results"]) == 100 and "page=2" in largest["next"]


def test_bad_input_names_the_field_and_saves_nothing(tmp_path: Path) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"name": "", "connection": unreachable_body()}, "name"),
            ({"name": "x" * 101, "connection": unreachable_body()}, "name"),
            ({"name": "a\x07b", "connection": unreachable_body()}, "name"),
            ({"name": "line\nbreak", "connection": unreachable_body()}, "name"),
            ({"name": "ok", "connection": unreachable_body(port="5432")}, "connection.port"),
            ({"name": "ok", "connection": unreachable_body(connector_type="Nope")}, "connection.connector_type"),
            ({"name": "ok", "connection": unreachable_body(password=MASK)}, "connection.password"),
            ({"connection": unreachable_body()}, "name"),
        ]
        for body, field in cases:
            response = client.post(SAVED, json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["code"] == "INVALID_PARAMETERS" and field in response.json()["details"], response.text
        assert client.get(SAVED).json()["count"] == 0
        save(client, unreachable_body(), name="dup")
        duplicate = client.post(SAVED, json={"name": "dup", "connection": unreachable_body()})
        assert duplicate.status_code == 422 and list(duplicate.json()["details"]) == ["name"]
        # malformed, unknown: the same 404 body
        assert assert_not_found(client.get(f"{SAVED}not%20an%20id/")) == assert_not_found(client.get(f"{SAVED}{'A' * 22}/"))
        assert_not_found(client.post(f"{SAVED}{'x' * 40}/test/"))


def test_rebind_is_refused_until_the_password_is_re_entered(tmp_path: Path) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        made = save(client, unreachable_body())
        moved = dict(made["connection"], host="elsewhere.example.invalid")
        refused = client.patch(f"{SAVED}{made['id']}/", json={"connection": moved})
        assert refused.status_code == 422 and refused.json()["code"] == "INVALID_PARAMETERS"
        assert list(refused.json()["details"]) == ["connection.password"]
        moved["password"] = "Re-Entered-Pw-1"
        accepted = client.patch(f"{SAVED}{made['id']}/", json={"connection": moved})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["connection"]["host"] == "elsewhere.example.invalid"
        assert accepted.json()["connection"]["password"] == MASK


# --- testing a saved connection -------------------------------------------------------------------


def test_saved_test_runs_what_test_runs_and_records_last_test(tmp_path: Path, target: DB) -> None:
    with app_client(sqlite_settings(tmp_path)) as client:
        body = target.body("PostgreSQLConnector")
        made = save(client, body)
        direct = client.post(TEST, json=body).json()
        response = client.post(f"{SAVED}{made['id']}/test/")
        assert response.status_code == 200, response.text
        verdict = response.json()
        assert verdict["code"] == direct["code"] == "CONNECTION_SUCCESSFUL"
        assert [s["name"] for s in verdict["payload"]["stages"]] == [s["name"] for s in direct["payload"]["stages"]]
        assert verdict["payload"]["server"] == direct["payload"]["server"]
        last = client.get(f"{SAVED}{made['id']}/").json()["last_test"]
        assert last["code"] == "CONNECTION_SUCCESSFUL" and last["kind"] == "success" and last["title"] == verdict["title"]
        assert last["at"].endswith("Z") and last["elapsed_ms"] == verdict["payload"]["elapsed_ms"]
        # a new connection body makes the old verdict meaningless: it is cleared
        changed = client.patch(f"{SAVED}{made['id']}/", json={"connection": dict(body, port=1, password="x")})
        assert changed.json()["last_test"] is None


# --- owners ---------------------------------------------------------------------------------------


def test_two_users_are_isolated(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, auth_enabled=True, admin_password=ADMIN_PASSWORD)
    with app_client(settings) as admin, TestClient(admin.app) as other:
        admin.app.state.auth.store.add_user("bob", "Bob-Pw-for-Tests-2")  # type: ignore[attr-defined]
        admin_csrf = login(admin)
        bob_csrf = login(other, "bob", "Bob-Pw-for-Tests-2")
        mine = save(admin, unreachable_body(), **{"X-CSRF-Token": admin_csrf})
        assert mine["owner"] == ADMIN
        assert other.get(SAVED).json()["count"] == 0
        missing = assert_not_found(other.get(f"{SAVED}{'Q' * 22}/"))
        for method in ("GET", "PATCH", "DELETE"):
            response = other.request(method, f"{SAVED}{mine['id']}/", json={"name": "x"} if method == "PATCH" else None,
                                     headers={"X-CSRF-Token": bob_csrf})
            assert assert_not_found(response) == missing  # the same body as an id that does not exist
        assert_not_found(other.post(f"{SAVED}{mine['id']}/test/", headers={"X-CSRF-Token": bob_csrf}))
        # the same name is free for bob
        assert save(other, unreachable_body(), **{"X-CSRF-Token": bob_csrf})["owner"] == "bob"
        assert admin.get(f"{SAVED}{mine['id']}/").json()["name"] == "warehouse"
        # writes need the CSRF token like every cookie-authenticated write
        assert admin.delete(f"{SAVED}{mine['id']}/").status_code == 403


def test_bearer_token_users_own_their_connections_by_subject(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    issuer: JWKSServer = request.getfixturevalue("jwks")
    signing: Keys = request.getfixturevalue("keys")
    settings = oidc_settings(tmp_path, issuer, secret_key=KEY_A)
    with app_client(settings) as client:
        token = bearer(sign(signing.rsa, "rsa-1", sub="steward-7"))
        made = client.post(SAVED, json={"name": "n", "connection": unreachable_body()}, headers=token)
        assert made.status_code == 201 and made.json()["owner"] == "oidc:steward-7"
        other = bearer(sign(signing.rsa, "rsa-1", sub="someone-else"))
        assert client.get(SAVED, headers=other).json()["count"] == 0
        assert_not_found(client.get(f"{SAVED}{made.json()['id']}/", headers=other))
        csrf = login(client)  # a local user called like the subject's name is someone else too
        assert client.get(SAVED).json()["count"] == 0 and csrf
        assert client.get(f"{SAVED}{made.json()['id']}/", headers=token).status_code == 200


# --- canaries, keys and restarts --------------------------------------------------------------------


def rotate(settings_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return cli(["secrets", "rotate"], settings_env)


def cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    environment.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], input=stdin, capture_output=True, text=True, env=environment,
        cwd=REPO, timeout=60,
    )


def test_canaries_never_leak_and_key_rotation_keeps_connections(tmp_path: Path, target: DB) -> None:
    """Create, update, test, rotate (A → B,A → B → C) and delete: no canary anywhere; C cannot decrypt."""
    url = f"sqlite:///{tmp_path}/store/wizard.db"
    seen: list[str] = []
    with Captured() as logs:
        with app_client(sqlite_settings(tmp_path, secret_key=KEY_A)) as client:
            made = save(client, target.body("PostgreSQLConnector", hooks_params={"SSHTunnel": None}))
            other = save(client, unreachable_body(), name="unreachable")
            seen += [str(made), str(other)]
            patched = client.patch(f"{SAVED}{other['id']}/", json={"description": "changed", "connection": unreachable_body(port=6543)})
            seen.append(patched.text)
            seen.append(client.post(f"{SAVED}{made['id']}/test/").text)
        done = rotate({"WIZARD_DATABASE_URL": url, "WIZARD_SECRET_KEY": f"{KEY_B},{KEY_A}"})
        assert done.returncode == 0 and "2 saved connection" in done.stdout, done.stderr
        again = rotate({"WIZARD_DATABASE_URL": url, "WIZARD_SECRET_KEY": f"{KEY_B},{KEY_A}"})
        assert again.returncode == 0 and "0 saved connection" in again.stdout
        seen += [done.stdout, done.stderr]
        with app_client(sqlite_settings(tmp_path, secret_key=KEY_B)) as client:
            verdict = client.post(f"{SAVED}{made['id']}/test/")
            assert verdict.json()["code"] == "CONNECTION_SUCCESSFUL", verdict.text
            seen.append(verdict.text)
        with app_client(sqlite_settings(tmp_path, secret_key=KEY_C)) as client:
            refused = client.post(f"{SAVED}{made['id']}/test/")
            assert refused.status_code == 409, refused.text
            message = refused.json()
            assert message["code"] == "CANNOT_DECRYPT" and "cannot decrypt" in message["title"].lower()
            assert list(message["details"]) == ["connection.password"]
            # the rest of the API works: listing, reading (secrets as the mask), other endpoints, deleting
            assert client.get(SAVED).json()["count"] == 2
            assert client.get(f"{SAVED}{made['id']}/").json()["connection"]["password"] == MASK
            assert client.get(SUPPORTED).status_code == 200
            assert client.post(TEST, json=target.body("PostgreSQLConnector")).json()["code"] == "CONNECTION_SUCCESSFUL"
            bad_rotation = rotate({"WIZARD_DATABASE_URL": url, "WIZARD_SECRET_KEY": KEY_C})
            assert bad_rotation.returncode == 1 and "cannot decrypt" in bad_rotation.stderr
            assert "0 saved connection" in bad_rotation.stdout  # what no key reads is left as it is
            assert client.delete(f"{SAVED}{other['id']}/").status_code == 204
            seen += [refused.text, client.get(SAVED).text, bad_rotation.stderr]
        assert "cannot decrypt: the key changed" in logs.text  # told at start, too
    dump = raw_dump(url)
    assert b"5432" in dump or b"appdb" in dump
    for canary in (CANARY, SSH_CANARY):
        assert canary not in logs.text
        assert canary.encode() not in dump
        assert not [text for text in seen if canary in text]


def test_a_malformed_secret_key_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    with Captured() as logs, app_client(sqlite_settings(tmp_path, secret_key="not-a-key")) as client:
        refused = client.post(SAVED, json={"name": "x", "connection": unreachable_body()})
        assert refused.status_code == 503 and "WIZARD_SECRET_KEY" in refused.json()["body"]
        assert client.get(SAVED).json()["count"] == 0  # reading still works
    assert "WIZARD_SECRET_KEY" in logs.text


def test_an_unreachable_store_is_a_503_without_the_url_password(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql+psycopg2://wizard:Saved-Store-Canary-77@{LOOPBACK}:{closed_port}/nodb"
    with Captured() as logs, app_client(sqlite_settings(tmp_path, database_url=url)) as client:
        for response in (client.get(SAVED), client.post(SAVED, json={"name": "x", "connection": unreachable_body()}),
                         client.post(f"{SAVED}{'A' * 22}/test/")):
            assert response.status_code == 503 and response.json()["code"] == "STORE_UNAVAILABLE", response.text
            assert response.headers["retry-after"]
        assert client.get(SUPPORTED).status_code == 200  # the rest of the API serves on
    assert "Saved-Store-Canary-77" not in logs.text and "store" in logs.text


def test_the_key_file_is_made_beside_the_database(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, secret_key=None)
    with app_client(settings) as client:
        save(client, unreachable_body())
    key = tmp_path / "store/wizard.db.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip().encode() not in raw_dump(settings.database_url)


# --- the admin command line ------------------------------------------------------------------------


@pytest.mark.timeout(600)  # a chain of processes: on a loaded machine it outlasts the suite's 180 s hang guard
def test_cli_manages_users_with_passwords_from_stdin(tmp_path: Path) -> None:
    env = {"WIZARD_DATABASE_URL": f"sqlite:///{tmp_path}/store/wizard.db", "WIZARD_SECRET_KEY": KEY_A}
    upgraded = cli(["db", "upgrade"], env)

    assert upgraded.returncode == 0 and head() in upgraded.stdout
    added = cli(["users", "add", "carol"], env, stdin="Carol-Pw-1\n")
    assert added.returncode == 0, added.stderr
    assert cli(["users", "add", "carol"], env, stdin="x\n").returncode == 2
    empty = cli(["users", "add", "dave"], env, stdin="")
    assert empty.returncode == 2 and "empty" in empty.stderr and "Traceback" not in empty.stderr
    assert cli(["users", "add", "oidc:someone"], env, stdin="x\n").returncode == 2
    assert "carol" in cli(["users", "list"], env).stdout
    settings = sqlite_settings(tmp_path, auth_enabled=True, admin_password=ADMIN_PASSWORD)
    with app_client(settings) as client:
        csrf = login(client, "carol", "Carol-Pw-1")
        save(client, unreachable_body(), **{"X-CSRF-Token": csrf})
    changed = cli(["users", "set-password", "carol"], env, stdin="Carol-Pw-2\n")
    assert changed.returncode == 0 and "Carol-Pw-2" not in changed.stdout + changed.stderr
    assert cli(["users", "set-password", "nobody"], env, stdin="x\n").returncode == 2
    with app_client(settings) as client:
        assert client.post("/api/v1/auth/", json={"username": "carol", "password": "Carol-Pw-1"}).status_code == 401
        login(client, "carol", "Carol-Pw-2")
    removed = cli(["users", "remove", "carol"], env)
    assert removed.returncode == 0 and "1 saved connection" in removed.stdout
    assert "carol" not in cli(["users", "list"], env).stdout
    assert cli(["users", "remove", "carol"], env).returncode == 2
    bad = cli(["users", "list"], {**env, "WIZARD_DATABASE_URL": "not a url"})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_cli_secrets_check_counts_per_key_and_fails_as_documented(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store/wizard.db"
    with app_client(sqlite_settings(tmp_path, secret_key=KEY_A)) as client:
        save(client, unreachable_body())  # two secrets: the password and the SSH password
        save(client, unreachable_body(), name="second")

    def check(keys: str, *flags: str) -> subprocess.CompletedProcess[str]:
        return cli(["secrets", "check", *flags], {"WIZARD_DATABASE_URL": url, "WIZARD_SECRET_KEY": keys})

    fine = check(f"{KEY_B},{KEY_A}", "--json")
    assert fine.returncode == 0, fine.stderr
    report = json.loads(fine.stdout)
    assert [k["secrets"] for k in report["keys"]] == [0, 4] and report["undecryptable"] == 0
    assert report["needs_old_key"] == 4
    assert check(f"{KEY_B},{KEY_A}", "--strict").returncode == 1  # still needs the old key
    lost = check(KEY_C)
    assert lost.returncode == 1 and "4 secret(s) of 2 connection(s) cannot be decrypted" in lost.stdout
    assert rotate({"WIZARD_DATABASE_URL": url, "WIZARD_SECRET_KEY": f"{KEY_B},{KEY_A}"}).returncode == 0
    assert check(KEY_B, "--strict").returncode == 0
    for run in (fine, lost):
        assert KEY_A not in run.stdout + run.stderr and CANARY not in run.stdout + run.stderr


# --- two API processes on one PostgreSQL and one Redis ----------------------------------------------


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_two_processes_on_postgresql_and_redis_serve_as_one(postgres: DB, target: DB, redis: RedisServer) -> None:
    database = f"wizard_two_{os.getpid()}"
    postgres.server.sql(f"CREATE DATABASE {database}")
    env = {
        "WIZARD_AUTH_ENABLED": "true",
        "WIZARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WIZARD_DATABASE_URL": f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{postgres.port}/{database}",
        "WIZARD_SECRET_KEY": KEY_A,
        "WIZARD_RATE_LIMIT_STORAGE_URL": redis.url,
        "WIZARD_TEST_RATE_PER_MINUTE": "4",
    }
    processes = [APIProcess(), APIProcess()]
    starters = [threading.Thread(target=p.start, kwargs={"env": env}) for p in processes]
    for starter in starters:  # at once: the migrations take turns (advisory lock)
        starter.start()
    for starter in starters:
        starter.join(timeout=90)
    one, two = processes
    try:
        with httpx.Client(base_url=one.url, timeout=20) as a, httpx.Client(base_url=two.url, timeout=20) as b:
            csrf = login(a)
            b.cookies.set("sessionid", a.cookies["sessionid"])  # one session, both processes
            headers = {"X-CSRF-Token": csrf}
            made = save(a, target.body("PostgreSQLConnector"), **headers)
            assert [c["id"] for c in b.get(SAVED).json()["results"]] == [made["id"]]
            codes = []
            for client in (b, a, b, a, b):  # four tests a minute, counted across both processes
                response = client.post(f"{SAVED}{made['id']}/test/", headers=headers)
                codes.append(response.status_code)
                if response.status_code == 200:
                    assert response.json()["code"] == "CONNECTION_SUCCESSFUL", response.text
            assert codes == [200, 200, 200, 200, 429]
            assert b.post(TEST, json=target.body("PostgreSQLConnector"), headers=headers).status_code == 429
            assert a.get(f"{SAVED}{made['id']}/").json()["last_test"]["code"] == "CONNECTION_SUCCESSFUL"
            assert b.delete(f"{SAVED}{made['id']}/", headers=headers).status_code == 204
            assert a.get(f"{SAVED}{made['id']}/").status_code == 404
        for process in processes:
            assert CANARY not in process.output()
    finally:
        for process in processes:
            process.stop()
    dump = raw_dump(env["WIZARD_DATABASE_URL"])
    assert b"wizard_saved_connections" in dump and CANARY.encode() not in dump


# --- a team on two processes: racing edits, rotation mid-traffic, a frozen store, a guesser ----------


STORE_TIMEOUT_S = 2.0
"""The store's deadline of the tests about it: production's default (``WIZARD_STORE_TIMEOUT_S``)."""


def _tree(pid: int) -> list[int]:
    """``pid`` and every process under it (the postmaster and its backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


@pytest.fixture(scope="module")
def team_store() -> Iterator[Any]:
    """A PostgreSQL of this module's own (it gets frozen), with a role whose password is a canary."""
    from tests.servers.postgres import PostgresServer

    server = PostgresServer().start()
    server.sql(f"CREATE ROLE {CANARY_ROLE} LOGIN PASSWORD '{CANARY}'", "CREATE DATABASE appdb",
               f"GRANT CONNECT ON DATABASE appdb TO {CANARY_ROLE}", "CREATE DATABASE wizard_team")
    yield server
    server.stop()


def team_env(server: Any, redis: RedisServer, secret_key: str, store_timeout_s: float = 10.0) -> dict[str, str]:
    """Two processes' settings on the team store; the store's deadline is roomy unless the test is about it."""
    return {
        "WIZARD_AUTH_ENABLED": "true",
        "WIZARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WIZARD_DATABASE_URL": f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{server.port}/wizard_team",
        "WIZARD_SECRET_KEY": secret_key,
        "WIZARD_RATE_LIMIT_STORAGE_URL": redis.url,
        "WIZARD_TEST_RATE_PER_MINUTE": "1000",
        "WIZARD_STORE_TIMEOUT_S": str(store_timeout_s),
        "WIZARD_LOGIN_MAX_FAILURES": "5",
    }


def logged_in(url: str, **client: Any) -> tuple[httpx.Client, dict[str, str]]:
    http = httpx.Client(base_url=url, timeout=30, **client)
    return http, {"X-CSRF-Token": login(http)}


def team_body(server: Any, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": server.port, "database": "appdb",
            "username": CANARY_ROLE, "password": CANARY, **overrides}


@pytest.mark.timeout(600)  # a chain of processes: on a loaded machine it outlasts the suite's 180 s hang guard
def test_racing_edits_and_rotation_mid_traffic_lose_nothing(team_store: Any, redis: RedisServer) -> None:
    with two_processes(team_env(team_store, redis, KEY_A)) as (one, _two):
        a, headers = logged_in(one.url)
        with contextlib.closing(a):
            ids = [save(a, team_body(team_store), name=f"team {i}", **headers)["id"] for i in range(8)]
    with two_processes(team_env(team_store, redis, f"{KEY_B},{KEY_A}")) as (one, two):
        a, headers_a = logged_in(one.url)
        b, headers_b = logged_in(two.url)
        with contextlib.closing(a), contextlib.closing(b):
            # Racing PATCHes of one connection, one per process: exactly one 200 and one 412 a round.
            item = f"{SAVED}{ids[0]}/"
            for round_ in range(10):
                version = a.get(item).json()["version"]
                match = {"If-Match": f'"{version}"'}
                changes = [
                    (a, {"description": f"round {round_} by a"}, headers_a),
                    (b, {"name": f"team 0 round {round_}"}, headers_b),
                ]
                barrier = threading.Barrier(2)
                answers: list[httpx.Response] = []

                def send(client: httpx.Client, patch: dict[str, Any], auth: dict[str, str], barrier: threading.Barrier,
                         answers: list[httpx.Response], match: dict[str, str]) -> None:
                    barrier.wait()
                    answers.append(client.patch(item, json=patch, headers={**auth, **match}))

                racers = [threading.Thread(target=send, args=(*change, barrier, answers, match)) for change in changes]
                for racer in racers:
                    racer.start()
                for racer in racers:
                    racer.join()
                assert sorted(r.status_code for r in answers) == [200, 412], [r.text for r in answers]
                won = next(r for r in answers if r.status_code == 200).json()
                assert won["version"] == version + 1 and a.get(item).json() == won  # the winner's edit is there
            # A PATCH storm (no If-Match: never a 412) while `secrets rotate` runs.
            stop = threading.Event()
            failures: list[str] = []

            def storm(client: httpx.Client, auth: dict[str, str], who: str) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    for connection_id in ids:
                        body = team_body(team_store, password=MASK, include_views=n % 2 == 0)
                        answer = client.patch(f"{SAVED}{connection_id}/", json={"connection": body,
                                                                                 "description": f"{who} {n}"}, headers=auth)
                        if answer.status_code != 200:
                            failures.append(answer.text)

            stormers = [threading.Thread(target=storm, args=(a, headers_a, "a")),
                        threading.Thread(target=storm, args=(b, headers_b, "b"))]
            for stormer in stormers:
                stormer.start()
            try:
                done = rotate({"WIZARD_DATABASE_URL": team_env(team_store, redis, "")["WIZARD_DATABASE_URL"],
                               "WIZARD_SECRET_KEY": f"{KEY_B},{KEY_A}"})
            finally:
                stop.set()
                for stormer in stormers:
                    stormer.join()
            assert done.returncode == 0 and "re-encrypted" in done.stdout, done.stderr
            assert failures == []
    env = team_env(team_store, redis, KEY_B)  # the old key dropped
    checked = cli(["secrets", "check", "--strict", "--json"], {k: env[k] for k in ("WIZARD_DATABASE_URL", "WIZARD_SECRET_KEY")})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["undecryptable"] == 0
    with two_processes(env) as (one, _two):
        a, headers = logged_in(one.url)
        with contextlib.closing(a):
            for connection_id in ids:  # every secret still decrypts, with the new key alone
                verdict = a.post(f"{SAVED}{connection_id}/test/", headers=headers)
                assert verdict.status_code == 200 and verdict.json()["code"] == "CONNECTION_SUCCESSFUL", verdict.text
        assert CANARY not in one.output()


def test_a_frozen_store_answers_503_in_time_and_recovers(team_store: Any, redis: RedisServer) -> None:
    with two_processes(team_env(team_store, redis, KEY_B, store_timeout_s=STORE_TIMEOUT_S)) as (one, two):
        a, headers = logged_in(one.url)
        b, _ = logged_in(two.url)
        with contextlib.closing(a), contextlib.closing(b):
            b.cookies.set("sessionid", a.cookies["sessionid"])
            made = save(a, team_body(team_store), name="frozen", **headers)
            postmaster = int((team_store.datadir / "postmaster.pid").read_text().split()[0])
            frozen = _tree(postmaster)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            try:
                calls = [
                    lambda: a.get(SAVED),
                    lambda: b.get(f"{SAVED}{made['id']}/"),
                    lambda: a.post(f"{SAVED}{made['id']}/test/", headers=headers),
                    lambda: b.post(AUTH, json={"username": ADMIN, "password": ADMIN_PASSWORD}),
                ] * 3
                for call in calls:
                    # The bound, deadline + 1 s, by the server's own clock (Server-Timing); the client's
                    # wall clock, which holds the machine's scheduling too, gets the suite's wall bound.
                    started = time.monotonic()
                    answer = call()
                    assert_within(started, STORE_TIMEOUT_S + 1, "an answer with the store frozen")
                    assert answer.status_code == 503 and answer.json()["code"] == "STORE_UNAVAILABLE", answer.text
                    assert answer.headers["retry-after"]
                    assert server_seconds(answer) <= STORE_TIMEOUT_S + 1, answer.headers["server-timing"]
                for process in (one, two):
                    started = time.monotonic()
                    ready = httpx.get(f"{process.url}/api/v1/ready/", timeout=30)
                    assert_within(started, 2, "ready/ with the store frozen")
                    assert ready.status_code == 503 and server_seconds(ready) <= 2, ready.headers["server-timing"]
                    assert httpx.get(f"{process.url}/api/v1/live/", timeout=30).status_code == 200
            finally:
                for pid in reversed(frozen):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            # Back without a restart: poll until both processes serve again.
            for client in (a, b):
                end = time.monotonic() + 60
                while client.get(SAVED).status_code != 200:
                    assert time.monotonic() < end, "the store came back but the process did not recover"
                    time.sleep(0.2)
            assert a.post(f"{SAVED}{made['id']}/test/", headers=headers).json()["code"] == "CONNECTION_SUCCESSFUL"


def test_a_verdict_that_cannot_be_kept_is_still_answered(team_store: Any, redis: RedisServer) -> None:
    """The store freezes while a saved connection's test runs: the verdict is answered (200), the failure logged."""
    import socket

    listener = socket.create_server((LOOPBACK, 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def silent() -> None:  # accepts, never answers: the test waits for its own deadline
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                held.append(conn)
                accepted.set()

    threading.Thread(target=silent, daemon=True).start()
    try:
        with two_processes(team_env(team_store, redis, KEY_B, store_timeout_s=STORE_TIMEOUT_S)) as (one, _two):
            a, headers = logged_in(one.url)
            with contextlib.closing(a):
                body = team_body(team_store, port=listener.getsockname()[1])
                made = save(a, body, name="silent", **headers)
                answers: list[httpx.Response] = []
                tester = threading.Thread(target=lambda: answers.append(a.post(f"{SAVED}{made['id']}/test/", headers=headers)))
                tester.start()
                assert accepted.wait(60), "the test never reached its target"  # loaded: the store is no longer needed
                frozen = _tree(int((team_store.datadir / "postmaster.pid").read_text().split()[0]))
                for pid in frozen:
                    os.kill(pid, signal.SIGSTOP)
                try:
                    tester.join(timeout=60)
                finally:
                    for pid in reversed(frozen):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGCONT)
                assert answers and answers[0].status_code == 200, answers and answers[0].text
                assert answers[0].json()["code"] == "CONNECTION_TIMEOUT"
                assert "could not be kept" in one.output()
                end = time.monotonic() + 60
                while (current := a.get(f"{SAVED}{made['id']}/")).status_code != 200:
                    assert time.monotonic() < end
                    time.sleep(0.2)
                assert current.json()["last_test"] is None  # not kept, and nothing else changed
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_a_guesser_does_not_lock_the_owner_out(team_store: Any, redis: RedisServer) -> None:
    with two_processes(team_env(team_store, redis, KEY_B)) as (one, two):
        guesser = httpx.Client(base_url=one.url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with guesser:
            for _ in range(5):
                assert guesser.post(AUTH, json={"username": ADMIN, "password": "guess"}).status_code == 401
            for url in (one.url, two.url):  # counted once, shared by both processes (Redis)
                with httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as there:
                    from_guesser = there.post(f"{url}{AUTH}", json={"username": ADMIN, "password": ADMIN_PASSWORD})
                assert from_guesser.status_code == 429 and int(from_guesser.headers["retry-after"]) >= 1
                owner = httpx.post(f"{url}{AUTH}", json={"username": ADMIN, "password": ADMIN_PASSWORD})
                assert owner.status_code == 200, owner.text


def test_no_key_no_start_on_a_shared_store(team_store: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    env.update(PYTHONPATH=str(REPO),
               WIZARD_DATABASE_URL=f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{team_store.port}/wizard_team")
    started = subprocess.run([sys.executable, "-m", "uvicorn", "backend.main:app", "--port", "0"], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    lines = [line for line in started.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "WIZARD_SECRET_KEY" in lines[0], started.stderr
