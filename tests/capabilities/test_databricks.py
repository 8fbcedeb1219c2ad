"""Databricks: the grants → capabilities mapping on rows shaped like SHOW GRANTS' output
(principal, action_type, object_type, object_key); not verified against a live workspace (the suite has none)."""

from __future__ import annotations

from typing import Any

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


# --- the examination on the test's own session ----------------------------------------------------


class Cursor:
    """A DB-API cursor answering the examination's statements as Databricks SQL does (rows by statement)."""

    def __init__(self, answers: dict[str, list[tuple[object, ...]]], seen: list[str]) -> None:
        self.answers, self.seen = answers, seen
        self.rows: list[tuple[object, ...]] = []

    def execute(self, sql: str) -> None:
        self.seen.append(sql)
        for start, rows in self.answers.items():
            if sql.startswith(start):
                if isinstance(rows, Exception):
                    raise rows
                self.rows = rows
                return
        raise AssertionError(f"unexpected statement {sql!r}")

    def fetchall(self) -> list[tuple[object, ...]]:
        return list(self.rows)

    def fetchone(self) -> tuple[object, ...]:
        return self.rows[0]

    def close(self) -> None:
        pass


class Connection:
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers, self.closed = answers, 0
        self.seen: list[str] = []

    def cursor(self) -> Cursor:
        return Cursor(self.answers, self.seen)  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed += 1


WORKSPACE = {
    "SELECT current_version()": [({"dbsql_version": "2025.35"}, USER, "main", "sales")],
    "SELECT current_user(), current_catalog()": [(USER, "main")],
    "SHOW GRANTS ON SCHEMA `main`.`sales`": [("data-writers", p, "SCHEMA", "main.sales")
                                            for p in ("USE_SCHEMA", "SELECT", "MODIFY")],
    "SHOW GRANTS ON CATALOG `main`": [(USER, "USE CATALOG", "CATALOG", "main")],
    "SHOW TABLES IN `main`.`sales`": [("sales", t, False) for t in TABLES],
    "DESCRIBE SCHEMA EXTENDED `main`.`sales`": [("Catalog Name", "main"), ("Owner", "admins")],
    "SELECT is_account_group_member('data-writers')": [(True,)],
}


def examined(answers: dict[str, object], schema: str | None = None) -> tuple[Any, Connection]:
    """The test's inspection, then the examination on the same session, as the capabilities run does."""
    import asyncio

    from backend.capabilities.databricks import examine
    from backend.capabilities.schemas import CapabilityOptions
    from backend.connectors import registry
    from backend.connectors.databricks import _Session
    from backend.core import RunContext
    from backend.diagnosis.stages import Deadline

    connector: Any = registry()["DatabricksConnector"]
    params = connector.model(connector_type="DatabricksConnector", host="adb-1.example.invalid", catalog="main",
                             database="sales", token="dapi-token", warehouse_id="abc")
    conn = Connection(answers)
    session = _Session(conn)
    server = connector.inspect(session, params)
    assert server["product"] == "Databricks SQL" and not session.closed, "the test leaves its session open"
    ctx = RunContext(settings=None, policy=None, deadline=Deadline(5), diagnosis=None)  # type: ignore[arg-type]
    return asyncio.run(examine(session, params, CapabilityOptions.model_validate({"schema": schema}), ctx)), conn


def test_the_examination_reads_the_grants_on_the_tests_own_session() -> None:
    findings, conn = examined(WORKSPACE)
    found = answer_of("DatabricksConnector", findings)
    assert statuses(found)["WRITE"] == "available" and statuses(found)["DATA_TRUNCATION"] == "available"
    assert statuses(found)["SCHEMA_MANAGEMENT"] == "unavailable"
    assert any(s.startswith("SHOW GRANTS ON SCHEMA") for s in conn.seen)
    assert conn.closed == 0, "closing is the run's clean-up, after the examination"


def test_a_schema_that_does_not_exist_is_said_so() -> None:
    missing = {**WORKSPACE, "SHOW GRANTS ON SCHEMA `main`.`nope`": RuntimeError("[SCHEMA_NOT_FOUND] The schema `main`.`nope` "
                                                                  "cannot be found.")}
    findings, _ = examined(missing, schema="nope")
    assert findings.schema_missing == "nope"


def test_a_refused_grants_query_is_unknown_with_the_reason() -> None:
    refused = {**WORKSPACE, "SHOW GRANTS ON CATALOG `main`": RuntimeError("[INSUFFICIENT_PERMISSIONS] User does not "
                                                                   "have MANAGE on Catalog 'main'.")}
    found = answer_of("DatabricksConnector", examined(refused)[0])
    assert set(statuses(found).values()) <= {"unknown", "not_supported"}
    assert "INSUFFICIENT_PERMISSIONS" in item(found, "READ")["reason"]
