"""Fuzzing the API from its own OpenAPI document (schemathesis, in process through ASGI).

Bounded and deterministic: a fixed number of examples per operation, Hypothesis derandomised,
a 0.5 s test deadline, no network beyond loopback (names are not resolved, targets outside
127.0.0.0/8 are refused by the policy). Every response must match the document (status code,
content type, schema, headers), data that breaks the schema must be refused, and no answer may
be a 5xx other than the documented 503.

One check is left out, on purpose:

* ``positive_data_acceptance``: the spec's schemas are looser than the API's meaning
  (``connector_type`` of ``functionalities`` is any string; a hook a connector cannot use is
  schema-valid): such requests are rightly refused with a 422 naming the field.

The request models validate strictly, so ``negative_data_rejection`` holds: ``"port": "5432"``
or ``"is_source": 0`` is refused with 422, not coerced.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from backend.main import create_app
from tests.conftest import make_settings
from tests.helpers import guarded_getaddrinfo
from tests.servers.common import LOOPBACK, free_port

EXAMPLES = 60  # per operation: five operations, a few hundred cases in all
PASSWORD = "Fuzz-Admin-Pw-3141"
# Logging out mid-run would turn the rest into 401s (DELETE /api/v1/auth/ is tested in test_auth.py).
# Schemathesis' own phases: the schema's examples and random generation (Hypothesis), derandomised;
# its "coverage" phase (thousands of boundary cases for the connector union) would not fit the budget.
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20240601,
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
    }
)


def fuzz_settings(store: Path) -> Any:
    return make_settings(
        auth_enabled=True,
        database_url=f"sqlite:///{store}/wizard.db",
        admin_password=PASSWORD,
        test_timeout_s=0.5,
        allowed_targets="127.0.0.0/8,::1",
        test_rate_per_minute=100_000,
        files_dir=str(store),
    )


class ServedLater:
    """The ASGI app the cases are sent to: the fixture's app, made when the first case runs (the
    document is read at import, from an app that is never started: nothing is made on disk then)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "the app under fuzzing is made by the fuzzed_app fixture"
        await self.app(scope, receive, send)


SERVED = ServedLater()
_document = create_app(fuzz_settings(Path("never-started"))).openapi()
_loaded = schemathesis.openapi.from_dict(_document, config=CONFIG)
_loaded.app = SERVED
schema = _loaded.exclude(operation_id="auth_destroy")


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app under fuzzing, with a store of its own."""
    SERVED.app = create_app(fuzz_settings(tmp_path_factory.mktemp("fuzz-store")))
    yield SERVED.app
    SERVED.app = None


@pytest.fixture(scope="module")
def credentials(fuzzed_app: Any) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        # No DNS query leaves the machine; S3 goes to a closed loopback port instead of AWS.
        patch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
        patch.setenv("AWS_ENDPOINT_URL_S3", f"http://{LOOPBACK}:{free_port()}")
        with TestClient(fuzzed_app) as client:
            response = client.post("/api/v1/auth/", json={"username": "admin", "password": PASSWORD})
            assert response.status_code == 200, response.text
            yield {"cookies": {"sessionid": client.cookies["sessionid"]},
                   "headers": {"X-CSRF-Token": response.json()["csrf_token"]}, "calls": 0}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case: schemathesis.Case, credentials: dict[str, Any]) -> None:
    # The session of the suite's user, so that the operations themselves are fuzzed; one case in
    # four keeps the Authorization header schemathesis made up (a random bearer: always 401).
    credentials["calls"] += 1
    if case.headers and credentials["calls"] % 4:
        case.headers.pop("Authorization", None)
    if case.cookies:
        case.cookies.pop("sessionid", None)
    response = case.call_and_validate(
        headers=credentials["headers"], cookies=credentials["cookies"], excluded_checks=[positive_data_acceptance]
    )
    assert response.status_code < 500 or response.status_code == 503, response.text
    if response.status_code == 503:
        assert response.headers.get("retry-after") and response.json()["code"] == "SERVICE_BUSY"
