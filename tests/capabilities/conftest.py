"""Helpers of the live-capabilities tests: ask, and read the answer's statuses."""

from __future__ import annotations

from typing import Any

import httpx

CAPABILITIES_API = "/api/v1/database_connections/capabilities/"
CAPABILITY_NAMES = (
    "IDENTITY_WRITING", "DATA_TRUNCATION", "DATA_DELETION", "INDEX_MANAGEMENT", "FOREIGN_KEY_MANAGEMENT",
    "UNIQUE_CONSTRAINT_MANAGEMENT", "TRIGGER_MANAGEMENT", "SCHEMA_MANAGEMENT",
)
FUNCTIONALITY_NAMES = ("HIGH_PERFORMANCE_WRITING", "IDEMPOTENT_WRITING")
ACCESS_NAMES = ("READ", "WRITE", "CREATE", "DELETE")


def ask(client: httpx.Client, connection: dict[str, Any], **options: Any) -> dict[str, Any]:
    """POST capabilities/ for ``connection`` (``schema=…``, ``write_probe=…``); asserts 200 and the answer's shape."""
    response = client.post(CAPABILITIES_API, json={"connection": connection, **options})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert [i["name"] for i in answer["capabilities"]] == list(CAPABILITY_NAMES)
    assert [i["name"] for i in answer["functionalities"]] == list(FUNCTIONALITY_NAMES)
    assert [i["name"] for i in answer["access"]] == list(ACCESS_NAMES)
    for item in (*answer["capabilities"], *answer["functionalities"], *answer["access"]):
        assert item["status"] in ("available", "unavailable", "unknown", "not_supported")
        assert item["reason"], item
        assert item["status"] != "unavailable" or item["fix"], item  # unavailable: what to paste
        assert item["status"] != "not_supported" or item["fix"] is None, item
        assert len(item["reason"].split()) <= 25 and "_" not in item["reason"].split()[0], item  # one plain sentence
    return answer


def statuses(answer: dict[str, Any]) -> dict[str, str]:
    """Every item's status by name (capabilities, functionalities and access together)."""
    return {i["name"]: i["status"] for part in ("capabilities", "functionalities", "access") for i in answer[part]}


def item(answer: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        i for part in ("capabilities", "functionalities", "access") for i in answer[part] if i["name"] == name
    )
    return found


def assert_reports_one_leftover_probe(answer: dict[str, Any], left: list[str]) -> None:
    """A write probe the credential could not delete (``left``: what it left): exactly one object,
    under the prefix, named in a warning verdict, and DELETE unavailable."""
    assert len(left) == 1 and left[0].startswith("exports/wizard_probe_")
    assert answer["verdict"]["kind"] == "warning"
    assert left[0] in answer["verdict"]["body"]
    assert item(answer, "DELETE")["status"] == "unavailable"


def answer_of(connector_type: str, findings: Any) -> dict[str, Any]:
    """What the rules make of ``findings`` for a connector: the answer's three lists, by name (for unit tests)."""
    from backend.capabilities import rules
    from backend.connectors import registry

    connector = registry()[connector_type]
    capabilities = rules.capability_items(connector, findings)
    return {
        "capabilities": [i.model_dump(mode="json") for i in capabilities],
        "functionalities": [i.model_dump(mode="json") for i in rules.functionality_items(connector, findings, capabilities)],
        "access": [i.model_dump(mode="json") for i in rules.access_items(findings)],
    }
