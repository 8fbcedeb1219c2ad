"""The shape of every ApplicationMessage the API returns: success, failure, 422, 503, 404, 413."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from backend.diagnosis.messages import ACCEPTED_THEN_SILENT, CATALOG, VERDICT_CODES, Code, unverified_tls_advice
from backend.main import create_app
from tests.conftest import DB, TEST_API, make_settings, run_test, stage

KEYS = {"id", "code", "title", "body", "durability", "duration", "kind", "details", "payload", "action",
        "display", "created_at"}
STAGES = ["parameters", "dns", "tcp", "ssh", "tls", "authentication", "database", "query"]


def assert_message(msg: dict[str, Any], *, kind: str, display: str) -> None:
    assert set(msg) == KEYS
    assert isinstance(msg["code"], str) and msg["code"]
    assert isinstance(msg["title"], str) and msg["title"]
    assert isinstance(msg["body"], str) and msg["body"]
    assert msg["kind"] == kind
    assert msg["display"] == display
    assert msg["durability"] == "temporary"
    if msg["details"] is not None:
        assert all(isinstance(k, str) and isinstance(v, list) and v and all(isinstance(s, str) for s in v)
                   for k, v in msg["details"].items())


def assert_diagnosis(msg: dict[str, Any]) -> None:
    payload = msg["payload"]
    assert [s["name"] for s in payload["stages"]] == STAGES
    for s in payload["stages"]:
        assert set(s) == {"name", "status", "duration_ms", "detail"}
        assert s["status"] in ("passed", "failed", "skipped", "warning")
        assert s["duration_ms"] is None or (isinstance(s["duration_ms"], int) and s["duration_ms"] >= 0)
    assert isinstance(payload["elapsed_ms"], int)
    assert msg["code"] in {c.value for c in VERDICT_CODES}


def pg(db: DB, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": db.host, "port": db.port, "database": db.database,
            "username": db.user, "password": db.password, **overrides}


def test_success(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, pg(postgres))
    assert_message(msg, kind="success", display="notification")
    assert_diagnosis(msg)
    assert msg["code"] == "CONNECTION_SUCCESSFUL" and msg["details"] is None
    assert set(msg["payload"]["server"]) >= {"product", "version", "user", "database"}
    assert set(msg["payload"]["tls"]) >= {"enabled"}


def test_failure(client: httpx.Client, postgres: DB, closed_port: int) -> None:
    msg = run_test(client, pg(postgres, port=closed_port))
    assert_message(msg, kind="error", display="field")
    assert_diagnosis(msg)
    assert [s["status"] for s in msg["payload"]["stages"]][:3] == ["passed", "passed", "failed"]
    assert all(s["status"] == "skipped" for s in msg["payload"]["stages"][3:])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"connector_type": "PostgreSQLConnector"}, {"host", "database", "username", "password"}),
        ({"connector_type": "PostgreSQLConnector", "host": "h", "database": "d", "username": "u", "password": "p",
          "port": 70000}, {"port"}),
        ({"connector_type": "PostgreSQLConnector", "host": "h", "database": "d", "username": "u", "password": "p",
          "hooks_params": {"SSHTunnel": {"port": "twenty-two"}}}, {"hooks_params.SSHTunnel.port"}),
        ({"host": "h"}, {"connector_type"}),
        ({"connector_type": "NoSuchConnector"}, {"connector_type"}),
        ([1, 2, 3], {"body"}),
    ],
)
def test_invalid_body(client: httpx.Client, body: Any, fields: set[str]) -> None:
    response = client.post(TEST_API, json=body)
    assert response.status_code == 422
    msg = response.json()
    assert_message(msg, kind="error", display="field")
    assert msg["code"] == "INVALID_PARAMETERS"
    assert set(msg["details"]) == fields
    for field in fields:
        assert field in msg["body"]


def test_malformed_json(client: httpx.Client) -> None:
    response = client.post(TEST_API, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert_message(response.json(), kind="error", display="field")
    assert list(response.json()["details"]) == ["body"]


def test_unknown_route(client: httpx.Client) -> None:
    response = client.get("/api/v1/nothing/")
    assert response.status_code == 404
    assert_message(response.json(), kind="error", display="notification")


def test_body_too_large(client: httpx.Client) -> None:
    response = client.post(TEST_API, content=b"x" * (300 * 1024), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert_message(response.json(), kind="error", display="notification")
    assert response.json()["code"] == "REQUEST_TOO_LARGE"


def test_busy(postgres: DB, silent_port: int) -> None:
    app = create_app(make_settings(max_concurrent_tests=1, test_timeout_s=2.0))

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wizard.test") as c:
            slow = asyncio.create_task(c.post(TEST_API, json=pg(postgres, port=silent_port)))
            await asyncio.sleep(0.3)
            busy = await c.post(TEST_API, json=pg(postgres))
            return [await slow, busy]

    slow, busy = asyncio.run(scenario())
    assert slow.status_code == 200 and slow.json()["code"] == "CONNECTION_TIMEOUT"
    assert busy.status_code == 503
    assert busy.headers["retry-after"].isdigit()
    msg = busy.json()
    assert_message(msg, kind="error", display="notification")
    assert msg["code"] == "SERVICE_BUSY"


def test_every_verdict_belongs_to_a_stage_some_connector_has() -> None:
    """A code's default stage is one a connector really reports (no stage name that nothing emits)."""
    from backend.connectors import registry

    emitted = {name for connector in registry().values() for name in connector.stage_names}
    assert {code.value: advice.stage for code, advice in CATALOG.items() if advice.stage not in emitted} == {}


# --- the verdict's words: plain sentence and action first, the driver's words once, on their stage ------

DRIVER_WORDS = 'FATAL:  password authentication failed for user "app"'


def diagnose(*steps: tuple[str, tuple[str, ...], BaseException | None], seconds: float = 5.0) -> dict[str, Any]:
    """Run a real :class:`Diagnosis` over ``steps`` (stage, covered stages, what the step raises) to its verdict."""
    from backend.diagnosis.stages import Deadline, Diagnosis, Failure
    from backend.spec.schemas import SystemMessageKind

    d = Diagnosis(STAGES, Deadline(seconds))

    async def run() -> dict[str, Any]:
        for name, covers, raised in steps:
            async def step(raised: BaseException | None = raised) -> None:
                if raised is not None:
                    raise raised
            try:
                await d.step(name, step, covers=covers)
            except Failure as failure:
                return d.failure_message(failure).model_dump(mode="json")
        return d.message(Code.CONNECTION_SUCCESSFUL, kind=SystemMessageKind.success).model_dump(mode="json")

    return asyncio.run(run())


def statuses(msg: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in msg["payload"]["stages"]}


REACHED = (("parameters", (), None), ("dns", (), None), ("tcp", (), None))


def test_the_body_is_the_advice_and_the_drivers_words_stay_on_their_stage_once() -> None:
    from backend.diagnosis.stages import Failure

    refused = Failure(Code.AUTHENTICATION_FAILED, DRIVER_WORDS, fields={"password": "Refused."}, stage="authentication")
    msg = diagnose(*REACHED, ("tls", ("authentication", "database"), refused))
    assert msg["body"] == CATALOG[Code.AUTHENTICATION_FAILED].body
    assert DRIVER_WORDS not in msg["body"] and DRIVER_WORDS not in msg["title"]
    assert [s["detail"] for s in msg["payload"]["stages"]].count(DRIVER_WORDS) == 1
    assert stage(msg, "authentication")["detail"] == DRIVER_WORDS
    assert statuses(msg)["tls"] == "passed" and statuses(msg)["database"] == "skipped"


def test_a_failure_outside_any_step_keeps_its_words_on_its_own_stage() -> None:
    from backend.diagnosis.stages import Deadline, Diagnosis, Failure
    from backend.spec.schemas import SystemMessageKind

    d = Diagnosis(STAGES, Deadline(5))
    msg = d.message(Code.UNEXPECTED_ERROR, kind=SystemMessageKind.error, detail="ValueError: odd reply").model_dump()
    assert "odd reply" not in msg["body"] and "below" not in msg["body"]
    assert stage(msg, "query") == {"name": "query", "status": "failed", "duration_ms": None, "detail": "ValueError: odd reply"}
    own = Diagnosis(STAGES, Deadline(5)).failure_message(Failure(Code.SSH_KEY_INVALID, "not a key", stage="ssh")).model_dump()
    assert stage(own, "ssh")["status"] == "failed" and stage(own, "ssh")["detail"] == "not a key"
    assert own["body"] == CATALOG[Code.SSH_KEY_INVALID].body


def test_a_deadline_in_a_covering_step_blames_where_it_waited_not_a_later_stage() -> None:
    """A black hole: the login step (tls → authentication → database) times out with nothing back. The
    failure names authentication (the driver call's own label); tls is where the step was waiting."""
    from backend.diagnosis.stages import Deadline

    silence = Deadline(0.05).timeout_failure("127.0.0.1:5432", stage="authentication")
    msg = diagnose(*REACHED, ("tls", ("authentication", "database"), silence))
    assert msg["code"] == "CONNECTION_TIMEOUT"
    assert [(s["name"], s["status"]) for s in msg["payload"]["stages"]][4:] == [
        ("tls", "failed"), ("authentication", "skipped"), ("database", "skipped"), ("query", "skipped")
    ]
    assert stage(msg, "tls")["detail"] == silence.detail
    assert stage(msg, "authentication")["duration_ms"] is None


def test_a_timeout_after_the_port_accepted_is_not_called_a_firewall_drop() -> None:
    from backend.diagnosis.stages import Deadline

    silence = Deadline(0.05).timeout_failure("127.0.0.1:5432", stage="authentication")
    after_accept = diagnose(*REACHED, ("tls", ("authentication", "database"), silence))
    assert (after_accept["title"], after_accept["body"]) == (ACCEPTED_THEN_SILENT.title, ACCEPTED_THEN_SILENT.body)
    assert "firewall" not in after_accept["body"] and "port" in after_accept["body"]
    dropped = diagnose(*REACHED[:2], ("tcp", (), Deadline(0.05).timeout_failure("127.0.0.1:5432", stage="tcp")))
    assert statuses(dropped)["tcp"] == "failed"
    assert (dropped["title"], dropped["body"]) == (CATALOG[Code.CONNECTION_TIMEOUT].title, CATALOG[Code.CONNECTION_TIMEOUT].body)
    assert "firewall" in dropped["body"]


def test_no_advice_points_the_reader_below_or_at_configuration_names() -> None:
    """Flags sit on the form above the verdict in the UI, in ``details`` for API consumers: neither is "below"."""
    for code, advice in CATALOG.items():
        assert "below" not in advice.body and "above" not in advice.body, code
        assert "WIZARD_" not in advice.body and "supported_types" not in advice.body, code
    assert "named" in CATALOG[Code.INVALID_PARAMETERS].body


def test_an_unchecked_certificate_is_advised_with_the_mode_that_checks_it() -> None:
    advice = unverified_tls_advice("PostgreSQL", "verify-full")
    assert advice.title.startswith("Connected to PostgreSQL") and "not checked" in advice.title
    assert advice.body.startswith("The connection works and is encrypted, but the wizard did not check")
    assert "verify-full" in advice.body and "CA certificate" in advice.body
    assert "cannot check" in unverified_tls_advice("Db", None).body
