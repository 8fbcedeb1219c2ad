"""Fixtures: the app, and the real servers the suite starts itself on 127.0.0.1."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import BaseModel

# Keep tests from reading a developer's environment; files live in a folder of the suite's own.
os.environ.setdefault("WIZARD_TEST_TIMEOUT_S", "3")

from backend.main import create_app
from backend.security.secrets import LIVE
from backend.settings import Settings
from tests.helpers import JWKSServer, Keys, assert_within, guarded_getaddrinfo
from tests.servers.common import LOOPBACK, ClosedPort, DroppingPort, SilentListener
from tests.servers.mariadb import MariaDBServer
from tests.servers.postgres import PostgresServer
from tests.servers.stubs import ClosingListener, GarbageListener, HTTPGarbageListener, TLSListener

# A password that breaks every URL built by string formatting.
NASTY_PASSWORD = "p@ss:w/rd#%?&= 'x\""
TEST_API = "/api/v1/database_connections/test/"
DEADLINE_S = 3.0
"""The test deadline of the ``settings`` fixture: a silent host must end within it + 0.5 s."""
SPEC_PATH = Path(__file__).resolve().parents[1] / "docs/spec/database_connections.openapi.json"


@dataclass
class DB:
    """Connection facts of a database server the suite started."""

    host: str
    port: int
    user: str
    password: str
    database: str
    server: Any

    def body(self, connector_type: str, **overrides: Any) -> dict[str, Any]:
        """A test request for this database and its user; ``overrides`` set or add fields."""
        return {
            "connector_type": connector_type,
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.user,
            "password": self.password,
            **overrides,
        }


# --- the suite's temp folder: everything it makes, in one folder, removed however it ends ---------
#
# ``pytest_configure`` points ``TMPDIR`` (and ``tempfile``) at a folder of this run's own, so that
# every temp file and folder of the suite — pytest's ``tmp_path``, the servers' data folders, what
# the wizard and the drivers write in a subprocess — lands there; ``pytest_unconfigure`` removes it,
# also after a failure, ``-k``, ``--collect-only`` or Ctrl-C. An xdist worker makes a subfolder of
# the controller's.
_SUITE_TMP_ENV = "WIZARD_SUITE_TMP"
_SUITE_TMP = pytest.StashKey[tuple[Path, dict[str, str | None], str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    inherited = os.environ.get(_SUITE_TMP_ENV)
    parent = inherited if inherited and Path(inherited).is_dir() else None
    root = Path(tempfile.mkdtemp(prefix="wizard-suite-", dir=parent))
    # Like /tmp itself: the servers that run as other users (postgres) write their own temp files
    # here too (PostgreSQL's Kerberos replay cache goes to TMPDIR).
    root.chmod(0o1777)
    config.stash[_SUITE_TMP] = (root, {k: os.environ.get(k) for k in ("TMPDIR", _SUITE_TMP_ENV)}, tempfile.tempdir)
    os.environ["TMPDIR"] = str(root)
    os.environ[_SUITE_TMP_ENV] = str(root)
    tempfile.tempdir = str(root)
    # Hypothesis (schemathesis) would keep its data in the working folder's .hypothesis/.
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(root / "hypothesis")


def pytest_unconfigure(config: pytest.Config) -> None:
    stashed = config.stash.get(_SUITE_TMP, None)
    if stashed is None:
        return
    root, environ, tempdir = stashed
    tempfile.tempdir = tempdir
    for name, value in environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    # multiprocessing's forkserver (the Kerberos workers) keeps its socket folder (pymp-*) here until
    # the process exits, and removes it then: the root goes right after it, at the same exit.
    kept = [p for p in root.glob("pymp-*") if p.is_dir()]
    for entry in root.iterdir():
        if entry not in kept:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    if kept:
        import multiprocessing.util

        multiprocessing.util.Finalize(None, shutil.rmtree, args=(root,), kwargs={"ignore_errors": True},
                                      exitpriority=-101)  # after its own clean-up (-100)
    else:
        shutil.rmtree(root, ignore_errors=True)


def suite_store() -> Path:
    """The store of settings that name none: the suite's own, never the working folder's ``.wizard/``."""
    path = Path(os.environ.get(_SUITE_TMP_ENV) or tempfile.gettempdir()) / "suite-store"
    path.mkdir(exist_ok=True)
    return path


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "test_timeout_s": DEADLINE_S,
        "auth_enabled": False,
        # The store's deadline is production's 2 s; a test that is not about it gets more room, so that a
        # loaded machine cannot turn a slow SQLite write into a 503 (the deadline's tests set their own).
        "store_timeout_s": 10.0,
        "database_url": f"sqlite:///{suite_store()}/wizard.db",
        **overrides,
    }
    return Settings(**values)


ROOMY_DEADLINE_S = 15.0
"""The test deadline of the ``settings`` fixture for a test that waits for no silence: its subject is a verdict,
not the deadline, and a busy machine must not turn its slow success (an SSH key exchange, a Kerberos login, a
driver's TLS retries) into a timeout."""
WAITS_FOR_SILENCE = frozenset({"silent_port", "dropping_port"})
"""Fixtures of a target that never answers: a test that asks for one waits for the deadline, so it gets the
short one (``DEADLINE_S``), as does a test marked ``@pytest.mark.deadline`` (a silent target of its own)."""


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Test settings with a store of the test's own (saved connections start empty)."""
    waits = bool(WAITS_FOR_SILENCE & set(request.fixturenames)) or request.node.get_closest_marker("deadline")
    return make_settings(database_url=f"sqlite:///{tmp_path}/store/wizard.db",
                         test_timeout_s=DEADLINE_S if waits else ROOMY_DEADLINE_S)


@pytest.fixture
def client(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client on the app (in process, through the ASGI interface)."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as c:
        yield c


def run_test(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """POST a test and return its ApplicationMessage (asserting the HTTP status is 200)."""
    response = client.post(TEST_API, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def stage(message: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in message["payload"]["stages"] if s["name"] == name)
    return found


def failed_detail(message: dict[str, Any]) -> str:
    """The detail of the stage that failed: the specific reason (often the driver's own words), which
    the verdict keeps there, once, and out of its body (the body is the plain sentence and the action)."""
    return " ".join(str(s["detail"] or "") for s in message["payload"]["stages"] if s["status"] == "failed")


def timed_verdict(client: httpx.Client, body: dict[str, Any], code: str, within: float) -> dict[str, Any]:
    """POST a test; assert its verdict is ``code`` and that it came in less than ``within`` seconds
    by the server's own measurement (``payload.elapsed_ms``); the client's wall clock only has to
    stay within :func:`tests.helpers.wall_bound` of it (a loaded machine cannot fail the test)."""
    started = time.monotonic()
    msg = run_test(client, body)
    assert msg["code"] == code, msg
    assert msg["payload"]["elapsed_ms"] < within * 1000, msg["payload"]
    assert_within(started, within, f"a {code} verdict")
    return msg


def expect_port_closed(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """A test aimed at a closed port: PORT_CLOSED at once (in less than 1 s: no retry, no back-off)."""
    return timed_verdict(client, body, "PORT_CLOSED", within=1)


def expect_timeout(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """A test aimed at a silent host: CONNECTION_TIMEOUT within the deadline + 0.5 s."""
    return timed_verdict(client, body, "CONNECTION_TIMEOUT", within=DEADLINE_S + 0.5)


def assert_matches_spec(model: type[BaseModel]) -> None:
    """``model``'s JSON schema is the spec's schema of the same name, field for field."""
    expected = json.loads(SPEC_PATH.read_text())["components"]["schemas"][model.__name__]
    actual = model.model_json_schema(ref_template="#/components/schemas/{model}")
    actual.pop("$defs", None)
    assert actual == expected


DRIVER_STACKS = ("boto3", "adlfs", "azure.storage.blob", "databricks.sql.client")
"""What a first test loads beyond the connectors' declared drivers: the object stores' SDKs, and the Databricks
client (thrift, pyarrow and pandas, about a second here) behind its SQLAlchemy dialect."""


def installed_drivers() -> list[str]:
    """The driver modules a first test of each connector loads, of those installed here."""
    from backend.connectors import registry

    modules = {driver.module for connector in registry().values() for driver in getattr(connector, "protocols", {}).values()}
    return [name for name in sorted(modules | set(DRIVER_STACKS))
            if importlib.util.find_spec(name.partition(".")[0]) is not None]


@pytest.fixture(autouse=True)
def no_secrets_of_earlier_tests() -> None:
    """Each test starts with no other test's secrets live. They stay live for a grace period after a test
    (backend/security/secrets.py, LiveSecrets), and the log filter masks them, the short ones where they stand
    alone: a fuzzed password "a" of one test masked the word "a" in another test's log line."""
    LIVE.forget_ended()


@pytest.fixture(scope="session", autouse=True)
def drivers_loaded() -> None:
    """Every installed driver is imported once per test process, before any test runs.

    The wizard imports a driver on a connector's first test, inside that test's deadline (Databricks'
    SQLAlchemy dialect takes about a second here, several on a busy machine). The suite's tests are about
    what happens on the network within the deadline, so the import is paid here, once, and a busy machine
    cannot turn a first test's import into a timeout. (That ``import backend.main`` loads no driver is
    checked in a fresh interpreter: tests/test_layers.py.)
    """
    for name in installed_drivers():
        importlib.import_module(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[DB]:
    server = PostgresServer().start()
    escaped = NASTY_PASSWORD.replace("'", "''")
    server.sql(
        f"CREATE ROLE wizard LOGIN PASSWORD '{escaped}'",
        "CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'",
        "CREATE DATABASE appdb OWNER wizard",
        "REVOKE CONNECT ON DATABASE appdb FROM PUBLIC",
    )
    server.sql(
        "CREATE SCHEMA sales AUTHORIZATION wizard",
        "CREATE SCHEMA secret_schema",
        "REVOKE ALL ON SCHEMA secret_schema FROM PUBLIC",
        database="appdb",
    )
    yield DB(LOOPBACK, server.port, "wizard", NASTY_PASSWORD, "appdb", server)
    server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[DB]:
    server = MariaDBServer().start()
    escaped = NASTY_PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
    server.sql(
        "CREATE DATABASE appdb",
        "CREATE DATABASE otherdb",
        f"CREATE USER 'wizard'@'%' IDENTIFIED BY '{escaped}'",
        "GRANT ALL ON appdb.* TO 'wizard'@'%'",
        "CREATE USER 'poweruser'@'%' IDENTIFIED BY 'power-pw'",
        "GRANT ALL ON *.* TO 'poweruser'@'%'",
    )
    yield DB(LOOPBACK, server.port, "wizard", NASTY_PASSWORD, "appdb", server)
    server.stop()


@pytest.fixture(scope="session")
def closed_port() -> int:
    return ClosedPort().port


@pytest.fixture(scope="session")
def silent_port() -> Iterator[int]:
    listener = SilentListener()
    yield listener.port
    listener.close()


@pytest.fixture(scope="session")
def dropping_port() -> Iterator[int]:
    """A port whose SYNs go unanswered (a firewall that drops them): the TCP connect itself hangs."""
    dropping = DroppingPort()
    yield dropping.port
    dropping.close()


@pytest.fixture(scope="session")
def closing() -> Iterator[ClosingListener]:
    """A listener that accepts and hangs up at once (``closing.accepted`` counts the connections)."""
    listener = ClosingListener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def garbage() -> Iterator[GarbageListener]:
    """A listener that accepts and sends bytes no database protocol starts with."""
    listener = GarbageListener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def http_garbage() -> Iterator[HTTPGarbageListener]:
    """A listener that answers whatever it is sent with HTTP 400, as a web server would."""
    listener = HTTPGarbageListener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def sshd() -> Iterator[Any]:
    """The suite's OpenSSH server (tests/servers/sshd.py): host, port, user, password, keys, host_keys.

    ``sshd.tunnel(**overrides)`` is a ``hooks_params.SSHTunnel`` body that logs in with the password.
    """
    from tests.servers.sshd import SSHServer

    server = SSHServer().start()
    yield server
    server.stop()


@pytest.fixture
def netguard(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DNS query leaves the machine: only IP literals and localhost resolve (``helpers.guarded_getaddrinfo``)."""
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


# --- bearer tokens (OIDC): an issuer's signing keys and its JWKS server (tests/test_auth.py, test_saved.py)


@pytest.fixture(scope="module")
def keys() -> Keys:
    """Two published signing keys (RSA ``rsa-1``, EC ``ec-1``) and one never published."""
    return Keys(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture
def jwks(keys: Keys) -> Iterator[JWKSServer]:
    server = JWKSServer([keys.jwk(keys.rsa, "rsa-1", "RS256"), keys.jwk(keys.ec, "ec-1")])
    yield server
    server.close()


# --- TLS and Kerberos: a test PKI, a KDC, PostgreSQL and MariaDB with TLS (tests/hooks/test_tls.py, test_kerberos.py)
TLS_PASSWORD = "tls-Secret-4-Tests"
KERBEROS_USERS = ("alice", "bob")


@pytest.fixture(scope="session")
def pki() -> Iterator[Any]:
    """Two unrelated CAs made with openssl; ``pki.server`` names localhost and 127.0.0.1."""
    from tests.servers.tls import PKI

    made = PKI().create()
    yield made
    made.remove()


@pytest.fixture(scope="session")
def tls_listener(pki: Any) -> Iterator[TLSListener]:
    """A listener that completes a TLS handshake with ``pki.server``, reads the first message, hangs up."""
    listener = TLSListener(pki.server.cert, pki.server.key)
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def kdc() -> Iterator[Any]:
    """An MIT KDC (realm WIZARD.TEST) with ``postgres/localhost`` and the users of KERBEROS_USERS."""
    from tests.servers.kdc import KDC

    server = KDC().start()
    for name in ("postgres/localhost", *KERBEROS_USERS):
        server.add_principal(name)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_tls(pki: Any, kdc: Any) -> Iterator[DB]:
    """PostgreSQL with ssl=on, a hostssl-only user, a cert-auth user and GSSAPI (Kerberos) users."""
    keytab = kdc.keytab(kdc.workdir / "postgres.keytab", "postgres/localhost")
    lo = f"{LOOPBACK}/32"
    server = PostgresServer(
        conf={
            "ssl": "on",
            "ssl_cert_file": "'server.crt'",
            "ssl_key_file": "'server.key'",
            "ssl_ca_file": "'ca.crt'",
            "krb_server_keyfile": "'FILE:postgres.keytab'",  # relative to the data dir, the server's cwd
        },
        hba=[
            f"hostssl all tlsonly {lo} scram-sha-256",
            f"hostssl all certuser {lo} cert",
            f"host all {','.join(KERBEROS_USERS)} {lo} gss include_realm=0 krb_realm={kdc.realm}",
            f"host all wizard,postgres {lo} scram-sha-256",
        ],
        default_hba=False,
        files={
            "server.crt": pki.server.cert.read_bytes(),
            "server.key": pki.server.key.read_bytes(),
            "ca.crt": pki.ca.cert.read_bytes(),
            "postgres.keytab": keytab.read_bytes(),
        },
        env={"KRB5_CONFIG": str(kdc.conf_path)},
    ).start()
    server.sql(
        f"CREATE ROLE wizard LOGIN PASSWORD '{TLS_PASSWORD}'",
        f"CREATE ROLE tlsonly LOGIN PASSWORD '{TLS_PASSWORD}'",
        "CREATE ROLE certuser LOGIN",
        *(f"CREATE ROLE {user} LOGIN" for user in KERBEROS_USERS),
        "CREATE DATABASE appdb",
    )
    yield DB(LOOPBACK, server.port, "wizard", TLS_PASSWORD, "appdb", server)
    server.stop()


@pytest.fixture(scope="session")
def mariadb_tls(pki: Any) -> Iterator[DB]:
    """MariaDB with TLS on, and users that REQUIRE SSL, X509 and a SUBJECT."""
    server = MariaDBServer(
        conf={"ssl_cert": str(pki.server.cert), "ssl_key": str(pki.server.key), "ssl_ca": str(pki.ca.cert)}
    ).start()
    subject = "/O=Wizard Tests/CN=subjuser"
    server.sql(
        "CREATE DATABASE appdb",
        *(
            f"CREATE USER '{user}'@'%' IDENTIFIED BY '{TLS_PASSWORD}' {require}"
            for user, require in (("wizard", ""), ("tlsonly", "REQUIRE SSL"), ("x509user", "REQUIRE X509"),
                                  ("subjuser", f"REQUIRE SUBJECT '{subject}'"))
        ),
        *(f"GRANT ALL ON appdb.* TO '{user}'@'%'" for user in ("wizard", "tlsonly", "x509user", "subjuser")),
    )
    yield DB(LOOPBACK, server.port, "wizard", TLS_PASSWORD, "appdb", server)
    server.stop()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[Any]:
    """moto in server mode with IAM credential checking on: bucket ``wizard-bucket``, object ``exports/data.csv``."""
    from tests.servers.moto import start_world

    world = start_world()
    yield world
    world.server.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Any]:
    """Azurite (blob service, in memory): container ``wizard-container``, blob ``exports/data.csv``."""
    from tests.servers.azurite import start_world

    server = start_world()
    yield server
    server.stop()
