"""The Kerberos hook against the suite's own MIT KDC and a PostgreSQL with GSSAPI (host … gss include_realm=0).

Each Kerberos login runs in a worker process of its own (backend/hooks/kerberos.py): the tests
check that two logins with different principals at the same time each keep their own identity,
that every KDC failure is said in plain words, and that a silent KDC ends at the deadline.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.main import create_app
from backend.settings import Settings
from tests.conftest import DB, DEADLINE_S, TEST_API, failed_detail, make_settings, run_test, stage
from tests.helpers import wall_bound
from tests.servers.common import SilentListener
from tests.servers.kdc import krb5_conf


@pytest.fixture(scope="module")
def keytabs(kdc: Any, closed_port: int) -> Iterator[Path]:
    """The wizard's files folder: keytabs for alice, bob, a deleted principal and an outdated key; krb5.confs."""
    folder = Path(tempfile.mkdtemp(prefix="wizard-krb-files-"))
    kdc.keytab(folder / "alice.keytab", "alice")
    kdc.keytab(folder / "bob.keytab", "bob")
    kdc.keytab(folder / "both.keytab", "alice", "bob")
    kdc.add_principal("ghost")
    kdc.keytab(folder / "ghost.keytab", "ghost")
    kdc.delete_principal("ghost")
    kdc.add_principal("carol")
    kdc.keytab(folder / "carol.keytab", "carol")
    kdc.kadmin("cpw -randkey carol")  # the KDC's key changes: carol.keytab is now outdated
    (folder / "not-a-keytab").write_text("hello")
    outside = Path(tempfile.mkdtemp(prefix="wizard-krb-outside-"))
    shutil.copy(folder / "alice.keytab", outside / "alice.keytab")
    (folder / "elsewhere.keytab").symlink_to(outside / "alice.keytab")
    yield folder
    shutil.rmtree(folder)
    shutil.rmtree(outside)


@pytest.fixture
def settings(keytabs: Path, kdc: Any) -> Settings:
    return make_settings(files_dir=keytabs, krb5_config=str(kdc.conf_path))


def pg(db: DB, principal: str | None = "alice", keytab: str | None = "alice.keytab", **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "PostgreSQLConnector", "host": "localhost", "port": db.port, "database": db.database,
        "username": (principal or "alice").split("@")[0], "password": "",
        "hooks_params": {"Kerberos": {"principal": principal, "keytab_file": keytab}},
        **overrides,
    }


def test_kerberos_login(client: httpx.Client, postgres_tls: DB) -> None:
    env_before = {k: v for k, v in os.environ.items() if k.startswith("KRB5")}
    msg = run_test(client, pg(postgres_tls))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    server = msg["payload"]["server"]
    assert server["user"] == "alice" and server["kerberos_principal"] == "alice@WIZARD.TEST"
    # no TLS asked for: the server and libpq agree on GSSAPI encryption instead
    assert msg["payload"]["tls"]["enabled"] is True and msg["payload"]["tls"]["mechanism"] == "gssapi"
    assert {k: v for k, v in os.environ.items() if k.startswith("KRB5")} == env_before  # nothing leaked here


def test_kerberos_with_tls(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    body = pg(postgres_tls, "bob@WIZARD.TEST", "both.keytab")
    body["hooks_params"]["SSL"] = {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem}
    msg = run_test(client, body)
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["kerberos_principal"] == "bob@WIZARD.TEST"
    assert msg["payload"]["tls"]["version"].startswith("TLSv1.") and msg["payload"]["tls"]["verified"] is True


def test_two_principals_at_once_each_keep_their_identity(settings: Settings, postgres_tls: DB) -> None:
    """Concurrent tests in one wizard process: the Kerberos environment is per worker process."""

    async def both() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://wizard") as http:
            bodies = [pg(postgres_tls, "alice", "alice.keytab"), pg(postgres_tls, "bob", "bob.keytab")] * 3
            answers = await asyncio.gather(*(http.post(TEST_API, json=b) for b in bodies))
        return [a.json() for a in answers]

    messages = asyncio.run(both())
    seen = [(m["code"], m["payload"].get("server", {}).get("user"),
             m["payload"].get("server", {}).get("kerberos_principal")) for m in messages]
    expected = [("CONNECTION_SUCCESSFUL", "alice", "alice@WIZARD.TEST"),
                ("CONNECTION_SUCCESSFUL", "bob", "bob@WIZARD.TEST")] * 3
    assert seen == expected, messages


def test_no_kdc_reachable(postgres_tls: DB, keytabs: Path, kdc: Any, closed_port: int, tmp_path: Path) -> None:
    conf = tmp_path / "krb5.conf"
    conf.write_text(krb5_conf(kdc.realm, closed_port))
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_settings(files_dir=keytabs, krb5_config=str(conf)))) as client:
        msg = run_test(client, pg(postgres_tls))
    assert msg["code"] == "KERBEROS_FAILED", msg
    assert "No Kerberos server (KDC)" in failed_detail(msg)
    assert list(msg["details"]) == ["hooks_params.Kerberos.principal"]
    assert stage(msg, "authentication")["status"] == "failed"


def test_silent_kdc_ends_at_the_deadline(postgres_tls: DB, keytabs: Path, kdc: Any, tmp_path: Path) -> None:
    silent = SilentListener()
    try:
        conf = tmp_path / "krb5.conf"
        conf.write_text(krb5_conf(kdc.realm, silent.port))
        from fastapi.testclient import TestClient

        with TestClient(create_app(make_settings(files_dir=keytabs, krb5_config=str(conf)))) as client:
            started = time.monotonic()
            msg = run_test(client, pg(postgres_tls))
            elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert msg["code"] == "CONNECTION_TIMEOUT", msg
    assert msg["payload"]["elapsed_ms"] < (DEADLINE_S + 0.5) * 1000
    assert elapsed < wall_bound(DEADLINE_S + 0.5)


@pytest.mark.parametrize(("principal", "code"), [("alice", "CONNECTION_SUCCESSFUL"), ("ghost", "KERBEROS_FAILED")])
def test_keytab_copy_is_gone_after_the_request(
    client: httpx.Client, postgres_tls: DB, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, principal: str, code: str
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    msg = run_test(client, pg(postgres_tls, principal, f"{principal}.keytab"))
    assert msg["code"] == code, msg
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("wizard-req-")] == []


def test_unknown_principal(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, "ghost", "ghost.keytab"))
    assert msg["code"] == "KERBEROS_FAILED", msg
    assert "does not know this principal" in failed_detail(msg)
    assert list(msg["details"]) == ["hooks_params.Kerberos.principal"]


def test_keytab_without_the_key(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, "bob", "alice.keytab"))
    assert msg["code"] == "KERBEROS_FAILED", msg
    assert "no key for bob@WIZARD.TEST" in failed_detail(msg) and "alice@WIZARD.TEST" in failed_detail(msg)
    assert "hooks_params.Kerberos.keytab_file" in msg["details"]
    assert stage(msg, "dns")["status"] == "skipped"  # found before any network step


def test_outdated_keytab(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, "carol", "carol.keytab"))
    assert msg["code"] == "KERBEROS_FAILED", msg
    assert "outdated" in failed_detail(msg)
    assert list(msg["details"]) == ["hooks_params.Kerberos.keytab_file"]


def test_unknown_server_principal(client: httpx.Client, postgres_tls: DB) -> None:
    # by address, the service principal would be postgres/127.0.0.1, which the KDC does not have
    msg = run_test(client, pg(postgres_tls, host="127.0.0.1"))
    assert msg["code"] == "KERBEROS_FAILED", msg
    assert "service principal" in failed_detail(msg) and "postgres/127.0.0.1@WIZARD.TEST" in failed_detail(msg)
    assert list(msg["details"]) == ["host"]


def test_user_name_not_mapped_to_the_principal(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, "alice", "alice.keytab", username="bob"))
    assert msg["code"] == "KERBEROS_FAILED", msg
    assert "username" in msg["details"]


@pytest.mark.parametrize(("keytab", "field"), [
    ("../alice.keytab", "hooks_params.Kerberos.keytab_file"),
    ("/etc/krb5.keytab", "hooks_params.Kerberos.keytab_file"),
    ("elsewhere.keytab", "hooks_params.Kerberos.keytab_file"),
    ("missing.keytab", "hooks_params.Kerberos.keytab_file"),
    ("not-a-keytab", "hooks_params.Kerberos.keytab_file"),
    (None, "hooks_params.Kerberos.keytab_file"),
])
def test_keytab_only_from_the_files_dir(client: httpx.Client, postgres_tls: DB, keytab: str | None, field: str) -> None:
    msg = run_test(client, pg(postgres_tls, "alice", keytab))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == [field]


def test_principal_is_required(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, None, "alice.keytab"))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["hooks_params.Kerberos.principal"]


def test_mysql_says_it_has_no_kerberos(client: httpx.Client, mariadb: DB) -> None:
    body = {"connector_type": "MySQLMariaDBConnector", "host": mariadb.host, "port": mariadb.port,
            "database": mariadb.database, "username": mariadb.user, "password": mariadb.password,
            "hooks_params": {"Kerberos": {"principal": "alice", "keytab_file": "alice.keytab"}}}
    msg = run_test(client, body)
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["hooks_params.Kerberos"]
    assert "Kerberos" in msg["details"]["hooks_params.Kerberos"][0]


def test_live_capabilities_run_on_the_kerberos_login(client: httpx.Client, postgres_tls: DB) -> None:
    """The examination (and its write probe) runs in the Kerberos worker, as the principal that logged in."""
    answer = client.post("/api/v1/database_connections/capabilities/",
                         json={"connection": pg(postgres_tls), "write_probe": True}).json()
    assert answer["verdict"]["code"] == "CONNECTION_SUCCESSFUL", answer["verdict"]
    assert answer["verdict"]["kind"] == "success", "the probe's objects were all removed"
    assert f"on database {postgres_tls.database}" in answer["scope"], answer["scope"]
    items = {i["name"]: i for part in ("capabilities", "functionalities", "access") for i in answer[part]}
    assert not [n for n, i in items.items() if i["status"] == "unknown"], items
    # Examined as alice (the principal's database user), who may not create in this database:
    assert items["SCHEMA_MANAGEMENT"]["status"] == "unavailable"
    assert items["SCHEMA_MANAGEMENT"]["fix"] == f"GRANT CREATE ON DATABASE {postgres_tls.database} TO alice;"
    assert items["CREATE"]["status"] == "unavailable" and "write probe" in items["CREATE"]["reason"]
