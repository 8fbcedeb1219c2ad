"""Connection health over time (docs/design.md, "Connection health over time"): the contract.

``monitor`` on saved connections, every test kept (``{id}/history/``), ``health/``, the expiry
forecasts in the verdicts (a role with VALID UNTIL, a server certificate expiring in ten days, a
MariaDB password lifetime), and ``python -m backend check --all``. Real servers: the suite's
PostgreSQL and MariaDB, a PostgreSQL with TLS on a certificate of ten days from the suite's PKI.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from backend.diagnosis.messages import Code
from backend.main import create_app
from backend.monitor import expiry
from backend.monitor.history import percentile
from backend.monitor.schemas import HealthList
from backend.settings import Settings
from backend.spec.schemas import ApplicationMessage, Display, SystemMessageKind
from tests.conftest import DB, make_settings
from tests.helpers import ADMIN_PASSWORD, app_client, login
from tests.servers.common import LOOPBACK
from tests.servers.monitor import Receiver
from tests.servers.postgres import PostgresServer

SAVED = "/api/v1/database_connections/"
HEALTH = "/api/v1/database_connections/health/"
REPO = Path(__file__).resolve().parents[1]
KEY_A, KEY_B = (Fernet.generate_key().decode() for _ in range(2))
ENTRY_FIELDS = {"at", "trigger", "code", "kind", "title", "elapsed_ms", "stages"}
HEALTH_FIELDS = {"id", "name", "connector_type", "monitor", "state", "since", "last_test", "last_success_at",
                 "elapsed_ms_p50", "elapsed_ms_p95", "expires"}
EXPIRING_ROLE, EXPIRING_PW = "expiring_role", "Expiring-Pw-41"


def store_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path}/store/wizard.db", "secret_key": KEY_A,
                              "monitor_enabled": False, **overrides}
    return make_settings(**values)


def save(client: httpx.Client, body: dict[str, Any], name: str = "warehouse", **extra: Any) -> dict[str, Any]:
    response = client.post(SAVED, json={"name": name, "connection": body, **extra})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def history(client: httpx.Client, cid: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{SAVED}{cid}/history/", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def health_of(client: httpx.Client, cid: str) -> dict[str, Any]:
    response = client.get(HEALTH)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(r for r in response.json()["results"] if r["id"] == cid)
    return found


def test_saved(client: httpx.Client, cid: str) -> dict[str, Any]:
    response = client.post(f"{SAVED}{cid}/test/")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


test_saved.__test__ = False  # type: ignore[attr-defined]


def refused_body(port: int) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": port, "database": "appdb",
            "username": "nobody", "password": "Nobody-Pw-1"}


# --- monitor ---------------------------------------------------------------------------------------


def test_monitor_is_set_on_post_and_patch_and_returned(tmp_path: Path, closed_port: int) -> None:
    with app_client(store_settings(tmp_path)) as client:
        plain = save(client, refused_body(closed_port), name="plain")
        assert plain["monitor"] is None
        made = save(client, refused_body(closed_port), name="watched", monitor={"every_minutes": 5})
        assert made["monitor"] == {"every_minutes": 5}
        assert client.get(f"{SAVED}{made['id']}/").json()["monitor"] == {"every_minutes": 5}
        changed = client.patch(f"{SAVED}{made['id']}/", json={"monitor": {"every_minutes": 1440}})
        assert changed.status_code == 200 and changed.json()["monitor"] == {"every_minutes": 1440}
        kept = client.patch(f"{SAVED}{made['id']}/", json={"name": "renamed"})
        assert kept.json()["monitor"] == {"every_minutes": 1440}
        off = client.patch(f"{SAVED}{made['id']}/", json={"monitor": None})
        assert off.status_code == 200 and off.json()["monitor"] is None
        listed = {c["name"]: c["monitor"] for c in client.get(SAVED).json()["results"]}
        assert listed == {"plain": None, "renamed": None}


@pytest.mark.parametrize("monitor", [{"every_minutes": 0}, {"every_minutes": 1441}, {"every_minutes": "5"},
                                     {"every_minutes": 2.5}, {}, {"every_minutes": 5, "cron": "* * * * *"}, 5])
def test_a_bad_monitor_is_422_naming_it(tmp_path: Path, closed_port: int, monitor: Any) -> None:
    with app_client(store_settings(tmp_path)) as client:
        response = client.post(SAVED, json={"name": "x", "connection": refused_body(closed_port), "monitor": monitor})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "INVALID_PARAMETERS"
        assert any(k.startswith("monitor") for k in response.json()["details"]), response.json()["details"]
        made = save(client, refused_body(closed_port))
        patched = client.patch(f"{SAVED}{made['id']}/", json={"monitor": monitor})
        assert patched.status_code == 422 and any(k.startswith("monitor") for k in patched.json()["details"])
        assert client.get(SAVED).json()["count"] == 1


# --- history and health ----------------------------------------------------------------------------


def test_every_user_test_is_kept_newest_first_and_health_follows(tmp_path: Path, postgres: DB) -> None:
    with app_client(store_settings(tmp_path)) as client:
        made = save(client, postgres.body("PostgreSQLConnector"))
        cid = made["id"]
        assert history(client, cid) == {"count": 0, "next": None, "previous": None, "results": []}
        unknown = health_of(client, cid)
        assert set(unknown) == HEALTH_FIELDS
        assert unknown["state"] == "unknown" and unknown["since"] is None and unknown["last_test"] is None
        assert unknown["elapsed_ms_p50"] is None and unknown["elapsed_ms_p95"] is None and unknown["expires"] == []

        first = test_saved(client, cid)
        assert first["code"] == "CONNECTION_SUCCESSFUL" and first["kind"] == "success"
        ok = health_of(client, cid)
        assert ok["state"] == "ok" and ok["since"] == ok["last_success_at"] == ok["last_test"]["at"]

        # The same connection now aimed at a port with nothing behind it: failing, since this test.
        body = postgres.body("PostgreSQLConnector", port=postgres.port)
        body["password"] = "Wrong-Pw-2"
        assert client.patch(f"{SAVED}{cid}/", json={"connection": body}).status_code == 200
        second = test_saved(client, cid)
        assert second["code"] == "AUTHENTICATION_FAILED"
        failing = health_of(client, cid)
        assert failing["state"] == "failing" and failing["since"] == failing["last_test"]["at"]
        assert failing["last_success_at"] == ok["last_success_at"]

        kept = history(client, cid)
        assert kept["count"] == 2 and kept["next"] is None
        assert [e["code"] for e in kept["results"]] == ["AUTHENTICATION_FAILED", "CONNECTION_SUCCESSFUL"]
        for entry in kept["results"]:
            assert set(entry) == ENTRY_FIELDS and entry["trigger"] == "user" and entry["at"].endswith("Z")
            assert [s["name"] for s in entry["stages"]][:3] == ["parameters", "dns", "tcp"]
            assert isinstance(entry["elapsed_ms"], int)
        assert kept["results"][1]["stages"] == first["payload"]["stages"]
        timings = sorted(e["elapsed_ms"] for e in kept["results"])
        assert failing["elapsed_ms_p50"] == timings[0] and failing["elapsed_ms_p95"] == timings[1]
        assert "Wrong-Pw-2" not in json.dumps(kept) and postgres.password not in client.get(HEALTH).text
        # health/ is written straight from the stored rows: exactly the body its model would write.
        body = client.get(HEALTH).text
        assert HealthList.model_validate_json(body).model_dump_json() == body


def test_history_pages_like_the_list_and_is_the_owners_alone(tmp_path: Path, closed_port: int) -> None:
    with app_client(store_settings(tmp_path)) as client:
        cid = save(client, refused_body(closed_port))["id"]
        for _ in range(3):
            assert test_saved(client, cid)["code"] == "PORT_CLOSED"
        page1 = history(client, cid, page_size=2)
        assert page1["count"] == 3 and len(page1["results"]) == 2 and page1["previous"] is None
        assert page1["next"] is not None and "page=2" in page1["next"]
        page2 = client.get(page1["next"]).json()
        assert len(page2["results"]) == 1 and page2["next"] is None and page2["previous"] is not None
        times = [e["at"] for e in page1["results"] + page2["results"]]
        assert times == sorted(times, reverse=True)
        for missing in ("nope", "x" * 40):
            response = client.get(f"{SAVED}{missing}/history/")
            assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
        assert client.get(f"{SAVED}health/history/").status_code in (404, 405)
        # Deleting the connection deletes its history.
        assert client.delete(f"{SAVED}{cid}/").status_code == 204
        assert client.get(f"{SAVED}{cid}/history/").status_code == 404


def test_health_and_history_are_not_ids_and_need_authentication(tmp_path: Path) -> None:
    settings = store_settings(tmp_path, auth_enabled=True, admin_password=ADMIN_PASSWORD)
    with app_client(settings) as client:
        assert client.get(HEALTH).status_code == 401
        assert client.get(f"{SAVED}abc/history/").status_code == 401
        assert client.post(HEALTH).status_code == 405
        assert client.delete(HEALTH).status_code == 405


def test_a_secret_no_key_decrypts_is_kept_as_cannot_decrypt(tmp_path: Path, closed_port: int) -> None:
    with app_client(store_settings(tmp_path)) as client:
        cid = save(client, refused_body(closed_port))["id"]
    with app_client(store_settings(tmp_path, secret_key=KEY_B)) as client:
        assert client.post(f"{SAVED}{cid}/test/").status_code == 409
        kept = history(client, cid)["results"]
        assert [(e["code"], e["kind"], e["trigger"]) for e in kept] == [("CANNOT_DECRYPT", "error", "user")]
        assert health_of(client, cid)["state"] == "failing"
        # capabilities/ is not a test for this purpose
        assert client.post(f"{SAVED}{cid}/capabilities/", json={}).status_code == 409
        assert history(client, cid)["count"] == 1


def test_a_history_that_cannot_be_written_leaves_the_verdict(tmp_path: Path, closed_port: int,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    settings = store_settings(tmp_path)
    with app_client(settings) as client:
        cid = save(client, refused_body(closed_port))["id"]
        engine = client.app.state.saved.store.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("DROP TABLE wizard_test_history"))
        answer = test_saved(client, cid)
        assert answer["code"] == "PORT_CLOSED"
        assert client.get(f"{SAVED}{cid}/").json()["last_test"]["code"] == "PORT_CLOSED"
    assert any("could not be kept in its history" in r.getMessage() for r in caplog.records)


def test_percentiles_are_nearest_rank_integers() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([10, 20, 30, 40], 50) == 20 and percentile([10, 20, 30, 40], 95) == 40


# --- expiry forecasts --------------------------------------------------------------------------------


def success(payload: dict[str, Any], kind: SystemMessageKind = SystemMessageKind.success) -> ApplicationMessage:
    return ApplicationMessage(code=Code.CONNECTION_SUCCESSFUL.value, title="Connected to PostgreSQL", body="All good.",
                              kind=kind, display=Display.notification, payload=payload)


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()


def at(days: float) -> str:
    return datetime.fromtimestamp(NOW + days * 86400, tz=UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("days,warned", [(13.99, True), (14, True), (14.01, False), (0.5, True), (400, False)])
def test_a_password_within_14_days_is_a_warning(days: float, warned: bool) -> None:
    message = expiry.forecast(success({"server": {"password_expires_at": at(days)}, "tls": {"enabled": False}}), NOW)
    assert message.payload["server"]["expires"] == [
        {"what": "password", "at": at(days).replace(".000000", ""), "days_left": int(days)}
    ]
    assert message.code == "CONNECTION_SUCCESSFUL"
    assert (message.kind == SystemMessageKind.warning) is warned
    if warned:
        assert "password" in message.title and "password" in message.body and "All good." in message.body


@pytest.mark.parametrize("verified", [True, False])
def test_a_certificate_warns_only_where_it_is_verified(verified: bool) -> None:
    tls = {"enabled": True, "verified": verified, "not_after": at(10)}
    message = expiry.forecast(success({"server": {}, "tls": tls}), NOW)
    assert message.payload["server"]["expires"] == [
        {"what": "tls_certificate", "at": at(10), "days_left": 10}
    ]
    assert (message.kind == SystemMessageKind.warning) is verified
    if verified:
        assert "certificate expires in 10 days" in message.title and "renew" in message.body


def test_a_failed_verdict_keeps_its_code_and_an_unknown_expiry_is_left_out() -> None:
    failed = success({"server": {"password_expires_at": at(3)}}).model_copy(
        update={"code": "PERMISSION_DENIED", "kind": SystemMessageKind.error})
    assert expiry.forecast(failed, NOW).kind == SystemMessageKind.error
    untouched = success({"server": {"version": "16"}, "tls": {"enabled": True, "verified": True}})
    assert expiry.forecast(untouched, NOW) == untouched
    garbled = success({"server": {"password_expires_at": "soon"}, "tls": {"not_after": 12}})
    assert expiry.forecast(garbled, NOW) == garbled


@pytest.fixture(scope="module")
def expiring_role(postgres: DB) -> DB:
    """The suite's PostgreSQL with a role whose password is VALID UNTIL ten days ahead."""
    until = (datetime.now(tz=UTC) + timedelta(days=10, hours=1)).strftime("%Y-%m-%d %H:%M:%S+00")
    with contextlib.suppress(Exception):
        postgres.server.sql(f"CREATE ROLE {EXPIRING_ROLE} LOGIN PASSWORD '{EXPIRING_PW}'",
                            f"GRANT CONNECT ON DATABASE appdb TO {EXPIRING_ROLE}")
    postgres.server.sql(f"ALTER ROLE {EXPIRING_ROLE} VALID UNTIL '{until}'")
    return DB(postgres.host, postgres.port, EXPIRING_ROLE, EXPIRING_PW, "appdb", postgres.server)


def test_a_postgresql_password_valid_for_ten_days_is_a_warning(tmp_path: Path, expiring_role: DB, postgres: DB) -> None:
    with app_client(store_settings(tmp_path)) as client:
        cid = save(client, expiring_role.body("PostgreSQLConnector"))["id"]
        verdict = test_saved(client, cid)
        assert verdict["code"] == "CONNECTION_SUCCESSFUL" and verdict["kind"] == "warning", verdict
        [item] = verdict["payload"]["server"]["expires"]
        assert item["what"] == "password" and item["days_left"] == 10
        assert "password expires in 10 days" in verdict["title"]
        assert "Set a new password" in verdict["body"]
        state = health_of(client, cid)
        assert state["state"] == "warning" and state["expires"][0]["what"] == "password"
        assert state["expires"][0]["days_left"] == 10
        body = client.get(HEALTH).text
        assert HealthList.model_validate_json(body).model_dump_json() == body
        # A role without VALID UNTIL: nothing guessed.
        plain = test_saved(client, save(client, postgres.body("PostgreSQLConnector"), name="plain")["id"])
        assert plain["kind"] == "success" and "expires" not in plain["payload"]["server"]


@pytest.fixture(scope="module")
def short_tls_postgres(pki: Any) -> Iterator[DB]:
    """PostgreSQL with TLS on a server certificate from the suite's PKI that expires in ten days."""
    pair = pki.issue("server-10d", "/O=Wizard Tests/CN=localhost", san="DNS:localhost,IP:127.0.0.1",
                     usage="serverAuth", days=10)
    server = PostgresServer(
        conf={"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'"},
        files={"server.crt": pair.cert.read_bytes(), "server.key": pair.key.read_bytes()},
    ).start()
    server.sql("CREATE ROLE wizard LOGIN PASSWORD 'Short-Tls-Pw-3'", "CREATE DATABASE appdb")
    yield DB(LOOPBACK, server.port, "wizard", "Short-Tls-Pw-3", "appdb", server)
    server.stop()


def test_a_verified_certificate_expiring_in_ten_days_is_a_warning(tmp_path: Path, short_tls_postgres: DB, pki: Any) -> None:
    db = short_tls_postgres
    verified = db.body("PostgreSQLConnector", hooks_params={"SSL": {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem}})
    with app_client(store_settings(tmp_path)) as client:
        cid = save(client, verified)["id"]
        verdict = test_saved(client, cid)
        assert verdict["code"] == "CONNECTION_SUCCESSFUL" and verdict["kind"] == "warning", verdict
        [item] = verdict["payload"]["server"]["expires"]
        assert item["what"] == "tls_certificate" and item["days_left"] in (9, 10)
        assert "certificate expires in" in verdict["title"] and "renew" in verdict["body"]
        # Unverified (require): the same expiry is told, and breaks nothing: no expiry warning.
        unverified = db.body("PostgreSQLConnector", hooks_params={"SSL": {"ssl_mode": "require"}})
        told = client.post("/api/v1/database_connections/test/", json=unverified).json()
        assert told["code"] == "CONNECTION_SUCCESSFUL"
        assert [e["what"] for e in told["payload"]["server"]["expires"]] == ["tls_certificate"]
        assert "certificate expires" not in told["title"]


def test_a_mariadb_password_lifetime_is_forecast(mariadb: DB) -> None:
    mariadb.server.sql(
        "CREATE USER IF NOT EXISTS 'lifetime'@'%' IDENTIFIED BY 'Lifetime-Pw-8' PASSWORD EXPIRE INTERVAL 12 DAY",
        "GRANT ALL ON appdb.* TO 'lifetime'@'%'",
        "GRANT SELECT ON mysql.global_priv TO 'lifetime'@'%'",  # the user may read its own password's lifetime
    )
    body = mariadb.body("MySQLMariaDBConnector", username="lifetime", password="Lifetime-Pw-8")
    with TestClient(create_app(make_settings())) as client:
        verdict = client.post("/api/v1/database_connections/test/", json=body).json()
    assert verdict["code"] == "CONNECTION_SUCCESSFUL" and verdict["kind"] == "warning", verdict
    [item] = verdict["payload"]["server"]["expires"]
    assert item["what"] == "password" and item["days_left"] in (11, 12)
    assert "password expires in" in verdict["title"]


# --- the command line ----------------------------------------------------------------------------------


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    environment.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-m", "backend", *args], capture_output=True, text=True, env=environment,
                          cwd=REPO, timeout=120)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_check_all_tests_every_connection_of_a_user(tmp_path: Path, postgres: DB, closed_port: int,
                                                    receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path}/store/wizard.db"
    env = {"WIZARD_DATABASE_URL": url, "WIZARD_SECRET_KEY": KEY_A, "WIZARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "WIZARD_TEST_TIMEOUT_S": "3", "WIZARD_ALERT_WEBHOOK_URL": receiver.url}
    empty = cli(["check", "--all", "--json"], env)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"results": [], "failed": 0}
    settings = store_settings(tmp_path, auth_enabled=True, admin_password=ADMIN_PASSWORD)
    with app_client(settings) as client:
        headers = {"X-CSRF-Token": login(client)}
        good = client.post(SAVED, json={"name": "good", "connection": postgres.body("PostgreSQLConnector")},
                           headers=headers).json()
    ran = cli(["check", "--all", "--json"], env)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["failed"] == 0 and [set(r) for r in report["results"]] == [
        {"id", "name", "code", "kind", "title", "elapsed_ms"}]
    assert report["results"][0]["id"] == good["id"] and report["results"][0]["code"] == "CONNECTION_SUCCESSFUL"
    with app_client(settings) as client:
        headers = {"X-CSRF-Token": login(client)}
        client.post(SAVED, json={"name": "bad", "connection": refused_body(closed_port)}, headers=headers)
    failing = cli(["check", "--all"], env)
    assert failing.returncode == 1
    assert "good: CONNECTION_SUCCESSFUL" in failing.stdout and "bad: PORT_CLOSED" in failing.stdout
    assert "1 of 2 connected" in failing.stdout
    # The first test of "bad" failed: alerted as the server would (once; "good" stayed ok).
    assert [(a["connection"]["name"], a["previous_state"], a["state"]) for a in receiver.posts] == [
        ("bad", "unknown", "failing")]
    assert postgres.password not in failing.stdout + failing.stderr
    saved_test = cli(["test", "--saved", "good"], env)
    assert saved_test.returncode == 0, saved_test.stderr
    # "bad" repaired, then tested with `test --saved`: its recovery is alerted too.
    with app_client(settings) as client:
        headers = {"X-CSRF-Token": login(client)}
        bad = next(c for c in client.get(SAVED).json()["results"] if c["name"] == "bad")
        repaired = client.patch(f"{SAVED}{bad['id']}/", json={"connection": postgres.body("PostgreSQLConnector")},
                                headers=headers)
        assert repaired.status_code == 200, repaired.text
    assert cli(["test", "--saved", "bad"], env).returncode == 0
    assert [(a["connection"]["name"], a["state"]) for a in receiver.posts] == [("bad", "failing"), ("bad", "ok")]
    with app_client(settings) as client:
        headers = {"X-CSRF-Token": login(client)}
        kept = client.get(f"{SAVED}{good['id']}/history/").json()["results"]
    assert [e["trigger"] for e in kept] == ["cli", "cli", "cli"]
    unknown = cli(["check", "--all", "--user", "nobody"], env)
    assert unknown.returncode == 2 and "nobody" in unknown.stderr
    down = cli(["check", "--all"], {**env, "WIZARD_DATABASE_URL": f"postgresql+psycopg2://u:p@{LOOPBACK}:{closed_port}/x"})
    assert down.returncode == 2 and "cannot be read" in down.stderr and ":p@" not in down.stderr
    assert cli(["check"], env).returncode == 2  # --all is required


def test_history_and_health_are_each_owners_alone(tmp_path: Path, closed_port: int) -> None:
    settings = store_settings(tmp_path, auth_enabled=True, admin_password=ADMIN_PASSWORD)
    app = create_app(settings)
    with TestClient(app) as alice, TestClient(app) as bob:
        alice.headers["X-CSRF-Token"] = login(alice)
        app.state.auth.store.ensure_user("bob", "Bob-Pw-for-Health-2")
        bob.headers["X-CSRF-Token"] = login(bob, "bob", "Bob-Pw-for-Health-2")
        cid = save(alice, refused_body(closed_port), monitor={"every_minutes": 10})["id"]
        assert test_saved(alice, cid)["code"] == "PORT_CLOSED"
        assert [r["id"] for r in alice.get(HEALTH).json()["results"]] == [cid]
        assert bob.get(HEALTH).json() == {"results": []}
        refused = bob.get(f"{SAVED}{cid}/history/")
        assert refused.status_code == 404 and refused.json()["code"] == "NOT_FOUND"
        assert refused.json() == alice.get(f"{SAVED}{'x' * 22}/history/").json()
        # A larger page is served as the largest, as the list does.
        served = alice.get(f"{SAVED}{cid}/history/", params={"page_size": 500})
        assert served.status_code == 200 and served.json()["count"] == 1
        assert alice.get(f"{SAVED}{cid}/history/", params={"page_size": 0}).status_code == 422
