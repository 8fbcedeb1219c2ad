"""The rules that turn findings into the answer: every name once in the spec's order, not_supported from the
connector's functionalities, dependencies followed (pure: no server)."""

from __future__ import annotations

import pytest

from backend.capabilities.facts import Finding, Findings
from backend.capabilities.schemas import CapabilityStatus
from backend.connectors import registry
from tests.capabilities.conftest import ACCESS_NAMES, CAPABILITY_NAMES, FUNCTIONALITY_NAMES, answer_of, item, statuses

YES = Finding.available("Yes.")


def everything(**overrides: Finding) -> Findings:
    capabilities = {name: YES for name in CAPABILITY_NAMES}
    access = {name: YES for name in ACCESS_NAMES}
    for name, finding in overrides.items():
        (access if name in ACCESS_NAMES else capabilities)[name] = finding
    return Findings(scope="test", capabilities=capabilities, access=access)


@pytest.mark.parametrize("connector_type", sorted(registry()))
def test_every_name_once_and_not_supported_from_the_functionalities(connector_type: str) -> None:
    answer = answer_of(connector_type, Findings(scope="nothing examined"))
    assert [i["name"] for i in answer["capabilities"]] == list(CAPABILITY_NAMES)
    assert [i["name"] for i in answer["functionalities"]] == list(FUNCTIONALITY_NAMES)
    assert [i["name"] for i in answer["access"]] == list(ACCESS_NAMES)
    listed = {c.name.value for f in registry()[connector_type].functionalities for c in f.capabilities or [] if c.name}
    for capability in answer["capabilities"]:
        expected = CapabilityStatus.unknown if capability["name"] in listed else CapabilityStatus.not_supported
        assert capability["status"] == expected, capability


def test_dependencies_are_followed_transitively() -> None:
    """PostgreSQL: INDEX_MANAGEMENT → UNIQUE_CONSTRAINT_MANAGEMENT → FOREIGN_KEY_MANAGEMENT."""
    no_fk = Finding.unavailable("No foreign keys for you.", "GRANT fk;")
    answer = answer_of("PostgreSQLConnector", everything(FOREIGN_KEY_MANAGEMENT=no_fk))
    index = item(answer, "INDEX_MANAGEMENT")
    assert index["status"] == "unavailable"
    # One plain sentence naming the need in words (never the enum); the why folded into the fix as comments.
    assert index["reason"] == "It also needs manage foreign keys (unavailable)."
    assert index["fix"].splitlines()[-1] == "GRANT fk;" and "-- No foreign keys for you." in index["fix"]
    assert statuses(answer)["IDENTITY_WRITING"] == "available"  # depends on nothing
    assert statuses(answer)["HIGH_PERFORMANCE_WRITING"] == statuses(answer)["IDEMPOTENT_WRITING"] == "unavailable"


def test_an_unknown_need_makes_unknown_and_unavailable_wins() -> None:
    unknown = Finding.unknown("could not tell")
    answer = answer_of("PostgreSQLConnector", everything(FOREIGN_KEY_MANAGEMENT=unknown))
    assert statuses(answer)["DATA_TRUNCATION"] == "unknown"
    both = answer_of("PostgreSQLConnector", everything(
        FOREIGN_KEY_MANAGEMENT=unknown, DATA_TRUNCATION=Finding.unavailable("no truncate", "GRANT TRUNCATE;")))
    assert statuses(both)["DATA_TRUNCATION"] == "unavailable"
    assert item(both, "DATA_TRUNCATION")["fix"] == "GRANT TRUNCATE;"


def test_a_functionality_needs_write_access_and_its_extras() -> None:
    no_write = answer_of("S3FSConnector", everything(WRITE=Finding.unknown("S3 cannot tell")))
    assert statuses(no_write)["HIGH_PERFORMANCE_WRITING"] == "unknown"  # no capabilities of its own: WRITE decides
    findings = everything()
    findings.requirements["HIGH_PERFORMANCE_WRITING"] = [("local_infile", Finding.unavailable("It is off.", "SET GLOBAL …;"))]
    answer = answer_of("MySQLMariaDBConnector", findings)
    bulk = item(answer, "HIGH_PERFORMANCE_WRITING")
    assert bulk["status"] == "unavailable" and bulk["reason"] == "It needs local_infile, which is not available yet."
    assert bulk["fix"] == "-- It is off.\nSET GLOBAL …;"
    assert item(answer, "IDEMPOTENT_WRITING")["status"] == "available"
