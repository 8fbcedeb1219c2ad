"""Helpers shared by test modules (no test module imports from another; fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from backend.connectors.base import Connector
from backend.settings import Settings
from backend.spec.fields import is_secret
from backend.spec.schemas import HOOK_MODELS
from tests.servers.api import serve
from tests.servers.common import LOOPBACK
from tests.servers.postgres import BIN, SUPERPASS, SUPERUSER

ROOT = Path(__file__).resolve().parents[1]


# --- the command line: ``python -m backend test`` as a subprocess --------------------------------

def cli_env(tmp_path: Path, **wizard: Any) -> dict[str, str]:
    """The environment of one run: no WIZARD_* of the caller's, a TMPDIR and a store of the test's own.

    The test deadline is roomy (15 s, as the ``settings`` fixture's for a test that waits for no silence): a test
    aimed at a silent target sets its own short one (``test_timeout_s="1"``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update({
        "TMPDIR": str(tmp),
        "WIZARD_TEST_TIMEOUT_S": "15",
        "WIZARD_FILES_DIR": str(tmp_path),
        "WIZARD_DATABASE_URL": f"sqlite:///{tmp_path}/wizard.db",
        "PYTHONPATH": str(ROOT),
        **{f"WIZARD_{k.upper()}": str(v) for k, v in wizard.items()},
    })
    return env


def cli(tmp_path: Path, *args: str, stdin: str = "", command: tuple[str, ...] | None = None,
        **wizard: Any) -> subprocess.CompletedProcess[str]:
    """Run ``python -m backend test ARGS`` (or ``command test ARGS``, an installed one) to its end."""
    env = cli_env(tmp_path, **wizard)
    if command is not None:
        env.pop("PYTHONPATH")  # the installed package, not the checkout
    base = command or (sys.executable, "-m", "backend")
    return subprocess.run([*base, "test", *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env=env, cwd=tmp_path)


# --- time: the suite judges the code, not the machine ------------------------------------------

def wall_bound(promised_s: float) -> float:
    """The wall-clock bound a test may put on something the code promises within ``promised_s``.

    DESIGN.md's times are promises measured on an idle machine; the suite checks them against the
    server's own measurement (``payload.elapsed_ms``). What the client sees also holds the
    machine's scheduling, so its bound is twice the promise plus a second: a loaded machine cannot
    break it, while a missing deadline (a hang until the test's own timeout) still does.
    """
    return 2 * promised_s + 1.0


def assert_within(started: float, promised_s: float, what: str = "the call") -> float:
    """Assert that what started at ``started`` (``time.monotonic()``) ended within the wall bound of
    ``promised_s``; returns the seconds it took."""
    elapsed = time.monotonic() - started
    assert elapsed < wall_bound(promised_s), f"{what} took {elapsed:.2f} s; promised within {promised_s} s"
    return elapsed


def server_seconds(response: httpx.Response) -> float:
    """The server's own time to its answer, in seconds (its ``Server-Timing: app;dur=<ms>`` header)."""
    found = re.search(r"\bapp;dur=([0-9.]+)", response.headers.get("server-timing", ""))
    assert found, f"no Server-Timing on {response.request.method} {response.request.url.path}"
    return float(found.group(1)) / 1000


class FakeClock:
    """A monotonic clock that moves only when the test says so (``clock.advance(s)``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def in_flight(client: httpx.Client) -> int:
    """The server's own count of tests in flight (the ``wizard_tests_in_flight`` gauge of ``/api/metrics``)."""
    text = client.get("/api/metrics").text
    return int(float(next(line.split()[1] for line in text.splitlines() if line.startswith("wizard_tests_in_flight "))))


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "the state", interval: float = 0.02) -> Any:
    """Poll ``predicate()`` until it returns something truthy (returned), failing after ``timeout``.

    For waiting on an observable state (a gauge, a port, a log line) instead of a fixed sleep.
    """
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not come within {timeout} s")
        time.sleep(interval)


def load_spec() -> dict[str, Any]:
    """The seed OpenAPI document the API must match (``docs/spec``)."""
    spec: dict[str, Any] = json.loads((ROOT / "docs" / "spec" / "database_connections.openapi.json").read_text())
    return spec


def busy_driver_threads() -> set[int]:
    """The wizard's threads busy now (driver calls, relays); not the driver threads waiting for a call."""
    from backend.diagnosis.stages import IDLE

    return {t.ident for t in threading.enumerate() if t.name.startswith("wizard-") and t.name != IDLE and t.ident}


def new_driver_threads(before: set[int]) -> list[str]:
    """The wizard's threads busy now that were not busy in ``before`` (:func:`busy_driver_threads`): a call a
    test started still running, in a thread of its own or in a reused driver thread."""
    busy = busy_driver_threads()
    return [t.name for t in threading.enumerate() if t.ident in busy and t.ident not in before]


ADMIN = "admin"
ADMIN_PASSWORD = "Admin-Pw-for-Tests-1!"
AUTH_API = "/api/v1/auth/"


@contextlib.contextmanager
def app_client(settings: Settings, **kwargs: Any) -> Iterator[TestClient]:
    """The app of ``settings`` in process (its lifespan runs for the block), as a TestClient."""
    from backend.main import create_app

    with TestClient(create_app(settings), **kwargs) as client:
        yield client


def auth_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with authentication on, a user store of the test's own and a known admin password."""
    from tests.conftest import make_settings

    values: dict[str, Any] = {
        "auth_enabled": True,
        "database_url": f"sqlite:///{tmp_path}/store/wizard.db",
        "admin_password": ADMIN_PASSWORD,
        **overrides,
    }
    return make_settings(**values)


def login(client: httpx.Client, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
    """Log in; return the CSRF token (the session cookie stays in the client)."""
    response = client.post(AUTH_API, json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


# --- log capture ------------------------------------------------------------------------------


class Captured:
    """Formatted log lines of the wizard's and uvicorn's loggers (and the root logger)."""

    NAMES = ("wizard", "uvicorn", "uvicorn.error", "uvicorn.access", "")

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.handler.setLevel(logging.DEBUG)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def __enter__(self) -> Captured:
        for name in self.NAMES:
            logging.getLogger(name).addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.NAMES:
            logging.getLogger(name).removeHandler(self.handler)


def serve_settings(settings: Settings, log_level: str = "warning") -> contextlib.AbstractContextManager[str]:
    """The app built from ``settings`` on a real uvicorn server on a loopback port, in a thread of its own."""
    from backend.main import create_app

    return serve(create_app(settings), log_level)


# --- bearer tokens (OIDC): an issuer's keys, its JWKS document, signed tokens ---------------------

ISSUER = "https://issuer.wizard.test"
AUDIENCE = "connection-wizard"


@dataclass
class JWKSServer:
    """A JWKS document served on a loopback HTTP port; counts the fetches."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                time.sleep(outer.delay_s)
                data = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Keys:
    rsa: RSAPrivateKey
    ec: EllipticCurvePrivateKey
    other: RSAPrivateKey  # never published

    def jwk(self, key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
        algo = jwt.algorithms.RSAAlgorithm if isinstance(key, RSAPrivateKey) else jwt.algorithms.ECAlgorithm
        data: dict[str, Any] = json.loads(algo.to_jwk(key.public_key()))
        data.update({"kid": kid, "use": "sig"})
        if alg:
            data["alg"] = alg
        return data


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "preferred_username": "alice", "iat": now,
            "exp": now + 300, **overrides}


def sign(key: Any, kid: str | None, alg: str = "RS256", **overrides: Any) -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def oidc_settings(tmp_path: Path, jwks: JWKSServer, **overrides: Any) -> Settings:
    return auth_settings(tmp_path, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks.url, **overrides)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- canaries: a secret in every field, and where they must not end up ----------------------------

_real_getaddrinfo = socket.getaddrinfo


def guarded_getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
    """Resolve only IP literals and localhost: a test never sends a DNS query off the machine."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or str(name).lower().rstrip(".") == "localhost":
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    try:
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except socket.gaierror:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def canary(name: str) -> str:
    """A distinct secret per field, with characters that quoting and URL-encoding change."""
    return f"Cnry-{name.replace('_', '-')}-{abs(hash(name)) % 10**6}@x'y%z"


def self_signed() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "canary-client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key


CERT, KEY = self_signed()
KEYTAB_CONTENT = b"\x05\x02CNRY-KEYTAB-CONTENT-6610"


def base_body(connector: Connector, port: int) -> dict[str, Any]:
    """A body for any connector: every secret a canary, every host loopback, optional names filled."""
    body: dict[str, Any] = {"connector_type": connector.type_name}
    for name, info in connector.model.model_fields.items():
        if name in ("connector_type", "hooks_params", "is_source"):
            continue
        annotation = str(info.annotation)
        if is_secret(info):
            body[name] = canary(name)
        elif "host" in name or name == "server":
            body[name] = LOOPBACK
        elif name == "port" or name.endswith("_port"):
            body[name] = port
        elif "url" in name or "endpoint" in name:
            body[name] = f"http://{LOOPBACK}:{port}"
        elif info.is_required() or (info.default is None and "str" in annotation):
            body[name] = 1 if "int" in annotation else True if "bool" in annotation else f"canary-{name}"
    if connector.type_name == "ADLSFSConnector":  # realistic secrets, aimed at the loopback server
        account_key = base64.b64encode(b"Cnry-account-key-bytes-5521").decode()
        body.pop("container_connection_string", None)
        body.update({
            "storage_account_name": "canaryacct",
            "storage_container_name": "canary",
            "storage_connection_string": f"DefaultEndpointsProtocol=http;AccountName=canaryacct;"
                                         f"AccountKey={account_key};BlobEndpoint=http://{LOOPBACK}:{port}/canaryacct;",
            "storage_account_key": account_key,
        })
    return body


def secrets_in(connector: Connector, body: dict[str, Any]) -> list[str]:
    found = [str(body[n]) for n, info in connector.model.model_fields.items() if is_secret(info) and body.get(n)]
    for hook, values in (body.get("hooks_params") or {}).items():
        model = HOOK_MODELS[hook]
        found += [str(values[n]) for n, info in model.model_fields.items() if is_secret(info) and values.get(n)]
    extra = [p.split("=", 1)[1] for s in found for p in s.split(";") if p.startswith("AccountKey=")]
    extra += [KEYTAB_CONTENT.decode("latin-1")[2:]]
    return found + extra + [line for s in found if "PRIVATE KEY" in s for line in s.splitlines()[1:-1]]


def leftovers(tmp: Path) -> list[Path]:
    """What a request left in the temp folder: anything but the process's one empty folder
    (``tls.missing_path``), which holds nothing and is removed when the process ends."""
    return [p for p in tmp.iterdir() if not (p.name.startswith("wizard-empty-") and not any(p.iterdir()))]


def redirect_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every temp file the wizard makes (tempfile.*) lands here, to be checked after the request.

    Call it after the server fixtures are up (they make temp dirs of their own).
    """
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


# --- the store --------------------------------------------------------------------------------


def tunnelled_body(password: str, ssh_password: str, /, **overrides: Any) -> dict[str, Any]:
    """A PostgreSQL body behind an SSH tunnel, both at names that never resolve (``.invalid``): a
    connection with two secrets to save, mask and encrypt, never reached. ``overrides`` set top-level fields."""
    body: dict[str, Any] = {
        "connector_type": "PostgreSQLConnector",
        "host": "db.example.invalid",
        "port": 5432,
        "database": "appdb",
        "username": "app",
        "password": password,
        "hooks_params": {"SSHTunnel": {"host": "bastion.example.invalid", "port": 22, "username": "jump",
                                       "password": ssh_password}},
    }
    body.update(overrides)
    return body


def raw_dump(url: str) -> bytes:
    """Everything the database holds, as bytes: the SQLite file, or a ``pg_dump`` of the database."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:  # fold the write-ahead log into the file…
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = path.with_name(path.name + "-wal")  # …and read whatever is left of it too
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    database = url.rsplit("/", 1)[1]
    port = url.rsplit(":", 1)[1].split("/")[0]
    result = subprocess.run(
        [str(BIN / "pg_dump"), "-h", LOOPBACK, "-p", port, "-U", SUPERUSER, "--no-password", database],
        env={**os.environ, "PGPASSWORD": SUPERPASS},
        capture_output=True,
        timeout=60,
        check=True,
    )
    return result.stdout
