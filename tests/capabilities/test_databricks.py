"""Databricks: the grants → capabilities mapping on rows shaped like SHOW GRANTS' output
(principal, action_type, object_type, object_key); not verified against a live workspace (the suite has none)."""

from __future__ import annotations

from backend.capabilities.databricks import grants_from, mapping
from tests.capabilities.conftest import answer_of, item, statuses

USER = "etl@example.com"
TABLES = ["audit_log", "orders"]


def answer(schema_rows=(), catalog_rows=(("etl@example.com", "USE CATALOG", "CATALOG", "main"),),
           mine=frozenset({USER}), owner=None):
    return answer_of("DatabricksConnector", mapping(grants_from(USER, "main", "sales", TABLES, set(mine), schema_rows,
                                                                catalog_rows, owner)))


def test_modify_through_a_group() -> None:
    rows = [("data-writers", p, "SCHEMA", "main.sales") for p in ("USE SCHEMA", "SELECT", "MODIFY")]
    found = answer(rows, mine={USER, "data-writers"})
    assert statuses(found) == {
        "IDENTITY_WRITING": "available", "DATA_TRUNCATION": "available", "DATA_DELETION": "available",
        "INDEX_MANAGEMENT": "not_supported", "FOREIGN_KEY_MANAGEMENT": "not_supported",
        "UNIQUE_CONSTRAINT_MANAGEMENT": "not_supported", "TRIGGER_MANAGEMENT": "not_supported",
        "SCHEMA_MANAGEMENT": "unavailable", "HIGH_PERFORMANCE_WRITING": "available",
        "IDEMPOTENT_WRITING": "unavailable", "READ": "available", "WRITE": "available", "CREATE": "unavailable",
        "DELETE": "available",
    }
    assert item(found, "SCHEMA_MANAGEMENT")["fix"] == "GRANT USE CATALOG, CREATE SCHEMA ON CATALOG `main` TO `etl@example.com`;"


def test_grants_of_groups_the_user_is_not_in_do_not_count() -> None:
    rows = [("data-writers", p, "SCHEMA", "main.sales") for p in ("USE SCHEMA", "SELECT", "MODIFY")]
    found = answer(rows)
    assert item(found, "WRITE")["fix"] == "GRANT USE SCHEMA, MODIFY ON SCHEMA `main.sales` TO `etl@example.com`;"


def test_without_use_catalog_nothing_is_reachable() -> None:
    rows = [(USER, p, "SCHEMA", "main.sales") for p in ("USE SCHEMA", "SELECT", "MODIFY")]
    assert statuses(answer(rows, catalog_rows=()))["READ"] == "unavailable"


def test_schema_owner_and_catalog_privileges() -> None:
    catalog = [(USER, "USE CATALOG", "CATALOG", "main"), (USER, "CREATE SCHEMA", "CATALOG", "main")]
    found = statuses(answer((), catalog_rows=catalog, owner=USER))
    assert {s for s in found.values()} == {"available", "not_supported"}
